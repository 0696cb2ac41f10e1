"""Backout's store: the shared state of every replica (DESIGN.md, "Several replicas").

Plans and their steps, approvals, step executions and a hash-chained audit log live in SQLite (one
process, the default) or PostgreSQL (several replicas). :class:`Store` is the way in; it is
thread-safe, and its compare-and-set :meth:`Store.transition` makes a step run exactly once however
many workers race for it. On the same engine, :class:`Conversations` keeps what the Slack handlers
share (handled event ids, plan messages, an outbox of Slack calls that must not be lost) and
:class:`Incidents` the changes, incidents, alerts and feedback on plans. :func:`create_engine` and
:func:`upgrade` set up a database and migrate it with the alembic scripts shipped in
``migrations/``.
"""

from __future__ import annotations

from bot.store.audit import GENESIS_HASH, AuditCheck, AuditEntry
from bot.store.conversations import Conversations, OutboxItem, OutboxStatus, PlanMessage
from bot.store.db import create_engine, current_revision, head_revision, upgrade
from bot.store.incidents import IncidentAlert, IncidentRow, Incidents
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
    "Conversations",
    "ExecutionRow",
    "IncidentAlert",
    "IncidentRow",
    "Incidents",
    "OutboxItem",
    "OutboxStatus",
    "PlanMessage",
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
