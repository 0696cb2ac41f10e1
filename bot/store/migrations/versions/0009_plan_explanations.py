"""A plan's checked explanation: ``plans.explanation``, the model's explanation as the graph
checked it (or the graph's own when the guard rejected the model's), stored when it arrives,
after the plan was posted (issue 9 item 5). NULL for every plan drafted before, and for plans
no model explained.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Add the nullable ``explanation`` column (no plan has one yet)."""
    with op.batch_alter_table("plans") as batch:
        batch.add_column(sa.Column("explanation", sa.JSON(none_as_null=True), nullable=True))


def downgrade() -> None:
    """Drop ``explanation`` (the stored explanations are forgotten; the plans stay).

    In place where the database can (PostgreSQL; SQLite 3.35 and later): rebuilding ``plans``
    would have SQLite refuse to drop a table its steps and messages refer to.
    """
    dialect = op.get_bind().dialect
    in_place = dialect.name != "sqlite" or (dialect.server_version_info or (0,)) >= (3, 35)
    with op.batch_alter_table("plans", recreate="never" if in_place else "auto") as batch:
        batch.drop_column("explanation")
