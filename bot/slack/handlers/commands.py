"""The ``/rollback`` slash command: ack at once, then do the slow work in a lazy listener.

``ack`` answers within Slack's 3 seconds with an ephemeral line (or the usage help, or "unknown
service" with close names, which need no slow work). The lazy listener drafts, simulates or
aborts, and answers with ephemeral messages through ``chat.postEphemeral``.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.runtime.services import Services
from bot.slack import messages
from bot.slack.handlers.parse import Command, Usage, parse_command
from bot.slack.views import errors, simulation_message
from bot.store import PlanNotFoundError

__all__ = ["register"]


def register(app: App, services: Services) -> None:
    """Listen for ``/rollback``."""

    def ack_command(ack: Ack, command: dict[str, Any]) -> None:
        parsed = parse_command(command.get("text", ""))
        if isinstance(parsed, Usage):
            ack(response_type="ephemeral", **errors.usage(parsed.text, parsed.problem))
        elif parsed.verb == "help":
            ack(response_type="ephemeral", **errors.usage(""))
        elif (
            parsed.verb in ("plan", "history")
            and parsed.target is not None
            and (unknown := services.backout.check_service(parsed.target))
        ):
            ack(
                response_type="ephemeral",
                **errors.unknown_service(unknown.name, suggestions=unknown.suggestions),
            )
        else:
            ack(response_type="ephemeral", text=messages.working(parsed.verb, parsed.target))

    def run_command(command: dict[str, Any], client: WebClient) -> None:
        parsed = parse_command(command.get("text", ""))
        if not isinstance(parsed, Command) or parsed.verb == "help":
            return
        unknown = parsed.target and services.backout.check_service(parsed.target)
        if parsed.verb in ("plan", "history") and unknown:
            return
        user, channel = command["user_id"], command["channel_id"]
        try:
            reply = _run(parsed, user=user, channel=channel, services=services)
        except PlanNotFoundError:
            reply = errors.plan_not_found(parsed.target or "")
        if reply is not None:
            client.chat_postEphemeral(channel=channel, user=user, **reply)

    app.command("/rollback")(ack=ack_command, lazy=[run_command])


def _run(command: Command, *, user: str, channel: str, services: Services) -> dict[str, Any] | None:
    backout = services.backout
    if command.verb == "plan" and command.target:
        backout.plan_for_service(
            command.target,
            requester=user,
            channel=channel,
            window=command.window,
            to_version=command.to_version,
        )
        return None
    if command.verb == "replan" and command.target:
        if backout.replan(command.target, requester=user, channel=channel, window=command.window):
            return None
        return {"text": messages.unknown_incident(command.target)}
    if command.verb == "status":
        plan_id = command.target or backout.latest_plan()
        if plan_id is None:
            return {"text": messages.NO_PLANS}
        return services.notifier.status_message(plan_id)
    if command.verb == "simulate" and command.target:
        return simulation_message(command.target, results=backout.simulate(command.target))
    if command.verb == "abort" and command.target:
        done = backout.abort(command.target, user=user)
        return {"text": messages.aborted(command.target) if done else messages.NOT_ALLOWED_ABORT}
    if command.verb == "history" and command.target:
        changes, plans = backout.history(command.target)
        return {"text": messages.history(command.target, changes, plans)}
    return None
