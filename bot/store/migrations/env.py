"""Alembic's entry point for the store's migrations (run by :func:`bot.store.db.upgrade`).

:func:`bot.store.db.upgrade` hands over an open connection in ``config.attributes["connection"]``;
without one (the ``alembic`` command line with ``-x url=…`` or ``sqlalchemy.url`` set) an engine is
made with :func:`bot.store.db.create_engine`. All migrations run in one transaction. On PostgreSQL
that transaction first takes an advisory lock, so replicas that start together migrate one after
the other and the later ones find nothing left to do.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context
from sqlmodel import SQLModel

import bot.store.tables  # noqa: F401  (registers the tables on SQLModel.metadata)
from bot.store.db import create_engine

_LOCK_ID = 0x6261636B6F7574  # "backout": the advisory lock key for migrations


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        transactional_ddl=True,
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_LOCK_ID)))
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations on the given connection, or on a new engine for the configured URL."""
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or context.config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise RuntimeError("no database: pass -x url=… or set sqlalchemy.url")
    engine = create_engine(url)
    try:
        with engine.connect() as new_connection:
            _run(new_connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline (--sql) migrations are not supported; run them against a database")
run_migrations_online()
