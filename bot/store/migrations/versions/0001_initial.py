"""The initial schema: incidents, alerts, changes, plans, steps, approvals, executions, audit.

Revision ID: 0001
Revises:
Create Date: 2026-11-27 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

GENESIS_HASH = "0" * 64


def _at(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Create every table, and the audit head row at seq 0."""
    op.create_table(
        "incidents",
        sa.Column("id", sa.String(), primary_key=True),
        sa.Column("services", sa.JSON(), nullable=False),
        _at("started_at", nullable=True),
        sa.Column("channel", sa.String(), nullable=True),
        sa.Column("thread_ts", sa.String(), nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        _at("created_at"),
    )
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.String(), sa.ForeignKey("incidents.id"), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("fingerprint", sa.String(), nullable=False),
        sa.Column("service", sa.String(), nullable=True),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        _at("started_at"),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.UniqueConstraint(
            "incident_id", "source", "fingerprint", name="uq_alerts_incident_source_fingerprint"
        ),
    )
    op.create_table(
        "changes",
        sa.Column("id", sa.String(), primary_key=True),
        sa.Column("service", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        _at("at"),
        sa.Column("from_version", sa.String(), nullable=True),
        sa.Column("to_version", sa.String(), nullable=True),
        sa.Column("actor", sa.String(), nullable=True),
        sa.Column("source", sa.String(), nullable=True),
        sa.Column("revertible", sa.Boolean(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("flag", sa.String(), nullable=True),
        sa.Column("database", sa.String(), nullable=True),
    )
    op.create_index("ix_changes_service", "changes", ["service"])
    op.create_index("ix_changes_at", "changes", ["at"])
    op.create_table(
        "plans",
        sa.Column("id", sa.String(), primary_key=True),
        sa.Column("incident_id", sa.String(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("plan_json", sa.JSON(), nullable=False),
        sa.Column("mode", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        _at("created_at"),
        _at("updated_at"),
    )
    op.create_index("ix_plans_incident_id", "plans", ["incident_id"])
    op.create_index("ix_plans_created_at", "plans", ["created_at"])
    op.create_table(
        "steps",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("plan_id", sa.String(), sa.ForeignKey("plans.id"), nullable=False),
        sa.Column("step_id", sa.String(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("service", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(), nullable=True),
        _at("lease_until", nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        _at("started_at", nullable=True),
        _at("finished_at", nullable=True),
        _at("updated_at"),
        sa.UniqueConstraint("plan_id", "step_id", name="uq_steps_plan_step"),
    )
    op.create_index("ix_steps_status_lease_until", "steps", ["status", "lease_until"])
    op.create_table(
        "approvals",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("plan_id", sa.String(), sa.ForeignKey("plans.id"), nullable=False),
        sa.Column("step_id", sa.String(), nullable=False),
        sa.Column("user_id", sa.String(), nullable=False),
        sa.Column("decision", sa.String(), nullable=False),
        _at("at"),
        sa.UniqueConstraint("plan_id", "step_id", "user_id", name="uq_approvals_plan_step_user"),
    )
    op.create_table(
        "step_executions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("plan_id", sa.String(), sa.ForeignKey("plans.id"), nullable=False),
        sa.Column("step_id", sa.String(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("phase", sa.String(), nullable=False),
        sa.Column("outcome", sa.String(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        _at("started_at"),
        _at("finished_at"),
    )
    op.create_index("ix_step_executions_plan_step", "step_executions", ["plan_id", "step_id"])
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=False),
        _at("at"),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("subject", sa.String(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_audit_log_subject", "audit_log", ["subject"])
    audit_head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.bulk_insert(audit_head, [{"id": 1, "seq": 0, "hash": GENESIS_HASH}])


def downgrade() -> None:
    """Drop every table (and with them all data)."""
    for table in (
        "audit_head",
        "audit_log",
        "step_executions",
        "approvals",
        "steps",
        "plans",
        "changes",
        "alerts",
        "incidents",
    ):
        op.drop_table(table)
