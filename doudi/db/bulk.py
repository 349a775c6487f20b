"""Bulk reads and writes between Arrow tables and the operational database.

PostgreSQL gets COPY; SQLite gets executemany on the raw connection. Both run inside the
caller's transaction. Rows are never looped over in ORM objects.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from sqlalchemy import Connection, MetaData, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.schema import AddConstraint, DropConstraint


def fetch_arrow(
    conn: Connection, sql: str, schema: pa.Schema, params: dict[str, Any] | None = None
) -> pa.Table:
    """Run a query and return its rows as an Arrow table of the given schema.

    On PostgreSQL the query streams through ``COPY … TO STDOUT`` and is parsed by Arrow, which
    is many times faster than building Python rows (parameters are bound by psycopg on the
    client, as COPY takes none from the server).
    """
    if conn.dialect.name == "postgresql":
        return _copy_out(conn, sql, schema, params)
    result = conn.execute(text(sql), params or {})
    rows = result.fetchall()
    columns: list[Sequence[Any]] = list(zip(*rows, strict=True)) if rows else [[] for _ in schema]
    arrays = []
    for raw_values, f in zip(columns, schema, strict=True):
        values: list[Any] = list(raw_values)
        if pa.types.is_date(f.type):
            values = [
                v if v is None or isinstance(v, dt.date) else dt.date.fromisoformat(str(v)) for v in values
            ]
        elif pa.types.is_string(f.type):
            values = [v if v is None or isinstance(v, str) else str(v) for v in values]
        elif pa.types.is_boolean(f.type):
            values = [None if v is None else bool(v) for v in values]
        arrays.append(pa.array(values, type=f.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def _copy_out(
    conn: Connection, sql: str, schema: pa.Schema, params: dict[str, Any] | None = None
) -> pa.Table:
    raw = conn.connection.driver_connection
    assert raw is not None
    compiled = text(sql).bindparams(**(params or {})).compile(dialect=conn.dialect)
    statement = f"COPY ({compiled}) TO STDOUT WITH (FORMAT csv)"
    buf = io.BytesIO()
    with raw.cursor() as cur, cur.copy(statement, compiled.params or None) as copy:
        for chunk in copy:
            buf.write(chunk)
    if buf.tell() == 0:
        return schema.empty_table()
    buf.seek(0)
    # In PostgreSQL's CSV an unquoted empty field is NULL and "" an empty string; booleans are t/f.
    return pacsv.read_csv(
        buf,
        read_options=pacsv.ReadOptions(column_names=schema.names),
        convert_options=pacsv.ConvertOptions(
            column_types=schema,
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            true_values=["t", "true"],
            false_values=["f", "false"],
        ),
    ).cast(schema)


def next_ids(conn: Connection, table: str, count: int) -> np.ndarray:
    """Reserve ``count`` fresh primary keys for ``table`` (the caller holds the write lock)."""
    start = conn.execute(text(f"SELECT COALESCE(MAX(id), 0) FROM {table}")).scalar_one()
    return np.arange(int(start) + 1, int(start) + 1 + count, dtype=np.int64)


def lock_for_write(conn: Connection, tables: Sequence[str]) -> None:
    """One writer at a time for the registry tables (SQLite serialises writers itself)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"LOCK TABLE {', '.join(tables)} IN SHARE ROW EXCLUSIVE MODE"))


def _for_sqlite(col: pa.ChunkedArray) -> list[Any]:
    t = col.type
    if pa.types.is_date(t) or pa.types.is_decimal(t) or pa.types.is_timestamp(t):
        return pc.cast(col, pa.string()).to_pylist()
    if pa.types.is_boolean(t):
        return pc.cast(col, pa.int8()).to_pylist()
    return col.to_pylist()


def insert_arrow(conn: Connection, table: str, data: pa.Table, *, batch_rows: int = 100_000) -> int:
    """Append all rows of ``data`` (columns named as in ``table``), ``batch_rows`` at a time so
    that memory stays bounded by one batch of Python values (SQLite) or CSV text (PostgreSQL).
    Driver errors arrive as SQLAlchemy's (``IntegrityError`` …), as from any other statement."""
    try:
        return _insert_arrow(conn, table, data, batch_rows)
    except conn.dialect.loaded_dbapi.Error as exc:
        raise DBAPIError.instance(
            f"bulk insert into {table}", None, exc, conn.dialect.loaded_dbapi.Error
        ) from exc


def _insert_arrow(conn: Connection, table: str, data: pa.Table, batch_rows: int) -> int:
    if data.num_rows == 0:
        return 0
    cols = data.column_names
    raw = conn.connection.driver_connection
    assert raw is not None
    if conn.dialect.name == "postgresql":
        with (
            raw.cursor() as cur,
            cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN WITH (FORMAT csv)") as copy,
        ):
            for batch in data.to_batches(max_chunksize=batch_rows):
                buf = io.BytesIO()
                pacsv.write_csv(
                    pa.Table.from_batches([batch]),
                    buf,
                    pacsv.WriteOptions(include_header=False, quoting_style="needed"),
                )
                copy.write(buf.getbuffer())
        return data.num_rows
    sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})"
    cur = raw.cursor()
    try:
        for start in range(0, data.num_rows, batch_rows):
            part = data.slice(start, batch_rows)
            cur.executemany(sql, zip(*(_for_sqlite(part.column(c)) for c in cols), strict=True))
            pa.default_memory_pool().release_unused()
    finally:
        cur.close()
    return data.num_rows


def close_where(
    conn: Connection, table: str, key: str, keys: np.ndarray, column: str, value: dt.date, **extra: Any
) -> None:
    """Set an end date on the open rows (``column`` IS NULL) whose ``key`` is one of ``keys``."""
    if len(keys) == 0:
        return
    sets = ", ".join([f"{column} = :value", *(f"{k} = :{k}" for k in extra)])
    key_list = [int(k) for k in keys]
    if conn.dialect.name == "postgresql":
        conn.execute(
            text(f"UPDATE {table} SET {sets} WHERE {column} IS NULL AND {key} = ANY(:keys)"),
            {"value": value, "keys": key_list, **extra},
        )
    else:
        conn.execute(
            text(f"UPDATE {table} SET {sets} WHERE {column} IS NULL AND {key} = :k"),
            [{"value": value.isoformat(), "k": k, **extra} for k in key_list],
        )


@contextmanager
def foreign_keys_checked_at_end(
    conn: Connection, metadata: MetaData, tables: Sequence[str]
) -> Iterator[None]:
    """On PostgreSQL, check the foreign keys of ``tables`` once, set-wise, after a bulk load
    instead of row by row (the PostgreSQL manual's advice for populating a database): the
    keys are dropped, the block runs, and they are added back, which validates every row in
    one join. All in the caller's transaction, so a failure rolls everything back. The
    tables are locked exclusively meanwhile. Elsewhere the block simply runs."""
    if conn.dialect.name != "postgresql":
        yield
        return
    keys = [fk for t in tables for fk in metadata.tables[t].foreign_key_constraints]
    for fk in keys:
        conn.execute(DropConstraint(fk))
    yield
    for fk in keys:
        conn.execute(AddConstraint(fk))


def reset_sequences(conn: Connection, tables: Sequence[str]) -> None:
    """After explicit ids were written, move PostgreSQL's sequences past them."""
    if conn.dialect.name != "postgresql":
        return
    for table in tables:
        conn.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
            )
        )
