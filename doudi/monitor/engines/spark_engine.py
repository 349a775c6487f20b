"""The scale-out engine: the same SQL on Spark (local mode by default, or a cluster's master).

PySpark is imported only when this engine is chosen (the optional ``spark`` extra). Every
statement is written in DuckDB's dialect and transpiled with sqlglot — never edited as a
string; a construct sqlglot cannot express in Spark SQL raises instead of running changed.

Choices, and why:

* ``SPARK_LOCAL_IP=127.0.0.1`` (local mode) is set before the JVM starts, and the driver binds
  to loopback: otherwise Spark binds to the machine's external interface. The UI and the
  console progress bar are off; the log level is ERROR.
* ``spark.sql.session.timeZone=UTC``: dates cross to Arrow without a time-zone shift.
* ANSI mode stays on (Spark 4's default, set explicitly): an overflowing DECIMAL or an invalid
  cast raises an error, as in DuckDB, instead of silently becoming NULL. The steps cast every
  output column, so both engines return the same types.
* Shuffle partitions: twice the local cores (adaptive execution coalesces them further);
  Spark's default of 200 is for clusters, and left alone when a master is given.
* Arrow inputs reach Spark as a temporary Parquet file (``createDataFrame`` from Arrow or pandas
  is far slower and loses DECIMAL precision); materialised steps are persisted (memory and
  disk) and counted, so later steps and rules read them instead of recomputing.
* In local mode the driver gets ``duckdb_memory_limit`` as its heap: the same batch budget as
  the DuckDB engine. On a cluster, every path (feeds, snapshot, data directory) must be on
  storage the executors can read.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq
import sqlglot
from sqlglot.errors import ErrorLevel

from doudi.monitor.engines.base import check_identifier, nullable, typed_select
from doudi.settings import Settings, get_settings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

DEFAULT_MASTER = "local[2]"
_LOCAL = re.compile(r"^local(\[(\d+|\*)(,\d+)?\])?$")


def to_spark_sql(sql: str) -> str:
    """DuckDB SQL as Spark SQL (sqlglot; unsupported constructs raise).

    >>> to_spark_sql("SELECT count(*) FILTER (WHERE x > 1) AS n, arg_max(a, k) AS a FROM t")
    'SELECT COUNT(*) FILTER(WHERE x > 1) AS n, MAX_BY(a, k) AS a FROM t'
    """
    return sqlglot.transpile(sql, read="duckdb", write="spark", unsupported_level=ErrorLevel.RAISE)[0]


def _spark_memory(limit: str) -> str:
    """DuckDB's memory limit ("4GB", "512MB", "4GiB") as a JVM size ("4g", "512m").

    >>> _spark_memory("4GB"), _spark_memory("512 MB"), _spark_memory("2GiB")
    ('4g', '512m', '2g')
    """
    m = re.match(r"^\s*(\d+)\s*([kmgt])i?b?\s*$", limit.lower())
    if not m:
        raise ValueError(f"unreadable memory limit {limit!r}")
    return f"{m.group(1)}{m.group(2)}"


def _local_cores(master: str) -> int | None:
    m = _LOCAL.match(master)
    if not m:
        return None
    if m.group(2) is None:
        return 1
    if m.group(2) == "*":
        return os.cpu_count() or 2
    return int(m.group(2))


def spark_session(settings: Settings | None = None, master: str = DEFAULT_MASTER) -> SparkSession:
    """A Spark session configured for the monthly run (the active one if it already exists)."""
    from pyspark.sql import SparkSession

    s = settings or get_settings()
    cores = _local_cores(master)
    builder = (
        SparkSession.builder.master(master)
        .appName("doudi-monitor")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.ansi.enabled", "true")
        .config("spark.sql.adaptive.enabled", "true")
        .config("spark.sql.warehouse.dir", (s.data_dir / "spark-warehouse").resolve().as_uri())
    )
    if cores is not None:
        # Must be in the environment before the JVM starts (getOrCreate launches it).
        os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
        builder = (
            builder.config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.driver.memory", _spark_memory(s.duckdb_memory_limit))
            .config("spark.sql.shuffle.partitions", str(max(2, 2 * cores)))
        )
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


class SparkEngine:
    """:class:`~doudi.monitor.engines.base.MonitorEngine` on Spark.

    With ``session``, or when a session is already active in the process, the engine uses it
    and leaves it running on :meth:`close` (tests share one); otherwise it starts one with
    :func:`spark_session` and stops it on :meth:`close`.
    """

    name = "spark"

    def __init__(
        self,
        settings: Settings | None = None,
        master: str = DEFAULT_MASTER,
        *,
        session: SparkSession | None = None,
    ):
        self.settings = settings or get_settings()
        if session is None:
            from pyspark.sql import SparkSession

            # A session already running in this process (a test's, a notebook's) is used as it
            # is, and left running: its settings are its owner's.
            session = SparkSession.getActiveSession()
        self._own = session is None
        self.spark = session if session is not None else spark_session(self.settings, master)
        self._tmp = self.settings.data_dir.resolve() / "monitor" / "spark-inputs" / uuid.uuid4().hex
        self._views: set[str] = set()
        self._persisted: dict[str, DataFrame] = {}

    # -- inputs ---------------------------------------------------------------------------
    def register_parquet(self, view: str, paths: list[Path], schema: pa.Schema) -> None:
        check_identifier(view)
        if paths:
            raw = f"_raw_{view}"
            self.spark.read.parquet(*[Path(p).resolve().as_posix() for p in paths]).createOrReplaceTempView(
                raw
            )
            self._views.add(raw)
            df = self.spark.sql(self.translate(typed_select(schema, raw)))
        else:
            df = self.spark.sql(self.translate(typed_select(schema, None)))
        self._replace(view, df)

    def register_arrow(self, view: str, table: pa.Table) -> None:
        check_identifier(view)
        self._tmp.mkdir(parents=True, exist_ok=True)
        path = self._tmp / f"{view}-{uuid.uuid4().hex[:8]}.parquet"
        pq.write_table(table, path)
        self.register_parquet(view, [path], table.schema)

    # -- steps and results ----------------------------------------------------------------
    def translate(self, sql: str) -> str:
        return to_spark_sql(sql)

    def materialize(self, name: str, sql: str) -> int:
        from pyspark import StorageLevel

        check_identifier(name)
        # A local checkpoint keeps the rows and cuts the lineage: later steps (and the 22
        # branches of the candidates query) see a plain scan, not every step before it again —
        # with the lineage kept, Spark's analyser spent minutes and the heap deduplicating plans.
        df = self.spark.sql(self.translate(sql)).localCheckpoint(
            eager=True, storageLevel=StorageLevel.MEMORY_AND_DISK
        )
        rows = df.count()
        self._replace(name, df)
        self._persisted[name] = df
        return int(rows)

    def drop(self, name: str) -> None:
        check_identifier(name)
        df = self._persisted.pop(name, None)
        if df is not None:
            df.unpersist()
        if name in self._views:
            self._views.discard(name)
            self.spark.catalog.dropTempView(name)

    def to_arrow(self, sql: str) -> pa.Table:
        table = self.spark.sql(self.translate(sql)).toArrow()
        return table.cast(nullable(_plain_strings(table.schema)))

    def close(self) -> None:
        for df in self._persisted.values():
            df.unpersist()
        self._persisted.clear()
        for view in self._views:
            self.spark.catalog.dropTempView(view)
        self._views.clear()
        if self._own:
            self.spark.stop()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def _replace(self, name: str, df: Any) -> None:
        old = self._persisted.pop(name, None)
        df.createOrReplaceTempView(name)
        self._views.add(name)
        if old is not None:
            old.unpersist()


def _plain_strings(schema: pa.Schema) -> pa.Schema:
    return pa.schema([f.with_type(pa.string()) if pa.types.is_large_string(f.type) else f for f in schema])
