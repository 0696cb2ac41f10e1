"""A plan's progress as the views see it: the plan and its steps' states, in the lifecycle's terms,
and how one step reads (its action, status emoji and words), down to the threaded progress reply.

:class:`PlanView` is what the notifier hands every plan view (:mod:`bot.slack.views.plan`,
:mod:`bot.slack.views.buttons`, :mod:`bot.slack.views.summary`); :func:`lifecycle_of` reads it in
the terms of :mod:`bot.lifecycle`, which decides what a plan offers. Statuses arrive as the store
keeps them, and may be text nobody knows (a newer version wrote it, or a test made it up): they are
shown escaped and never acted on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from bot.lifecycle import Mode, PlanKind, PlanStatus, StepStatus
from bot.slack import messages
from bot.slack.views.blocks import message, section, short
from bot.slack.views.escape import code
from planners.model import Action, Plan, Step

__all__ = [
    "PlanLifecycle",
    "PlanView",
    "StepState",
    "action_words",
    "lifecycle_of",
    "progress_reply",
    "status_command",
    "status_emoji",
    "status_name",
    "status_text",
    "status_words",
    "step_numbers",
    "step_refs",
    "step_status",
]

_E = TypeVar("_E", PlanStatus, Mode, StepStatus)
_REASON_SHOWN = frozenset(
    {StepStatus.FAILED, StepStatus.SKIPPED, StepStatus.NOT_NEEDED, StepStatus.ABORTED}
)


@dataclass(frozen=True, kw_only=True)
class StepState:
    """Where one step of a stored plan is: its status, why, and who approved it so far.

    Attributes:
        status: a :class:`~bot.lifecycle.StepStatus` (any other text is shown, not acted on).
        reason: why it is in that status (an executor's error, "healthy after stage contain").
        approvers: the Slack user ids who approved it.
    """

    status: StepStatus | str = StepStatus.PENDING
    reason: str = ""
    approvers: frozenset[str] = frozenset()


_NOT_STARTED = StepState()


@dataclass(frozen=True, kw_only=True)
class PlanView:
    """Everything the plan message shows: the plan, its lifecycle and each step's state.

    Attributes:
        plan_id: the stored plan's id (button values carry it).
        plan: the plan as drafted.
        plan_status: the stored plan's :class:`~bot.lifecycle.PlanStatus` (any other text is
            shown, and offers no button).
        mode: the :class:`~bot.lifecycle.Mode` the plan was drafted in (any other text is shown
            and treated like ``suggest``).
        kind: live or standby.
        steps: step id → state; a step missing here is pending with no approvals.
    """

    plan_id: str
    plan: Plan
    plan_status: PlanStatus | str
    mode: Mode | str
    kind: PlanKind = PlanKind.LIVE
    steps: Mapping[str, StepState] = field(default_factory=dict)

    def state(self, step_id: str) -> StepState:
        """The state of one step (pending when unknown)."""
        return self.steps.get(step_id, _NOT_STARTED)


@dataclass(frozen=True, kw_only=True)
class PlanLifecycle:
    """A :class:`PlanView` in the terms of :mod:`bot.lifecycle`.

    Attributes:
        status: the plan's status; None when it is not one the lifecycle knows.
        kind: live or standby.
        mode: the plan's mode; None when it is not one the lifecycle knows.
    """

    status: PlanStatus | None
    kind: PlanKind
    mode: Mode | None


def lifecycle_of(view: PlanView) -> PlanLifecycle:
    """The plan's status, kind and mode as :mod:`bot.lifecycle` knows them."""
    return PlanLifecycle(
        status=_member(PlanStatus, str(view.plan_status)),
        kind=view.kind,
        mode=_member(Mode, str(view.mode)),
    )


def step_status(status: StepStatus | str) -> StepStatus | None:
    """The :class:`~bot.lifecycle.StepStatus` of a stored status; None for unknown text."""
    return _member(StepStatus, str(status))


def _member(enum: type[_E], value: str) -> _E | None:
    try:
        return enum(value)
    except ValueError:
        return None


# -- one step in words ----------------------------------------------------------------------------


def action_words(step: Step) -> str:
    """What a step does, as mrkdwn (``Roll back *cartservice* to `v1.4.2```)."""
    action = str(step.action)
    template = messages.ACTION_WORDS.get(action, messages.UNKNOWN_ACTION)
    words = template.format(
        service=short(step.service),
        flag=code(step.flag or "", limit=80),
        change=code(step.change_id, limit=80),
        action=short(action),
    )
    if step.target_version and step.action != Action.MANUAL:
        words += messages.TO_VERSION.format(version=code(step.target_version, limit=80))
    return words


def status_emoji(status: StepStatus | str) -> str:
    """The emoji of a step status (a question mark for unknown text)."""
    known = step_status(status)
    return messages.STATUS_EMOJI[known] if known else messages.UNKNOWN_STATUS_EMOJI


def status_name(status: StepStatus | str) -> str:
    """A step status in words (unknown text escaped)."""
    known = step_status(status)
    return messages.STATUS_WORDS[known] if known else short(str(status), 40)


def status_words(state: StepState) -> str:
    """A step's status in words, with the reason when it failed or did not run."""
    words = status_name(state.status)
    if step_status(state.status) in _REASON_SHOWN and state.reason.strip():
        words = messages.STATUS_WITH_REASON.format(status=words, reason=short(state.reason, 400))
    return words


def status_text(state: StepState) -> str:
    """Emoji and words of a step's status."""
    return f"{status_emoji(state.status)} {status_words(state)}"


def step_numbers(plan: Plan) -> dict[str, int]:
    """Step id → its number in the plan, from 1, as the plan message shows them."""
    return {step.id: number for number, step in enumerate(plan.steps, start=1)}


def step_refs(step_ids: Iterable[str], numbers: Mapping[str, int], *, limit: int = 10) -> str:
    """Steps by number (by id, escaped, when not in the plan), the first ``limit``."""
    refs = [str(numbers[s]) if s in numbers else short(s, 20) for s in step_ids]
    shown = messages.LIST_SEPARATOR.join(refs[:limit])
    if len(refs) > limit:
        shown += messages.LIST_SEPARATOR + messages.AND_MORE.format(count=len(refs) - limit)
    return shown


def status_command(plan_id: str) -> str:
    """``/rollback status <plan>`` as code, where a view points at the rest of a long list."""
    return code(messages.STATUS_COMMAND.format(plan_id=plan_id), limit=120)


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
        emoji=status_emoji(state.status),
        step_id=code(step_id, limit=40),
        action=action_words(step),
        status=status_words(state),
    )
    return message(text, [section(text)])
