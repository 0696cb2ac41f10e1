"""Datadog Webhooks integration (default template keys plus ``alert_*`` and ``tags``) → alerts.

One of the vendor adapters of ``integrations.alerts``: a monitor notification becomes one
:class:`planners.model.Alert`. Datadog has no fixed body (the user writes the template); we read the
default keys (``id``, ``title``, ``body``, ``date``, ``last_updated``, ``event_type``, ``org``) and
the documented variables ``alert_transition``, ``alert_type``, ``alert_title``, ``alert_id``,
``alert_scope``, ``alert_priority``, ``aggreg_key``, ``tags``. ``key:value`` tags (then the scope)
are the labels the service is chosen from. Variables: https://docs.datadoghq.com/integrations/webhooks/
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from integrations.alerts._read import SEVERITY_LABELS, Node, first_label, tag_pairs
from planners.model import Alert, AlertStatus

__all__ = ["FORMAT", "matches", "parse"]

FORMAT = "datadog"
_MARKERS = ("alert_transition", "alert_type", "alert_id", "alert_title", "alert_cycle_key")
_DEFAULT_KEYS = ("event_type", "last_updated", "date", "body")
_RECOVERED_TITLE = re.compile(r"\s*(?:\[P\d\]\s*)?\[(?:Warn\s+)?Recovered\b", re.IGNORECASE)


def matches(payload: Mapping[str, object]) -> bool:
    """Whether the body looks like a Datadog webhook."""
    return any(key in payload for key in _MARKERS) or all(key in payload for key in _DEFAULT_KEYS)


def parse(payload: object, *, service_labels: Sequence[str]) -> list[Alert]:
    """The alert of a Datadog monitor notification.

    Raises:
        AlertFormatError: a field is missing or has the wrong type.
    """
    root = Node.root(payload, vendor="Datadog")
    labels = _labels(root)
    title = root.text("title")
    name = root.text("alert_title") or title
    started_at = root.maybe_epoch_ms_time("date") or root.epoch_ms_time("last_updated")
    return [
        Alert(
            fingerprint=_fingerprint(root),
            service=first_label(labels, service_labels),
            name=name or "Datadog monitor",
            severity=first_label(labels, SEVERITY_LABELS)
            or root.text("alert_priority")
            or "unknown",
            status=_status(root, title),
            started_at=started_at,
            summary=root.text("text_only_msg") or root.text("body") or title or "",
            labels=labels,
            source=FORMAT,
        )
    ]


def _labels(root: Node) -> dict[str, str]:
    """``key:value`` pairs of ``tags`` (a comma-separated string or a list), then of the scope."""
    tags = root.data.get("tags")
    labels = (
        tag_pairs(tags.split(",")) if isinstance(tags, str) else tag_pairs(root.string_list("tags"))
    )
    for key, value in tag_pairs((root.text("alert_scope") or "").split(",")).items():
        labels.setdefault(key, value)
    return labels


def _status(root: Node, title: str | None) -> AlertStatus:
    transition = root.text("alert_transition")
    alert_type = root.text("alert_type")
    if transition is None and alert_type is None:
        # Only the default keys: Datadog prefixes the event title with the transition, after
        # the priority when the monitor has one ("[P2] [Recovered on {…}] …").
        resolved = _RECOVERED_TITLE.match(title or "") is not None
    else:
        # Any transition that ends in "Recovered" (a cleared warning too) is a recovery.
        resolved = (transition or "").casefold().endswith("recovered") or (
            alert_type or ""
        ).casefold() == "success"
    return AlertStatus.RESOLVED if resolved else AlertStatus.FIRING


def _fingerprint(root: Node) -> str:
    """The aggregation key (one per monitor and group), else the monitor id and scope, else id."""
    aggregation = root.text("aggreg_key")
    if aggregation:
        return aggregation
    monitor = root.text("alert_id")
    if monitor:
        scope = root.text("alert_scope")
        return f"{monitor}:{scope}" if scope else monitor
    return root.required_text("id")
