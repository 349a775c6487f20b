"""The engine interface on DuckDB and (marked ``spark``) on Spark: inputs, materialised steps,
exact decimals, types of results; and PySpark imported only when Spark is chosen."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from doudi.monitor.engines import DuckDBEngine, MonitorEngine, make_engine
from doudi.monitor.engines.base import check_identifier, duckdb_type
from doudi.settings import Settings

SCHEMA = pa.schema(
    [("who", pa.string()), ("amount", pa.decimal128(18, 2)), ("day", pa.date32()), ("n", pa.int32())]
)


def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", duckdb_memory_limit="1GB", duckdb_threads=2)


def amounts(who: str, count: int, amount: str, day: dt.date) -> pa.Table:
    return pa.table(
        {
            "who": [who] * count,
            "amount": pa.array([Decimal(amount)] * count, pa.decimal128(18, 2)),
            "day": [day] * count,
            "n": pa.array(range(count), pa.int32()),
        },
        schema=SCHEMA,
    )


@pytest.fixture(params=["duckdb", pytest.param("spark", marks=pytest.mark.spark)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MonitorEngine]:
    eng: MonitorEngine
    if request.param == "duckdb":
        eng = DuckDBEngine(settings(tmp_path))
    else:
        from doudi.monitor.engines.spark_engine import SparkEngine

        eng = SparkEngine(settings(tmp_path), session=request.getfixturevalue("spark_session"))
    yield eng
    eng.close()


def test_the_engine_contract(engine: MonitorEngine, tmp_path: Path) -> None:
    # Parquet files with a column the schema leaves out and an int64 the schema wants as int32
    files = []
    for i, part in enumerate(
        [amounts("a", 1000, "19.99", dt.date(2026, 1, 31)), amounts("b", 2, "0.01", dt.date(2026, 2, 1))]
    ):
        path = tmp_path / f"part-{i}.parquet"
        wider = part.set_column(3, "n", part.column("n").cast(pa.int64())).append_column(
            "extra", pa.array([1] * part.num_rows)
        )
        pq.write_table(wider, path)
        files.append(path)
    engine.register_parquet("feed_x", files, SCHEMA)
    engine.register_parquet("feed_empty", [], SCHEMA)
    # an exact 20000.00 from many small amounts: never on the wrong side of the threshold
    engine.register_arrow("small", amounts("c", 2000, "10.00", dt.date(2026, 3, 1)))

    assert engine.to_arrow("SELECT * FROM feed_empty").schema == SCHEMA
    assert engine.to_arrow("SELECT * FROM feed_x LIMIT 1").schema == SCHEMA
    rows = engine.materialize(
        "totals",
        """SELECT who, CAST(sum(amount) AS DECIMAL(18, 2)) AS total, max(day) AS last_day,
                  CAST(count(*) AS BIGINT) AS n
           FROM (SELECT * FROM feed_x UNION ALL SELECT * FROM small UNION ALL SELECT * FROM feed_empty)
           GROUP BY who""",
    )
    assert rows == 3
    out = engine.to_arrow("SELECT * FROM totals ORDER BY who")
    assert out.schema == pa.schema(
        [("who", pa.string()), ("total", pa.decimal128(18, 2)), ("last_day", pa.date32()), ("n", pa.int64())]
    )
    assert out.to_pylist() == [
        {"who": "a", "total": Decimal("19990.00"), "last_day": dt.date(2026, 1, 31), "n": 1000},
        {"who": "b", "total": Decimal("0.02"), "last_day": dt.date(2026, 2, 1), "n": 2},
        {"who": "c", "total": Decimal("20000.00"), "last_day": dt.date(2026, 3, 1), "n": 2000},
    ]
    over = engine.to_arrow("SELECT who FROM totals WHERE total > 20000 OR (who = 'c' AND total <> 20000.00)")
    assert over.num_rows == 0
    # a step may replace itself
    assert engine.materialize("totals", "SELECT * FROM totals WHERE who <> 'b'") == 2
    engine.drop("totals")
    with pytest.raises(Exception):  # noqa: B017 - each engine has its own "no such table" error
        engine.to_arrow("SELECT * FROM totals")
    engine.drop("totals")  # dropping what is gone is no error
    with pytest.raises(ValueError, match="identifier"):
        engine.materialize("x; DROP TABLE small", "SELECT 1")


def test_duckdb_runs_the_sql_as_written_and_closes_its_connection(tmp_path: Path) -> None:
    engine = DuckDBEngine(settings(tmp_path))
    sql = "SELECT count(*) FILTER (WHERE x > 1) AS n FROM range(3) t(x)"
    assert engine.translate(sql) == sql
    engine.close()
    with pytest.raises(Exception):  # noqa: B017
        engine.con.execute("SELECT 1")


def test_spark_sql_is_transpiled_by_sqlglot() -> None:
    from doudi.monitor.engines.spark_engine import to_spark_sql

    assert to_spark_sql("SELECT arg_max(a, k) AS a, strftime(d, '%Y-%m') AS p FROM t") == (
        "SELECT MAX_BY(a, k) AS a, DATE_FORMAT(d, 'yyyy-MM') AS p FROM t"
    )


def test_engine_factory(tmp_path: Path) -> None:
    engine = make_engine("duckdb", settings(tmp_path))
    assert engine.name == "duckdb"
    engine.close()
    with pytest.raises(ValueError, match="unknown engine"):
        make_engine("sqlite", settings(tmp_path))


def test_pyspark_is_imported_only_when_spark_is_chosen(tmp_path: Path) -> None:
    code = (
        "import sys; from pathlib import Path; from doudi.settings import Settings;"
        "import doudi.monitor.features; from doudi.monitor.engines import make_engine;"
        f"make_engine('duckdb', Settings(data_dir=Path({str(tmp_path)!r}))).close();"
        "assert 'pyspark' not in sys.modules, 'pyspark imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_identifiers_and_types() -> None:
    assert check_identifier("feed_medical") == "feed_medical"
    for bad in ("Feed", "1x", "a-b", "a b", ""):
        with pytest.raises(ValueError):
            check_identifier(bad)
    assert duckdb_type(pa.decimal128(18, 2)) == "DECIMAL(18,2)"
    with pytest.raises(TypeError):
        duckdb_type(pa.list_(pa.int32()))
