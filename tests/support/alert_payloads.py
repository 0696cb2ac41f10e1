"""Alert webhook bodies for the alert parser tests: the vendor fixtures, Alertmanager builders.

The fixtures are copies of ``../shared/fixtures`` kept in ``tests/fixtures/alerts`` so the tests
never depend on the shared directory being present.
"""

from __future__ import annotations

import json
from typing import Any

from tests.support.paths import FIXTURES

__all__ = ["FIXTURE_NAMES", "am_alert", "am_group", "load"]

FIXTURE_NAMES = ("alertmanager", "grafana", "pagerduty_v3", "datadog", "opsgenie")


def load(name: str) -> dict[str, Any]:
    """A fresh copy of one fixture body, decoded."""
    data: dict[str, Any] = json.loads(
        (FIXTURES / "alerts" / f"{name}.json").read_text(encoding="utf-8")
    )
    return data


def am_alert(**overrides: Any) -> dict[str, Any]:
    """One Alertmanager alert entry; ``overrides`` replace or add top-level keys."""
    alert: dict[str, Any] = {
        "status": "firing",
        "labels": {"alertname": "HighErrorRate", "service": "cartservice", "severity": "page"},
        "annotations": {"summary": "cartservice errors above 5%"},
        "startsAt": "2026-03-17T13:58:12Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "fingerprint": "f00d",
    }
    alert.update(overrides)
    return alert


def am_group(*alerts: dict[str, Any], status: str = "firing") -> dict[str, Any]:
    """An Alertmanager webhook v4 body holding ``alerts``."""
    return {
        "receiver": "backout",
        "status": status,
        "alerts": list(alerts),
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example.com:9093",
        "version": "4",
        "groupKey": "{}:{}",
        "truncatedAlerts": 0,
    }
