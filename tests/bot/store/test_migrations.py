"""The schema: migrations build it from nothing on both backends and match the table models."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

from bot.store import GENESIS_HASH, Store, create_engine, current_revision, head_revision, upgrade
from tests.support.store import TABLES, make_plan, race


def test_upgrade_builds_the_schema_from_an_empty_database(database_url):
    """An empty database ends at the head revision with every table and the audit head at 0."""
    engine = create_engine(database_url)
    try:
        assert current_revision(engine) is None
        upgrade(engine)
        assert current_revision(engine) == head_revision()
        assert set(sa.inspect(engine).get_table_names()) == TABLES
        with engine.connect() as conn:
            head = conn.execute(sa.text("SELECT id, seq, hash FROM audit_head")).all()
        assert [tuple(row) for row in head] == [(1, 0, GENESIS_HASH)]
    finally:
        engine.dispose()


def test_upgrading_twice_changes_nothing(database_url):
    """A second upgrade keeps the revision and the data, and the chain still verifies."""
    with Store.from_url(database_url) as store:
        plan_id = store.plans.save(make_plan())
        upgrade(store.engine)
        assert current_revision(store.engine) == head_revision()
        assert store.plans.get(plan_id).plan == make_plan()
        assert store.audit.verify().entries == 1
    with Store.from_url(database_url, upgrade=True) as again:
        assert [plan.id for plan in again.plans.recent()] == [plan_id]


def test_the_migrated_schema_matches_the_table_models(database_url):
    """Autogenerate finds no difference between the migrated database and the SQLModel tables."""
    with Store.from_url(database_url) as store, store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, SQLModel.metadata) == []


def test_from_url_without_upgrade_leaves_the_database_alone(database_url):
    """``upgrade=False`` does not migrate: the database stays empty."""
    with Store.from_url(database_url, upgrade=False) as store:
        assert current_revision(store.engine) is None
        assert sa.inspect(store.engine).get_table_names() == []


def test_sqlite_files_are_shared_in_wal_mode(sqlite_url):
    """A SQLite file is switched to write-ahead logging so readers never block the writer."""
    with Store.from_url(sqlite_url) as store, store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1


def test_replicas_starting_together_migrate_once(database_url):
    """Four engines upgrading one empty database at once all end at head, with one audit head."""
    engines = [create_engine(database_url) for _ in range(4)]
    try:
        race(4, lambda index: upgrade(engines[index]))
        assert {current_revision(engine) for engine in engines} == {head_revision()}
        with engines[0].connect() as conn:
            heads = conn.execute(sa.text("SELECT count(*) FROM audit_head")).scalar_one()
            versions = conn.execute(sa.text("SELECT count(*) FROM alembic_version")).scalar_one()
        assert (heads, versions) == (1, 1)
    finally:
        for engine in engines:
            engine.dispose()
