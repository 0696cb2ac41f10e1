"""Hand-made inputs for the planner tests: a small graph, changes and alerts around one instant.

``T0`` is when the incident starts; :func:`change` dates a change minutes before it and
:func:`alert` an alert minutes after it; :func:`plan` asks the planner a few minutes later, and
:func:`step_for` and :func:`precedes` read the answer. The planning rules' tests
(``test_planner``, ``test_messy``) and the schedule's (``test_schedule``) build on these.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from planners import (
    Alert,
    Change,
    Fragment,
    Plan,
    Service,
    Step,
    Topology,
    build_topology,
    plan_rollback,
)

__all__ = ["T0", "alert", "change", "plan", "precedes", "step_for", "topo"]

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def topo(edges: dict[str, list[str]], **attrs: dict[str, object]) -> Topology:
    """A topology from ``{consumer: [providers]}``; ``attrs`` add fields to a service by name."""
    names = set(edges) | {t for ts in edges.values() for t in ts}
    services = [
        Service.model_validate({"name": n, "depends_on": edges.get(n, []), **attrs.get(n, {})})
        for n in sorted(names)
    ]
    topology, problems = build_topology([Fragment(origin="test", services=services)])
    assert not [p for p in problems if p.severity == "error"]
    return topology


def change(cid: str, service: str, minutes_before: float, **fields: object) -> Change:
    """A change to ``service`` made ``minutes_before`` :data:`T0`; ``fields`` add or replace."""
    return Change.model_validate(
        {"id": cid, "service": service, "at": T0 - timedelta(minutes=minutes_before), **fields}
    )


def alert(service: str | None, minutes_after: float = 0, **fields: object) -> Alert:
    """An alert on ``service`` that started ``minutes_after`` :data:`T0`."""
    return Alert.model_validate(
        {
            "fingerprint": f"fp-{service}-{minutes_after}",
            "service": service,
            "name": "HighErrorRate",
            "started_at": T0 + timedelta(minutes=minutes_after),
            **fields,
        }
    )


def plan(
    topology: Topology,
    changes: list[Change],
    alerts: list[Alert],
    *,
    minutes: float = 5,
    **options: Any,
) -> Plan:
    """The planner's answer ``minutes`` after ``T0``."""
    now = T0 + timedelta(minutes=minutes)
    return plan_rollback(topology, changes=changes, alerts=alerts, now=now, **options)


def step_for(p: Plan, change_id: str) -> Step:
    """The one step of ``p`` that rolls ``change_id`` back."""
    (step,) = [s for s in p.steps if s.change_id == change_id]
    return step


def precedes(p: Plan, first: str, second: str) -> bool:
    """Whether step ``first`` must finish before ``second`` starts (through ``after``)."""
    by_id = {s.id: s for s in p.steps}
    todo, seen = [second], set()
    while todo:
        for before in by_id[todo.pop()].after:
            if before == first:
                return True
            if before not in seen:
                seen.add(before)
                todo.append(before)
    return False
