"""The store: one repository per aggregate, all on one database.

Plans and their steps, approvals, the hash-chained audit log, the Slack conversations (handled
event ids, plan messages, the outbox) and the incidents (changes, alerts, feedback) live in SQLite
(one process, the default) or PostgreSQL (several replicas; DESIGN.md, "Several replicas"). Each
repository opens its own connection and transaction per call, so one :class:`Store` serves any
number of threads.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Self

import sqlalchemy as sa

from bot.store import db
from bot.store.approvals import Approvals
from bot.store.audit import AuditLog
from bot.store.base import Repository, utc_now
from bot.store.conversations import Conversations
from bot.store.handled import Handled
from bot.store.incidents import Incidents
from bot.store.jobs import Jobs
from bot.store.llm_cache import LLMCache
from bot.store.plans import Plans
from bot.store.steps import Steps
from bot.store.threads import Threads

__all__ = ["Store"]


class Store(Repository):
    """The repositories on one engine: ``plans``, ``steps``, ``approvals``, ``audit``,
    ``conversations`` and ``incidents``.

    Args:
        engine: an engine, best made by :func:`bot.store.db.create_engine` (it sets SQLite up
            for concurrent use), on a database migrated to the newest schema.
        clock: returns the current time, timezone-aware.
    """

    def __init__(self, engine: sa.Engine, *, clock: Callable[[], datetime] = utc_now) -> None:
        super().__init__(engine, clock=clock)
        self.plans = Plans(engine, clock=clock)
        self.steps = Steps(engine, clock=clock)
        self.approvals = Approvals(engine, clock=clock)
        self.audit = AuditLog(engine, clock=clock)
        self.conversations = Conversations(engine, clock=clock)
        self.handled = Handled(engine, clock=clock)
        self.incidents = Incidents(engine, clock=clock)
        self.jobs = Jobs(engine, clock=clock)
        self.llm_cache = LLMCache(engine, clock=clock)
        self.threads = Threads(engine, clock=clock)

    @classmethod
    def from_url(
        cls, url: str, *, upgrade: bool = True, clock: Callable[[], datetime] = utc_now
    ) -> Self:
        """A store on a new engine for ``url``, migrated to the newest schema if ``upgrade``."""
        engine = db.create_engine(url)
        if upgrade:
            db.upgrade(engine)
        return cls(engine, clock=clock)
