"""Feed files for tests: rows with realistic defaults, written as departments deliver them."""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
from factories import citizen_id

from doudi.feeds.contract import get_contract
from doudi.feeds.reader import FeedFile, read_feed
from doudi.feeds.validate import Validation, validate

#: Headers as a medical-insurance bureau writes them (labels and aliases).
MEDICAL_HEADERS = {
    "settlement_no": "结算单号",
    "citizen_id": "身份证号",
    "name": "姓名",
    "insured_division": "参保地区划代码",
    "settle_date": "结算日期",
    "hospital": "定点医疗机构",
    "visit_type": "就诊类别",
    "total_cost": "医疗总费用（元）",
    "reimbursed": "统筹支付",
    "out_of_pocket": "个人自付",
    "major_disease": "是否大病",
}

ID_A = citizen_id("1968-03-02", 11)
ID_B = citizen_id("1975-06-15", 23)
ID_C = citizen_id("1990-01-20", 35)
ID_X = "11010519491231002X"  # a valid ID ending in X


def medical(no: str = "JS001", **over: Any) -> dict[str, Any]:
    """One settlement row (text values, as in a CSV file)."""
    row: dict[str, Any] = {
        "settlement_no": no,
        "citizen_id": ID_A,
        "name": "甲某",
        "insured_division": "520102",
        "settle_date": "2026-11-03",
        "hospital": "贵阳市第一人民医院",
        "visit_type": "住院",
        "total_cost": "1200.00",
        "reimbursed": "900.00",
        "out_of_pocket": "300.00",
        "major_disease": "否",
    }
    row.update(over)
    return row


def write_csv(
    path: Path,
    rows: Sequence[dict[str, Any]],
    headers: dict[str, str] | None = None,
    *,
    encoding: str = "utf-8",
    delimiter: str = ",",
) -> Path:
    headers = headers or MEDICAL_HEADERS
    with path.open("w", encoding=encoding, newline="") as f:
        w = csv.writer(f, delimiter=delimiter)
        w.writerow(list(headers.values()))
        for r in rows:
            w.writerow(["" if r.get(k) is None else r.get(k) for k in headers])
    return path


def write_xlsx(path: Path, rows: Sequence[dict[str, Any]], headers: dict[str, str] | None = None) -> Path:
    headers = headers or MEDICAL_HEADERS
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "结算明细"
    ws.append(list(headers.values()))
    for r in rows:
        ws.append([r.get(k) for k in headers])
    wb.save(path)
    return path


def write_parquet(path: Path, table: pa.Table) -> Path:
    pq.write_table(table, path)
    return path


def write_jsonl(
    path: Path, rows: Sequence[dict[str, Any] | str], headers: dict[str, str] | None = None
) -> Path:
    """Objects keyed by header (strings are written as they are: blank or broken lines)."""
    headers = headers or MEDICAL_HEADERS
    with path.open("w", encoding="utf-8") as f:
        for r in rows:
            if isinstance(r, str):
                f.write(r + "\n")
            else:
                f.write(
                    json.dumps({headers[k]: v for k, v in r.items() if k in headers}, ensure_ascii=False)
                    + "\n"
                )
    return path


def checked(
    path: Path, kind: str = "medical", *, period: tuple[str, str] = ("2026-11-01", "2026-11-30")
) -> tuple[duckdb.DuckDBPyConnection, FeedFile, Validation]:
    """Read and validate a file in a fresh DuckDB (the caller closes it)."""
    contract = get_contract(kind)
    con = duckdb.connect()
    feed = read_feed(con, contract, path)
    start, end = (dt.date.fromisoformat(d) for d in period)
    validation = validate(
        con,
        contract,
        feed,
        period_start=start.isoformat(),
        period_end=end.isoformat(),
        period_label=f"{start.year}年{start.month}月",
    )
    return con, feed, validation


def reasons(con: duckdb.DuckDBPyConnection) -> dict[int, str]:
    """Row number → the reasons of a rejected row, joined as in the quarantine file."""
    rows = con.sql(
        "SELECT row_no, string_agg(reason, '；' ORDER BY ord) FROM problems GROUP BY row_no ORDER BY row_no"
    ).fetchall()
    return {int(r): str(why) for r, why in rows}


def good(con: duckdb.DuckDBPyConnection, kind: str = "medical") -> list[dict[str, Any]]:
    """The rows that passed, typed, in row order (with ``row_no``)."""
    names = get_contract(kind).names
    cols = ", ".join(f"v_{n} AS {n}" for n in names)
    table = con.sql(f"SELECT row_no, {cols} FROM typed WHERE ok ORDER BY row_no").to_arrow_table()
    return table.to_pylist()
