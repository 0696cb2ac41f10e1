"""Properties of the graph planner that hold for any topology, change list and alert set.

Hypothesis draws small random dependency graphs (acyclic ones, and ones with cycles), changes of
every kind from long before the incident to after it (including the exact window and clock-skew
boundaries), and alerts of both statuses, some naming services the topology does not know. Each
plan is checked with the independent oracle of :mod:`fakes.scenarios`: consumers roll back before
their providers, ``after`` never forms a cycle, nothing from after the incident start (beyond the
two-minute clock skew) is ever a suspect, and the same input always gives the same JSON plan.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fakes.scenarios import CLOCK_SKEW, WINDOW, Scenario, build, plan_violations
from planners.model import Alert, AlertStatus, Change, ChangeKind, Service, ServiceKind, Tier
from planners.planner import PlanningOptions, plan_rollback

_START = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
_OPTIONS = PlanningOptions(window=WINDOW, clock_skew=CLOCK_SKEW)
_SETTINGS = settings(
    max_examples=200,
    deadline=None,
    report_multiple_bugs=False,  # one minimal failing input per test is enough, and far faster
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@dataclass(frozen=True, kw_only=True)
class Inputs:
    """What one planning call gets: services, changes, alerts and the clock."""

    services: list[Service]
    changes: list[Change]
    alerts: list[Alert]
    now: datetime

    def scenario(self) -> Scenario:
        return Scenario(
            topology_services=self.services,
            changes=self.changes,
            alerts=self.alerts,
            now=self.now,
            culprit_id="",
            alerting=[],
            description="hypothesis",
        )


@st.composite
def planning_inputs(draw: st.DrawFn, *, cycles: bool) -> Inputs:
    """A random graph of 2 to 10 services (``cycles``: edges in any direction), 0 to 12 changes
    around the incident start, and 1 to 3 alerts."""
    count = draw(st.integers(2, 10))
    names = [f"s{i}" for i in range(count)]
    pairs = [(i, j) for i in range(count) for j in range(count) if i != j and (cycles or i < j)]
    edges = draw(st.sets(st.sampled_from(pairs), min_size=count - 1, max_size=3 * count))
    services = [
        Service(
            name=name,
            kind=draw(st.sampled_from(list(ServiceKind))),
            tier=draw(st.sampled_from(list(Tier))),
            depends_on=tuple(names[j] for i, j in sorted(edges) if i == index),
        )
        for index, name in enumerate(names)
    ]
    # Whole minutes (plus a second either side) so the window and skew boundaries are often hit.
    offsets = st.builds(
        lambda minutes, seconds: timedelta(minutes=minutes, seconds=seconds),
        st.integers(-130, 15) | st.integers(-40, 3),
        st.sampled_from([0, 0, 0, -1, 1, 30]),
    )
    uses = {s.name: s.depends_on for s in services}
    changes = []
    for index in range(draw(st.integers(0, 12))):
        kind = draw(st.sampled_from(list(ChangeKind)))
        service = draw(st.sampled_from(names))
        # A migration filed under an app names a database that app uses (DESIGN.md, Change).
        owned = uses[service] if kind == ChangeKind.MIGRATION else ()
        changes.append(
            Change(
                id=f"c{index}",
                service=service,
                kind=kind,
                at=_START + draw(offsets),
                from_version="v1.0.0",
                to_version="v1.0.1",
                revertible=draw(st.sampled_from([True, True, True, False])),
                flag=f"flag-{index}" if kind == ChangeKind.FEATURE_FLAG else None,
                database=draw(st.none() | st.sampled_from(owned)) if owned else None,
            )
        )
    # Mostly one firing alert on a consumer (a low index calls the higher ones in a DAG) at the
    # start; sometimes more, resolved ones, or one naming a service nobody declared.
    alerts = [
        Alert(
            fingerprint="f0",
            service=draw(st.sampled_from(names[: max(1, count // 2)])),
            name="HighErrorRate",
            status=draw(st.sampled_from([AlertStatus.FIRING] * 5 + [AlertStatus.RESOLVED])),
            started_at=_START,
        )
    ]
    alerts += [
        Alert(
            fingerprint=f"f{index}",
            service=draw(st.sampled_from([*names, "ghost"])),
            name="HighLatencyP99",
            status=draw(st.sampled_from([AlertStatus.FIRING] * 3 + [AlertStatus.RESOLVED])),
            started_at=_START + timedelta(minutes=draw(st.integers(-5, 10))),
        )
        for index in range(1, draw(st.integers(1, 3)))
    ]
    return Inputs(
        services=services, changes=changes, alerts=alerts, now=_START + timedelta(hours=1)
    )


_INPUTS = planning_inputs(cycles=False) | planning_inputs(cycles=True)
"""Acyclic graphs first (Hypothesis shrinks towards them), and graphs with cycles."""


def _plan(inputs: Inputs) -> dict[str, Any]:
    plan = plan_rollback(
        build(inputs.scenario()),
        changes=inputs.changes,
        alerts=inputs.alerts,
        now=inputs.now,
        options=_OPTIONS,
    )
    return plan.to_json_dict()


def _violations(inputs: Inputs, plan: dict[str, Any]) -> list[str]:
    return plan_violations(
        plan, services=inputs.services, changes=inputs.changes, alerts=inputs.alerts
    )


@_SETTINGS
@given(inputs=_INPUTS)
def test_consumers_roll_back_before_their_providers_within_a_stage(inputs):
    """Within a stage, a step on a consumer always runs before a step on a service it depends
    on (directly or not), unless the two share a dependency cycle."""
    problems = _violations(inputs, _plan(inputs))
    assert [p for p in problems if p.startswith(("(a)", "(c)"))] == []


@_SETTINGS
@given(inputs=_INPUTS)
def test_after_names_existing_steps_and_never_forms_a_cycle(inputs):
    """Every ``after`` entry names another step of the plan, and following them never loops."""
    plan = _plan(inputs)
    ids = [s["id"] for s in plan["steps"]]
    assert len(set(ids)) == len(ids)
    assert all(a in ids and a != s["id"] for s in plan["steps"] for a in s["after"])
    assert [p for p in _violations(inputs, plan) if p.startswith("(c)")] == []


@_SETTINGS
@given(inputs=_INPUTS)
def test_changes_after_the_incident_start_are_never_suspects(inputs):
    """No change later than the incident's start plus two minutes of clock skew is a suspect
    or a step, and neither is one from before the window. The start is that of a firing alert
    on a known service (alerts on unknown services and noise never set it)."""
    plan = _plan(inputs)
    reported = plan["incident"]["started_at"]
    start = None if reported is None else datetime.fromisoformat(reported)
    known = {s.name for s in inputs.services}
    starts = {
        a.started_at for a in inputs.alerts if a.status == AlertStatus.FIRING and a.service in known
    }
    at = {c.id: c.at for c in inputs.changes}
    named = [s["change_id"] for s in plan["suspects"]] + [s["change_id"] for s in plan["steps"]]
    if start is None:
        assert named == []
    else:
        assert start in starts
        assert all(start - WINDOW <= at[c] <= start + CLOCK_SKEW for c in named)


@_SETTINGS
@given(inputs=_INPUTS)
def test_the_same_input_always_gives_the_same_plan(inputs):
    """Planning twice, on a freshly merged topology each time, gives byte-identical JSON."""
    first = json.dumps(_plan(inputs), sort_keys=True)
    second = json.dumps(_plan(inputs), sort_keys=True)
    assert first == second


@_SETTINGS
@given(inputs=_INPUTS, seed=st.integers(0, 2**32 - 1))
def test_the_order_of_the_input_lists_does_not_change_the_plan(inputs, seed):
    """Shuffling the changes and the alerts (as a store or a webhook might) changes nothing."""
    rng = random.Random(seed)
    shuffled = Inputs(
        services=inputs.services,
        changes=rng.sample(inputs.changes, len(inputs.changes)),
        alerts=rng.sample(inputs.alerts, len(inputs.alerts)),
        now=inputs.now,
    )
    first, second = _plan(inputs), _plan(shuffled)
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)


@_SETTINGS
@given(inputs=_INPUTS)
def test_every_planning_rule_holds_on_random_inputs(inputs):
    """Whatever the graph and changes, the plan breaks none of the oracle's rules."""
    assert _violations(inputs, _plan(inputs)) == []


# --------------------------------------------------------------------------- found by Hypothesis


def _minutes_before(minutes: int) -> datetime:
    return _START - timedelta(minutes=minutes)


_CYCLE = [
    Service(name="orders", depends_on=("stock",)),
    Service(name="stock", depends_on=("orders",)),
]
REGRESSIONS: dict[str, Inputs] = {
    # A migration filed under the app that owns the database acts on the database: the other
    # users of that database roll back first (rule g), whatever the app's own place in the graph.
    "migration-filed-under-its-app": Inputs(
        services=[
            Service(name="web", depends_on=("api", "main-db")),
            Service(name="api", depends_on=("main-db",)),
            Service(name="main-db", kind=ServiceKind.DATABASE),
        ],
        changes=[
            Change(
                id="mig",
                service="web",
                kind=ChangeKind.MIGRATION,
                database="main-db",
                at=_minutes_before(1),
            ),
            Change(id="api-deploy", service="api", at=_minutes_before(30)),
        ],
        alerts=[Alert(fingerprint="f0", service="web", name="HighErrorRate", started_at=_START)],
        now=_START + timedelta(minutes=10),
    ),
    # The top suspect, a migration, is rolled back in the partial stage even when a user of the
    # migrated service also has a (lower-scored) rollback in the plan.
    "top-suspect-migration-with-a-user-rollback": Inputs(
        services=[
            Service(name="cart", depends_on=("carts-db",)),
            Service(name="carts-db", kind=ServiceKind.DATABASE),
        ],
        changes=[
            Change(id="mig", service="carts-db", kind=ChangeKind.MIGRATION, at=_minutes_before(12)),
            Change(id="cart-deploy", service="cart", at=_minutes_before(59)),
        ],
        alerts=[Alert(fingerprint="f0", service="cart", name="HighErrorRate", started_at=_START)],
        now=_START + timedelta(minutes=10),
    ),
    # In a dependency cycle a migration is still reverted after its users' rollbacks (rule g).
    "migration-in-a-cycle-after-its-users": Inputs(
        services=_CYCLE,
        changes=[
            Change(
                id="m-orders", service="orders", kind=ChangeKind.MIGRATION, at=_minutes_before(9)
            ),
            Change(id="d-stock", service="stock", at=_minutes_before(30)),
        ],
        alerts=[Alert(fingerprint="f0", service="orders", name="HighErrorRate", started_at=_START)],
        now=_START + timedelta(minutes=10),
    ),
    # In a dependency cycle the stages still run contain, partial, full (rule b).
    "migrations-in-a-cycle-keep-the-stage-order": Inputs(
        services=_CYCLE,
        changes=[
            Change(id="c1", service="orders", kind=ChangeKind.MIGRATION, at=_minutes_before(9)),
            Change(id="c2", service="stock", kind=ChangeKind.MIGRATION, at=_START),
            Change(id="c3", service="orders", at=_minutes_before(54)),
        ],
        alerts=[Alert(fingerprint="f0", service="orders", name="HighErrorRate", started_at=_START)],
        now=_START + timedelta(minutes=10),
    ),
}


@pytest.mark.parametrize("case", sorted(REGRESSIONS))
def test_plans_found_wanting_by_hypothesis_keep_every_rule(case):
    """Small inputs that once broke a rule (migrations filed under an app, migrations inside a
    dependency cycle, a migration as the top suspect) give plans that keep every rule."""
    inputs = REGRESSIONS[case]
    assert _violations(inputs, _plan(inputs)) == []
