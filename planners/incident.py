"""Which alerts belong to the incident, and when it started (DESIGN.md, "Incident").

The planner (:mod:`planners.planner`) asks this module first. Of the alerts it is given, only
firing ones on services the topology knows can belong to the incident:

* an alert naming no service, or a service the topology does not know (node-exporter,
  kube-state-metrics, a look-alike name), is listed as unknown: it is never matched to a known
  name and never moves the start;
* a flapping alert (the same alert on the same service both firing and resolved in the batch, or
  labelled ``flapping``) is noise: it comes and goes whatever happens;
* the rest are grouped in time: a gap of more than ``burst_gap`` between two consecutive starts
  splits them. The burst is the latest group (the incident being planned is the one happening
  now); a group that started before it is chronic noise (a long-standing warning, even on an
  alerting service), however many services it spans.

The incident's alerting services, its start and its id come from the alerts kept. Noise is
reported with why, so the plan says what it left out. Sorting once makes this O(n log n) in the
number of alerts.
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from planners.model import Alert, AlertStatus, Noise

__all__ = ["Grouping", "group_alerts"]

_TRUE = frozenset({"true", "yes", "1"})


@dataclass(frozen=True, kw_only=True)
class Grouping:
    """The incident's alerts, its alerting services and start, and what was left out.

    Attributes:
        alerts: the firing alerts that belong to the incident.
        services: their services, sorted.
        started_at: the earliest start among them (``None`` when there are none).
        noise: firing alerts on known services left out, with why.
        unknown: firing alerts that name no service or a service the topology does not know.
    """

    alerts: tuple[Alert, ...]
    services: tuple[str, ...]
    started_at: datetime | None
    noise: tuple[Noise, ...]
    unknown: tuple[Alert, ...]


def group_alerts(
    alerts: Sequence[Alert], *, known: Container[str], burst_gap: timedelta = timedelta(minutes=30)
) -> Grouping:
    """Decide which of ``alerts`` make up the incident.

    Args:
        alerts: alerts of any status (resolved ones only tell flapping apart).
        known: the topology's services (anything supporting ``in``).
        burst_gap: a longer gap between two starts separates groups of alerts.

    Returns:
        The grouping; see :class:`Grouping`.
    """
    firing = [a for a in alerts if a.status == AlertStatus.FIRING]
    unknown = tuple(a for a in firing if a.service is None or a.service not in known)
    candidates = [a for a in firing if a.service is not None and a.service in known]
    resolved = {
        (a.service, a.name) for a in alerts if a.status == AlertStatus.RESOLVED and a.service
    }
    noise: list[Noise] = []
    steady: list[Alert] = []
    for alert in candidates:
        flagged = alert.labels.get("flapping", "").lower() in _TRUE
        if flagged or (alert.service, alert.name) in resolved:
            how = "labelled flapping" if flagged else "it resolved and fired again"
            noise.append(_noise(alert, f"flapping ({how}): left out of the incident"))
        else:
            steady.append(alert)
    steady.sort(key=lambda a: (a.started_at, a.fingerprint))
    groups = _groups(steady, burst_gap)
    if not groups:
        return Grouping(
            alerts=(), services=(), started_at=None, noise=tuple(noise), unknown=unknown
        )
    burst = groups[-1]
    start = burst[0].started_at
    for group in groups[:-1]:
        for alert in group:
            why = f"chronic: started {_ago(start - alert.started_at)} before the burst of alerts"
            noise.append(_noise(alert, why))
    kept = tuple(burst)
    services = tuple(sorted({a.service for a in kept if a.service is not None}))
    noise.sort(key=lambda n: (n.service, n.name, n.fingerprint))
    return Grouping(
        alerts=kept, services=services, started_at=start, noise=tuple(noise), unknown=unknown
    )


def _groups(ordered: Sequence[Alert], gap: timedelta) -> list[list[Alert]]:
    groups: list[list[Alert]] = []
    for alert in ordered:
        if groups and alert.started_at - groups[-1][-1].started_at <= gap:
            groups[-1].append(alert)
        else:
            groups.append([alert])
    return groups


def _noise(alert: Alert, why: str) -> Noise:
    return Noise(
        fingerprint=alert.fingerprint,
        service=alert.service or "",
        name=alert.name,
        started_at=alert.started_at,
        why=why,
    )


def _ago(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    return f"{hours} h {rest} min" if rest else f"{hours} h"
