"""The post-incident summary posted in the plan's thread once the incident's alerts resolve and
its execution has settled, and updated in place afterwards.

A pure view like :mod:`bot.slack.views.plan`: the plan and its final state, plus the audit log's
entries for the plan, become one Block Kit message: what happened when (the timeline), what ran,
time to mitigate (first alert → healthy) and to resolve (first alert → the alerts' resolution), who
approved, and a "was the suspect right?" control whose answer feeds the
suspect scoring's history. :mod:`bot.core.usecases.summaries` decides when it is shown; nothing
here calls Slack.

When a model is configured, the summary gains its narrative once one is stored for the
summary's current facts (:mod:`bot.core.usecases.narrating`): "What happened", labelled with the
model and "checked by the graph", under the outcome. The model's text is untrusted like an
alert's: escaped (no mention, broadcast or link survives), cut to fit, in a section with no
button. A narrative the guard rejected is not shown; one line says that it was rejected and
why, so a reader knows the model was asked and the graph said no.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final, Protocol

from bot.core.usecases.summaries import RESOLVED_ACTION
from bot.lifecycle import StepStatus
from bot.slack import messages
from bot.slack.views.blocks import (
    Block,
    actions,
    at,
    blocks,
    button,
    context,
    divider,
    header,
    message,
    names,
    pack,
    section,
    short,
)
from bot.slack.views.escape import code, escape, truncate
from bot.slack.views.progress import (
    PlanView,
    action_words,
    status_emoji,
    status_name,
    status_words,
    step_numbers,
)
from planners.explain import format_seconds

__all__ = ["ACTION_FEEDBACK_RIGHT", "ACTION_FEEDBACK_WRONG", "Narrative", "incident_summary"]

ACTION_FEEDBACK_RIGHT: Final = "backout_feedback_right"
"""The suspect was the cause; value ``plan_id``."""
ACTION_FEEDBACK_WRONG: Final = "backout_feedback_wrong"
"""The suspect was not the cause; value ``plan_id``."""

_NOT_RUN = frozenset({StepStatus.PENDING, StepStatus.QUEUED})
# A step is done, or left as not needed, only once health verified: the service was healthy then.
_HEALTHY_ACTIONS = (f"step.{StepStatus.DONE.value}", f"step.{StepStatus.NOT_NEEDED.value}")

_TIMELINE_HEAD = 15
_TIMELINE_TAIL = 15
_MAX_RAN = 25
_MAX_TIMELINE_SECTIONS = 6
# A Slack user (U…) or enterprise user (W…) id: only such an approver is shown as a mention.
_USER_ID = re.compile(r"[UW][A-Z0-9]{2,20}")
_NARRATIVE_TITLE = "*What happened* _(written by {model}, checked by the graph)_"
_NARRATIVE_REJECTED = "The model's narrative was rejected by the graph: {reason}"
_NARRATIVE_LIMIT = 1500


class Narrative(Protocol):
    """A stored summary narrative, as :class:`bot.store.StoredNarrative` holds it."""

    @property
    def model(self) -> str: ...
    @property
    def outcome(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def reason(self) -> str: ...


def incident_summary(
    plan_view: PlanView,
    timeline: Sequence[tuple[datetime, str, str]],
    *,
    narrative: Narrative | None = None,
) -> dict[str, Any]:
    """The post-incident summary: outcome, duration, approvers, the model's narrative, what
    ran, timeline, feedback.

    Args:
        plan_view: the plan and its final state.
        timeline: audit entries ``(when, actor, what)`` in any order; shown oldest first, the
            first and last fifteen when there are more.
        narrative: the model's narrative of the summary's current facts, if one is stored.

    Returns:
        ``{"text", "blocks"}`` within Slack's limits, with the buttons
        ``backout_feedback_right`` and ``backout_feedback_wrong`` (value ``plan_id``).
    """
    plan = plan_view.plan
    entries = sorted(timeline, key=lambda entry: _utc(entry[0]))
    services = (
        names(plan.incident.services, limit=5)
        if plan.incident.services
        else short(plan.incident.id)
    )
    drawn = blocks(
        header(messages.SUMMARY_HEADER.format(services=services)),
        section(
            "\n".join(
                [
                    messages.SUMMARY_OUTCOME.format(
                        plan_id=code(plan_view.plan_id, limit=60),
                        status=short(plan_view.plan_status, 40),
                        counts=_counts(plan_view),
                    ),
                    _duration(plan_view, entries),
                    _approvers(plan_view),
                ]
            )
        ),
        _narrative(narrative),
        [section(text) for text in pack(_ran(plan_view))],
        [section(text) for text in _timeline(entries)[:_MAX_TIMELINE_SECTIONS]],
        divider(),
        section(_question(plan_view)),
        actions(
            [
                button(
                    messages.BUTTON_FEEDBACK_RIGHT,
                    action_id=ACTION_FEEDBACK_RIGHT,
                    value=plan_view.plan_id,
                    style="primary",
                ),
                button(
                    messages.BUTTON_FEEDBACK_WRONG,
                    action_id=ACTION_FEEDBACK_WRONG,
                    value=plan_view.plan_id,
                ),
            ]
        ),
    )
    fallback = messages.SUMMARY_FALLBACK.format(
        services=services, status=short(plan_view.plan_status, 40), counts=_counts(plan_view)
    )
    return message(fallback, drawn)


def _narrative(narrative: Narrative | None) -> Block | None:
    """The checked narrative, or the one line saying the graph rejected it."""
    if narrative is None:
        return None
    if narrative.outcome == "guard_rejected":
        return context([_NARRATIVE_REJECTED.format(reason=short(narrative.reason, 300))])
    prose = escape(narrative.text, multiline=True).strip()
    if narrative.outcome != "ok" or not prose:
        return None
    title = _NARRATIVE_TITLE.format(model=code(narrative.model, limit=80))
    return section(f"{title}\n{truncate(prose, limit=_NARRATIVE_LIMIT)}")


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _counts(view: PlanView) -> str:
    counts: dict[str, int] = {}
    for step in view.plan.steps:
        status = str(view.state(step.id).status)
        counts[status] = counts.get(status, 0) + 1
    if not counts:
        return messages.EMPTY
    return messages.LIST_SEPARATOR.join(
        f"{status_emoji(status)} {count} {status_name(status)}" for status, count in counts.items()
    )


def _duration(view: PlanView, entries: Sequence[tuple[datetime, str, str]]) -> str:
    """Time to mitigate (first alert → healthy) and to resolve (first alert → resolution)."""
    started = view.plan.incident.started_at
    start = _utc(started) if started is not None else None
    return "\n".join([_to_mitigate(view, start, entries), _to_resolve(start, entries)])


def _to_mitigate(
    view: PlanView, start: datetime | None, entries: Sequence[tuple[datetime, str, str]]
) -> str:
    statuses = {str(view.state(step.id).status) for step in view.plan.steps}
    healthy = [_utc(when) for when, _, what in entries if what.startswith(_HEALTHY_ACTIONS)]
    if start is None:
        why = messages.SUMMARY_MITIGATE_NO_START
    elif StepStatus.FAILED in statuses:
        why = messages.SUMMARY_MITIGATE_FAILED
    elif StepStatus.DONE not in statuses or not healthy:
        why = messages.SUMMARY_MITIGATE_NOTHING_RAN
    else:
        return _span(messages.SUMMARY_MITIGATE, start, max(healthy))
    return messages.SUMMARY_MITIGATE_UNKNOWN.format(why=why)


def _to_resolve(start: datetime | None, entries: Sequence[tuple[datetime, str, str]]) -> str:
    resolved = [_utc(when) for when, _, what in entries if what == RESOLVED_ACTION]
    if start is None:
        return messages.SUMMARY_RESOLVE_UNKNOWN.format(why=messages.SUMMARY_MITIGATE_NO_START)
    if not resolved:
        return messages.SUMMARY_RESOLVE_UNKNOWN.format(why=messages.SUMMARY_RESOLVE_OPEN)
    return _span(messages.SUMMARY_RESOLVE, start, min(resolved))


def _span(template: str, start: datetime, end: datetime) -> str:
    seconds = max(0, int((end - start).total_seconds()))
    return template.format(
        start=at(start, "%H:%M:%S"), end=at(end, "%H:%M:%S"), duration=format_seconds(seconds)
    )


def _approvers(view: PlanView) -> str:
    everyone = sorted({a for state in view.steps.values() for a in state.approvers})
    if not everyone:
        return messages.SUMMARY_NO_APPROVERS
    shown = [f"<@{a}>" if _USER_ID.fullmatch(a) else short(a, 60) for a in everyone[:20]]
    if len(everyone) > 20:
        shown.append(messages.AND_MORE.format(count=len(everyone) - 20))
    return messages.SUMMARY_APPROVERS.format(approvers=messages.LIST_SEPARATOR.join(shown))


def _ran(view: PlanView) -> list[str]:
    numbers = step_numbers(view.plan)
    ran = [s for s in view.plan.steps if str(view.state(s.id).status) not in _NOT_RUN]
    if not ran:
        return [messages.SUMMARY_RAN_NOTHING]
    lines = [messages.SUMMARY_RAN_TITLE]
    for step in ran[:_MAX_RAN]:
        state = view.state(step.id)
        lines.append(
            messages.SUMMARY_RAN_STEP.format(
                emoji=status_emoji(state.status),
                number=numbers[step.id],
                action=action_words(step),
                status=status_words(state),
            )
        )
    if len(ran) > _MAX_RAN:
        lines.append(messages.SUMMARY_TIMELINE_GAP.format(count=len(ran) - _MAX_RAN))
    return lines


def _timeline(entries: Sequence[tuple[datetime, str, str]]) -> list[str]:
    if not entries:
        return [messages.SUMMARY_TIMELINE_EMPTY]
    lines = [messages.SUMMARY_TIMELINE_TITLE]
    shown: Sequence[tuple[datetime, str, str] | None] = entries
    if len(entries) > _TIMELINE_HEAD + _TIMELINE_TAIL:
        shown = [*entries[:_TIMELINE_HEAD], None, *entries[-_TIMELINE_TAIL:]]
    for entry in shown:
        if entry is None:
            hidden = len(entries) - _TIMELINE_HEAD - _TIMELINE_TAIL
            lines.append(messages.SUMMARY_TIMELINE_GAP.format(count=hidden))
            continue
        when, actor, what = entry
        lines.append(
            messages.SUMMARY_TIMELINE_ENTRY.format(
                at=at(when, "%H:%M:%S"), actor=short(actor, 60), what=short(what, 300)
            )
        )
    return pack(lines)


def _question(view: PlanView) -> str:
    plan = view.plan
    if plan.abstained or not plan.suspects:
        return messages.SUMMARY_FEEDBACK_ABSTAINED
    top = plan.suspects[0]
    return messages.SUMMARY_FEEDBACK_SUSPECT.format(
        kind=short(str(top.kind).replace("_", " "), 40),
        service=short(top.service),
        change=code(top.change_id, limit=80),
    )
