"""The quality report of a load: what came in, what was kept, why the rest was rejected, and
how much of it concerns people in the registry.

The report is a JSON object (stored in ``feed_loads.quality`` and next to the Parquet file as
``load-<id>-quality.json``)::

    {"kind": "medical", "title": "医疗保障结算记录", "department": "医疗保障局",
     "period": "2026-11", "file_name": "…", "file_format": "csv", "encoding": "gb18030",
     "rows_read": 1000, "rows_good": 990, "rows_rejected": 10, "rows_duplicate": 2,
     "rejects_by_reason": {"结算日期不在本期（2026年11月）内": 6, "与前面的行重复（结算单号相同）": 2, …},
     "rows_matched": 412, "match_rate": 0.4162, "persons": 950, "persons_matched": 401,
     "columns": {"settlement_no": "结算流水号", …}, "columns_absent": ["医疗机构"],
     "unknown_columns": ["备注"], "warnings": []}

``rows_matched`` counts good rows whose citizen ID (the contract's ``person`` column) belongs
to a person in the registry (the ``persons`` table, every person ever registered);
``match_rate`` is that over ``rows_good`` (0 when nothing was kept). ``persons`` and
``persons_matched`` count distinct IDs. ``rejects_by_reason`` counts each reason once per
row that has it, so the counts add up to at least ``rows_rejected``. A failed load also has
``"error": {"code", "message", "details", "log"}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa
from sqlalchemy import Connection

from doudi.db import bulk
from doudi.feeds.contract import FeedContract
from doudi.feeds.reader import FeedFile
from doudi.feeds.validate import TYPED, Validation

_REGISTRY_IDS = pa.schema([("citizen_id", pa.string())])


@dataclass(frozen=True)
class RegistryMatch:
    rows_matched: int
    persons: int
    persons_matched: int


def registry_match(con: duckdb.DuckDBPyConnection, conn: Connection, contract: FeedContract) -> RegistryMatch:
    """Good rows whose person is in the registry: the registry's IDs come over as one Arrow
    table (COPY on PostgreSQL) and are matched in DuckDB, never row by row."""
    known = bulk.fetch_arrow(conn, "SELECT citizen_id FROM persons", _REGISTRY_IDS)
    con.register("registry_ids", known)
    try:
        row = con.execute(
            f"""SELECT count(*) FILTER (WHERE m), count(DISTINCT p), count(DISTINCT p) FILTER (WHERE m)
                FROM (SELECT v_{contract.person} AS p,
                             v_{contract.person} IN (SELECT citizen_id FROM registry_ids) AS m
                      FROM {TYPED} WHERE ok)"""
        ).fetchall()[0]
    finally:
        con.unregister("registry_ids")
    return RegistryMatch(int(row[0]), int(row[1]), int(row[2]))


def match_rate(rows_matched: int, rows_good: int) -> float:
    """Share of the good rows that match the registry, 4 decimals.

    Examples:
        >>> match_rate(1, 3), match_rate(0, 0)
        (0.3333, 0.0)
    """
    return round(rows_matched / rows_good, 4) if rows_good else 0.0


def quality_report(
    *,
    contract: FeedContract,
    feed: FeedFile,
    validation: Validation,
    match: RegistryMatch,
    period: str,
) -> dict[str, Any]:
    """The report of a load that was read and validated (see the module documentation)."""
    report: dict[str, Any] = {
        "kind": contract.kind,
        "title": contract.title,
        "department": contract.department,
        "period": period,
        "file_name": feed.path.name,
        "file_format": feed.format,
        "encoding": feed.encoding,
        "rows_read": validation.rows_read,
        "rows_good": validation.rows_good,
        "rows_rejected": validation.rows_rejected,
        "rows_duplicate": validation.rows_duplicate,
        "rejects_by_reason": dict(validation.rejects_by_reason),
        "rows_matched": match.rows_matched,
        "match_rate": match_rate(match.rows_matched, validation.rows_good),
        "persons": match.persons,
        "persons_matched": match.persons_matched,
        "columns": {name: feed.headers[i] for name, i in feed.mapping.items()},
        "columns_absent": [c.label for c in contract.columns if c.name not in feed.mapping],
        "unknown_columns": feed.unknown_headers,
        "warnings": list(feed.warnings),
    }
    if feed.sheet is not None:
        report["sheet"] = feed.sheet
    return report


def failure_report(
    *, contract: FeedContract, period: str, file_name: str, file_format: str, error: dict[str, Any]
) -> dict[str, Any]:
    """The report of a load that could not be read at all."""
    return {
        "kind": contract.kind,
        "title": contract.title,
        "department": contract.department,
        "period": period,
        "file_name": file_name,
        "file_format": file_format,
        "error": error,
    }
