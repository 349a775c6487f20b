"""``doudi feeds``: load department feeds, list the manifest, show the contracts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from doudi.cli import common
from doudi.feeds.contract import TYPE_LABELS, default_contracts
from doudi.feeds.reader import FeedError
from doudi.feeds.service import FeedLoadResult, contract_for, list_loads, load_feed, parse_period

app = typer.Typer(
    help="部门比对数据：按数据约定载入各部门每月提供的数据，查看载入记录和数据约定。", no_args_is_help=True
)

_STATUS = {"active": "在用", "superseded": "已被替换", "failed": "失败", "running": "载入中"}
_MODE = {"events": "事件（本期发生）", "snapshot": "全量（截至本期）"}


@app.command("load")
def load_cmd(
    kind: str = typer.Argument(..., help="数据类别，如 medical（医保结算）；doudi feeds contracts 列出全部"),
    file: Path = typer.Argument(..., help="数据文件：CSV（UTF-8 / GBK）、XLSX、Parquet 或 JSON Lines"),
    period: str = typer.Option(..., "--period", help="数据所属期间（年-月），如 2026-11"),
) -> None:
    """载入一个部门数据文件：按数据约定校验，通过的行存为 Parquet，未通过的行写入未通过清单，并输出质量报告。"""
    try:
        contract_for(kind)
        parse_period(period)
    except FeedError as exc:
        common.fail(exc.message_zh)
    s = common.settings()
    engine = common.engine(s)
    try:
        with common.console.status("正在载入……") as status:
            result = load_feed(
                engine,
                s,
                kind,
                file,
                period,
                actor=s.actor,
                progress=lambda step: status.update(f"正在载入：{step}……"),
            )
    except FeedError as exc:
        if exc.quality and "rows_read" in exc.quality:
            _print_quality(exc.quality, exc.load_id)
            if exc.quality.get("quarantine_path"):
                common.console.print(f"未通过的行及原因见：{exc.quality['quarantine_path']}")
        for line in exc.details:
            common.err_console.print(line)
        code = 2 if exc.code in ("unknown_kind", "bad_period", "file_missing") else 1
        if exc.load_id is not None:
            common.err_console.print(f"载入记录 {exc.load_id} 已记为失败，原有数据不受影响。")
        common.fail(exc.message_zh, code=code)
        return
    if result.unchanged:
        common.console.print(
            f"文件“{file.name}”与{result.period}期正在使用的数据（载入记录 {result.load_id}）完全相同，未做任何改动。"
        )
    _print_quality(result.quality, result.load_id)
    if result.change:
        c = result.change
        common.console.print(
            f"本文件替换了载入记录 {c['replaces_load_id']}（更正后重新提交）：新增 {c['added']} 行，"
            f"删除 {c['removed']} 行，修改 {c['changed']} 行，未变 {c['unchanged']} 行。"
        )
    if result.quarantine_path:
        common.console.print(f"未通过的 {result.rows_rejected} 行及原因见：{result.quarantine_path}")
    if result.parquet_path:
        common.console.print(f"通过的数据：{result.parquet_path}")


def _print_quality(quality: dict[str, Any], load_id: int | None) -> None:
    title = f"{quality.get('title', '')} {quality.get('period', '')} 质量报告"
    if load_id is not None:
        title += f"（载入记录 {load_id}）"
    t = Table(title=title)
    for col in ("读取", "通过", "未通过", "其中重复", "与名册匹配", "匹配率"):
        t.add_column(col, justify="right")
    t.add_row(
        str(quality.get("rows_read", 0)),
        str(quality.get("rows_good", 0)),
        str(quality.get("rows_rejected", 0)),
        str(quality.get("rows_duplicate", 0)),
        str(quality.get("rows_matched", 0)),
        f"{quality.get('match_rate', 0.0) * 100:.1f}%",
    )
    common.console.print(t)
    reasons = quality.get("rejects_by_reason") or {}
    if reasons:
        r = Table(title="未通过原因")
        r.add_column("原因")
        r.add_column("行数", justify="right")
        for reason, n in reasons.items():
            r.add_row(reason, str(n))
        common.console.print(r)
    if quality.get("unknown_columns"):
        common.console.print(
            f"[yellow]提示：[/]以下列不在数据约定中，已忽略：{'、'.join(quality['unknown_columns'])}"
        )
    for w in quality.get("warnings") or []:
        common.console.print(f"[yellow]提示：[/]{w}")


@app.command("list")
def list_cmd(
    period: str = typer.Option(None, "--period", help="只列出该期间（年-月），如 2026-11"),
    kind: str = typer.Option(None, "--kind", help="只列出该类数据，如 medical"),
) -> None:
    """列出载入记录（最新的在前）：状态、文件、行数、匹配率，以及被哪次提交替换。"""
    try:
        if kind is not None:
            contract_for(kind)
        if period is not None:
            period = str(parse_period(period))
    except FeedError as exc:
        common.fail(exc.message_zh)
    s = common.settings()
    engine = common.engine(s)
    with engine.connect() as conn:
        loads = list_loads(conn, period=period, kind=kind)
    if not loads:
        common.console.print("没有载入记录。")
        return
    contracts = default_contracts()
    t = Table(title="部门数据载入记录")
    for col in (
        "编号",
        "类别",
        "期间",
        "状态",
        "文件",
        "读取",
        "通过",
        "未通过",
        "匹配率",
        "载入时间",
        "说明",
    ):
        t.add_column(col, justify="right" if col in ("编号", "读取", "通过", "未通过", "匹配率") else "left")
    for ld in loads:
        t.add_row(
            str(ld.load_id),
            contracts[ld.kind].title if ld.kind in contracts else ld.kind,
            ld.period,
            _STATUS.get(ld.status, ld.status),
            ld.file_name,
            str(ld.rows_read),
            str(ld.rows_good),
            str(ld.rows_rejected),
            f"{ld.match_rate * 100:.1f}%" if ld.status in ("active", "superseded") else "",
            ld.started_at.strftime("%Y-%m-%d %H:%M") if ld.started_at else "",
            _note(ld),
        )
    common.console.print(t)


def _note(ld: FeedLoadResult) -> str:
    if ld.status == "superseded" and ld.superseded_by:
        return f"被 {ld.superseded_by} 替换"
    if ld.error:
        return str(ld.error.get("message", ""))
    if ld.replaces_load_id:
        return f"替换 {ld.replaces_load_id}"
    return ""


@app.command("contracts")
def contracts_cmd() -> None:
    """列出各类部门数据的约定：名称、提供部门、数据方式和各列（* 为必填）。"""
    t = Table(title="部门数据约定", show_lines=True)
    for col in ("类别", "名称", "提供部门", "方式", "列（* 为必填）"):
        t.add_column(col)
    for kind, c in sorted(default_contracts().items()):
        columns = "、".join(
            f"{col.label}{'*' if col.required else ''}（{TYPE_LABELS[col.type]}）" for col in c.columns
        )
        t.add_row(kind, c.title, c.department, _MODE[c.mode], columns)
    common.console.print(t)
