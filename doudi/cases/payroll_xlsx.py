"""A payment roll as the XLSX file counties send to the paying bank (发放名册).

Sheet 发放名册: a title row (``XX区 2026年12月 城乡低保等救助资金发放名册``, marked 草稿 until
the roll is confirmed), the header row 序号, 乡镇（街道）, 村（社区）, 户主姓名, 公民身份号码,
救助类别, 保障人数, 月救助金额（元）, 发放月份, 备注, one row per payment and a 合计 row. For the
disability subsidies the name is the subsidised person's. Lines taken off the payment are
listed on the sheet 剔除名单 with the reason; 分类汇总 gives the figures per program.

Names and citizen IDs are masked unless the export is unmasked with a reason; every export
is written to the audit log either way.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import openpyxl
import pyarrow as pa
import pyarrow.compute as pc
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font
from sqlalchemy import Engine

from doudi import audit
from doudi.auth import Actor, require
from doudi.cases import ledger
from doudi.cases.labels import PROGRAMS_SHORT, label
from doudi.cases.payroll import (
    PROBLEMS,
    ProgramTotal,
    _scoped_roll,
    _summary,
    fetch_lines_arrow,
    require_reason,
)
from doudi.monitor.alerts import mask_citizen_ids, mask_names
from doudi.periods import Period

HEADERS = (
    "序号",
    "乡镇（街道）",
    "村（社区）",
    "户主姓名",
    "公民身份号码",
    "救助类别",
    "保障人数",
    "月救助金额（元）",
    "发放月份",
    "备注",
)
WIDTHS = (7, 16, 18, 10, 21, 14, 9, 15, 11, 36)


@dataclass(frozen=True)
class ExportResult:
    path: Path
    lines: int
    excluded: int
    total: Decimal
    unmasked: bool
    sha256: str


def title(county_name: str, period: str, status: str) -> str:
    """The title row of the roll.

    >>> title("南明区", "2026-12", "confirmed")
    '南明区 2026年12月 城乡低保等救助资金发放名册'
    """
    p = Period.parse(period)
    draft = "" if status == "confirmed" else "（草稿，未确认）"
    return f"{county_name} {p.year}年{p.month}月 城乡低保等救助资金发放名册{draft}"


def export_roll_xlsx(
    engine: Engine,
    actor: Actor,
    roll_id: int,
    path: Path,
    *,
    unmasked: bool = False,
    reason: str | None = None,
    now: dt.datetime | None = None,
) -> ExportResult:
    """Write the roll to ``path`` (see the module docstring); audited."""
    require(actor.role, "roll.export")
    require_reason(unmasked, reason)
    row = _scoped_roll(engine, actor, roll_id)
    at = now or ledger.now()
    with engine.begin() as conn:
        summary = _summary(conn, row)
        lines = fetch_lines_arrow(conn, row)
        if not unmasked:
            lines = lines.set_column(
                lines.schema.get_field_index("payee_name"), "payee_name", mask_names(lines["payee_name"])
            ).set_column(
                lines.schema.get_field_index("payee_citizen_id"),
                "payee_citizen_id",
                mask_citizen_ids(lines["payee_citizen_id"]),
            )
        paid = lines.filter(pc.invert(lines["excluded"]))
        excluded = lines.filter(lines["excluded"])
        total = _write(
            Path(path), summary.county_name, row.period, row.status, paid, excluded, summary.by_program
        )
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        audit.record(
            conn,
            actor=actor.username,
            action="export_unmasked" if unmasked else "export",
            object_type="payment_roll",
            object_ref=str(roll_id),
            division_code=row.county_code,
            reason=reason,
            detail={
                "file": Path(path).name,
                "period": row.period,
                "lines": paid.num_rows,
                "excluded": excluded.num_rows,
                "total": str(total),
                "unmasked": unmasked,
                "sha256": digest,
                "at": at,
            },
        )
    return ExportResult(Path(path), paid.num_rows, excluded.num_rows, total, unmasked, digest)


def _write(
    path: Path,
    county_name: str,
    period: str,
    status: str,
    paid: pa.Table,
    excluded: pa.Table,
    by_program: tuple[ProgramTotal, ...],
) -> Decimal:
    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("发放名册")
    for i, w in enumerate(WIDTHS):
        ws.column_dimensions[openpyxl.utils.get_column_letter(i + 1)].width = w
    bold = Font(bold=True)
    head = WriteOnlyCell(ws, title(county_name, period, status))
    head.font = Font(bold=True, size=14)
    head.alignment = Alignment(horizontal="left")
    ws.append([head])
    header_cells = []
    for h in HEADERS:
        c = WriteOnlyCell(ws, h)
        c.font = bold
        header_cells.append(c)
    ws.append(header_cells)
    month_label = period
    total = Decimal(0)
    persons = 0
    cols = {name: paid[name].to_pylist() for name in paid.column_names}
    for i in range(paid.num_rows):
        amount = Decimal(cols["amount"][i]).quantize(Decimal("0.01"))
        total += amount
        persons += int(cols["covered_members"][i])
        note = ""
        if cols["problem"][i]:
            note = f"{label(PROBLEMS, cols['problem'][i])}，已核实：{cols['resolution'][i] or ''}"
        ws.append(
            [
                i + 1,
                cols["township_name"][i],
                cols["village_name"][i],
                cols["payee_name"][i],
                cols["payee_citizen_id"][i],
                label(PROGRAMS_SHORT, cols["program"][i]),
                int(cols["covered_members"][i]),
                amount,
                month_label,
                note,
            ]
        )
    total_cells = [
        WriteOnlyCell(ws, v)
        for v in (
            "合计",
            None,
            None,
            None,
            None,
            None,
            persons,
            total,
            None,
            f"共 {paid.num_rows} 户（人）次",
        )
    ]
    for c in total_cells:
        c.font = bold
    ws.append(total_cells)

    summary_ws = wb.create_sheet("分类汇总")
    summary_ws.append(["救助类别", "户（人）次", "保障人数", "月救助金额（元）"])
    for t in by_program:
        summary_ws.append([t.program_label, t.lines, t.persons, t.amount])
    summary_ws.append(["合计", paid.num_rows, persons, total])

    out_ws = wb.create_sheet("剔除名单")
    out_ws.append(
        [
            "序号",
            "乡镇（街道）",
            "村（社区）",
            "户主姓名",
            "公民身份号码",
            "救助类别",
            "月救助金额（元）",
            "核查问题",
            "处理意见",
        ]
    )
    ex = {name: excluded[name].to_pylist() for name in excluded.column_names}
    for i in range(excluded.num_rows):
        out_ws.append(
            [
                i + 1,
                ex["township_name"][i],
                ex["village_name"][i],
                ex["payee_name"][i],
                ex["payee_citizen_id"][i],
                label(PROGRAMS_SHORT, ex["program"][i]),
                Decimal(ex["amount"][i]).quantize(Decimal("0.01")),
                label(PROBLEMS, ex["problem"][i]),
                ex["resolution"][i],
            ]
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return total
