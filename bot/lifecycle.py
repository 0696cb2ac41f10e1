"""A plan's life, in one place: its statuses, its kinds, the moves between statuses, and which
clicks a plan accepts in each state.

This is the bottom layer of ``bot`` (pure: no I/O, no Slack, no database), so that the store can
refuse a move that is not in :data:`TRANSITIONS`, the core can refuse a click that
:func:`available_actions` does not offer, and the Slack views can draw exactly those buttons:
one function decides what a plan message offers and what the use cases accept.

::

    proposed ──approve──▶ running ──▶ done
       │  ▲                 │ ▲ ╲
       │  │                 ▼ │  ╲──▶ halted (a step failed: retry / skip / abort)
       │  └──────────── waiting (a stage ran; the next waits for approval)
       │
       ├──▶ rejected      (nothing ran; a responder said no)
       ├──▶ aborted       (something ran; a responder stopped the rest)
       └──▶ expired       (nobody acted in time; set by the scheduler, or by a late click)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

__all__ = [
    "FINISHED",
    "STARTED_STEPS",
    "TERMINAL_STEPS",
    "TRANSITIONS",
    "Actions",
    "Click",
    "Mode",
    "PlanKind",
    "PlanStatus",
    "StepStatus",
    "available_actions",
    "can_move",
]


class Mode(StrEnum):
    """How much Backout may do on its own (``mode:`` in the settings)."""

    SUGGEST = "suggest"
    """Plans are drafted and shown; nothing can run."""
    APPROVE = "approve"
    """Steps run once authorised responders approve them."""
    AUTOPILOT = "autopilot"
    """The contain stage runs at once; later stages need approval."""


class PlanKind(StrEnum):
    """Why a plan exists."""

    LIVE = "live"
    """Drafted for an incident or on request: it can be approved and run."""
    STANDBY = "standby"
    """Kept ready for a deploy before anything breaks: shown, simulated, never run as is."""


class PlanStatus(StrEnum):
    """Where a stored plan is in its life."""

    PROPOSED = "proposed"
    RUNNING = "running"
    WAITING = "waiting"
    HALTED = "halted"
    DONE = "done"
    ABORTED = "aborted"
    REJECTED = "rejected"
    EXPIRED = "expired"


class StepStatus(StrEnum):
    """Where a step of a stored plan is in its life."""

    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"
    NOT_NEEDED = "not_needed"
    ABORTED = "aborted"


_P = PlanStatus
TRANSITIONS: Final[Mapping[PlanStatus, frozenset[PlanStatus]]] = {
    _P.PROPOSED: frozenset({_P.RUNNING, _P.REJECTED, _P.ABORTED, _P.EXPIRED}),
    _P.RUNNING: frozenset({_P.WAITING, _P.HALTED, _P.DONE, _P.ABORTED}),
    _P.WAITING: frozenset({_P.RUNNING, _P.DONE, _P.ABORTED, _P.EXPIRED}),
    _P.HALTED: frozenset({_P.RUNNING, _P.ABORTED, _P.EXPIRED}),
    _P.DONE: frozenset(),
    _P.ABORTED: frozenset(),
    _P.REJECTED: frozenset(),
    _P.EXPIRED: frozenset(),
}
"""Every allowed move of a plan's status; anything else is refused by the store. ``running`` to
``running`` is no move (a second engine joining a running plan changes nothing)."""

FINISHED: Final = frozenset(status for status, moves in TRANSITIONS.items() if not moves)
"""The statuses a plan ends in: nothing more can happen to it."""

TERMINAL_STEPS: Final = frozenset(
    {
        StepStatus.DONE,
        StepStatus.FAILED,
        StepStatus.SKIPPED,
        StepStatus.NOT_NEEDED,
        StepStatus.ABORTED,
    }
)
"""The statuses a step ends in; a transition to one of them sets its ``finished_at``."""

STARTED_STEPS: Final = frozenset(
    {StepStatus.QUEUED, StepStatus.RUNNING, StepStatus.DONE, StepStatus.FAILED}
)
"""Step statuses that mean the plan has started acting: it is aborted, no longer rejected."""


def can_move(current: PlanStatus, to: PlanStatus) -> bool:
    """Whether a plan in ``current`` may move to ``to`` (:data:`TRANSITIONS`)."""
    return to in TRANSITIONS[current]


class Click(StrEnum):
    """What a responder can ask of a plan (a button, or the matching slash command)."""

    APPROVE_STAGE = "approve_stage"
    APPROVE_ALL = "approve_all"
    SIMULATE = "simulate"
    REJECT = "reject"
    ABORT = "abort"
    RETRY = "retry"
    SKIP = "skip"


@dataclass(frozen=True, kw_only=True)
class Actions:
    """What a plan accepts now: the clicks, the stage *Approve stage* approves, and the failed
    steps *Retry* and *Skip* may name (in plan order)."""

    clicks: frozenset[Click] = frozenset()
    next_stage: str | None = None
    failed: tuple[str, ...] = ()

    def allows(self, click: Click, *, stage: str | None = None, step: str | None = None) -> bool:
        """Whether ``click`` is accepted; *Approve stage* only for :attr:`next_stage`, *Retry*
        and *Skip* only for a failed step."""
        if click not in self.clicks:
            return False
        if click == Click.APPROVE_STAGE:
            return stage is not None and stage == self.next_stage
        if click in (Click.RETRY, Click.SKIP):
            return step is not None and step in self.failed
        return True


NOTHING: Final = Actions()


def available_actions(
    *,
    status: PlanStatus,
    kind: PlanKind,
    mode: Mode,
    abstained: bool,
    steps: Iterable[tuple[str, str, StepStatus]],
) -> Actions:
    """The clicks a plan accepts in this state; the plan message draws exactly these buttons.

    Args:
        status: the plan's status.
        kind: live or standby.
        mode: the mode the plan was drafted in.
        abstained: the planner found no suspect (nothing to act on).
        steps: ``(step id, stage, status)`` per step, in plan order; stages in their order.

    Returns:
        Nothing for a finished or abstained plan; only *Simulate* in ``suggest`` mode, where
        nobody may act. Otherwise *Simulate*; *Reject* while nothing has started, *Abort*
        after; *Retry* and *Skip* for failed steps; and, for a live plan with no failed step,
        *Approve stage* (the first stage with a pending step) and *Approve all*.
    """
    if abstained or status in FINISHED:
        return NOTHING
    if mode == Mode.SUGGEST:  # learning mode: nobody may act on a plan, only look
        return Actions(clicks=frozenset({Click.SIMULATE}))
    steps = list(steps)
    clicks = {Click.SIMULATE}
    failed = tuple(step_id for step_id, _, state in steps if state == StepStatus.FAILED)
    started = any(state in STARTED_STEPS for _, _, state in steps)
    clicks.add(Click.ABORT if started else Click.REJECT)
    if failed:
        clicks |= {Click.RETRY, Click.SKIP}
    next_stage = next((stage for _, stage, state in steps if state == StepStatus.PENDING), None)
    if kind == PlanKind.LIVE and not failed and next_stage is not None:
        clicks |= {Click.APPROVE_STAGE, Click.APPROVE_ALL}
    else:
        next_stage = None
    return Actions(clicks=frozenset(clicks), next_stage=next_stage, failed=failed)
