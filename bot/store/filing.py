"""Filing alerts into incidents (issue 10): which alerts a channel's open incidents hold already,
new firing alerts placed into incidents, resolved ones marked, and an incident closed when none
of its alerts fires any more. Its value types are in :mod:`bot.store.filing_records`.

Every write of a channel's incidents and alerts holds that channel's lock for its transaction: on
PostgreSQL a transaction-scoped advisory lock keyed by the channel, on SQLite the database write
lock every write transaction takes at ``BEGIN IMMEDIATE``. So replicas receiving one alert storm
at once never open two incidents for it, and the last two resolutions of an incident never both
miss that nothing fires any more. Within a process, a channel's writers first queue on a lock of
their own, so that a storm's requests wait in line rather than in the database's busy handler
(SQLite naps between tries, up to 100 ms at a time).

Which incident a new alert joins is not decided here: the caller's ``place`` function (the
grouping rule, :mod:`bot.core.usecases.grouping`) decides, inside the lock, from the open
incidents this module reads. (A redraft taking over its predecessor's message is
:class:`~bot.store.incidents.Incidents`' part.)

Every lookup by alert goes through the unique index ``(incident_id, source, fingerprint)`` from
the open incidents of the channel (``ix_incidents_status_channel``), 500 fingerprints a query; new
alerts are inserted in one ``executemany``. A payload of 2,000 alerts is a handful of queries.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from bot.lifecycle import PlanKind, PlanStatus
from bot.store.changes import Changes
from bot.store.filing_records import (
    Closing,
    Filed,
    KnownAlert,
    Opened,
    OpenIncident,
    Place,
    Placement,
    Tally,
)
from bot.store.tables import AlertRecord, IncidentRecord, PlanRecord, UtcDateTime
from planners.model import Alert, AlertStatus

__all__ = [
    "AlertFiling",
    "Closing",
    "Filed",
    "KnownAlert",
    "OpenIncident",
    "Opened",
    "Place",
    "Placement",
    "Tally",
    "alert_row",
]

# sqlmodel sets ``__table__`` when it creates a table class; mypy cannot see it.
_INCIDENTS: sa.Table = IncidentRecord.__table__  # type: ignore[attr-defined]
_ALERTS: sa.Table = AlertRecord.__table__  # type: ignore[attr-defined]
_PLANS: sa.Table = PlanRecord.__table__  # type: ignore[attr-defined]

_OPEN = "open"
_RESOLVED = "resolved"
_FIRING = AlertStatus.FIRING.value
_BATCH = 500
"""Fingerprints (or row ids) per ``IN (…)``: well under every backend's parameter limit."""
_BY_NAME_BATCH = 100
"""``(name, service)`` pairs per query when resolved alerts are matched by name."""

Key = tuple[str, str]

_LOCKS: weakref.WeakKeyDictionary[sa.Engine, dict[str, threading.Lock]]
_LOCKS = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


class AlertFiling(Changes):
    """Alerts filed into incidents, under one lock per channel (see the module docstring)."""

    def known_alerts(self, *, channel: str, alerts: Sequence[Alert]) -> dict[Key, KnownAlert]:
        """Which of ``alerts`` an open incident of ``channel`` holds already (firing or
        resolved), by ``(source, fingerprint)``: the cheap test every repeated alert takes."""
        with self._reading() as conn:
            return _known(conn, channel, {(a.source, a.fingerprint) for a in alerts})

    def file_alerts(
        self,
        *,
        channel: str,
        alerts: Sequence[Alert],
        since: datetime,
        thread_ts: str | None,
        moment: str,
        place: Place,
    ) -> Filed:
        """File firing ``alerts`` seen in ``channel``, in one transaction under its lock.

        An alert an open incident of the channel holds already adds nothing (one that had
        resolved fires again there). The others go where ``place`` puts them, given the
        channel's open incidents that started at ``since`` or later: into an open incident, or
        into a new one (``thread_ts`` its Slack thread, the newest plan drafted from all of them).

        Returns:
            The incidents opened and those that gained alerts.
        """
        unique: dict[Key, Alert] = {}
        for alert in alerts:
            if alert.status == AlertStatus.FIRING:
                unique.setdefault((alert.source, alert.fingerprint), alert)

        def work(conn: sa.Connection) -> Filed:
            _lock(conn, channel)
            known = _known(conn, channel, set(unique))
            again = [k for k in known.values() if k.status != _FIRING]
            for ids in _chunks([k.row_id for k in again], _BATCH):
                conn.execute(sa.update(_ALERTS).where(_ALERTS.c.id.in_(ids)).values(status=_FIRING))
            joined = dict.fromkeys(k.incident_id for k in again)
            new = [alert for key, alert in unique.items() if key not in known]
            if not new:
                return Filed(joined=tuple(joined))
            candidates = _open_incidents(conn, channel, since)
            placements = place(candidates, new)
            services = {incident.id: set(incident.services) for incident in candidates}
            now = self._now()
            rows: list[dict[str, Any]] = []
            opened: list[Opened] = []
            for placement in placements:
                if not placement.alerts:
                    continue
                if placement.incident_id is None:
                    incident_id = _free_id(conn, placement.new_id, moment)
                    conn.execute(
                        sa.insert(_INCIDENTS).values(
                            id=incident_id,
                            services=list(placement.services),
                            started_at=placement.started_at,
                            channel=channel,
                            thread_ts=thread_ts,
                            status=_OPEN,
                            created_at=now,
                            drafted_alerts=len(placement.alerts),
                        )
                    )
                    opened.append(Opened(incident_id, placement.alerts))
                else:
                    incident_id = placement.incident_id
                    if set(placement.services) != services.get(incident_id):
                        conn.execute(
                            sa.update(_INCIDENTS)
                            .where(_INCIDENTS.c.id == incident_id)
                            .values(services=list(placement.services))
                        )
                    joined[incident_id] = None
                rows += [alert_row(incident_id, alert) for alert in placement.alerts]
            if rows:
                conn.execute(sa.insert(_ALERTS), rows)
            return Filed(opened=tuple(opened), joined=tuple(joined))

        with _channel_lock(self.engine, channel):
            return self._insert_racing(work)

    def resolve_alerts(
        self, *, channel: str, alerts: Sequence[Alert], by_name: bool = False
    ) -> Closing:
        """Mark resolved ``alerts`` resolved in the open incidents of ``channel``, and resolve
        (compare-and-set) each incident none of whose alerts fires any more, in one
        transaction under the channel's lock.

        An alert is found by ``(source, fingerprint)``. With ``by_name`` (alerts read from a
        message's text, whose fingerprint may differ between the firing and the resolved
        message), one that matches no fingerprint resolves the firing alerts of the same name
        on the same service instead; a webhook's alerts carry their sender's fingerprint, and
        only it matches.

        Returns:
            The incidents this call resolved, and the open ones that changed.
        """
        resolved = [a for a in alerts if a.status == AlertStatus.RESOLVED]
        keys = {(a.source, a.fingerprint) for a in resolved}

        def work(conn: sa.Connection) -> Closing:
            _lock(conn, channel)
            known = _known(conn, channel, keys)
            rows = [k.row_id for k in known.values() if k.status == _FIRING]
            touched = {k.incident_id for k in known.values() if k.status == _FIRING}
            if by_name:
                unmatched = {
                    (a.name, a.service) for a in resolved if (a.source, a.fingerprint) not in known
                }
                for row_id, incident_id in _firing_by_name(conn, channel, unmatched):
                    rows.append(row_id)
                    touched.add(incident_id)
            for ids in _chunks(rows, _BATCH):
                conn.execute(
                    sa.update(_ALERTS).where(_ALERTS.c.id.in_(ids)).values(status=_RESOLVED)
                )
            if not touched:
                return Closing()
            still = _still_firing(conn, sorted(touched))
            quiet = sorted(touched - still)
            closed: list[str] = []
            for ids in _chunks(quiet, _BATCH):
                found = conn.execute(
                    sa.select(_INCIDENTS.c.id).where(
                        _INCIDENTS.c.id.in_(ids), _INCIDENTS.c.status == _OPEN
                    )
                ).scalars()
                closing = list(found)
                conn.execute(
                    sa.update(_INCIDENTS)
                    .where(_INCIDENTS.c.id.in_(closing), _INCIDENTS.c.status == _OPEN)
                    .values(status=_RESOLVED)
                )
                closed += closing
            return Closing(resolved=tuple(closed), changed=tuple(sorted(still)))

        with _channel_lock(self.engine, channel):
            return self._write(work)

    def tally(self, incident_id: str) -> Tally | None:
        """The incident's alerts counted, or None when no incident has this id."""
        firing = sa.func.sum(sa.case((_ALERTS.c.status == _FIRING, 1), else_=0))
        with self._reading() as conn:
            drafted = conn.execute(
                sa.select(_INCIDENTS.c.drafted_alerts).where(_INCIDENTS.c.id == incident_id)
            ).scalar_one_or_none()
            if drafted is None:
                return None
            total, on = conn.execute(
                sa.select(sa.func.count(), firing).where(_ALERTS.c.incident_id == incident_id)
            ).one()
        return Tally(total=int(total), firing=int(on or 0), drafted=int(drafted))

    def representative_alerts(self, incident_id: str) -> list[Alert]:
        """The incident's firing alerts a plan is drafted from: the earliest and the latest of
        each service's alerts of one name starting in one minute (the rule of
        :func:`bot.core.usecases.grouping.representatives`, applied by the database, so that
        an incident of thousands of alerts reads a few dozen)."""
        minute = (
            sa.func.date_trunc("minute", _ALERTS.c.started_at)
            if self.engine.dialect.name == "postgresql"
            else sa.func.strftime("%Y-%m-%d %H:%M", _ALERTS.c.started_at)
        )
        part = (_ALERTS.c.service, _ALERTS.c.name, minute)
        order = (_ALERTS.c.started_at, _ALERTS.c.id)
        ranked = (
            sa.select(
                _ALERTS.c.id,
                sa.func.row_number().over(partition_by=part, order_by=order).label("first"),
                sa.func.row_number()
                .over(partition_by=part, order_by=[c.desc() for c in order])
                .label("last"),
            )
            .where(_ALERTS.c.incident_id == incident_id, _ALERTS.c.status == _FIRING)
            .subquery()
        )
        query = sa.select(ranked.c.id).where(sa.or_(ranked.c.first == 1, ranked.c.last == 1))
        with self._reading() as conn:
            ids = list(conn.execute(query).scalars())
        return self.alerts_of(incident_id, rows=ids)

    def alerts_of(self, incident_id: str, *, rows: Sequence[int]) -> list[Alert]:
        """The incident's alerts with these row ids as they arrived, with their current status."""
        query = sa.select(_ALERTS).where(_ALERTS.c.incident_id == incident_id)
        with self._reading() as conn:
            found = [
                row
                for ids in _chunks(sorted(rows), _BATCH)
                for row in conn.execute(query.where(_ALERTS.c.id.in_(ids)))
            ]
        return [_alert(row) for row in sorted(found, key=lambda row: row.id)]


def _lock(conn: sa.Connection, channel: str) -> None:
    """Hold the channel's lock until the transaction ends (SQLite holds the database's)."""
    if conn.dialect.name == "postgresql":
        conn.execute(
            sa.text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
            {"key": f"backout.incidents:{channel}"},
        )


def _channel_lock(engine: sa.Engine, channel: str) -> threading.Lock:
    """This process's lock for the channel's writes on ``engine``: writers queue on it instead
    of all waiting in the database's busy handler (SQLite sleeps between tries)."""
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(engine, {}).setdefault(channel, threading.Lock())


def _open_here(channel: str) -> list[sa.ColumnElement[bool]]:
    return [_INCIDENTS.c.status == _OPEN, _INCIDENTS.c.channel == channel]


_JOINED = _INCIDENTS.join(_ALERTS, _ALERTS.c.incident_id == _INCIDENTS.c.id)
_KNOWN = (
    sa.select(_ALERTS.c.id, _ALERTS.c.incident_id, _ALERTS.c.fingerprint, _ALERTS.c.status)
    .select_from(_JOINED)
    .where(
        _INCIDENTS.c.status == _OPEN,
        _INCIDENTS.c.channel == sa.bindparam("channel"),
        _ALERTS.c.source == sa.bindparam("source"),
        _ALERTS.c.fingerprint.in_(sa.bindparam("fingerprints", expanding=True)),
    )
    .order_by(_INCIDENTS.c.created_at, _ALERTS.c.id)
)
"""Known alerts of one source among some fingerprints (built once: every alert asks it)."""


def _known(conn: sa.Connection, channel: str, keys: Iterable[Key]) -> dict[Key, KnownAlert]:
    """The alerts with these keys in the open incidents of ``channel`` (newest incident wins)."""
    by_source: dict[str, list[str]] = {}
    for source, fingerprint in keys:
        by_source.setdefault(source, []).append(fingerprint)
    found: dict[Key, KnownAlert] = {}
    for source, fingerprints in sorted(by_source.items()):
        for chunk in _chunks(sorted(fingerprints), _BATCH):
            params = {"channel": channel, "source": source, "fingerprints": chunk}
            for row in conn.execute(_KNOWN, params):
                found[(source, row.fingerprint)] = KnownAlert(row.incident_id, row.status, row.id)
    return found


_SINCE = sa.bindparam("since", type_=UtcDateTime())
_OPEN_INCIDENTS = sa.select(
    _INCIDENTS.c.id, _INCIDENTS.c.services, _INCIDENTS.c.started_at, _INCIDENTS.c.created_at
).where(
    _INCIDENTS.c.status == _OPEN,
    _INCIDENTS.c.channel == sa.bindparam("channel"),
    sa.or_(
        _INCIDENTS.c.started_at >= _SINCE,
        sa.and_(_INCIDENTS.c.started_at.is_(None), _INCIDENTS.c.created_at >= _SINCE),
    ),
)
_THEIR_PLANS = sa.select(
    _PLANS.c.id, _PLANS.c.incident_id, _PLANS.c.status, _PLANS.c.created_at, _PLANS.c.updated_at
).where(
    _PLANS.c.incident_id.in_(sa.bindparam("ids", expanding=True)),
    _PLANS.c.kind == PlanKind.LIVE.value,
)


def _open_incidents(conn: sa.Connection, channel: str, since: datetime) -> list[OpenIncident]:
    """The open incidents of ``channel`` that started at ``since`` or later, newest first, each
    with its newest live plan's status."""
    rows = conn.execute(_OPEN_INCIDENTS, {"channel": channel, "since": since}).all()
    plans: dict[str, Any] = {}
    for ids in _chunks([row.id for row in rows], _BATCH):
        for plan in conn.execute(_THEIR_PLANS, {"ids": ids}):
            newest = plans.get(plan.incident_id)
            if newest is None or (plan.created_at, plan.id) > (newest.created_at, newest.id):
                plans[plan.incident_id] = plan
    found = []
    for row in rows:
        newest = plans.get(row.id)
        found.append(
            OpenIncident(
                id=row.id,
                services=tuple(row.services or ()),
                started_at=row.started_at or row.created_at,
                plan_status=PlanStatus(newest.status) if newest is not None else None,
                plan_moved_at=newest.updated_at if newest is not None else None,
            )
        )
    found.sort(key=lambda incident: (incident.started_at, incident.id), reverse=True)
    return found


def _free_id(conn: sa.Connection, wanted: str, moment: str) -> str:
    """``wanted``, or ``wanted-<moment>`` (then ``-2``, ``-3``…) when an incident has it."""
    candidates = [wanted, f"{wanted}-{moment}"]
    taken = set(
        conn.execute(
            sa.select(_INCIDENTS.c.id).where(
                sa.or_(_INCIDENTS.c.id.in_(candidates), _INCIDENTS.c.id.like(f"{wanted}-%"))
            )
        ).scalars()
    )
    for candidate in candidates:
        if candidate not in taken:
            return candidate
    number = 2
    while f"{candidates[1]}-{number}" in taken:
        number += 1
    return f"{candidates[1]}-{number}"


def _firing_by_name(
    conn: sa.Connection, channel: str, pairs: Iterable[tuple[str, str | None]]
) -> list[tuple[int, str]]:
    """Firing alerts of the open incidents of ``channel`` with one of these names on that
    service (None: on no service), as ``(row id, incident id)``."""
    joined = _INCIDENTS.join(_ALERTS, _ALERTS.c.incident_id == _INCIDENTS.c.id)
    found: list[tuple[int, str]] = []
    for chunk in _chunks(sorted(pairs, key=lambda p: (p[0], p[1] or "")), _BY_NAME_BATCH):
        matches = [
            sa.and_(
                _ALERTS.c.name == name,
                _ALERTS.c.service.is_(None) if service is None else _ALERTS.c.service == service,
            )
            for name, service in chunk
        ]
        rows = conn.execute(
            sa.select(_ALERTS.c.id, _ALERTS.c.incident_id)
            .select_from(joined)
            .where(*_open_here(channel), _ALERTS.c.status == _FIRING, sa.or_(*matches))
        )
        found += [(row.id, row.incident_id) for row in rows]
    return found


def _still_firing(conn: sa.Connection, incident_ids: Sequence[str]) -> set[str]:
    """Which of these incidents still have a firing alert."""
    firing: set[str] = set()
    for ids in _chunks(list(incident_ids), _BATCH):
        firing.update(
            conn.execute(
                sa.select(_ALERTS.c.incident_id)
                .where(_ALERTS.c.incident_id.in_(ids), _ALERTS.c.status == _FIRING)
                .distinct()
            ).scalars()
        )
    return firing


def alert_row(incident_id: str, alert: Alert) -> dict[str, Any]:
    """The ``alerts`` row of ``alert`` filed under ``incident_id``."""
    return {
        "incident_id": incident_id,
        "source": alert.source,
        "fingerprint": alert.fingerprint,
        "service": alert.service,
        "name": alert.name,
        "status": alert.status.value,
        "started_at": alert.started_at,
        "payload": alert.model_dump(mode="json"),
    }


def _alert(row: sa.Row[Any]) -> Alert:
    """The stored alert as it arrived (its payload), with its status now."""
    status = AlertStatus(row.status)
    if row.payload:
        return Alert.model_validate({**row.payload, "status": status})
    return Alert(
        fingerprint=row.fingerprint,
        service=row.service,
        name=row.name,
        status=status,
        started_at=row.started_at,
        source=row.source,
    )


def _chunks(items: Sequence[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])
