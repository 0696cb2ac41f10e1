"""The post-incident summary's narrative: ``plans.narrative``, the model's narrative of the
summary as the graph checked it (or the guard's reason for rejecting it), with the digest of the
facts it was written from, stored when it arrives after the summary was posted (issue 9 item
5). NULL for every plan summarised before, and for plans no model narrated.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Add the nullable ``narrative`` column (no plan has one yet)."""
    with op.batch_alter_table("plans") as batch:
        batch.add_column(sa.Column("narrative", sa.JSON(none_as_null=True), nullable=True))


def downgrade() -> None:
    """Drop ``narrative`` (the stored narratives are forgotten; the plans stay).

    In place where the database can (PostgreSQL; SQLite 3.35 and later), as in 0009.
    """
    dialect = op.get_bind().dialect
    in_place = dialect.name != "sqlite" or (dialect.server_version_info or (0,)) >= (3, 35)
    with op.batch_alter_table("plans", recreate="never" if in_place else "auto") as batch:
        batch.drop_column("narrative")
