"""The engine interface of the monthly run: register inputs, materialise SQL steps, read results.

All SQL of the run is written once, in DuckDB's dialect. An engine registers inputs (Parquet
files or Arrow tables) as named relations, materialises ``CREATE TABLE name AS <select>`` and
returns query results as Arrow. The Spark engine transpiles each statement with sqlglot first;
:meth:`MonitorEngine.translate` shows the SQL exactly as the engine runs it (debug mode).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Protocol, runtime_checkable

import pyarrow as pa

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


@runtime_checkable
class MonitorEngine(Protocol):
    name: str  # "duckdb" | "spark"

    def register_parquet(self, view: str, paths: list[Path], schema: pa.Schema) -> None:
        """Expose the rows of ``paths`` as ``view`` with exactly ``schema`` (no paths: no rows)."""
        ...

    def register_arrow(self, view: str, table: pa.Table) -> None:
        """Expose an Arrow table as ``view`` (copied: the caller may drop it afterwards)."""
        ...

    def materialize(self, name: str, sql: str) -> int:
        """``CREATE TABLE name AS <sql>`` (replacing one of that name); the number of rows."""
        ...

    def to_arrow(self, sql: str) -> pa.Table:
        """The rows of a query, as Arrow."""
        ...

    def translate(self, sql: str) -> str:
        """``sql`` (DuckDB dialect) as this engine runs it."""
        ...

    def drop(self, name: str) -> None:
        """Forget a materialised table (frees its memory); nothing if there is none."""
        ...

    def close(self) -> None: ...


def check_identifier(name: str) -> str:
    """Relation names come from code, never from users; refuse anything but a plain identifier.

    >>> check_identifier("feed_medical")
    'feed_medical'
    >>> check_identifier("x; DROP TABLE y")
    Traceback (most recent call last):
    ...
    ValueError: not a plain SQL identifier: 'x; DROP TABLE y'
    """
    if not _IDENTIFIER.match(name):
        raise ValueError(f"not a plain SQL identifier: {name!r}")
    return name


def duckdb_type(t: pa.DataType) -> str:
    """The DuckDB SQL type of an Arrow type (the types the run's tables use).

    >>> duckdb_type(pa.decimal128(18, 2)), duckdb_type(pa.date32()), duckdb_type(pa.int32())
    ('DECIMAL(18,2)', 'DATE', 'INTEGER')
    """
    if pa.types.is_decimal(t):
        return f"DECIMAL({t.precision},{t.scale})"
    simple = {
        pa.string(): "VARCHAR",
        pa.large_string(): "VARCHAR",
        pa.bool_(): "BOOLEAN",
        pa.int8(): "TINYINT",
        pa.int16(): "SMALLINT",
        pa.int32(): "INTEGER",
        pa.int64(): "BIGINT",
        pa.float64(): "DOUBLE",
        pa.date32(): "DATE",
    }
    if t in simple:
        return simple[t]
    if pa.types.is_timestamp(t):
        return "TIMESTAMP"
    raise TypeError(f"no SQL type for Arrow type {t}")


def typed_select(schema: pa.Schema, source: str | None) -> str:
    """``SELECT CAST(c AS T) AS c, …`` from ``source``; without a source, the same columns and no rows.

    >>> typed_select(pa.schema([("a", pa.int64())]), None)
    'SELECT CAST(NULL AS BIGINT) AS a WHERE 1 = 0'
    """
    if source is None:
        cols = ", ".join(f"CAST(NULL AS {duckdb_type(f.type)}) AS {check_identifier(f.name)}" for f in schema)
        return f"SELECT {cols} WHERE 1 = 0"
    cols = ", ".join(f"CAST({check_identifier(f.name)} AS {duckdb_type(f.type)}) AS {f.name}" for f in schema)
    return f"SELECT {cols} FROM {source}"


def nullable(schema: pa.Schema) -> pa.Schema:
    """``schema`` with every field nullable (DuckDB's Arrow output never says NOT NULL)."""
    return pa.schema([f.with_nullable(True) for f in schema])
