"""Helpers for the store tests: a plan to store, and the work a racing process does."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from bot.lifecycle import TRANSITIONS, PlanStatus
from bot.store import Store, create_engine, current_revision, upgrade
from planners.model import (
    Action,
    ChangeKind,
    Excluded,
    Incident,
    Plan,
    Risk,
    Stage,
    Step,
    Suspect,
)

AT = datetime(2026, 11, 27, 10, 14, tzinfo=UTC)


def make_plan(steps: int = 3, *, incident: str = "inc-1") -> Plan:
    """A plan with ``steps`` steps ``s1`` … ``sN``, each after the one before."""
    return Plan(
        incident=Incident(id=incident, services=("frontend",), started_at=AT),
        impacted=("frontend", "checkoutservice"),
        suspects=(
            Suspect(
                change_id="chg-7",
                service="cartservice",
                score=0.8125,
                reasons=("deployed 6 min before the first alert", "frontend → cartservice"),
                kind=ChangeKind.DEPLOY,
                at=AT,
            ),
        ),
        excluded=(Excluded(change_id="chg-9", why="happened after the incident started"),),
        steps=tuple(
            Step(
                id=f"s{n}",
                stage=Stage.PARTIAL if n % 2 else Stage.FULL,
                action=Action.ROLLBACK_DEPLOY,
                service=f"service-{n}",
                change_id=f"chg-{n}",
                target_version=f"v1.{n}.0",
                after=(f"s{n - 1}",) if n > 1 else (),
                risk=Risk.MEDIUM,
                approvals_required=1,
                executor="kubernetes",
                estimated_seconds=90,
                verify={"services": (f"service-{n}", "frontend")},
                why="its deploy is the top suspect — «ünïcode» survives",
            )
            for n in range(1, steps + 1)
        ),
        critical_path_seconds=90 * steps,
        explanation="**Roll back** the cart deploy.",
        notes=("a note",),
        generated_at=AT,
    )


def race(workers: int, attempt: Callable[[int], Any], *, timeout: float = 30.0) -> list[Any]:
    """Run ``attempt(i)`` in ``workers`` threads released at the same instant; their results."""
    barrier = threading.Barrier(workers)
    results: list[Any] = [None] * workers
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait(timeout)
            results[index] = attempt(index)
        except BaseException as exc:  # re-raised in the test thread below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    if errors:
        raise errors[0]
    return results


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


def path_to(status: PlanStatus) -> list[PlanStatus]:
    """The moves from ``proposed`` to ``status`` through the lifecycle table (breadth first)."""
    paths: dict[PlanStatus, list[PlanStatus]] = {PlanStatus.PROPOSED: []}
    frontier = [PlanStatus.PROPOSED]
    while frontier:
        current = frontier.pop(0)
        for following in sorted(TRANSITIONS[current]):
            if following not in paths:
                paths[following] = [*paths[current], following]
                frontier.append(following)
    return paths[status]
