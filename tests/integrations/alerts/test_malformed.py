"""Non-alert and broken bodies raise AlertFormatError with a clear message."""

from __future__ import annotations

import re
from typing import Any

import pytest

from integrations.alerts import AlertFormatError, detect_format, parse_alerts
from tests.support.alert_payloads import am_alert, am_group, load

UNRECOGNISED = (
    "not a recognised alert payload "
    "(expected Alertmanager, Grafana, PagerDuty v3, Datadog or Opsgenie)"
)


def _pagerduty_without_data() -> dict[str, Any]:
    payload = load("pagerduty_v3")
    del payload["event"]["data"]
    return payload


def _datadog_with_date(date: object) -> dict[str, Any]:
    payload = load("datadog")
    payload["date"] = date
    return payload


def _opsgenie_with(**alert: object) -> dict[str, Any]:
    payload = load("opsgenie")
    payload["alert"].update(alert)
    return payload


CASES: list[tuple[str, object, str]] = [
    ("list body", [], f"{UNRECOGNISED}: the body is a list, not a JSON object"),
    ("string body", "alert!", f"{UNRECOGNISED}: the body is a str, not a JSON object"),
    ("null body", None, f"{UNRECOGNISED}: the body is a NoneType, not a JSON object"),
    ("number body", 42, f"{UNRECOGNISED}: the body is a int, not a JSON object"),
    ("empty object", {}, UNRECOGNISED),
    ("unknown shape", {"hello": "world", "items": [1, 2]}, UNRECOGNISED),
    (
        "missing alerts",
        {"version": "4", "receiver": "x"},
        "Alertmanager payload: alerts is missing",
    ),
    (
        "alerts not a list",
        {"version": "4", "alerts": {"0": {}}},
        "Alertmanager payload: alerts is not a list",
    ),
    (
        "alert not an object",
        {**am_group(), "alerts": [am_alert(), "x"]},
        "Alertmanager payload: alerts[1] is not an object",
    ),
    (
        "bad timestamp",
        am_group(am_alert(), am_alert(), am_alert(startsAt="yesterday")),
        "Alertmanager payload: alerts[2].startsAt is not a timestamp (got 'yesterday')",
    ),
    (
        "timestamp without timezone",
        am_group(am_alert(startsAt="2026-03-17T13:58:12")),
        "Alertmanager payload: alerts[0].startsAt is not a timestamp",
    ),
    (
        "impossible date",
        am_group(am_alert(startsAt="2026-02-30T13:58:12Z")),
        "Alertmanager payload: alerts[0].startsAt is not a timestamp",
    ),
    (
        "timestamp not a string",
        am_group(am_alert(startsAt=1773756000)),
        "Alertmanager payload: alerts[0].startsAt is not a timestamp (got 1773756000)",
    ),
    (
        "missing startsAt",
        am_group({"status": "firing", "labels": {"alertname": "X"}}),
        "Alertmanager payload: alerts[0].startsAt is missing",
    ),
    (
        "unknown status",
        am_group(am_alert(status="pending")),
        "Alertmanager payload: alerts[0].status is 'pending', expected 'firing' or 'resolved'",
    ),
    (
        "labels not an object",
        am_group(am_alert(labels=["service=cart"])),
        "Alertmanager payload: alerts[0].labels is not an object",
    ),
    ("grafana without alerts", {"orgId": 1}, "Grafana payload: alerts is missing"),
    (
        "pagerduty without data",
        _pagerduty_without_data(),
        "PagerDuty payload: event.data is missing",
    ),
    (
        "pagerduty event_type not a string",
        {"event": {"event_type": ["incident.triggered"]}},
        "PagerDuty payload: event.event_type is not a string",
    ),
    (
        "datadog bad date",
        _datadog_with_date("Tue Mar 17"),
        "Datadog payload: date is not a timestamp in epoch milliseconds (got 'Tue Mar 17')",
    ),
    (
        "opsgenie alert not an object",
        {"action": "Create", "alert": "down"},
        "Opsgenie payload: alert is not an object",
    ),
    (
        "opsgenie tags not strings",
        _opsgenie_with(tags=["ok", 7]),
        "Opsgenie payload: alert.tags[1] is not a string",
    ),
    (
        "opsgenie without createdAt",
        _opsgenie_with(createdAt=None),
        "Opsgenie payload: alert.createdAt is missing",
    ),
]


@pytest.mark.parametrize(
    ("payload", "message"), [case[1:] for case in CASES], ids=[case[0] for case in CASES]
)
def test_malformed_payload_raises_a_clear_format_error(payload: object, message: str) -> None:
    """The error is an AlertFormatError (a ValueError) whose message names the problem."""
    with pytest.raises(AlertFormatError, match=f"^{re.escape(message)}") as caught:
        parse_alerts(payload)
    assert isinstance(caught.value, ValueError)
    assert caught.value.message == str(caught.value)


def test_detect_format_refuses_an_unknown_body() -> None:
    """detect_format raises the same error as parse_alerts for an unknown body."""
    with pytest.raises(AlertFormatError, match=re.escape(UNRECOGNISED)):
        detect_format({"text": "CPU high"})


def test_long_bad_values_are_shortened_in_the_message() -> None:
    """An oversized bad value does not flood the error message."""
    with pytest.raises(AlertFormatError) as caught:
        parse_alerts(am_group(am_alert(startsAt="x" * 10_000)))
    assert len(caught.value.message) < 200
