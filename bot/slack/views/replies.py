"""Short replies to the person who asked: what a command or click did, and what went wrong.

Pure views like the rest of :mod:`bot.slack.views`, sent by the handlers in
``bot/slack/handlers/`` with ``ack()``, ``respond()`` or ``chat.postEphemeral`` so only that person
sees them. The replies about a failed request (unknown input, refusals, failures) return
``{"text", "blocks"}``: the caller adds ``response_type="ephemeral"`` where the API wants it
(``ack(response_type="ephemeral", **usage(text))``). Unknown input gets usage help and never a
traceback; an internal error shows a reference the admins can find in the logs. The one-line
answers (:func:`working`, :func:`approval`, :func:`history`…) return the text alone. Whatever
the user typed or the store holds is shown escaped, so a command cannot be used to post a mention.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from bot.slack import messages
from bot.slack.views.blocks import context, message, section, short
from bot.slack.views.escape import code, escape, truncate

if TYPE_CHECKING:
    from bot.store import StoredPlan
    from planners.model import Change

__all__ = [
    "ApprovalLike",
    "aborted",
    "approval",
    "explain_failed",
    "history",
    "internal_error",
    "no_model",
    "not_authorized",
    "not_in_channel",
    "plan_not_found",
    "rate_limited",
    "read_refused",
    "simulations_busy",
    "unknown_incident",
    "unknown_service",
    "usage",
    "working",
]

_MAX_SUGGESTIONS = 5


# -- what went wrong (ephemeral messages) ---------------------------------------------------------


def unknown_service(name: str, suggestions: Sequence[str] = ()) -> dict[str, Any]:
    """No service has this name; close names, if any, are offered (never used on their own).

    Args:
        name: what the user typed.
        suggestions: close names from the topology, best first.

    Returns:
        An ephemeral message.
    """
    lines = [messages.UNKNOWN_SERVICE.format(name=code(name, limit=100))]
    if suggestions:
        shown = messages.LIST_SEPARATOR.join(
            code(s, limit=100) for s in suggestions[:_MAX_SUGGESTIONS]
        )
        lines.append(messages.UNKNOWN_SERVICE_SUGGEST.format(suggestions=shown))
    return _ephemeral("\n".join(lines), hint=messages.UNKNOWN_SERVICE_HINT)


def usage(text: str, problem: str = "") -> dict[str, Any]:
    """What ``/rollback`` understands, after the input it could not read (shown escaped).

    Args:
        text: the user's text after the command; empty for ``/rollback help``.
        problem: what was wrong with it (``unknown command 'rollbak'``), if known.

    Returns:
        An ephemeral message.
    """
    if text.strip():
        why = messages.USAGE_PROBLEM.format(problem=short(problem, 300)) if problem.strip() else ""
        title = messages.USAGE_TITLE.format(text=code(text, limit=300), problem=why)
    else:
        title = messages.USAGE_EMPTY_TITLE
    return _ephemeral(f"{title}\n{messages.USAGE_COMMANDS}")


def not_authorized(reason: str) -> dict[str, Any]:
    """The user may not do this, and why (e.g. "cartservice is owned by @payments").

    Args:
        reason: the authorisation middleware's explanation; escaped here.

    Returns:
        An ephemeral message.
    """
    return _ephemeral(messages.NOT_AUTHORIZED.format(reason=short(reason, 1000)))


def plan_not_found(plan_id: str) -> dict[str, Any]:
    """No stored plan has this id.

    Args:
        plan_id: the id the user gave.

    Returns:
        An ephemeral message.
    """
    return _ephemeral(messages.PLAN_NOT_FOUND.format(plan_id=code(plan_id, limit=100)))


def read_refused(plan_id: str, *, what: str = "status") -> dict[str, Any]:
    """The user may not read this plan (they are neither in its channel nor its approvers):
    said politely, with who may.

    Args:
        plan_id: the plan asked for.
        what: what was asked: ``status`` (see it) or ``simulate`` (a dry run of it).

    Returns:
        An ephemeral message.
    """
    text = messages.READ_REFUSED.format(
        what=messages.READ_REFUSED_WHAT.get(what, messages.READ_REFUSED_WHAT["status"]),
        plan_id=code(plan_id, limit=100),
    )
    return _ephemeral(text, hint=messages.READ_REFUSED_HINT)


def not_in_channel(plan_id: str) -> dict[str, Any]:
    """``/rollback plan`` in a channel the bot is not a member of: the plan is drafted (its
    id), it may not be posted there, and how to invite the bot.

    Args:
        plan_id: the drafted plan.

    Returns:
        An ephemeral message (sent through the command's ``response_url``).
    """
    text = messages.NOT_IN_CHANNEL.format(plan_id=code(plan_id, limit=100))
    return _ephemeral(text, hint=messages.NOT_IN_CHANNEL_INVITE)


def internal_error(ref: str) -> dict[str, Any]:
    """Something failed on our side; ``ref`` (a correlation id) finds it in the logs.

    Args:
        ref: the correlation id of the request.

    Returns:
        An ephemeral message.
    """
    return _ephemeral(messages.INTERNAL_ERROR.format(ref=code(ref, limit=100)))


def rate_limited(
    kind: str, *, scope: str, count: int, period: float, retry_after: float
) -> dict[str, Any]:
    """A request refused at the ack because its sender (or channel) asked for too many.

    Args:
        kind: what was asked for (``plan`` or ``simulate``).
        scope: whose allowance is spent: ``user`` or ``channel``.
        count: how many ``kind`` requests the allowance holds per ``period``.
        period: the allowance's period, in seconds.
        retry_after: seconds until the next request would be accepted.

    Returns:
        An ephemeral message.
    """
    template = messages.RATE_LIMITED_CHANNEL if scope == "channel" else messages.RATE_LIMITED_USER
    text = template.format(
        count=count,
        what=messages.RATE_LIMITED_WHAT.get(kind, messages.RATE_LIMITED_OTHER),
        period=(
            messages.PERIOD_MINUTE
            if period == 60
            else messages.PERIOD_SECONDS.format(seconds=f"{period:g}")
        ),
        wait=messages.WAIT_SECONDS.format(seconds=max(1, math.ceil(retry_after))),
    )
    return _ephemeral(text, hint=messages.RATE_LIMITED_HINT)


def no_model() -> dict[str, Any]:
    """``/rollback explain`` (or a stale *Explain* button) when no model is configured.

    Returns:
        An ephemeral message.
    """
    return _ephemeral(messages.NO_MODEL, hint=messages.NO_MODEL_HINT)


def explain_failed(plan_id: str, outcome: str) -> dict[str, Any]:
    """The model gave no usable answer (an error, a timeout, its breaker open): the plan stands.

    Args:
        plan_id: the plan asked about.
        outcome: the model call's outcome (``timeout``, ``error``…).

    Returns:
        An ephemeral message.
    """
    text = messages.EXPLAIN_FAILED.format(
        plan_id=code(plan_id, limit=100), outcome=short(outcome, 40)
    )
    return _ephemeral(text)


def simulations_busy(plan_id: str) -> dict[str, Any]:
    """A dry run refused because the simulations' queue is full.

    Args:
        plan_id: the plan the user asked to simulate.

    Returns:
        An ephemeral message.
    """
    text = messages.SIMULATIONS_BUSY.format(plan_id=code(plan_id, limit=100))
    return _ephemeral(text, hint=messages.SIMULATIONS_BUSY_HINT)


def _ephemeral(text: str, *, hint: str = "") -> dict[str, Any]:
    drawn = [section(text)]
    note = context([hint]) if hint else None
    if note is not None:
        drawn.append(note)
    return message(text, drawn)


# -- what a command or click did (one line of text) -----------------------------------------------


def working(verb: str, target: str | None) -> str:
    """The ephemeral line ``ack()`` answers a command with, before the slow work starts."""
    template = messages.WORKING.get(verb)
    if template is None:
        return messages.WORKING_OTHER
    return template.format(target=code(target, limit=100) if target else messages.WORKING_LATEST)


def unknown_incident(incident_id: str) -> str:
    """The answer to ``/rollback plan inc-…`` for an incident Backout has not seen."""
    return messages.UNKNOWN_INCIDENT.format(incident=code(incident_id, limit=100))


def aborted(plan_id: str) -> str:
    """The answer to ``/rollback abort`` when the plan was aborted."""
    return messages.ABORTED.format(plan_id=code(plan_id, limit=100))


class ApprovalLike(Protocol):
    """What an approve click did (:class:`bot.core.usecases.Approval`)."""

    @property
    def approved(self) -> Sequence[str]: ...
    @property
    def queued(self) -> Sequence[str]: ...
    @property
    def refused(self) -> Sequence[str]: ...
    @property
    def waiting(self) -> Sequence[str]: ...


def approval(result: ApprovalLike) -> str:
    """What an approve click did: approved, now running, waiting for a second approver, refused."""

    def steps(ids: Sequence[str]) -> str:
        shown = messages.LIST_SEPARATOR.join(code(i, limit=40) for i in list(ids)[:20])
        more = len(ids) - 20
        return shown + (
            messages.LIST_SEPARATOR + messages.AND_MORE.format(count=more) if more > 0 else ""
        )

    parts = []
    if result.approved:
        parts.append(
            messages.APPROVED.format(count=len(result.approved), steps=steps(result.approved))
        )
    if result.queued:
        parts.append(messages.APPROVED_QUEUED.format(steps=steps(result.queued)))
    if result.waiting:
        parts.append(messages.APPROVED_WAITING.format(steps=steps(result.waiting)))
    if result.refused:
        reasons = "; ".join(truncate(escape(r), 300) for r in list(result.refused)[:5])
        parts.append(messages.APPROVED_REFUSED.format(reasons=reasons))
    return " ".join(parts) or messages.APPROVED_NOTHING


def history(service: str, changes: Sequence[Change], plans: Sequence[StoredPlan]) -> str:
    """``/rollback history <service>``: its recent changes and the plans that touched it."""
    name = code(service, limit=100)
    lines = [
        messages.HISTORY_CHANGES.format(service=name)
        if changes
        else messages.HISTORY_NO_CHANGES.format(service=name)
    ]
    for change in list(changes)[:10]:
        versions = (
            messages.HISTORY_VERSIONS.format(
                before=code(change.from_version or messages.EMPTY, limit=40),
                after=code(change.to_version or messages.EMPTY, limit=40),
            )
            if change.from_version or change.to_version
            else ""
        )
        line = messages.HISTORY_CHANGE.format(
            at=change.at.strftime("%Y-%m-%d %H:%M UTC"),
            change=code(change.id, limit=60),
            kind=str(change.kind).replace("_", " "),
            versions=versions,
            actor=messages.HISTORY_ACTOR.format(actor=truncate(escape(change.actor), 60))
            if change.actor
            else "",
            summary=messages.HISTORY_SUMMARY.format(summary=truncate(escape(change.summary), 200))
            if change.summary.strip()
            else "",
        )
        lines.append(line)
    lines.append(messages.HISTORY_PLANS if plans else messages.HISTORY_NO_PLANS)
    for stored in list(plans)[:5]:
        top = stored.plan.suspects[0].change_id if stored.plan.suspects else messages.EMPTY
        lines.append(
            messages.HISTORY_PLAN.format(
                at=stored.created_at.strftime("%Y-%m-%d %H:%M UTC"),
                plan_id=code(stored.id, limit=60),
                status=truncate(escape(stored.status), 40),
                incident=code(stored.plan.incident.id, limit=60),
                suspect=code(top, limit=60),
            )
        )
    return "\n".join(lines)
