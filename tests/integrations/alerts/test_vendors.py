"""PagerDuty, Datadog and Opsgenie: status, service, fingerprint and time rules."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from integrations.alerts import parse_alerts
from integrations.alerts.pagerduty import service_name
from planners.model import AlertStatus
from tests.support.alert_payloads import load


@pytest.mark.parametrize(
    ("event_type", "incident_status", "expected"),
    [
        ("incident.triggered", "triggered", AlertStatus.FIRING),
        ("incident.acknowledged", "acknowledged", AlertStatus.FIRING),
        ("incident.resolved", "resolved", AlertStatus.RESOLVED),
        ("incident.priority_updated", "resolved", AlertStatus.RESOLVED),
    ],
)
def test_pagerduty_status(event_type: str, incident_status: str, expected: AlertStatus) -> None:
    """A PagerDuty incident is resolved by a resolved event or a resolved incident status."""
    payload = load("pagerduty_v3")
    payload["event"]["event_type"] = event_type
    payload["event"]["data"]["status"] = incident_status
    (alert,) = parse_alerts(payload)
    assert alert.status is expected


@pytest.mark.parametrize(
    ("summary", "expected"),
    [
        ("checkoutservice (prod)", "checkoutservice"),
        ("checkout service (eu-west 2)", "checkout service"),
        ("cart (v2) (prod)", "cart (v2)"),
        ("cartservice", "cartservice"),
        ("(prod)", "(prod)"),
        ("cartservice(prod)", "cartservice(prod)"),
    ],
)
def test_pagerduty_service_name_drops_only_a_trailing_environment(
    summary: str, expected: str
) -> None:
    """Only a final ' (environment)' is removed from a PagerDuty service name."""
    assert service_name(summary) == expected


def test_pagerduty_fingerprint_and_start_fall_back() -> None:
    """Without an incident id and created_at, incident_key and occurred_at are used."""
    payload = load("pagerduty_v3")
    del payload["event"]["data"]["id"]
    del payload["event"]["data"]["created_at"]
    (alert,) = parse_alerts(payload)
    assert alert.fingerprint == "3f9d2c71b0e44a6f9c1e8d7b5a2f6e10"
    assert alert.started_at == datetime(2026, 3, 17, 14, 3, 5, 482000, tzinfo=UTC)


def test_pagerduty_events_without_an_incident_yield_no_alert() -> None:
    """A ping or a note event is a PagerDuty body with nothing to alert on."""
    ping = {"event": {"id": "1", "event_type": "pagey.ping", "data": {"type": "ping"}}}
    note = load("pagerduty_v3")
    note["event"]["event_type"] = "incident.annotated"
    note["event"]["data"] = {"type": "incident_note", "content": "looking"}
    assert parse_alerts(ping) == []
    assert parse_alerts(note) == []


@pytest.mark.parametrize(
    ("transition", "alert_type", "expected"),
    [
        ("Triggered", "error", AlertStatus.FIRING),
        ("Re-Triggered", "error", AlertStatus.FIRING),
        ("Warn", "warning", AlertStatus.FIRING),
        ("No Data", "error", AlertStatus.FIRING),
        ("Recovered", "success", AlertStatus.RESOLVED),
        ("Recovered", "error", AlertStatus.RESOLVED),
        ("Renotify", "success", AlertStatus.RESOLVED),
    ],
)
def test_datadog_status(transition: str, alert_type: str, expected: AlertStatus) -> None:
    """A Datadog alert is resolved on a Recovered transition or a success alert type."""
    payload = load("datadog")
    payload["alert_transition"] = transition
    payload["alert_type"] = alert_type
    (alert,) = parse_alerts(payload)
    assert alert.status is expected


def test_datadog_default_template_reads_the_title_prefix() -> None:
    """With only Datadog's default keys, a '[Recovered' title marks the alert resolved."""
    payload = {
        "id": "1",
        "title": "[Recovered on {service:cart}] cart errors",
        "body": "ok again",
        "event_type": "metric_alert_monitor",
        "date": "1773756220000",
        "last_updated": "1773756220000",
        "org": {"id": "1", "name": "Acme"},
    }
    (alert,) = parse_alerts(payload)
    assert (alert.status, alert.fingerprint, alert.service) == (AlertStatus.RESOLVED, "1", None)


def test_datadog_tags_may_be_a_list_and_follow_the_label_order() -> None:
    """Tags as a list work too, and the service label order decides between tags."""
    payload = load("datadog")
    payload["tags"] = ["app:storefront", "service:checkoutservice"]
    (default,) = parse_alerts(payload)
    (by_app,) = parse_alerts(payload, service_labels=("app", "service"))
    assert (default.service, by_app.service) == ("checkoutservice", "storefront")


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("Create", AlertStatus.FIRING),
        ("Acknowledge", AlertStatus.FIRING),
        ("AddNote", AlertStatus.FIRING),
        ("Close", AlertStatus.RESOLVED),
        ("Delete", AlertStatus.RESOLVED),
    ],
)
def test_opsgenie_status(action: str, expected: AlertStatus) -> None:
    """An Opsgenie alert is resolved by Close and Delete actions."""
    payload = load("opsgenie")
    payload["action"] = action
    (alert,) = parse_alerts(payload)
    assert alert.status is expected


def test_opsgenie_service_from_details_before_tags() -> None:
    """Opsgenie details are read before key:value tags."""
    payload = load("opsgenie")
    payload["alert"]["details"] = {"service": "paymentservice"}
    payload["alert"]["tags"] = ["service:checkoutservice", "app:shop"]
    (alert,) = parse_alerts(payload)
    assert alert.service == "paymentservice"
    assert alert.labels["app"] == "shop"
