"""Opsgenie Webhook integration (``action`` plus ``alert``) → alerts.

One of the vendor adapters of ``integrations.alerts``: an alert action becomes one
:class:`planners.model.Alert`, resolved for ``Close`` and ``Delete``, firing otherwise. The labels
the service is chosen from are the alert's ``details`` map, then its ``key:value`` tags, then
its ``entity`` as the label ``entity``, which is not among the default service labels (it is free
text, often a host): add ``"entity"`` to the service labels to use it.
Payload schema: https://docs.opsgenie.com/docs/webhook-integration
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from integrations.alerts._read import SEVERITY_LABELS, Node, first_label, tag_pairs
from planners.model import Alert, AlertStatus

__all__ = ["FORMAT", "matches", "parse"]

FORMAT = "opsgenie"
_RESOLVING_ACTIONS = frozenset({"close", "delete"})


def matches(payload: Mapping[str, object]) -> bool:
    """Whether the body looks like an Opsgenie webhook."""
    return "action" in payload and "alert" in payload


def parse(payload: object, *, service_labels: Sequence[str]) -> list[Alert]:
    """The alert of an Opsgenie alert action.

    Raises:
        AlertFormatError: a field is missing or has the wrong type.
    """
    root = Node.root(payload, vendor="Opsgenie")
    action = root.required_text("action")
    alert = root.required_child("alert")
    labels = alert.strings("details")
    for key, value in tag_pairs(alert.string_list("tags")).items():
        labels.setdefault(key, value)
    entity = alert.text("entity")
    if entity:
        labels.setdefault("entity", entity)
    resolved = action.casefold() in _RESOLVING_ACTIONS or alert.text("status") == "closed"
    message = alert.text("message")
    return [
        Alert(
            fingerprint=_fingerprint(alert),
            service=first_label(labels, service_labels),
            name=message or alert.text("alias") or "Opsgenie alert",
            severity=first_label(labels, SEVERITY_LABELS) or alert.text("priority") or "unknown",
            status=AlertStatus.RESOLVED if resolved else AlertStatus.FIRING,
            started_at=alert.epoch_ms_time("createdAt"),
            summary=alert.text("description") or message or "",
            labels=labels,
            source=FORMAT,
        )
    ]


def _fingerprint(alert: Node) -> str:
    value = alert.text("alertId") or alert.text("alias")
    if value is None:
        raise alert.fail("alertId", "is missing (and so is alias)")
    return value
