"""The plumbing every repository of the store shares: an engine, a clock, and transactions that
are retried when another writer got in first (a lock, a serialization failure, a moved audit
chain). Each aggregate has its repository on one database; :class:`~bot.store.store.Store`
holds them.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Self, TypeVar

import sqlalchemy as sa

from bot.store import db

__all__ = ["ChainMovedError", "Repository", "utc_now"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")

_MAX_ATTEMPTS = 30
"""How often a write transaction is retried when another writer got in first."""
_TRANSIENT_SQLSTATES = frozenset({"40001", "40P01", "55P03"})
"""PostgreSQL: serialization failure, deadlock detected, lock not available."""
_INSERT_ATTEMPTS = 3
"""How often an insert that lost a race for its key is run again (to find the winner's row)."""


def utc_now() -> datetime:
    """The current time, timezone-aware UTC (the default clock)."""
    return datetime.now(UTC)


class ChainMovedError(Exception):
    """Another writer appended first; roll the transaction back and try again."""

    def __init__(self, expected_seq: int) -> None:
        self.expected_seq = expected_seq
        super().__init__(f"audit head moved away from seq {expected_seq} during an append")

    def __repr__(self) -> str:
        return f"ChainMovedError(expected_seq={self.expected_seq!r})"


class Repository:
    """A view of the database through one engine, with a clock.

    Args:
        engine: an engine, best made by :func:`bot.store.db.create_engine` (it sets SQLite up
            for concurrent use), on a database migrated to the newest schema.
        clock: returns the current time, timezone-aware.
    """

    def __init__(self, engine: sa.Engine, *, clock: Callable[[], datetime] = utc_now) -> None:
        self._engine = engine
        self._clock = clock

    @property
    def engine(self) -> sa.Engine:
        """The engine this repository runs on."""
        return self._engine

    @property
    def clock(self) -> Callable[[], datetime]:
        """The clock this repository stamps times with."""
        return self._clock

    def close(self) -> None:
        """Close the engine's pooled connections (the repository can still be used afterwards)."""
        self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._engine.url.render_as_string(hide_password=True)!r})"

    def _now(self) -> datetime:
        now = self._clock()
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError(f"the store's clock returned a naive datetime {now!r}")
        return now.astimezone(UTC)

    @contextmanager
    def _reading(self) -> Iterator[sa.Connection]:
        with self._engine.connect() as conn:
            conn.execution_options(**{db.READ_ONLY: True})
            yield conn

    def _write(self, work: Callable[[sa.Connection], _T]) -> _T:
        """Run ``work`` in a transaction; retry the whole of it when another writer got in first."""
        for attempt in range(1, _MAX_ATTEMPTS + 1):
            try:
                with self._engine.begin() as conn:
                    return work(conn)
            except ChainMovedError:
                if attempt == _MAX_ATTEMPTS:
                    raise
            except sa.exc.DBAPIError as exc:
                if attempt == _MAX_ATTEMPTS or not _is_transient(exc):
                    raise
            pause = secrets.SystemRandom().uniform(0, min(0.002 * 2**attempt, 0.2))
            log.debug("write conflict (attempt %d); retrying in %.3fs", attempt, pause)
            time.sleep(pause)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _insert_racing(self, work: Callable[[sa.Connection], _T]) -> _T:
        """Run ``work``; when a concurrent insert of the same key got in first, run it again."""
        for attempt in range(1, _INSERT_ATTEMPTS + 1):
            try:
                return self._write(work)
            except sa.exc.IntegrityError:
                if attempt == _INSERT_ATTEMPTS:
                    raise
                log.debug("lost an insert race (attempt %d); reading again", attempt)
        raise AssertionError("unreachable: the last attempt returns or raises")


def _is_transient(exc: sa.exc.DBAPIError) -> bool:
    """A lock or serialization conflict that a fresh attempt can get past."""
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate in _TRANSIENT_SQLSTATES:
        return True
    return "database is locked" in str(exc.orig) or "database table is locked" in str(exc.orig)
