"""The store's repository: plans, steps, approvals and the audit log behind one thread-safe class.

The engine, the Slack handlers and the scheduler of every replica share state only through
:class:`Store` (DESIGN.md, "Several replicas"). Each call opens its own connection and transaction
from the SQLAlchemy engine, so one ``Store`` serves any number of threads. Work that must happen
once is claimed with a compare-and-set ``UPDATE … WHERE status IN (…)`` (:meth:`Store.transition`):
the database decides the single winner on SQLite and PostgreSQL alike, with no
``SELECT … FOR UPDATE`` (SQLite ignores it). Every state change appends its audit entry in the same
transaction (:mod:`bot.store.audit`), so the log never misses a step that was claimed.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Self, TypeVar

import sqlalchemy as sa

from bot.store import db
from bot.store.audit import (
    AuditCheck,
    AuditEntry,
    append_entry,
    canonical_details,
    entry_from_row,
    verify_chain,
)
from bot.store.base import Repository, utc_now
from bot.store.records import (
    TERMINAL,
    ExecutionRow,
    PlanNotFoundError,
    StepNotFoundError,
    StepRow,
    StepStatus,
    StoredPlan,
    execution_row,
    step_row,
    stored_plan,
)
from bot.store.tables import (
    ApprovalRecord,
    AuditLogRecord,
    PlanRecord,
    StepExecutionRecord,
    StepRecord,
)
from planners.model import Plan

__all__ = ["Store"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")

# sqlmodel sets ``__table__`` when it creates a table class; mypy cannot see it.
_PLANS: sa.Table = PlanRecord.__table__  # type: ignore[attr-defined]
_STEPS: sa.Table = StepRecord.__table__  # type: ignore[attr-defined]
_APPROVALS: sa.Table = ApprovalRecord.__table__  # type: ignore[attr-defined]
_EXECUTIONS: sa.Table = StepExecutionRecord.__table__  # type: ignore[attr-defined]
_LOG: sa.Table = AuditLogRecord.__table__  # type: ignore[attr-defined]


class Store(Repository):
    """Plans, steps, approvals and the audit log, shared by threads, processes and replicas.

    Args:
        engine: an engine, best made by :func:`bot.store.db.create_engine` (it sets SQLite up
            for concurrent use). The schema must already be migrated.
        clock: returns the current time, timezone-aware.
    """

    @classmethod
    def from_url(
        cls, url: str, *, upgrade: bool = True, clock: Callable[[], datetime] = utc_now
    ) -> Self:
        """A store on a new engine for ``url``, migrated to the newest schema if ``upgrade``."""
        engine = db.create_engine(url)
        if upgrade:
            db.upgrade(engine)
        return cls(engine, clock=clock)

    # -- plans ---------------------------------------------------------------------------------

    def save_plan(self, plan: Plan, *, mode: str = "approve", actor: str = "backout") -> str:
        """Store ``plan`` as a new plan (status ``proposed``, version 1) with all steps pending.

        Audited as ``plan.created``.

        Returns:
            The new plan id, ``"pl-"`` and 8 hex digits.

        Raises:
            ValueError: two steps of the plan share an id.
        """
        step_ids = [step.id for step in plan.steps]
        if len(set(step_ids)) != len(step_ids):
            raise ValueError(f"plan steps must have distinct ids, got {step_ids}")
        data = plan.to_json_dict()

        def work(conn: sa.Connection) -> str:
            now = self._now()
            plan_id = f"pl-{secrets.token_hex(4)}"
            conn.execute(
                sa.insert(_PLANS).values(
                    id=plan_id,
                    incident_id=plan.incident.id,
                    version=1,
                    plan_json=data,
                    mode=mode,
                    status="proposed",
                    created_at=now,
                    updated_at=now,
                )
            )
            if plan.steps:
                conn.execute(
                    sa.insert(_STEPS),
                    [
                        {
                            "plan_id": plan_id,
                            "step_id": step.id,
                            "position": position,
                            "stage": step.stage.value,
                            "action": step.action.value,
                            "service": step.service,
                            "status": StepStatus.PENDING.value,
                            "attempts": 0,
                            "reason": "",
                            "updated_at": now,
                        }
                        for position, step in enumerate(plan.steps)
                    ],
                )
            details = {
                "incident": plan.incident.id,
                "mode": mode,
                "steps": step_ids,
                "drafted_by": plan.drafted_by,
            }
            append_entry(
                conn, at=now, actor=actor, action="plan.created", subject=plan_id, details=details
            )
            return plan_id

        for _ in range(3):
            try:
                return self._write(work)
            except sa.exc.IntegrityError:
                # Two plans drew the same random id: draw again.
                log.warning("plan id collision; drawing a new id")
        return self._write(work)

    def get_plan(self, plan_id: str) -> StoredPlan:
        """The stored plan with its steps.

        Raises:
            PlanNotFoundError: no plan has this id.
        """
        with self._reading() as conn:
            row = conn.execute(sa.select(_PLANS).where(_PLANS.c.id == plan_id)).one_or_none()
            if row is None:
                raise PlanNotFoundError(plan_id)
            steps = self._step_rows(conn, [plan_id])
        return stored_plan(row, steps.get(plan_id, ()))

    def list_plans(self, *, limit: int = 20) -> list[StoredPlan]:
        """The newest ``limit`` plans, newest first, each with its steps."""
        with self._reading() as conn:
            rows = conn.execute(
                sa.select(_PLANS)
                .order_by(_PLANS.c.created_at.desc(), _PLANS.c.id.desc())
                .limit(limit)
            ).all()
            steps = self._step_rows(conn, [row.id for row in rows])
        return [stored_plan(row, steps.get(row.id, ())) for row in rows]

    def set_plan_status(self, plan_id: str, status: str, *, actor: str, reason: str = "") -> None:
        """Set the plan's status (and bump its version); audited as ``plan.<status>``.

        Raises:
            PlanNotFoundError: no plan has this id.
        """
        if not self._update_plan_status(plan_id, None, status, actor=actor, reason=reason):
            raise PlanNotFoundError(plan_id)

    def transition_plan(
        self,
        plan_id: str,
        *,
        from_statuses: Collection[str],
        to: str,
        actor: str,
        reason: str = "",
    ) -> bool:
        """Compare-and-set the plan's status: only from one of ``from_statuses``.

        Returns:
            True if this call changed the status (and audited ``plan.<to>``), False if the plan
            was in another status or does not exist.
        """
        if not from_statuses:
            raise ValueError("from_statuses must name at least one status")
        return self._update_plan_status(plan_id, from_statuses, to, actor=actor, reason=reason)

    def _update_plan_status(
        self,
        plan_id: str,
        from_statuses: Collection[str] | None,
        status: str,
        *,
        actor: str,
        reason: str,
    ) -> bool:
        def work(conn: sa.Connection) -> bool:
            now = self._now()
            where = [_PLANS.c.id == plan_id]
            if from_statuses is not None:
                where.append(_PLANS.c.status.in_(sorted(from_statuses)))
            changed = conn.execute(
                sa.update(_PLANS)
                .where(*where)
                .values(status=status, version=_PLANS.c.version + 1, updated_at=now)
            )
            if changed.rowcount != 1:
                return False
            details = {"status": status, "reason": reason}
            append_entry(
                conn, at=now, actor=actor, action=f"plan.{status}", subject=plan_id, details=details
            )
            return True

        return self._write(work)

    # -- steps ---------------------------------------------------------------------------------

    def steps(self, plan_id: str) -> list[StepRow]:
        """The plan's steps in plan order.

        Raises:
            PlanNotFoundError: no plan has this id.
        """
        with self._reading() as conn:
            rows = self._step_rows(conn, [plan_id]).get(plan_id, ())
            if not rows:
                self._require_plan(conn, plan_id)
        return list(rows)

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
                if target in TERMINAL:
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

    def steps_in_status(self, statuses: Collection[str], *, limit: int = 100) -> list[StepRow]:
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

    def expired_leases(self, *, limit: int = 100) -> list[StepRow]:
        """Running steps whose lease has run out or was never set (see :meth:`reclaim`).

        Steps without a lease come first, then the longest expired.
        """
        now = self._now()
        with self._reading() as conn:
            rows = conn.execute(
                sa.select(_STEPS)
                .where(
                    _STEPS.c.status == StepStatus.RUNNING.value,
                    sa.or_(_STEPS.c.lease_until.is_(None), _STEPS.c.lease_until < now),
                )
                .order_by(_STEPS.c.lease_until.is_not(None), _STEPS.c.lease_until, _STEPS.c.id)
                .limit(limit)
            ).all()
        return [step_row(row) for row in rows]

    def record_execution(
        self,
        plan_id: str,
        step_id: str,
        *,
        attempt: int,
        phase: str,
        outcome: str,
        detail: str,
        started_at: datetime,
        finished_at: datetime,
    ) -> None:
        """Record one phase (preview, execute, verify, …) of one attempt at a step.

        Raises:
            PlanNotFoundError: no plan has this id.
            StepNotFoundError: the plan has no such step.
        """
        self.record_executions(
            plan_id,
            step_id,
            [
                {
                    "attempt": attempt,
                    "phase": phase,
                    "outcome": outcome,
                    "detail": detail,
                    "started_at": started_at,
                    "finished_at": finished_at,
                }
            ],
        )

    def record_executions(
        self, plan_id: str, step_id: str, phases: Sequence[Mapping[str, Any]]
    ) -> None:
        """Record several phases of a step in one transaction (each a mapping with the keyword
        arguments of :meth:`record_execution`). Nothing is written for an empty list."""
        if not phases:
            return

        def work(conn: sa.Connection) -> None:
            self._require_step(conn, plan_id, step_id)
            conn.execute(
                sa.insert(_EXECUTIONS),
                [
                    {
                        "plan_id": plan_id,
                        "step_id": step_id,
                        "attempt": p["attempt"],
                        "phase": p["phase"],
                        "outcome": p["outcome"],
                        "detail": p["detail"],
                        "started_at": p["started_at"],
                        "finished_at": p["finished_at"],
                    }
                    for p in phases
                ],
            )

        self._write(work)

    def executions(self, plan_id: str) -> list[ExecutionRow]:
        """The plan's recorded step executions, in the order they were recorded."""
        with self._reading() as conn:
            rows = conn.execute(
                sa.select(_EXECUTIONS)
                .where(_EXECUTIONS.c.plan_id == plan_id)
                .order_by(_EXECUTIONS.c.id)
            ).all()
        return [execution_row(row) for row in rows]

    # -- approvals -----------------------------------------------------------------------------

    def add_approvals(
        self,
        plan_id: str,
        *,
        user: str,
        step_ids: Collection[str],
        decision: str = "approve",
    ) -> list[str]:
        """Record ``user``'s decision on each step they have not decided yet.

        A user decides a step once: a second click, even from another replica at the same
        instant, changes nothing (the database's unique key decides). Each new decision is
        audited as ``approval.<decision>``.

        Returns:
            The step ids newly decided by this call, in the order given.

        Raises:
            PlanNotFoundError: no plan has this id.
            StepNotFoundError: the plan has no step with one of these ids (nothing is recorded).
        """
        wanted = list(dict.fromkeys(step_ids))
        with self._reading() as conn:
            known = {row.step_id for row in self._step_rows(conn, [plan_id]).get(plan_id, ())}
            if not known:
                self._require_plan(conn, plan_id)
        for step_id in wanted:
            if step_id not in known:
                raise StepNotFoundError(plan_id, step_id)
        added: list[str] = []
        for step_id in wanted:
            try:
                self._write(self._approval_work(plan_id, step_id, user=user, decision=decision))
            except sa.exc.IntegrityError:
                log.debug("%s already decided %s/%s", user, plan_id, step_id)
                continue
            added.append(step_id)
        return added

    def _approval_work(
        self, plan_id: str, step_id: str, *, user: str, decision: str
    ) -> Callable[[sa.Connection], None]:
        def work(conn: sa.Connection) -> None:
            now = self._now()
            conn.execute(
                sa.insert(_APPROVALS).values(
                    plan_id=plan_id, step_id=step_id, user_id=user, decision=decision, at=now
                )
            )
            append_entry(
                conn,
                at=now,
                actor=user,
                action=f"approval.{decision}",
                subject=f"{plan_id}/{step_id}",
                details={"user": user, "decision": decision},
            )

        return work

    def approvals(self, plan_id: str, *, decision: str = "approve") -> dict[str, frozenset[str]]:
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

    # -- audit ---------------------------------------------------------------------------------

    def audit(
        self,
        *,
        actor: str,
        action: str,
        subject: str,
        details: Mapping[str, Any] | None = None,
    ) -> AuditEntry:
        """Append an entry to the audit log and return it as stored.

        Raises:
            TypeError: ``details`` holds something JSON cannot carry.
        """
        canonical_details(details)  # fail before the transaction, not inside the retry loop

        def work(conn: sa.Connection) -> AuditEntry:
            return append_entry(
                conn, at=self._now(), actor=actor, action=action, subject=subject, details=details
            )

        return self._write(work)

    def audit_entries(
        self, *, subject_prefix: str | None = None, limit: int | None = None
    ) -> list[AuditEntry]:
        """Audit entries, oldest first.

        Args:
            subject_prefix: only entries whose subject starts with this (``"pl-1234abcd"``
                matches the plan and all its steps).
            limit: only the newest ``limit`` matching entries (still oldest first).
        """
        query = sa.select(_LOG)
        if subject_prefix is not None:
            query = query.where(_LOG.c.subject.startswith(subject_prefix, autoescape=True))
        with self._reading() as conn:
            if limit is None:
                rows: Sequence[sa.Row[Any]] = conn.execute(query.order_by(_LOG.c.seq)).all()
            else:
                newest = conn.execute(query.order_by(_LOG.c.seq.desc()).limit(limit)).all()
                rows = newest[::-1]
        return [entry_from_row(row) for row in rows]

    def verify_audit(self) -> AuditCheck:
        """Recompute the whole hash chain and report the first entry that does not verify."""
        with self._reading() as conn:
            if conn.dialect.name == "postgresql":
                # One snapshot for the entries and the head, while other replicas keep appending.
                conn.execution_options(isolation_level="REPEATABLE READ")
            return verify_chain(conn)

    # -- plumbing ------------------------------------------------------------------------------

    def _require_plan(self, conn: sa.Connection, plan_id: str) -> None:
        found = conn.execute(sa.select(_PLANS.c.id).where(_PLANS.c.id == plan_id)).first()
        if found is None:
            raise PlanNotFoundError(plan_id)

    def _require_step(self, conn: sa.Connection, plan_id: str, step_id: str) -> None:
        found = conn.execute(
            sa.select(_STEPS.c.id).where(_STEPS.c.plan_id == plan_id, _STEPS.c.step_id == step_id)
        ).first()
        if found is None:
            self._require_plan(conn, plan_id)
            raise StepNotFoundError(plan_id, step_id)

    @staticmethod
    def _step_rows(conn: sa.Connection, plan_ids: Sequence[str]) -> dict[str, tuple[StepRow, ...]]:
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
