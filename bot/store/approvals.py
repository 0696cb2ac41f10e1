"""Approvals: each responder's decision on each step of a stored plan, recorded once.

A user decides a step once: a second click, even from another replica at the same instant,
changes nothing (the table's unique key decides). Who may approve is the policy's business
(:mod:`bot.core.policy`); this only remembers who did, and refuses a decision the plan can no
longer take: on a finished plan, or an approval once the plan's approval window has closed
with nobody having approved it (:class:`ApprovalClosedError`).

An approval and the expiry of an unattended plan (:class:`~bot.store.expiries.Expiries`) both
take the plan's row first (:func:`lock_plan`) and decide under that lock, so of the two racing
exactly one wins: the approval counted before the deadline and the plan does not expire, or the
plan expired and the approval is refused.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import UTC, datetime

import sqlalchemy as sa

from bot.lifecycle import FINISHED, PlanStatus
from bot.store.audit import append_entry
from bot.store.base import Repository
from bot.store.records import PlanNotFoundError, StepNotFoundError
from bot.store.steps import require_plan, step_rows
from bot.store.tables import ApprovalRecord, PlanRecord

__all__ = ["ApprovalClosedError", "Approvals", "lock_plan"]

log = logging.getLogger(__name__)

_APPROVALS: sa.Table = ApprovalRecord.__table__  # type: ignore[attr-defined]
_PLANS: sa.Table = PlanRecord.__table__  # type: ignore[attr-defined]

_APPROVE = "approve"


class ApprovalClosedError(RuntimeError):
    """The plan takes no more decisions: it is finished, or (for an approval) its approval
    window closed at ``closed_at`` before anybody approved any of its steps.

    Attributes:
        plan_id: the plan.
        status: the plan's status when the decision was refused.
        closed_at: when its approval window closed, if that is why; None for a finished plan.
    """

    def __init__(
        self, plan_id: str, *, status: PlanStatus, closed_at: datetime | None = None
    ) -> None:
        self.plan_id = plan_id
        self.status = status
        self.closed_at = closed_at
        why = (
            f"its approval window closed at {closed_at.astimezone(UTC).isoformat()}"
            if closed_at is not None
            else f"it is {status}"
        )
        super().__init__(f"plan {plan_id} takes no more approvals: {why}")

    def __repr__(self) -> str:
        return (
            f"ApprovalClosedError({self.plan_id!r}, status={self.status!r}, "
            f"closed_at={self.closed_at!r})"
        )


def lock_plan(conn: sa.Connection, plan_id: str) -> PlanStatus:
    """Take the plan's row until the transaction ends and return its status as committed now.

    On PostgreSQL this is ``SELECT … FOR NO KEY UPDATE``: a second taker waits for the first to
    commit, and its later statements (each with a fresh snapshot under READ COMMITTED) see what
    the first wrote. SQLite drops the clause; its writers are serialised by ``BEGIN IMMEDIATE``.

    Raises:
        PlanNotFoundError: no plan has this id.
    """
    status = conn.execute(
        sa.select(_PLANS.c.status).where(_PLANS.c.id == plan_id).with_for_update(key_share=True)
    ).scalar_one_or_none()
    if status is None:
        raise PlanNotFoundError(plan_id)
    return PlanStatus(status)


class Approvals(Repository):
    """Who approved (or took another decision on) which step of which plan."""

    def add(
        self,
        plan_id: str,
        *,
        user: str,
        step_ids: Collection[str],
        decision: str = _APPROVE,
        closes_at: datetime | None = None,
    ) -> list[str]:
        """Record ``user``'s decision on each step they have not decided yet.

        A user decides a step once: a second click, even from another replica at the same
        instant, changes nothing (the database's unique key decides). Each new decision is
        audited as ``approval.<decision>``.

        One transaction, under the plan's lock (:func:`lock_plan`): nothing is recorded on a
        finished plan, nor is an approval once ``closes_at`` (the end of the plan's approval
        window, by the store's clock) has come while nobody has approved any step of the plan.
        A plan somebody approved in time is taken up: its later approvals still count.

        Returns:
            The step ids newly decided by this call, in the order given.

        Raises:
            PlanNotFoundError: no plan has this id.
            StepNotFoundError: the plan has no step with one of these ids (nothing is recorded).
            ApprovalClosedError: the plan is finished, or its approval window closed unattended
                (nothing is recorded).
            ValueError: a naive ``closes_at``.
        """
        if closes_at is not None and (closes_at.tzinfo is None or closes_at.utcoffset() is None):
            raise ValueError(f"naive closes_at {closes_at!r}: give a timezone-aware one")
        wanted = list(dict.fromkeys(step_ids))
        with self._reading() as conn:
            known = {row.step_id for row in step_rows(conn, [plan_id]).get(plan_id, ())}
            if not known:
                require_plan(conn, plan_id)
        for step_id in wanted:
            if step_id not in known:
                raise StepNotFoundError(plan_id, step_id)

        def work(conn: sa.Connection) -> list[str]:
            now = self._now()
            status = lock_plan(conn, plan_id)
            if status in FINISHED:
                raise ApprovalClosedError(plan_id, status=status)
            late = decision == _APPROVE and closes_at is not None and now >= closes_at
            if late and not _anyone_approved(conn, plan_id):
                raise ApprovalClosedError(plan_id, status=status, closed_at=closes_at)
            decided = set(
                conn.execute(
                    sa.select(_APPROVALS.c.step_id).where(
                        _APPROVALS.c.plan_id == plan_id, _APPROVALS.c.user_id == user
                    )
                ).scalars()
            )
            added = [step_id for step_id in wanted if step_id not in decided]
            for step_id in added:
                self._record(conn, plan_id, step_id, user=user, decision=decision, at=now)
            return added

        added = self._insert_racing(work)
        if len(added) < len(wanted):
            log.debug("%s had already decided some of %s: %s", user, plan_id, wanted)
        return added

    @staticmethod
    def _record(
        conn: sa.Connection, plan_id: str, step_id: str, *, user: str, decision: str, at: datetime
    ) -> None:
        conn.execute(
            sa.insert(_APPROVALS).values(
                plan_id=plan_id, step_id=step_id, user_id=user, decision=decision, at=at
            )
        )
        append_entry(
            conn,
            at=at,
            actor=user,
            action=f"approval.{decision}",
            subject=f"{plan_id}/{step_id}",
            details={"user": user, "decision": decision},
        )

    def of(self, plan_id: str, *, decision: str = _APPROVE) -> dict[str, frozenset[str]]:
        """Step id -> the users who took ``decision`` on it; steps nobody decided are left out."""
        with self._reading() as conn:
            rows = conn.execute(
                sa.select(_APPROVALS.c.step_id, _APPROVALS.c.user_id).where(
                    _APPROVALS.c.plan_id == plan_id, _APPROVALS.c.decision == decision
                )
            ).all()
        users: dict[str, set[str]] = {}
        for row in rows:
            users.setdefault(row.step_id, set()).add(row.user_id)
        return {step_id: frozenset(names) for step_id, names in users.items()}


def _anyone_approved(conn: sa.Connection, plan_id: str) -> bool:
    """Whether anybody has approved a step of the plan (the plan was taken up)."""
    found = conn.execute(
        sa.select(_APPROVALS.c.id)
        .where(_APPROVALS.c.plan_id == plan_id, _APPROVALS.c.decision == _APPROVE)
        .limit(1)
    ).first()
    return found is not None
