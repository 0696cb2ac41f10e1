"""What the store tests share: a plan to store, a hand-moved clock, the tables, racing threads.

:func:`make_plan` and :func:`path_to` also serve the use-case tests (``tests/bot/core``), which
store plans and move them through the lifecycle table the same way.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.lifecycle import TRANSITIONS, PlanStatus
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

__all__ = [
    "AT",
    "START",
    "TABLES",
    "TABLES_0001",
    "TABLES_0002",
    "TABLES_0003",
    "Clock",
    "make_plan",
    "path_to",
    "race",
]

AT = datetime(2026, 11, 27, 10, 14, tzinfo=UTC)
"""When :func:`make_plan`'s incident started and its plan was generated."""
START = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
"""Where a :class:`Clock` starts unless told otherwise."""

TABLES_0001 = frozenset(
    {
        "alembic_version",
        "alerts",
        "approvals",
        "audit_head",
        "audit_log",
        "changes",
        "incidents",
        "plans",
        "step_executions",
        "steps",
    }
)
"""The tables after migration 0001 (alembic's own included)."""
TABLES_0002 = frozenset({"feedback", "outbox", "plan_messages", "slack_events"})
"""The tables migration 0002 adds (the Slack side)."""
TABLES_0003 = frozenset({"plan_services"})
"""The tables migration 0003 adds (the lifecycle)."""
TABLES = (
    TABLES_0001 | TABLES_0002 | TABLES_0003 | {"jobs", "llm_cache", "thread_turns"}
)  # 0007, 0008, 0011
"""Every table at the head revision."""


class Clock:
    """A clock that stands still until the test moves it on; a store reads the time from it."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


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
