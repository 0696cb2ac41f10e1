"""A deploy watch against a real Prometheus (the Debian package) scraping the test app: the
deploy is recorded, the service's error ratio breaches, and the watch's next job tick posts the
plan on the fake Slack. The jobs run on the test's clock, ticked by hand; Prometheus runs in
real time, so the test waits for it to have scraped what the app serves, and measures nothing
about time (``benchmarks/watch.py`` does)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from fakes.metrics_app import HealthApp
from fakes.slack import FakeSlack
from integrations.health.once import CatalogReadings, SnapshotState
from tests.bot.core.on_the_clock import CHANNEL, OnTheClock, topology
from tests.support.prometheus import running_prometheus
from tests.support.store import Clock

SERVICE = "cartservice"
RATIO = (
    f'sum(rate(app_errors_total{{service="{SERVICE}"}}[10s])) / '
    f'sum(rate(app_requests_total{{service="{SERVICE}"}}[10s]))'
)
HEALTH = {"prometheus": {"query": RATIO, "op": "<", "threshold": 0.05, "name": "error ratio"}}


@pytest.fixture
def prometheus() -> Iterator[tuple[HealthApp, str]]:
    with HealthApp() as app:
        app.set_error_ratio(SERVICE, 0.0)
        with running_prometheus(scrape_port=app.port) as running:
            yield app, running.base_url


def eventually(condition: Callable[[], Any], *, timeout: float = 60.0) -> Any:
    """Poll ``condition`` until it is truthy (Prometheus scrapes every second)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.2)
    pytest.fail(f"not true within {timeout:g} s")


def state(readings: CatalogReadings) -> SnapshotState | None:
    snapshot = readings(SERVICE)
    return None if snapshot is None else snapshot.state


def test_a_breach_seen_by_prometheus_makes_the_watch_post_the_plan(
    prometheus, tmp_path, migrated_sqlite_file
):
    app, url = prometheus
    topo = topology(health=HEALTH)
    readings = CatalogReadings(topo, prometheus_url=url)
    clock = Clock()
    with FakeSlack() as slack:
        world = OnTheClock(
            workdir=tmp_path,
            migrated=migrated_sqlite_file,
            slack=slack,
            clock=clock,
            read=readings,
            topo=topo,
        )
        try:
            eventually(lambda: state(readings) == SnapshotState.HEALTHY)
            world.deploy(minutes_ago=0)
            clock.advance(30)
            assert world.tick() == 1  # a healthy reading; the next one is stored
            assert world.posts() == []

            app.set_error_ratio(SERVICE, 0.4)
            eventually(lambda: state(readings) == SnapshotState.BREACHED)
            clock.advance(30)
            assert world.tick() == 1

            (posted,) = world.plan_posts()
            assert posted["channel"] == CHANNEL
            (plan,) = [p for p in world.store.plans.recent() if p.kind == "live"]
            assert plan.plan.suspects[0].change_id == "chg-1"
            incident = world.store.incidents.incident(plan.plan.incident.id)
            assert incident is not None
            assert [a.name for a in incident.alerts] == [
                "deploy watch: error ratio breached after chg-1"
            ]
            (breached,) = world.audit("watch.breached", plan.id)
            # The 10 s rate window ramps up to 0.4: whatever it read was above the threshold.
            assert re.fullmatch(
                r"error ratio 0\.\d+ \(needs < 0\.05\)", breached.details["reading"]
            )
        finally:
            world.close()
            readings.close()
