"""Each shared vendor fixture parses to the alert the incident story describes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from integrations.alerts import DEFAULT_SERVICE_LABELS, detect_format, parse_alerts
from planners.model import Alert, AlertStatus
from tests.support.alert_payloads import load

EXPECTED = {
    "alertmanager": Alert(
        fingerprint="6b1e4f0c2d9a8e37",
        service="checkoutservice",
        name="CheckoutHighErrorRate",
        severity="critical",
        status=AlertStatus.FIRING,
        started_at=datetime(2026, 3, 17, 13, 58, 12, 318411, tzinfo=UTC),
        summary="checkoutservice gRPC error ratio above 5%",
        labels={
            "alertname": "CheckoutHighErrorRate",
            "app": "checkoutservice",
            "cluster": "prod-us-central1",
            "namespace": "boutique",
            "prometheus": "monitoring/k8s",
            "service": "checkoutservice",
            "severity": "critical",
            "team": "checkout",
        },
        source="alertmanager",
    ),
    "grafana": Alert(
        fingerprint="a4c7e19d02b65f83",
        service="frontend",
        name="FrontendCheckoutLatencyHigh",
        severity="warning",
        status=AlertStatus.FIRING,
        started_at=datetime(2026, 3, 17, 14, 0, 30, tzinfo=UTC),
        summary="frontend checkout p95 latency above 2s",
        labels={
            "alertname": "FrontendCheckoutLatencyHigh",
            "grafana_folder": "Online Boutique",
            "service": "frontend",
            "severity": "warning",
            "team": "web",
        },
        source="grafana",
    ),
    "pagerduty_v3": Alert(
        fingerprint="Q2W8N5K1LZ7XRT",
        service="checkoutservice",
        name="[FIRING:1] CheckoutHighErrorRate checkoutservice (prod-us-central1 critical)",
        severity="P1",
        status=AlertStatus.FIRING,
        started_at=datetime(2026, 3, 17, 14, 3, 5, tzinfo=UTC),
        summary="[FIRING:1] CheckoutHighErrorRate checkoutservice (prod-us-central1 critical)",
        labels={
            "event_type": "incident.triggered",
            "incident_number": "4182",
            "incident_key": "3f9d2c71b0e44a6f9c1e8d7b5a2f6e10",
            "status": "triggered",
            "urgency": "high",
            "priority": "P1",
            "pagerduty_service_id": "PCHK01X",
            "pagerduty_service": "checkoutservice (prod)",
        },
        source="pagerduty",
    ),
    "datadog": Alert(
        fingerprint="b2f5c0d71e3a9c4f8d6e1a2b3c4d5e6f",
        service="checkoutservice",
        name="checkoutservice p95 latency high",
        severity="P2",
        status=AlertStatus.FIRING,
        started_at=datetime(2026, 3, 17, 14, 3, 40, tzinfo=UTC),
        summary=(
            "@webhook-backout @slack-inc-checkout p95 latency of checkoutservice"
            " is 1.92 s (threshold 1.5 s)."
        ),
        labels={"env": "prod", "service": "checkoutservice", "team": "checkout"},
        source="datadog",
    ),
    "opsgenie": Alert(
        fingerprint="8d3f1c2a-7b4e-4f0a-9c6d-1e2f3a4b5c6d-1773756190112",
        service=None,
        name="checkoutservice: PlaceOrder error ratio 12.4%",
        severity="P1",
        status=AlertStatus.FIRING,
        started_at=datetime(2026, 3, 17, 14, 3, 10, 112000, tzinfo=UTC),
        summary=(
            "checkoutservice is failing 12.4% of gRPC calls (threshold 5%) for the last 4 minutes."
        ),
        labels={"entity": "checkoutservice"},
        source="opsgenie",
    ),
}

FORMAT_OF = {
    "alertmanager": "alertmanager",
    "grafana": "grafana",
    "pagerduty_v3": "pagerduty",
    "datadog": "datadog",
    "opsgenie": "opsgenie",
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_parses_to_the_expected_alert(name: str) -> None:
    """Each fixture yields exactly one alert with the story's service, time, name and ids."""
    assert parse_alerts(load(name)) == [EXPECTED[name]]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_start_time_is_aware_utc(name: str) -> None:
    """Every parsed start time carries the UTC timezone."""
    (alert,) = parse_alerts(load(name))
    assert alert.started_at.utcoffset() is not None
    assert alert.started_at.tzinfo == UTC


@pytest.mark.parametrize(("name", "expected"), sorted(FORMAT_OF.items()))
def test_detect_format_recognises_each_fixture_from_its_body(name: str, expected: str) -> None:
    """The format comes from the body alone."""
    assert detect_format(load(name)) == expected


def test_opsgenie_entity_names_the_service_when_configured() -> None:
    """Opsgenie's entity is a label that a deployment may add to the service labels."""
    (alert,) = parse_alerts(load("opsgenie"), service_labels=(*DEFAULT_SERVICE_LABELS, "entity"))
    assert alert.service == "checkoutservice"
