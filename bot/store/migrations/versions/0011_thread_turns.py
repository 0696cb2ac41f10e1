"""Questions in incident threads: ``thread_turns``, the questions asked of the bot and the answers
it posted, the memory the next question in the same thread is answered with (capped per thread,
see :mod:`bot.store.threads`). ``ix_thread_turns_thread`` reads one thread's newest turns.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Create ``thread_turns`` and its index (empty: no question was answered before)."""
    op.create_table(
        "thread_turns",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("thread_ts", sa.String(), nullable=False),
        sa.Column("plan_id", sa.String(), nullable=False),
        sa.Column("asked_by", sa.String(), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("outcome", sa.String(), nullable=False),
        sa.Column("model", sa.String(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_thread_turns_thread", "thread_turns", ["channel", "thread_ts", "id"])


def downgrade() -> None:
    """Drop ``thread_turns`` (the threads' memory of earlier questions is forgotten)."""
    op.drop_index("ix_thread_turns_thread", table_name="thread_turns")
    op.drop_table("thread_turns")
