"""Due work as rows: every reminder, expiry or watch that must happen once, whichever replica
gets to it (DESIGN.md, "Several replicas").

APScheduler only ticks, in memory, in each replica; what is due lives here. A job is a row with
its due time, kind, payload, idempotency key, attempts and last error:

* :meth:`Jobs.schedule` stores it once per key (by any replica, at any time).
* :meth:`Jobs.claim_due` hands each due job to one worker with a compare-and-set
  ``UPDATE … WHERE status = …`` per row (no ``SELECT … FOR UPDATE``, which SQLite ignores) and a
  lease. Claiming counts an attempt. A running job whose lease ran out (its worker died) is
  claimed again, unless that was its last attempt: then it is failed.
* :meth:`Jobs.done`, :meth:`Jobs.retry` and :meth:`Jobs.fail` are fenced: only the worker that
  holds the claim can finish a job, so a worker that stalled past its lease, whose job another
  took over, cannot overwrite that one's outcome. A job retried after its last attempt is
  ``failed`` and stays, with its last error, to be seen (``backout jobs list --failed``).

A claim is exactly once; the handler's effect is at least once (a worker can die after the
effect and before :meth:`Jobs.done`), so handlers should be idempotent.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa

from bot.store.audit import canonical_details
from bot.store.base import Repository
from bot.store.tables import JobRecord

__all__ = ["Job", "JobStatus", "Jobs"]

log = logging.getLogger(__name__)

# sqlmodel sets ``__table__`` when it creates a table class; mypy cannot see it.
_JOBS: sa.Table = JobRecord.__table__  # type: ignore[attr-defined]

_ABANDONED = "its worker stopped during the last attempt (the lease ran out)"


class JobStatus(StrEnum):
    """Where a job is in its life: ``queued`` → ``running`` → ``done`` or ``failed`` (or back to
    ``queued`` to be retried); a queued job can be ``cancelled``."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Job:
    """A piece of due work and its state. ``attempts`` counts the claims made so far."""

    id: int
    key: str
    kind: str
    payload: Mapping[str, Any]
    status: JobStatus
    attempts: int
    max_attempts: int
    due_at: datetime
    claimed_by: str | None
    lease_until: datetime | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


class Jobs(Repository):
    """Due work shared by every replica: scheduled once per key, claimed once per attempt.

    Thread-safe: each call runs in its own connection and transaction.

    Args:
        engine: an engine, best made by :func:`bot.store.db.create_engine`, on a database
            migrated to the newest schema.
        clock: returns the current time, timezone-aware.
    """

    def schedule(
        self,
        kind: str,
        *,
        key: str,
        due_at: datetime,
        payload: Mapping[str, Any] | None = None,
        max_attempts: int = 5,
    ) -> bool:
        """Store the job ``kind(payload)``, due at ``due_at``, unless ``key`` is already stored.

        ``key`` is the idempotency key: scheduling with a key already used (by any replica, at any
        time until the job is pruned) stores nothing, whatever that job's state.

        Returns:
            True if this call stored the job; False if the key was there.

        Raises:
            ValueError: an empty kind or key, ``max_attempts`` below 1, or a naive ``due_at``.
            TypeError: ``payload`` holds something JSON cannot carry.
        """
        if not kind or not key:
            raise ValueError("a job needs a kind and a key")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, not {max_attempts}")
        if due_at.tzinfo is None or due_at.utcoffset() is None:
            raise ValueError(f"naive due time {due_at!r}: give a timezone-aware one")
        data = canonical_details(payload or {})

        def work(conn: sa.Connection) -> None:
            now = self._now()
            conn.execute(
                sa.insert(_JOBS).values(
                    key=key,
                    kind=kind,
                    payload=data,
                    status=JobStatus.QUEUED.value,
                    attempts=0,
                    max_attempts=max_attempts,
                    due_at=due_at,
                    created_at=now,
                    updated_at=now,
                )
            )

        try:
            self._write(work)
        except sa.exc.IntegrityError:
            log.debug("job key %s already scheduled", key)
            return False
        return True

    def claim_due(self, *, worker: str, limit: int = 10, lease_seconds: float = 60) -> list[Job]:
        """Claim up to ``limit`` due jobs for ``worker`` to run, earliest due first.

        Due means queued with ``due_at`` reached, or running with a lease that has run out (its
        worker died) and attempts left; a running job whose lease ran out on its last attempt is
        failed instead. Each row is claimed with its own compare-and-set ``UPDATE`` that repeats
        the due condition, so of any number of workers racing, one gets each row. A claimed job
        is ``running``, held by ``worker`` until ``lease_seconds`` from now, with one more attempt.

        Returns:
            The jobs this worker claimed, as claimed.
        """
        if limit < 1:
            return []

        def work(conn: sa.Connection) -> list[Job]:
            now = self._now()
            expired = sa.and_(
                _JOBS.c.status == JobStatus.RUNNING.value,
                sa.or_(_JOBS.c.lease_until.is_(None), _JOBS.c.lease_until < now),
            )
            conn.execute(
                sa.update(_JOBS)
                .where(expired, _JOBS.c.attempts >= _JOBS.c.max_attempts)
                .values(
                    status=JobStatus.FAILED.value,
                    last_error=_ABANDONED,
                    lease_until=None,
                    updated_at=now,
                    finished_at=now,
                )
            )
            due = sa.or_(
                sa.and_(_JOBS.c.status == JobStatus.QUEUED.value, _JOBS.c.due_at <= now),
                sa.and_(expired, _JOBS.c.attempts < _JOBS.c.max_attempts),
            )
            candidates = conn.execute(
                sa.select(_JOBS.c.id).where(due).order_by(_JOBS.c.due_at, _JOBS.c.id).limit(limit)
            ).scalars()
            lease = now + timedelta(seconds=lease_seconds)
            claimed: list[int] = []
            for job_id in list(candidates):
                changed = conn.execute(
                    sa.update(_JOBS)
                    .where(_JOBS.c.id == job_id, due)
                    .values(
                        status=JobStatus.RUNNING.value,
                        claimed_by=worker,
                        lease_until=lease,
                        attempts=_JOBS.c.attempts + 1,
                        updated_at=now,
                    )
                )
                if changed.rowcount == 1:
                    claimed.append(job_id)
            if not claimed:
                return []
            rows = conn.execute(
                sa.select(_JOBS).where(_JOBS.c.id.in_(claimed)).order_by(_JOBS.c.due_at, _JOBS.c.id)
            ).all()
            return [_job(row) for row in rows]

        jobs = self._write(work)
        if jobs:
            log.debug("%s claimed jobs %s", worker, [job.id for job in jobs])
        return jobs

    def done(self, job_id: int, *, worker: str) -> bool:
        """Record that ``worker`` finished the job it holds.

        Its lease may have run out meanwhile: as long as nobody else claimed the job, the work
        was done and is recorded.

        Returns:
            True if this call recorded it; False if ``worker`` does not hold the job (anymore).
        """

        def work(conn: sa.Connection) -> bool:
            now = self._now()
            changed = conn.execute(
                sa.update(_JOBS)
                .where(*_held(job_id, worker))
                .values(
                    status=JobStatus.DONE.value, lease_until=None, updated_at=now, finished_at=now
                )
            )
            return changed.rowcount == 1

        return self._write(work)

    def retry(self, job_id: int, *, worker: str, error: str, delay: float) -> JobStatus | None:
        """Record that the attempt ``worker`` holds failed with ``error``: the job is queued again,
        due ``delay`` seconds from now, or ``failed`` (kept, with ``error``) if that was its last
        attempt.

        Returns:
            The job's new status, or None if ``worker`` does not hold the job (anymore).
        """

        def work(conn: sa.Connection) -> JobStatus | None:
            now = self._now()
            failed = conn.execute(
                sa.update(_JOBS)
                .where(*_held(job_id, worker), _JOBS.c.attempts >= _JOBS.c.max_attempts)
                .values(
                    status=JobStatus.FAILED.value,
                    last_error=error,
                    lease_until=None,
                    updated_at=now,
                    finished_at=now,
                )
            )
            if failed.rowcount == 1:
                return JobStatus.FAILED
            queued = conn.execute(
                sa.update(_JOBS)
                .where(*_held(job_id, worker))
                .values(
                    status=JobStatus.QUEUED.value,
                    due_at=now + timedelta(seconds=delay),
                    last_error=error,
                    claimed_by=None,
                    lease_until=None,
                    updated_at=now,
                )
            )
            return JobStatus.QUEUED if queued.rowcount == 1 else None

        return self._write(work)

    def fail(self, job_id: int, *, worker: str, error: str) -> bool:
        """Give up on the job ``worker`` holds, whatever attempts it has left: it stays
        ``failed`` with ``error``.

        Returns:
            True if this call failed it; False if ``worker`` does not hold the job (anymore).
        """

        def work(conn: sa.Connection) -> bool:
            now = self._now()
            changed = conn.execute(
                sa.update(_JOBS)
                .where(*_held(job_id, worker))
                .values(
                    status=JobStatus.FAILED.value,
                    last_error=error,
                    lease_until=None,
                    updated_at=now,
                    finished_at=now,
                )
            )
            return changed.rowcount == 1

        return self._write(work)

    def cancel(self, key: str) -> bool:
        """Cancel the queued job under ``key`` (one already running cannot be stopped). The key
        stays taken: scheduling it again stores nothing.

        Returns:
            True if this call cancelled it.
        """

        def work(conn: sa.Connection) -> bool:
            now = self._now()
            changed = conn.execute(
                sa.update(_JOBS)
                .where(_JOBS.c.key == key, _JOBS.c.status == JobStatus.QUEUED.value)
                .values(status=JobStatus.CANCELLED.value, updated_at=now, finished_at=now)
            )
            return changed.rowcount == 1

        return self._write(work)

    def get(self, key: str) -> Job | None:
        """The job under ``key``, or ``None``."""
        with self._reading() as conn:
            row = conn.execute(sa.select(_JOBS).where(_JOBS.c.key == key)).one_or_none()
        return None if row is None else _job(row)

    def listing(self, status: str | None = None, *, limit: int = 50) -> list[Job]:
        """Up to ``limit`` jobs (only those in ``status`` if given), most recently changed first.

        Raises:
            ValueError: an unknown status.
        """
        query = sa.select(_JOBS)
        if status is not None:
            query = query.where(_JOBS.c.status == JobStatus(status).value)
        query = query.order_by(_JOBS.c.updated_at.desc(), _JOBS.c.id.desc()).limit(limit)
        with self._reading() as conn:
            rows = conn.execute(query).all()
        return [_job(row) for row in rows]

    def counts(self) -> dict[str, int]:
        """How many jobs are in each status, by the status's value (every status, zero included)."""
        with self._reading() as conn:
            rows = conn.execute(
                sa.select(_JOBS.c.status, sa.func.count()).group_by(_JOBS.c.status)
            ).all()
        found = {str(status): int(count) for status, count in rows}
        return {status.value: found.get(status.value, 0) for status in JobStatus}

    def prune(self, *, older_than: timedelta, limit: int = 5000) -> int:
        """Delete up to ``limit`` jobs done or cancelled more than ``older_than`` ago, oldest first
        (failed ones stay, to be seen; a pruned key can be scheduled again).

        Returns:
            How many were deleted.
        """
        finished = [JobStatus.DONE.value, JobStatus.CANCELLED.value]

        def work(conn: sa.Connection) -> int:
            cutoff = self._now() - older_than
            oldest = (
                sa.select(_JOBS.c.id)
                .where(_JOBS.c.status.in_(finished), _JOBS.c.finished_at < cutoff)
                .order_by(_JOBS.c.finished_at, _JOBS.c.id)
                .limit(limit)
            )
            ids = conn.execute(oldest).scalars().all()
            if not ids:
                return 0
            return conn.execute(sa.delete(_JOBS).where(_JOBS.c.id.in_(ids))).rowcount

        return self._write(work)


def _held(job_id: int, worker: str) -> tuple[sa.ColumnElement[bool], ...]:
    """The fence: the job is running and claimed by ``worker``."""
    return (
        _JOBS.c.id == job_id,
        _JOBS.c.status == JobStatus.RUNNING.value,
        _JOBS.c.claimed_by == worker,
    )


def _job(row: sa.Row[Any]) -> Job:
    return Job(
        id=row.id,
        key=row.key,
        kind=row.kind,
        payload=row.payload,
        status=JobStatus(row.status),
        attempts=row.attempts,
        max_attempts=row.max_attempts,
        due_at=row.due_at,
        claimed_by=row.claimed_by,
        lease_until=row.lease_until,
        last_error=row.last_error,
        created_at=row.created_at,
        updated_at=row.updated_at,
        finished_at=row.finished_at,
    )
