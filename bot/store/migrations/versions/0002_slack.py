"""Slack state: plan messages, handled event ids, the outbox of Slack calls, and feedback.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def _at(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Create ``plan_messages``, ``slack_events``, ``outbox`` and ``feedback``."""
    op.create_table(
        "plan_messages",
        sa.Column("plan_id", sa.String(), sa.ForeignKey("plans.id"), primary_key=True),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("ts", sa.String(), nullable=False),
        sa.Column("thread_ts", sa.String(), nullable=True),
        sa.Column("requester", sa.String(), nullable=True),
        _at("created_at"),
        sa.UniqueConstraint("channel", "ts", name="uq_plan_messages_channel_ts"),
    )
    op.create_table(
        "slack_events",
        sa.Column("event_id", sa.String(), primary_key=True),
        _at("received_at"),
    )
    op.create_index("ix_slack_events_received_at", "slack_events", ["received_at"])
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("method", sa.String(), nullable=False),
        sa.Column("args", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _at("next_at"),
        sa.Column("claimed_by", sa.String(), nullable=True),
        _at("lease_until", nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        _at("created_at"),
        _at("sent_at", nullable=True),
        sa.UniqueConstraint("key", name="uq_outbox_key"),
    )
    op.create_index("ix_outbox_status_next_at", "outbox", ["status", "next_at"])
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("plan_id", sa.String(), sa.ForeignKey("plans.id"), nullable=False),
        sa.Column("user_id", sa.String(), nullable=False),
        sa.Column("verdict", sa.String(), nullable=False),
        _at("at"),
        sa.UniqueConstraint("plan_id", "user_id", name="uq_feedback_plan_user"),
    )


def downgrade() -> None:
    """Drop the four tables (and with them their data); the 0001 tables are left as they are."""
    op.drop_index("ix_outbox_status_next_at", table_name="outbox")
    op.drop_index("ix_slack_events_received_at", table_name="slack_events")
    for table in ("feedback", "outbox", "slack_events", "plan_messages"):
        op.drop_table(table)
