"""Hand-made inputs for the planner tests: a small graph, changes and alerts around one instant.

``T0`` is when the incident starts; :func:`change` dates a change minutes before it and
:func:`alert` an alert minutes after it. The planning rules' tests (``test_planner``) and the
schedule's (``test_schedule``) build their plans from these.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from planners import Alert, Change, Fragment, Service, Topology, build_topology

__all__ = ["T0", "alert", "change", "topo"]

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
