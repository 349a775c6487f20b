"""The embedded engine: one in-memory DuckDB connection within the configured memory limit.

Parquet inputs are views over ``read_parquet`` (streamed, never loaded whole); Arrow inputs and
materialised steps are TEMP tables, which DuckDB spills to the data directory beyond its limit.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

from doudi.db import duck
from doudi.monitor.engines.base import check_identifier, typed_select
from doudi.settings import Settings


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class DuckDBEngine:
    """:class:`~doudi.monitor.engines.base.MonitorEngine` on DuckDB (the default)."""

    name = "duckdb"

    def __init__(self, settings: Settings | None = None, *, con: duckdb.DuckDBPyConnection | None = None):
        self._own = con is None
        self.con = con if con is not None else duck.connect(settings)
        self._kinds: dict[str, str] = {}  # relation name → "VIEW" | "TABLE"

    # -- inputs ---------------------------------------------------------------------------
    def register_parquet(self, view: str, paths: list[Path], schema: pa.Schema) -> None:
        check_identifier(view)
        source = None
        if paths:
            files = ", ".join(_literal(Path(p).as_posix()) for p in paths)
            source = f"read_parquet([{files}], union_by_name = true)"
        self._drop(view)
        self.con.execute(f"CREATE TEMP VIEW {view} AS {typed_select(schema, source)}")
        self._kinds[view] = "VIEW"

    def register_arrow(self, view: str, table: pa.Table) -> None:
        check_identifier(view)
        self._drop(view)
        self.con.register("_doudi_arrow_input", table)
        try:
            self.con.execute(f"CREATE TEMP TABLE {view} AS SELECT * FROM _doudi_arrow_input")
        finally:
            self.con.unregister("_doudi_arrow_input")
        self._kinds[view] = "TABLE"

    # -- steps and results ----------------------------------------------------------------
    def translate(self, sql: str) -> str:
        return sql

    def materialize(self, name: str, sql: str) -> int:
        check_identifier(name)
        if self._kinds.get(name) == "VIEW":
            self._drop(name)
        # OR REPLACE: a step may read the table it replaces.
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}")
        self._kinds[name] = "TABLE"
        ((rows,),) = self.con.execute(f"SELECT count(*) FROM {name}").fetchall()
        return int(rows)

    def drop(self, name: str) -> None:
        self._drop(check_identifier(name))

    def to_arrow(self, sql: str) -> pa.Table:
        return self.con.sql(sql).to_arrow_table()

    def close(self) -> None:
        for name in list(self._kinds):
            self._drop(name)
        if self._own:
            self.con.close()

    def _drop(self, name: str) -> None:
        kind = self._kinds.pop(name, None)
        if kind is not None:
            self.con.execute(f"DROP {kind} IF EXISTS {name}")
