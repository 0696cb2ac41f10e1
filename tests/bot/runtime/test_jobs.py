"""The job runner (issue 12 item 1) on an injected clock: due jobs run through their kind's
handler, failures come back after a growing, capped backoff, unknown kinds fail at once, and the
counts reach ``/metrics``. No test sleeps: the clock is moved by hand."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient

from bot.runtime.jobs import Backoff, JobRunner
from bot.runtime.scheduler import prune
from bot.slack.metrics import Metrics
from bot.slack.web import probes_web
from bot.store import JobStatus, Store
from integrations.errors import PermanentIntegrationError, TemporaryIntegrationError
from tests.support.store import Clock


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def clocked(store: Store, clock: Clock) -> Store:
    """The store's database, read through ``clock`` (closed with the ``store`` fixture)."""
    return Store(store.engine, clock=clock)


def runner(store: Store, clock: Clock, handlers: Mapping[str, Any], **options: Any) -> JobRunner:
    options.setdefault("backoff", Backoff(first=10, factor=2, cap=25))
    return JobRunner(store, handlers, worker="w1", clock=clock, **options)


class Flaky:
    """A handler that fails its first ``failures`` calls, then records the payloads it ran."""

    def __init__(self, failures: int, error: type[Exception] = RuntimeError) -> None:
        self.failures = failures
        self.error = error
        self.calls = 0
        self.ran: list[Mapping[str, Any]] = []

    def __call__(self, payload: Mapping[str, Any]) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error(f"flaky {self.calls}")
        self.ran.append(payload)


def test_a_handler_failing_twice_then_succeeding_runs_three_times(clocked, clock, caplog):
    """Each failure is retried after the backoff (10 s, then 20 s), logged with a reference
    that the stored error repeats; the third attempt succeeds and the job is done."""
    flaky = Flaky(failures=2)
    jobs = runner(clocked, clock, {"remind": flaky})
    clocked.jobs.schedule("remind", key="k", due_at=clock.now, payload={"plan": "pl-1"})

    with caplog.at_level(logging.WARNING, logger="bot.runtime.jobs"):
        assert jobs.tick() == 1
    job = clocked.jobs.get("k")
    assert job is not None and job.status is JobStatus.QUEUED
    assert job.due_at == clock.now + timedelta(seconds=10)
    ref = re.fullmatch(r"RuntimeError: flaky 1 \(ref ([0-9a-f]{8})\)", job.last_error or "")
    assert ref is not None
    assert any(ref.group(1) in r.getMessage() and r.exc_info for r in caplog.records)

    assert jobs.tick() == 0  # not due yet
    clock.advance(10)
    assert jobs.tick() == 1
    job = clocked.jobs.get("k")
    assert job is not None and job.due_at == clock.now + timedelta(seconds=20)
    clock.advance(19)
    assert jobs.tick() == 0
    clock.advance(1)
    assert jobs.tick() == 1

    done = clocked.jobs.get("k")
    assert done is not None and (done.status, done.attempts) == (JobStatus.DONE, 3)
    assert (flaky.calls, flaky.ran) == (3, [{"plan": "pl-1"}])


def test_a_job_of_an_unknown_kind_fails_at_once_naming_the_known_kinds(clocked, clock):
    """No handler for the kind: failed on its first attempt, with an error saying so."""
    jobs = runner(clocked, clock, {"remind": Flaky(0), "expire": Flaky(0)})
    clocked.jobs.schedule("bogus", key="k", due_at=clock.now)
    assert jobs.tick() == 1
    job = clocked.jobs.get("k")
    assert job is not None and (job.status, job.attempts) == (JobStatus.FAILED, 1)
    assert job.last_error == "no handler for job kind 'bogus' (known kinds: expire, remind)"
    clock.advance(3600)
    assert jobs.tick() == 0


def test_backoff_grows_and_is_capped():
    """Each delay doubles the one before, up to the cap; a huge attempt number stays capped."""
    backoff = Backoff(first=10, factor=2, cap=60)
    assert [backoff(n) for n in range(1, 7)] == [10, 20, 40, 60, 60, 60]
    assert backoff(10**6) == 60


def test_a_job_failing_every_attempt_backs_off_then_fails_and_is_kept(clocked, clock):
    """The runner's delays between attempts follow the backoff to its cap; after the last
    attempt the job is failed, kept with its last error, and never run again."""
    always = Flaky(failures=10**6)
    jobs = runner(clocked, clock, {"remind": always})
    clocked.jobs.schedule("remind", key="k", due_at=clock.now, max_attempts=5)
    delays = []
    for _ in range(5):
        assert jobs.tick() == 1
        job = clocked.jobs.get("k")
        assert job is not None
        if job.status is JobStatus.QUEUED:
            delays.append((job.due_at - clock.now).total_seconds())
            clock.advance(delays[-1])
    assert delays == [10, 20, 25, 25]
    (failed,) = clocked.jobs.listing("failed")
    assert (failed.attempts, always.calls) == (5, 5)
    assert failed.last_error is not None and failed.last_error.startswith("RuntimeError: flaky 5")
    clock.advance(3600)
    assert jobs.tick() == 0 and always.calls == 5


def test_integration_errors_say_whether_and_when_to_retry(clocked, clock):
    """A permanent integration error fails the job at once; a temporary one waits at least the
    ``retry_after`` it carries, even past the backoff."""

    def gone(payload: Mapping[str, Any]) -> None:
        raise PermanentIntegrationError("no such deployment", integration="kubernetes")

    def busy(payload: Mapping[str, Any]) -> None:
        raise TemporaryIntegrationError("rate limited", integration="argocd", retry_after=120)

    jobs = runner(clocked, clock, {"gone": gone, "busy": busy})
    clocked.jobs.schedule("gone", key="gone", due_at=clock.now)
    clocked.jobs.schedule("busy", key="busy", due_at=clock.now)
    assert jobs.tick() == 2
    failed, waiting = clocked.jobs.get("gone"), clocked.jobs.get("busy")
    assert failed is not None and (failed.status, failed.attempts) == (JobStatus.FAILED, 1)
    assert waiting is not None and waiting.status is JobStatus.QUEUED
    assert waiting.due_at == clock.now + timedelta(seconds=120)


def test_a_claim_whose_lease_ran_out_before_its_turn_is_left_to_another(clocked, clock):
    """Two jobs claimed together; the first handler outlasts the lease, so this runner does not
    start the second: another runner takes it over and runs it, once."""
    ran: list[str] = []

    def slow(payload: Mapping[str, Any]) -> None:
        ran.append(f"w1:{payload['n']}")
        clock.advance(31)

    first = runner(clocked, clock, {"work": slow}, lease_seconds=30, batch=2)
    clocked.jobs.schedule("work", key="a", due_at=clock.now, payload={"n": "a"})
    clocked.jobs.schedule("work", key="b", due_at=clock.now, payload={"n": "b"})
    assert first.tick(limit=2) == 1
    assert ran == ["w1:a"]

    other = JobRunner(
        clocked, {"work": lambda p: ran.append(f"w2:{p['n']}")}, worker="w2", clock=clock
    )
    assert other.tick() == 1
    assert ran == ["w1:a", "w2:b"]
    assert clocked.jobs.counts()["done"] == 2


def test_a_tick_runs_at_most_its_limit(clocked, clock):
    """A tick stops after ``limit`` claims; the next one takes the rest."""
    counted = Flaky(0)
    jobs = runner(clocked, clock, {"count": counted}, batch=2)
    for n in range(5):
        clocked.jobs.schedule("count", key=f"k{n}", due_at=clock.now, payload={"n": n})
    assert jobs.tick(limit=3) == 3
    assert jobs.tick() == 2
    assert sorted(p["n"] for p in counted.ran) == [0, 1, 2, 3, 4]


def test_the_hourly_prune_deletes_jobs_done_a_week_ago(clocked, clock):
    """The scheduler's prune deletes old done jobs and keeps failed ones."""
    jobs = runner(clocked, clock, {"ok": Flaky(0)})
    clocked.jobs.schedule("ok", key="done", due_at=clock.now)
    clocked.jobs.schedule("bogus", key="failed", due_at=clock.now)
    assert jobs.tick() == 2
    clock.advance(8 * 24 * 3600)
    assert prune(clocked)["jobs"] == 1
    assert [job.key for job in clocked.jobs.listing()] == ["failed"]


def test_metrics_show_the_jobs_by_status(clocked, clock):
    """``/metrics`` carries a gauge of the jobs in each status, read when scraped."""
    jobs = runner(clocked, clock, {"ok": Flaky(0)})
    clocked.jobs.schedule("ok", key="done", due_at=clock.now)
    clocked.jobs.schedule("bogus", key="failed", due_at=clock.now)
    clocked.jobs.schedule("ok", key="later", due_at=clock.now + timedelta(hours=1))
    metrics = Metrics()
    with TestClient(probes_web(store=clocked, metrics=metrics, services=1)) as client:
        assert 'backout_jobs{status="failed"} 0.0' in client.get("/metrics").text
        jobs.tick()
        text = client.get("/metrics").text
    for status, count in {
        "queued": 1,
        "running": 0,
        "done": 1,
        "failed": 1,
        "cancelled": 0,
    }.items():
        assert f'backout_jobs{{status="{status}"}} {count}.0' in text
