"""The steps of stored plans: claimed once each by compare-and-set, leased while they run, and the
phases of every attempt recorded.

The engine of every replica shares a step only through :class:`Steps`. Work that must happen once
is claimed with a compare-and-set ``UPDATE … WHERE status IN (…)`` (:meth:`Steps.transition`):
the database decides the single winner on SQLite and PostgreSQL alike, with no
``SELECT … FOR UPDATE`` (SQLite ignores it). Every state change appends its audit entry in the
same transaction (:mod:`bot.store.audit`), so the log never misses a step that was claimed.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from bot.lifecycle import TERMINAL_STEPS, StepStatus
from bot.store.audit import append_entry, canonical_details
from bot.store.base import Repository
from bot.store.records import (
    ExecutionRow,
    PlanNotFoundError,
    StepNotFoundError,
    StepRow,
    execution_row,
    step_row,
)
from bot.store.tables import PlanRecord, StepExecutionRecord, StepRecord

__all__ = ["Steps", "require_plan", "step_rows"]

log = logging.getLogger(__name__)

# sqlmodel sets ``__table__`` when it creates a table class; mypy cannot see it.
_PLANS: sa.Table = PlanRecord.__table__  # type: ignore[attr-defined]
_STEPS: sa.Table = StepRecord.__table__  # type: ignore[attr-defined]
_EXECUTIONS: sa.Table = StepExecutionRecord.__table__  # type: ignore[attr-defined]


class Steps(Repository):
    """The steps of stored plans: their state, claims, leases and recorded phases."""

    def of(self, plan_id: str) -> list[StepRow]:
        """The plan's steps in plan order.

        Raises:
            PlanNotFoundError: no plan has this id.
        """
        with self._reading() as conn:
            rows = step_rows(conn, [plan_id]).get(plan_id, ())
            if not rows:
                require_plan(conn, plan_id)
        return list(rows)

    def some(self, plan_id: str, step_ids: Collection[str]) -> list[StepRow]:
        """These steps of the plan (unknown ids are left out): what changed, without reading
        every step again."""
        if not step_ids:
            return []
        with self._reading() as conn:
            rows = conn.execute(
                sa.select(_STEPS).where(
                    _STEPS.c.plan_id == plan_id, _STEPS.c.step_id.in_(sorted(step_ids))
                )
            ).all()
        return [step_row(row) for row in rows]

    def transition(
        self,
        plan_id: str,
        step_id: str,
        *,
        from_statuses: Collection[str],
        to: str,
        actor: str,
        worker: str | None = None,
        reason: str = "",
        result: Mapping[str, Any] | None = None,
        lease_seconds: float | None = None,
        expired_lease_only: bool = False,
    ) -> bool:
        """Move a step to ``to`` if, and only if, it is in one of ``from_statuses`` right now.

        This is one compare-and-set ``UPDATE … WHERE plan_id AND step_id AND status IN (…)``; of
        any number of concurrent callers (threads, processes, replicas) at most one wins. When
        ``worker`` is given and ``running`` is the only from-status, the step must also be
        claimed by that worker. With ``expired_lease_only`` the step's lease must have run out
        (or never been set) instead, whoever holds it: see :meth:`reclaim`.

        Moving to ``running`` claims the step: ``claimed_by = worker``, ``attempts + 1``,
        ``started_at = now`` and ``lease_until = now + lease_seconds`` (no lease when ``None``).
        Moving to a terminal status sets ``finished_at``; moving back to ``pending`` or
        ``queued`` releases the claim. ``reason`` is always stored, ``result`` when given. On
        success the audit entry ``step.<to>`` is appended in the same transaction.

        Returns:
            True if this call made the change.

        Raises:
            ValueError: an unknown status, or a move to ``running`` without a ``worker``.
        """
        sources = _statuses(from_statuses)
        target = StepStatus(to)
        if target is StepStatus.RUNNING and worker is None:
            raise ValueError("claiming a step (to='running') needs a worker")
        result_data = canonical_details(result) if result is not None else None

        def work(conn: sa.Connection) -> bool:
            now = self._now()
            where = [
                _STEPS.c.plan_id == plan_id,
                _STEPS.c.step_id == step_id,
                _STEPS.c.status.in_(sorted(sources)),
            ]
            previous: str | None = None
            if expired_lease_only:
                where.append(sa.or_(_STEPS.c.lease_until.is_(None), _STEPS.c.lease_until < now))
                previous = conn.execute(
                    sa.select(_STEPS.c.claimed_by).where(*where[:2])
                ).scalar_one_or_none()
            elif worker is not None and sources == {StepStatus.RUNNING}:
                where.append(_STEPS.c.claimed_by == worker)
            values: dict[str, Any] = {"status": target.value, "reason": reason, "updated_at": now}
            if result_data is not None:
                values["result"] = result_data
            if target is StepStatus.RUNNING:
                lease = None if lease_seconds is None else now + timedelta(seconds=lease_seconds)
                values |= {
                    "claimed_by": worker,
                    "attempts": _STEPS.c.attempts + 1,
                    "started_at": now,
                    "finished_at": None,
                    "lease_until": lease,
                }
            else:
                values["lease_until"] = None
                if target in TERMINAL_STEPS:
                    values["finished_at"] = now
                elif target in (StepStatus.PENDING, StepStatus.QUEUED):
                    values["claimed_by"] = None
            changed = conn.execute(sa.update(_STEPS).where(*where).values(**values))
            if changed.rowcount != 1:
                return False
            attempts = conn.execute(
                sa.select(_STEPS.c.attempts).where(
                    _STEPS.c.plan_id == plan_id, _STEPS.c.step_id == step_id
                )
            ).scalar_one()
            details: dict[str, Any] = {
                "worker": worker,
                "reason": reason,
                "from_statuses": sorted(sources),
                "attempt": attempts,
            }
            if result_data is not None:
                details["result"] = result_data
            if expired_lease_only:
                details["previous_worker"] = previous
            append_entry(
                conn,
                at=now,
                actor=actor,
                action=f"step.{target.value}",
                subject=f"{plan_id}/{step_id}",
                details=details,
            )
            return True

        won = self._write(work)
        log.debug(
            "step transition %s/%s -> %s by %s: %s",
            plan_id,
            step_id,
            target.value,
            worker or actor,
            "done" if won else "lost",
        )
        return won

    def reclaim(
        self,
        plan_id: str,
        step_id: str,
        *,
        worker: str,
        lease_seconds: float,
        actor: str,
        reason: str = "lease expired",
    ) -> bool:
        """Take over a running step whose lease has run out (or that has none): its worker died.

        A compare-and-set like :meth:`transition` (running to running, ``expired_lease_only``):
        of several workers reclaiming at once, one wins. The step gets the new ``worker``, a
        fresh lease and one more attempt, audited as ``step.running`` with the previous worker.

        Returns:
            True if this call took the step over.
        """
        return self.transition(
            plan_id,
            step_id,
            from_statuses={StepStatus.RUNNING},
            to=StepStatus.RUNNING,
            actor=actor,
            worker=worker,
            reason=reason,
            lease_seconds=lease_seconds,
            expired_lease_only=True,
        )

    def renew_lease(self, plan_id: str, step_id: str, *, worker: str, lease_seconds: float) -> bool:
        """Extend the lease of a running step; only the worker that claimed it can.

        Returns:
            True if the lease now ends ``lease_seconds`` from now.
        """

        def work(conn: sa.Connection) -> bool:
            now = self._now()
            changed = conn.execute(
                sa.update(_STEPS)
                .where(
                    _STEPS.c.plan_id == plan_id,
                    _STEPS.c.step_id == step_id,
                    _STEPS.c.status == StepStatus.RUNNING.value,
                    _STEPS.c.claimed_by == worker,
                )
                .values(lease_until=now + timedelta(seconds=lease_seconds), updated_at=now)
            )
            return changed.rowcount == 1

        return self._write(work)

    def in_status(self, statuses: Collection[str], *, limit: int = 100) -> list[StepRow]:
        """Steps of any plan in one of ``statuses``, least recently updated first."""
        wanted = sorted(_statuses(statuses))
        with self._reading() as conn:
            rows = conn.execute(
                sa.select(_STEPS)
                .where(_STEPS.c.status.in_(wanted))
                .order_by(_STEPS.c.updated_at, _STEPS.c.id)
                .limit(limit)
            ).all()
        return [step_row(row) for row in rows]

    def record_executions(
        self,
        plan_id: str,
        step_id: str,
        phases: Sequence[Mapping[str, Any]],
        *,
        started: int | None = None,
    ) -> None:
        """Record phases (preview, execute, verify, …) of attempts at a step, in one transaction.

        Each phase is a mapping with ``attempt``, ``phase``, ``outcome``, ``detail``,
        ``started_at`` and ``finished_at``. Nothing is written for an empty list. An ``execute``
        phase whose start :meth:`begin_execute` recorded (its id ``started``) completes that
        record instead of adding another.

        Raises:
            PlanNotFoundError: no plan has this id.
            StepNotFoundError: the plan has no such step.
        """
        if not phases:
            return

        def work(conn: sa.Connection) -> None:
            _require_step(conn, plan_id, step_id)
            rows = [_execution(plan_id, step_id, p) for p in phases]
            finishing = [r for r in rows if started is not None and r["phase"] == "execute"]
            for row in finishing:
                conn.execute(
                    sa.update(_EXECUTIONS)
                    .where(_EXECUTIONS.c.id == started)
                    .values(
                        outcome=row["outcome"], detail=row["detail"], finished_at=row["finished_at"]
                    )
                )
            if inserting := [r for r in rows if r not in finishing]:
                conn.execute(sa.insert(_EXECUTIONS), inserting)

        self._write(work)

    def begin_execute(
        self,
        plan_id: str,
        step_id: str,
        *,
        worker: str,
        attempt: int,
        phases: Sequence[Mapping[str, Any]] = (),
    ) -> int | None:
        """Before an executor changes anything: record the attempt's phases so far and an
        ``execute`` phase that has ``started``, if ``worker`` still holds the step's claim with a
        live lease (the fence: an engine that stalled past its lease, or whose step another
        replica reclaimed, may not act). One transaction.

        Returns:
            The started record's id (for :meth:`record_executions` to complete), or None when
            the claim is no longer ``worker``'s: nothing is written and nothing may be executed.
        """

        def work(conn: sa.Connection) -> int | None:
            now = self._now()
            held = conn.execute(
                sa.update(_STEPS)
                .where(
                    _STEPS.c.plan_id == plan_id,
                    _STEPS.c.step_id == step_id,
                    _STEPS.c.status == StepStatus.RUNNING.value,
                    _STEPS.c.claimed_by == worker,
                    sa.or_(_STEPS.c.lease_until.is_(None), _STEPS.c.lease_until >= now),
                )
                .values(updated_at=now)
            )
            if held.rowcount != 1:
                return None
            if phases:
                conn.execute(
                    sa.insert(_EXECUTIONS), [_execution(plan_id, step_id, p) for p in phases]
                )
            marker = {
                "attempt": attempt,
                "phase": "execute",
                "outcome": "started",
                "detail": "",
                "started_at": now,
                "finished_at": now,
            }
            inserted = conn.execute(
                sa.insert(_EXECUTIONS).values(**_execution(plan_id, step_id, marker))
            )
            key = inserted.inserted_primary_key
            return int(key[0]) if key else None

        return self._write(work)

    def executions(self, plan_id: str) -> list[ExecutionRow]:
        """The plan's recorded step phases, in the order they were recorded."""
        with self._reading() as conn:
            rows = conn.execute(
                sa.select(_EXECUTIONS)
                .where(_EXECUTIONS.c.plan_id == plan_id)
                .order_by(_EXECUTIONS.c.id)
            ).all()
        return [execution_row(row) for row in rows]


def require_plan(conn: sa.Connection, plan_id: str) -> None:
    """Raise :class:`PlanNotFoundError` unless a plan has this id."""
    found = conn.execute(sa.select(_PLANS.c.id).where(_PLANS.c.id == plan_id)).first()
    if found is None:
        raise PlanNotFoundError(plan_id)


def _require_step(conn: sa.Connection, plan_id: str, step_id: str) -> None:
    found = conn.execute(
        sa.select(_STEPS.c.id).where(_STEPS.c.plan_id == plan_id, _STEPS.c.step_id == step_id)
    ).first()
    if found is None:
        require_plan(conn, plan_id)
        raise StepNotFoundError(plan_id, step_id)


def step_rows(conn: sa.Connection, plan_ids: Sequence[str]) -> dict[str, tuple[StepRow, ...]]:
    """The steps of each of these plans, in plan order (plans without steps are left out)."""
    if not plan_ids:
        return {}
    rows = conn.execute(
        sa.select(_STEPS)
        .where(_STEPS.c.plan_id.in_(plan_ids))
        .order_by(_STEPS.c.plan_id, _STEPS.c.position)
    ).all()
    grouped: dict[str, list[StepRow]] = {}
    for row in rows:
        grouped.setdefault(row.plan_id, []).append(step_row(row))
    return {plan_id: tuple(steps) for plan_id, steps in grouped.items()}


def _statuses(values: Collection[str]) -> frozenset[StepStatus]:
    if isinstance(values, str):
        raise TypeError("from_statuses must be a collection of statuses, not one string")
    if not values:
        raise ValueError("name at least one status")
    return frozenset(StepStatus(value) for value in values)


def _execution(plan_id: str, step_id: str, phase: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "plan_id": plan_id,
        "step_id": step_id,
        "attempt": phase["attempt"],
        "phase": phase["phase"],
        "outcome": phase["outcome"],
        "detail": phase["detail"],
        "started_at": phase["started_at"],
        "finished_at": phase["finished_at"],
    }
