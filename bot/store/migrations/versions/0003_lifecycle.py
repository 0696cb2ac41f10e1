"""Plan kinds and plan services: a standby plan is a kind, not a mode; history by one query.

``plans.kind`` is ``live`` or ``standby`` (plans stored with mode ``standby`` before this revision
become kind ``standby`` in mode ``approve``); ``plan_services`` lists the services each plan
touches, filled for the plans already stored.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 00:00:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Add ``plans.kind`` and ``plan_services``, and fill both for the plans already stored."""
    with op.batch_alter_table("plans") as batch:
        batch.add_column(sa.Column("kind", sa.String(), nullable=False, server_default="live"))
    plans = sa.table(
        "plans",
        sa.column("id", sa.String()),
        sa.column("mode", sa.String()),
        sa.column("kind", sa.String()),
        sa.column("plan_json", sa.JSON()),
    )
    op.execute(
        plans.update().where(plans.c.mode == "standby").values(kind="standby", mode="approve")
    )
    services = op.create_table(
        "plan_services",
        sa.Column("plan_id", sa.String(), sa.ForeignKey("plans.id"), primary_key=True),
        sa.Column("service", sa.String(), primary_key=True),
    )
    op.create_index("ix_plan_services_service", "plan_services", ["service"])
    rows = op.get_bind().execute(sa.select(plans.c.id, plans.c.plan_json)).all()
    touched = [
        {"plan_id": row.id, "service": service}
        for row in rows
        for service in sorted(services_of(row.plan_json))
    ]
    if touched:
        op.bulk_insert(services, touched)


def downgrade() -> None:
    """Drop ``plan_services`` and ``plans.kind`` (standby plans get mode ``standby`` back)."""
    op.drop_index("ix_plan_services_service", table_name="plan_services")
    op.drop_table("plan_services")
    op.execute("UPDATE plans SET mode = 'standby' WHERE kind = 'standby'")
    with op.batch_alter_table("plans") as batch:
        batch.drop_column("kind")


def services_of(plan_json: dict[str, Any]) -> set[str]:
    """The services a stored plan touches: those its incident names and those its steps act on."""
    incident = plan_json.get("incident") or {}
    found = set(incident.get("services") or ())
    found.update(step["service"] for step in plan_json.get("steps") or ())
    return found
