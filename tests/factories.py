"""Plain factory functions with realistic defaults (synthetic people only)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pyarrow as pa

from doudi.ids import make_citizen_ids


def citizen_id(birth: str = "1970-01-01", seq: int = 11, address: int = 520102) -> str:
    """A valid synthetic citizen ID (odd ``seq`` = male)."""
    return str(
        make_citizen_ids(np.array([address]), np.array([birth], dtype="datetime64[D]"), np.array([seq]))[0]
    )


def person_row(
    household_no: str, name: str, relation: str, *, birth: str = "1970-01-01", seq: int = 11, **fields: Any
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "household_no": household_no,
        "division_code": "520102001001",
        "category": "",
        "name": name,
        "citizen_id": citizen_id(birth, seq),
        "relation": relation,
        "wage_income": "",
    }
    row.update(fields)
    return row


def roster(rows: list[dict[str, Any]], *, first_row: int = 2) -> pa.Table:
    """A roster table as the file reader returns it: text columns plus ``_sheet`` and ``_row``."""
    columns = sorted({k for r in rows for k in r})
    data: dict[str, Any] = {c: pa.array([_text(r.get(c)) for r in rows], pa.string()) for c in columns}
    data["_sheet"] = pa.array([""] * len(rows), pa.string())
    data["_row"] = pa.array(range(first_row, first_row + len(rows)), pa.int32())
    return pa.table(data)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def family(
    household_no: str = "H001", *, category: str = "低保", wage: str = "600", seq0: int = 11
) -> list[dict[str, Any]]:
    """A three-person household: head, spouse and a school child."""
    return [
        person_row(
            household_no,
            "甲某",
            "户主",
            birth="1968-03-02",
            seq=seq0,
            category=category,
            wage_income=wage,
            category_start="2023-05-01",
        ),
        person_row(household_no, "乙某", "配偶", birth="1970-07-09", seq=seq0 + 1),
        person_row(household_no, "丙某", "子女", birth="2010-09-01", seq=seq0 + 3, schooling="义务教育"),
    ]
