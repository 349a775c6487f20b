"""The test harness itself: each ``db_url`` case reaches the engine it names, migrated,
and the guard refuses databases that are not named for tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import assert_test_database
from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import make_url

from doudi.settings import Settings


def test_engine_is_the_one_the_case_names(engine: Engine, request: pytest.FixtureRequest) -> None:
    case = request.node.callspec.params["db_url"]
    with engine.connect() as conn:
        if case == "postgres":
            assert engine.dialect.name == "postgresql"
            assert "PostgreSQL" in conn.execute(text("SELECT version()")).scalar_one()
        else:
            assert engine.dialect.name == "sqlite"
            assert conn.execute(text("SELECT sqlite_version()")).scalar_one()


def test_database_is_fresh_and_named_for_tests(db_url: str, engine: Engine) -> None:
    assert "test" in Path(make_url(db_url).database or "").name
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            assert conn.execute(text("SELECT current_database()")).scalar_one().startswith("doudi_test_")


def test_schema_is_built_by_the_migrations(engine: Engine) -> None:
    assert "audit_log" in inspect(engine).get_table_names()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()


def test_settings_point_at_the_test_database(settings: Settings, db_url: str, tmp_path: Path) -> None:
    assert settings.sqlalchemy_url == db_url
    assert settings.data_dir == tmp_path / "data"


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://postgres@127.0.0.1:5432/doudi",
        "postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
        "sqlite:////srv/doudi/data/doudi.sqlite3",
        "sqlite:////srv/test/doudi.sqlite3",  # "test" in a parent directory does not count
        "sqlite://",
    ],
)
def test_guard_refuses_databases_not_named_for_tests(url: str) -> None:
    with pytest.raises(RuntimeError, match="must contain 'test'"):
        assert_test_database(url)


@pytest.mark.parametrize(
    "url",
    ["postgresql+psycopg://postgres@127.0.0.1:5432/doudi_test_1a2b", "sqlite:////tmp/x/doudi_test.sqlite3"],
)
def test_guard_accepts_test_databases(url: str) -> None:
    assert_test_database(url)
