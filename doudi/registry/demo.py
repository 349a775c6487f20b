"""Build the synthetic province and load its registry through the roster import path."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Engine

from doudi.divisions import get_catalog
from doudi.registry import divisions_store
from doudi.registry.importer import ImportResult, import_roster_table
from doudi.registry.synthetic import Province, generate_province, registry_roster
from doudi.settings import Settings


@dataclass
class DemoResult:
    province: Province
    load: ImportResult
    by_prefecture: pa.Table  # prefecture code, name, households, persons in the registry


def roster_as_text(table: pa.Table) -> pa.Table:
    """A typed roster as the file reader would hand it over: every column text."""
    return pa.table({name: pc.cast(table.column(name), pa.string()) for name in table.column_names})


def build_demo(
    engine: Engine,
    *,
    settings: Settings,
    persons: int,
    seed: int,
    as_of: dt.date,
    actor: str,
    progress: Callable[[int], None] | None = None,
    step: Callable[[str], None] | None = None,
) -> DemoResult:
    """Generate the population (Parquet in the data dir) and import its registry."""
    say = step or (lambda _m: None)
    catalog = divisions_store.load_catalog(engine, settings.province_code)
    say("生成人口")
    # The generator gets the bare Ministry catalogue: villages already in the database must not
    # change what a seed produces.
    province = generate_province(
        persons=persons,
        seed=seed,
        out_dir=settings.data_dir,
        as_of=as_of,
        catalog=get_catalog(settings.province_code),
        progress=progress,
    )
    with engine.begin() as conn:
        divisions_store.add_villages(conn, catalog, province.villages, "synthetic")
    say("整理名册")
    roster = registry_roster(province)
    text_roster = roster_as_text(roster)
    text_roster = text_roster.append_column("_sheet", pa.array([""] * roster.num_rows, pa.string()))
    text_roster = text_roster.append_column("_row", pa.array(range(1, roster.num_rows + 1), pa.int32()))
    label = f"synthetic province seed={seed} persons={persons} as_of={as_of.isoformat()}"
    load = import_roster_table(
        engine,
        text_roster,
        catalog=catalog,
        as_of=as_of,
        actor=actor,
        file_name=label,
        file_sha=hashlib.sha256(label.encode()).hexdigest(),
        kind="synthetic",
        progress=step,
    )
    by_prefecture = _by_prefecture(roster, province)
    return DemoResult(province, load, by_prefecture)


def _by_prefecture(roster: pa.Table, province: Province) -> pa.Table:
    con = duckdb.connect()
    try:
        con.register("r", roster.select(["household_no", "division_code"]))
        counts = con.sql(
            """
            SELECT substr(division_code, 1, 4) || '00' AS prefecture_code,
                   count(DISTINCT household_no) AS households, count(*) AS persons
            FROM r GROUP BY 1 ORDER BY 1
            """
        ).to_arrow_table()
    finally:
        con.close()
    names = [province.catalog.require(c).name for c in counts.column("prefecture_code").to_pylist()]
    return counts.add_column(1, "prefecture", pa.array(names, pa.string()))


def default_as_of(today: dt.date | None = None) -> dt.date:
    """The first day of the current month: a demo rebuilt within a month loads identically."""
    today = today or dt.date.today()
    return today.replace(day=1)


def demo_roster_path(settings: Settings, seed: int, persons: int) -> Path:
    return settings.data_dir / "rosters" / f"synthetic-{seed}-{persons}.csv"
