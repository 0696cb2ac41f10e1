"""Which incident an alert joins (issue 10, build 2), on the running bot with the Online Boutique
topology: the same service, a service it depends on or that depends on it, or one sharing a
provider joins; services that only share a consumer (the frontend) stay apart; an alert that
started more than the window after the incident, or after its plan finished, opens its own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.usecases.grouping import representatives
from bot.lifecycle import PlanStatus
from fakes.world import BotWorld
from planners.incident import group_alerts
from planners.model import Alert
from tests.bot.core.alert_storm import (
    body,
    incident_plan,
    live_plans,
    posts,
    send,
    storm_world,
)


def incidents_of(world: BotWorld, *plans: str | None) -> list[str]:
    store = world.services.store
    return [store.plans.get(p).plan.incident.id for p in plans if p is not None]


def open_incident_ids(world: BotWorld) -> set[str]:
    return {p.plan.incident.id for p in live_plans(world)}


@pytest.mark.parametrize(
    ("first", "then"),
    [
        ("cartservice", "cartservice"),  # the same service
        ("cartservice", "checkoutservice"),  # a consumer of cartservice
        ("checkoutservice", "cartservice"),  # a provider of checkoutservice
        ("cartservice", "redis-cart"),  # cartservice's own dependency
        ("recommendationservice", "checkoutservice"),  # both call productcatalogservice
    ],
)
def test_a_related_alert_joins_the_open_incident(tmp_path: Path, first: str, then: str) -> None:
    """The second alert joins the first one's incident: one incident, one message."""
    with storm_world(tmp_path) as (world, clock):
        opened = send(world, body([("f1", first)], at=clock.now))
        joined = send(world, body([("f2", then)], at=clock.now + timedelta(minutes=2)))
        world.settle()
        assert opened is not None
        assert joined is None
        incident = world.services.store.incidents.incident(incidents_of(world, opened)[0])
        assert incident is not None
        assert [a.fingerprint for a in incident.alerts] == ["f1", "f2"]
        assert set(incident.services) == {first, then}
        assert len(posts(world)) == 1


def test_services_that_only_share_a_consumer_stay_apart(tmp_path: Path) -> None:
    """cartservice and currencyservice are both called by the frontend (and checkout), but
    neither depends on the other and they share no provider: two incidents, two messages.
    A frontend alert joins the cart incident and narrows it, so currency still stays apart."""
    with storm_world(tmp_path) as (world, clock):
        cart = send(world, body([("c1", "cartservice")], at=clock.now))
        assert send(world, body([("fe", "frontend")], at=clock.now)) is None
        currency = send(world, body([("x1", "currencyservice")], at=clock.now))
        world.settle()
        assert cart is not None
        assert currency is not None
        assert incidents_of(world, cart) != incidents_of(world, currency)
        assert len(open_incident_ids(world)) == 2
        assert len(posts(world)) == 2


def test_one_payload_of_unrelated_alerts_opens_one_incident_each(tmp_path: Path) -> None:
    """Alerts of one payload are grouped by the same rule among themselves."""
    with storm_world(tmp_path) as (world, clock):
        send(
            world,
            body(
                [("c1", "cartservice"), ("c2", "checkoutservice"), ("x1", "currencyservice")],
                at=clock.now,
            ),
        )
        world.settle()
        by_incident = {p.plan.incident.id: set(p.plan.incident.services) for p in live_plans(world)}
        assert sorted(by_incident.values(), key=len) == [
            {"currencyservice"},
            {"cartservice", "checkoutservice"},
        ]
        assert len(posts(world)) == 2


def test_an_alert_outside_the_window_opens_its_own_incident(tmp_path: Path) -> None:
    """An alert that started more than ``group_window_minutes`` after the open incident did is a
    new incident, even on the same service."""
    with storm_world(tmp_path, window_minutes=30) as (world, clock):
        first = send(world, body([("f1", "cartservice")], at=clock.now - timedelta(minutes=40)))
        inside = send(world, body([("f2", "cartservice")], at=clock.now - timedelta(minutes=15)))
        later = send(world, body([("f3", "cartservice")], at=clock.now))
        world.settle()
        assert inside is None
        assert first is not None
        assert later is not None
        assert incidents_of(world, first) != incidents_of(world, later)
        assert len(posts(world)) == 2


def test_an_alert_after_the_plan_finished_opens_a_new_incident(tmp_path: Path) -> None:
    """Once the incident's plan is over (here rejected), an alert that starts later is a new
    problem with its own plan; the old incident is left as it was."""
    with storm_world(tmp_path) as (world, clock):
        first = send(world, body([("f1", "cartservice")], at=clock.now - timedelta(minutes=5)))
        assert first is not None
        store = world.services.store
        assert store.plans.move(first, PlanStatus.REJECTED, actor="U0ONCALL1")
        clock.advance(5)
        later = send(world, body([("f2", "cartservice")], at=clock.now + timedelta(seconds=5)))
        world.settle()
        assert later is not None
        assert incidents_of(world, first) != incidents_of(world, later)
        assert incident_plan(world, first).id == first


@settings(max_examples=200)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["cartservice", "checkoutservice", "frontend", "nosuch"]),
            st.sampled_from(["HighErrorRate", "Latency"]),
            st.integers(min_value=0, max_value=4 * 3600),
        ),
        min_size=1,
        max_size=60,
    ),
    st.integers(min_value=1, max_value=45),
)
def test_representatives_draw_the_same_incident(
    drawn: list[tuple[str, str, int]], gap_minutes: int
) -> None:
    """Drafting from the earliest and latest alert per service, name and minute gives the
    planner the same alerting services, start, chronic noise and unknown services as drafting
    from every alert, whatever the gaps between starts."""
    start = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    alerts = [
        Alert(
            fingerprint=f"f{n}",
            service=service,
            name=name,
            started_at=start + timedelta(seconds=seconds),
        )
        for n, (service, name, seconds) in enumerate(drawn)
    ]
    known = {"cartservice", "checkoutservice", "frontend"}
    gap = timedelta(minutes=gap_minutes)
    every = group_alerts(alerts, known=known, burst_gap=gap)
    few = group_alerts(representatives(alerts), known=known, burst_gap=gap)
    assert (few.services, few.started_at) == (every.services, every.started_at)
    assert {(n.service, n.name) for n in few.noise} == {(n.service, n.name) for n in every.noise}
    assert {a.service for a in few.unknown} == {a.service for a in every.unknown}
