"""The execution engine: runs a stored plan's approved steps, safely, once each.

Every step goes through: **claim** (a compare-and-set on its row, so two replicas or a double click
never both run it), **reconcile** (ask the executor where the target is: already there means done
without acting), **preview** (dry run), **execute**, **verify** (health of the step's services),
**record**. Independent steps run in parallel (bounded); a step starts when everything in its
``after`` list has finished. A failed step or failed verification halts the plan: nothing new
starts, what did not run stays as it was, and the reason is kept; ``retry``, ``skip`` and
``abort`` are explicit. After each stage the incident's services are verified: once healthy, the
later stages are marked not needed.

Crash safety: a running step holds a lease that a heartbeat renews. After a crash its lease
expires, another engine (or the same one restarted) reclaims it by compare-and-set and reconciles
it through ``current_state`` (done, or still rolling out, or not applied yet), so it is never
executed blindly a second time.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot.core.health import HealthGate, HealthResult, always_healthy
from bot.core.simulation import operation_for
from bot.lifecycle import FINISHED, PlanStatus, StepStatus
from bot.store import StepRow, Store, StoredPlan
from integrations.base import Executor, Operation, TargetState
from integrations.errors import IntegrationError, TemporaryIntegrationError
from planners.model import Stage, Step

__all__ = [
    "Engine",
    "EngineConfig",
    "RunReport",
]

log = logging.getLogger(__name__)

_STAGES = (Stage.CONTAIN, Stage.PARTIAL, Stage.FULL)
_FINISHED_OK = frozenset({StepStatus.DONE, StepStatus.SKIPPED})
_SETTLED = frozenset(
    {StepStatus.DONE, StepStatus.SKIPPED, StepStatus.NOT_NEEDED, StepStatus.ABORTED}
)


@dataclass(frozen=True, kw_only=True)
class EngineConfig:
    """Tuning of the engine.

    Attributes:
        max_parallel: how many steps may run at once.
        lease_seconds: how long a claim lasts without a heartbeat; after a crash, the wait before
            another engine reclaims a running step.
        max_attempts: tries of a step on temporary errors (the first one included).
        backoff_seconds: first wait between tries; doubles each time, capped at ``backoff_cap``.
        backoff_cap: longest wait between tries.
        settle_seconds: how long to wait for an executor's in-progress change when reconciling.
    """

    max_parallel: int = 4
    lease_seconds: float = 60.0
    max_attempts: int = 3
    backoff_seconds: float = 2.0
    backoff_cap: float = 60.0
    settle_seconds: float = 300.0


@dataclass(frozen=True, kw_only=True)
class RunReport:
    """Where a run left the plan: its status and each step's."""

    plan_id: str
    status: PlanStatus
    steps: Mapping[str, str]
    reasons: Mapping[str, str] = field(default_factory=dict)


class _StepFailed(Exception):
    """A step failed for a reason worth showing the humans."""


class _ClaimLost(Exception):
    """This engine no longer holds the step (its lease ran out, or another replica reclaimed
    it): it stops without acting or recording an outcome; the holder finishes the step."""


class Engine:
    """Runs plans from the store through executors and health gates.

    Args:
        store: where plans, steps, executions and the audit log live.
        executors: executor instances by name (the ``executor`` of a plan step).
        health: verifies services after each step and each stage.
        worker: this engine's name in claims (unique per process).
        config: tuning.
        sleep: injected for tests.
        on_change: called with the plan id and step id whenever this engine changes a step's
            status (to update a Slack message); its errors are logged, never raised.
        recheck: asked before a queued step is claimed; a reason sends the step back to
            ``pending`` (its approvals no longer hold) instead of running it.
        preflight: asked, with a step's services, before the step changes anything; a reason
            (their health checks cannot run) fails the step unstarted, saying why, instead of
            changing production and then failing to verify it.
    """

    def __init__(
        self,
        *,
        store: Store,
        executors: Mapping[str, Executor],
        health: HealthGate = always_healthy,
        worker: str | None = None,
        config: EngineConfig | None = None,
        sleep: Callable[[float], None] = time.sleep,
        on_change: Callable[[str, str], None] | None = None,
        recheck: Callable[[str, Step], str | None] | None = None,
        preflight: Callable[[Sequence[str]], str | None] | None = None,
    ) -> None:
        self.store = store
        self.on_change = on_change
        self.recheck = recheck
        self.preflight = preflight
        self.executors = dict(executors)
        self.health = health
        self.worker = worker or f"engine-{uuid.uuid4().hex[:8]}"
        self.config = config or EngineConfig()
        self.sleep = sleep
        self._held: set[tuple[str, str]] = set()
        self._gated: set[tuple[str, Stage]] = set()  # stage gates this engine has checked
        self._held_lock = threading.Lock()

    # -- commands ---------------------------------------------------------------------------

    def queue(self, plan_id: str, step_ids: Sequence[str], *, actor: str) -> list[str]:
        """Mark approved steps ready to run; returns those that moved from pending to queued."""
        return [
            step_id
            for step_id in step_ids
            if self.store.steps.transition(
                plan_id,
                step_id,
                from_statuses=[StepStatus.PENDING],
                to=StepStatus.QUEUED,
                actor=actor,
                reason="approved",
            )
        ]

    def retry(self, plan_id: str, step_id: str, *, actor: str) -> bool:
        """Put a failed step back in the queue and resume the plan."""
        ok = self.store.steps.transition(
            plan_id,
            step_id,
            from_statuses=[StepStatus.FAILED],
            to=StepStatus.QUEUED,
            actor=actor,
            reason="retry requested",
        )
        if ok:
            self.store.plans.move(
                plan_id, PlanStatus.RUNNING, actor=actor, reason=f"retry {step_id}"
            )
        return ok

    def skip(self, plan_id: str, step_id: str, *, actor: str) -> bool:
        """Give up on a failed (or not yet run) step and let the plan go on without it."""
        ok = self.store.steps.transition(
            plan_id,
            step_id,
            from_statuses=[StepStatus.FAILED, StepStatus.PENDING, StepStatus.QUEUED],
            to=StepStatus.SKIPPED,
            actor=actor,
            reason="skip requested",
        )
        if ok:
            self.store.plans.move(
                plan_id, PlanStatus.RUNNING, actor=actor, reason=f"skip {step_id}"
            )
        return ok

    def abort(
        self,
        plan_id: str,
        *,
        actor: str,
        reason: str = "abort requested",
        status: PlanStatus = PlanStatus.ABORTED,
    ) -> list[str]:
        """Stop the plan: every step that has not started is aborted (running steps finish) and
        the plan ends in ``status`` (``aborted``, or ``rejected`` when nothing of it ran)."""
        aborted = [
            row.step_id
            for row in self.store.steps.of(plan_id)
            if self.store.steps.transition(
                plan_id,
                row.step_id,
                from_statuses=[StepStatus.PENDING, StepStatus.QUEUED, StepStatus.FAILED],
                to=StepStatus.ABORTED,
                actor=actor,
                reason=reason,
            )
        ]
        self.store.plans.move(plan_id, status, actor=actor, reason=reason)
        return aborted

    # -- running ------------------------------------------------------------------------------

    def run(self, plan_id: str) -> RunReport:
        """Run every queued step whose dependencies are met, until nothing more can start.

        Returns when the plan is finished, halted by a failure, or waiting for approvals.
        Steps left running by a crashed engine are reclaimed once their lease expires.
        """
        stored = self.store.plans.get(plan_id)
        steps = {s.id: s for s in stored.plan.steps}
        if stored.status in FINISHED:
            return self._report(plan_id, halted=False)
        self.store.plans.move(plan_id, PlanStatus.RUNNING, actor=self.worker)
        with self._heartbeat(), ThreadPoolExecutor(self.config.max_parallel) as pool:
            running: dict[Future[None], str] = {}
            # The steps' rows are kept between wakes: a wake reads again only the steps that
            # finished; everything is read again when a claim was lost, a wait timed out, a stage
            # gate acted, or before concluding that nothing more can start (others may have
            # queued, aborted or reclaimed steps meanwhile).
            rows = {r.step_id: r for r in self.store.steps.of(plan_id)}
            fresh = True
            while True:
                halted = any(r.status == StepStatus.FAILED for r in rows.values())
                if not halted and self._stage_gate(stored, steps, rows):
                    rows, fresh = {r.step_id: r for r in self.store.steps.of(plan_id)}, True
                    continue
                started = lost = False
                if not halted:
                    for step_id in self._ready(steps, rows, busy=set(running.values())):
                        if len(running) >= self.config.max_parallel:
                            break
                        started = True
                        if self._claim(plan_id, rows[step_id], steps[step_id]):
                            running[pool.submit(self._run_step, plan_id, steps[step_id])] = step_id
                        else:
                            lost = True
                if running:
                    done, _ = wait(
                        list(running),
                        timeout=self.config.lease_seconds / 3,
                        return_when=FIRST_COMPLETED,
                    )
                    finished = [running.pop(future) for future in done]
                    for future in done:
                        future.result()
                    if lost or not done:
                        rows, fresh = {r.step_id: r for r in self.store.steps.of(plan_id)}, True
                    else:
                        rows |= {r.step_id: r for r in self.store.steps.some(plan_id, finished)}
                        fresh = False
                    continue
                if started or not fresh:
                    rows, fresh = {r.step_id: r for r in self.store.steps.of(plan_id)}, True
                    continue
                if self._orphans(rows):
                    self.sleep(min(1.0, self.config.lease_seconds / 4))
                    rows, fresh = {r.step_id: r for r in self.store.steps.of(plan_id)}, True
                    continue
                return self._report(plan_id, halted=halted)

    def _ready(
        self, steps: Mapping[str, Step], rows: Mapping[str, StepRow], *, busy: set[str]
    ) -> list[str]:
        ready = []
        for step_id, step in steps.items():
            row = rows[step_id]
            if step_id in busy:
                continue
            deps_ok = all(rows[a].status in _FINISHED_OK for a in step.after)
            queued = row.status == StepStatus.QUEUED and deps_ok
            orphaned = row.status == StepStatus.RUNNING and self._lease_expired(row)
            if queued or orphaned:
                ready.append(step_id)
        return ready

    def _orphans(self, rows: Mapping[str, StepRow]) -> bool:
        """Steps another (perhaps dead) engine holds: wait for them rather than return."""
        return any(r.status == StepStatus.RUNNING for r in rows.values())

    def _lease_expired(self, row: StepRow) -> bool:
        return row.lease_until is None or row.lease_until < datetime.now(UTC)

    def _claim(self, plan_id: str, row: StepRow, step: Step) -> bool:
        """Compare-and-set: queued (or running with an expired lease) becomes ours, unless the
        step's approvals no longer hold (then it goes back to pending, with the reason)."""
        queued = row.status == StepStatus.QUEUED
        lapsed = self.recheck(plan_id, step) if self.recheck and queued else None
        if lapsed:
            if self.store.steps.transition(
                plan_id,
                row.step_id,
                from_statuses=[StepStatus.QUEUED],
                to=StepStatus.PENDING,
                actor=self.worker,
                reason=lapsed,
            ):
                self._changed(plan_id, row.step_id)
            return False
        if row.status == StepStatus.RUNNING:
            ok = self.store.steps.reclaim(
                plan_id,
                row.step_id,
                worker=self.worker,
                lease_seconds=self.config.lease_seconds,
                actor=self.worker,
            )
        else:
            ok = self.store.steps.transition(
                plan_id,
                row.step_id,
                from_statuses=[StepStatus.QUEUED],
                to=StepStatus.RUNNING,
                actor=self.worker,
                worker=self.worker,
                lease_seconds=self.config.lease_seconds,
            )
        if ok:
            with self._held_lock:
                self._held.add((plan_id, row.step_id))
            self._changed(plan_id, row.step_id)
        return ok

    def _run_step(self, plan_id: str, step: Step) -> None:
        """Run one claimed step to done or failed. The engine's job wrapper: nothing escapes."""
        try:
            status, reason, result = self._attempts(plan_id, step)
        except _ClaimLost as exc:
            log.warning("step %s/%s: not acting: %s", plan_id, step.id, exc)
            with self._held_lock:
                self._held.discard((plan_id, step.id))
            return
        except _StepFailed as exc:
            status, reason, result = StepStatus.FAILED, str(exc), {}
        except Exception as exc:  # the job wrapper: record, never crash the engine
            ref = uuid.uuid4().hex[:8]
            log.exception("step %s/%s crashed (ref %s)", plan_id, step.id, ref)
            status, reason, result = StepStatus.FAILED, f"internal error (ref {ref}): {exc}", {}
        finally:
            with self._held_lock:
                self._held.discard((plan_id, step.id))
        if self.store.steps.transition(
            plan_id,
            step.id,
            from_statuses=[StepStatus.RUNNING],
            to=status,
            actor=self.worker,
            worker=self.worker,
            reason=reason,
            result=result,
        ):
            self._changed(plan_id, step.id)

    def _attempts(self, plan_id: str, step: Step) -> tuple[StepStatus, str, dict[str, object]]:
        executor = self._executor(step)
        operation = operation_for(plan_id, step)
        delay = self.config.backoff_seconds
        for attempt in range(1, self.config.max_attempts + 1):
            phases: list[dict[str, object]] = []
            started: list[int] = []  # the execute record written before the executor acted
            try:
                return self._once(plan_id, step, executor, operation, attempt, phases, started)
            except _ClaimLost:
                phases.clear()  # the step is another engine's now: nothing of ours to record
                raise
            except TemporaryIntegrationError as exc:
                if attempt == self.config.max_attempts:
                    raise _StepFailed(
                        f"temporary failure, gave up after {attempt} tries: {exc}"
                    ) from exc
                wait_for = min(exc.retry_after or delay, self.config.backoff_cap)
                log.warning("step %s/%s: %s; retrying in %.1f s", plan_id, step.id, exc, wait_for)
                self.sleep(wait_for)
                delay = min(delay * 2, self.config.backoff_cap)
            except IntegrationError as exc:
                raise _StepFailed(f"permanent failure: {exc}") from exc
            finally:  # the rest of the attempt's phases, completing its execute record
                self.store.steps.record_executions(
                    plan_id, step.id, phases, started=started[0] if started else None
                )
        raise AssertionError("unreachable")  # pragma: no cover

    def _once(
        self,
        plan_id: str,
        step: Step,
        executor: Executor,
        operation: Operation,
        attempt: int,
        phases: list[dict[str, object]],
        started: list[int],
    ) -> tuple[StepStatus, str, dict[str, object]]:
        """One attempt: reconcile, then (unless already at target) preview and execute, then
        verify. Before the executor acts, the phases so far and the execute phase's start are
        written, fenced by the claim: a crash after the change leaves its record, and an engine
        that no longer holds the step (its lease ran out, another replica reclaimed it) does
        not act."""

        def phase(name: str) -> AbstractContextManager[None]:
            return _phase(phases, attempt, name)

        services = list(step.verify.get("services", (step.service,)))
        unverifiable = self.preflight(services) if self.preflight else None
        if unverifiable:
            raise _StepFailed(f"not started: its verification cannot run: {unverifiable}")
        with phase("reconcile"):
            state = executor.current_state(operation)
        if state.in_progress:
            with phase("settle"):
                state = self._settle(executor, operation)
        notes: tuple[str, ...] = ()
        if state.at_target:
            summary = f"already at target ({state.current or state.detail or 'no change needed'})"
        else:
            with phase("preview"):
                preview = executor.preview(operation)
            record = self.store.steps.begin_execute(
                plan_id, step.id, worker=self.worker, attempt=attempt, phases=phases
            )
            if record is None:
                raise _ClaimLost(f"{plan_id}/{step.id}: the claim is no longer {self.worker}'s")
            phases.clear()
            started.append(record)
            with phase("execute"):
                outcome = executor.execute(operation)
            summary = outcome.summary or preview.summary
            notes = outcome.notes
        with phase("verify"):
            verdict = self.health(services)
        if not verdict.healthy:
            raise _StepFailed(f"{summary}; verification failed: {verdict.reason}")
        return StepStatus.DONE, summary, {"notes": list(notes), "verified": verdict.reason}

    def _settle(self, executor: Executor, operation: Operation) -> TargetState:
        deadline = time.monotonic() + self.config.settle_seconds
        while True:
            state = executor.current_state(operation)
            if not state.in_progress:
                return state
            if time.monotonic() > deadline:
                raise _StepFailed(f"still in progress after {self.config.settle_seconds:.0f} s")
            self.sleep(min(2.0, self.config.settle_seconds / 10))

    def _executor(self, step: Step) -> Executor:
        if step.executor is None:
            raise _StepFailed("no executor for this step: it is done by hand (mark it with skip)")
        try:
            return self.executors[step.executor]
        except KeyError:
            known = ", ".join(sorted(self.executors)) or "none"
            raise _StepFailed(
                f"executor {step.executor!r} is not configured (configured: {known})"
            ) from None

    # -- stages ------------------------------------------------------------------------------

    def _stage_gate(
        self, stored: StoredPlan, steps: Mapping[str, Step], rows: Mapping[str, StepRow]
    ) -> bool:
        """After a finished stage, verify the incident; if healthy with evidence from every
        service, later stages are not needed. A service no check can judge keeps them waiting for
        approval, and the audit entry names it.

        Returns True when it changed something (the caller re-reads the rows).
        """
        for index, stage in enumerate(_STAGES[:-1]):
            in_stage = [s for s in steps if steps[s].stage == stage]
            later = [
                s
                for s in steps
                if _STAGES.index(steps[s].stage) > index
                and rows[s].status in (StepStatus.PENDING, StepStatus.QUEUED)
            ]
            finished = in_stage and all(rows[s].status in _FINISHED_OK for s in in_stage)
            if not (finished and later):
                continue
            gate_key = f"stage-gate:{stage.value}"
            with self._held_lock:
                if (stored.id, stage) in self._gated:
                    continue
                self._gated.add((stored.id, stage))
            services = list(stored.plan.incident.services)
            try:
                verdict = self.health(services)
            except IntegrationError as exc:
                verdict = HealthResult(healthy=False, reason=f"cannot verify: {exc}")
            self.store.audit.append(
                actor=self.worker,
                action=gate_key,
                subject=stored.id,
                details={
                    "healthy": verdict.healthy,
                    "reason": verdict.reason,
                    "unchecked": list(verdict.unchecked),
                },
            )
            if verdict.evidenced:
                why = f"healthy after stage {stage.value} ({verdict.reason})"
                for step_id in later:
                    if self.store.steps.transition(
                        stored.id,
                        step_id,
                        from_statuses=[StepStatus.PENDING, StepStatus.QUEUED],
                        to=StepStatus.NOT_NEEDED,
                        actor=self.worker,
                        reason=why,
                    ):
                        self._changed(stored.id, step_id)
                return True
        return False

    def _report(self, plan_id: str, *, halted: bool) -> RunReport:
        rows = self.store.steps.of(plan_id)
        if halted:
            status = PlanStatus.HALTED
        elif all(r.status in _SETTLED for r in rows):
            status = PlanStatus.DONE
        else:
            status = PlanStatus.WAITING
        if not self.store.plans.move(plan_id, status, actor=self.worker):
            status = self.store.plans.get(plan_id).status  # finished meanwhile (aborted, …)
        return RunReport(
            plan_id=plan_id,
            status=status,
            steps={r.step_id: str(r.status) for r in rows},
            reasons={r.step_id: r.reason for r in rows if r.reason},
        )

    def _changed(self, plan_id: str, step_id: str) -> None:
        if self.on_change is None:
            return
        try:
            self.on_change(plan_id, step_id)
        except Exception:  # a progress display must never stop a rollback
            log.exception("on_change for %s/%s failed", plan_id, step_id)

    # -- leases ------------------------------------------------------------------------------

    @contextmanager
    def _heartbeat(self) -> Iterator[None]:
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(self.config.lease_seconds / 3):
                with self._held_lock:
                    held = list(self._held)
                for plan_id, step_id in held:
                    self.store.steps.renew_lease(
                        plan_id,
                        step_id,
                        worker=self.worker,
                        lease_seconds=self.config.lease_seconds,
                    )

        thread = threading.Thread(target=beat, name=f"{self.worker}-heartbeat", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()


@contextmanager
def _phase(phases: list[dict[str, object]], attempt: int, name: str) -> Iterator[None]:
    """Time one phase of an attempt and note how it ended (written with the attempt)."""
    started = datetime.now(UTC)
    outcome, detail = "ok", ""
    try:
        yield
    except BaseException as exc:
        outcome, detail = "error", f"{type(exc).__name__}: {exc}"
        raise
    finally:
        phases.append(
            {
                "attempt": attempt,
                "phase": name,
                "outcome": outcome,
                "detail": detail,
                "started_at": started,
                "finished_at": datetime.now(UTC),
            }
        )
