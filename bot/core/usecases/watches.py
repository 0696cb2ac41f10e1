"""Deploy watches (issue 12, item 2): after a production deploy, Backout reads the service's
catalog health check every interval for a while; on a breach it opens the incident itself, with
the breach as its evidence, and posts the plan at once.

:meth:`WatchSchedule.start` (asked when a deploy is recorded) stores the first ``deploy.watch``
job for a deploy of a service whose catalog entry has a ``health`` check: one interval after
the deploy (at the next point of that grid for a deploy recorded late); the period runs from the
deploy (default 30 minutes, a reading every 30 s). Each job
(:meth:`DeployWatches.check`) takes **one** reading of every check of the service
(:func:`integrations.health.once.read_once`, not the verify loop) and then:

* **healthy**, or **unreadable** (Prometheus down: no evidence against the deploy, logged):
  it stores the next job, ``watch:<change id>:<n>``, on the grid *start + n * interval* (a late
  tick skips the readings it missed rather than bunching them), unless that falls after the
  period: then the watch ends quietly (audited ``watch.ended``, nothing posted);
* **breached**: it files an alert built from the reading (fingerprint ``watch:<change id>``,
  source ``backout:watch``, the reading in its labels and summary) as any alert is filed
  (:meth:`~bot.core.usecases.Planning.alerts_posted`, in the watch's channel, not in a thread):
  a new incident gets its plan drafted and posted at once (in ``autopilot`` mode its contain
  stage queued at once, in the other modes awaiting approvals as usual); an open incident of
  the service in that channel is joined instead. The breach is audited on the plan
  (``watch.breached``, so the summary's timeline shows it) and said in the plan's thread. The
  watch stores no further job: it has done its work.

A watch also ends when its deploy is no longer live (a later deploy replaced it, or it was
rolled back): the later deploy has its own watch.

Each job is claimed once among every replica. A job run again after a crash files the same
alert again, which the incident already holds: no second plan (and the next job's key is taken).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Protocol

from bot.core.ports import Clock
from bot.store import Store
from integrations.deploys import PRODUCTION_ENVIRONMENTS, environment_of, is_production
from integrations.health.once import Snapshot, SnapshotState
from planners.model import Alert, Change, ChangeKind
from planners.topology import Topology

__all__ = [
    "WATCH",
    "WATCH_SOURCE",
    "AlertSink",
    "BreachNotes",
    "DeployWatches",
    "HealthReader",
    "WatchSchedule",
]

log = logging.getLogger(__name__)

WATCH: Final = "deploy.watch"
"""The job kind of one reading of a watch."""
WATCH_SOURCE: Final = "backout:watch"
"""The ``source`` of the alerts a watch files."""
_MAX_NAME = 300
_MAX_TEXT = 500

HealthReader = Callable[[str], Snapshot | None]
"""One reading of a service's checks, None when it has none
(:class:`integrations.health.once.CatalogReadings`)."""


class AlertSink(Protocol):
    """Where a breach goes: the alerts' way into incidents and plans (:class:`Planning`)."""

    def alerts_posted(self, alerts: Sequence[Alert], *, channel: str, ts: str | None) -> str | None:
        """File the alerts; returns the id of the plan posted for a new incident, else None."""


class BreachNotes(Protocol):
    """Where the breach is said to people: in the plan's thread (``bot.slack.reminders``)."""

    def breach(
        self,
        plan_id: str,
        *,
        change_id: str,
        service: str,
        version: str | None,
        check: str,
        reading: str,
        after: timedelta,
    ) -> bool:
        """Say in the plan's thread what the watch read; False when the plan has no message
        yet. Once per change, however often asked."""


@dataclass(frozen=True, kw_only=True)
class WatchSchedule:
    """Starts deploy watches.

    Args:
        store: where the watch's jobs are stored.
        topology: which services have a health check to watch.
        clock: the current time.
        minutes: how long after the deploy its service is watched.
        interval_seconds: how often it is read.
        environments: the production-like environments; a deploy whose labels name another
            environment is not watched (one that names none is).

    Raises:
        ValueError: a period or an interval that is not positive.
    """

    store: Store
    topology: Topology
    clock: Clock
    minutes: float = 30.0
    interval_seconds: float = 30.0
    environments: Collection[str] = PRODUCTION_ENVIRONMENTS

    def __post_init__(self) -> None:
        if self.minutes <= 0 or self.interval_seconds <= 0:
            raise ValueError("a watch needs a positive period and interval")

    def start(self, change: Change) -> bool:
        """Watch the service of a production deploy, unless there is nothing to watch: another
        kind of change, a failed deploy, another environment, a service without a health check,
        or a period already over (a deploy recorded late).

        Idempotent: the first job's key is the change's.

        Returns:
            True if this call started the watch.
        """
        if not self._watchable(change):
            return False
        now = self.clock()
        begun = min(change.at, now)
        until = begun + timedelta(minutes=self.minutes)
        interval = timedelta(seconds=self.interval_seconds)
        steps = max(1, math.ceil((now - begun) / interval))  # the next reading on the grid
        due = begun + steps * interval
        if due > until:
            log.info("deploy %s: recorded after its watch period; not watched", change.id)
            return False
        payload = {
            "change": change.id,
            "service": change.service,
            "version": change.to_version,
            "deployed_at": change.at.isoformat(),
            "started": begun.isoformat(),
            "until": until.isoformat(),
            "interval": self.interval_seconds,
            "n": steps,
        }
        started = self.store.jobs.schedule(
            WATCH, key=_key(change.id, steps), due_at=due, payload=payload
        )
        if started:
            self.store.audit.append(
                actor=WATCH_SOURCE,
                action="watch.started",
                subject=change.id,
                details={"service": change.service, "until": until.isoformat()},
            )
        return started

    def _watchable(self, change: Change) -> bool:
        if change.kind != ChangeKind.DEPLOY or change.failed:
            return False
        environment = environment_of(change)
        if environment is not None and not is_production(environment, tuple(self.environments)):
            return False
        service = self.topology.services.get(change.service)
        return service is not None and service.health is not None


@dataclass(frozen=True, kw_only=True)
class DeployWatches:
    """Runs the readings of deploy watches (the ``deploy.watch`` jobs).

    Args:
        store: jobs, changes, audit.
        incidents: files the breach as an alert (the planning use case).
        read: one reading of a service's health checks.
        channel: where incidents opened by a watch are posted (a channel id).
        clock: the current time.
        notes: says the breach in the plan's thread, if given.
    """

    store: Store
    incidents: AlertSink
    read: HealthReader
    channel: str
    clock: Clock
    notes: BreachNotes | None = None

    def handlers(self) -> dict[str, Callable[[Mapping[str, Any]], None]]:
        """The job kinds this use case runs, for :class:`~bot.runtime.jobs.JobRunner`."""
        return {WATCH: self._job}

    def check(self, payload: Mapping[str, Any]) -> str | None:
        """One reading of a watch (see the module docstring).

        Returns:
            The id of the plan posted for a breach, else None.

        Raises:
            PermanentIntegrationError: the service's check can never be read (the job fails
                for good and the watch with it; ``backout jobs list --failed`` shows why).
        """
        watch = _Watch.of(payload)
        now = self.clock()
        if why := self.store.incidents.retirements([watch.change]).get(watch.change):
            self._ended(watch, f"the deploy is no longer live: {why}")
            return None
        snapshot = self.read(watch.service)
        if snapshot is None:
            self._ended(watch, "the service has no health check")
            return None
        if snapshot.state == SnapshotState.BREACHED:
            return self._breached(watch, snapshot, now)
        if snapshot.state == SnapshotState.UNREADABLE:
            log.warning("deploy watch of %s: no reading (%s)", watch.change, snapshot.detail)
        following = max(watch.n + 1, math.floor((now - watch.started) / watch.interval) + 1)
        due = watch.started + following * watch.interval
        if due > watch.until:
            self._ended(watch, "the period passed healthy", healthy=True)
            return None
        self.store.jobs.schedule(
            WATCH,
            key=_key(watch.change, following),
            due_at=due,
            payload={**payload, "n": following},
        )
        return None

    def _job(self, payload: Mapping[str, Any]) -> None:
        self.check(payload)

    def _breached(self, watch: _Watch, snapshot: Snapshot, now: datetime) -> str | None:
        check = snapshot.check or "health check"
        labels = {
            "service": watch.service,
            "change": watch.change,
            "check": check[:_MAX_TEXT],
            "reading": snapshot.detail[:_MAX_TEXT],
        }
        if snapshot.value is not None:
            labels["value"] = f"{snapshot.value:g}"
        if watch.version:
            labels["version"] = watch.version
        alert = Alert(
            fingerprint=f"watch:{watch.change}",
            service=watch.service,
            name=f"deploy watch: {check} breached after {watch.change}"[:_MAX_NAME],
            severity="critical",
            started_at=now,
            summary=snapshot.detail[: _MAX_TEXT * 2],
            labels=labels,
            source=WATCH_SOURCE,
        )
        plan_id = self.incidents.alerts_posted([alert], channel=self.channel, ts=None)
        log.warning(
            "deploy watch of %s: %s breached (%s); plan %s",
            watch.change,
            check,
            snapshot.detail,
            plan_id or "none (joined an open incident)",
        )
        self.store.audit.append(
            actor=WATCH_SOURCE,
            action="watch.breached",
            subject=plan_id or watch.change,
            details={
                "change": watch.change,
                "service": watch.service,
                "check": check[:_MAX_TEXT],
                "reading": snapshot.detail[:_MAX_TEXT],
                "plan": plan_id,
            },
        )
        if plan_id and self.notes is not None:
            self.notes.breach(
                plan_id,
                change_id=watch.change,
                service=watch.service,
                version=watch.version,
                check=check,
                reading=snapshot.detail,
                after=max(now - watch.deployed_at, timedelta(0)),
            )
        return plan_id

    def _ended(self, watch: _Watch, why: str, *, healthy: bool = False) -> None:
        log.info("deploy watch of %s ended: %s", watch.change, why)
        self.store.audit.append(
            actor=WATCH_SOURCE,
            action="watch.ended",
            subject=watch.change,
            details={"service": watch.service, "why": why, "readings": watch.n, "healthy": healthy},
        )


@dataclass(frozen=True, kw_only=True)
class _Watch:
    """A watch's job payload, read."""

    change: str
    service: str
    version: str | None
    deployed_at: datetime
    started: datetime
    until: datetime
    interval: timedelta
    n: int

    @classmethod
    def of(cls, payload: Mapping[str, Any]) -> _Watch:
        version = payload.get("version")
        return cls(
            change=str(payload["change"]),
            service=str(payload["service"]),
            version=str(version) if version else None,
            deployed_at=datetime.fromisoformat(str(payload["deployed_at"])),
            started=datetime.fromisoformat(str(payload["started"])),
            until=datetime.fromisoformat(str(payload["until"])),
            interval=timedelta(seconds=float(payload["interval"])),
            n=int(payload["n"]),
        )


def _key(change_id: str, n: int) -> str:
    return f"watch:{change_id}:{n}"
