"""The engine's pool: connections for reads outside a transaction, and the idle-time ping."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.pool import NullPool

from doudi.db import engine as engine_module
from doudi.db.engine import reading


def _autocommit(conn: Connection) -> bool:
    """Whether the driver's connection is in autocommit mode (psycopg and sqlite3)."""
    dbapi = conn.connection.dbapi_connection
    if dbapi is None:
        raise AssertionError("no driver connection")
    if hasattr(dbapi, "autocommit") and isinstance(dbapi.autocommit, bool) and dbapi.autocommit:
        return True
    return getattr(dbapi, "isolation_level", "") is None  # sqlite3: None is autocommit


def _scratch(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS pool_scratch (v INTEGER)"))
        conn.execute(text("DELETE FROM pool_scratch"))


def test_a_reading_connection_is_outside_any_transaction(engine: Engine) -> None:
    with reading(engine) as conn:
        assert conn.execute(text("SELECT 1")).scalar() == 1
        assert _autocommit(conn)


def test_a_connection_back_from_reading_is_transactional_again(engine: Engine) -> None:
    """The pool hands the same connection to a writer afterwards: its writes must still roll
    back together on an error (autocommit left on would keep the first INSERT)."""
    _scratch(engine)
    engine.pool.dispose()
    with reading(engine) as conn:
        conn.execute(text("SELECT count(*) FROM pool_scratch")).scalar()
    with pytest.raises(RuntimeError), engine.begin() as conn:
        assert not _autocommit(conn)
        conn.execute(text("INSERT INTO pool_scratch (v) VALUES (1)"))
        raise RuntimeError("abort the transaction")
    with reading(engine) as conn:
        assert conn.execute(text("SELECT count(*) FROM pool_scratch")).scalar() == 0


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)  # SQLite has no server connection
def test_an_idle_connection_that_died_is_replaced_before_use(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pooled connection idle past IDLE_PING_S is pinged; if its server end is gone (a
    restart, a proxy's timeout) the pool hands out a new one instead of failing the request."""
    with engine.connect() as conn:
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
    other = create_engine(engine.url, poolclass=NullPool)  # not a connection of the pool
    try:
        with other.begin() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
    finally:
        other.dispose()
    monkeypatch.setattr(engine_module, "IDLE_PING_S", -1.0)  # every pooled connection is "idle"
    with engine.connect() as conn:  # without the ping: "terminating connection" on this query
        assert conn.execute(text("SELECT pg_backend_pid()")).scalar() != pid


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)  # the ping is PostgreSQL's
def test_a_busy_connection_is_not_pinged(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """Within IDLE_PING_S the pool hands a connection out without a round trip."""
    pings: list[Any] = []
    original = engine.dialect.do_ping

    def counting(dbapi_conn: Any) -> bool:
        pings.append(dbapi_conn)
        return original(dbapi_conn)

    monkeypatch.setattr(engine.dialect, "do_ping", counting)
    for _ in range(3):
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    assert pings == []
