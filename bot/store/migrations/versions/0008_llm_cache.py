"""Model answers cached as rows: ``llm_cache``, one per cache key, each with its expiry.

The key is a SHA-256 over what decides a model's answer (the prompt id, version and template,
the schema, the model, the endpoint host, the temperature and the redacted input; see
:mod:`bot.core.llm_cache`); the row keeps the outcome and, for an ``ok`` one, the validated
answer as JSON. ``ix_llm_cache_expires_at`` serves the lookups' expiry check and the hourly prune.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Create ``llm_cache`` and its expiry index (empty: nothing was cached before)."""
    op.create_table(
        "llm_cache",
        sa.Column("key", sa.String(), primary_key=True),
        sa.Column("prompt", sa.String(), nullable=False),
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("outcome", sa.String(), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_llm_cache_expires_at", "llm_cache", ["expires_at"])


def downgrade() -> None:
    """Drop ``llm_cache`` (cached answers are only a saving; nothing is lost)."""
    op.drop_index("ix_llm_cache_expires_at", table_name="llm_cache")
    op.drop_table("llm_cache")
