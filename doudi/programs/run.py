"""Whole-registry runs of the programs and their summaries (by program, by prefecture)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Engine

from doudi.divisions import DivisionCatalog, get_catalog
from doudi.programs import sources
from doudi.programs.engine import PREFIX, evaluate
from doudi.programs.parameters import ParameterSet, default_parameters

Source = Literal["registry", "population"]


@dataclass
class RunResult:
    results: pa.Table
    path: Path | None
    by_program: pa.Table
    by_prefecture: pa.Table


def load_households(
    source: Source, *, on: dt.date, engine: Engine | None = None, data_dir: Path | None = None
) -> tuple[pa.Table, pa.Table]:
    """The households and members of a source, as the formulas take them."""
    if source == "registry":
        if engine is None:
            raise ValueError("the registry source needs a database engine")
        return sources.from_registry(engine, on)
    if data_dir is None:
        raise ValueError("the population source needs the data directory")
    population = data_dir / "population"
    if not (population / "households.parquet").exists():
        raise FileNotFoundError(population / "households.parquet")
    return sources.from_population(population, on)


def run_programs(
    source: Source,
    *,
    on: dt.date,
    engine: Engine | None = None,
    data_dir: Path | None = None,
    params: ParameterSet | None = None,
    write: bool = True,
) -> RunResult:
    """Evaluate every program for every household of the source; write results as Parquet."""
    params = params or default_parameters()
    households, members = load_households(source, on=on, engine=engine, data_dir=data_dir)
    results = evaluate(households, members, params)
    path = None
    if write and data_dir is not None:
        out_dir = data_dir / "programs"
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"results-{source}-{on.isoformat()}.parquet"
        pq.write_table(results, path, compression="zstd")
    by_program, by_prefecture = summarise(results, params.catalog)
    return RunResult(results, path, by_program, by_prefecture)


def summarise(results: pa.Table, catalog: DivisionCatalog | None = None) -> tuple[pa.Table, pa.Table]:
    """Households, persons covered and monthly amount per program; and per prefecture."""
    catalog = catalog or get_catalog()
    con = duckdb.connect()
    try:
        con.register("r", results)
        parts = []
        for program, prefix in PREFIX.items():
            amount = f"{prefix}_amount" if f"{prefix}_amount" in results.column_names else "0.00"
            parts.append(
                f"""SELECT '{program}' AS program, substr(county_code, 1, 4) || '00' AS prefecture_code,
                           count(*) FILTER (WHERE {prefix}_eligible) AS households,
                           coalesce(sum({prefix}_covered) FILTER (WHERE {prefix}_eligible), 0) AS persons,
                           CAST(coalesce(sum({amount}) FILTER (WHERE {prefix}_eligible), 0) AS DECIMAL(18,2))
                               AS monthly_amount
                    FROM r GROUP BY ALL"""
            )
        con.execute("CREATE TEMP TABLE s AS " + " UNION ALL ".join(parts))
        order = ", ".join(f"'{p}'" for p in PREFIX)
        by_program = con.sql(
            f"""SELECT program, sum(households) AS households, sum(persons) AS persons,
                       CAST(sum(monthly_amount) AS DECIMAL(18,2)) AS monthly_amount
                FROM s GROUP BY program ORDER BY list_position([{order}], program)"""
        ).to_arrow_table()
        by_prefecture = con.sql(
            """SELECT prefecture_code, program, households, persons, monthly_amount FROM s
               ORDER BY prefecture_code, program"""
        ).to_arrow_table()
    finally:
        con.close()
    names = [catalog.require(c).name for c in by_prefecture.column("prefecture_code").to_pylist()]
    return by_program, by_prefecture.add_column(1, "prefecture", pa.array(names, pa.string()))
