"""Backout's store: the shared state of every replica (DESIGN.md, "Several replicas").

Plans and their steps, approvals, step executions and a hash-chained audit log live in SQLite (one
process, the default) or PostgreSQL (several replicas). :class:`Store` is the only way in; it is
thread-safe, and its compare-and-set :meth:`Store.transition` makes a step run exactly once however
many workers race for it. :func:`create_engine` and :func:`upgrade` set up a database and migrate
it with the alembic scripts shipped in ``migrations/``.
"""

from __future__ import annotations

from bot.store.audit import GENESIS_HASH, AuditCheck, AuditEntry
from bot.store.db import create_engine, current_revision, head_revision, upgrade
from bot.store.records import (
    TERMINAL,
    ExecutionRow,
    PlanNotFoundError,
    StepNotFoundError,
    StepRow,
    StepStatus,
    StoredPlan,
)
from bot.store.repository import Store

__all__ = [
    "GENESIS_HASH",
    "TERMINAL",
    "AuditCheck",
    "AuditEntry",
    "ExecutionRow",
    "PlanNotFoundError",
    "StepNotFoundError",
    "StepRow",
    "StepStatus",
    "Store",
    "StoredPlan",
    "create_engine",
    "current_revision",
    "head_revision",
    "upgrade",
]
