"""Recognising an alert webhook body's format from its content, and parsing it into alerts.

The entry point of ``integrations/alerts/``: :func:`parse_alerts` finds the vendor module whose
``matches`` accepts the body (never from a header, URL or file name) and lets it parse the body.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from integrations.alerts import alertmanager, datadog, grafana, opsgenie, pagerduty
from integrations.alerts.errors import AlertFormatError
from planners.model import Alert

__all__ = [
    "DEFAULT_SERVICE_LABELS",
    "FORMATS",
    "GROUP_SIZE_LABEL",
    "detect_format",
    "parse_alerts",
]

DEFAULT_SERVICE_LABELS: tuple[str, ...] = (
    "service",
    "app",
    "app_kubernetes_io_name",
    "deployment",
    "job",
    "container",
)
"""The labels that name an alert's service, in order: the first present one wins."""

GROUP_SIZE_LABEL = "backout/alerts_in_message"
"""A label Backout sets (never read from a sender's labels) on an alert read from a message that
stands for many alerts (Alertmanager's ``[FIRING:2000]``): how many, so the plan can say it."""

_UNRECOGNISED = (
    "not a recognised alert payload "
    "(expected Alertmanager, Grafana, PagerDuty v3, Datadog or Opsgenie)"
)


class _Parse(Protocol):
    def __call__(self, payload: object, *, service_labels: Sequence[str]) -> list[Alert]: ...


@dataclass(frozen=True)
class _Format:
    name: str
    matches: Callable[[Mapping[str, object]], bool]
    parse: _Parse


# Order matters: Grafana's body also passes Alertmanager's test.
_FORMATS = (
    _Format(grafana.FORMAT, grafana.matches, grafana.parse),
    _Format(alertmanager.FORMAT, alertmanager.matches, alertmanager.parse),
    _Format(pagerduty.FORMAT, pagerduty.matches, pagerduty.parse),
    _Format(opsgenie.FORMAT, opsgenie.matches, opsgenie.parse),
    _Format(datadog.FORMAT, datadog.matches, datadog.parse),
)

FORMATS: tuple[str, ...] = tuple(fmt.name for fmt in _FORMATS)
"""The names :func:`detect_format` returns, also used as ``Alert.source``."""


def _detect(payload: object) -> _Format:
    if not isinstance(payload, Mapping):
        kind = "a list" if isinstance(payload, list) else f"a {type(payload).__name__}"
        raise AlertFormatError(f"{_UNRECOGNISED}: the body is {kind}, not a JSON object")
    for fmt in _FORMATS:
        if fmt.matches(payload):
            return fmt
    raise AlertFormatError(_UNRECOGNISED)


def detect_format(payload: object) -> str:
    """The format of a decoded webhook body, recognised from its content alone.

    Args:
        payload: the JSON-decoded request body.

    Returns:
        One of ``"alertmanager"``, ``"grafana"``, ``"pagerduty"``, ``"datadog"``, ``"opsgenie"``.

    Raises:
        AlertFormatError: the body is none of the supported formats.
    """
    return _detect(payload).name


def parse_alerts(
    payload: object, *, service_labels: Sequence[str] = DEFAULT_SERVICE_LABELS
) -> list[Alert]:
    """The alerts of a decoded webhook body, in the order the body lists them.

    Args:
        payload: the JSON-decoded request body, in any supported format.
        service_labels: label names tried in order; the value of the first present one is the
            alert's service, exactly as sent (no case folding or Unicode normalisation, so a
            look-alike name stays distinct). ``None`` when none is present. PagerDuty has no
            labels: its service is the PagerDuty service name.

    Returns:
        One :class:`~planners.model.Alert` per alert in the body (each with its own status);
        possibly none, for example for a PagerDuty event that is not about an incident.

    Raises:
        AlertFormatError: the body is not a supported format, or is malformed; the message says
            which format and which field.
        TypeError: ``service_labels`` is a single string instead of a sequence of names.
    """
    if isinstance(service_labels, str):
        raise TypeError("service_labels must be a sequence of label names, not one string")
    fmt = _detect(payload)
    return fmt.parse(payload, service_labels=tuple(service_labels))
