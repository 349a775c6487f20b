"""``doudi params``: the program parameters in force for a division on a date, and a check of
parameter files (every problem at once, ``file:line:col: key: message``)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from doudi.cli import common
from doudi.divisions import DivisionCatalog, DivisionError, Level, level_of_code
from doudi.programs.display import AREA_ZH, format_value
from doudi.programs.parameters import (
    AREAS,
    DEFAULT_DIR,
    Parameter,
    ParameterError,
    ParameterSet,
    Resolved,
    default_parameters,
    load_parameters,
)

app = typer.Typer(help="救助参数：查看某地某日适用的参数，检查参数文件。", no_args_is_help=True)

PLACEHOLDER_ZH = "待确认"


def _division_label(catalog: DivisionCatalog, code: str) -> str:
    """``522701 都匀市``; one Chinese sentence and exit 2 for a code that is not in the province.

    Village codes (12 digits) come from rosters and are not in the Ministry list, so they are
    accepted when their township is known.
    """
    hint = "请核对代码：6位为省、市（州）、县（市、区），9位为乡镇（街道），12位为村（社区），如 520102。"
    try:
        if level_of_code(code) is Level.VILLAGE and code not in catalog:
            if code[:9] not in catalog:
                common.fail(f"村（社区）代码{code}的乡镇部分{code[:9]}不在行政区划目录中，{hint}")
            return f"{code}（{catalog.require(code[:9]).name}的村、社区）"
        return f"{code} {catalog.require(code).name}"
    except DivisionError as exc:
        common.fail(f"{exc.reason}，{hint}")
    raise AssertionError  # unreachable: fail() exits


def _shipped() -> ParameterSet:
    try:
        return default_parameters()
    except ParameterError as exc:
        common.log.error("shipped parameters are invalid: %s", exc)
        common.fail("系统自带的参数文件有误，请运行 doudi params check 查看每一处问题。")
    raise AssertionError  # unreachable: fail() exits


def _rows(
    params: ParameterSet, code: str, areas: list[str], day: dt.date
) -> list[tuple[Parameter, str, Resolved | None]]:
    """(parameter, area, value in force or None) in name order; by-area parameters once per area."""
    rows: list[tuple[Parameter, str, Resolved | None]] = []
    for name in sorted(params.parameters):
        param = params[name]
        for area in areas if param.by_area else ["all"]:
            try:
                resolved: Resolved | None = params.resolve(name, code, area, day)
            except LookupError:
                resolved = None
            rows.append((param, area, resolved))
    return rows


@app.command("show")
def show_cmd(
    division: str = typer.Argument(
        ..., help="行政区划代码：6位（省、市、县）、9位（乡镇、街道）或12位（村、社区），如 520102"
    ),
    on: str = typer.Option(None, "--date", help="日期，默认今天（YYYY-MM-DD）"),
    area: str = typer.Option(None, "--area", help="urban（城市）或 rural（农村）；默认两者都列出"),
) -> None:
    """列出某地某日适用的全部救助参数：取值、从哪一级区划继承、起始日期、政策依据、是否待确认。"""
    day = common.parse_day(on, "--date")
    if area is not None and area not in AREAS:
        common.fail(f"--area 只能是 urban（城市）或 rural（农村），收到“{area}”。")
    params = _shipped()
    code = division.strip()
    label = _division_label(params.catalog, code)
    rows = _rows(params, code, [area] if area else list(AREAS), day)

    title = f"{label} 在 {day.isoformat()} 适用的救助参数" + (f"（{AREA_ZH[area]}）" if area else "")
    t = Table(title=escape(title), show_lines=True)
    t.add_column("参数及说明", overflow="fold", ratio=4)
    t.add_column("城乡", no_wrap=True)
    t.add_column("取值", overflow="fold", ratio=2)
    t.add_column("适用区划", overflow="fold", ratio=2)
    t.add_column("起始日期", no_wrap=True)
    t.add_column("依据", no_wrap=True)
    t.add_column("状态", overflow="fold")
    # References are long and shared by many rows: numbered notes under the table.
    references: dict[str, int] = {}
    missing = 0
    for param, a, r in rows:
        reference = r.reference if r is not None else param.reference
        note = references.setdefault(reference, len(references) + 1)
        status = [f"[yellow]{PLACEHOLDER_ZH}[/]"] if param.placeholder else []
        if r is None:
            missing += 1
            status.insert(0, "[red]该日无取值[/]")
            value, source, since = "[red]无[/]", "—", "—"
        else:
            name = params.catalog.require(r.division_code).name
            value = escape(format_value(r.value, r.unit))
            source, since = escape(f"{r.division_code} {name}"), r.start.isoformat()
        t.add_row(
            f"{escape(param.name)}\n[dim]{escape(param.description)}[/]",
            AREA_ZH[a],
            value,
            source,
            since,
            f"[{note}]",  # digits in brackets are not Rich markup
            "，".join(status),
        )
    common.console.print(t)
    common.console.print("依据：")
    for reference, note in references.items():
        common.console.print(f"  [{note}] {escape(reference)}", soft_wrap=True)

    placeholders = sum(1 for p in params.parameters.values() if p.placeholder)
    common.console.print(
        f"共 {len(params.parameters)} 个参数，其中 {placeholders} 个标为“{PLACEHOLDER_ZH}”："
        "是尚待民政厅确认的占位值，不能作为正式认定和发放的依据。"
    )
    if missing:
        common.console.print(
            f"[red]有 {missing} 项在 {day.isoformat()} 没有取值[/]（该日期早于参数最早的起始日期）。"
        )


@app.command("check")
def check_cmd(
    directory: Path = typer.Argument(None, help="参数文件目录（其中的 *.yaml），默认检查系统自带的参数"),
) -> None:
    """检查参数文件：一次列出全部问题（文件:行:列: 参数: 说明）；有问题时退出码为 1。"""
    directory = directory or DEFAULT_DIR
    if not directory.is_dir():
        common.fail(f"找不到参数文件目录：{directory}")
    try:
        params = load_parameters(directory)
    except ParameterError as exc:
        # Plain lines, never wrapped: "file:line:col:" is what editors and grep understand.
        typer.echo(f"检查目录：{directory}")
        for problem in exc.problems:
            typer.echo(str(problem))
        typer.echo(f"共 {len(exc.problems)} 处问题，请按“文件:行:列”找到位置逐一修改，改完再运行本命令检查。")
        raise typer.Exit(1) from None
    placeholders = sum(1 for p in params.parameters.values() if p.placeholder)
    typer.echo(f"参数文件检查通过：{len(params.parameters)} 个参数")
    if placeholders:
        typer.echo(f"其中 {placeholders} 个标为“{PLACEHOLDER_ZH}”（placeholder: true），尚待民政厅确认。")
