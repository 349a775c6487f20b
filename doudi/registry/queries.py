"""Read the registry as of a date, as Arrow tables (never row-by-row ORM objects)."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection

from doudi.db import bulk
from doudi.registry import schema
from doudi.registry.schema import MONEY

IN_FORCE = "{a}.valid_from <= :on AND ({a}.valid_to IS NULL OR :on < {a}.valid_to)"

REGISTER_SCHEMA = pa.schema(
    [
        ("household_no", pa.string()),
        ("division_code", pa.string()),
        ("address", pa.string()),
        ("area_type", pa.string()),
        ("categories", pa.string()),
        *schema.IDENTITY,
        *schema.FROM_ID,
        *schema.PERSON_ATTRIBUTES,
        ("monthly_income", MONEY),
    ]
)
_PEOPLE_SCHEMA = pa.schema(
    [
        *(f for f in REGISTER_SCHEMA if f.name != "monthly_income"),
        ("person_id", pa.int64()),
        ("_head_first", pa.int8()),
    ]
)


def register(conn: Connection, *, on: dt.date, division_code: str | None = None) -> pa.Table:
    """One row per person of every household in a category on ``on``, within a division."""
    scope = "AND hv.division_code LIKE :scope" if division_code else ""
    sql = f"""
        WITH cats AS (
            SELECT household_id, {_string_agg(conn, "category", "','")} AS categories
            FROM household_categories
            WHERE start_date <= :on AND (end_date IS NULL OR :on < end_date)
            GROUP BY household_id
        )
        SELECT h.household_no, hv.division_code, hv.address, hv.area_type, cats.categories,
               pv.name, p.citizen_id, pv.sex, pv.birth_date, pv.relation, pv.disability_kind,
               pv.disability_grade, pv.self_care_failed_items, pv.serious_illness, pv.schooling,
               pv.employment, p.id AS person_id,
               CASE pv.relation WHEN 'head' THEN 0 ELSE 1 END AS _head_first
        FROM households h
        JOIN household_versions hv ON hv.household_id = h.id AND {IN_FORCE.format(a="hv")}
        JOIN cats ON cats.household_id = h.id
        JOIN person_versions pv ON pv.household_id = h.id AND {IN_FORCE.format(a="pv")}
        JOIN persons p ON p.id = pv.person_id
        WHERE 1 = 1 {scope}
        ORDER BY hv.division_code, h.household_no,
                 CASE pv.relation WHEN 'head' THEN 0 ELSE 1 END, p.citizen_id
    """
    params: dict[str, object] = {"on": on}
    if division_code:
        params["scope"] = division_code + "%"
    people = bulk.fetch_arrow(conn, sql, _PEOPLE_SCHEMA, params)
    incomes = bulk.fetch_arrow(
        conn,
        f"SELECT person_id, monthly_amount FROM income_items i WHERE {IN_FORCE.format(a='i')}",
        pa.schema([("person_id", pa.int64()), ("monthly_amount", pa.string())]),
        {"on": on},
    )
    # Money is summed as DECIMAL in Arrow: SQLite keeps it as text and would sum in floating point.
    amounts = incomes.set_column(1, "monthly_amount", pc.cast(incomes.column(1), MONEY))
    totals = amounts.group_by("person_id").aggregate([("monthly_amount", "sum")])
    joined = people.join(totals, "person_id", join_type="left outer").sort_by(
        [
            ("division_code", "ascending"),
            ("household_no", "ascending"),
            ("_head_first", "ascending"),
            ("citizen_id", "ascending"),
        ]
    )
    income = pc.cast(pc.fill_null(joined.column("monthly_amount_sum"), pa.scalar(0, MONEY)), MONEY)
    return joined.append_column("monthly_income", income).select(REGISTER_SCHEMA.names)


def category_counts(conn: Connection, *, on: dt.date) -> pa.Table:
    """Households and persons per category on ``on`` (who was in 低保 on 2025-06-30?)."""
    sql = f"""
        SELECT c.category, COUNT(DISTINCT c.household_id) AS households, COUNT(pv.id) AS persons
        FROM household_categories c
        JOIN person_versions pv ON pv.household_id = c.household_id AND {IN_FORCE.format(a="pv")}
        WHERE c.start_date <= :on AND (c.end_date IS NULL OR :on < c.end_date)
        GROUP BY c.category ORDER BY c.category
    """
    schema = pa.schema([("category", pa.string()), ("households", pa.int64()), ("persons", pa.int64())])
    return bulk.fetch_arrow(conn, sql, schema, {"on": on})


def _string_agg(conn: Connection, column: str, sep: str) -> str:
    if conn.dialect.name == "postgresql":
        return f"string_agg({column}, {sep} ORDER BY {column})"
    return f"group_concat({column}, {sep})"
