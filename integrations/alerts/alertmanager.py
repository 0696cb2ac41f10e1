"""Prometheus Alertmanager webhook (``webhook_config``, ``"version": "4"``) → alerts.

One of the vendor adapters of ``integrations.alerts``: it turns a notification group into one
:class:`planners.model.Alert` per entry of ``alerts[]``. Each alert keeps its own ``status``: a
group marked ``firing`` can carry alerts that have already resolved. Grafana's unified alerting
webhook has the same shape, so :mod:`integrations.alerts.grafana` reuses :func:`parse_group`.
Payload schema: https://prometheus.io/docs/alerting/latest/configuration/#webhook_config
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence

from integrations.alerts._read import SEVERITY_LABELS, Node, first_label
from planners.model import Alert, AlertStatus

__all__ = ["FORMAT", "matches", "parse", "parse_group"]

FORMAT = "alertmanager"


def matches(payload: Mapping[str, object]) -> bool:
    """Whether the body looks like an Alertmanager webhook (checked after Grafana)."""
    return "alerts" in payload or "groupKey" in payload or payload.get("version") == "4"


def parse(payload: object, *, service_labels: Sequence[str]) -> list[Alert]:
    """Every alert of an Alertmanager webhook body.

    Raises:
        AlertFormatError: a field is missing or has the wrong type.
    """
    root = Node.root(payload, vendor="Alertmanager")
    return parse_group(root, source=FORMAT, service_labels=service_labels)


def parse_group(
    root: Node,
    *,
    source: str,
    service_labels: Sequence[str],
    default_name: str | None = None,
    default_summary: str | None = None,
) -> list[Alert]:
    """The alerts of an Alertmanager-shaped group; ``default_*`` fill what an alert lacks."""
    group_status = root.text("status")
    return [
        _alert(
            item,
            source=source,
            group_status=group_status,
            service_labels=service_labels,
            default_name=default_name,
            default_summary=default_summary,
        )
        for item in root.children("alerts")
    ]


def _alert(
    item: Node,
    *,
    source: str,
    group_status: str | None,
    service_labels: Sequence[str],
    default_name: str | None,
    default_summary: str | None,
) -> Alert:
    labels = item.strings("labels")
    annotations = item.strings("annotations")
    return Alert(
        fingerprint=item.text("fingerprint") or _label_fingerprint(labels),
        service=first_label(labels, service_labels),
        name=labels.get("alertname") or default_name or "unnamed alert",
        severity=first_label(labels, SEVERITY_LABELS) or "unknown",
        status=_status(item, group_status),
        started_at=item.iso_time("startsAt"),
        summary=first_label(annotations, ("summary", "description")) or default_summary or "",
        labels=labels,
        source=source,
    )


def _status(item: Node, group_status: str | None) -> AlertStatus:
    """The alert's own status; the group's only when the alert carries none."""
    value = item.text("status") or group_status
    if value == "firing":
        return AlertStatus.FIRING
    if value == "resolved":
        return AlertStatus.RESOLVED
    if value is None:
        raise item.fail("status", "is missing")
    raise item.fail("status", f"is {value[:40]!r}, expected 'firing' or 'resolved'")


def _label_fingerprint(labels: Mapping[str, str]) -> str:
    """A stable id from the label set, for alerts sent without a fingerprint."""
    canonical = json.dumps(sorted(labels.items()), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()[:16]
