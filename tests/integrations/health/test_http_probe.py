"""The HTTP probe against a loopback server (the health app's ``/healthz``).

A service that is down is what a probe is for: refused connections and timeouts are unhealthy
readings, never exceptions. Only a probe that could never work (a malformed URL) is an error.
"""

from __future__ import annotations

import pytest

from fakes.metrics_app import HealthApp
from integrations.errors import ConfigError
from integrations.health import HttpProbe
from integrations.http import make_client
from tests.support.loopback import free_port


@pytest.fixture
def app():
    with HealthApp() as app:
        yield app


def probe(url: str, *, timeout: float = 2.0, expect: list[int] | None = None) -> HttpProbe:
    return HttpProbe.from_config(
        {"url": url, "timeout": timeout, **({"expect": expect} if expect else {})}
    )


def test_200_is_healthy(app):
    """A 2xx answer reads healthy and reports the status."""
    check = probe(f"{app.base_url}/healthz")
    reading = check.read()
    check.close()
    assert reading.healthy is True
    assert reading.value == 200
    assert reading.detail == f"GET {app.base_url}/healthz answered 200 OK (expects 2xx)"


def test_503_is_unhealthy(app):
    """A 503 answer reads unhealthy."""
    app.set_healthz(503)
    check = probe(f"{app.base_url}/healthz")
    reading = check.read()
    check.close()
    assert reading.healthy is False
    assert "answered 503 Service Unavailable" in reading.detail


def test_expected_statuses_replace_2xx(app):
    """With expect, only the listed statuses are healthy, 2xx or not."""
    app.set_healthz(204)
    strict = probe(f"{app.base_url}/healthz", expect=[200])
    app_is_down_on_purpose = probe(f"{app.base_url}/healthz", expect=[204, 503])
    assert strict.read().healthy is False
    assert app_is_down_on_purpose.read().healthy is True
    strict.close()
    app_is_down_on_purpose.close()


def test_connection_refused_is_unhealthy():
    """Nothing listening: an unhealthy reading that says it could not connect."""
    check = probe(f"http://127.0.0.1:{free_port()}/healthz")
    reading = check.read()
    check.close()
    assert reading.healthy is False
    assert "could not connect" in reading.detail


def test_timeout_is_unhealthy(app):
    """A server slower than the probe's timeout reads unhealthy, without raising."""
    app.set_healthz(200, stall=30)
    check = probe(f"{app.base_url}/healthz", timeout=0.2)
    reading = check.read()
    check.close()
    assert reading.healthy is False
    assert "timed out" in reading.detail


@pytest.mark.parametrize(
    "url",
    ["not a url", "/healthz", "ftp://cart/healthz", "http://", "http://[::1/healthz"],
)
def test_a_malformed_url_is_a_config_error(url):
    """A URL that could never be probed is rejected when the probe is built."""
    with pytest.raises(ConfigError, match="url"):
        probe(url)


def test_direct_construction_validates_too():
    """The constructor rejects what from_config rejects."""
    with make_client("", timeout=1.0) as client, pytest.raises(ConfigError, match="expect"):
        HttpProbe(client=client, url="http://127.0.0.1/healthz", expect=[200, 999])
