"""Engines of the monthly run: DuckDB (embedded default) and Spark (scale-out, optional extra).

>>> make_engine("sqlite", None)
Traceback (most recent call last):
...
ValueError: unknown engine 'sqlite'; use duckdb or spark
"""

from __future__ import annotations

from doudi.monitor.engines.base import MonitorEngine
from doudi.monitor.engines.duckdb_engine import DuckDBEngine
from doudi.settings import Settings

ENGINES = ("duckdb", "spark")

__all__ = ["ENGINES", "DuckDBEngine", "MonitorEngine", "make_engine"]


def make_engine(name: str, settings: Settings | None, *, master: str | None = None) -> MonitorEngine:
    """The engine called ``name``; ``master`` is Spark's (``local[2]`` when not given)."""
    if name == "duckdb":
        return DuckDBEngine(settings)
    if name == "spark":
        # Imported here: PySpark is an optional extra, needed only when Spark is chosen.
        from doudi.monitor.engines.spark_engine import DEFAULT_MASTER, SparkEngine

        return SparkEngine(settings, master or DEFAULT_MASTER)
    raise ValueError(f"unknown engine {name!r}; use duckdb or spark")
