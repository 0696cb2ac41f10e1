"""Due work with real bot processes on one PostgreSQL (issue 12 item 1, DESIGN.md "Several
replicas"): two job runners racing through the same due jobs run each exactly once, and a job
whose process is SIGKILLed mid-run is run again, once, by the other after its lease expires.

PostgreSQL only (several replicas share it; SQLite is the one-process default): skipped without
a server, failed under CI.
"""

from __future__ import annotations

import collections
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.store import JobStatus, Store
from tests.support.paths import ROOT

MODULE = "tests.bot.runtime.jobs_worker"


@pytest.fixture
def store(postgres_url: str) -> Iterator[Store]:
    """A migrated store on a new PostgreSQL database (replaces the both-backends fixture)."""
    with Store.from_url(postgres_url) as opened:
        yield opened


def url_of(store: Store) -> str:
    return store.engine.url.render_as_string(hide_password=False)


def worker(store: Store, folder: Path, *, lease: float) -> subprocess.Popen[str]:
    """A job runner process; returns once it is ready (it starts ticking when ``go`` appears)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", MODULE, url_of(store), str(folder), str(lease)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready", proc.stderr.read() if proc.stderr else ""
    return proc


def traces(folder: Path) -> list[tuple[str, str, int]]:
    """The handlers' trace: (what, key, pid) per line."""
    path = folder / "log"
    if not path.exists():
        return []
    return [
        (what, key, int(pid))
        for what, key, pid in (line.split() for line in path.read_text().splitlines())
    ]


def wait_for(condition: Callable[[], bool], *, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def finish(proc: subprocess.Popen[str]) -> str:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    return out


def test_two_processes_run_every_due_job_exactly_once(store, tmp_path):
    """Two runner processes tick the same 200 due jobs at once: each job ran once, both
    processes took part, and no job needed a second claim."""
    keys = [f"count:{n:03d}" for n in range(200)]
    now = store.clock()
    for key in keys:
        assert store.jobs.schedule("count", key=key, due_at=now, payload={"key": key})
    procs = [worker(store, tmp_path, lease=30) for _ in range(2)]
    (tmp_path / "go").touch()
    for proc in procs:
        finish(proc)

    ran = traces(tmp_path)
    assert collections.Counter(key for _, key, _ in ran) == dict.fromkeys(keys, 1)
    assert {pid for _, _, pid in ran} == {proc.pid for proc in procs}
    assert store.jobs.counts()["done"] == 200
    assert {job.attempts for job in store.jobs.listing(limit=200)} == {1}


def test_a_job_killed_mid_run_is_run_again_once_by_the_other_process(store, tmp_path):
    """The process running a job is SIGKILLed while its handler blocks; once the lease has
    expired the other process claims the job again and runs it to the end, once."""
    store.jobs.schedule("block", key="block:1", due_at=store.clock(), payload={"key": "block:1"})
    procs = {proc.pid: proc for proc in (worker(store, tmp_path, lease=2) for _ in range(2))}
    (tmp_path / "go").touch()
    wait_for(lambda: len(traces(tmp_path)) == 1)
    [(what, key, holder)] = traces(tmp_path)
    assert (what, key) == ("start", "block:1")
    procs[holder].send_signal(signal.SIGKILL)
    procs[holder].communicate(timeout=30)
    assert procs[holder].returncode == -signal.SIGKILL
    (tmp_path / "release").touch()

    (survivor,) = (pid for pid in procs if pid != holder)
    finish(procs[survivor])
    assert traces(tmp_path) == [
        ("start", "block:1", holder),
        ("start", "block:1", survivor),
        ("done", "block:1", survivor),
    ]
    job = store.jobs.get("block:1")
    assert job is not None and (job.status, job.attempts) == (JobStatus.DONE, 2)
    assert job.claimed_by is not None and f":{survivor}:" in job.claimed_by
