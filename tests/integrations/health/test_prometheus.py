"""The Prometheus health check against a real Prometheus scraping the health app.

Prometheus starts once for the module (``prom.py``) and scrapes :class:`HealthApp` every second;
each test drives its own ``service`` label so that the tests do not see each other's traffic.
The last tests need no Prometheus: they serve canned answers over ``httpx.MockTransport``.
"""

from __future__ import annotations

import json
import math
import time

import httpx
import pytest

from fakes.metrics_app import HealthApp
from integrations.base import HealthReading
from integrations.errors import ConfigError, UnavailableError
from integrations.health import PrometheusHealthCheck, verify
from integrations.http import make_client
from tests.support.loopback import free_port
from tests.support.prometheus import running_prometheus

DATA_TIMEOUT = 20.0  # seconds to wait for Prometheus to have scraped enough samples


@pytest.fixture(scope="module")
def app():
    with HealthApp() as app:
        yield app


@pytest.fixture(scope="module")
def prometheus(app):
    with running_prometheus(scrape_port=app.port) as prometheus:
        yield prometheus


@pytest.fixture(scope="module")
def client(prometheus):
    with make_client(prometheus.base_url, timeout=5.0) as client:
        yield client


def error_ratio(service: str) -> str:
    """The PromQL error ratio of one service over a short window."""
    selector = f'{{service="{service}"}}'
    return (
        f"sum(rate(app_errors_total{selector}[10s])) / sum(rate(app_requests_total{selector}[10s]))"
    )


def first_value(check: PrometheusHealthCheck) -> HealthReading:
    """Read until Prometheus has data for the query (a reading with a value), then return it."""
    deadline = time.monotonic() + DATA_TIMEOUT
    while time.monotonic() < deadline:
        reading = check.read()
        if reading.value is not None:
            return reading
        time.sleep(0.25)
    pytest.fail(f"Prometheus had no data for {check.query!r} after {DATA_TIMEOUT:g} s")


def test_a_high_error_ratio_reads_unhealthy(app, client):
    """At 12 % errors the ratio reads 0.12, and ``ratio < 0.05`` returns nothing: unhealthy."""
    app.set_error_ratio("cart", 0.12)
    threshold = PrometheusHealthCheck(
        client=client, query=error_ratio("cart"), op="<", threshold=0.05, name="error ratio"
    )
    reading = first_value(threshold)
    assert reading.healthy is False
    assert reading.value == pytest.approx(0.12)
    assert reading.detail == "error ratio 0.12 (needs < 0.05)"

    condition = PrometheusHealthCheck(client=client, query=f"{error_ratio('cart')} < 0.05")
    assert condition.mode == "non_empty"
    assert condition.read().healthy is False


def test_verify_turns_healthy_once_errors_stop(app, client):
    """After errors drop to 0 %, verify sees three healthy readings in a row."""
    app.set_error_ratio("checkout", 0.12)
    ratio = PrometheusHealthCheck(client=client, query=error_ratio("checkout"), op="<", threshold=1)
    assert first_value(ratio).value == pytest.approx(0.12)

    app.set_error_ratio("checkout", 0.0)
    check = PrometheusHealthCheck(client=client, query=f"{error_ratio('checkout')} < 0.05")
    verdict = verify(check, consecutive=3, interval=1.0, timeout=30.0)

    assert verdict.healthy is True, verdict.reason
    assert [reading.healthy for reading in verdict.readings[-3:]] == [True, True, True]
    assert verdict.reason.startswith("healthy 3 times in a row")


def test_a_query_prometheus_cannot_parse_is_a_config_error(client):
    """A PromQL syntax error is a ConfigError carrying Prometheus' own message."""
    check = PrometheusHealthCheck(client=client, query="sum(rate(app_requests_total[10s])")
    with pytest.raises(ConfigError, match="parse error") as caught:
        check.read()
    assert "sum(rate(app_requests_total[10s])" in str(caught.value)
    assert caught.value.integration == "prometheus"


def test_no_data_is_unhealthy_by_default(client):
    """A query that matches no series reads unhealthy, unless empty_is says otherwise."""
    query = 'app_requests_total{service="nobody"}'
    default = PrometheusHealthCheck(client=client, query=query, op=">", threshold=0)
    lenient = PrometheusHealthCheck(
        client=client, query=query, op=">", threshold=0, empty_is="healthy"
    )
    condition = PrometheusHealthCheck(client=client, query=f"{query} > 0")

    reading = default.read()
    assert reading.healthy is False
    assert "no data" in reading.detail
    assert lenient.read().healthy is True
    assert condition.read().healthy is False


def test_a_nan_ratio_is_unhealthy(app, client):
    """A service with no traffic has a 0/0 = NaN error ratio, which is not health."""
    app.set_error_ratio("idle", 0.0, requests_per_scrape=0)
    check = PrometheusHealthCheck(client=client, query=error_ratio("idle"), op="<", threshold=0.05)
    reading = first_value(check)
    assert reading.healthy is False
    assert reading.value is not None and math.isnan(reading.value)
    assert "NaN" in reading.detail


@pytest.mark.parametrize(
    ("query", "op", "threshold", "healthy"),
    [
        ("0.5", "<", 1, True),
        ("0.5", ">=", 1, False),
        ("0/0", "<", 1, False),
        ("1 < bool 2", None, None, True),
        ("2 < bool 1", None, None, False),
    ],
)
def test_scalar_results_are_judged(client, query, op, threshold, healthy):
    """Scalars go through op and threshold; a lone bool comparison is healthy at 1; NaN never."""
    check = PrometheusHealthCheck(client=client, query=query, op=op, threshold=threshold)
    assert check.read().healthy is healthy


def test_a_range_vector_is_a_config_error(client):
    """A query answering a range vector cannot be judged and says how to fix it."""
    check = PrometheusHealthCheck(
        client=client, query="app_requests_total[10s]", op="<", threshold=1
    )
    with pytest.raises(ConfigError, match="matrix"):
        check.read()


def test_an_unreachable_prometheus_is_unavailable():
    """Nothing listening on the port: a temporary error, retried by verify."""
    with make_client(f"http://127.0.0.1:{free_port()}", timeout=2.0) as client:
        check = PrometheusHealthCheck(client=client, query="up == 1")
        with pytest.raises(UnavailableError):
            check.read()


# Canned answers: what a real Prometheus is hard to make do on demand.


def canned(status: int, body: object, *, content_type: str = "application/json") -> httpx.Client:
    """A client whose every request gets this answer."""
    text = body if isinstance(body, str) else json.dumps(body)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, text=text, headers={"content-type": content_type})

    return make_client("http://prometheus.test", transport=httpx.MockTransport(handler))


def vector(*samples: tuple[dict[str, str], str]) -> dict[str, object]:
    result = [{"metric": labels, "value": [1700000000.0, value]} for labels, value in samples]
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


def test_every_series_must_pass_and_the_failing_one_is_named():
    """With several series, one failing series makes the reading unhealthy and is named."""
    answer = vector(
        ({"service": "cart", "pod": "a"}, "0.01"),
        ({"service": "cart", "pod": "b"}, "0.2"),
        ({"service": "cart", "pod": "c"}, "0.03"),
    )
    with canned(200, answer) as client:
        check = PrometheusHealthCheck(
            client=client, query="ratio", op="<", threshold=0.05, name="error ratio"
        )
        reading = check.read()
    assert reading.healthy is False
    assert reading.value == pytest.approx(0.2)
    assert reading.detail == (
        'error ratio 0.2 for {pod="b", service="cart"} (needs < 0.05; 1 of 3 series fail)'
    )


def test_a_passing_reading_reports_the_series_closest_to_failing():
    """When all pass, the value shown is the one nearest the threshold."""
    with canned(200, vector(({"pod": "a"}, "0.01"), ({"pod": "b"}, "0.04"))) as client:
        check = PrometheusHealthCheck(client=client, query="ratio", op="<", threshold=0.05)
        reading = check.read()
    assert reading.healthy is True
    assert reading.value == pytest.approx(0.04)


def prometheus_error(error_type: str, error: str) -> dict[str, str]:
    return {"status": "error", "errorType": error_type, "error": error}


@pytest.mark.parametrize(
    ("status", "body", "error", "match"),
    [
        (503, prometheus_error("timeout", "query timed out"), UnavailableError, "timed out"),
        (500, "<html>upstream died</html>", UnavailableError, "HTTP 500"),
        (422, prometheus_error("execution", "many-to-many"), ConfigError, "many-to-many"),
        (400, prometheus_error("bad_data", "1:5: parse error"), ConfigError, "1:5: parse error"),
        (200, "<html>a login page</html>", ConfigError, "did not answer like"),
        (
            200,
            {"status": "success", "data": {"resultType": "string", "result": [0, "x"]}},
            ConfigError,
            "returns a string",
        ),
    ],
)
def test_failures_map_to_our_errors(status, body, error, match):
    """Server trouble is temporary; a rejected query or a non-Prometheus answer is config."""
    with canned(status, body) as client:
        check = PrometheusHealthCheck(client=client, query="up", op="==", threshold=1)
        with pytest.raises(error, match=match):
            check.read()
