"""The store's tables, declared with SQLModel: the shared state every Backout replica works from.

DESIGN.md ("Several replicas") puts every piece of shared state in the database, so these tables are
the contract between replicas: incidents, their alerts and the changes seen, plans and their steps
(``(plan_id, step_id)`` is the idempotency key a step is claimed by), approvals, step executions
and the hash-chained audit log with its head row. The repositories (one per aggregate)
talk to them through SQLAlchemy Core; the migration in ``migrations/versions`` creates exactly
this schema (a test compares the two). Timestamps are timezone-aware UTC on every backend.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlmodel import Field, SQLModel

__all__ = [
    "AlertRecord",
    "ApprovalRecord",
    "AuditHeadRecord",
    "AuditLogRecord",
    "ChangeRecord",
    "FeedbackRecord",
    "IncidentRecord",
    "OutboxRecord",
    "PlanMessageRecord",
    "PlanRecord",
    "PlanServiceRecord",
    "SlackEventRecord",
    "StepExecutionRecord",
    "StepRecord",
    "UtcDateTime",
]


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """A timestamp that goes in as timezone-aware and comes back as timezone-aware UTC.

    PostgreSQL keeps it as ``timestamptz``. SQLite has no timezone support and would hand back a
    naive value, so the value is stored as naive UTC there and the UTC zone is put back on read.
    A naive datetime is refused on the way in: it is always a bug to guess its zone.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: the store only takes timezone-aware times")
        value = value.astimezone(UTC)
        if dialect.name == "postgresql":
            return value
        return value.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _utc(*, nullable: bool = False, index: bool = False) -> Any:
    return Field(default=None, sa_type=UtcDateTime(), nullable=nullable, index=index)


def _json() -> Any:
    # none_as_null: a missing value is SQL NULL, not the JSON text "null".
    return Field(default=None, sa_type=sa.JSON(none_as_null=True), nullable=True)


class IncidentRecord(SQLModel, table=True):
    """An incident: its alerting services, and where it is discussed in Slack."""

    __tablename__ = "incidents"
    __table_args__ = (sa.Index("ix_incidents_status_channel", "status", "channel"),)

    id: str = Field(primary_key=True)
    services: list[str] = Field(sa_type=sa.JSON(), nullable=False)
    started_at: datetime | None = _utc(nullable=True)
    channel: str | None = None
    thread_ts: str | None = None
    status: str
    created_at: datetime = _utc()
    drafted_alerts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    """How many of its alerts the incident's newest plan was drafted from (others joined later)."""


class AlertRecord(SQLModel, table=True):
    """An alert grouped into an incident; one row per (incident, source, fingerprint)."""

    __tablename__ = "alerts"
    __table_args__ = (
        sa.UniqueConstraint(
            "incident_id", "source", "fingerprint", name="uq_alerts_incident_source_fingerprint"
        ),
        sa.Index("ix_alerts_incident_status", "incident_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    incident_id: str = Field(foreign_key="incidents.id")
    source: str
    fingerprint: str
    service: str | None = None
    name: str
    status: str
    started_at: datetime = _utc()
    payload: dict[str, Any] | None = _json()


class ChangeRecord(SQLModel, table=True):
    """A change made to a service (DESIGN.md "Change"), as recorded from deploy events."""

    __tablename__ = "changes"

    id: str = Field(primary_key=True)
    service: str = Field(index=True)
    kind: str
    at: datetime = _utc(index=True)
    from_version: str | None = None
    to_version: str | None = None
    actor: str | None = None
    source: str | None = None
    revertible: bool = True
    summary: str = Field(default="", sa_type=sa.Text())
    flag: str | None = None
    database: str | None = None
    security: bool = False
    labels: list[str] | None = _json()
    """The record's labels (``sha:<commit>``, ``security``, CVE ids…)."""
    retired_at: datetime | None = _utc(nullable=True)
    """When the change stopped being live (rolled back, or replaced by a later deploy)."""
    retired_why: str | None = Field(default=None, sa_type=sa.Text(), nullable=True)
    failed: bool = False
    """Its source reported the deploy as failed (or one of its sources did)."""
    reports: list[dict[str, Any]] | None = _json()
    """The same deploy as other sources reported it (their ids, times, actors, summaries)."""


class PlanRecord(SQLModel, table=True):
    """A stored plan: its ``backout.plan/v1`` JSON, its mode and its lifecycle status."""

    __tablename__ = "plans"

    id: str = Field(primary_key=True)
    incident_id: str = Field(index=True)
    version: int
    plan_json: dict[str, Any] = Field(sa_type=sa.JSON(), nullable=False)
    mode: str
    kind: str = Field(default="live", sa_column_kwargs={"server_default": "live"})
    status: str
    created_at: datetime = _utc(index=True)
    updated_at: datetime = _utc()
    explanation: dict[str, Any] | None = _json()
    """The model's checked explanation, once it arrived (:class:`bot.store.StoredExplanation`)."""
    narrative: dict[str, Any] | None = _json()
    """The summary's checked narrative, once it arrived (:class:`bot.store.StoredNarrative`)."""


class PlanServiceRecord(SQLModel, table=True):
    """A service a plan touches (its incident names it or a step acts on it), for history."""

    __tablename__ = "plan_services"

    plan_id: str = Field(primary_key=True, foreign_key="plans.id")
    service: str = Field(primary_key=True, index=True)


class StepRecord(SQLModel, table=True):
    """One step of a stored plan and its execution state.

    ``(plan_id, step_id)`` is unique: it is the idempotency key a worker claims the step by, with a
    compare-and-set ``UPDATE`` on ``status``. ``position`` keeps the plan's order.
    """

    __tablename__ = "steps"
    __table_args__ = (
        sa.UniqueConstraint("plan_id", "step_id", name="uq_steps_plan_step"),
        sa.Index("ix_steps_status_lease_until", "status", "lease_until"),
    )

    id: int | None = Field(default=None, primary_key=True)
    plan_id: str = Field(foreign_key="plans.id")
    step_id: str
    position: int
    stage: str
    action: str
    service: str
    status: str
    attempts: int = 0
    claimed_by: str | None = None
    lease_until: datetime | None = _utc(nullable=True)
    reason: str = Field(default="", sa_type=sa.Text())
    result: dict[str, Any] | None = _json()
    started_at: datetime | None = _utc(nullable=True)
    finished_at: datetime | None = _utc(nullable=True)
    updated_at: datetime = _utc()


class ApprovalRecord(SQLModel, table=True):
    """One user's decision on one step; a user decides a step once (the unique key)."""

    __tablename__ = "approvals"
    __table_args__ = (
        sa.UniqueConstraint("plan_id", "step_id", "user_id", name="uq_approvals_plan_step_user"),
    )

    id: int | None = Field(default=None, primary_key=True)
    plan_id: str = Field(foreign_key="plans.id")
    step_id: str
    user_id: str
    decision: str
    at: datetime = _utc()


class StepExecutionRecord(SQLModel, table=True):
    """One phase (preview, execute, verify, …) of one attempt at a step, with its outcome."""

    __tablename__ = "step_executions"
    __table_args__ = (sa.Index("ix_step_executions_plan_step", "plan_id", "step_id"),)

    id: int | None = Field(default=None, primary_key=True)
    plan_id: str = Field(foreign_key="plans.id")
    step_id: str
    attempt: int
    phase: str
    outcome: str
    detail: str = Field(default="", sa_type=sa.Text())
    started_at: datetime = _utc()
    finished_at: datetime = _utc()


class AuditLogRecord(SQLModel, table=True):
    """One entry of the append-only, hash-chained audit log (see :mod:`bot.store.audit`)."""

    __tablename__ = "audit_log"

    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    at: datetime = _utc()
    actor: str
    action: str
    subject: str = Field(index=True)
    details: dict[str, Any] = Field(sa_type=sa.JSON(), nullable=False)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class AuditHeadRecord(SQLModel, table=True):
    """The single row (``id = 1``) naming the last audit entry; appends compare-and-set it."""

    __tablename__ = "audit_head"

    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    seq: int
    hash: str = Field(max_length=64)


class PlanMessageRecord(SQLModel, table=True):
    """The Slack message a plan is posted as; ``(channel, ts)`` finds the plan behind a click."""

    __tablename__ = "plan_messages"
    __table_args__ = (sa.UniqueConstraint("channel", "ts", name="uq_plan_messages_channel_ts"),)

    plan_id: str = Field(primary_key=True, foreign_key="plans.id")
    channel: str
    ts: str
    thread_ts: str | None = None
    requester: str | None = None
    created_at: datetime = _utc()
    summary_ts: str | None = None
    """The post-incident summary's message in the plan's thread, once posted (updated in place)."""


class SlackEventRecord(SQLModel, table=True):
    """A Slack event id already handled: Slack retries a delivery, replicas see it once."""

    __tablename__ = "slack_events"

    event_id: str = Field(primary_key=True)
    received_at: datetime = _utc(index=True)


class OutboxRecord(SQLModel, table=True):
    """A Slack call that must not be lost, sent at least once by whichever replica claims it.

    ``key`` is unique: enqueueing the same call twice stores it once. A worker claims a due row
    with a compare-and-set ``UPDATE`` on ``status`` (``queued`` → ``sending``) and holds it until
    ``lease_until``; a row whose lease ran out can be claimed again.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        sa.UniqueConstraint("key", name="uq_outbox_key"),
        sa.Index("ix_outbox_status_next_at", "status", "next_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str
    method: str
    args: dict[str, Any] = Field(sa_type=sa.JSON(), nullable=False)
    status: str
    attempts: int = 0
    next_at: datetime = _utc()
    claimed_by: str | None = None
    lease_until: datetime | None = _utc(nullable=True)
    last_error: str | None = Field(default=None, sa_type=sa.Text(), nullable=True)
    result: dict[str, Any] | None = _json()
    created_at: datetime = _utc()
    sent_at: datetime | None = _utc(nullable=True)


class FeedbackRecord(SQLModel, table=True):
    """A user's verdict on a plan's top suspect, ``right`` or ``wrong``: one per user and plan."""

    __tablename__ = "feedback"
    __table_args__ = (sa.UniqueConstraint("plan_id", "user_id", name="uq_feedback_plan_user"),)

    id: int | None = Field(default=None, primary_key=True)
    plan_id: str = Field(foreign_key="plans.id")
    user_id: str
    verdict: str
    at: datetime = _utc()


class JobRecord(SQLModel, table=True):
    """A piece of due work (a reminder, an expiry, a deploy watch), run once by whichever replica
    claims it (see :mod:`bot.store.jobs`).

    ``key`` is unique: scheduling the same work twice stores it once. A worker claims a due row
    with a compare-and-set ``UPDATE`` on ``status`` (``queued`` → ``running``) and holds it until
    ``lease_until``; a row whose lease ran out can be claimed again. ``attempts`` counts claims.
    """

    __tablename__ = "jobs"
    __table_args__ = (
        sa.UniqueConstraint("key", name="uq_jobs_key"),
        sa.Index("ix_jobs_status_due_at", "status", "due_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str
    kind: str
    payload: dict[str, Any] = Field(sa_type=sa.JSON(), nullable=False)
    status: str
    attempts: int = 0
    max_attempts: int
    due_at: datetime = _utc()
    claimed_by: str | None = None
    lease_until: datetime | None = _utc(nullable=True)
    last_error: str | None = Field(default=None, sa_type=sa.Text(), nullable=True)
    created_at: datetime = _utc()
    updated_at: datetime = _utc()
    finished_at: datetime | None = _utc(nullable=True)


class LLMCacheRecord(SQLModel, table=True):
    """A cached model answer (see :mod:`bot.store.llm_cache`): the SHA-256 ``key`` of what decided
    it, the prompt's key and the model (to read the table by), the outcome, the validated answer
    as JSON (``ok`` outcomes only) or why there is none, and when it stops being served."""

    __tablename__ = "llm_cache"
    __table_args__ = (sa.Index("ix_llm_cache_expires_at", "expires_at"),)

    key: str = Field(primary_key=True)
    prompt: str
    model: str
    outcome: str
    value: str | None = Field(default=None, sa_type=sa.Text(), nullable=True)
    detail: str = Field(sa_type=sa.Text(), nullable=False)
    created_at: datetime = _utc()
    expires_at: datetime = _utc()


class ThreadTurnRecord(SQLModel, table=True):
    """One question asked of the bot in an incident thread and the answer posted (see
    :mod:`bot.store.threads`): the thread's memory, capped per thread."""

    __tablename__ = "thread_turns"
    __table_args__ = (sa.Index("ix_thread_turns_thread", "channel", "thread_ts", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str
    thread_ts: str
    plan_id: str
    asked_by: str
    question: str = Field(sa_type=sa.Text(), nullable=False)
    answer: str = Field(sa_type=sa.Text(), nullable=False)
    source: str
    outcome: str
    model: str | None = None
    at: datetime = _utc()
