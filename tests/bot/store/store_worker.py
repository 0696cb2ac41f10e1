"""The work a spawned store worker process does for ``test_processes``: claim, append, migrate.

The functions live in a module of their own (not in the test module) so that a spawned worker
imports only them and the store, the way ``engine_worker`` is the crash tests' whole engine process.
Only ``test_processes`` uses them, so they stay beside it rather than in ``tests/support``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

from bot.store import Store, create_engine, current_revision, upgrade
from tests.support.store import race


def claim_in_process(
    url: str,
    plan_id: str,
    step_ids: Sequence[str],
    worker: str,
    threads: int,
    appends: int,
    start_at: float,
) -> tuple[int, list[str], list[int]]:
    """In a worker process: at ``start_at``, race ``threads`` threads to claim every step.

    Each thread also appends ``appends`` audit entries. Returns the process id, the steps this
    process claimed and the seqs of the entries it appended.
    """
    store = Store(create_engine(url))
    try:

        def attempt(index: int) -> tuple[list[str], list[int]]:
            name = f"{worker}-t{index}"
            claimed = [
                step_id
                for step_id in step_ids
                if store.steps.transition(
                    plan_id,
                    step_id,
                    from_statuses={"queued"},
                    to="running",
                    actor="engine",
                    worker=name,
                    lease_seconds=60,
                )
            ]
            seqs = [
                store.audit.append(
                    actor=name, action="test.append", subject="race", details={"n": n}
                ).seq
                for n in range(appends)
            ]
            return claimed, seqs

        _wait_until(start_at)
        outcomes = race(threads, attempt)
    finally:
        store.close()
    claimed = [step for steps, _ in outcomes for step in steps]
    seqs = [seq for _, appended in outcomes for seq in appended]
    return os.getpid(), claimed, seqs


def upgrade_in_process(url: str, start_at: float) -> tuple[int, str | None]:
    """In a worker process: migrate the database at ``url`` at ``start_at``; pid and revision."""
    engine = create_engine(url)
    try:
        _wait_until(start_at)
        upgrade(engine)
        return os.getpid(), current_revision(engine)
    finally:
        engine.dispose()


def warm_up(seconds: float) -> int:
    """Keep a worker process busy for a moment (so the pool starts them all); its pid."""
    time.sleep(seconds)
    return os.getpid()


def _wait_until(start_at: float) -> None:
    time.sleep(max(0.0, start_at - time.time()))
