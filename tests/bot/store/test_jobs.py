"""Due work as rows (issue 12 item 1): scheduled once per key, claimed once per attempt by
compare-and-set, retried until its attempts are spent, then failed and kept; on both backends."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic import command

from bot.store import Jobs, JobStatus, Store, create_engine, current_revision, upgrade
from bot.store.db import alembic_config
from tests.support.store import START, Clock, race


def clocked(store: Store, clock: Clock) -> Jobs:
    """Jobs on the store's database, reading the time from ``clock``."""
    return Jobs(store.engine, clock=clock)


def due(clock: Clock, seconds: float = 0) -> datetime:
    return clock.now + timedelta(seconds=seconds)


# -- scheduling ---------------------------------------------------------------------------------


def test_a_scheduled_job_is_queued_with_its_payload(store):
    """A new job is queued, due when asked, with no attempts, its payload as JSON."""
    clock = Clock()
    jobs = clocked(store, clock)
    assert jobs.schedule("remind", key="remind:pl-1", due_at=due(clock, 60), payload={"plan": 1})
    job = jobs.get("remind:pl-1")
    assert job is not None
    assert (job.kind, job.status, job.attempts, job.max_attempts) == (
        "remind",
        JobStatus.QUEUED,
        0,
        5,
    )
    assert (job.payload, job.due_at, job.created_at) == (
        {"plan": 1},
        START + timedelta(seconds=60),
        START,
    )
    assert (job.claimed_by, job.lease_until, job.last_error, job.finished_at) == (None,) * 4


def test_scheduling_a_key_again_stores_nothing(store):
    """The key is the idempotency key: a second schedule returns False and changes nothing."""
    clock = Clock()
    jobs = clocked(store, clock)
    assert jobs.schedule("remind", key="k", due_at=due(clock), payload={"n": 1}) is True
    assert jobs.schedule("expire", key="k", due_at=due(clock, 600), payload={"n": 2}) is False
    job = jobs.get("k")
    assert job is not None and (job.kind, job.payload, job.due_at) == ("remind", {"n": 1}, START)
    assert jobs.counts()["queued"] == 1


def test_racing_schedules_of_one_key_store_it_once(store):
    """Eight threads scheduling one key at the same instant: one stores it."""
    clock = Clock()
    jobs = clocked(store, clock)
    results = race(8, lambda i: jobs.schedule("remind", key="once", due_at=due(clock, i)))
    assert sorted(results) == [False] * 7 + [True]
    assert jobs.counts()["queued"] == 1


def test_unusable_jobs_are_refused_before_anything_is_stored(store):
    """A naive due time, no attempts, an empty key or a payload JSON cannot carry: refused."""
    clock = Clock()
    jobs = clocked(store, clock)
    with pytest.raises(ValueError, match="naive"):
        jobs.schedule("remind", key="k", due_at=datetime(2026, 11, 27, 10, 0))  # noqa: DTZ001
    with pytest.raises(ValueError, match="max_attempts"):
        jobs.schedule("remind", key="k", due_at=due(clock), max_attempts=0)
    with pytest.raises(ValueError, match="kind and a key"):
        jobs.schedule("remind", key="", due_at=due(clock))
    with pytest.raises(TypeError):
        jobs.schedule("remind", key="k", due_at=due(clock), payload={"x": object()})
    assert sum(jobs.counts().values()) == 0


# -- claims -------------------------------------------------------------------------------------


def test_only_due_jobs_are_claimed_earliest_first(store):
    """A job is claimed once its due time is reached, earliest due first, with a lease."""
    clock = Clock()
    jobs = clocked(store, clock)
    jobs.schedule("remind", key="later", due_at=due(clock, 120))
    jobs.schedule("remind", key="soon", due_at=due(clock, 60))
    assert jobs.claim_due(worker="w1") == []
    clock.advance(120)
    claimed = jobs.claim_due(worker="w1", lease_seconds=30)
    assert [job.key for job in claimed] == ["soon", "later"]
    assert {(j.status, j.attempts, j.claimed_by) for j in claimed} == {(JobStatus.RUNNING, 1, "w1")}
    assert {j.lease_until for j in claimed} == {clock.now + timedelta(seconds=30)}
    assert jobs.claim_due(worker="w2") == []


def test_racing_workers_claim_each_job_once(store):
    """Eight workers claiming at the same instant: every due job goes to exactly one of them."""
    clock = Clock()
    jobs = clocked(store, clock)
    for n in range(24):
        jobs.schedule("count", key=f"job-{n}", due_at=due(clock))
    claims = race(8, lambda i: jobs.claim_due(worker=f"w{i}", limit=24))
    keys = [job.key for claimed in claims for job in claimed]
    assert sorted(keys) == sorted(f"job-{n}" for n in range(24))
    assert jobs.counts()["running"] == 24


def test_a_job_whose_lease_ran_out_is_claimed_again(store):
    """A running job is left alone while its lease lasts; after it, another worker takes it over
    with one more attempt, and the first worker can no longer finish it."""
    clock = Clock()
    jobs = clocked(store, clock)
    jobs.schedule("remind", key="k", due_at=due(clock))
    (first,) = jobs.claim_due(worker="dead", lease_seconds=30)
    clock.advance(29)
    assert jobs.claim_due(worker="alive", lease_seconds=30) == []
    clock.advance(2)
    (again,) = jobs.claim_due(worker="alive", lease_seconds=30)
    assert (again.id, again.attempts, again.claimed_by) == (first.id, 2, "alive")
    assert jobs.done(first.id, worker="dead") is False
    assert jobs.done(first.id, worker="alive") is True
    job = jobs.get("k")
    assert job is not None and (job.status, job.finished_at) == (JobStatus.DONE, clock.now)


def test_a_job_abandoned_on_its_last_attempt_is_failed_not_run_again(store):
    """A job whose worker died during its last attempt is failed when its lease runs out."""
    clock = Clock()
    jobs = clocked(store, clock)
    jobs.schedule("remind", key="k", due_at=due(clock), max_attempts=1)
    jobs.claim_due(worker="dead", lease_seconds=30)
    clock.advance(31)
    assert jobs.claim_due(worker="alive") == []
    job = jobs.get("k")
    assert job is not None and job.status is JobStatus.FAILED
    assert job.last_error is not None and "lease ran out" in job.last_error


# -- outcomes -----------------------------------------------------------------------------------


def test_a_failed_attempt_is_retried_later_then_failed_and_kept(store):
    """Retry puts the job back, due after the delay, with its error; after the last attempt it
    is failed, keeps its last error, is listed as failed and never claimed again."""
    clock = Clock()
    jobs = clocked(store, clock)
    jobs.schedule("remind", key="k", due_at=due(clock), max_attempts=2)
    (job,) = jobs.claim_due(worker="w")
    assert jobs.retry(job.id, worker="w", error="boom 1", delay=60) is JobStatus.QUEUED
    queued = jobs.get("k")
    assert queued is not None
    assert (queued.status, queued.due_at, queued.last_error, queued.claimed_by) == (
        JobStatus.QUEUED,
        clock.now + timedelta(seconds=60),
        "boom 1",
        None,
    )
    clock.advance(59)
    assert jobs.claim_due(worker="w") == []
    clock.advance(1)
    (job,) = jobs.claim_due(worker="w")
    assert job.attempts == 2
    assert jobs.retry(job.id, worker="w", error="boom 2", delay=60) is JobStatus.FAILED
    clock.advance(3600)
    assert jobs.claim_due(worker="w") == []
    (failed,) = jobs.listing(JobStatus.FAILED)
    assert (failed.key, failed.attempts, failed.last_error) == ("k", 2, "boom 2")
    assert failed.finished_at == clock.now - timedelta(seconds=3600)


def test_only_the_worker_holding_a_job_can_finish_it(store):
    """The fence: done, retry and fail by any other worker change nothing."""
    clock = Clock()
    jobs = clocked(store, clock)
    jobs.schedule("remind", key="k", due_at=due(clock))
    (job,) = jobs.claim_due(worker="holder")
    assert jobs.done(job.id, worker="other") is False
    assert jobs.retry(job.id, worker="other", error="x", delay=1) is None
    assert jobs.fail(job.id, worker="other", error="x") is False
    held = jobs.get("k")
    assert held is not None
    assert (held.status, held.claimed_by, held.last_error) == (JobStatus.RUNNING, "holder", None)
    assert jobs.fail(job.id, worker="holder", error="no such plan") is True
    assert jobs.done(job.id, worker="holder") is False  # finished once
    failed = jobs.get("k")
    assert failed is not None and (failed.status, failed.last_error) == (
        JobStatus.FAILED,
        "no such plan",
    )


def test_a_cancelled_job_is_not_run_and_its_key_stays_taken(store):
    """Cancelling a queued job keeps it from running; its key cannot be scheduled again; a job
    already running cannot be cancelled."""
    clock = Clock()
    jobs = clocked(store, clock)
    jobs.schedule("remind", key="cancel-me", due_at=due(clock, 60))
    jobs.schedule("remind", key="running", due_at=due(clock))
    jobs.claim_due(worker="w", lease_seconds=600)
    assert jobs.cancel("cancel-me") is True
    assert jobs.cancel("cancel-me") is False
    assert jobs.cancel("running") is False
    assert jobs.cancel("unknown") is False
    assert jobs.schedule("remind", key="cancel-me", due_at=due(clock)) is False
    clock.advance(120)
    assert jobs.claim_due(worker="w") == []
    counts = jobs.counts()
    assert (counts["cancelled"], counts["running"]) == (1, 1)


# -- reading and pruning ------------------------------------------------------------------------


def test_counts_name_every_status(store):
    """Counts give every status, zero included, so a gauge shows each one."""
    clock = Clock()
    jobs = clocked(store, clock)
    assert jobs.counts() == {status.value: 0 for status in JobStatus}
    for n in range(3):
        jobs.schedule("remind", key=f"k{n}", due_at=due(clock))
    (first, _) = jobs.claim_due(worker="w", limit=2)
    jobs.done(first.id, worker="w")
    assert jobs.counts() == {"queued": 1, "running": 1, "done": 1, "failed": 0, "cancelled": 0}


def test_listing_is_newest_change_first_and_bounded(store):
    """The listing shows the most recently changed jobs first, up to ``limit``; a status
    filters it; an unknown status is refused."""
    clock = Clock()
    jobs = clocked(store, clock)
    for n in range(4):
        jobs.schedule("remind", key=f"k{n}", due_at=due(clock))
        clock.advance(1)
    assert [job.key for job in jobs.listing(limit=3)] == ["k3", "k2", "k1"]
    assert jobs.listing("failed") == []
    with pytest.raises(ValueError, match="bogus"):
        jobs.listing("bogus")


def test_pruning_deletes_old_finished_jobs_a_bounded_number_at_a_time(store):
    """Done and cancelled jobs older than the cut-off go, oldest first, ``limit`` per run;
    failed, queued and recent ones stay; a pruned key can be scheduled again."""
    clock = Clock()
    jobs = clocked(store, clock)
    for n in range(4):
        jobs.schedule("remind", key=f"done-{n}", due_at=due(clock))
        (job,) = jobs.claim_due(worker="w")
        jobs.done(job.id, worker="w")
        clock.advance(60)
    jobs.schedule("remind", key="failed", due_at=due(clock))
    (job,) = jobs.claim_due(worker="w")
    jobs.fail(job.id, worker="w", error="x")
    jobs.schedule("remind", key="cancelled", due_at=due(clock, 10**6))
    jobs.cancel("cancelled")
    jobs.schedule("remind", key="queued", due_at=due(clock, 10**6))
    clock.advance(8 * 24 * 3600)
    jobs.schedule("remind", key="fresh", due_at=due(clock))
    (job,) = jobs.claim_due(worker="w")
    jobs.done(job.id, worker="w")

    assert jobs.prune(older_than=timedelta(days=7), limit=2) == 2
    assert jobs.get("done-0") is None and jobs.get("done-1") is None
    assert jobs.get("done-2") is not None
    assert jobs.prune(older_than=timedelta(days=7), limit=10) == 3
    left = {job.key for job in jobs.listing(limit=100)}
    assert left == {"failed", "queued", "fresh"}
    assert jobs.schedule("remind", key="done-0", due_at=due(clock)) is True


def test_the_store_holds_the_jobs(store):
    """``store.jobs`` is the jobs repository on the store's database."""
    assert store.jobs.schedule("remind", key="k", due_at=START)
    assert store.jobs.get("k") is not None


# -- migration ----------------------------------------------------------------------------------


def test_migration_0007_adds_jobs_and_downgrades(database_url):
    """0007 creates ``jobs`` next to the existing data, which then works; a downgrade drops it
    and keeps the rest; it re-applies."""
    engine = create_engine(database_url)
    try:
        upgrade(engine, revision="0006")
        assert "jobs" not in sa.inspect(engine).get_table_names()
        upgrade(engine, revision="0007")
        assert current_revision(engine) == "0007"
        store = Store(engine)
        assert store.jobs.schedule("remind", key="k", due_at=START)
        assert store.audit.verify().ok

        config = alembic_config()
        with engine.connect() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0006")
        assert current_revision(engine) == "0006"
        tables = set(sa.inspect(engine).get_table_names())
        assert "jobs" not in tables and {"plans", "outbox"} <= tables
        upgrade(engine)
        assert Store(engine).jobs.counts()["queued"] == 0
    finally:
        engine.dispose()
