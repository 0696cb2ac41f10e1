"""Separate processes (as separate replicas would be) sharing one database, on both backends.

The processes come from one spawned pool per module, so each test pays for the work, not for
starting Python. Each task waits for a common start time, then races the others.
"""

from __future__ import annotations

import multiprocessing
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor

import pytest

from bot.store import Store, head_revision
from tests.bot.store.store_worker import claim_in_process, upgrade_in_process, warm_up
from tests.support.store import make_plan

PROCESSES = 2
THREADS = 4
APPENDS = 5


@pytest.fixture(scope="module")
def pool() -> Iterator[ProcessPoolExecutor]:
    """``PROCESSES`` spawned worker processes, started and ready."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(PROCESSES, mp_context=context) as executor:
        pids: set[int] = set()
        for _ in range(20):  # one process may take every warm-up task while another imports
            pids |= set(executor.map(warm_up, [0.5] * PROCESSES))
            if len(pids) == PROCESSES:
                break
        assert len(pids) == PROCESSES
        yield executor


def start_soon() -> float:
    return time.time() + 0.3


def test_processes_racing_for_the_same_steps_claim_each_once(store, pool):
    """Two processes of four threads claim six steps at once: one winner per step, one entry each.

    Every thread also appends audit entries meanwhile; the chain stays linear and verifies.
    """
    plan_id = store.plans.save(make_plan(6))
    step_ids = [f"s{n}" for n in range(1, 7)]
    for step_id in step_ids:
        assert store.steps.transition(
            plan_id, step_id, from_statuses={"pending"}, to="queued", actor="U1"
        )
    url = store.engine.url.render_as_string(hide_password=False)
    start_at = start_soon()
    futures = [
        pool.submit(claim_in_process, url, plan_id, step_ids, f"p{n}", THREADS, APPENDS, start_at)
        for n in range(PROCESSES)
    ]
    outcomes = [future.result(timeout=60) for future in futures]

    assert len({pid for pid, _, _ in outcomes}) == PROCESSES
    wins = Counter(step_id for _, claimed, _ in outcomes for step_id in claimed)
    assert wins == Counter(step_ids)
    appended = sorted(seq for _, _, seqs in outcomes for seq in seqs)
    assert len(appended) == len(set(appended)) == PROCESSES * THREADS * APPENDS
    running = [e for e in store.audit.entries(subject_prefix=plan_id) if e.action == "step.running"]
    assert Counter(e.subject.split("/")[1] for e in running) == Counter(step_ids)
    claimed_by = {row.step_id: row.claimed_by for row in store.steps.of(plan_id)}
    assert {e.subject.split("/")[1]: e.details["worker"] for e in running} == claimed_by
    check = store.audit.verify()
    assert check.ok, check.reason
    assert check.entries == 1 + len(step_ids) * 2 + PROCESSES * THREADS * APPENDS


def test_processes_starting_together_migrate_an_empty_database_once(database_url, pool):
    """Two processes upgrading one empty database at once both end at head; it then works."""
    start_at = start_soon()
    futures = [pool.submit(upgrade_in_process, database_url, start_at) for _ in range(PROCESSES)]
    outcomes = [future.result(timeout=60) for future in futures]
    assert len({pid for pid, _ in outcomes}) == PROCESSES
    assert [revision for _, revision in outcomes] == [head_revision()] * PROCESSES
    with Store.from_url(database_url, upgrade=False) as store:
        store.plans.save(make_plan(1))
        check = store.audit.verify()
        assert (check.ok, check.entries) == (True, 1)
