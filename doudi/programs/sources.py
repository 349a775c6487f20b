"""Households for the programs from where they live: the registry (operational database) or
the population files of the synthetic province. Both give the Arrow tables of
:mod:`doudi.programs.inputs` (``HOUSEHOLD_SCHEMA``, ``MEMBER_SCHEMA``).

Neither source records whether a member has a legal supporter able to work — a caseworker's
finding, and one that co-residence cannot settle (children living elsewhere count) — so it is
taken from the registry's own finding: members of a household registered as 特困 have none,
everyone else has one. Rigid spending comes from department feeds (a later issue) and is zero here. A
roster's 月收入 without a kind counts like business income (counted, no employment disregard).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pyarrow as pa
from sqlalchemy import Engine

from doudi.db import bulk
from doudi.programs.inputs import HOUSEHOLD_SCHEMA, MEMBER_SCHEMA
from doudi.registry.queries import IN_FORCE


def _members_sql(source: str, on: dt.date) -> str:
    return f"""
        SELECT household_id, CAST(member_no AS SMALLINT) AS member_no, birth_date, relation, disability_kind,
               CAST(disability_grade AS TINYINT) AS disability_grade,
               CAST(coalesce(self_care_failed_items, 0) AS TINYINT) AS self_care_failed_items,
               coalesce(serious_illness, false) AS serious_illness, coalesce(schooling, 'none') AS schooling,
               CAST(NULL AS BOOLEAN) AS able_to_work,
               NOT coalesce(in_tekun, false) AS has_able_supporter,
               CAST(coalesce(wage_income, 0) AS DECIMAL(14,2)) AS wage_income,
               CAST(coalesce(business_income, 0) AS DECIMAL(14,2)) AS business_income,
               CAST(coalesce(property_income, 0) AS DECIMAL(14,2)) AS property_income,
               CAST(coalesce(transfer_income, 0) AS DECIMAL(14,2)) AS transfer_income
        FROM {source}
        ORDER BY household_id, member_no
    """


def _households_sql(source: str, on: dt.date) -> str:
    return f"""
        SELECT household_id, DATE '{on.isoformat()}' AS on_date, substr(division_code, 1, 6) AS county_code,
               division_code, area_type,
               CAST(coalesce(vehicles, 0) AS INTEGER) AS vehicles,
               CAST(coalesce(extra_housing, 0) AS INTEGER) AS extra_housing,
               CAST(coalesce(business_registered, 0) AS INTEGER) AS business_registered,
               CAST(coalesce(deposits, 0) AS DECIMAL(14,2)) AS deposits,
               CAST(0 AS DECIMAL(14,2)) AS rigid_medical, CAST(0 AS DECIMAL(14,2)) AS rigid_education,
               CAST(0 AS DECIMAL(14,2)) AS rigid_rehabilitation, 0 AS months_above_standard,
               coalesce(in_dibao, false) AS in_dibao, CAST(NULL AS DECIMAL(14,2)) AS current_dibao_monthly,
               CAST(NULL AS VARCHAR) AS emergency_kind, CAST(NULL AS DECIMAL(14,2)) AS emergency_loss
        FROM {source}
        ORDER BY household_id
    """


def from_population(
    population_dir: Path,
    on: dt.date,
    *,
    registered_only: bool = False,
    con: duckdb.DuckDBPyConnection | None = None,
) -> tuple[pa.Table, pa.Table]:
    """All households of the synthetic province (or only those in a category)."""
    own = con is None
    con = con or duckdb.connect()
    hh = (population_dir / "households.parquet").as_posix()
    pp = (population_dir / "persons.parquet").as_posix()
    where = "WHERE category IS NOT NULL" if registered_only else ""
    con.execute(
        f"""CREATE OR REPLACE TEMP VIEW src_h AS
            SELECT household_no AS household_id, *, contains(coalesce(category, ''), 'dibao') AS in_dibao
            FROM read_parquet('{hh}') {where}"""
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP VIEW src_m AS
            SELECT p.household_no AS household_id, p.*, contains(coalesce(hh.category, ''), 'tekun') AS in_tekun
            FROM read_parquet('{pp}') AS p JOIN read_parquet('{hh}') AS hh USING (household_no)
            {"WHERE hh.category IS NOT NULL" if registered_only else ""}"""
    )
    households = con.sql(_households_sql("src_h", on)).to_arrow_table().cast(HOUSEHOLD_SCHEMA)
    members = con.sql(_members_sql("src_m", on)).to_arrow_table().cast(MEMBER_SCHEMA)
    if own:
        con.close()
    return households, members


_REG_H = pa.schema(
    [
        ("household_id", pa.string()),
        ("division_code", pa.string()),
        ("area_type", pa.string()),
        ("in_dibao", pa.bool_()),
        ("in_tekun", pa.bool_()),
    ]
)
_REG_M = pa.schema(
    [
        ("household_id", pa.string()),
        ("member_no", pa.int64()),
        ("person_id", pa.int64()),
        ("birth_date", pa.date32()),
        ("relation", pa.string()),
        ("disability_kind", pa.string()),
        ("disability_grade", pa.int8()),
        ("self_care_failed_items", pa.int8()),
        ("serious_illness", pa.bool_()),
        ("schooling", pa.string()),
    ]
)
_REG_ITEMS = pa.schema([("owner", pa.string()), ("kind", pa.string()), ("amount", pa.string())])


def from_registry(engine: Engine, on: dt.date) -> tuple[pa.Table, pa.Table]:
    """Every household in a category on ``on``, as recorded in the registry on that date."""
    params = {"on": on}
    cats = """SELECT household_id FROM household_categories
              WHERE start_date <= :on AND (end_date IS NULL OR :on < end_date)"""
    with engine.connect() as conn:
        households = bulk.fetch_arrow(
            conn,
            # One pass over the categories in force, joined: ``id IN (subquery)`` in the select
            # list ran as a per-row subplan on PostgreSQL once the set outgrew work_mem (minutes
            # at 20 million persons).
            f"""SELECT h.household_no, hv.division_code, hv.area_type, c.in_dibao = 1, c.in_tekun = 1
                FROM households h
                JOIN household_versions hv ON hv.household_id = h.id AND {IN_FORCE.format(a="hv")}
                JOIN (SELECT household_id,
                             max(CASE WHEN category = 'dibao' THEN 1 ELSE 0 END) AS in_dibao,
                             max(CASE WHEN category = 'tekun' THEN 1 ELSE 0 END) AS in_tekun
                      FROM household_categories
                      WHERE start_date <= :on AND (end_date IS NULL OR :on < end_date)
                      GROUP BY household_id) c ON c.household_id = h.id""",
            _REG_H,
            params,
        )
        members = bulk.fetch_arrow(
            conn,
            f"""SELECT h.household_no, 0, pv.person_id, pv.birth_date, pv.relation, pv.disability_kind,
                       pv.disability_grade, pv.self_care_failed_items, pv.serious_illness, pv.schooling
                FROM person_versions pv JOIN households h ON h.id = pv.household_id
                WHERE {IN_FORCE.format(a="pv")} AND pv.household_id IN ({cats})""",
            _REG_M,
            params,
        )
        incomes = bulk.fetch_arrow(
            conn,
            f"""SELECT CAST(i.person_id AS VARCHAR(20)), i.kind, i.monthly_amount FROM income_items i
                WHERE {IN_FORCE.format(a="i")} AND i.household_id IN ({cats})""",
            _REG_ITEMS,
            params,
        )
        prop = bulk.fetch_arrow(
            conn,
            f"""SELECT h.household_no, pi.kind, pi.amount FROM property_items pi
                JOIN households h ON h.id = pi.household_id
                WHERE {IN_FORCE.format(a="pi")} AND pi.household_id IN ({cats})""",
            _REG_ITEMS,
            params,
        )
    con = duckdb.connect()
    con.register("rh", households)
    con.register("rm", members)
    con.register("ri", incomes)
    con.register("rp", prop)
    con.execute(
        """CREATE TEMP VIEW src_h AS
           SELECT rh.household_id, rh.division_code, rh.area_type, rh.in_dibao,
                  sum(CASE WHEN kind = 'vehicles' THEN CAST(amount AS DECIMAL(14,2)) END) AS vehicles,
                  sum(CASE WHEN kind = 'extra_housing' THEN CAST(amount AS DECIMAL(14,2)) END) AS extra_housing,
                  sum(CASE WHEN kind = 'business_registered' THEN CAST(amount AS DECIMAL(14,2)) END)
                      AS business_registered,
                  sum(CASE WHEN kind = 'deposits' THEN CAST(amount AS DECIMAL(14,2)) END) AS deposits
           FROM rh LEFT JOIN rp ON rp.owner = rh.household_id
           GROUP BY ALL"""
    )
    con.execute(
        """CREATE TEMP VIEW src_m AS
           WITH inc AS (
               SELECT owner,
                      sum(CASE WHEN kind = 'wage' THEN CAST(amount AS DECIMAL(14,2)) END) AS wage_income,
                      sum(CASE WHEN kind IN ('business', 'unclassified') THEN CAST(amount AS DECIMAL(14,2)) END)
                          AS business_income,
                      sum(CASE WHEN kind = 'property' THEN CAST(amount AS DECIMAL(14,2)) END) AS property_income,
                      sum(CASE WHEN kind = 'transfer' THEN CAST(amount AS DECIMAL(14,2)) END) AS transfer_income
               FROM ri GROUP BY owner
           )
           SELECT rm.* EXCLUDE (member_no),
                  row_number() OVER (PARTITION BY rm.household_id ORDER BY rm.relation <> 'head', rm.person_id)
                      AS member_no,
                  inc.* EXCLUDE (owner), rh.in_tekun
           FROM rm LEFT JOIN inc ON inc.owner = CAST(rm.person_id AS VARCHAR)
           JOIN rh ON rh.household_id = rm.household_id"""
    )
    out_h = con.sql(_households_sql("src_h", on)).to_arrow_table().cast(HOUSEHOLD_SCHEMA)
    out_m = con.sql(_members_sql("src_m", on)).to_arrow_table().cast(MEMBER_SCHEMA)
    con.close()
    return out_h, out_m
