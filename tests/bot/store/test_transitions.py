"""Step transitions: the compare-and-set claim that makes a step run exactly once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from datetime import UTC, datetime, timedelta

import pytest

from bot.lifecycle import TERMINAL_STEPS, StepStatus
from bot.store import StepNotFoundError, StepRow, Store
from tests.support.store import Clock, make_plan, race


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def clocked(store: Store, clock: Clock) -> Store:
    """The test's store, on the hand-moved clock."""
    return Store(store.engine, clock=clock)


def claim(
    store: Store,
    plan_id: str,
    step_id: str = "s1",
    *,
    worker: str = "w1",
    from_statuses: Collection[str] = ("queued",),
    lease: float | None = 60.0,
) -> bool:
    return store.steps.transition(
        plan_id,
        step_id,
        from_statuses=from_statuses,
        to="running",
        actor="engine",
        worker=worker,
        lease_seconds=lease,
    )


def queue(store: Store, plan_id: str, step_id: str = "s1") -> None:
    assert store.steps.transition(
        plan_id, step_id, from_statuses={"pending"}, to="queued", actor="U1"
    )


def step(store: Store, plan_id: str, step_id: str = "s1") -> StepRow:
    return {row.step_id: row for row in store.steps.of(plan_id)}[step_id]


def test_a_claim_marks_the_step_running_for_its_worker(clocked, clock):
    """Claiming sets the worker, counts the attempt, starts the clock and the lease."""
    plan_id = clocked.plans.save(make_plan(2))
    queue(clocked, plan_id)
    assert claim(clocked, plan_id, worker="replica-a", lease=45)
    row = step(clocked, plan_id)
    assert row.status is StepStatus.RUNNING
    assert (row.claimed_by, row.attempts) == ("replica-a", 1)
    assert row.started_at == clock.now
    assert row.lease_until == clock.now + timedelta(seconds=45)
    assert step(clocked, plan_id, "s2").status is StepStatus.PENDING


def test_a_claim_from_the_wrong_status_fails_and_changes_nothing(store):
    """A pending step cannot be claimed from ``queued``; it stays pending and unaudited."""
    plan_id = store.plans.save(make_plan(1))
    assert not claim(store, plan_id)
    row = step(store, plan_id)
    assert (row.status, row.attempts, row.claimed_by) == (StepStatus.PENDING, 0, None)
    assert [e.action for e in store.audit.entries(subject_prefix=plan_id)] == ["plan.created"]


def test_an_unknown_step_or_plan_is_never_claimed(store):
    """A claim on a step that does not exist returns False."""
    plan_id = store.plans.save(make_plan(1))
    assert not claim(store, plan_id, "s9", from_statuses={"pending"})
    assert not claim(store, "pl-00000000", "s1", from_statuses={"pending"})


def test_finishing_sets_finished_at_and_keeps_the_worker(clocked, clock):
    """A terminal status stamps ``finished_at``, drops the lease and stores reason and result."""
    plan_id = clocked.plans.save(make_plan(1))
    queue(clocked, plan_id)
    assert claim(clocked, plan_id)
    clock.now += timedelta(seconds=42)
    assert clocked.steps.transition(
        plan_id,
        "s1",
        from_statuses={"running"},
        to="done",
        actor="engine",
        worker="w1",
        reason="rolled back",
        result={"revision": 7, "tags": ("a", "b")},
    )
    row = step(clocked, plan_id)
    assert row.status in TERMINAL_STEPS
    assert row.started_at == clock.now - timedelta(seconds=42)
    assert row.finished_at == clock.now
    assert (row.claimed_by, row.lease_until) == ("w1", None)
    assert (row.reason, row.result) == ("rolled back", {"revision": 7, "tags": ["a", "b"]})


def test_only_the_holder_finishes_a_running_step(store):
    """With ``worker`` given and ``running`` the only from-status, another worker is refused."""
    plan_id = store.plans.save(make_plan(1))
    queue(store, plan_id)
    assert claim(store, plan_id, worker="w1")
    finish = {"from_statuses": {"running"}, "to": "failed", "actor": "engine"}
    assert not store.steps.transition(plan_id, "s1", worker="w2", **finish)
    assert store.steps.transition(plan_id, "s1", worker="w1", **finish)
    assert step(store, plan_id).status is StepStatus.FAILED


def test_every_successful_transition_is_audited_in_order(store):
    """Each change appends ``step.<to>`` with the worker and reason; refused ones append nothing."""
    plan_id = store.plans.save(make_plan(1))
    queue(store, plan_id)
    assert claim(store, plan_id, worker="w1")
    assert not claim(store, plan_id, worker="w2")
    assert store.steps.transition(
        plan_id,
        "s1",
        from_statuses={"running"},
        to="done",
        actor="engine",
        worker="w1",
        reason="healthy",
    )
    entries = store.audit.entries(subject_prefix=f"{plan_id}/")
    assert [e.action for e in entries] == ["step.queued", "step.running", "step.done"]
    running = entries[1]
    assert running.subject == f"{plan_id}/s1"
    assert (running.details["worker"], running.details["attempt"]) == ("w1", 1)
    assert entries[2].details["reason"] == "healthy"


def test_releasing_a_step_clears_the_claim_and_a_retry_counts_again(store):
    """Back to ``queued`` drops the worker; the next claim is attempt 2."""
    plan_id = store.plans.save(make_plan(1))
    queue(store, plan_id)
    assert claim(store, plan_id, worker="w1")
    assert store.steps.transition(
        plan_id, "s1", from_statuses={"running"}, to="queued", actor="engine", worker="w1"
    )
    assert step(store, plan_id).claimed_by is None
    assert claim(store, plan_id, worker="w2")
    assert (step(store, plan_id).claimed_by, step(store, plan_id).attempts) == ("w2", 2)


def test_a_lease_is_renewed_only_by_its_holder(clocked, clock):
    """The holder extends its lease; another worker, or a step not running, cannot."""
    plan_id = clocked.plans.save(make_plan(2))
    queue(clocked, plan_id)
    assert claim(clocked, plan_id, worker="w1", lease=30)
    clock.now += timedelta(seconds=20)
    assert clocked.steps.renew_lease(plan_id, "s1", worker="w1", lease_seconds=30)
    assert step(clocked, plan_id).lease_until == clock.now + timedelta(seconds=30)
    assert not clocked.steps.renew_lease(plan_id, "s1", worker="w2", lease_seconds=300)
    assert not clocked.steps.renew_lease(plan_id, "s2", worker="w1", lease_seconds=300)
    assert step(clocked, plan_id).lease_until == clock.now + timedelta(seconds=30)


def test_an_expired_lease_is_reclaimed_by_one_worker(clocked, clock):
    """A step whose worker stopped renewing is reclaimed by exactly one of 8 threads."""
    plan_id = clocked.plans.save(make_plan(1))
    queue(clocked, plan_id)
    assert claim(clocked, plan_id, worker="w1", lease=30)

    def reclaim(index: int) -> bool:
        return bool(
            clocked.steps.reclaim(
                plan_id, "s1", worker=f"r{index}", lease_seconds=30, actor="engine"
            )
        )

    assert not reclaim(0)
    clock.now += timedelta(seconds=31)
    assert sum(race(8, reclaim)) == 1
    row = step(clocked, plan_id)
    assert row.attempts == 2
    assert row.lease_until == clock.now + timedelta(seconds=30)
    assert not clocked.steps.renew_lease(plan_id, "s1", worker="w1", lease_seconds=30)
    last = clocked.audit.entries(subject_prefix=plan_id)[-1]
    assert (last.action, last.details["worker"]) == ("step.running", row.claimed_by)
    assert (last.details["previous_worker"], last.details["reason"]) == ("w1", "lease expired")


def test_a_running_step_without_a_lease_counts_as_expired(store):
    """A step claimed with no lease can be reclaimed at once: nothing shows its worker alive."""
    plan_id = store.plans.save(make_plan(1))
    queue(store, plan_id)
    assert claim(store, plan_id, worker="w1", lease=None)
    assert store.steps.reclaim(plan_id, "s1", worker="w2", lease_seconds=30, actor="engine")
    assert step(store, plan_id).claimed_by == "w2"


def test_eight_threads_racing_for_one_step_produce_one_winner(store):
    """Of 8 threads claiming each of 5 steps at once, exactly one wins each step, audited once."""
    plan_id = store.plans.save(make_plan(5))
    step_ids = [f"s{n}" for n in range(1, 6)]
    for step_id in step_ids:
        queue(store, plan_id, step_id)

    def attempt(index):
        return [
            step_id for step_id in step_ids if claim(store, plan_id, step_id, worker=f"w{index}")
        ]

    wins = Counter(step_id for won in race(8, attempt) for step_id in won)
    assert wins == Counter(step_ids)
    rows = store.steps.of(plan_id)
    assert all(row.status is StepStatus.RUNNING and row.attempts == 1 for row in rows)
    running = [e for e in store.audit.entries(subject_prefix=plan_id) if e.action == "step.running"]
    assert sorted(e.subject for e in running) == sorted(f"{plan_id}/{s}" for s in step_ids)
    assert {e.details["worker"] for e in running} == {row.claimed_by for row in rows}
    assert store.audit.verify().ok


def test_statuses_are_checked(store):
    """An unknown status, a bare string, or a claim without a worker is a programming error."""
    plan_id = store.plans.save(make_plan(1))
    with pytest.raises(ValueError, match="'runing'"):
        store.steps.transition(plan_id, "s1", from_statuses={"pending"}, to="runing", actor="e")
    with pytest.raises(TypeError, match="not one string"):
        store.steps.transition(plan_id, "s1", from_statuses="pending", to="queued", actor="e")
    with pytest.raises(ValueError, match="needs a worker"):
        store.steps.transition(plan_id, "s1", from_statuses={"pending"}, to="running", actor="e")
    assert step(store, plan_id).status is StepStatus.PENDING


def test_steps_in_status_finds_work_across_plans(clocked, clock):
    """Queued steps of every plan are found, least recently updated first."""
    first = clocked.plans.save(make_plan(2))
    second = clocked.plans.save(make_plan(1))
    clock.now += timedelta(seconds=1)
    queue(clocked, second)
    clock.now += timedelta(seconds=1)
    queue(clocked, first, "s2")
    found = [(row.plan_id, row.step_id) for row in clocked.steps.in_status({"queued"})]
    assert found == [(second, "s1"), (first, "s2")]


def test_executions_are_recorded_per_attempt_and_phase(store):
    """Recorded phases come back in order; a step that does not exist is refused."""
    plan_id = store.plans.save(make_plan(1))
    t0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    for phase in ("preview", "execute", "verify"):
        store.steps.record_executions(
            plan_id,
            "s1",
            [
                {
                    "attempt": 1,
                    "phase": phase,
                    "outcome": "ok",
                    "detail": f"{phase} fine",
                    "started_at": t0,
                    "finished_at": t0 + timedelta(seconds=5),
                }
            ],
        )
    runs = store.steps.executions(plan_id)
    assert [(r.phase, r.detail) for r in runs] == [
        ("preview", "preview fine"),
        ("execute", "execute fine"),
        ("verify", "verify fine"),
    ]
    assert runs[0].finished_at - runs[0].started_at == timedelta(seconds=5)
    with pytest.raises(StepNotFoundError, match="'s7'"):
        store.steps.record_executions(
            plan_id,
            "s7",
            [
                {
                    "attempt": 1,
                    "phase": "execute",
                    "outcome": "ok",
                    "detail": "",
                    "started_at": t0,
                    "finished_at": t0,
                }
            ],
        )
