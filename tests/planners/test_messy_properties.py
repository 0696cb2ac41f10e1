"""Properties of messy incidents over random graphs (issue 8).

Built on the random inputs of :mod:`tests.planners.test_properties`: the coupled order holds on
every plan, including transitive consumers; alerts on unknown services never change the start;
an unrelated chronic alert never changes the top suspect; and no step rolls back a change that
explains none of the incident's alerting services unless it is coupled to one that does.
"""

from __future__ import annotations

from datetime import timedelta

import networkx as nx
from hypothesis import assume, given
from hypothesis import strategies as st

from planners.model import Alert
from tests.planners.test_properties import _INPUTS, _SETTINGS, Inputs, _plan, _violations


@_SETTINGS
@given(inputs=_INPUTS)
def test_coupled_consumers_run_first_and_are_pulled_in_on_every_plan(inputs):
    """Whenever one step's service depends on another's, directly or transitively, and its
    change came after, it runs first whatever the stages (k); direct consumers changed after a
    rolled-back change are rolled back too (l)."""
    problems = _violations(inputs, _plan(inputs))
    assert [p for p in problems if p.startswith(("(k)", "(l)"))] == []


@_SETTINGS
@given(inputs=_INPUTS, minutes=st.lists(st.integers(-600, 30), min_size=1, max_size=4))
def test_alerts_on_unknown_services_never_change_the_start(inputs, minutes):
    """Adding firing alerts on services nobody declared (exporters, look-alikes), at any time,
    changes neither the start, nor the alerting services, nor the suspects and steps."""
    first = _plan(inputs)
    start = min(a.started_at for a in inputs.alerts)
    extra = [
        Alert(
            fingerprint=f"unknown-{i}",
            service=name,
            name="NodeNotReady",
            started_at=start + timedelta(minutes=m),
        )
        for i, (m, name) in enumerate(
            zip(
                minutes,
                ["node-exporter", "kube-state-metrics", "s\u04350", "s0-canary"],
                strict=False,
            )
        )
    ]
    second = _plan(Inputs(**{**inputs.__dict__, "alerts": [*inputs.alerts, *extra]}))
    assert second["incident"]["started_at"] == first["incident"]["started_at"]
    assert second["incident"]["services"] == first["incident"]["services"]
    assert second["suspects"] == first["suspects"]
    assert second["steps"] == first["steps"]


@_SETTINGS
@given(inputs=_INPUTS, data=st.data())
def test_an_unrelated_chronic_alert_never_changes_the_top_suspect(inputs, data):
    """Added to an incident, an alert on any known service that started hours before everything
    else is chronic noise: the top suspect stays the same."""
    first = _plan(inputs)
    assume(first["incident"]["started_at"] is not None)
    earliest = min(a.started_at for a in inputs.alerts)
    service = data.draw(st.sampled_from([s.name for s in inputs.services]))
    hours = data.draw(st.integers(2, 12))
    chronic = Alert(
        fingerprint="chronic",
        service=service,
        name="DiskWillFillIn4h",
        severity="warning",
        started_at=earliest - timedelta(hours=hours),
    )
    second = _plan(Inputs(**{**inputs.__dict__, "alerts": [*inputs.alerts, chronic]}))
    top = [s["change_id"] for s in first["suspects"][:1]]
    assert [s["change_id"] for s in second["suspects"][:1]] == top
    assert second["steps"] == first["steps"]


@_SETTINGS
@given(inputs=_INPUTS)
def test_no_step_rolls_back_a_change_that_explains_no_alerting_service(inputs):
    """Every step's change is on an alerting service or on one an alerting service depends on,
    or it is coupled to a step that is (rule 3)."""
    plan = _plan(inputs)
    graph: nx.DiGraph = nx.DiGraph()
    graph.add_nodes_from(s.name for s in inputs.services)
    graph.add_edges_from((s.name, t) for s in inputs.services for t in s.depends_on)
    alerting = plan["incident"]["services"]
    changes = {c.id: c for c in inputs.changes}
    for step in plan["steps"]:
        service = changes[step["change_id"]].service
        explains = any(a == service or nx.has_path(graph, a, service) for a in alerting)
        assert explains or "coupled" in step["why"], step
