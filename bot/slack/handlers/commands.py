"""The ``/rollback`` slash command: ack at once, then do the slow work in a lazy listener.

``ack`` answers within Slack's 3 seconds with an ephemeral line (or the usage help, or "unknown
service" with close names, which need no slow work). The lazy listener drafts, simulates or
aborts, and answers with ephemeral messages through ``chat.postEphemeral``.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.core.usecases import Decisions, Execution, Planning, Queries
from bot.slack import messages
from bot.slack.handlers.parse import Command, Usage, parse_command
from bot.slack.notifier import SlackNotifier
from bot.slack.views import replies, simulation_message
from bot.store import PlanNotFoundError
from planners.errors import UnknownServiceError

__all__ = ["register"]


def register(
    app: App,
    *,
    planning: Planning,
    decisions: Decisions,
    execution: Execution,
    queries: Queries,
    notifier: SlackNotifier,
) -> None:
    """Listen for ``/rollback``."""

    def ack_command(ack: Ack, command: dict[str, Any]) -> None:
        parsed = parse_command(command.get("text", ""))
        if isinstance(parsed, Usage) and (unknown := _unknown_named(parsed, planning)):
            # "plan paiement-sérvice 🚑 …": the unknown service is the thing to fix first.
            ack(
                response_type="ephemeral",
                **replies.unknown_service(unknown.name, suggestions=unknown.suggestions),
            )
        elif isinstance(parsed, Usage):
            ack(response_type="ephemeral", **replies.usage(parsed.text, parsed.problem))
        elif parsed.verb == "help":
            ack(response_type="ephemeral", **replies.usage(""))
        elif unknown := _unknown_service(parsed, planning):
            ack(
                response_type="ephemeral",
                **replies.unknown_service(unknown.name, suggestions=unknown.suggestions),
            )
        else:
            ack(response_type="ephemeral", text=replies.working(parsed.verb, parsed.target))

    def run_command(command: dict[str, Any], client: WebClient) -> None:
        parsed = parse_command(command.get("text", ""))
        if not isinstance(parsed, Command) or parsed.verb == "help":
            return
        if _unknown_service(parsed, planning):
            return
        user, channel = command["user_id"], command["channel_id"]
        try:
            reply = _run(
                parsed,
                user=user,
                channel=channel,
                planning=planning,
                decisions=decisions,
                execution=execution,
                queries=queries,
                notifier=notifier,
            )
        except PlanNotFoundError:
            reply = replies.plan_not_found(parsed.target or "")
        if reply is not None:
            client.chat_postEphemeral(channel=channel, user=user, **reply)

    app.command("/rollback")(ack=ack_command, lazy=[run_command])


def _unknown_service(command: Command, planning: Planning) -> UnknownServiceError | None:
    """For ``plan`` and ``history``: the error when the target is not a known service."""
    if command.verb not in ("plan", "history") or command.target is None:
        return None
    try:
        planning.check_service(command.target)
    except UnknownServiceError as exc:
        return exc
    return None


def _unknown_named(usage: Usage, planning: Planning) -> UnknownServiceError | None:
    """For a malformed ``plan`` that names a service: the error when it is not a known one."""
    if usage.service is None or usage.service.startswith(("inc-", "pl-")):
        return None
    try:
        planning.check_service(usage.service)
    except UnknownServiceError as exc:
        return exc
    return None


def _run(
    command: Command,
    *,
    user: str,
    channel: str,
    planning: Planning,
    decisions: Decisions,
    execution: Execution,
    queries: Queries,
    notifier: SlackNotifier,
) -> dict[str, Any] | None:
    target = command.target
    if command.verb == "plan" and target:
        planning.plan_for_service(
            target,
            requester=user,
            channel=channel,
            window=command.window,
            to_version=command.to_version,
        )
        return None
    if command.verb == "replan" and target:
        if planning.replan(target, requester=user, channel=channel, window=command.window):
            return None
        return {"text": replies.unknown_incident(target)}
    if command.verb == "status":
        plan_id = target or queries.latest_plan()
        if plan_id is None:
            return {"text": messages.NO_PLANS}
        return notifier.status_message(plan_id)
    if command.verb == "simulate" and target:
        return simulation_message(target, results=execution.simulate(target))
    if command.verb == "abort" and target:
        done = decisions.stop(target, user=user)
        return {"text": replies.aborted(target) if done else messages.NOT_ALLOWED_ABORT}
    if command.verb == "history" and target:
        changes, plans = queries.history(target)
        return {"text": replies.history(target, changes, plans)}
    return None
