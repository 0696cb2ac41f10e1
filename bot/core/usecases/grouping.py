"""Which incident a firing alert belongs to (issue 10; DESIGN.md, "Incident"): the grouping rule
:class:`~bot.core.usecases.planning.Planning` hands to the store, which applies it under the
channel's lock (:meth:`bot.store.Incidents.file_alerts`).

The rule: a new firing alert joins an open incident of its channel when

1. **one cause could explain both.** Its service is one of the incident's, or some service is,
   or is depended on (transitively) by, the alert's service *and every service of the incident*:
   the dependency both could be failing from. A consumer joins its provider's incident (the
   frontend's errors join cartservice's) and a provider its consumer's, two services sharing a
   provider join, but two services that merely share a *consumer* do not: cartservice and
   currencyservice are both called by the frontend, and stay apart. The incident's possible
   causes narrow as alerts join (frontend, then cartservice: redis-cart or cartservice), so one
   alert on a hub that calls everything cannot pull every later alert into one incident;
2. **in time.** The incident started at most ``window`` before the alert did;
3. **while its plan is live.** An alert that started after the incident's plan finished (done,
   rejected, aborted, expired; to the second, as Slack dates messages) is a new problem and
   opens a new incident with a fresh plan (which no longer suspects what was rolled back); one
   that started before still joins.

An alert naming no service joins only an incident whose alerts name none; a service the topology
does not know is only ever "the same service". Of several incidents that would take the alert,
one that has its service wins, then the newest open one, then one these alerts are opening: new
alerts that join no open incident are grouped with each other by the same rule.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.lifecycle import FINISHED
from bot.store.filing import OpenIncident, Placement
from planners.model import Alert

__all__ = ["new_incident_id", "place", "representatives"]


Reach = Callable[[str], frozenset[str]]
"""A service → itself and every service it depends on, directly or transitively."""


def place(
    incidents: Sequence[OpenIncident],
    alerts: Sequence[Alert],
    *,
    reach: Reach,
    window: timedelta,
) -> list[Placement]:
    """Where each new firing alert goes, by the rule in the module docstring.

    Args:
        incidents: the channel's open incidents, newest first.
        alerts: the new firing alerts.
        reach: the dependency closure of a service (the service itself for an unknown one).
        window: how long after an incident started an alert may still join it.

    Returns:
        One placement per incident that gains alerts (open ones first, then the new ones).
    """
    groups = [_Group.of(incident, reach) for incident in incidents]
    opened: list[_Group] = []
    for alert in sorted(alerts, key=lambda a: (a.started_at, a.source, a.fingerprint)):
        group = _choose([*groups, *opened], alert, reach=reach, window=window)
        if group is None:
            group = _Group(incident_id=None, started_at=alert.started_at)
            opened.append(group)
        group.add(alert, reach)
    return [group.placement() for group in (*groups, *opened) if group.alerts]


def representatives(alerts: Sequence[Alert]) -> list[Alert]:
    """The alerts a plan is drafted from when an incident holds thousands: the earliest and the
    latest of each service's alerts of one name starting in one minute.

    The planner reads alerts for their services and the gaps between their starts (a gap over
    its ``burst_gap`` splits a chronic group from the burst). Every alert left out has a kept
    one of its service and name on either side within its minute, so every gap between
    consecutive starts longer than a minute is kept exactly: the services, the start and the
    burst come out the same, from at most two alerts per service, name and minute. (The store
    applies the same rule to an incident's stored alerts:
    :meth:`bot.store.Incidents.representative_alerts`.)
    """
    span: dict[tuple[str | None, str, datetime], tuple[Alert, Alert]] = {}
    for alert in alerts:
        key = (alert.service, alert.name, alert.started_at.replace(second=0, microsecond=0))
        first, last = span.get(key, (alert, alert))
        span[key] = (
            first if first.started_at <= alert.started_at else alert,
            last if last.started_at > alert.started_at else alert,
        )
    kept = {id(a) for pair in span.values() for a in pair}
    return [a for a in alerts if id(a) in kept]


def new_incident_id(alerts: Sequence[Alert]) -> str:
    """The id of an incident opened by these alerts (as the planner names an incident)."""
    key = "|".join(sorted(f"{a.source}:{a.fingerprint}" for a in alerts))
    return "inc-" + hashlib.sha256(key.encode()).hexdigest()[:10]


@dataclass(eq=False)
class _Group:
    """An incident (open, or about to be opened) while alerts are placed."""

    incident_id: str | None
    started_at: datetime
    services: set[str] = field(default_factory=set)
    nameless: bool = False
    scope: frozenset[str] | None = None
    """The services that could cause all of its alerts; None before a named alert is in it."""
    ended_at: datetime | None = None
    alerts: list[Alert] = field(default_factory=list)

    @classmethod
    def of(cls, incident: OpenIncident, reach: Reach) -> _Group:
        scope: frozenset[str] | None = None
        for service in incident.services:
            scope = reach(service) if scope is None else scope & reach(service)
        ended = incident.plan_moved_at if incident.plan_status in FINISHED else None
        return cls(
            incident_id=incident.id,
            started_at=incident.started_at,
            services=set(incident.services),
            nameless=not incident.services,
            scope=scope,
            # Alerts read from Slack messages start on a whole second.
            ended_at=ended.replace(microsecond=0) if ended is not None else None,
        )

    def takes(self, alert: Alert, reach: Reach, window: timedelta) -> bool:
        if self.started_at < alert.started_at - window:
            return False
        if self.ended_at is not None and alert.started_at >= self.ended_at:
            return False
        if alert.service is None:
            return self.nameless
        if alert.service in self.services:
            return True
        return self.scope is not None and bool(self.scope & reach(alert.service))

    def same_service(self, alert: Alert) -> bool:
        return alert.service is None or alert.service in self.services

    def add(self, alert: Alert, reach: Reach) -> None:
        self.alerts.append(alert)
        self.started_at = min(self.started_at, alert.started_at)
        if alert.service is None:
            self.nameless = self.nameless or not self.services
            return
        if alert.service not in self.services:
            closure = reach(alert.service)
            self.scope = closure if self.scope is None else self.scope & closure
            self.services.add(alert.service)

    def placement(self) -> Placement:
        services = tuple(sorted(self.services))
        if self.incident_id is not None:
            return Placement(
                alerts=tuple(self.alerts), services=services, incident_id=self.incident_id
            )
        return Placement(
            alerts=tuple(self.alerts),
            services=services,
            new_id=new_incident_id(self.alerts),
            started_at=self.started_at,
        )


def _choose(
    groups: Sequence[_Group], alert: Alert, *, reach: Reach, window: timedelta
) -> _Group | None:
    """The group the alert joins: one with its service first, then any; newest first."""
    taking = [group for group in groups if group.takes(alert, reach, window)]
    same = [group for group in taking if group.same_service(alert)]
    return next(iter(same or taking), None)
