"""Grafana unified alerting webhook contact point → alerts.

One of the vendor adapters of ``integrations.alerts``. Grafana sends the Alertmanager shape
plus ``orgId``, ``state``, ``title``, ``message`` and per-alert ``values``/``dashboardURL``, so
the alerts are read by :func:`integrations.alerts.alertmanager.parse_group`; this module only
recognises the body (before Alertmanager, whose test it would also pass) and adds the group
title as a fallback.
Payload schema: https://grafana.com/docs/grafana/latest/alerting/configure-notifications/manage-contact-points/integrations/webhook-notifier/
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from integrations.alerts._read import Node
from integrations.alerts.alertmanager import parse_group
from integrations.alerts.errors import AlertFormatError
from planners.model import Alert

__all__ = ["FORMAT", "matches", "parse"]

FORMAT = "grafana"
_LEGACY_KEYS = ("ruleName", "ruleId", "evalMatches")


def matches(payload: Mapping[str, object]) -> bool:
    """Whether the body looks like a Grafana webhook (legacy ones included, to reject clearly)."""
    if "orgId" in payload:
        return True
    return "alerts" in payload and "state" in payload and "title" in payload


def parse(payload: object, *, service_labels: Sequence[str]) -> list[Alert]:
    """Every alert of a Grafana unified alerting webhook body.

    Raises:
        AlertFormatError: a field is missing or has the wrong type, or the body comes from
            Grafana's legacy (pre-9) alerting, which has no ``alerts`` list.
    """
    root = Node.root(payload, vendor="Grafana")
    if "alerts" not in root.data and any(key in root.data for key in _LEGACY_KEYS):
        raise AlertFormatError(
            "Grafana payload: legacy alerting webhooks (ruleName, evalMatches) are not "
            "supported; use a unified alerting webhook contact point"
        )
    title = root.text("title")
    return parse_group(
        root,
        source=FORMAT,
        service_labels=service_labels,
        default_name=title,
        default_summary=title,
    )
