"""Incidents that group many alerts: how many of them the plan was drafted from, and an index.

``incidents.drafted_alerts`` is how many of the incident's alerts its newest plan was drafted from;
alerts that joined after it are the difference (the plan message says so, and a plan nothing of
which has started is redrafted from all of them). Incidents stored before this revision count
every alert they hold as drafted. ``ix_incidents_status_channel`` serves the lookups every alert
makes (the open incidents of its channel); ``ix_alerts_incident_status`` counts an incident's
firing alerts without reading thousands of rows.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Add the column, counting the alerts each incident already holds, and the index."""
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(
            sa.Column("drafted_alerts", sa.Integer(), nullable=False, server_default="0")
        )
    incidents = sa.table("incidents", sa.column("id", sa.String()), sa.column("drafted_alerts"))
    alerts = sa.table("alerts", sa.column("incident_id", sa.String()))
    held = (
        sa.select(sa.func.count())
        .select_from(alerts)
        .where(alerts.c.incident_id == incidents.c.id)
        .scalar_subquery()
    )
    op.execute(incidents.update().values(drafted_alerts=held))
    op.create_index("ix_incidents_status_channel", "incidents", ["status", "channel"])
    op.create_index("ix_alerts_incident_status", "alerts", ["incident_id", "status"])


def downgrade() -> None:
    """Drop the indexes and the column (how many alerts joined after each plan is forgotten).

    The column is dropped in place where the database can (PostgreSQL; SQLite 3.35 and later):
    rebuilding ``incidents`` would have SQLite refuse to drop a table its alerts refer to.
    """
    op.drop_index("ix_alerts_incident_status", table_name="alerts")
    op.drop_index("ix_incidents_status_channel", table_name="incidents")
    dialect = op.get_bind().dialect
    in_place = dialect.name != "sqlite" or (dialect.server_version_info or (0,)) >= (3, 35)
    with op.batch_alter_table("incidents", recreate="never" if in_place else "auto") as batch:
        batch.drop_column("drafted_alerts")
