"""PagerDuty V3 webhook (``event.event_type`` ``incident.*``) → alerts.

One of the vendor adapters of ``integrations.alerts``: an incident event becomes one
:class:`planners.model.Alert`. PagerDuty has no labels, so the configurable service labels do not
apply: the service is the incident's PagerDuty service name with a trailing parenthesised
environment removed (``"checkoutservice (prod)"`` → ``"checkoutservice"``, PagerDuty's documented
naming convention). Events that carry no incident (``pagey.ping``, ``service.*``, notes) yield no
alert. Payload schema: https://github.com/PagerDuty/developer-docs/blob/main/docs/webhooks/01-Overview.md
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from integrations.alerts._read import Node
from planners.model import Alert, AlertStatus

__all__ = ["FORMAT", "matches", "parse", "service_name"]

FORMAT = "pagerduty"
_ENVIRONMENT_SUFFIX = re.compile(r"(.+) \([^()]*\)", re.DOTALL)
_NOT_ABOUT_STATE = (
    "incident.annotated",
    "incident.responder.",
    "incident.status_update_published",
    "incident.conference_bridge.",
    "incident.workflow.",
)
"""Incident events whose data is something said or done about it (a note, a responder, a status
update), never whether it fires: they yield no alert even when ``data.type`` is missing."""


def matches(payload: Mapping[str, object]) -> bool:
    """Whether the body looks like a PagerDuty V3 webhook."""
    event = payload.get("event")
    return isinstance(event, Mapping) and "event_type" in event


def service_name(summary: str) -> str:
    """The service part of a PagerDuty service name: ``"cart (prod)"`` → ``"cart"``."""
    match = _ENVIRONMENT_SUFFIX.fullmatch(summary)
    return match.group(1) if match else summary


def parse(payload: object, *, service_labels: Sequence[str]) -> list[Alert]:
    """The alert of a PagerDuty V3 incident event; ``[]`` for events about something else.

    ``service_labels`` is accepted for a uniform signature and not used.

    Raises:
        AlertFormatError: a field is missing or has the wrong type.
    """
    root = Node.root(payload, vendor="PagerDuty")
    event = root.required_child("event")
    event_type = event.required_text("event_type")
    if not event_type.startswith("incident.") or event_type.startswith(_NOT_ABOUT_STATE):
        return []
    data = event.required_child("data")
    if data.text("type") not in (None, "incident"):
        return []
    incident_status = data.text("status")
    resolved = event_type == "incident.resolved" or incident_status == "resolved"
    title = data.text("title") or data.text("summary")
    return [
        Alert(
            fingerprint=_fingerprint(data),
            service=_service(data),
            name=title or "PagerDuty incident",
            severity=_severity(data),
            status=AlertStatus.RESOLVED if resolved else AlertStatus.FIRING,
            started_at=data.maybe_iso_time("created_at") or event.iso_time("occurred_at"),
            summary=title or "",
            labels=_labels(event_type, data),
            source=FORMAT,
        )
    ]


def _fingerprint(data: Node) -> str:
    value = data.text("id") or data.text("incident_key")
    if value is None:
        raise data.fail("id", "is missing (and so is incident_key)")
    return value


def _service(data: Node) -> str | None:
    service = data.child("service")
    summary = service.text("summary") if service else None
    return service_name(summary) if summary else None


def _severity(data: Node) -> str:
    priority = data.child("priority")
    return (priority.text("summary") if priority else None) or data.text("urgency") or "unknown"


def _labels(event_type: str, data: Node) -> dict[str, str]:
    service = data.child("service")
    priority = data.child("priority")
    found = {
        "event_type": event_type,
        "incident_number": data.text("number"),
        "incident_key": data.text("incident_key"),
        "status": data.text("status"),
        "urgency": data.text("urgency"),
        "priority": priority.text("summary") if priority else None,
        "pagerduty_service_id": service.text("id") if service else None,
        "pagerduty_service": service.text("summary") if service else None,
    }
    return {key: value for key, value in found.items() if value is not None}
