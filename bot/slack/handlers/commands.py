"""The ``/rollback`` slash command: ack at once, then do the slow work in a lazy listener.

``ack`` answers within Slack's 3 seconds with an ephemeral line (or the usage help, or "unknown
service" with close names, which need no slow work). The lazy listener drafts, looks up or
aborts, and answers with ephemeral messages through ``chat.postEphemeral``, or through the
command's ``response_url`` where the bot is not a member of the channel (Slack then refuses the
ephemeral with ``not_in_channel`` or ``channel_not_found``; a ``response_url`` needs no
membership). A plan drafted in such a channel may not be postable there: the notifier's post
fails quietly, so the listener asks Slack (``conversations.info``) whether the bot is a member
and, when it is not, shows the requester the plan through the ``response_url`` with its id and
how to invite the bot (issue 11, item 14).

Plans are shown, listed and previewed only to those who may read them (the channel's members
and the approvers, :mod:`bot.core.access`); the use case audits each read and refusal.

Before either runs, a listener middleware counts a plan request against its sender's and its
channel's allowance (:mod:`bot.slack.limits`); one over it is answered in the request itself,
and nothing is drafted. A dry run is checked (:func:`dry_run`: may this user read the plan?)
and handed by the ack to the simulations' own pool, never to a listener thread, and answered
from there.

``/rollback explain <plan>`` (:func:`explain`, also behind the *Explain* button) is a read of the
same kind: checked like ``status``, counted (:data:`~bot.slack.limits.EXPLAIN`) and handed by the
ack to the explanations' own pool (:class:`~bot.core.usecases.explaining.Explaining`); the
model's checked explanation is shown to the requester when it arrives, and edited into the plan
message. Without a model configured it says so.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, BoltResponse, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.core.usecases import Decisions, Planning, Queries
from bot.core.usecases.explaining import Explained, Explaining
from bot.slack import messages
from bot.slack.handlers.parse import Command, Usage, parse_command
from bot.slack.limits import EXPLAIN, PLAN, Gate
from bot.slack.notifier import SlackNotifier
from bot.slack.views import replies
from bot.slack.views.explanation import explanation_reply, explanation_view
from bot.store import PlanNotFoundError
from planners.errors import UnknownServiceError

__all__ = ["dry_run", "explain", "register"]

log = logging.getLogger(__name__)

_PLAN_ID = re.compile(r"^pl-[0-9a-f]{8}$")
_NOT_THERE = frozenset({"not_in_channel", "channel_not_found"})
"""Slack's errors for a message to a channel the bot is not a member of (or cannot see)."""


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
        parsed = _parse(body.get("text", ""))
        if isinstance(parsed, Command) and parsed.verb in ("plan", "replan"):
            user, channel = body.get("user_id", ""), body.get("channel_id", "")
            if not _unknown_service(parsed, planning) and (
                refused := gate.refuse(PLAN, user=user, channel=channel)
            ):
                return BoltResponse(status=200, body={"response_type": "ephemeral", **refused})
        next()
        return None

    def ack_command(ack: Ack, command: dict[str, Any], client: WebClient) -> None:
        parsed = _parse(command.get("text", ""))
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
        elif parsed.verb == "explain" and parsed.target:
            user, channel = command["user_id"], command["channel_id"]
            refused = explain(
                parsed.target,
                user=user,
                channel=channel,
                client=client,
                queries=queries,
                gate=gate,
                explaining=planning.explaining,
            )
            ack(
                response_type="ephemeral",
                **(refused or {"text": replies.working(parsed.verb, parsed.target)}),
            )
        elif parsed.verb == "simulate" and parsed.target:
            user, channel = command["user_id"], command["channel_id"]
            refused = dry_run(
                parsed.target, user=user, channel=channel, client=client, queries=queries, gate=gate
            )
            ack(
                response_type="ephemeral",
                **(refused or {"text": replies.working(parsed.verb, parsed.target)}),
            )
        else:
            ack(response_type="ephemeral", text=replies.working(parsed.verb, parsed.target))

    def run_command(command: dict[str, Any], client: WebClient, respond: Respond) -> None:
        parsed = _parse(command.get("text", ""))
        if not isinstance(parsed, Command) or parsed.verb in ("help", "explain"):
            return  # an explanation was handed to its pool by the ack, and answers from there
        if _unknown_service(parsed, planning):
            return
        user, channel = command["user_id"], command["channel_id"]
        if parsed.verb in ("plan", "replan"):
            _draft(
                parsed,
                user=user,
                channel=channel,
                planning=planning,
                notifier=notifier,
                client=client,
                respond=respond,
            )
            return
        try:
            reply = _run(
                parsed,
                user=user,
                channel=channel,
                decisions=decisions,
                queries=queries,
                notifier=notifier,
            )
        except PlanNotFoundError:
            reply = replies.plan_not_found(parsed.target or "")
        if reply is not None:
            _tell(reply, user=user, channel=channel, client=client, respond=respond)

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


def dry_run(
    plan_id: str,
    *,
    user: str,
    channel: str,
    client: WebClient,
    queries: Queries,
    gate: Gate,
) -> dict[str, Any] | None:
    """Start a dry run of ``plan_id`` for ``user``, asking in ``channel`` (``/rollback simulate``
    and the *Simulate* button, in their acks): only if they may read the plan (a refusal is
    audited) and the gate lets it start (a started one is audited as ``plan.simulated``).

    Returns:
        None when it was queued (its result is posted to the user when it is done); else the
        ephemeral answer saying why not.
    """
    try:
        read = queries.may_simulate(plan_id, user=user, channel=channel)
    except PlanNotFoundError:
        return replies.plan_not_found(plan_id)
    if not read.allowed:
        return replies.read_refused(plan_id, what="simulate")
    if refused := gate.simulate(plan_id, user=user, channel=channel, client=client):
        return refused
    queries.simulated(plan_id, user=user, channel=channel)
    return None


def explain(
    plan_id: str,
    *,
    user: str,
    channel: str,
    client: WebClient,
    queries: Queries,
    gate: Gate,
    explaining: Explaining | None,
) -> dict[str, Any] | None:
    """Ask the model to explain ``plan_id`` for ``user``, asking in ``channel``
    (``/rollback explain`` and the *Explain* button, in their acks): only when a model is
    configured, the user may read the plan (the read or refusal is audited, as for ``status``)
    and their allowance is not spent. The explanation is stored and edited into the plan
    message, and shown to the user ephemerally, when it arrives.

    Returns:
        None when it was handed to the explanations' pool; else the ephemeral answer saying
        why not.
    """
    if explaining is None:
        return replies.no_model()
    try:
        read = queries.read(plan_id, user=user, channel=channel)
    except PlanNotFoundError:
        return replies.plan_not_found(plan_id)
    if not read.allowed:
        return replies.read_refused(plan_id, what="explain")
    if refused := gate.refuse(EXPLAIN, user=user, channel=channel):
        return refused

    def answer(explained: Explained) -> None:
        if explained.explanation is None:
            reply = replies.explain_failed(plan_id, explained.outcome)
        else:
            reply = explanation_reply(plan_id, explanation_view(explained.explanation))
        try:
            client.chat_postEphemeral(channel=channel, user=user, **reply)
        except SlackClientError as exc:  # the plan message shows it anyway
            log.warning("explanation of %s for %s not shown: %s", plan_id, user, exc)

    explaining.soon(read.plan_id, then=answer)
    return None


def _parse(text: str) -> Command | Usage:
    """:func:`parse_command`, and ``explain <plan>``."""
    words = text.split()
    if not words or words[0].lower() != "explain":
        return parse_command(text)
    if len(words) != 2:
        return Usage(text=text, problem="explain takes a plan id")
    if not _PLAN_ID.match(words[1]):
        return Usage(text=text, problem="explain takes a plan id like pl-1a2b3c4d")
    return Command(verb="explain", target=words[1])


def _draft(
    command: Command,
    *,
    user: str,
    channel: str,
    planning: Planning,
    notifier: SlackNotifier,
    client: WebClient,
    respond: Respond,
) -> None:
    """``plan`` and ``replan``: draft the plan, which the notifier posts in ``channel``. Where
    the bot is not a member, that post may fail (the notifier logs it; ``chat:write.public``
    lets the bot post in a public channel all the same), so the requester is shown the plan,
    with its id and how to invite the bot, through the ``response_url``."""
    target = command.target
    if target is None:
        return
    plan_id: str | None
    if command.verb == "plan":
        plan_id = planning.plan_for_service(
            target,
            requester=user,
            channel=channel,
            window=command.window,
            to_version=command.to_version,
        )
    else:
        plan_id = planning.replan(target, requester=user, channel=channel, window=command.window)
    if plan_id is None:
        unknown = {"text": replies.unknown_incident(target)}
        _tell(unknown, user=user, channel=channel, client=client, respond=respond)
    elif _bot_is_member(client, channel) is False:
        for shown in (replies.not_in_channel(plan_id), notifier.status_message(plan_id)):
            respond(response_type="ephemeral", **shown)


def _run(
    command: Command,
    *,
    user: str,
    channel: str,
    decisions: Decisions,
    queries: Queries,
    notifier: SlackNotifier,
) -> dict[str, Any] | None:
    """The slow half of ``status``, ``abort`` and ``history`` (``simulate`` is not here: its ack
    queued it)."""
    target = command.target
    if command.verb == "status" and target is None:
        plan_id = queries.latest(user=user, channel=channel)
        return {"text": messages.NO_PLANS} if plan_id is None else notifier.status_message(plan_id)
    if command.verb == "status" and target:
        if queries.read(target, user=user, channel=channel).allowed:
            return notifier.status_message(target)
        return replies.read_refused(target)
    if command.verb == "abort" and target:
        done = decisions.stop(target, user=user)
        return {"text": replies.aborted(target) if done else messages.NOT_ALLOWED_ABORT}
    if command.verb == "history" and target:
        changes, plans = queries.history(target, user=user, channel=channel)
        return {"text": replies.history(target, changes, plans)}
    return None


def _tell(
    reply: dict[str, Any], *, user: str, channel: str, client: WebClient, respond: Respond
) -> None:
    """Show ``reply`` to ``user`` alone: as an ephemeral message in ``channel``, or through the
    command's ``response_url`` when the bot is not a member there (no membership needed)."""
    try:
        client.chat_postEphemeral(channel=channel, user=user, **reply)
    except SlackApiError as exc:
        error = exc.response.get("error")
        if error not in _NOT_THERE:
            raise
        log.info("answering %s in %s through the response_url (%s)", user, channel, error)
        respond(response_type="ephemeral", **reply)


def _bot_is_member(client: WebClient, channel: str) -> bool | None:
    """Whether the bot is a member of ``channel`` (``conversations.info``): False when it is
    not, or cannot see the channel at all (a private channel or a conversation it is not in);
    None when Slack does not say (a direct message, a missing scope, Slack unreachable)."""
    try:
        info = client.conversations_info(channel=channel)
    except SlackApiError as exc:
        error = exc.response.get("error")
        if error == "channel_not_found":
            return False
        log.warning("conversations.info %s failed: %s", channel, error)
        return None
    except SlackClientError as exc:
        log.warning("conversations.info %s failed: %s", channel, exc)
        return None
    member = (info.get("channel") or {}).get("is_member")
    return member if isinstance(member, bool) else None
