"""The plan message: a rollback plan as Block Kit, updated in place as it runs.

A pure view of :mod:`bot.slack.views`: a :class:`~bot.slack.views.progress.PlanView` (the
planner's :class:`~planners.model.Plan` and its execution state) becomes the ``{"text",
"blocks"}`` dict that ``chat.postMessage`` and ``chat.update`` take: suspects, steps by stage,
what may run in parallel and the critical path (from :mod:`planners.schedule`), and the buttons
of :mod:`bot.slack.views.buttons`. Every untrusted value goes through
:mod:`bot.slack.views.escape`, and long plans are collapsed into summary lines rather than
producing a message Slack rejects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot.lifecycle import FINISHED, Mode, PlanKind, StepStatus
from bot.slack import messages
from bot.slack.views.blocks import (
    Block,
    at,
    blocks,
    context,
    divider,
    header,
    message,
    names,
    pack,
    section,
    short,
)
from bot.slack.views.buttons import plan_buttons
from bot.slack.views.escape import MAX_BLOCKS, code, escape, truncate
from bot.slack.views.explanation import (
    ExplanationView,
    explain_row,
    explanation_blocks,
    other_notes,
    refinement_blocks,
)
from bot.slack.views.progress import (
    PlanView,
    StepState,
    action_words,
    lifecycle_of,
    status_command,
    status_emoji,
    status_text,
    step_numbers,
    step_refs,
)
from planners.explain import format_seconds
from planners.model import Action, Plan, Stage, Step, Suspect
from planners.schedule import critical_chain, parallel_groups

__all__ = ["plan_message"]

_MAX_DETAILED_STEPS = 20
_MAX_SUSPECTS = 3
_MAX_REASONS = 4
_MAX_NOTES = 3
_STEP_TEXT_LIMIT = 1200
_PRIORITY: Mapping[str, int] = {
    StepStatus.FAILED: 0,
    StepStatus.RUNNING: 1,
    StepStatus.QUEUED: 2,
    StepStatus.PENDING: 3,
}
"""Which steps are shown in full first when a plan is too long to show them all."""


def plan_message(
    view: PlanView, *, explanation: ExplanationView | None = None, explain: bool = False
) -> dict[str, Any]:
    """The plan as a Slack message: suspects, steps by stage, status, and the buttons that apply.

    The buttons are exactly the clicks the plan accepts
    (:func:`bot.slack.views.buttons.plan_buttons`): none for an abstained or finished plan.
    The *Explain* button, a read rather than a click on the plan's lifecycle, is drawn in a row
    of its own when ``explain``.

    Args:
        view: the plan and its state.
        explanation: the model's checked explanation, once it arrived (escaped, no buttons).
        explain: a model is configured: draw the *Explain* button.

    Returns:
        ``{"text": fallback, "blocks": [...]}`` within Slack's limits, for ``chat.postMessage``
        or ``chat.update``.
    """
    plan = view.plan
    numbers = step_numbers(plan)
    head = blocks(
        header(_title(view)),
        context([_status_line(view)]),
        _abstained(plan) if plan.abstained else None,
        _suspects(view),
        section(messages.IMPACTED.format(services=names(plan.impacted))) if plan.impacted else None,
        context([_ruled_out(plan)]) if plan.excluded else None,
        refinement_blocks(plan) or _explanation(plan),
        explanation_blocks(explanation) if explanation is not None else None,
        _needs_a_human(plan, numbers),
    )
    tail = blocks(
        context(_shape(plan, numbers)) if plan.steps else None,
        context([_notes(plan)]) if other_notes(plan) else None,
        context(_about(view)),
        plan_buttons(view, numbers),
        explain_row(view.plan_id) if explain else None,
    )
    steps: list[Block] = []
    if plan.steps:
        budget = MAX_BLOCKS - len(head) - len(tail) - 2  # the divider and the collapse note
        steps = [divider(), *_step_sections(view, numbers, budget=budget)]
    return message(_fallback(view), [*head, *steps, *tail])


def _title(view: PlanView) -> str:
    plan = view.plan
    if plan.incident.services and view.kind == PlanKind.STANDBY:
        return messages.PLAN_HEADER_STANDBY.format(services=names(plan.incident.services, limit=5))
    if plan.incident.services:
        return messages.PLAN_HEADER.format(services=names(plan.incident.services, limit=5))
    return messages.PLAN_HEADER_NO_SERVICE.format(incident=short(plan.incident.id))


def _status_line(view: PlanView) -> str:
    if view.kind == PlanKind.STANDBY:  # no incident, no alert: a plan kept ready for a deploy
        return messages.PLAN_STANDBY_STATUS_LINE.format(
            plan_id=code(view.plan_id, limit=60),
            services=names(view.plan.incident.services, limit=5) or messages.EMPTY,
        )
    return messages.PLAN_STATUS_LINE.format(
        plan_id=code(view.plan_id, limit=60),
        status=short(view.plan_status, 40),
        mode=short(view.mode, 40),
        incident=code(view.plan.incident.id, limit=60),
        started=at(view.plan.incident.started_at),
    )


def _abstained(plan: Plan) -> Block:
    lines = [messages.ABSTAINED_TITLE]
    lines += [messages.SUSPECT_REASON.format(reason=short(r, 400)) for r in plan.abstain_reasons]
    lines.append(messages.ABSTAINED_HINT)
    return section("\n".join(lines))


def _describe(template: str, suspect: Suspect, *, rank: int = 1) -> str:
    return template.format(
        rank=rank,
        kind=short(str(suspect.kind).replace("_", " "), 40),
        service=short(suspect.service),
        change=code(suspect.change_id, limit=80),
        at=at(suspect.at),
        score=f"{suspect.score:.2f}",
    )


def _reasons(suspect: Suspect) -> list[str]:
    return [
        messages.SUSPECT_REASON.format(reason=short(r, 300)) for r in suspect.reasons[:_MAX_REASONS]
    ]


def _suspects(view: PlanView) -> Block | None:
    plan = view.plan
    if not plan.suspects:
        return None
    if view.kind == PlanKind.STANDBY:  # nothing fired: the deploy is what it undoes, not a suspect
        return section(_describe(messages.STANDBY_FOR, plan.suspects[0]))
    top, *others = plan.suspects[:_MAX_SUSPECTS]
    first = messages.SUSPECT_CLOSEST if plan.abstained else messages.SUSPECT_TOP
    lines = [_describe(first, top), *_reasons(top)]
    if others:
        lines.append(messages.SUSPECT_OTHERS_TITLE)
        for rank, suspect in enumerate(others, start=2):
            lines += [_describe(messages.SUSPECT_OTHER, suspect, rank=rank), *_reasons(suspect)]
    if len(plan.suspects) > _MAX_SUSPECTS:
        lines.append(
            messages.SUSPECTS_MORE.format(
                count=len(plan.suspects) - _MAX_SUSPECTS, command=status_command(view.plan_id)
            )
        )
    return section("\n".join(lines))


def _ruled_out(plan: Plan) -> str:
    first = plan.excluded[0]
    return messages.RULED_OUT.format(
        count=len(plan.excluded), change=code(first.change_id, limit=80), why=short(first.why, 300)
    )


def _explanation(plan: Plan) -> Block | None:
    """The LLM's words, when it explained the plan (the graph's own are the blocks themselves)."""
    if plan.drafted_by == "graph" or not plan.explanation.strip():
        return None
    prose = escape(plan.explanation, multiline=True).replace("**", "*")
    title = messages.EXPLANATION_TITLE.format(drafted_by=short(plan.drafted_by, 80))
    return section(f"{title}\n{truncate(prose, limit=1500)}")


def _needs_a_human(plan: Plan, numbers: Mapping[str, int]) -> Block | None:
    manual = [s.id for s in plan.steps if s.warning or s.action == Action.MANUAL]
    if not manual:
        return None
    return section(
        messages.NEEDS_A_HUMAN.format(count=len(manual), steps=step_refs(manual, numbers))
    )


def _approvals(step: Step, state: StepState, *, standby: bool = False) -> str:
    if step.approvals_required <= 0:
        return messages.STEP_NO_APPROVALS
    if standby:  # nothing is approved on a standby plan: say what a live one would need
        return messages.STEP_APPROVALS_NEEDED.format(required=step.approvals_required)
    return messages.STEP_APPROVALS.format(
        given=len(state.approvers), required=step.approvals_required
    )


def _step_text(
    number: int,
    step: Step,
    state: StepState,
    numbers: Mapping[str, int],
    *,
    standby: bool = False,
) -> str:
    details = messages.STEP_DETAILS.format(
        risk=short(str(step.risk), 20),
        approvals=_approvals(step, state, standby=standby),
        duration=format_seconds(max(step.estimated_seconds, 0)),
        status=status_text(state),
    )
    if step.after:
        details += " · " + messages.STEP_AFTER.format(steps=step_refs(step.after, numbers))
    lines = [
        messages.STEP_LINE.format(
            number=number, action=action_words(step), step_id=code(step.id, limit=40)
        ),
        messages.STEP_INDENT + details,
    ]
    if step.why.strip() and not standby:  # a standby step's "why" speaks of an alert
        lines.append(messages.STEP_INDENT + messages.STEP_WHY.format(why=short(step.why, 240)))
    if step.warning:
        warning = messages.STEP_WARNING.format(warning=short(step.warning, 400))
        lines.append(messages.STEP_INDENT + warning)
    return truncate("\n".join(lines), limit=_STEP_TEXT_LIMIT)


def _detailed(view: PlanView, limit: int) -> set[str]:
    """The steps shown in full: failed and running ones first, then those still to run."""
    ranked = sorted(
        enumerate(view.plan.steps),
        key=lambda item: (_PRIORITY.get(str(view.state(item[1].id).status), 9), item[0]),
    )
    return {step.id for _, step in ranked[:limit]}


def _stage_counts(steps: Sequence[Step], view: PlanView) -> str:
    counts: dict[str, int] = {}
    for step in steps:
        status = str(view.state(step.id).status)
        counts[status] = counts.get(status, 0) + 1
    shown = " · ".join(f"{status_emoji(status)} {count}" for status, count in counts.items())
    return messages.STAGE_COUNTS.format(count=len(steps), statuses=shown)


def _step_sections(view: PlanView, numbers: Mapping[str, int], *, budget: int) -> list[Block]:
    """Steps by stage; fewer are shown in full until the sections fit in ``budget`` blocks."""
    limit = _MAX_DETAILED_STEPS
    while True:
        detailed = _detailed(view, limit)
        sections = _stage_texts(view, numbers, detailed)
        if len(sections) <= budget or limit == 0:
            break
        limit //= 2
    shown = [section(text) for text in sections[: max(budget, 1)]]
    hidden = len(view.plan.steps) - len(detailed)
    if hidden:
        note = messages.STEPS_COLLAPSED.format(count=hidden, command=status_command(view.plan_id))
        shown.append(section(note))
    return shown


def _stage_texts(view: PlanView, numbers: Mapping[str, int], detailed: set[str]) -> list[str]:
    texts: list[str] = []
    for position, stage in enumerate(Stage, start=1):  # numbered like the graduated response
        in_stage = [s for s in view.plan.steps if s.stage == stage]
        if not in_stage:
            continue
        title = messages.STAGE_TITLE.format(
            number=position,
            stage=stage.value,
            description=messages.STAGE_DESCRIPTIONS.get(stage.value, ""),
        )
        chunks = [f"{title}\n{_stage_counts(in_stage, view)}"]
        chunks += [
            _step_text(
                numbers[s.id],
                s,
                view.state(s.id),
                numbers,
                standby=view.kind == PlanKind.STANDBY,
            )
            for s in in_stage
            if s.id in detailed
        ]
        hidden = sum(1 for s in in_stage if s.id not in detailed)
        if hidden:
            chunks.append(messages.STAGE_HIDDEN.format(count=hidden))
        texts += pack(chunks)
    return texts


def _shape(plan: Plan, numbers: Mapping[str, int]) -> list[str]:
    """What may run in parallel, and the critical path."""
    groups: list[str] = []
    for stage in Stage:
        in_stage = [s for s in plan.steps if s.stage == stage]
        for group in parallel_groups(in_stage):
            if len(group) > 1:
                refs = [str(numbers[s]) for s in group[:8]]
                refs += [messages.ELLIPSIS] if len(group) > 8 else []
                groups.append(messages.PARALLEL_GROUP_JOIN.join(refs))
    lines = []
    if groups:
        joined = messages.PARALLEL_GROUP_SEPARATOR.join(groups)
        lines.append(truncate(messages.PARALLEL.format(groups=joined), limit=600))
    chain = critical_chain(plan.steps)
    if chain:
        refs = [str(numbers.get(s, "?")) for s in chain]
        if len(refs) > 12:
            refs = [*refs[:6], messages.ELLIPSIS, *refs[-5:]]
        lines.append(
            messages.CRITICAL_PATH.format(
                duration=format_seconds(max(plan.critical_path_seconds, 0)),
                chain=messages.CRITICAL_PATH_ARROW.join(refs),
            )
        )
    return lines


def _notes(plan: Plan) -> str:
    notes = other_notes(plan)
    shown = [short(n, 300) for n in notes[:_MAX_NOTES]]
    if len(notes) > _MAX_NOTES:
        shown.append(messages.NOTES_MORE.format(count=len(notes) - _MAX_NOTES))
    return messages.NOTES_TITLE.format(notes=" · ".join(shown))


def _about(view: PlanView) -> list[str]:
    plan = view.plan
    lines = [
        messages.DRAFTED_BY.format(drafted_by=short(plan.drafted_by, 80), at=at(plan.generated_at))
    ]
    lifecycle = lifecycle_of(view)
    if lifecycle.status in FINISHED:
        lines.append(messages.PLAN_FINISHED.format(status=short(view.plan_status, 40)))
    elif lifecycle.kind == PlanKind.STANDBY:
        service = plan.incident.services[0] if plan.incident.services else "<service>"
        lines.append(messages.PLAN_STANDBY.format(service=short(service)))
    elif lifecycle.mode == Mode.SUGGEST:
        lines.append(messages.MODE_SUGGEST)
    elif lifecycle.mode == Mode.AUTOPILOT:
        lines.append(messages.MODE_AUTOPILOT)
    elif lifecycle.mode is None:
        lines.append(messages.MODE_UNKNOWN.format(mode=short(view.mode, 40)))
    return lines


def _fallback(view: PlanView) -> str:
    plan = view.plan
    services = (
        names(plan.incident.services, limit=5)
        if plan.incident.services
        else short(plan.incident.id)
    )
    if plan.abstained:
        reason = short(plan.abstain_reasons[0], 300) if plan.abstain_reasons else messages.EMPTY
        return messages.PLAN_FALLBACK_ABSTAINED.format(services=services, reason=reason)
    top = plan.suspects[0] if plan.suspects else None
    return messages.PLAN_FALLBACK.format(
        services=services,
        steps=len(plan.steps),
        change=short(top.change_id, 80) if top else messages.EMPTY,
        service=short(top.service) if top else messages.EMPTY,
        status=short(view.plan_status, 40),
    )
