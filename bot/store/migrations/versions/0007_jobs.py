"""Due work as rows: ``jobs``, each claimed once by whichever replica gets it first.

Every piece of due work (a reminder, an approval expiry, a deploy watch) is a row with its due
time, kind, idempotency key (``uq_jobs_key``), attempts and last error; a worker claims it with
a compare-and-set ``UPDATE … WHERE status = 'queued'`` and a lease (DESIGN.md, "Several
replicas"). ``ix_jobs_status_due_at`` serves the claims every replica makes every few seconds.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


def _at(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Create ``jobs`` and its index (empty: no work was stored as rows before)."""
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        _at("due_at"),
        sa.Column("claimed_by", sa.String(), nullable=True),
        _at("lease_until", nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        _at("created_at"),
        _at("updated_at"),
        _at("finished_at", nullable=True),
        sa.UniqueConstraint("key", name="uq_jobs_key"),
    )
    op.create_index("ix_jobs_status_due_at", "jobs", ["status", "due_at"])


def downgrade() -> None:
    """Drop ``jobs`` (the work it held, due or done, is forgotten)."""
    op.drop_index("ix_jobs_status_due_at", table_name="jobs")
    op.drop_table("jobs")
