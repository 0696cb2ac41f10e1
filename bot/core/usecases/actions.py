"""What a stored plan offers now: the one adapter from a stored plan to
:func:`bot.lifecycle.available_actions`, which every use case asks before it acts on a click."""

from __future__ import annotations

from bot.lifecycle import Actions, StepStatus, available_actions
from bot.store import StoredPlan
from planners.model import Stage

__all__ = ["plan_actions"]

_STAGE_ORDER = {stage.value: index for index, stage in enumerate(Stage)}


def plan_actions(stored: StoredPlan) -> Actions:
    """The clicks ``stored`` accepts now (:func:`bot.lifecycle.available_actions`)."""
    rows = {row.step_id: row.status for row in stored.steps}
    steps = sorted(stored.plan.steps, key=lambda s: _STAGE_ORDER.get(s.stage.value, 0))
    return available_actions(
        status=stored.status,
        kind=stored.kind,
        mode=stored.mode,
        abstained=stored.plan.abstained,
        steps=[(s.id, s.stage.value, rows.get(s.id, StepStatus.PENDING)) for s in steps],
    )
