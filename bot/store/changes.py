"""The changes side of the store: every change seen (deploys, config, flags, migrations), once
by its id, and whether it is still live.

A change stops being live when its rollback completed (the execution use case retires it) or when
a later deploy of its service replaced the version it put there (recorded as the deploy arrives,
in either order). The planner is given only live changes; the others are listed as excluded with
the reason (issue 10, defect 5). :class:`Changes` is the base of
:class:`~bot.store.incidents.Incidents`, which the store exposes as ``store.incidents``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from bot.store.base import Repository
from bot.store.tables import ChangeRecord
from planners.model import Change, ChangeKind

__all__ = ["Changes"]

log = logging.getLogger(__name__)

# sqlmodel sets ``__table__`` when it creates a table class; mypy cannot see it.
_CHANGES: sa.Table = ChangeRecord.__table__  # type: ignore[attr-defined]

_MAX_WHY = 500


class Changes(Repository):
    """Changes, stored once each, and their retirement. Thread-safe like every repository."""

    def record_change(self, change: Change) -> bool:
        """Store ``change`` unless a change with its id is stored already.

        A deploy replaces the version every earlier deploy of its service put there: those are
        no longer live (:meth:`retirements`), and a deploy recorded after a later one of its
        service is stored as replaced already.

        Returns:
            True if this call stored it; False if the id was known (the stored one is kept).
        """

        def work(conn: sa.Connection) -> None:
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
                )
            )
            if change.kind == ChangeKind.DEPLOY:
                _supersede(conn, change)

        try:
            self._write(work)
        except sa.exc.IntegrityError:
            log.debug("change %s already recorded", change.id)
            return False
        return True

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


def _supersede(conn: sa.Connection, change: Change) -> None:
    """Retire the deploys of ``change.service`` it replaced, or itself if a later one exists."""
    deploys = [_CHANGES.c.service == change.service, _CHANGES.c.kind == ChangeKind.DEPLOY.value]
    version = f" ({change.to_version})" if change.to_version else ""
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
        .where(*deploys, _CHANGES.c.at > change.at)
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
    )
