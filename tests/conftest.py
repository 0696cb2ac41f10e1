"""Fixtures shared by the whole suite.

Databases: the store runs on SQLite (the default) and on PostgreSQL (several replicas), so its
tests run on both: ``store`` is an empty, migrated :class:`~bot.store.Store` on each backend in
turn, and ``database_url`` an empty, unmigrated database of each backend. ``sqlite_url`` and
``postgres_url`` give one backend's new database for tests that need a URL (a migration, another
process). PostgreSQL databases are created on the server named by ``BACKOUT_TEST_POSTGRES_URL``
and dropped afterwards. When that server is unreachable the PostgreSQL tests are skipped, except
under CI (``CI`` set), where they fail: the suite must not go green there without them.

Hygiene: every test starts without ``BACKOUT_*`` and ``SLACK_*`` variables (a developer's own
settings never leak in), and hypothesis has no per-example deadline (this suite runs on two
cores next to real servers; speed is measured by ``make bench``, never asserted).
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import settings
from sqlmodel import SQLModel

from bot.store import GENESIS_HASH, Store, create_engine, upgrade

# Read once at import: later fixtures may clean the environment for the tests themselves.
POSTGRES_ADMIN_URL = os.environ.get(
    "BACKOUT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
IN_CI = bool(os.environ.get("CI"))

BACKENDS = ("sqlite", "postgresql")

settings.register_profile("backout", deadline=None)
settings.load_profile("backout")


@pytest.fixture(autouse=True)
def _clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("BACKOUT_", "SLACK_", "OPENAI_")):
            monkeypatch.delenv(name)


# -- databases ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_admin_url() -> sa.URL:
    """The URL of the PostgreSQL maintenance database; skips (fails under CI) if unreachable."""
    url = sa.make_url(POSTGRES_ADMIN_URL)
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect():
            pass
    except sa.exc.OperationalError as exc:
        where = url.render_as_string(hide_password=True)
        message = f"PostgreSQL not reachable at {where} (set BACKOUT_TEST_POSTGRES_URL): {exc.orig}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    finally:
        engine.dispose()
    return url


@pytest.fixture
def postgres_url(postgres_admin_url: sa.URL) -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped after the test."""
    with _postgres_database(postgres_admin_url) as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """The URL of a new, empty SQLite database file."""
    return f"sqlite:///{tmp_path / 'backout.db'}"


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest) -> str:
    """The URL of a new, empty database on each backend in turn."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    url: str = request.getfixturevalue(fixture)
    return url


@pytest.fixture(scope="module")
def migrated_postgres_url(postgres_admin_url: sa.URL) -> Iterator[str]:
    """A PostgreSQL database migrated once per test module (``store`` empties it per test)."""
    with _postgres_database(postgres_admin_url) as url:
        engine = create_engine(url)
        try:
            upgrade(engine)
        finally:
            engine.dispose()
        yield url


@pytest.fixture(scope="session")
def migrated_sqlite_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file to copy (``store`` copies it rather than migrate per test)."""
    path = tmp_path_factory.mktemp("migrated") / "backout.db"
    engine = create_engine(f"sqlite:///{path}")
    try:
        upgrade(engine)
    finally:
        engine.dispose()  # the last connection to close folds the WAL back into the file
    return path


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    """An empty, migrated store on each backend in turn.

    SQLite gets a copy of a migrated file per test. PostgreSQL reuses the module's database,
    emptied first: creating and migrating a database per test would cost about a second each.
    """
    if request.param == "sqlite":
        path = request.getfixturevalue("tmp_path") / "backout.db"
        shutil.copyfile(request.getfixturevalue("migrated_sqlite_file"), path)
        opened = Store.from_url(f"sqlite:///{path}", upgrade=False)
    else:
        opened = Store.from_url(request.getfixturevalue("migrated_postgres_url"), upgrade=False)
        _empty(opened.engine)
    with opened:
        yield opened


@contextmanager
def _postgres_database(admin_url: sa.URL) -> Iterator[str]:
    name = f"backout_{secrets.token_hex(6)}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def _empty(engine: sa.Engine) -> None:
    """Delete every row of the store's tables and reset the audit chain to its start."""
    tables = [t for t in reversed(SQLModel.metadata.sorted_tables) if t.name != "audit_head"]
    with engine.begin() as conn:
        for table in tables:  # DELETE beats TRUNCATE on a handful of rows
            conn.execute(table.delete())
        conn.execute(
            sa.text("UPDATE audit_head SET seq = 0, hash = :genesis WHERE id = 1"),
            {"genesis": GENESIS_HASH},
        )
