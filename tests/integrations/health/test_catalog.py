"""``checks_from_catalog``: each accepted shape of a service's ``health`` entry, and the errors.

The entry's shape (types, keys) is checked when the catalog is read (``HealthSpec``; those errors
are in ``tests/integrations/topology/test_catalog.py``); the values a check's adapter cannot use
are a ``ConfigError`` here.

The client factory is a fake that records what it was asked for and answers every request with
a canned Prometheus success over ``httpx.MockTransport``, so a check can be read to see what it
would send.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from integrations.errors import ConfigError
from integrations.health import (
    DEFAULT_CONSECUTIVE,
    DEFAULT_INTERVAL,
    DEFAULT_TIMEOUT,
    HttpProbe,
    PrometheusHealthCheck,
    ServiceHealth,
    checks_from_catalog,
)
from planners.model import HealthSpec

PROMETHEUS = "http://prometheus:9090"
ONE_SAMPLE = {
    "status": "success",
    "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1.0, "0.01"]}]},
}


class FakeClients:
    """A client factory that records each call and every request sent through its clients."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, float]] = []
        self.clients: list[httpx.Client] = []
        self.requests: list[httpx.Request] = []

    def __call__(self, base_url: str, *, timeout: float) -> httpx.Client:
        self.calls.append((base_url, timeout))
        client = httpx.Client(
            base_url=base_url, timeout=timeout, transport=httpx.MockTransport(self._answer)
        )
        self.clients.append(client)
        return client

    def _answer(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200, json=ONE_SAMPLE)


@pytest.fixture
def clients() -> FakeClients:
    return FakeClients()


def build(
    health: dict[str, Any], clients: FakeClients, *, prometheus_url: str | None = PROMETHEUS
) -> ServiceHealth:
    spec = HealthSpec.model_validate(health)
    return checks_from_catalog(spec, prometheus_url=prometheus_url, client_factory=clients)


def test_a_prometheus_expression_is_a_condition_that_must_hold(clients):
    """A string is a PromQL comparison sent as is; a returned sample means healthy."""
    expr = 'error_ratio{service="cart"} < 0.05'
    health = build({"prometheus": expr}, clients)
    (check,) = health.checks
    assert isinstance(check, PrometheusHealthCheck)
    assert check.mode == "non_empty"
    assert check.read().healthy is True
    assert clients.calls == [(PROMETHEUS, 10.0)]
    assert clients.requests[0].url == httpx.URL(
        f"{PROMETHEUS}/api/v1/query", params={"query": expr}
    )


def test_a_prometheus_mapping_sets_op_and_threshold(clients):
    """The mapping form compares every sample with op and threshold."""
    config = {"query": "error_ratio", "op": "<", "threshold": 0.05, "timeout": 3, "name": "errors"}
    (check,) = build({"prometheus": config}, clients).checks
    assert isinstance(check, PrometheusHealthCheck)
    assert (check.mode, check.op, check.threshold, check.empty_is) == (
        "threshold",
        "<",
        0.05,
        "unhealthy",
    )
    assert check.read().detail == "errors 0.01 (needs < 0.05)"
    assert clients.calls == [(PROMETHEUS, 3.0)]


def test_a_check_may_name_its_own_prometheus(clients):
    """A url in the mapping wins over Backout's Prometheus, and is enough without one."""
    config = {"query": "up == 1", "url": "http://other-prometheus:9090"}
    build({"prometheus": config}, clients, prometheus_url=None)
    assert clients.calls == [("http://other-prometheus:9090", 10.0)]


def test_an_http_url_is_a_probe_expecting_2xx(clients):
    """A string under http is the URL to probe; the client gets the URL's origin."""
    (check,) = build({"http": "http://cart:8080/healthz"}, clients).checks
    assert isinstance(check, HttpProbe)
    assert check.url == "http://cart:8080/healthz"
    assert check.expect is None
    assert clients.calls == [("http://cart:8080/", 5.0)]


def test_an_http_mapping_sets_the_expected_statuses(clients):
    """expect lists the statuses that mean healthy."""
    health = build({"http": {"url": "http://cart:8080/healthz", "expect": [200, 204]}}, clients)
    (check,) = health.checks
    assert isinstance(check, HttpProbe)
    assert check.expect == frozenset({200, 204})


def test_verification_settings_come_from_the_entry(clients):
    """consecutive, timeout and interval are read; missing ones take the defaults."""
    given = build(
        {"http": "http://cart/", "consecutive": 5, "timeout": 300, "interval": 10}, clients
    )
    default = build({"http": "http://cart/"}, clients)
    assert (given.consecutive, given.timeout, given.interval) == (5, 300.0, 10.0)
    assert (default.consecutive, default.timeout, default.interval) == (
        DEFAULT_CONSECUTIVE,
        DEFAULT_TIMEOUT,
        DEFAULT_INTERVAL,
    )


def test_several_checks_are_all_kept(clients):
    """Prometheus and HTTP together, and lists of either, give one check each."""
    health = build(
        {"prometheus": ["a < 1", {"query": "b", "op": ">", "threshold": 0}], "http": "http://x/"},
        clients,
    )
    assert [type(check).__name__ for check in health.checks] == [
        "PrometheusHealthCheck",
        "PrometheusHealthCheck",
        "HttpProbe",
    ]


def test_close_closes_every_client(clients):
    """ServiceHealth.close releases the clients the factory built."""
    health = build({"prometheus": "a < 1", "http": "http://x/"}, clients)
    health.close()
    assert [client.is_closed for client in clients.clients] == [True, True]


@pytest.mark.parametrize(
    ("health", "field"),
    [
        ({"prometheus": {"query": "x", "op": "~", "threshold": 1}}, "health.prometheus.op '~'"),
        (
            {"prometheus": {"query": "x", "op": "<"}},
            "health.prometheus.op and health.prometheus.threshold",
        ),
        ({"prometheus": {"query": "x", "timeout": 0}}, "health.prometheus.timeout"),
        ({"prometheus": {"query": "x", "url": "prometheus:9090"}}, "health.prometheus.url"),
        (
            {"prometheus": {"query": "x", "op": "<", "threshold": 1, "empty_is": "fine"}},
            "health.prometheus.empty_is",
        ),
        ({"prometheus": {"query": "x < 1", "empty_is": "healthy"}}, "health.prometheus.empty_is"),
        ({"http": {"url": "cart/healthz"}}, "health.http.url"),
        ({"http": {"url": "http://cart/", "expect": [200, 99]}}, "health.http.expect"),
        ({"http": ["http://a/", "cart/healthz"]}, "health.http[1].url"),
    ],
)
def test_a_value_the_check_cannot_use_is_a_config_error_naming_the_field(clients, health, field):
    """Every unusable value is reported by field, and no client is left open."""
    with pytest.raises(ConfigError, match=re.escape(field)):
        build(health, clients)
    assert all(client.is_closed for client in clients.clients)


def test_a_query_without_any_prometheus_url_is_a_config_error(clients):
    """With no Prometheus configured, a query that names none cannot run."""
    with pytest.raises(ConfigError, match="needs a Prometheus URL"):
        build({"prometheus": "up == 1"}, clients, prometheus_url=None)


def test_a_later_bad_check_closes_the_clients_already_built(clients):
    """A bad http entry after a good prometheus one leaves no open client behind."""
    with pytest.raises(ConfigError, match=re.escape("health.http.url")):
        build({"prometheus": "up == 1", "http": "nope"}, clients)
    assert len(clients.clients) == 1
    assert clients.clients[0].is_closed
