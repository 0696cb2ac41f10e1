"""The incident side of the store: incidents and their alerts, a redrafted plan taking over its
predecessor's Slack message, and plan feedback. The changes seen come from
:class:`~bot.store.changes.Changes`, and the filing of alerts into incidents (grouping under a
per-channel lock, resolution) from :class:`~bot.store.filing.AlertFiling`, its bases.

Every replica receives deploy events and alert webhooks (DESIGN.md, "Several replicas"), so they
meet in the database. A change or an incident is stored once by its id (the primary key decides
between racing replicas); an alert once per ``(incident, source, fingerprint)``; a user's verdict
on a plan once per ``(plan, user)``. Resolving an incident is a compare-and-set ``UPDATE … WHERE
status = 'open'``; retiring a plan for its redraft is one on the plan (still ``proposed``, no
step moved, nobody's approval). The verdicts feed the planner's ``history`` input
(:meth:`culprit_history`).

:class:`Incidents` is a :class:`~bot.store.base.Repository` (through ``Changes``), like
:class:`~bot.store.repository.Store`: same engine, transactions and retries.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa

from bot.store.audit import append_entry
from bot.store.filing import AlertFiling, alert_row
from bot.store.plans import retire_untouched
from bot.store.records import PlanNotFoundError
from bot.store.tables import (
    AlertRecord,
    ApprovalRecord,
    FeedbackRecord,
    IncidentRecord,
    PlanMessageRecord,
    PlanRecord,
    StepRecord,
)
from planners.model import Alert, AlertStatus

__all__ = ["IncidentAlert", "IncidentRow", "Incidents"]

log = logging.getLogger(__name__)


# sqlmodel sets ``__table__`` when it creates a table class; mypy cannot see it.
_INCIDENTS: sa.Table = IncidentRecord.__table__  # type: ignore[attr-defined]
_ALERTS: sa.Table = AlertRecord.__table__  # type: ignore[attr-defined]
_FEEDBACK: sa.Table = FeedbackRecord.__table__  # type: ignore[attr-defined]
_PLANS: sa.Table = PlanRecord.__table__  # type: ignore[attr-defined]
_STEPS: sa.Table = StepRecord.__table__  # type: ignore[attr-defined]
_APPROVALS: sa.Table = ApprovalRecord.__table__  # type: ignore[attr-defined]
_MESSAGES: sa.Table = PlanMessageRecord.__table__  # type: ignore[attr-defined]

_OPEN = "open"
_RESOLVED = "resolved"
_RIGHT = "right"
_WRONG = "wrong"


class IncidentAlert(NamedTuple):
    """An alert grouped into an incident, as stored."""

    source: str
    fingerprint: str
    service: str | None
    name: str
    status: str
    started_at: datetime


@dataclass(frozen=True)
class IncidentRow:
    """A stored incident with its alerts (in the order they were added)."""

    id: str
    services: tuple[str, ...]
    started_at: datetime | None
    channel: str | None
    thread_ts: str | None
    status: str
    created_at: datetime
    alerts: tuple[IncidentAlert, ...]


class Incidents(AlertFiling):
    """Changes, incidents with their alerts, and feedback on plans, shared by every replica.

    Thread-safe: each call runs in its own connection and transaction.

    Args:
        engine: an engine, best made by :func:`bot.store.db.create_engine`, on a database
            migrated to the newest schema.
        clock: returns the current time, timezone-aware.
    """

    # -- incidents -----------------------------------------------------------------------------

    def open_incident(
        self,
        incident_id: str,
        *,
        services: Sequence[str],
        started_at: datetime | None,
        channel: str | None,
        thread_ts: str | None,
        alerts: Sequence[Alert],
    ) -> bool:
        """Store the incident as ``open`` with its alerts, or add new alerts to it if it exists.

        An alert is new when the incident has none with its ``(source, fingerprint)``; alerts
        already stored are left as they are, and so is an existing incident's own data.

        Returns:
            True if this call created the incident (of racing replicas, one does).
        """
        if isinstance(services, str):
            raise TypeError("services must be a sequence of service names, not one string")
        unique: dict[tuple[str, str], Alert] = {}
        for alert in alerts:
            unique.setdefault((alert.source, alert.fingerprint), alert)

        def work(conn: sa.Connection) -> bool:
            now = self._now()
            exists = (
                conn.execute(
                    sa.select(_INCIDENTS.c.id).where(_INCIDENTS.c.id == incident_id)
                ).first()
                is not None
            )
            if not exists:
                conn.execute(
                    sa.insert(_INCIDENTS).values(
                        id=incident_id,
                        services=list(services),
                        started_at=started_at,
                        channel=channel,
                        thread_ts=thread_ts,
                        status=_OPEN,
                        created_at=now,
                    )
                )
            known = {
                (row.source, row.fingerprint)
                for row in conn.execute(
                    sa.select(_ALERTS.c.source, _ALERTS.c.fingerprint).where(
                        _ALERTS.c.incident_id == incident_id
                    )
                )
            }
            new = [alert for key, alert in unique.items() if key not in known]
            if new:
                conn.execute(sa.insert(_ALERTS), [alert_row(incident_id, alert) for alert in new])
            return not exists

        return self._insert_racing(work)

    def incident(self, incident_id: str) -> IncidentRow | None:
        """The incident with this id and its alerts, or ``None``."""
        with self._reading() as conn:
            row = conn.execute(
                sa.select(_INCIDENTS).where(_INCIDENTS.c.id == incident_id)
            ).one_or_none()
            if row is None:
                return None
            alerts = conn.execute(
                sa.select(_ALERTS)
                .where(_ALERTS.c.incident_id == incident_id)
                .order_by(_ALERTS.c.id)
            ).all()
        return IncidentRow(
            id=row.id,
            services=tuple(row.services),
            started_at=row.started_at,
            channel=row.channel,
            thread_ts=row.thread_ts,
            status=row.status,
            created_at=row.created_at,
            alerts=tuple(
                IncidentAlert(
                    source=alert.source,
                    fingerprint=alert.fingerprint,
                    service=alert.service,
                    name=alert.name,
                    status=alert.status,
                    started_at=alert.started_at,
                )
                for alert in alerts
            ),
        )

    def find_open_incident(
        self,
        *,
        channel: str,
        name: str,
        service: str | None,
        source: str | None = None,
        fingerprint: str | None = None,
    ) -> IncidentRow | None:
        """The newest open incident in ``channel`` with this firing alert.

        The alert is the one with ``(source, fingerprint)`` when given (what identifies it: an
        Alertmanager label set, a PagerDuty incident number); failing that, a firing alert
        ``name`` on ``service`` (``service=None`` matches alerts that name no service).
        """
        firing_here = [
            _INCIDENTS.c.status == _OPEN,
            _INCIDENTS.c.channel == channel,
            _ALERTS.c.status == AlertStatus.FIRING.value,
        ]
        same_service = (
            _ALERTS.c.service.is_(None) if service is None else _ALERTS.c.service == service
        )
        wheres = [[_ALERTS.c.name == name, same_service]]
        if fingerprint is not None:
            same = [_ALERTS.c.fingerprint == fingerprint]
            if source is not None:
                same.append(_ALERTS.c.source == source)
            wheres.insert(0, same)
        found: str | None = None
        with self._reading() as conn:
            for where in wheres:
                found = conn.execute(
                    sa.select(_INCIDENTS.c.id)
                    .select_from(_INCIDENTS.join(_ALERTS, _ALERTS.c.incident_id == _INCIDENTS.c.id))
                    .where(*firing_here, *where)
                    .order_by(_INCIDENTS.c.created_at.desc(), _INCIDENTS.c.id.desc())
                    .limit(1)
                ).scalar_one_or_none()
                if found is not None:
                    break
        return None if found is None else self.incident(found)

    def open_alerts(self, *, channel: str, fingerprints: Sequence[str]) -> set[tuple[str, str]]:
        """Which of ``fingerprints`` are firing alerts of an open incident in ``channel``, as
        ``(source, fingerprint)`` pairs (one query per 500 fingerprints)."""
        if isinstance(fingerprints, str):
            raise TypeError("fingerprints must be a sequence, not one string")
        wanted = list(dict.fromkeys(fingerprints))
        found: set[tuple[str, str]] = set()
        with self._reading() as conn:
            for start in range(0, len(wanted), 500):
                rows = conn.execute(
                    sa.select(_ALERTS.c.source, _ALERTS.c.fingerprint)
                    .select_from(_INCIDENTS.join(_ALERTS, _ALERTS.c.incident_id == _INCIDENTS.c.id))
                    .where(
                        _INCIDENTS.c.status == _OPEN,
                        _INCIDENTS.c.channel == channel,
                        _ALERTS.c.status == AlertStatus.FIRING.value,
                        _ALERTS.c.fingerprint.in_(wanted[start : start + 500]),
                    )
                ).all()
                found.update((row.source, row.fingerprint) for row in rows)
        return found

    def resolve_incident(self, incident_id: str) -> bool:
        """Compare-and-set the incident from ``open`` to ``resolved``.

        Returns:
            True if this call resolved it; False if it was not open or does not exist.
        """

        def work(conn: sa.Connection) -> bool:
            changed = conn.execute(
                sa.update(_INCIDENTS)
                .where(_INCIDENTS.c.id == incident_id, _INCIDENTS.c.status == _OPEN)
                .values(status=_RESOLVED)
            )
            return changed.rowcount == 1

        return self._write(work)

    # -- redrafts ------------------------------------------------------------------------------

    def set_drafted(self, incident_id: str, *, alerts: int) -> None:
        """Record that the incident's newest plan was drafted from ``alerts`` of its alerts."""

        def work(conn: sa.Connection) -> None:
            conn.execute(
                sa.update(_INCIDENTS)
                .where(_INCIDENTS.c.id == incident_id)
                .values(drafted_alerts=alerts)
            )

        self._write(work)

    def supersede(self, plan_id: str, *, reason: str) -> bool:
        """Retire a plan that is to be redrafted (:func:`bot.store.plans.retire_untouched`:
        untouched, and its incident stored and open).

        Returns:
            True if this call retired it; False if it started, was approved or its incident
            resolved meanwhile.
        """
        return self._write(
            lambda conn: retire_untouched(
                conn, plan_id, reason=reason, actor="backout", now=self._now(), needs_incident=True
            )
        )

    def hand_over(self, old_plan: str, new_plan: str, *, incident_id: str, drafted: int) -> bool:
        """Show ``new_plan`` in the Slack message that showed ``old_plan`` (its redraft), and
        record that it was drafted from ``drafted`` of the incident's alerts; audited on the new
        plan as ``plan.redrafted``.

        Returns:
            True if the old plan had a message, now the new plan's.
        """

        def work(conn: sa.Connection) -> bool:
            moved = conn.execute(
                sa.update(_MESSAGES).where(_MESSAGES.c.plan_id == old_plan).values(plan_id=new_plan)
            )
            conn.execute(
                sa.update(_INCIDENTS)
                .where(_INCIDENTS.c.id == incident_id)
                .values(drafted_alerts=drafted)
            )
            append_entry(
                conn,
                at=self._now(),
                actor="backout",
                action="plan.redrafted",
                subject=new_plan,
                details={"from": old_plan, "incident": incident_id, "alerts": drafted},
            )
            return moved.rowcount == 1

        return self._write(work)

    # -- feedback ------------------------------------------------------------------------------

    def record_feedback(self, plan_id: str, *, user: str, right: bool) -> bool:
        """Record ``user``'s verdict on the plan's top suspect: ``right`` or wrong.

        A user has one verdict per plan: a second click replaces it.

        Returns:
            True if the verdict is new or changed; False if the user had given this one already.

        Raises:
            PlanNotFoundError: no plan has this id.
        """
        verdict = _RIGHT if right else _WRONG

        def work(conn: sa.Connection) -> bool:
            now = self._now()
            mine = [_FEEDBACK.c.plan_id == plan_id, _FEEDBACK.c.user_id == user]
            previous: str | None = conn.execute(
                sa.select(_FEEDBACK.c.verdict).where(*mine)
            ).scalar_one_or_none()
            if previous == verdict:
                return False
            if previous is not None:
                conn.execute(sa.update(_FEEDBACK).where(*mine).values(verdict=verdict, at=now))
                return True
            found = conn.execute(sa.select(_PLANS.c.id).where(_PLANS.c.id == plan_id)).first()
            if found is None:
                raise PlanNotFoundError(plan_id)
            conn.execute(
                sa.insert(_FEEDBACK).values(plan_id=plan_id, user_id=user, verdict=verdict, at=now)
            )
            return True

        return self._insert_racing(work)

    def feedback(self, plan_id: str) -> dict[str, bool]:
        """User -> whether they said the plan's top suspect was right."""
        with self._reading() as conn:
            rows = conn.execute(
                sa.select(_FEEDBACK.c.user_id, _FEEDBACK.c.verdict).where(
                    _FEEDBACK.c.plan_id == plan_id
                )
            ).all()
        return {row.user_id: row.verdict == _RIGHT for row in rows}

    def culprit_history(self) -> dict[str, int]:
        """Service -> how many incidents its change was confirmed to have caused.

        A plan confirms its top suspect (``suspects[0]`` of its JSON) when more users said
        right than wrong. Several confirmed plans of one incident with the same culprit count
        once. This is the planner's ``history`` input.
        """
        votes = sa.func.sum(
            sa.case(
                (_FEEDBACK.c.verdict == _RIGHT, 1), (_FEEDBACK.c.verdict == _WRONG, -1), else_=0
            )
        )
        confirmed = (
            sa.select(_FEEDBACK.c.plan_id)
            .group_by(_FEEDBACK.c.plan_id)
            .having(votes > 0)
            .subquery()
        )
        with self._reading() as conn:
            rows = conn.execute(
                sa.select(_PLANS.c.incident_id, _PLANS.c.plan_json).select_from(
                    _PLANS.join(confirmed, confirmed.c.plan_id == _PLANS.c.id)
                )
            ).all()
        incidents: dict[str, set[str]] = {}
        for row in rows:
            suspects = row.plan_json.get("suspects") or []
            if suspects:
                incidents.setdefault(suspects[0]["service"], set()).add(row.incident_id)
        return {service: len(ids) for service, ids in sorted(incidents.items())}

    def plans_for_service(self, service: str, *, limit: int = 10) -> list[str]:
        """The ids of the newest ``limit`` plans touching ``service``, newest first.

        A plan touches a service its incident names or one of its steps acts on.
        """
        found: list[str] = []
        if limit < 1:
            return found
        with self._reading() as conn:
            rows = conn.execute(
                sa.select(_PLANS.c.id, _PLANS.c.plan_json).order_by(
                    _PLANS.c.created_at.desc(), _PLANS.c.id.desc()
                )
            )
            for row in rows:
                if service in _services_of(row.plan_json):
                    found.append(row.id)
                    if len(found) == limit:
                        break
        return found


def _services_of(plan_json: dict[str, Any]) -> set[str]:
    incident = plan_json.get("incident") or {}
    services = set(incident.get("services") or ())
    services.update(step["service"] for step in plan_json.get("steps") or ())
    return services
