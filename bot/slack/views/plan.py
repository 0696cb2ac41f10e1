"""The plan message: a rollback plan as Block Kit, with its buttons, updated in place as it runs.

Pure functions from planner values (:class:`~planners.model.Plan`) and the plan's execution state
(:class:`PlanView`) to the ``{"text", "blocks"}`` dicts that ``chat.postMessage`` and
``chat.update`` take; handlers in ``bot/slack/handlers/`` post them, nothing here calls Slack. Every
untrusted value goes through :mod:`bot.slack.views.escape`, and every message stays within Slack's
limits: long plans are collapsed into a summary line rather than producing a message Slack
rejects. The small Block Kit builders at the top are shared by the other views of the package.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Protocol

from bot.cli.render import parallel_groups
from bot.slack import messages
from bot.slack.views.escape import (
    MAX_BLOCKS,
    MAX_BUTTON_TEXT,
    MAX_BUTTON_VALUE,
    MAX_CONFIRM_BUTTON,
    MAX_CONFIRM_TEXT,
    MAX_CONFIRM_TITLE,
    MAX_CONTEXT_ELEMENTS,
    MAX_CONTEXT_TEXT,
    MAX_HEADER_TEXT,
    MAX_SECTION_TEXT,
    clean,
    code,
    escape,
    safe_link,
    text_length,
    truncate,
)
from planners.explain import format_seconds
from planners.model import Action, Plan, Stage, Step, Suspect

__all__ = [
    "ACTION_ABORT",
    "ACTION_APPROVE_PLAN",
    "ACTION_APPROVE_STAGE",
    "ACTION_REJECT",
    "ACTION_RETRY",
    "ACTION_SIMULATE",
    "ACTION_SKIP",
    "FINISHED_PLAN_STATUSES",
    "MODES",
    "PlanView",
    "PreviewLike",
    "SimulatedStepLike",
    "SimulationResult",
    "StepState",
    "plan_message",
    "progress_reply",
    "simulation_message",
]

ACTION_APPROVE_STAGE: Final = "backout_approve_stage"
"""Approve the next stage; value ``"{plan_id}:{stage}"``."""
ACTION_APPROVE_PLAN: Final = "backout_approve_plan"
"""Approve every stage; value ``plan_id``."""
ACTION_SIMULATE: Final = "backout_simulate"
"""Dry-run the plan; value ``plan_id``."""
ACTION_REJECT: Final = "backout_reject"
"""Reject a plan nothing of which has started; value ``plan_id``."""
ACTION_ABORT: Final = "backout_abort"
"""Abort a plan that has started; value ``plan_id``."""
ACTION_RETRY: Final = "backout_retry"
"""Retry a failed step; value ``"{plan_id}:{step_id}"``."""
ACTION_SKIP: Final = "backout_skip"
"""Skip a failed step; value ``"{plan_id}:{step_id}"``."""

MODES: Final = frozenset({"suggest", "approve", "autopilot"})
"""The modes of DESIGN.md; any other value is treated like ``suggest`` (nothing to approve)."""
FINISHED_PLAN_STATUSES: Final = frozenset({"done", "aborted", "rejected", "expired"})
"""Plan statuses after which the message offers no buttons."""

Block = dict[str, Any]

_MAX_DETAILED_STEPS = 20
_MAX_FAILED_SHOWN = 3
_MAX_SUSPECTS = 3
_MAX_REASONS = 4
_MAX_NAMES = 20
_MAX_NOTES = 3
_STEP_TEXT_LIMIT = 1200
_STARTED = frozenset({"queued", "running", "done", "failed"})
_REASON_SHOWN = frozenset({"failed", "skipped", "not_needed", "aborted"})
_PRIORITY = {"failed": 0, "running": 1, "queued": 2, "pending": 3}
_APPROVING_MODES = frozenset({"approve", "autopilot"})


@dataclass(frozen=True, kw_only=True)
class StepState:
    """Where one step of a stored plan is: its status, why, and who approved it so far.

    Attributes:
        status: a :class:`~bot.store.records.StepStatus` value (``pending``, ``queued``,
            ``running``, ``done``, ``failed``, ``skipped``, ``not_needed``, ``aborted``).
        reason: why it is in that status (an executor's error, "healthy after stage contain").
        approvers: the Slack user ids who approved it.
    """

    status: str = "pending"
    reason: str = ""
    approvers: frozenset[str] = frozenset()


_NOT_STARTED = StepState()


@dataclass(frozen=True, kw_only=True)
class PlanView:
    """Everything the plan message shows: the plan, its lifecycle and each step's state.

    Attributes:
        plan_id: the stored plan's id (button values carry it).
        plan: the plan as drafted.
        plan_status: the stored plan's status (``proposed``, ``running``, ``waiting``,
            ``halted``, ``done``, ``aborted``, ``rejected``…).
        mode: ``suggest``, ``approve`` or ``autopilot``.
        steps: step id → state; a step missing here is pending with no approvals.
        graph_url: where a rendered dependency graph can be seen, if anywhere (http(s) only).
    """

    plan_id: str
    plan: Plan
    plan_status: str
    mode: str
    steps: Mapping[str, StepState] = field(default_factory=dict)
    graph_url: str | None = None

    def state(self, step_id: str) -> StepState:
        """The state of one step (pending when unknown)."""
        return self.steps.get(step_id, _NOT_STARTED)


# -- Block Kit builders (shared by the views of this package) -----------------------------------
# Each takes text that is already safe mrkdwn (templates filled with escaped values) and enforces
# the limits, so no caller can produce an oversized or empty text object.


def _nonblank(text: str) -> str:
    return text if text.strip() else messages.EMPTY


def _mrkdwn(text: str, *, limit: int) -> dict[str, str]:
    return {"type": "mrkdwn", "text": _nonblank(truncate(text, limit=limit))}


def _plain(text: str, *, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": _nonblank(truncate(text, limit=limit)), "emoji": True}


def _section(text: str) -> Block:
    return {"type": "section", "text": _mrkdwn(text, limit=MAX_SECTION_TEXT)}


def _header(text: str) -> Block:
    return {"type": "header", "text": _plain(text, limit=MAX_HEADER_TEXT)}


def _context(texts: Iterable[str]) -> Block | None:
    elements = [_mrkdwn(t, limit=MAX_CONTEXT_TEXT) for t in texts if t.strip()]
    if not elements:
        return None
    return {"type": "context", "elements": elements[:MAX_CONTEXT_ELEMENTS]}


def _divider() -> Block:
    return {"type": "divider"}


def _confirm(*, title: str, text: str, yes: str) -> dict[str, Any]:
    return {
        "title": _plain(title, limit=MAX_CONFIRM_TITLE),
        "text": _plain(text, limit=MAX_CONFIRM_TEXT),
        "confirm": _plain(yes, limit=MAX_CONFIRM_BUTTON),
        "deny": _plain(messages.CONFIRM_NO, limit=MAX_CONFIRM_BUTTON),
        "style": "danger",
    }


def _button(
    label: str,
    *,
    action_id: str,
    value: str,
    style: str | None = None,
    confirm: dict[str, Any] | None = None,
) -> Block | None:
    """A button, or None when its value would not survive the round trip through Slack.

    A value longer than Slack allows, or holding characters that cannot be sent as they are
    (control characters, lone surrogates), would come back different from what the handler
    must look up; the button is left out rather than acting on the wrong plan or step.
    """
    if text_length(value) > MAX_BUTTON_VALUE or clean(value) != value:
        return None
    button: Block = {
        "type": "button",
        "action_id": action_id,
        "text": _plain(label, limit=MAX_BUTTON_TEXT),
        "value": value,
    }
    if style:
        button["style"] = style
    if confirm:
        button["confirm"] = confirm
    return button


def _actions(buttons: Iterable[Block | None]) -> Block | None:
    elements = [b for b in buttons if b is not None]
    return {"type": "actions", "elements": elements} if elements else None


def _blocks(*parts: Block | Iterable[Block | None] | None) -> list[Block]:
    """Flatten blocks and lists of blocks, dropping the ``None`` ones."""
    out: list[Block] = []
    for part in parts:
        if part is None:
            continue
        if isinstance(part, dict):
            out.append(part)
        else:
            out.extend(b for b in part if b is not None)
    return out


def _pack(chunks: Iterable[str], *, limit: int = MAX_SECTION_TEXT) -> list[str]:
    """Join chunks with line breaks into as few texts of at most ``limit`` as they fit."""
    texts: list[str] = []
    current = ""
    for raw in chunks:
        chunk = truncate(raw, limit=limit)
        joined = f"{current}\n{chunk}" if current else chunk
        if text_length(joined) <= limit:
            current = joined
        else:
            texts.append(current)
            current = chunk
    if current:
        texts.append(current)
    return texts


def _message(fallback: str, blocks: list[Block]) -> dict[str, Any]:
    # Slack allows 40,000 characters of fallback text; a notification shows a line or two.
    return {"text": _nonblank(truncate(fallback, limit=MAX_SECTION_TEXT)), "blocks": blocks}


# -- words ------------------------------------------------------------------------------------


def _short(text: str, limit: int = 100) -> str:
    return _nonblank(truncate(escape(text), limit=limit))


def _names(names: Sequence[str], *, limit: int = _MAX_NAMES) -> str:
    shown = [_short(n) for n in names[:limit]]
    if len(names) > limit:
        shown.append(messages.AND_MORE.format(count=len(names) - limit))
    return messages.LIST_SEPARATOR.join(shown) or messages.EMPTY


def _at(moment: datetime | None, fmt: str = "%H:%M UTC") -> str:
    if moment is None:
        return messages.PLAN_STARTED_UNKNOWN
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime(fmt)


def _action_words(step: Step) -> str:
    action = str(step.action)
    template = messages.ACTION_WORDS.get(action, messages.UNKNOWN_ACTION)
    words = template.format(
        service=_short(step.service),
        flag=code(step.flag or "", limit=80),
        change=code(step.change_id, limit=80),
        action=_short(action),
    )
    if step.target_version and step.action != Action.MANUAL:
        words += messages.TO_VERSION.format(version=code(step.target_version, limit=80))
    return words


def _status_emoji(status: str) -> str:
    return messages.STATUS_EMOJI.get(status, messages.UNKNOWN_STATUS_EMOJI)


def _status_words(state: StepState) -> str:
    status = str(state.status)
    words = messages.STATUS_WORDS.get(status) or _short(status, 40)
    if status in _REASON_SHOWN and state.reason.strip():
        words = messages.STATUS_WITH_REASON.format(status=words, reason=_short(state.reason, 400))
    return words


def _status_text(state: StepState) -> str:
    return f"{_status_emoji(str(state.status))} {_status_words(state)}"


def _approvals(step: Step, state: StepState) -> str:
    if step.approvals_required <= 0:
        return messages.STEP_NO_APPROVALS
    return messages.STEP_APPROVALS.format(
        given=len(state.approvers), required=step.approvals_required
    )


def _numbers(plan: Plan) -> dict[str, int]:
    return {step.id: number for number, step in enumerate(plan.steps, start=1)}


def _step_refs(step_ids: Iterable[str], numbers: Mapping[str, int], *, limit: int = 10) -> str:
    refs = [str(numbers[s]) if s in numbers else _short(s, 20) for s in step_ids]
    shown = messages.LIST_SEPARATOR.join(refs[:limit])
    if len(refs) > limit:
        shown += messages.LIST_SEPARATOR + messages.AND_MORE.format(count=len(refs) - limit)
    return shown


def _status_command(plan_id: str) -> str:
    return code(messages.STATUS_COMMAND.format(plan_id=plan_id), limit=120)


# -- the plan message ---------------------------------------------------------------------------


class PreviewLike(Protocol):
    """What an executor's dry run reports (:class:`integrations.base.Preview`)."""

    @property
    def summary(self) -> str: ...
    @property
    def changes(self) -> Sequence[str]: ...
    @property
    def already_done(self) -> bool: ...


class SimulatedStepLike(Protocol):
    """One step's dry run as the engine reports it (:class:`bot.core.engine.SimulatedStep`)."""

    @property
    def step(self) -> Step: ...
    @property
    def preview(self) -> PreviewLike | None: ...
    @property
    def problem(self) -> str: ...


SimulationResult = tuple[Step, str | None, str] | SimulatedStepLike
"""One step's dry run: ``(step, summary or None, problem)``, or the engine's own record."""


def _outcome(result: SimulationResult) -> tuple[Step, str | None, str]:
    if isinstance(result, tuple):
        return result
    preview = result.preview
    if preview is None:
        return result.step, None, result.problem
    summary = preview.summary
    if preview.already_done:
        summary += messages.SIMULATION_ALREADY_DONE
    if preview.changes:
        shown = "; ".join(list(preview.changes)[:3])  # raw: the whole summary is escaped later
        summary += messages.SIMULATION_CHANGES.format(changes=shown)
    return result.step, summary, result.problem


def plan_message(view: PlanView) -> dict[str, Any]:
    """The plan as a Slack message: suspects, steps by stage, status, and the buttons that apply.

    Buttons: ``backout_approve_stage`` (the next stage with pending steps) and
    ``backout_approve_plan`` in ``approve`` and ``autopilot`` modes while no step has failed;
    ``backout_simulate`` always; ``backout_reject`` before anything started, ``backout_abort``
    after; ``backout_retry`` and ``backout_skip`` for each failed step (the first three). An
    abstained plan, or one that is done, aborted or rejected, has no buttons at all.

    Args:
        view: the plan and its state.

    Returns:
        ``{"text": fallback, "blocks": [...]}`` within Slack's limits, for ``chat.postMessage``
        or ``chat.update``.
    """
    plan = view.plan
    numbers = _numbers(plan)
    head = _blocks(
        _header(_title(plan)),
        _context([_status_line(view)]),
        _abstained(plan) if plan.abstained else None,
        _suspects(view),
        _section(messages.IMPACTED.format(services=_names(plan.impacted)))
        if plan.impacted
        else None,
        _context([_ruled_out(plan)]) if plan.excluded else None,
        _explanation(plan),
        _needs_a_human(plan, numbers),
    )
    tail = _blocks(
        _context(_shape(plan, numbers)) if plan.steps else None,
        _context([_notes(plan)]) if plan.notes else None,
        _context([_graph_link(view.graph_url)]) if view.graph_url else None,
        _context(_about(view)),
        _buttons(view, numbers),
    )
    steps: list[Block] = []
    if plan.steps:
        budget = MAX_BLOCKS - len(head) - len(tail) - 2  # the divider and the collapse note
        steps = [_divider(), *_step_sections(view, numbers, budget=budget)]
    return _message(_fallback(view), [*head, *steps, *tail])


def _title(plan: Plan) -> str:
    if plan.incident.services:
        return messages.PLAN_HEADER.format(services=_names(plan.incident.services, limit=5))
    return messages.PLAN_HEADER_NO_SERVICE.format(incident=_short(plan.incident.id))


def _status_line(view: PlanView) -> str:
    return messages.PLAN_STATUS_LINE.format(
        plan_id=code(view.plan_id, limit=60),
        status=_short(view.plan_status, 40),
        mode=_short(view.mode, 40),
        incident=code(view.plan.incident.id, limit=60),
        started=_at(view.plan.incident.started_at),
    )


def _abstained(plan: Plan) -> Block:
    lines = [messages.ABSTAINED_TITLE]
    lines += [messages.SUSPECT_REASON.format(reason=_short(r, 400)) for r in plan.abstain_reasons]
    lines.append(messages.ABSTAINED_HINT)
    return _section("\n".join(lines))


def _describe(template: str, suspect: Suspect, *, rank: int = 1) -> str:
    return template.format(
        rank=rank,
        kind=_short(str(suspect.kind).replace("_", " "), 40),
        service=_short(suspect.service),
        change=code(suspect.change_id, limit=80),
        at=_at(suspect.at),
        score=f"{suspect.score:.2f}",
    )


def _reasons(suspect: Suspect) -> list[str]:
    return [
        messages.SUSPECT_REASON.format(reason=_short(r, 300))
        for r in suspect.reasons[:_MAX_REASONS]
    ]


def _suspects(view: PlanView) -> Block | None:
    plan = view.plan
    if not plan.suspects:
        return None
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
                count=len(plan.suspects) - _MAX_SUSPECTS, command=_status_command(view.plan_id)
            )
        )
    return _section("\n".join(lines))


def _ruled_out(plan: Plan) -> str:
    first = plan.excluded[0]
    return messages.RULED_OUT.format(
        count=len(plan.excluded), change=code(first.change_id, limit=80), why=_short(first.why, 300)
    )


def _explanation(plan: Plan) -> Block | None:
    """The LLM's words, when it explained the plan (the graph's own are the blocks themselves)."""
    if plan.drafted_by == "graph" or not plan.explanation.strip():
        return None
    prose = escape(plan.explanation, multiline=True).replace("**", "*")
    title = messages.EXPLANATION_TITLE.format(drafted_by=_short(plan.drafted_by, 80))
    return _section(f"{title}\n{truncate(prose, limit=1500)}")


def _needs_a_human(plan: Plan, numbers: Mapping[str, int]) -> Block | None:
    manual = [s.id for s in plan.steps if s.warning or s.action == Action.MANUAL]
    if not manual:
        return None
    return _section(
        messages.NEEDS_A_HUMAN.format(count=len(manual), steps=_step_refs(manual, numbers))
    )


def _step_text(number: int, step: Step, state: StepState, numbers: Mapping[str, int]) -> str:
    details = messages.STEP_DETAILS.format(
        risk=_short(str(step.risk), 20),
        approvals=_approvals(step, state),
        duration=format_seconds(max(step.estimated_seconds, 0)),
        status=_status_text(state),
    )
    if step.after:
        details += " · " + messages.STEP_AFTER.format(steps=_step_refs(step.after, numbers))
    lines = [
        messages.STEP_LINE.format(
            number=number, action=_action_words(step), step_id=code(step.id, limit=40)
        ),
        messages.STEP_INDENT + details,
    ]
    if step.why.strip():
        lines.append(messages.STEP_INDENT + messages.STEP_WHY.format(why=_short(step.why, 240)))
    if step.warning:
        warning = messages.STEP_WARNING.format(warning=_short(step.warning, 400))
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
    shown = " · ".join(f"{_status_emoji(status)} {count}" for status, count in counts.items())
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
    blocks = [_section(text) for text in sections[: max(budget, 1)]]
    hidden = len(view.plan.steps) - len(detailed)
    if hidden:
        note = messages.STEPS_COLLAPSED.format(count=hidden, command=_status_command(view.plan_id))
        blocks.append(_section(note))
    return blocks


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
            _step_text(numbers[s.id], s, view.state(s.id), numbers)
            for s in in_stage
            if s.id in detailed
        ]
        hidden = sum(1 for s in in_stage if s.id not in detailed)
        if hidden:
            chunks.append(messages.STAGE_HIDDEN.format(count=hidden))
        texts += _pack(chunks)
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
    chain = _critical_chain(plan.steps)
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


def _critical_chain(steps: Sequence[Step]) -> list[str]:
    """The longest chain of steps through ``after``, by estimated time (first to last)."""
    best: dict[str, tuple[int, str | None]] = {}
    for step in steps:  # steps come in a valid order; an unknown ``after`` counts as done
        before = max(((best[a][0], a) for a in step.after if a in best), default=(0, ""))
        best[step.id] = (before[0] + max(step.estimated_seconds, 0), before[1] or None)
    if not best:
        return []
    current: str | None = max(best, key=lambda s: best[s][0])
    chain: list[str] = []
    seen: set[str] = set()
    while current is not None and current not in seen:
        seen.add(current)
        chain.append(current)
        current = best[current][1]
    return chain[::-1]


def _notes(plan: Plan) -> str:
    shown = [_short(n, 300) for n in plan.notes[:_MAX_NOTES]]
    if len(plan.notes) > _MAX_NOTES:
        shown.append(messages.NOTES_MORE.format(count=len(plan.notes) - _MAX_NOTES))
    return messages.NOTES_TITLE.format(notes=" · ".join(shown))


def _graph_link(url: str | None) -> str:
    label = messages.GRAPH_LINK_LABEL
    link = safe_link(url or "", label=label)
    return messages.GRAPH_LINK.format(link=link) if link != escape(label) else ""


def _about(view: PlanView) -> list[str]:
    plan = view.plan
    lines = [
        messages.DRAFTED_BY.format(
            drafted_by=_short(plan.drafted_by, 80), at=_at(plan.generated_at)
        )
    ]
    if str(view.plan_status) in FINISHED_PLAN_STATUSES:
        lines.append(messages.PLAN_FINISHED.format(status=_short(view.plan_status, 40)))
    elif view.mode == "suggest":
        lines.append(messages.MODE_SUGGEST)
    elif view.mode == "autopilot":
        lines.append(messages.MODE_AUTOPILOT)
    elif view.mode not in MODES:
        lines.append(messages.MODE_UNKNOWN.format(mode=_short(view.mode, 40)))
    return lines


def _buttons(view: PlanView, numbers: Mapping[str, int]) -> list[Block | None]:
    plan = view.plan
    if plan.abstained or str(view.plan_status) in FINISHED_PLAN_STATUSES:
        return []
    pid = view.plan_id
    statuses = {s.id: str(view.state(s.id).status) for s in plan.steps}
    failed = [s for s in plan.steps if statuses[s.id] == "failed"]
    started = any(status in _STARTED for status in statuses.values())
    main: list[Block | None] = []
    if view.mode in _APPROVING_MODES and not failed:
        pending = [s for s in plan.steps if statuses[s.id] == "pending"]
        next_stage = next((st for st in Stage if any(s.stage == st for s in pending)), None)
        if next_stage is not None:
            main.append(
                _button(
                    messages.BUTTON_APPROVE_STAGE.format(stage=next_stage.value),
                    action_id=ACTION_APPROVE_STAGE,
                    value=f"{pid}:{next_stage.value}",
                    style="primary",
                )
            )
            main.append(
                _button(
                    messages.BUTTON_APPROVE_PLAN,
                    action_id=ACTION_APPROVE_PLAN,
                    value=pid,
                    confirm=_confirm(
                        title=messages.CONFIRM_APPROVE_PLAN_TITLE,
                        text=messages.CONFIRM_APPROVE_PLAN_TEXT,
                        yes=messages.CONFIRM_APPROVE_PLAN_YES,
                    ),
                )
            )
    main.append(_button(messages.BUTTON_SIMULATE, action_id=ACTION_SIMULATE, value=pid))
    if started:
        main.append(
            _button(
                messages.BUTTON_ABORT,
                action_id=ACTION_ABORT,
                value=pid,
                style="danger",
                confirm=_confirm(
                    title=messages.CONFIRM_ABORT_TITLE,
                    text=messages.CONFIRM_ABORT_TEXT,
                    yes=messages.CONFIRM_ABORT_YES,
                ),
            )
        )
    else:
        main.append(
            _button(
                messages.BUTTON_REJECT,
                action_id=ACTION_REJECT,
                value=pid,
                style="danger",
                confirm=_confirm(
                    title=messages.CONFIRM_REJECT_TITLE,
                    text=messages.CONFIRM_REJECT_TEXT,
                    yes=messages.CONFIRM_REJECT_YES,
                ),
            )
        )
    blocks: list[Block | None] = [_actions(main)]
    for step in failed[:_MAX_FAILED_SHOWN]:
        blocks += _failure(view, step, numbers[step.id])
    if len(failed) > _MAX_FAILED_SHOWN:
        more = messages.FAILED_MORE.format(
            count=len(failed) - _MAX_FAILED_SHOWN, command=_status_command(pid)
        )
        blocks.append(_context([more]))
    return blocks


def _failure(view: PlanView, step: Step, number: int) -> list[Block | None]:
    state = view.state(step.id)
    text = messages.FAILED_STEP.format(
        number=number,
        action=_action_words(step),
        reason=_short(state.reason, 600) if state.reason.strip() else messages.EMPTY,
    )
    value = f"{view.plan_id}:{step.id}"
    retry = _button(
        messages.BUTTON_RETRY.format(number=number),
        action_id=ACTION_RETRY,
        value=value,
        style="primary",
    )
    skip = _button(
        messages.BUTTON_SKIP.format(number=number),
        action_id=ACTION_SKIP,
        value=value,
        confirm=_confirm(
            title=messages.CONFIRM_SKIP_TITLE,
            text=messages.CONFIRM_SKIP_TEXT.format(number=number),
            yes=messages.CONFIRM_SKIP_YES,
        ),
    )
    return [_section(text), _actions([retry, skip])]


def _fallback(view: PlanView) -> str:
    plan = view.plan
    services = (
        _names(plan.incident.services, limit=5)
        if plan.incident.services
        else _short(plan.incident.id)
    )
    if plan.abstained:
        reason = _short(plan.abstain_reasons[0], 300) if plan.abstain_reasons else messages.EMPTY
        return messages.PLAN_FALLBACK_ABSTAINED.format(services=services, reason=reason)
    top = plan.suspects[0] if plan.suspects else None
    return messages.PLAN_FALLBACK.format(
        services=services,
        steps=len(plan.steps),
        change=_short(top.change_id, 80) if top else messages.EMPTY,
        service=_short(top.service) if top else messages.EMPTY,
        status=_short(view.plan_status, 40),
    )


# -- threaded replies -----------------------------------------------------------------------------


def progress_reply(step_id: str, step: Step, state: StepState) -> dict[str, Any]:
    """A short threaded message when a step changes state (``❌ Step s2: Roll back … · failed: …``).

    Args:
        step_id: the step's id as the reader should see it.
        step: the step of the plan.
        state: its new state.

    Returns:
        ``{"text", "blocks"}`` for ``chat.postMessage`` in the plan's thread.
    """
    text = messages.PROGRESS.format(
        emoji=_status_emoji(str(state.status)),
        step_id=code(step_id, limit=40),
        action=_action_words(step),
        status=_status_words(state),
    )
    return _message(text, [_section(text)])


def simulation_message(plan_id: str, results: Sequence[SimulationResult]) -> dict[str, Any]:
    """What each step would do, from the executors' previews; nothing was touched.

    Args:
        plan_id: the simulated plan.
        results: per step, either a ``(step, summary, problem)`` tuple (``summary`` is the
            executor's preview, or None when it could not preview, and then ``problem`` says
            why) or the engine's :class:`~bot.core.engine.SimulatedStep`, whose preview's changes
            are listed too.

    Returns:
        ``{"text", "blocks"}`` within Slack's limits.
    """
    lines = []
    outcomes = [_outcome(result) for result in results]
    for step, summary, problem in outcomes:
        common = {
            "step_id": code(step.id, limit=40),
            "stage": _short(str(step.stage), 20),
            "action": _action_words(step),
        }
        if summary is None:
            lines.append(
                messages.SIMULATION_BLOCKED.format(
                    **common, problem=_short(problem, 500) if problem.strip() else messages.EMPTY
                )
            )
        else:
            lines.append(messages.SIMULATION_STEP.format(**common, summary=_short(summary, 500)))
    blocked = sum(1 for _, summary, _ in outcomes if summary is None)
    totals = messages.SIMULATION_TOTALS.format(previewed=len(results) - blocked, blocked=blocked)
    sections = _pack(lines) if lines else [messages.SIMULATION_EMPTY]
    budget = MAX_BLOCKS - 3  # the title, the collapse note and the totals
    body = [_section(t) for t in sections[:budget]]
    if len(sections) > budget:
        kept = sum(text.count("\n") + 1 for text in sections[:budget])
        body.append(_section(messages.SIMULATION_MORE.format(count=len(lines) - kept)))
    title = messages.SIMULATION_TITLE.format(plan_id=code(plan_id, limit=60))
    fallback = messages.SIMULATION_FALLBACK.format(
        plan_id=_short(plan_id, 60), previewed=len(results) - blocked, blocked=blocked
    )
    return _message(fallback, _blocks(_section(title), body, _context([totals])))
