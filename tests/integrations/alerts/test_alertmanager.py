"""Alertmanager and Grafana groups: per-alert status, timestamps, labels and fingerprints."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from integrations.alerts import AlertFormatError, detect_format, parse_alerts
from planners.model import AlertStatus
from tests.support.alert_payloads import am_alert, am_group, load


def test_each_alert_keeps_its_own_status_in_a_firing_group() -> None:
    """A group marked firing that holds a resolved alert yields one firing and one resolved."""
    payload = am_group(
        am_alert(fingerprint="a1"),
        am_alert(fingerprint="a2", status="resolved", endsAt="2026-03-17T14:10:00Z"),
        status="firing",
    )
    statuses = [(alert.fingerprint, alert.status) for alert in parse_alerts(payload)]
    assert statuses == [("a1", AlertStatus.FIRING), ("a2", AlertStatus.RESOLVED)]


def test_group_status_applies_only_to_an_alert_without_its_own() -> None:
    """An alert that carries no status takes the group's."""
    entry = am_alert()
    del entry["status"]
    (alert,) = parse_alerts(am_group(entry, status="resolved"))
    assert alert.status is AlertStatus.RESOLVED


@pytest.mark.parametrize(
    ("starts_at", "expected"),
    [
        ("2026-03-17T13:58:12.318411209Z", datetime(2026, 3, 17, 13, 58, 12, 318411, tzinfo=UTC)),
        ("2026-03-17T13:58:12.3Z", datetime(2026, 3, 17, 13, 58, 12, 300000, tzinfo=UTC)),
        ("2026-03-17T15:58:12+02:00", datetime(2026, 3, 17, 13, 58, 12, tzinfo=UTC)),
        ("2026-03-17T08:58:12.5-05:00", datetime(2026, 3, 17, 13, 58, 12, 500000, tzinfo=UTC)),
    ],
)
def test_start_times_become_utc(starts_at: str, expected: datetime) -> None:
    """Nanosecond fractions are truncated to microseconds and offsets converted to UTC."""
    (alert,) = parse_alerts(am_group(am_alert(startsAt=starts_at)))
    assert alert.started_at == expected
    assert alert.started_at.tzinfo == UTC


def test_zero_ends_at_means_still_firing() -> None:
    """Go's zero time in endsAt is accepted as unset."""
    (alert,) = parse_alerts(am_group(am_alert(endsAt="0001-01-01T00:00:00Z")))
    assert alert.status is AlertStatus.FIRING


def test_label_values_are_stringified_and_nulls_dropped() -> None:
    """Labels come out as str to str; a null label is an absent one."""
    labels = {"alertname": "X", "service": "cart", "replicas": 3, "canary": True, "zone": None}
    (alert,) = parse_alerts(am_group(am_alert(labels=labels)))
    assert alert.labels == {"alertname": "X", "service": "cart", "replicas": "3", "canary": "true"}


def test_missing_fingerprint_is_derived_from_the_label_set() -> None:
    """Alerts without a fingerprint get a stable one from their labels, whatever the order."""
    first = am_alert(labels={"alertname": "X", "service": "cart"})
    second = am_alert(labels={"service": "cart", "alertname": "X"})
    other = am_alert(labels={"alertname": "X", "service": "frontend"})
    for entry in (first, second, other):
        del entry["fingerprint"]
    prints = [alert.fingerprint for alert in parse_alerts(am_group(first, second, other))]
    assert prints[0] == prints[1] != prints[2]
    assert len(prints[0]) == 16


def test_severity_falls_back_to_priority_then_unknown() -> None:
    """Severity is labels.severity, else priority, else urgency, else unknown."""
    by_priority = am_alert(labels={"alertname": "X", "priority": "P2"})
    bare = am_alert(labels={"alertname": "X"})
    severities = [alert.severity for alert in parse_alerts(am_group(by_priority, bare))]
    assert severities == ["P2", "unknown"]


def test_summary_falls_back_to_the_description() -> None:
    """Without annotations.summary, the summary is annotations.description."""
    (alert,) = parse_alerts(am_group(am_alert(annotations={"description": "it broke"})))
    assert alert.summary == "it broke"


def test_an_empty_group_yields_no_alerts() -> None:
    """A well-formed group with an empty alerts list is not an error."""
    assert parse_alerts(am_group()) == []


def test_grafana_is_detected_before_alertmanager() -> None:
    """A Grafana body, which also has Alertmanager's shape, is reported as Grafana."""
    payload = load("grafana")
    assert detect_format(payload) == "grafana"
    assert [alert.source for alert in parse_alerts(payload)] == ["grafana"]


def test_grafana_title_names_an_alert_without_alertname() -> None:
    """A Grafana alert lacking alertname is named after the notification title."""
    payload = load("grafana")
    del payload["alerts"][0]["labels"]["alertname"]
    (alert,) = parse_alerts(payload)
    assert alert.name == payload["title"]


def test_grafana_legacy_webhook_is_refused_with_a_hint() -> None:
    """Grafana's legacy alerting body is refused, naming the supported alternative."""
    legacy = {"orgId": 1, "ruleName": "Latency", "state": "alerting", "evalMatches": []}
    with pytest.raises(AlertFormatError, match="legacy alerting webhooks"):
        parse_alerts(legacy)
