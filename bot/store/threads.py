"""The memory of incident threads: each question asked of the bot there and the answer it posted
(``thread_turns``), so the next question in the same thread is answered knowing the earlier ones.

The memory is capped: :meth:`Threads.record` keeps the newest :data:`KEEP` turns of a thread and
deletes older ones in the same transaction, and :meth:`Threads.recent` reads the newest few,
oldest first. Questions arrive already redacted (no secret is stored); the text stays untrusted:
whoever shows it escapes it, whoever sends it to a model fences it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from bot.store.base import Repository
from bot.store.tables import ThreadTurnRecord

__all__ = ["KEEP", "ThreadTurn", "Threads"]

# sqlmodel sets ``__table__`` when it creates a table class; mypy cannot see it.
_TURNS: sa.Table = ThreadTurnRecord.__table__  # type: ignore[attr-defined]

KEEP = 20
"""Turns kept per thread; older ones are deleted as new ones are recorded."""


@dataclass(frozen=True, kw_only=True)
class ThreadTurn:
    """One question and its answer in a thread."""

    plan_id: str
    asked_by: str
    question: str
    answer: str
    source: str
    outcome: str
    model: str | None
    at: datetime


class Threads(Repository):
    """Questions and answers by thread (``channel``, ``thread_ts``)."""

    def record(self, channel: str, thread_ts: str, turn: ThreadTurn) -> None:
        """Add ``turn`` to the thread and forget its turns beyond the newest :data:`KEEP`."""

        def work(conn: sa.Connection) -> None:
            conn.execute(
                sa.insert(_TURNS).values(
                    channel=channel,
                    thread_ts=thread_ts,
                    plan_id=turn.plan_id,
                    asked_by=turn.asked_by,
                    question=turn.question,
                    answer=turn.answer,
                    source=turn.source,
                    outcome=turn.outcome,
                    model=turn.model,
                    at=turn.at,
                )
            )
            kept = (
                sa.select(_TURNS.c.id)
                .where(_TURNS.c.channel == channel, _TURNS.c.thread_ts == thread_ts)
                .order_by(_TURNS.c.id.desc())
                .limit(KEEP)
            )
            conn.execute(
                sa.delete(_TURNS).where(
                    _TURNS.c.channel == channel,
                    _TURNS.c.thread_ts == thread_ts,
                    _TURNS.c.id.not_in(kept.scalar_subquery()),
                )
            )

        self._write(work)

    def recent(self, channel: str, thread_ts: str, *, limit: int = 4) -> list[ThreadTurn]:
        """The thread's newest ``limit`` turns, oldest first."""
        query = (
            sa.select(_TURNS)
            .where(_TURNS.c.channel == channel, _TURNS.c.thread_ts == thread_ts)
            .order_by(_TURNS.c.id.desc())
            .limit(limit)
        )
        with self._reading() as conn:
            rows = conn.execute(query).all()
        return [
            ThreadTurn(
                plan_id=row.plan_id,
                asked_by=row.asked_by,
                question=row.question,
                answer=row.answer,
                source=row.source,
                outcome=row.outcome,
                model=row.model,
                at=row.at,
            )
            for row in reversed(rows)
        ]
