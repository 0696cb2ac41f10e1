"""One reading for a deploy watch: healthy, breached (a check read and failed) or unreadable (a
check could not be read: no evidence either way); a rejected query raises; the catalog's checks
are built once per service, and a Prometheus check is one query per reading."""

from __future__ import annotations

from typing import ClassVar

import httpx
import pytest

from integrations.base import HealthReading
from integrations.errors import ConfigError, UnavailableError
from integrations.health.once import CatalogReadings, SnapshotState, read_once
from planners.model import Service
from planners.topology import Fragment, build_topology

OK = HealthReading(healthy=True, detail="error ratio 0.01 (needs < 0.05)", value=0.01)
BAD = HealthReading(healthy=False, detail="error ratio 0.2 (needs < 0.05)", value=0.2)


class Check:
    """Answers one reading, or raises one error."""

    kind: ClassVar[str] = "scripted"

    def __init__(self, outcome: HealthReading | Exception, *, name: str = "error ratio") -> None:
        self.outcome = outcome
        self.name = name

    def read(self) -> HealthReading:
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


def test_every_check_healthy_is_healthy():
    snapshot = read_once([Check(OK), Check(OK, name="probe")])
    assert snapshot.state == SnapshotState.HEALTHY
    assert not snapshot.breached and snapshot.check is None


def test_a_failing_check_is_a_breach_that_names_it_even_if_another_is_unreadable():
    down = UnavailableError("prometheus is down", integration="prometheus")
    snapshot = read_once([Check(down, name="latency"), Check(BAD, name="error ratio")])
    assert snapshot.state == SnapshotState.BREACHED
    assert (snapshot.check, snapshot.value) == ("error ratio", 0.2)
    assert "latency could not be read" in snapshot.detail
    assert "error ratio 0.2" in snapshot.detail


def test_a_check_that_cannot_be_read_is_no_breach():
    down = UnavailableError("connection refused", integration="prometheus")
    snapshot = read_once([Check(OK), Check(down)])
    assert snapshot.state == SnapshotState.UNREADABLE
    assert not snapshot.breached


def test_a_rejected_query_raises():
    with pytest.raises(ConfigError):
        read_once([Check(ConfigError("bad_data", integration="prometheus"))])


def test_no_checks_is_a_mistake():
    with pytest.raises(ValueError, match="at least one check"):
        read_once([])


def test_catalog_readings_query_prometheus_once_per_reading_and_keep_their_checks():
    queries: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        queries.append(request.url.params["query"])
        sample = {"metric": {"service": "cart"}, "value": [0, "0.3"]}
        data = {"resultType": "vector", "result": [sample]}
        return httpx.Response(200, json={"status": "success", "data": data})

    built: list[str] = []

    def client(base_url: str, *, timeout: float) -> httpx.Client:
        built.append(base_url)
        return httpx.Client(base_url=base_url, transport=httpx.MockTransport(answer))

    health = {"prometheus": {"query": "ratio", "op": "<", "threshold": 0.05, "name": "ratio"}}
    services = [
        Service.model_validate({"name": "cart", "health": health}),
        Service.model_validate({"name": "redis"}),
    ]
    topology, _ = build_topology([Fragment(origin="test", services=services)])
    readings = CatalogReadings(topology, prometheus_url="http://prom:9090", client_factory=client)
    try:
        first, second = readings("cart"), readings("cart")
        assert first is not None and second is not None
        assert first.breached and first.check == "ratio" and first.value == 0.3
        assert queries == ["ratio", "ratio"]
        assert built == ["http://prom:9090"]
        assert readings("redis") is None
        assert readings.has_checks("cart") and not readings.has_checks("redis")
    finally:
        readings.close()
