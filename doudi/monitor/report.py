"""The month's alert reports (XLSX): one workbook per county for the township caseworkers,
and one summary workbook for the province.

A county workbook opens with a 汇总 sheet (one row per township) followed by one sheet per
township, so that each township can be handed its own list: the most severe and most urgent
alerts first, with the severity cell coloured, the village, the person (name and citizen ID
masked as :mod:`doudi.ids` masks them; a person not in the registry shows the masked ID
only), what happened (事由), what to do (建议措施), the deadline, the status and how many feed
rows back the alert. The month's alerts are those :func:`doudi.monitor.alerts.in_period`
selects: first raised that month (新增), raised again (持续), or earlier and still open
(往期未办结).

The summary workbook has the month at a glance (概况), the alerts by rule and severity, by
county, and the match rate of every feed loaded for the month.

Every report is written to the audit log (who, which month, which files, how many alerts).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from sqlalchemy import Connection, Engine

from doudi import audit
from doudi.db import bulk
from doudi.divisions import get_catalog
from doudi.feeds.contract import default_contracts
from doudi.monitor.alerts import SEVERITY_ORDER, check_period, in_period, mask_citizen_ids, mask_names
from doudi.monitor.rules import ACTIONS

SEVERITY_LABELS = {"red": "红", "orange": "橙", "yellow": "黄"}
SEVERITY_FILLS = {"red": "FF7A7A", "orange": "FFB561", "yellow": "FFE866"}
STATUS_LABELS = {"open": "待处理", "closed": "已关闭"}
SITUATION_LABELS = {"new": "本月新增", "continuing": "持续预警", "outstanding": "往期未办结"}

COUNTY_COLUMNS: list[tuple[str, int]] = [
    ("预警编号", 10),
    ("级别", 6),
    ("规则", 24),
    ("本月情况", 11),
    ("乡镇（街道）", 16),
    ("村（社区）", 16),
    ("姓名", 8),
    ("公民身份号码", 21),
    ("户编号", 16),
    ("是否在册", 9),
    ("事由", 60),
    ("建议措施", 30),
    ("预警日期", 11),
    ("截止日期", 11),
    ("状态", 9),
    ("证据条数", 9),
    ("规则编号（版本）", 28),
]
_COUNTS = ["alerts", "red", "orange", "yellow", "new", "open", "discovery"]
_COUNT_HEADERS = {
    "alerts": "预警合计",
    "red": "红色",
    "orange": "橙色",
    "yellow": "黄色",
    "new": "本月新增",
    "open": "未办结",
    "discovery": "主动发现（未在册）",
}
_BOLD = Font(bold=True)
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")

_REPORT_SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("rule_id", pa.string()),
        ("rule_version", pa.int32()),
        ("severity", pa.string()),
        ("title", pa.string()),
        ("citizen_id", pa.string()),
        ("registered", pa.bool_()),
        ("household_no", pa.string()),
        ("division_code", pa.string()),
        ("township_code", pa.string()),
        ("county_code", pa.string()),
        ("period_first", pa.string()),
        ("period_last", pa.string()),
        ("status", pa.string()),
        ("closed", pa.bool_()),
        ("raised_at", pa.string()),
        ("due_date", pa.date32()),
        ("explanation", pa.string()),
        ("actions", pa.string()),
        ("name", pa.string()),
        ("village", pa.string()),
        ("evidence", pa.int64()),
    ]
)
_MATCH_SCHEMA = pa.schema([("kind", pa.string()), ("rows_good", pa.int64()), ("rows_matched", pa.int64())])


@dataclass(frozen=True)
class ReportFiles:
    county_files: list[Path]
    summary_path: Path


def write_reports(
    db_engine: Engine,
    *,
    period: str,
    out_dir: Path,
    actor: str,
    match_rates: pa.Table | None = None,
) -> ReportFiles:
    """Write the month's county workbooks and the summary into ``out_dir``; record the export.

    ``match_rates`` (columns ``kind``, ``rows_good``, ``rows_matched``) replaces the figures
    of the month's active feed loads (``feed_loads``) when given. Counties without an alert
    get no workbook.
    """
    check_period(period)
    out_dir.mkdir(parents=True, exist_ok=True)
    with db_engine.begin() as conn:
        raw = _fetch(conn, period)
        discovered = pc.count_distinct(
            pc.filter(raw.column("citizen_id"), pc.invert(raw.column("registered")))
        )
        rows = _display(raw, period)
        del raw
        rates = _match_rates(conn, period) if match_rates is None else _conform_rates(match_rates)
        catalog = get_catalog()
        county_files = []
        by_township = _count_rows(rows, ["county_code", "township_code", "township_name"])
        for county, start, stop in _runs(rows.column("county_code")):
            division = catalog.get(county)
            name = division.name if division else "未知区划"
            path = out_dir / f"预警清单_{period}_{county}_{name}.xlsx"
            summary = by_township.filter(pc.equal(by_township.column("county_code"), county))
            _write_county(rows.slice(start, stop - start), summary, path)
            county_files.append(path)
        summary_path = out_dir / f"预警汇总_{period}.xlsx"
        _write_summary(rows, rates, summary_path, period=period, discovered=discovered.as_py())
        audit.record(
            conn,
            actor=actor,
            action="export",
            object_type="monitor_report",
            object_ref=period,
            detail={
                "period": period,
                "alerts": rows.num_rows,
                "counties": len(county_files),
                "masked": True,
                "files": [p.name for p in [*county_files, summary_path]],
            },
        )
    return ReportFiles(county_files=county_files, summary_path=summary_path)


# --- data -------------------------------------------------------------------------------------


def _fetch(conn: Connection, period: str) -> pa.Table:
    """The month's alerts with the person's latest registered name, the village name and the
    number of evidence rows, ordered by county, township, severity, due date."""
    sql = f"""
        WITH sel AS (SELECT a.* FROM alerts a WHERE {in_period(period)}),
        names AS (
            SELECT person_id, name FROM (
                SELECT pv.person_id, pv.name,
                       ROW_NUMBER() OVER (
                           PARTITION BY pv.person_id
                           ORDER BY CASE WHEN pv.valid_to IS NULL THEN 0 ELSE 1 END,
                                    pv.valid_from DESC, pv.id DESC) AS rn
                FROM person_versions pv
                WHERE pv.person_id IN (
                    SELECT p.id FROM persons p JOIN sel ON sel.citizen_id = p.citizen_id
                    WHERE sel.registered)
            ) latest WHERE rn = 1
        ),
        ev AS (
            SELECT e.alert_id, COUNT(*) AS n FROM alert_evidence e
            WHERE e.alert_id IN (SELECT id FROM sel) GROUP BY e.alert_id
        )
        SELECT sel.id, sel.rule_id, sel.rule_version, sel.severity, sel.title, sel.citizen_id,
               sel.registered, sel.household_no, sel.division_code,
               sel.township_code, sel.county_code, sel.period_first, sel.period_last, sel.status,
               sel.closed_at IS NOT NULL, sel.raised_at, sel.due_date,
               sel.explanation, sel.actions, CASE WHEN sel.registered THEN names.name END, d.name,
               COALESCE(ev.n, 0)
        FROM sel
        LEFT JOIN persons p ON p.citizen_id = sel.citizen_id
        LEFT JOIN names ON names.person_id = p.id
        LEFT JOIN divisions d ON d.code = sel.division_code AND d.level = 5
        LEFT JOIN ev ON ev.alert_id = sel.id
        ORDER BY sel.county_code, sel.township_code, {SEVERITY_ORDER.format(a="sel")},
                 sel.due_date, sel.id
    """
    return bulk.fetch_arrow(conn, sql, _REPORT_SCHEMA)


def _display(rows: pa.Table, period: str) -> pa.Table:
    """Report columns: masked IDs and names, Chinese labels, township names."""
    townships = _names_of(rows.column("township_code"))
    situation = pc.if_else(
        pc.equal(rows.column("period_first"), period),
        "new",
        pc.if_else(pc.greater_equal(rows.column("period_last"), period), "continuing", "outstanding"),
    )
    raised = pc.cast(pc.utf8_slice_codeunits(rows.column("raised_at"), 0, 10), pa.date32())
    extra = {
        "id_masked": mask_citizen_ids(rows.column("citizen_id")),
        "name_masked": mask_names(rows.column("name")),
        "severity_label": _label(rows.column("severity"), SEVERITY_LABELS),
        "status_label": _label(rows.column("status"), STATUS_LABELS),
        "situation": situation,
        "situation_label": _label(situation, SITUATION_LABELS),
        "township_name": _label(rows.column("township_code"), townships),
        "actions_label": _actions(rows.column("actions")),
        "raised_date": raised,
        "registered_label": pc.if_else(rows.column("registered"), "在册", "未在册"),
        "rule_ref": pc.binary_join_element_wise(
            rows.column("rule_id"), " v", pc.cast(rows.column("rule_version"), pa.string()), ""
        ),
    }
    for name, col in extra.items():
        rows = rows.append_column(name, col)
    # The full ID and name stay out of everything written from here on.
    return rows.drop_columns(["citizen_id", "name"])


def _names_of(codes: pa.ChunkedArray | pa.Array) -> dict[str, str]:
    catalog = get_catalog()
    out = {}
    for code in pc.unique(codes).to_pylist():
        division = catalog.get(code) if code else None
        out[code] = division.name if division else (f"未分乡镇（{code}）" if code else "未分乡镇")
    return out


def _label(arr: pa.ChunkedArray | pa.Array, mapping: dict[str, str]) -> pa.Array:
    """Codes replaced by their labels; a code without one is kept as it is."""
    if not mapping:
        return arr
    labels = pa.array(list(mapping.values()), pa.string())
    index = pc.index_in(arr, value_set=pa.array(list(mapping), pa.string()))
    return pc.coalesce(pc.take(labels, index), arr)


def _actions(arr: pa.ChunkedArray | pa.Array) -> pa.Array:
    """The JSON lists of action codes as their Chinese labels (:data:`doudi.monitor.rules.ACTIONS`)
    joined by "；"; one Python step per distinct list (a rule's list repeats on all its alerts)."""
    labels = ACTIONS
    mapping = {}
    for value in pc.unique(pc.drop_null(arr)).to_pylist():
        try:
            codes = json.loads(value)
        except ValueError:
            codes = [value]
        items = codes if isinstance(codes, list) else [codes]
        mapping[value] = "；".join(_action_text(c, labels) for c in items)
    return _label(arr, mapping)


def _action_text(item: Any, labels: dict[str, str]) -> str:
    if isinstance(item, dict):
        return str(item.get("label") or labels.get(str(item.get("code")), item.get("code", "")))
    return labels.get(str(item), str(item))


def _runs(keys: pa.ChunkedArray | pa.Array) -> list[tuple[str, int, int]]:
    """``(key, start, stop)`` of each run of equal values in a column sorted by it."""
    values = keys.to_numpy(zero_copy_only=False)
    if len(values) == 0:
        return []
    starts = np.concatenate([[0], np.flatnonzero(values[1:] != values[:-1]) + 1])
    stops = np.concatenate([starts[1:], [len(values)]])
    return [(values[a], int(a), int(b)) for a, b in zip(starts, stops, strict=True)]


def _match_rates(conn: Connection, period: str) -> pa.Table:
    return bulk.fetch_arrow(
        conn,
        "SELECT kind, rows_good, rows_matched FROM feed_loads "
        f"WHERE period = '{period}' AND status = 'active' ORDER BY kind",
        _MATCH_SCHEMA,
    )


def _conform_rates(table: pa.Table) -> pa.Table:
    return table.select(_MATCH_SCHEMA.names).cast(_MATCH_SCHEMA).sort_by("kind")


# --- workbooks --------------------------------------------------------------------------------


def _sheet(wb: Workbook, title: str, columns: Sequence[tuple[str, int]], rows: int) -> Any:
    """A write-only sheet with a bold, frozen, filterable header row and column widths
    (all of which a write-only sheet takes only before its first row)."""
    ws = wb.create_sheet(title)
    for i, (_, width) in enumerate(columns, start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{rows + 1}"
    header = []
    for text, _ in columns:
        cell = WriteOnlyCell(ws, value=text)
        cell.font = _BOLD
        header.append(cell)
    ws.append(header)
    return ws


def _write_county(rows: pa.Table, summary: pa.Table, path: Path) -> None:
    """A county's workbook: ``rows`` its alerts, ``summary`` its counts by township."""
    wb = Workbook(write_only=True)
    townships = _runs(rows.column("township_code"))
    ws = _sheet(
        wb,
        "汇总",
        [("乡镇（街道）代码", 18), ("乡镇（街道）", 18), *((_COUNT_HEADERS[c], 12) for c in _COUNTS)],
        summary.num_rows,
    )
    for r in summary.to_pylist():
        ws.append([r["township_code"], r["township_name"], *(r[c] for c in _COUNTS)])
    totals = [pc.sum(summary.column(c)).as_py() for c in _COUNTS]
    ws.append([_bold(ws, "合计"), "", *totals])

    used: set[str] = {"汇总"}
    fills = {k: PatternFill("solid", fgColor=v) for k, v in SEVERITY_FILLS.items()}
    for code, start, stop in townships:
        part = rows.slice(start, stop - start)
        ws = _sheet(
            wb, _sheet_title(str(part.column("township_name")[0]), code, used), COUNTY_COLUMNS, part.num_rows
        )
        columns = [
            part.column(c).to_pylist()
            for c in (
                "id",
                "severity",
                "title",
                "situation_label",
                "township_name",
                "village",
                "name_masked",
                "id_masked",
                "household_no",
                "registered_label",
                "explanation",
                "actions_label",
                "raised_date",
                "due_date",
                "status_label",
                "evidence",
                "rule_ref",
            )
        ]
        for values in zip(*columns, strict=True):
            row = list(values)
            cell = WriteOnlyCell(ws, value=SEVERITY_LABELS.get(row[1], row[1]))
            if row[1] in fills:
                cell.fill = fills[row[1]]
            row[1] = cell
            ws.append(row)
    wb.save(path)


def _bold(ws: Any, value: Any) -> WriteOnlyCell:
    cell = WriteOnlyCell(ws, value=value)
    cell.font = _BOLD
    return cell


def _sheet_title(name: str, code: str, used: set[str]) -> str:
    """An Excel sheet name (≤ 31 characters, none of []:*?/\\), unique in the workbook."""
    title = _SHEET_FORBIDDEN.sub("_", name)[:31] or code
    if title in used:
        title = f"{title[: 30 - len(code)]}_{code}"
    used.add(title)
    return title


def _count_rows(rows: pa.Table, keys: Sequence[str]) -> pa.Table:
    """Counts of alerts per ``keys``: total, by severity, new, open, discovery."""
    con = duckdb.connect()
    try:
        con.register("r", rows.select([*keys, "severity", "situation", "closed", "registered"]))
        group = ", ".join(keys)
        return con.sql(
            f"""
            SELECT {group},
                   count(*) AS alerts,
                   count(*) FILTER (WHERE severity = 'red') AS red,
                   count(*) FILTER (WHERE severity = 'orange') AS orange,
                   count(*) FILTER (WHERE severity = 'yellow') AS yellow,
                   count(*) FILTER (WHERE situation = 'new') AS new,
                   count(*) FILTER (WHERE NOT closed) AS open,
                   count(*) FILTER (WHERE NOT registered) AS discovery
            FROM r GROUP BY {group} ORDER BY {group}
            """
        ).to_arrow_table()
    finally:
        con.close()


def _write_summary(rows: pa.Table, rates: pa.Table, path: Path, *, period: str, discovered: int) -> None:
    wb = Workbook(write_only=True)
    overview = _overview(rows, period, discovered)
    ws = _sheet(wb, "概况", [("项目", 30), ("数值", 22)], len(overview))
    for item in overview:
        ws.append(list(item))

    by_rule = _count_rows(rows, ["rule_id", "title"])
    ws = _sheet(
        wb,
        "按规则",
        [("规则编号", 30), ("规则", 30), *((_COUNT_HEADERS[c], 12) for c in _COUNTS)],
        by_rule.num_rows,
    )
    # A rule renamed in a later version shows once per title.
    for r in by_rule.to_pylist():
        ws.append([r["rule_id"], r["title"], *(r[c] for c in _COUNTS)])
    ws.append([_bold(ws, "合计"), "", *(pc.sum(by_rule.column(c)).as_py() or 0 for c in _COUNTS)])

    by_county = _count_rows(rows, ["county_code"])
    catalog = get_catalog()
    ws = _sheet(
        wb,
        "按县",
        [
            ("县级代码", 10),
            ("市（州）", 20),
            ("县（市、区）", 18),
            *((_COUNT_HEADERS[c], 12) for c in _COUNTS),
        ],
        by_county.num_rows,
    )
    for r in by_county.to_pylist():
        county = catalog.get(r["county_code"])
        prefecture = ""
        if county is not None:
            try:
                prefecture = catalog.prefecture_of(county.code).name
            except StopIteration:  # a county directly under the province
                prefecture = ""
        ws.append(
            [r["county_code"], prefecture, county.name if county else "未知区划", *(r[c] for c in _COUNTS)]
        )
    ws.append([_bold(ws, "合计"), "", "", *(pc.sum(by_county.column(c)).as_py() or 0 for c in _COUNTS)])

    contracts = default_contracts()
    ws = _sheet(
        wb,
        "数据匹配率",
        [
            ("数据类别", 16),
            ("数据名称", 24),
            ("提供部门", 22),
            ("有效行数", 12),
            ("匹配名册行数", 14),
            ("匹配率", 10),
        ],
        rates.num_rows,
    )
    for r in rates.to_pylist():
        contract = contracts.get(r["kind"])
        cell = WriteOnlyCell(ws, value=r["rows_matched"] / r["rows_good"] if r["rows_good"] else None)
        cell.number_format = "0.0%"
        ws.append(
            [
                r["kind"],
                contract.title if contract else r["kind"],
                contract.department if contract else "",
                r["rows_good"],
                r["rows_matched"],
                cell,
            ]
        )
    wb.save(path)


def _overview(rows: pa.Table, period: str, discovered: int) -> list[tuple[str, Any]]:
    def count(mask: pa.Array | pa.ChunkedArray) -> int:
        return int(pc.sum(pc.cast(mask, pa.int64())).as_py() or 0)

    situation, severity = rows.column("situation"), rows.column("severity")
    unregistered = pc.invert(rows.column("registered"))
    return [
        ("监测月份", period),
        ("生成时间", dt.datetime.now().strftime("%Y-%m-%d %H:%M")),
        ("预警合计", rows.num_rows),
        ("其中：本月新增", count(pc.equal(situation, "new"))),
        ("其中：持续预警", count(pc.equal(situation, "continuing"))),
        ("其中：往期未办结", count(pc.equal(situation, "outstanding"))),
        ("红色预警", count(pc.equal(severity, "red"))),
        ("橙色预警", count(pc.equal(severity, "orange"))),
        ("黄色预警", count(pc.equal(severity, "yellow"))),
        ("未办结", count(pc.invert(rows.column("closed")))),
        ("主动发现（未在册人员）预警", count(unregistered)),
        ("主动发现（未在册人员）人数", discovered),
        ("涉及县（市、区）", len(pc.unique(rows.column("county_code")))),
        ("说明", "身份证号、姓名均已脱敏；主动发现指尚未纳入低收入人口名册的人员"),
    ]
