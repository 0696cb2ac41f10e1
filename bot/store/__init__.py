"""Backout's store: the shared state of every replica (DESIGN.md, "Several replicas").

:class:`Store` holds one repository per aggregate on one database: :class:`Plans` (plans and
their life cycle), :class:`Steps` (claims, leases, recorded phases), :class:`Approvals`,
:class:`AuditLog` (hash-chained), :class:`Conversations` (handled Slack event ids, plan
messages, an outbox of Slack calls that must not be lost) and :class:`Incidents` (changes,
incidents, alerts, feedback). SQLite for one process, PostgreSQL for several replicas; every
repository is thread-safe, and its compare-and-set writes make a step run exactly once however
many workers race for it. :func:`create_engine` and :func:`upgrade` set up a database and migrate
it with the alembic scripts shipped in ``migrations/``.
"""

from __future__ import annotations

from bot.store.approvals import Approvals
from bot.store.audit import GENESIS_HASH, AuditCheck, AuditEntry, AuditLog
from bot.store.conversations import Conversations, OutboxItem, OutboxStatus, PlanMessage
from bot.store.db import create_engine, current_revision, head_revision, upgrade
from bot.store.handled import Handled
from bot.store.incidents import IncidentAlert, IncidentRow, Incidents
from bot.store.jobs import Job, Jobs, JobStatus
from bot.store.llm_cache import CachedEntry, LLMCache
from bot.store.plans import Plans, StoredNarrative
from bot.store.records import (
    ExecutionRow,
    PlanNotFoundError,
    StepNotFoundError,
    StepRow,
    StoredExplanation,
    StoredPlan,
)
from bot.store.steps import Steps
from bot.store.store import Store
from bot.store.threads import Threads, ThreadTurn

__all__ = [
    "GENESIS_HASH",
    "Approvals",
    "AuditCheck",
    "AuditEntry",
    "AuditLog",
    "CachedEntry",
    "Conversations",
    "ExecutionRow",
    "Handled",
    "IncidentAlert",
    "IncidentRow",
    "Incidents",
    "Job",
    "JobStatus",
    "Jobs",
    "LLMCache",
    "OutboxItem",
    "OutboxStatus",
    "PlanMessage",
    "PlanNotFoundError",
    "Plans",
    "StepNotFoundError",
    "StepRow",
    "Steps",
    "Store",
    "StoredExplanation",
    "StoredNarrative",
    "StoredPlan",
    "ThreadTurn",
    "Threads",
    "create_engine",
    "current_revision",
    "head_revision",
    "upgrade",
]
