"""Failed deploys, and one change for a deploy several sources report.

``changes.failed`` records a deploy its source reported as failed (GitHub ``failure`` or
``error``, an Argo CD sync that failed): plans naming it say to check what actually runs.
``changes.reports`` keeps the reports of the same deploy by other sources (CI and Argo CD both
announcing ``checkoutservice`` ``v1.8.2``): the change keeps the first id, the others are listed
there instead of becoming changes of their own.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Add the columns; every change stored so far is a deploy that did not fail, told once."""
    with op.batch_alter_table("changes") as batch:
        batch.add_column(
            sa.Column("failed", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("reports", sa.JSON(none_as_null=True), nullable=True))


def downgrade() -> None:
    """Drop the columns (which deploys failed, and what other sources said, is forgotten)."""
    with op.batch_alter_table("changes") as batch:
        batch.drop_column("reports")
        batch.drop_column("failed")
