"""``doudi registry``: import rosters, export the register, summaries as of a date."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from doudi.cli import common
from doudi.registry import codes, queries
from doudi.registry.export import ExportError, export_register
from doudi.registry.roster_files import RosterFileError
from doudi.registry.service import import_roster_file

app = typer.Typer(help="低收入人口名册：导入花名册、导出名册、按日期统计。", no_args_is_help=True)


@app.command("import")
def import_cmd(
    file: Path = typer.Argument(..., help="花名册文件：CSV（UTF-8 / GBK，自动识别）或 XLSX"),
    as_of: str = typer.Option(None, "--as-of", help="变更生效日期，默认今天（YYYY-MM-DD）"),
    headers: Path = typer.Option(None, "--headers", help="补充的列名对照表（YAML，格式同内置对照表）"),
) -> None:
    """导入花名册：逐行校验，通过的行写入名册（保留历史），未通过的行写入未通过清单。"""
    s = common.settings()
    day = common.parse_day(as_of)
    engine = common.engine(s)
    try:
        with common.console.status("正在导入……") as status:
            result, warnings = import_roster_file(
                engine,
                file,
                settings=s,
                as_of=day,
                actor=s.actor,
                extra_headers=headers,
                progress=lambda step: status.update(f"正在导入：{step}……"),
            )
    except RosterFileError as exc:
        common.log.error("roster import failed: %s", exc)
        common.fail(exc.message_zh)
        return
    t = Table(title=f"导入结果（导入批次 {result.import_id}，生效日期 {day.isoformat()}）")
    for col in ("读取", "新增", "更新", "未变", "未通过"):
        t.add_column(col, justify="right")
    t.add_row(*(str(v) for v in (result.read, result.new, result.updated, result.unchanged, result.rejected)))
    common.console.print(t)
    common.console.print(
        f"家庭：新增 {result.households_new}，更新 {result.households_updated}，未变 {result.households_unchanged}；"
        f"类别：新纳入 {result.categories_opened}，退出 {result.categories_closed}。"
    )
    for w in warnings:
        common.console.print(f"[yellow]提示：[/]{w}")
    if result.rejects_path:
        common.console.print(f"未通过的 {result.rejected} 行及原因见：{result.rejects_path}")


@app.command("export")
def export_cmd(
    out: Path = typer.Option(
        None, "--out", "-o", help="输出文件（.xlsx 或 .csv），默认在数据目录 exports 下"
    ),
    fmt: str = typer.Option("xlsx", "--format", help="xlsx 或 csv（未指定 --out 时使用）"),
    on: str = typer.Option(None, "--date", help="名册日期，默认今天（YYYY-MM-DD）"),
    division: str = typer.Option(None, "--division", help="只导出该行政区划（代码前缀，如 520102）"),
    unmasked: bool = typer.Option(False, "--unmasked", help="导出完整姓名和身份证号（记入审计日志）"),
    reason: str = typer.Option(None, "--reason", help="导出未脱敏数据的理由（--unmasked 时必填）"),
) -> None:
    """导出名册。默认对姓名和公民身份号码脱敏；每次导出都记入审计日志。"""
    s = common.settings()
    day = common.parse_day(on, "--date")
    if fmt not in ("xlsx", "csv"):
        common.fail("--format 只能是 xlsx 或 csv。")
    path = out or s.data_dir / "exports" / f"名册-{division or s.province_code}-{day.isoformat()}.{fmt}"
    engine = common.engine(s)
    try:
        rows = export_register(
            engine, path=path, on=day, actor=s.actor, division_code=division, unmasked=unmasked, reason=reason
        )
    except ExportError as exc:
        common.fail(exc.message_zh)
        return
    masked = "未脱敏（已记入审计日志）" if unmasked else "已脱敏"
    common.console.print(f"已导出 {rows} 人（{masked}）：{path}")


@app.command("summary")
def summary_cmd(on: str = typer.Option(None, "--date", help="统计日期，默认今天（YYYY-MM-DD）")) -> None:
    """按类别统计某一日期在册的家庭和人数（例如：2025-06-30 有多少低保对象）。"""
    s = common.settings()
    day = common.parse_day(on, "--date")
    engine = common.engine(s)
    with engine.connect() as conn:
        counts = queries.category_counts(conn, on=day)
    t = Table(title=f"{day.isoformat()} 在册人数")
    t.add_column("类别")
    t.add_column("户数", justify="right")
    t.add_column("人数", justify="right")
    for row in counts.to_pylist():
        t.add_row(
            codes.CATEGORIES.get(row["category"], row["category"]),
            str(row["households"]),
            str(row["persons"]),
        )
    common.console.print(t)
