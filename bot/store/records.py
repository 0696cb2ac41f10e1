"""The store's value types: the frozen rows it hands out, and its errors.

The store's repositories return these instead of ORM objects, so callers (the engine, the Slack
views, the scheduler) hold plain immutable values that no session can change under them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from bot.lifecycle import Mode, PlanKind, PlanStatus, StepStatus
from planners.llm import GUARD_REJECTED
from planners.model import Plan

__all__ = [
    "ExecutionRow",
    "PlanNotFoundError",
    "StepNotFoundError",
    "StepRow",
    "StoredExplanation",
    "StoredPlan",
    "execution_row",
    "step_row",
    "stored_plan",
]


class PlanNotFoundError(LookupError):
    """No stored plan has this id."""

    def __init__(self, plan_id: str) -> None:
        self.plan_id = plan_id
        super().__init__(f"no plan with id {plan_id!r} in the store")

    def __repr__(self) -> str:
        return f"PlanNotFoundError(plan_id={self.plan_id!r})"


class StepNotFoundError(LookupError):
    """The plan exists but has no step with this id."""

    def __init__(self, plan_id: str, step_id: str) -> None:
        self.plan_id = plan_id
        self.step_id = step_id
        super().__init__(f"plan {plan_id!r} has no step {step_id!r}")

    def __repr__(self) -> str:
        return f"StepNotFoundError(plan_id={self.plan_id!r}, step_id={self.step_id!r})"


@dataclass(frozen=True)
class StepRow:
    """The execution state of one step of a stored plan."""

    plan_id: str
    step_id: str
    stage: str
    action: str
    service: str
    status: StepStatus
    attempts: int
    claimed_by: str | None
    lease_until: datetime | None
    reason: str
    result: Mapping[str, Any] | None
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime


@dataclass(frozen=True, kw_only=True)
class StoredExplanation:
    """A plan's explanation as the graph checked it, stored when it arrived (after the post).

    Attributes:
        model: the model that was asked.
        source: ``model`` (its checked explanation) or ``graph`` (the guard rejected it: the
            graph's own is shown).
        outcome: ``ok`` or ``guard_rejected`` (:data:`planners.llm.GUARD_REJECTED`; rows
            stored before it was named say ``rejected``, read back as ``guard_rejected``).
        text: Markdown, untrusted: views escape it.
        dropped: ``(claim, reason)`` of every claim the graph dropped (the whole explanation
            counts as one when the guard rejected it).
        detail: why the graph's own explanation is shown, when it is.
        at: when it was stored.
    """

    model: str
    source: str
    outcome: str
    text: str
    dropped: tuple[tuple[str, str], ...] = ()
    detail: str = ""
    at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        """The column's JSON."""
        return {
            "model": self.model,
            "source": self.source,
            "outcome": self.outcome,
            "text": self.text,
            "dropped": [{"claim": c, "reason": r} for c, r in self.dropped],
            "detail": self.detail,
            "at": self.at.isoformat() if self.at else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StoredExplanation:
        """Read the column's JSON back."""
        at = data.get("at")
        return cls(
            model=str(data.get("model") or ""),
            source=str(data.get("source") or "graph"),
            outcome=_outcome(str(data.get("outcome") or "")),
            text=str(data.get("text") or ""),
            dropped=tuple(
                (str(d.get("claim", "")), str(d.get("reason", "")))
                for d in data.get("dropped") or ()
            ),
            detail=str(data.get("detail") or ""),
            at=datetime.fromisoformat(at) if isinstance(at, str) else None,
        )


@dataclass(frozen=True)
class StoredPlan:
    """A plan as stored: the plan itself, its lifecycle and its steps' state (in plan order),
    and the model's checked explanation once one arrived."""

    id: str
    plan: Plan
    kind: PlanKind
    mode: Mode
    status: PlanStatus
    version: int
    created_at: datetime
    updated_at: datetime
    steps: tuple[StepRow, ...]
    explanation: StoredExplanation | None = None


@dataclass(frozen=True)
class ExecutionRow:
    """One recorded phase of one attempt at a step."""

    plan_id: str
    step_id: str
    attempt: int
    phase: str
    outcome: str
    detail: str
    started_at: datetime
    finished_at: datetime


def _outcome(stored: str) -> str:
    """An explanation's stored outcome; ``rejected``, as the guard's refusal was first stored
    (only an answered call is stored: never an endpoint's HTTP 4xx), reads as
    :data:`~planners.llm.GUARD_REJECTED`."""
    return GUARD_REJECTED if stored == "rejected" else stored


def step_row(row: sa.Row[Any]) -> StepRow:
    """A :class:`StepRow` from a row of ``steps``."""
    return StepRow(
        plan_id=row.plan_id,
        step_id=row.step_id,
        stage=row.stage,
        action=row.action,
        service=row.service,
        status=StepStatus(row.status),
        attempts=row.attempts,
        claimed_by=row.claimed_by,
        lease_until=row.lease_until,
        reason=row.reason,
        result=row.result,
        started_at=row.started_at,
        finished_at=row.finished_at,
        updated_at=row.updated_at,
    )


def stored_plan(row: sa.Row[Any], steps: Sequence[StepRow]) -> StoredPlan:
    """A :class:`StoredPlan` from a row of ``plans`` and its steps."""
    return StoredPlan(
        id=row.id,
        plan=Plan.model_validate(row.plan_json),
        kind=PlanKind(row.kind),
        mode=Mode(row.mode),
        status=PlanStatus(row.status),
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
        steps=tuple(steps),
        explanation=StoredExplanation.from_json(row.explanation) if row.explanation else None,
    )


def execution_row(row: sa.Row[Any]) -> ExecutionRow:
    """An :class:`ExecutionRow` from a row of ``step_executions``."""
    return ExecutionRow(
        plan_id=row.plan_id,
        step_id=row.step_id,
        attempt=row.attempt,
        phase=row.phase,
        outcome=row.outcome,
        detail=row.detail,
        started_at=row.started_at,
        finished_at=row.finished_at,
    )
