"""The job runner: what the scheduler's tick does with the due work stored as rows.

Every few seconds each replica's APScheduler (in memory, only a ticker) calls
:meth:`JobRunner.tick`. The tick claims due jobs from the store (:class:`bot.store.Jobs`: a
compare-and-set per row, so each is claimed by one replica), runs each through the handler
registered for its kind, and records the outcome: done; or retried with exponential backoff,
capped; or, after its last attempt, failed and kept, visible in ``backout jobs list --failed``
and ``/metrics``. A failure is logged with a short reference that its stored error repeats. A
kind with no handler fails at once. A handler that raises a
:class:`~integrations.errors.PermanentIntegrationError` fails the job at once; a
:class:`~integrations.errors.TemporaryIntegrationError` waits at least its ``retry_after``.

Handlers run one after the other on the ticking thread; a claim whose lease ran out before its
turn (the handlers before it were slow) is not started, since another replica may hold it now.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.core.ports import Clock
from bot.store import Job, JobStatus, Store
from integrations.errors import PermanentIntegrationError, TemporaryIntegrationError

__all__ = ["Backoff", "Handler", "JobRunner", "worker_name"]

log = logging.getLogger(__name__)

Handler = Callable[[Mapping[str, Any]], None]
"""Runs one job of a kind, given its payload; raises to have it retried."""


@dataclass(frozen=True, kw_only=True)
class Backoff:
    """Exponential backoff: ``first`` seconds after the first failed attempt, times ``factor``
    after each further one, never more than ``cap``."""

    first: float = 10.0
    factor: float = 2.0
    cap: float = 900.0

    def __call__(self, attempt: int) -> float:
        """The delay after failed attempt number ``attempt`` (1 for the first)."""
        exponent = min(max(attempt - 1, 0), 64)  # past 64 doublings any cap is reached
        return min(self.first * self.factor**exponent, self.cap)


def worker_name() -> str:
    """A name for this process's runner in claims: host, process id and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class JobRunner:
    """Runs the due jobs of the kinds it has handlers for.

    Args:
        store: where the jobs are.
        handlers: the handler of each kind.
        worker: this runner's name in claims; unique among every replica's runners.
        clock: the current time, the store's (a claim's lease is read against it).
        backoff: the delay, in seconds, after failed attempt number ``n``.
        batch: how many jobs one claim takes.
        lease_seconds: how long a claim holds a job before another replica may take it over;
            a handler should finish well within it.
    """

    def __init__(
        self,
        store: Store,
        handlers: Mapping[str, Handler],
        *,
        worker: str,
        clock: Clock,
        backoff: Callable[[int], float] = Backoff(),
        batch: int = 10,
        lease_seconds: float = 60.0,
    ) -> None:
        self.store = store
        self.handlers = dict(handlers)
        self.worker = worker
        self._clock = clock
        self._backoff = backoff
        self._batch = batch
        self._lease_seconds = lease_seconds

    def tick(self, *, limit: int = 100) -> int:
        """Claim and run due jobs until none is left or ``limit`` were claimed.

        Returns:
            How many jobs were run (whether they succeeded, were retried or failed).
        """
        ran = claims = 0
        while claims < limit:
            claimed = self.store.jobs.claim_due(
                worker=self.worker,
                limit=min(self._batch, limit - claims),
                lease_seconds=self._lease_seconds,
            )
            if not claimed:
                break
            claims += len(claimed)
            for job in claimed:
                if job.lease_until is not None and self._clock() >= job.lease_until:
                    log.warning(
                        "job %s (%s): lease ran out before its turn; left", job.key, job.kind
                    )
                    continue
                self._run(job)
                ran += 1
        return ran

    def _run(self, job: Job) -> None:
        handler = self.handlers.get(job.kind)
        if handler is None:
            known = ", ".join(sorted(self.handlers)) or "none"
            error = f"no handler for job kind {job.kind!r} (known kinds: {known})"
            log.error("job %s: %s", job.key, error)
            self.store.jobs.fail(job.id, worker=self.worker, error=error)
            return
        try:
            handler(job.payload)
        except Exception as exc:  # the scheduler's job wrapper: record, retry, never crash the tick
            self._failed(job, exc)
            return
        if not self.store.jobs.done(job.id, worker=self.worker):
            log.warning("job %s (%s): ran, but another worker holds it now", job.key, job.kind)

    def _failed(self, job: Job, exc: Exception) -> None:
        ref = uuid.uuid4().hex[:8]
        error = f"{type(exc).__name__}: {exc} (ref {ref})"
        if isinstance(exc, PermanentIntegrationError):
            log.error("job %s (%s) failed for good (ref %s)", job.key, job.kind, ref, exc_info=exc)
            self.store.jobs.fail(job.id, worker=self.worker, error=error)
            return
        delay = self._backoff(job.attempts)
        if isinstance(exc, TemporaryIntegrationError) and exc.retry_after is not None:
            delay = max(delay, exc.retry_after)
        status = self.store.jobs.retry(job.id, worker=self.worker, error=error, delay=delay)
        if status is None:
            log.warning(
                "job %s (%s) failed (ref %s), but another worker holds it now",
                job.key,
                job.kind,
                ref,
                exc_info=exc,
            )
        elif status is JobStatus.FAILED:
            log.error(
                "job %s (%s) failed on its last attempt %d (ref %s)",
                job.key,
                job.kind,
                job.attempts,
                ref,
                exc_info=exc,
            )
        else:
            log.warning(
                "job %s (%s) failed on attempt %d of %d, retried in %.0fs (ref %s)",
                job.key,
                job.kind,
                job.attempts,
                job.max_attempts,
                delay,
                ref,
                exc_info=exc,
            )
