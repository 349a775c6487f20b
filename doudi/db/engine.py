"""Engines for the operational database (SQLite file by default, PostgreSQL in production)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, exc
from sqlalchemy.engine import make_url

# A pooled PostgreSQL connection idle for longer than this is pinged before it is handed out
# (one round trip); a busier one is handed out as it is. A ping on every checkout (SQLAlchemy's
# pool_pre_ping) doubled the round trips of a web page, which checks out several connections.
IDLE_PING_S = 10.0


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine with the settings Doudi relies on.

    SQLite: WAL journal, foreign keys on, a busy timeout so that a second process waits
    instead of failing at once. The parent directory of the file is created.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 60}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA cache_size=-200000")
            cur.close()

        return engine
    engine = create_engine(url, **kwargs)
    _ping_when_idle(engine)
    return engine


def _ping_when_idle(engine: Engine) -> None:
    """Ping a connection that has been idle in the pool for over ``IDLE_PING_S`` (a server
    restarted or a proxy that dropped it): a failed ping makes the pool replace it (SQLAlchemy's
    pessimistic disconnect handling, by event). A connection dropped within that window fails
    its first statement, and SQLAlchemy then renews the whole pool."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_conn: Any, record: Any) -> None:
        if record is not None:
            record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since <= IDLE_PING_S:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as error:  # any driver error: the connection is gone
            raise exc.DisconnectionError(f"stale pooled connection: {error}") from error


def reading(engine: Engine) -> Connection:
    """A connection for reads only, outside any transaction (autocommit): no BEGIN and no
    ROLLBACK round trip around a page's queries. Under READ COMMITTED (PostgreSQL's default)
    each statement sees its own snapshot inside a transaction too, so nothing changes for the
    reader. Writes must use ``engine.begin()``."""
    return engine.connect().execution_options(isolation_level="AUTOCOMMIT")


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"
