"""Changes that are no longer live, their labels kept, and the summary message of a plan.

``changes.retired_at`` / ``changes.retired_why`` record when and why a change stopped being live
(its rollback completed, or a later deploy of the service replaced its version): the planner no
longer suspects it. ``changes.security`` and ``changes.labels`` keep what the change record said
(a commit ``sha:…``, a ``security`` label, CVE ids), which was dropped before.
``plan_messages.summary_ts`` is the post-incident summary's message, updated in place when
anything changes after it was posted.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 07:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Add the nullable columns; every change stored so far stays live."""
    with op.batch_alter_table("changes") as batch:
        batch.add_column(
            sa.Column("security", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("labels", sa.JSON(none_as_null=True), nullable=True))
        batch.add_column(sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("retired_why", sa.Text(), nullable=True))
    with op.batch_alter_table("plan_messages") as batch:
        batch.add_column(sa.Column("summary_ts", sa.String(), nullable=True))


def downgrade() -> None:
    """Drop the columns (which changes were retired, and where summaries are, is forgotten)."""
    with op.batch_alter_table("plan_messages") as batch:
        batch.drop_column("summary_ts")
    with op.batch_alter_table("changes") as batch:
        batch.drop_column("retired_why")
        batch.drop_column("retired_at")
        batch.drop_column("labels")
        batch.drop_column("security")
