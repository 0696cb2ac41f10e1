"""The buttons of the plan message: their action ids, and exactly the clicks the plan accepts.

Which buttons a plan offers is not decided here: :func:`plan_actions` asks
:func:`bot.lifecycle.available_actions`, the function the use cases ask before accepting a click,
so a button is drawn if and only if its click would be accepted. This module only says how each
click looks (label, style, confirmation dialog) and what its value carries. The handlers in
``bot/slack/handlers/actions.py`` listen for the ``ACTION_*`` ids below.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from bot.lifecycle import Actions, Click, Mode, available_actions
from bot.slack import messages
from bot.slack.views.blocks import Block, actions, button, confirm, context, section, short
from bot.slack.views.progress import (
    PlanView,
    action_words,
    lifecycle_of,
    status_command,
    step_status,
)
from planners.model import Stage, Step

__all__ = [
    "ACTION_ABORT",
    "ACTION_APPROVE_PLAN",
    "ACTION_APPROVE_STAGE",
    "ACTION_REJECT",
    "ACTION_RETRY",
    "ACTION_SIMULATE",
    "ACTION_SKIP",
    "plan_actions",
    "plan_buttons",
]

ACTION_APPROVE_STAGE: Final = "backout_approve_stage"
"""Approve the next stage (:attr:`Click.APPROVE_STAGE`); value ``"{plan_id}:{stage}"``."""
ACTION_APPROVE_PLAN: Final = "backout_approve_plan"
"""Approve every stage (:attr:`Click.APPROVE_ALL`); value ``plan_id``."""
ACTION_SIMULATE: Final = "backout_simulate"
"""Dry-run the plan (:attr:`Click.SIMULATE`); value ``plan_id``."""
ACTION_REJECT: Final = "backout_reject"
"""Reject a plan nothing of which has started (:attr:`Click.REJECT`); value ``plan_id``."""
ACTION_ABORT: Final = "backout_abort"
"""Abort a plan that has started (:attr:`Click.ABORT`); value ``plan_id``."""
ACTION_RETRY: Final = "backout_retry"
"""Retry a failed step (:attr:`Click.RETRY`); value ``"{plan_id}:{step_id}"``."""
ACTION_SKIP: Final = "backout_skip"
"""Skip a failed step (:attr:`Click.SKIP`); value ``"{plan_id}:{step_id}"``."""

_MAX_FAILED_SHOWN = 3
_STAGE_ORDER = {stage: position for position, stage in enumerate(Stage)}


def plan_actions(view: PlanView) -> Actions:
    """What the plan accepts now, from :func:`~bot.lifecycle.available_actions`.

    A status the lifecycle does not know offers nothing; a mode it does not know counts as
    ``suggest``. Steps go in by stage (contain, partial, full), so *Approve stage* names the
    first stage with a pending step; a step whose status is unknown text is left out.
    """
    lifecycle = lifecycle_of(view)
    if lifecycle.status is None:
        return Actions()
    by_stage = sorted(view.plan.steps, key=lambda s: _STAGE_ORDER[s.stage])
    states = ((s, step_status(view.state(s.id).status)) for s in by_stage)
    return available_actions(
        status=lifecycle.status,
        kind=lifecycle.kind,
        mode=lifecycle.mode or Mode.SUGGEST,
        abstained=view.plan.abstained,
        steps=[(s.id, s.stage.value, state) for s, state in states if state is not None],
    )


def plan_buttons(view: PlanView, numbers: Mapping[str, int]) -> list[Block | None]:
    """The plan message's buttons: one row for the plan, then each failed step (the first
    three) with its reason, *Retry* and *Skip*.

    Args:
        view: the plan and its state.
        numbers: step id → its number in the message.

    Returns:
        Blocks (None where a button could not be drawn); empty when the plan accepts nothing.
    """
    offered = plan_actions(view)
    if not offered.clicks:
        return []
    pid = view.plan_id
    row: list[Block | None] = []
    if Click.APPROVE_STAGE in offered.clicks and offered.next_stage is not None:
        row.append(
            button(
                messages.BUTTON_APPROVE_STAGE.format(stage=offered.next_stage),
                action_id=ACTION_APPROVE_STAGE,
                value=f"{pid}:{offered.next_stage}",
                style="primary",
            )
        )
    if Click.APPROVE_ALL in offered.clicks:
        row.append(
            button(
                messages.BUTTON_APPROVE_PLAN,
                action_id=ACTION_APPROVE_PLAN,
                value=pid,
                confirm=confirm(
                    title=messages.CONFIRM_APPROVE_PLAN_TITLE,
                    text=messages.CONFIRM_APPROVE_PLAN_TEXT,
                    yes=messages.CONFIRM_APPROVE_PLAN_YES,
                ),
            )
        )
    if Click.SIMULATE in offered.clicks:
        row.append(button(messages.BUTTON_SIMULATE, action_id=ACTION_SIMULATE, value=pid))
    if Click.ABORT in offered.clicks:
        row.append(
            button(
                messages.BUTTON_ABORT,
                action_id=ACTION_ABORT,
                value=pid,
                style="danger",
                confirm=confirm(
                    title=messages.CONFIRM_ABORT_TITLE,
                    text=messages.CONFIRM_ABORT_TEXT,
                    yes=messages.CONFIRM_ABORT_YES,
                ),
            )
        )
    if Click.REJECT in offered.clicks:
        row.append(
            button(
                messages.BUTTON_REJECT,
                action_id=ACTION_REJECT,
                value=pid,
                style="danger",
                confirm=confirm(
                    title=messages.CONFIRM_REJECT_TITLE,
                    text=messages.CONFIRM_REJECT_TEXT,
                    yes=messages.CONFIRM_REJECT_YES,
                ),
            )
        )
    drawn: list[Block | None] = [actions(row)]
    failed = [s for s in view.plan.steps if s.id in offered.failed]  # in plan order
    for step in failed[:_MAX_FAILED_SHOWN]:
        drawn += _failure(view, step, numbers[step.id], offered)
    if len(failed) > _MAX_FAILED_SHOWN:
        more = messages.FAILED_MORE.format(
            count=len(failed) - _MAX_FAILED_SHOWN, command=status_command(pid)
        )
        drawn.append(context([more]))
    return drawn


def _failure(view: PlanView, step: Step, number: int, offered: Actions) -> list[Block | None]:
    state = view.state(step.id)
    text = messages.FAILED_STEP.format(
        number=number,
        action=action_words(step),
        reason=short(state.reason, 600) if state.reason.strip() else messages.EMPTY,
    )
    value = f"{view.plan_id}:{step.id}"
    row: list[Block | None] = []
    if offered.allows(Click.RETRY, step=step.id):
        row.append(
            button(
                messages.BUTTON_RETRY.format(number=number),
                action_id=ACTION_RETRY,
                value=value,
                style="primary",
            )
        )
    if offered.allows(Click.SKIP, step=step.id):
        row.append(
            button(
                messages.BUTTON_SKIP.format(number=number),
                action_id=ACTION_SKIP,
                value=value,
                confirm=confirm(
                    title=messages.CONFIRM_SKIP_TITLE,
                    text=messages.CONFIRM_SKIP_TEXT.format(number=number),
                    yes=messages.CONFIRM_SKIP_YES,
                ),
            )
        )
    return [section(text), actions(row)]
