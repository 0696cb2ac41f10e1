"""Expiring a plan nobody acted on, by one compare-and-set.

:meth:`~bot.store.Plans.move` moves a plan from any status the lifecycle lets reach the new one.
An approval deadline needs more in the same statement: the plan expires only if, at that very
moment, nobody has approved any of its steps and none of them is queued or running. Read first
and move after, and an approval landing in between would be followed by an expiry, its steps
queued on a plan that can no longer run. :class:`Expiries` puts every condition in the
``UPDATE … WHERE`` (as :meth:`~bot.store.Incidents.supersede` does for a redraft), after taking
the plan's row (:func:`~bot.store.approvals.lock_plan`), as an approval does before it records
anything: so of an approval and an expiry racing, the one that takes the row first wins and the
other sees what it wrote. (Without the lock, on PostgreSQL under READ COMMITTED, the expiry's
``NOT EXISTS`` over approvals and an approval's insert could each miss the other's uncommitted
row, and both succeed.)
"""

from __future__ import annotations

import sqlalchemy as sa

from bot.lifecycle import TRANSITIONS, PlanKind, PlanStatus, StepStatus
from bot.store.approvals import lock_plan
from bot.store.audit import append_entry
from bot.store.base import Repository
from bot.store.tables import ApprovalRecord, PlanRecord, StepRecord

__all__ = ["Expiries"]

# sqlmodel sets ``__table__`` when it creates a table class; mypy cannot see it.
_PLANS: sa.Table = PlanRecord.__table__  # type: ignore[attr-defined]
_STEPS: sa.Table = StepRecord.__table__  # type: ignore[attr-defined]
_APPROVALS: sa.Table = ApprovalRecord.__table__  # type: ignore[attr-defined]

_EXPIRABLE = sorted(s.value for s, moves in TRANSITIONS.items() if PlanStatus.EXPIRED in moves)
"""The statuses the lifecycle lets expire (proposed, waiting, halted)."""
_ACTIVE_STEPS = [StepStatus.QUEUED.value, StepStatus.RUNNING.value]


class Expiries(Repository):
    """Plans retired because nobody acted on them in time. Thread-safe like every repository."""

    def expire_unattended(self, plan_id: str, *, reason: str, actor: str = "backout") -> bool:
        """Expire the live plan if nobody has approved any of its steps and none of them is
        queued or running, and its status may expire (:data:`~bot.lifecycle.TRANSITIONS`); one
        compare-and-set, audited as ``plan.expired`` with ``reason``.

        A plan whose contain stage autopilot ran, and that waits for a person since, has no
        approval and expires; one that anybody approved does not.

        Returns:
            True if this call expired it; False if anything above does not hold (it was
            approved, started, finished, or expired already).

        Raises:
            PlanNotFoundError: no plan has this id.
        """

        def work(conn: sa.Connection) -> bool:
            now = self._now()
            # First the plan's row: an approval under way finishes first, or waits for us.
            lock_plan(conn, plan_id)  # an unknown plan raises PlanNotFoundError
            approved = sa.exists().where(
                _APPROVALS.c.plan_id == _PLANS.c.id, _APPROVALS.c.decision == "approve"
            )
            active = sa.exists().where(
                _STEPS.c.plan_id == _PLANS.c.id, _STEPS.c.status.in_(_ACTIVE_STEPS)
            )
            changed = conn.execute(
                sa.update(_PLANS)
                .where(
                    _PLANS.c.id == plan_id,
                    _PLANS.c.kind == PlanKind.LIVE.value,
                    _PLANS.c.status.in_(_EXPIRABLE),
                    ~approved,
                    ~active,
                )
                .values(
                    status=PlanStatus.EXPIRED.value, version=_PLANS.c.version + 1, updated_at=now
                )
            )
            if changed.rowcount != 1:
                return False
            append_entry(
                conn,
                at=now,
                actor=actor,
                action="plan.expired",
                subject=plan_id,
                details={"status": PlanStatus.EXPIRED.value, "reason": reason},
            )
            return True

        return self._write(work)
