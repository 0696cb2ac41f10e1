"""Database engines and schema migrations for the store.

One SQLite file serves a single Backout process by default; several replicas share one PostgreSQL
(DESIGN.md, "Several replicas"). :func:`create_engine` makes either behave for that: SQLite gets
``check_same_thread=False``, WAL journaling, a busy timeout, foreign keys, and transactions that
begin with ``BEGIN IMMEDIATE`` (so a writer takes the lock before it reads, and a busy database
makes it wait rather than fail), while reads begin ``DEFERRED`` and never block in WAL mode.
:func:`upgrade` runs the alembic migrations in ``migrations/``, configured in code (there is no
``alembic.ini``); on PostgreSQL it holds an advisory lock, so replicas that start together
migrate once.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.pool import StaticPool

__all__ = [
    "READ_ONLY",
    "alembic_config",
    "create_engine",
    "current_revision",
    "head_revision",
    "upgrade",
]

log = logging.getLogger(__name__)

READ_ONLY = "backout_read_only"
"""Execution option: on SQLite, a connection with it set begins ``DEFERRED`` (a reader)."""

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

_ALEMBIC = threading.Lock()
"""alembic's ``context`` and ``op`` are module-global: one migration at a time per process."""


def create_engine(url: str | sa.URL, *, sqlite_busy_timeout: float = 30.0) -> sa.Engine:
    """An engine for ``url``, set up so threads, processes and replicas can share the database.

    A plain ``postgresql://`` URL uses psycopg 3. ``sqlite://`` (in memory) is one connection
    shared by everything in the process, so it suits single-threaded tests only; use a file for
    anything concurrent.

    Args:
        url: an SQLAlchemy database URL.
        sqlite_busy_timeout: seconds an SQLite writer waits for the lock before giving up.

    Returns:
        A new engine; dispose of it when done.
    """
    parsed = sa.make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() != "sqlite":
        return sa.create_engine(parsed, pool_pre_ping=True)
    in_memory = parsed.database in (None, "", ":memory:") or parsed.query.get("mode") == "memory"
    options: dict[str, Any] = {
        "connect_args": {"check_same_thread": False, "timeout": sqlite_busy_timeout}
    }
    if in_memory:
        options["poolclass"] = StaticPool
    engine = sa.create_engine(parsed, **options)
    _tune_sqlite(engine, wal=not in_memory, busy_timeout=sqlite_busy_timeout)
    return engine


def _tune_sqlite(engine: sa.Engine, *, wal: bool, busy_timeout: float) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take BEGIN away from the sqlite3 module (it skips it before SELECT and DDL); the
        # "begin" hook below emits our own. This is SQLAlchemy's documented recipe.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
            if wal:
                _switch_to_wal(cursor, patience=busy_timeout)
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        mode = "DEFERRED" if conn.get_execution_options().get(READ_ONLY) else "IMMEDIATE"
        conn.exec_driver_sql(f"BEGIN {mode}")


def _switch_to_wal(cursor: Any, *, patience: float) -> None:
    """Put the database in WAL mode. Switching takes an exclusive lock and SQLite does not wait
    on the busy timeout for it, so processes opening a new database together retry here."""
    deadline = time.monotonic() + patience
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def alembic_config() -> Config:
    """The alembic configuration of the store, built in code from the packaged scripts."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    return config


def upgrade(engine: sa.Engine, *, revision: str = "head") -> None:
    """Migrate the database behind ``engine`` to ``revision``; a no-op when already there.

    Safe to call from several threads, processes or replicas at once: they migrate one after
    the other, and the later ones find nothing left to do.
    """
    config = alembic_config()
    with _ALEMBIC, engine.connect() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    log.info("database schema at %s", current_revision(engine))


def current_revision(engine: sa.Engine) -> str | None:
    """The migration the database is at, or ``None`` for an empty database."""
    with engine.connect() as connection:
        connection.execution_options(**{READ_ONLY: True})
        context = MigrationContext.configure(connection)
        revision = context.get_current_revision()
        connection.rollback()
    return revision


def head_revision() -> str:
    """The newest migration shipped with this version of Backout."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no alembic migrations found in {MIGRATIONS}")
    return head
