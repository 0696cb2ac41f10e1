"""The changes side of the store: every change seen (deploys, config, flags, migrations), once
by its id, and whether it is still live.

A change stops being live when its rollback completed (the execution use case retires it) or when
a later deploy of its service replaced the version it put there (recorded as the deploy arrives,
in either order). A deploy its source reported as failed replaces nothing: what it was to replace
may still run. The planner is given only live changes; the others are listed as excluded with
the reason (issue 10, defect 5).

One deploy is stored once however many sources announce it (CI's ``deployment_status``, Argo
CD's notification, a bot's message in Slack, each with its own id): a deploy reported by a source
that has not reported the stored one yet, of the same service and version, in the same
environment when both name one, within :data:`~integrations.deploys.SAME_DEPLOY_WINDOW` of it,
and with no other deploy of the service between them, is that change. It keeps the first id;
the later report is kept in its ``reports`` (:meth:`Changes.reports`), fills what the first
lacked (the previous version, the actor, labels) and marks it failed if it says so. Replicas
recording reports of one service take a lock on it first (PostgreSQL; SQLite's writers take
turns anyway), so two reports arriving at once still make one change.

:class:`Changes` is the base of :class:`~bot.store.incidents.Incidents`, which the store exposes
as ``store.incidents``.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from bot.store.base import Repository
from bot.store.tables import ChangeRecord
from integrations.deploys import SAME_DEPLOY_WINDOW, same_deploy
from planners.model import Change, ChangeKind

__all__ = ["ChangeReport", "Changes"]

log = logging.getLogger(__name__)

# sqlmodel sets ``__table__`` when it creates a table class; mypy cannot see it.
_CHANGES: sa.Table = ChangeRecord.__table__  # type: ignore[attr-defined]

_MAX_WHY = 500
_LOCK_CLASS = 0x63686E67  # "chng": PostgreSQL advisory locks on a service's changes


@dataclass(frozen=True, kw_only=True)
class ChangeReport:
    """Another source's report of a stored deploy: what it said, under its own id."""

    id: str
    source: str | None
    at: datetime
    actor: str | None
    to_version: str | None
    failed: bool
    summary: str
    labels: tuple[str, ...]


class Changes(Repository):
    """Changes, stored once each, and their retirement. Thread-safe like every repository."""

    def record_change(self, change: Change) -> bool:
        """Store ``change`` unless it is stored already, under its id or as the same deploy.

        A deploy another source already reported (see the module docstring) is added to that
        change's :meth:`reports` instead. A deploy that did not fail replaces the version every
        earlier deploy of its service put there: those are no longer live (:meth:`retirements`),
        and a deploy recorded after a later one of its service is stored as replaced already.

        Returns:
            True if this call stored it as a new change; False if its id was known or it was
            the same deploy as a stored change (the stored one is kept, under its id).
        """

        def work(conn: sa.Connection) -> bool:
            _lock(conn, change.service)
            known = sa.select(_CHANGES.c.id).where(_CHANGES.c.id == change.id)
            if conn.execute(known).first() is not None:
                return False
            twin = _twin(conn, change) if change.kind == ChangeKind.DEPLOY else None
            if twin is not None:
                _merge(conn, twin, change)
                return False
            conn.execute(
                sa.insert(_CHANGES).values(
                    id=change.id,
                    service=change.service,
                    kind=change.kind.value,
                    at=change.at,
                    from_version=change.from_version,
                    to_version=change.to_version,
                    actor=change.actor,
                    source=change.source,
                    revertible=change.revertible,
                    summary=change.summary,
                    flag=change.flag,
                    database=change.database,
                    security=change.security,
                    labels=list(change.labels) or None,
                    failed=change.failed,
                )
            )
            if change.kind == ChangeKind.DEPLOY:
                _supersede(conn, change)
            return True

        try:
            return self._write(work)
        except sa.exc.IntegrityError:
            log.debug("change %s already recorded", change.id)
            return False

    def reports(self, change_id: str) -> tuple[ChangeReport, ...]:
        """What other sources reported of the deploy stored as ``change_id``, in arrival order
        (empty for a change told once, or unknown)."""
        with self._reading() as conn:
            stored = conn.execute(
                sa.select(_CHANGES.c.reports).where(_CHANGES.c.id == change_id)
            ).scalar_one_or_none()
        return tuple(_report(item) for item in stored or ())

    def retire_change(self, change_id: str, *, why: str) -> bool:
        """Record that the change is no longer live (its rollback completed), saying why.

        Returns:
            True if this call retired it; False if it was retired already or is unknown.
        """

        def work(conn: sa.Connection) -> bool:
            changed = conn.execute(
                sa.update(_CHANGES)
                .where(_CHANGES.c.id == change_id, _CHANGES.c.retired_at.is_(None))
                .values(retired_at=self._now(), retired_why=why[:_MAX_WHY])
            )
            return changed.rowcount == 1

        return self._write(work)

    def retirements(self, change_ids: Sequence[str]) -> dict[str, str]:
        """Change id -> why it is no longer live, for those of ``change_ids`` that are not."""
        if isinstance(change_ids, str):
            raise TypeError("change_ids must be a sequence of change ids, not one string")
        found: dict[str, str] = {}
        ids = list(dict.fromkeys(change_ids))
        with self._reading() as conn:
            for start in range(0, len(ids), 500):
                rows = conn.execute(
                    sa.select(_CHANGES.c.id, _CHANGES.c.retired_why).where(
                        _CHANGES.c.id.in_(ids[start : start + 500]),
                        _CHANGES.c.retired_at.is_not(None),
                    )
                ).all()
                found.update({row.id: row.retired_why or "no longer live" for row in rows})
        return found

    def changes_between(self, start: datetime, end: datetime) -> list[Change]:
        """The changes made from ``start`` to ``end`` (both included), oldest first.

        Raises:
            ValueError: ``start`` or ``end`` is naive.
        """
        _require_aware(start, "start")
        _require_aware(end, "end")
        with self._reading() as conn:
            rows = conn.execute(
                sa.select(_CHANGES)
                .where(_CHANGES.c.at >= start, _CHANGES.c.at <= end)
                .order_by(_CHANGES.c.at, _CHANGES.c.id)
            ).all()
        return [_change(row) for row in rows]

    def changes_of(self, service: str, *, limit: int = 20) -> list[Change]:
        """The newest ``limit`` changes to ``service``, newest first."""
        with self._reading() as conn:
            rows = conn.execute(
                sa.select(_CHANGES)
                .where(_CHANGES.c.service == service)
                .order_by(_CHANGES.c.at.desc(), _CHANGES.c.id.desc())
                .limit(limit)
            ).all()
        return [_change(row) for row in rows]


def _lock(conn: sa.Connection, service: str) -> None:
    """Serialise the recording of ``service``'s changes across replicas until the transaction
    ends (PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already lets one writer in at a time)."""
    if conn.dialect.name != "postgresql":
        return
    key = zlib.crc32(service.encode("utf-8", "surrogatepass"))
    signed = key - 2**32 if key >= 2**31 else key
    conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_LOCK_CLASS, signed)))


def _twin(conn: sa.Connection, change: Change) -> sa.Row[Any] | None:
    """The stored change that is the same deploy as ``change`` (the nearest in time), if any:
    one no report of which came from ``change``'s source, with no other deploy of the service
    between the two, and not rolled back before it (the same version deployed again after a
    rollback is a new deploy)."""
    rows = conn.execute(
        sa.select(_CHANGES)
        .where(
            _CHANGES.c.service == change.service,
            _CHANGES.c.kind == ChangeKind.DEPLOY.value,
            _CHANGES.c.at >= change.at - SAME_DEPLOY_WINDOW,
            _CHANGES.c.at <= change.at + SAME_DEPLOY_WINDOW,
        )
        .order_by(_CHANGES.c.at, _CHANGES.c.id)
    ).all()
    for row in rows:  # this very report, delivered again
        if any(item.get("id") == change.id for item in row.reports or ()):
            return row
    same = {
        row.id
        for row in rows
        if same_deploy(_change(row), change)
        and change.source not in {item.get("source") for item in row.reports or ()}
        and (row.retired_at is None or row.retired_at > change.at)
    }
    for row in sorted((r for r in rows if r.id in same), key=lambda r: abs(r.at - change.at)):
        low, high = sorted((row.at, change.at))
        if not any(low < other.at < high and other.id not in same for other in rows):
            return row
    return None


def _merge(conn: sa.Connection, twin: sa.Row[Any], change: Change) -> None:
    """Add ``change`` to the reports of the stored deploy ``twin`` (once), filling what the
    stored record lacks; a report of failure marks the deploy failed."""
    reports = list(twin.reports or [])
    if any(item.get("id") == change.id for item in reports):
        return
    reports.append(
        {
            "id": change.id,
            "source": change.source,
            "at": change.at.isoformat(),
            "actor": change.actor,
            "to_version": change.to_version,
            "failed": change.failed,
            "summary": change.summary,
            "labels": list(change.labels),
        }
    )
    labels = list(dict.fromkeys([*(twin.labels or ()), *change.labels]))
    conn.execute(
        sa.update(_CHANGES)
        .where(_CHANGES.c.id == twin.id)
        .values(
            reports=reports,
            labels=labels or None,
            from_version=twin.from_version or change.from_version,
            actor=twin.actor or change.actor,
            failed=bool(twin.failed) or change.failed,
            security=bool(twin.security) or change.security,
        )
    )
    log.info("deploy %s reported again by %s as %s", twin.id, change.source, change.id)


def _supersede(conn: sa.Connection, change: Change) -> None:
    """Retire the deploys of ``change.service`` it replaced, or itself if a later one exists.

    A failed deploy replaced nothing (what it was to replace may still run); it is itself
    replaced by any later deploy that did not fail."""
    deploys = [_CHANGES.c.service == change.service, _CHANGES.c.kind == ChangeKind.DEPLOY.value]
    version = f" ({change.to_version})" if change.to_version else ""
    if not change.failed:
        conn.execute(
            sa.update(_CHANGES)
            .where(*deploys, _CHANGES.c.at < change.at, _CHANGES.c.retired_at.is_(None))
            .values(
                retired_at=change.at,
                retired_why=f"replaced by the later deploy {change.id}{version}"[:_MAX_WHY],
            )
        )
    later = conn.execute(
        sa.select(_CHANGES.c.id, _CHANGES.c.at, _CHANGES.c.to_version)
        .where(*deploys, _CHANGES.c.at > change.at, _CHANGES.c.failed.is_(False))
        .order_by(_CHANGES.c.at)
        .limit(1)
    ).first()
    if later is not None:
        version = f" ({later.to_version})" if later.to_version else ""
        conn.execute(
            sa.update(_CHANGES)
            .where(_CHANGES.c.id == change.id)
            .values(
                retired_at=later.at,
                retired_why=f"replaced by the later deploy {later.id}{version}"[:_MAX_WHY],
            )
        )


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} is a naive datetime {value!r}: give a timezone-aware time")


def _change(row: sa.Row[Any]) -> Change:
    return Change(
        id=row.id,
        service=row.service,
        kind=ChangeKind(row.kind),
        at=row.at,
        from_version=row.from_version,
        to_version=row.to_version,
        actor=row.actor,
        source=row.source,
        revertible=row.revertible,
        summary=row.summary,
        flag=row.flag,
        database=row.database,
        security=bool(row.security),
        labels=tuple(row.labels or ()),
        failed=bool(row.failed),
    )


def _report(item: dict[str, Any]) -> ChangeReport:
    return ChangeReport(
        id=str(item["id"]),
        source=item.get("source"),
        at=datetime.fromisoformat(item["at"]),
        actor=item.get("actor"),
        to_version=item.get("to_version"),
        failed=bool(item.get("failed")),
        summary=str(item.get("summary", "")),
        labels=tuple(item.get("labels") or ()),
    )
