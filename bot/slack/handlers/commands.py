"""The ``/rollback`` slash command: ack at once, then do the slow work in a lazy listener.

``ack`` answers within Slack's 3 seconds with an ephemeral line (or the usage help, or "unknown
service" with close names, which need no slow work). The lazy listener drafts, looks up or
aborts, and answers with ephemeral messages through ``chat.postEphemeral``.

Before either runs, a listener middleware counts a plan request against its sender's and its
channel's allowance (:mod:`bot.slack.limits`); one over it is answered in the request itself,
and nothing is drafted. A dry run is handed by the ack to the simulations' own pool, never to
a listener thread, and answered from there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, BoltResponse
from slack_sdk import WebClient

from bot.core.usecases import Decisions, Planning, Queries
from bot.slack import messages
from bot.slack.handlers.parse import Command, Usage, parse_command
from bot.slack.limits import PLAN, Gate
from bot.slack.notifier import SlackNotifier
from bot.slack.views import replies
from bot.store import PlanNotFoundError
from planners.errors import UnknownServiceError

__all__ = ["register"]


def register(
    app: App,
    *,
    planning: Planning,
    decisions: Decisions,
    queries: Queries,
    notifier: SlackNotifier,
    gate: Gate,
) -> None:
    """Listen for ``/rollback``."""

    def limit_plans(body: dict[str, Any], next: Callable[[], None]) -> BoltResponse | None:
        # Listener middleware: a refused plan is answered here; neither the ack nor the lazy
        # listener runs, so nothing is drafted.
        parsed = parse_command(body.get("text", ""))
        if isinstance(parsed, Command) and parsed.verb in ("plan", "replan"):
            user, channel = body.get("user_id", ""), body.get("channel_id", "")
            if not _unknown_service(parsed, planning) and (
                refused := gate.refuse(PLAN, user=user, channel=channel)
            ):
                return BoltResponse(status=200, body={"response_type": "ephemeral", **refused})
        next()
        return None

    def ack_command(ack: Ack, command: dict[str, Any], client: WebClient) -> None:
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
        elif parsed.verb == "simulate" and parsed.target:
            user, channel = command["user_id"], command["channel_id"]
            refused = gate.simulate(parsed.target, user=user, channel=channel, client=client)
            ack(
                response_type="ephemeral",
                **(refused or {"text": replies.working(parsed.verb, parsed.target)}),
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
                queries=queries,
                notifier=notifier,
            )
        except PlanNotFoundError:
            reply = replies.plan_not_found(parsed.target or "")
        if reply is not None:
            client.chat_postEphemeral(channel=channel, user=user, **reply)

    app.command("/rollback", middleware=[limit_plans])(ack=ack_command, lazy=[run_command])


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
    queries: Queries,
    notifier: SlackNotifier,
) -> dict[str, Any] | None:
    """The slow half of a command (``simulate`` is not here: its ack queued it)."""
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
    if command.verb == "abort" and target:
        done = decisions.stop(target, user=user)
        return {"text": replies.aborted(target) if done else messages.NOT_ALLOWED_ABORT}
    if command.verb == "history" and target:
        changes, plans = queries.history(target)
        return {"text": replies.history(target, changes, plans)}
    return None
