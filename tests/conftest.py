"""Shared fixtures: a real, freshly migrated database per test, on SQLite and on PostgreSQL.

``db_url`` is parametrised, so a test that asks for it (or for ``engine`` or ``settings``)
runs twice: ``[sqlite]`` on a file in the test's tmp dir and ``[postgres]`` on a new
database ``doudi_test_<random>`` on the server named by ``DOUDI_TEST_POSTGRES_URL``
(``scripts/test.sh`` starts a throw-away one and sets it). Either way the schema is built
by the real Alembic migrations (``doudi.db.migrate.upgrade``), and the database is gone
after the test.

Select one engine with ``-k sqlite`` / ``-k postgres`` or ``-m "not postgres"``.

Without ``DOUDI_TEST_POSTGRES_URL`` the ``[postgres]`` cases are skipped on a developer's
machine, and fail under CI (``CI=true``), so that CI can never pass by skipping them.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from doudi.db.engine import make_engine
from doudi.db.migrate import upgrade
from doudi.settings import Settings, get_settings

POSTGRES_URL_ENV = "DOUDI_TEST_POSTGRES_URL"


def assert_test_database(url: str) -> None:
    """Refuse a database whose name does not say "test", before anything writes to it.

    For SQLite the name is the file name. This is the one guard between a mistyped
    environment variable and a migration or ``DROP DATABASE`` on real data.
    """
    database = make_url(url).database or ""
    if "test" not in Path(database).name:
        raise RuntimeError(
            f"refusing to use database {database!r} for tests: its name must contain 'test' "
            "(e.g. doudi_test_1a2b3c)"
        )


def running_in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test sees the developer's DOUDI_DATABASE_URL / DOUDI_DATA_DIR or a cached Settings."""
    monkeypatch.delenv("DOUDI_DATABASE_URL", raising=False)
    monkeypatch.delenv("DOUDI_DATA_DIR", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    """Admin URL of the PostgreSQL server for tests (its ``postgres`` database)."""
    url = os.environ.get(POSTGRES_URL_ENV)
    if not url:
        message = f"{POSTGRES_URL_ENV} is not set: run the tests with ./scripts/test.sh"
        if running_in_ci():
            pytest.fail(message + " (PostgreSQL tests must not be skipped in CI)", pytrace=False)
        pytest.skip(message)
    return url


def _admin_engine(admin_url: str) -> Engine:
    # CREATE/DROP DATABASE cannot run inside a transaction; NullPool leaves no idle session.
    return create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)


@contextmanager
def _postgres_database(admin_url: str) -> Iterator[str]:
    """A new, empty database on the server of ``admin_url``; dropped on exit."""
    name = f"doudi_test_{secrets.token_hex(6)}"
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    assert_test_database(url)
    admin = _admin_engine(admin_url)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield url
        finally:
            assert_test_database(url)
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of a fresh database for this test, migrated to head with the real migrations."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'doudi_test.sqlite3'}"
        assert_test_database(url)
        upgrade(url)
        yield url
    else:
        with _postgres_database(request.getfixturevalue("postgres_admin_url")) as url:
            upgrade(url)
            yield url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """The application's engine (``make_engine``) on the test database; disposed afterwards."""
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def settings(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """``get_settings()`` pointing at the test database and a tmp data directory."""
    monkeypatch.setenv("DOUDI_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DOUDI_DATABASE_URL", db_url)
    get_settings.cache_clear()
    return get_settings()


@pytest.fixture(scope="session")
def spark_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One local Spark session for every Spark test (starting one takes seconds). Engines made
    later in the session (``make_engine("spark")``) reuse it. A handful of rows: one shuffle
    partition and no adaptive re-planning halve the tests' time (the engine's defaults are for
    millions of rows)."""
    from doudi.monitor.engines.spark_engine import spark_session as start

    session = start(Settings(data_dir=tmp_path_factory.mktemp("spark")), "local[2]")
    session.conf.set("spark.sql.shuffle.partitions", "1")
    session.conf.set("spark.sql.adaptive.enabled", "false")
    yield session
    session.stop()
