"""DuckDB connections for batch work, with the configured memory limit and spill directory."""

from __future__ import annotations

import duckdb
import pyarrow as pa

from doudi.settings import Settings, get_settings


def connect(settings: Settings | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB that stays within ``duckdb_memory_limit`` and spills to the data dir."""
    s = settings or get_settings()
    con = duckdb.connect()
    spill = (s.data_dir / "duckdb-tmp").resolve()
    spill.mkdir(parents=True, exist_ok=True)
    con.execute(f"SET memory_limit = '{s.duckdb_memory_limit}'")
    con.execute(f"SET threads = {int(s.duckdb_threads)}")
    con.execute(f"SET temp_directory = '{spill.as_posix()}'")
    con.execute("SET preserve_insertion_order = false")
    return con


def release_arrow_memory() -> None:
    """Hand memory that Arrow's allocator keeps cached back to the system (mimalloc and
    jemalloc hold on to freed pages; between the steps of a big import that is gigabytes)."""
    pa.default_memory_pool().release_unused()
