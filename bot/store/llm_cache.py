"""Model answers cached in the database (issue 9 item 7): ``llm_cache``, one row per key.

The key is computed by the caller (:class:`bot.core.llm_cache.CachingModel`) from everything
that decides an answer; this repository only keeps rows and their expiry. A row is served while
``expires_at`` is in the future by the store's clock: :meth:`LLMCache.get` never returns an
expired one, :meth:`LLMCache.put` replaces whatever the key held, and :meth:`LLMCache.prune`
deletes a bounded number of expired rows per call (the hourly prune of
:mod:`bot.runtime.scheduler`). Every replica shares the rows, so one replica's answer (or one
endpoint failure) is seen by all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from bot.store.base import Repository
from bot.store.tables import LLMCacheRecord

__all__ = ["CachedEntry", "LLMCache"]

# sqlmodel sets ``__table__`` when it creates a table class; mypy cannot see it.
_CACHE: sa.Table = LLMCacheRecord.__table__  # type: ignore[attr-defined]

_MAX_DETAIL = 500
"""Characters of a failure's detail kept."""


@dataclass(frozen=True)
class CachedEntry:
    """A live row: the outcome, the answer's JSON (``ok`` only) or why there is none."""

    key: str
    prompt: str
    model: str
    outcome: str
    value: str | None
    detail: str
    created_at: datetime
    expires_at: datetime


class LLMCache(Repository):
    """Cached model answers by key, each with an expiry. Thread-safe like every repository."""

    def get(self, key: str) -> CachedEntry | None:
        """The live entry for ``key``, or ``None`` when there is none or it has expired."""
        now = self._now()
        with self._reading() as conn:
            row = conn.execute(
                sa.select(_CACHE).where(_CACHE.c.key == key, _CACHE.c.expires_at > now)
            ).first()
        if row is None:
            return None
        return CachedEntry(
            key=row.key,
            prompt=row.prompt,
            model=row.model,
            outcome=row.outcome,
            value=row.value,
            detail=row.detail,
            created_at=row.created_at,
            expires_at=row.expires_at,
        )

    def put(
        self,
        key: str,
        *,
        prompt: str,
        model: str,
        outcome: str,
        value: str | None,
        ttl: timedelta,
        detail: str = "",
    ) -> None:
        """Store an entry for ``key`` served for ``ttl`` from now, replacing any (live or not).

        Raises:
            ValueError: ``ttl`` is not positive.
        """
        if ttl <= timedelta(0):
            raise ValueError(f"ttl must be positive, not {ttl}")

        def work(conn: sa.Connection) -> None:
            now = self._now()
            conn.execute(sa.delete(_CACHE).where(_CACHE.c.key == key))
            conn.execute(
                sa.insert(_CACHE).values(
                    key=key,
                    prompt=prompt,
                    model=model,
                    outcome=outcome,
                    value=value,
                    detail=detail[:_MAX_DETAIL],
                    created_at=now,
                    expires_at=now + ttl,
                )
            )

        # Two replicas caching the same key at once: the loser deletes the winner's row and
        # inserts its own (same answer, or a newer failure).
        self._insert_racing(work)

    def forget(self, key: str) -> bool:
        """Delete the entry for ``key`` (a corrupt one); whether there was one."""

        def work(conn: sa.Connection) -> bool:
            return conn.execute(sa.delete(_CACHE).where(_CACHE.c.key == key)).rowcount > 0

        return self._write(work)

    def prune(self, *, limit: int = 5000) -> int:
        """Delete up to ``limit`` expired entries, the longest expired first.

        Returns:
            How many were deleted.
        """

        def work(conn: sa.Connection) -> int:
            oldest = (
                sa.select(_CACHE.c.key)
                .where(_CACHE.c.expires_at <= self._now())
                .order_by(_CACHE.c.expires_at, _CACHE.c.key)
                .limit(limit)
            )
            keys = conn.execute(oldest).scalars().all()
            if not keys:
                return 0
            return conn.execute(sa.delete(_CACHE).where(_CACHE.c.key.in_(keys))).rowcount

        return self._write(work)
