"""The registry as the monthly run sees it: persons and households in force on the period's
last day, with the programs' figures, written as Parquet for the engines.

Only households in at least one category on that day, and their current members. The reads are
a handful of set-based queries (``COPY`` on PostgreSQL); the joins and sums run in DuckDB and
the programs' per-household results come from :func:`doudi.programs.run.run_programs`, so the
income and standards the rules compare are the ones an assessment would give.

``data_dir/monitor/<YYYY-MM>/registry_persons.parquet``
    :data:`PERSONS_SCHEMA`: one row per current member. ``monthly_income`` is the sum of the
    person's income items in force (0.00 without any); ``division_code`` is the household's.
``data_dir/monitor/<YYYY-MM>/registry_households.parquet``
    :data:`HOUSEHOLDS_SCHEMA`: ``member_count`` counts the current members above;
    ``category_start`` is the earliest start of the categories in force; ``hh_income_monthly``
    is the counted monthly income (``counted_income``), ``per_capita_income``,
    ``dibao_standard`` (``standard``) and ``marginal_line`` as the programs compute them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Engine

from doudi.db import bulk, duck
from doudi.programs.run import run_programs
from doudi.registry.queries import IN_FORCE
from doudi.settings import Settings

MONEY = pa.decimal128(18, 2)

PERSONS_SCHEMA = pa.schema(
    [
        ("person_id", pa.int64()),
        ("household_id", pa.int64()),
        ("household_no", pa.string()),
        ("citizen_id", pa.string()),
        ("relation", pa.string()),
        ("birth_date", pa.date32()),
        ("disability_grade", pa.int32()),
        ("schooling", pa.string()),
        ("employment", pa.string()),
        ("monthly_income", MONEY),
        ("division_code", pa.string()),
    ]
)
CATEGORY_FLAGS = ("dibao", "tekun", "marginal", "rigid_spending", "relapse_watch", "other")
HOUSEHOLDS_SCHEMA = pa.schema(
    [
        ("household_id", pa.int64()),
        ("household_no", pa.string()),
        ("division_code", pa.string()),
        ("area_type", pa.string()),
        ("member_count", pa.int32()),
        *[(f"in_{c}", pa.bool_()) for c in CATEGORY_FLAGS],
        ("category_start", pa.date32()),
        ("hh_income_monthly", MONEY),
        ("per_capita_income", MONEY),
        ("dibao_standard", MONEY),
        ("marginal_line", MONEY),
    ]
)
# Columns of the programs' results that the snapshot keeps, and their names in it.
PROGRAM_FIGURES = {
    "counted_income": "hh_income_monthly",
    "per_capita_income": "per_capita_income",
    "standard": "dibao_standard",
    "marginal_line": "marginal_line",
}


@dataclass(frozen=True)
class Snapshot:
    persons_path: Path
    households_path: Path
    persons: int
    households: int


def snapshot_dir(data_dir: Path, on: dt.date) -> Path:
    return data_dir / "monitor" / f"{on.year:04d}-{on.month:02d}"


# What the registry says of a person (the rest of PERSONS_SCHEMA is derived).
_PERSON_COLUMNS = (
    "person_id",
    "household_id",
    "citizen_id",
    "relation",
    "birth_date",
    "disability_grade",
    "schooling",
    "employment",
)


def _in_force(alias: str) -> str:
    return IN_FORCE.format(a=alias)


def _queries() -> dict[str, tuple[str, pa.Schema]]:
    """The reads of the registry in force on ``:on`` (PostgreSQL streams each with COPY)."""
    in_force_categories = "start_date <= :on AND (end_date IS NULL OR :on < end_date)"
    cats = f"SELECT household_id FROM household_categories WHERE {in_force_categories}"
    return {
        "categories": (
            f"""SELECT household_id, category, start_date FROM household_categories
                WHERE {in_force_categories}""",
            pa.schema([("household_id", pa.int64()), ("category", pa.string()), ("start_date", pa.date32())]),
        ),
        "households": (
            f"""SELECT h.id, h.household_no, hv.division_code, hv.area_type
                FROM households h
                JOIN household_versions hv ON hv.household_id = h.id AND {_in_force("hv")}
                WHERE h.id IN ({cats})""",
            pa.schema(
                [
                    ("household_id", pa.int64()),
                    ("household_no", pa.string()),
                    ("division_code", pa.string()),
                    ("area_type", pa.string()),
                ]
            ),
        ),
        "persons": (
            f"""SELECT p.id, pv.household_id, p.citizen_id, pv.relation, pv.birth_date,
                       pv.disability_grade, pv.schooling, pv.employment
                FROM person_versions pv JOIN persons p ON p.id = pv.person_id
                WHERE {_in_force("pv")} AND pv.household_id IN ({cats})""",
            pa.schema([PERSONS_SCHEMA.field(name) for name in _PERSON_COLUMNS]),
        ),
        "incomes": (
            # Money as text: SQLite keeps it so, and the sum is done exactly in DuckDB.
            f"""SELECT i.person_id, i.monthly_amount FROM income_items i
                WHERE {_in_force("i")} AND i.person_id IN (
                    SELECT pv.person_id FROM person_versions pv
                    WHERE {_in_force("pv")} AND pv.household_id IN ({cats}))""",
            pa.schema([("person_id", pa.int64()), ("monthly_amount", pa.string())]),
        ),
    }


def registry_snapshot(db_engine: Engine, *, on: dt.date, data_dir: Path, settings: Settings) -> Snapshot:
    """Write the registry in force on ``on`` (the period's last day) for the monthly run."""
    with db_engine.connect() as conn:
        raw = {
            name: bulk.fetch_arrow(conn, sql, schema, {"on": on})
            for name, (sql, schema) in _queries().items()
        }
    figures = pa.schema(
        [("household_no", pa.string()), *[(name, MONEY) for name in PROGRAM_FIGURES.values()]]
    ).empty_table()
    if raw["households"].num_rows:  # (the programs refuse an empty batch)
        programs = run_programs("registry", on=on, engine=db_engine, data_dir=data_dir, write=False).results
        figures = programs.select(["household_id", *PROGRAM_FIGURES]).rename_columns(figures.column_names)
    out = snapshot_dir(data_dir, on)
    out.mkdir(parents=True, exist_ok=True)
    persons_path = out / "registry_persons.parquet"
    households_path = out / "registry_households.parquet"
    con = duck.connect(settings)
    try:
        for name, table in raw.items():
            con.register(f"raw_{name}", table)
        con.register("raw_programs", figures)
        con.execute(
            """CREATE TEMP TABLE persons AS
               WITH income AS (
                   SELECT person_id, sum(CAST(monthly_amount AS DECIMAL(18,2))) AS monthly_income
                   FROM raw_incomes GROUP BY person_id
               )
               SELECT p.person_id, p.household_id, h.household_no, p.citizen_id, p.relation, p.birth_date,
                      p.disability_grade, p.schooling, p.employment,
                      CAST(coalesce(i.monthly_income, 0) AS DECIMAL(18,2)) AS monthly_income, h.division_code
               FROM raw_persons p
               JOIN raw_households h USING (household_id)
               LEFT JOIN income i USING (person_id)
               ORDER BY h.division_code, p.household_id, p.person_id"""
        )
        flags = ",\n".join(f"bool_or(category = '{c}') AS in_{c}" for c in CATEGORY_FLAGS)
        figures_cols = ", ".join(
            f"CAST(f.{name} AS DECIMAL(18,2)) AS {name}" for name in PROGRAM_FIGURES.values()
        )
        con.execute(
            f"""CREATE TEMP TABLE households AS
                WITH cats AS (
                    SELECT household_id, {flags}, min(start_date) AS category_start
                    FROM raw_categories GROUP BY household_id
                ), members AS (
                    SELECT household_id, count(*) AS member_count FROM persons GROUP BY household_id
                )
                SELECT h.household_id, h.household_no, h.division_code, h.area_type,
                       CAST(coalesce(m.member_count, 0) AS INTEGER) AS member_count,
                       {", ".join(f"c.in_{c}" for c in CATEGORY_FLAGS)}, c.category_start,
                       {figures_cols}
                FROM raw_households h
                JOIN cats c USING (household_id)
                LEFT JOIN members m USING (household_id)
                LEFT JOIN raw_programs f USING (household_no)
                ORDER BY h.division_code, h.household_id"""
        )
        persons = con.sql("SELECT * FROM persons").to_arrow_table().cast(PERSONS_SCHEMA)
        households = con.sql("SELECT * FROM households").to_arrow_table().cast(HOUSEHOLDS_SCHEMA)
    finally:
        con.close()
    pq.write_table(persons, persons_path, compression="zstd")
    pq.write_table(households, households_path, compression="zstd")
    return Snapshot(persons_path, households_path, persons.num_rows, households.num_rows)
