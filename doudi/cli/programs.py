"""``doudi programs``: assess one household, run the whole registry, simulate a change."""

from __future__ import annotations

import datetime as dt
import json
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import typer
from pydantic import ValidationError
from rich.table import Table

from doudi.cli import common
from doudi.programs.engine import assess
from doudi.programs.explain import PROGRAM_NAMES, explain
from doudi.programs.inputs import HouseholdInput
from doudi.programs.parameters import ParameterError, default_parameters
from doudi.programs.run import RunResult, Source, load_households, run_programs
from doudi.programs.simulate import (
    PAID,
    SHORT_NAMES,
    SOURCES,
    ScenarioError,
    SimulationResult,
    load_scenario,
    short_prefecture,
    simulate,
    slug,
    write_reports,
)

app = typer.Typer(help="救助测算：单户测算、全名册测算、政策调整模拟。", no_args_is_help=True)


def _field(loc: tuple[object, ...]) -> str:
    return ".".join(str(p) for p in loc) or "（整户）"


@app.command("assess")
def assess_cmd(
    file: Path = typer.Argument(
        ..., help="家庭信息 JSON 文件（格式见 docs/programs-io.md，示例见 examples/）"
    ),
    on: str = typer.Option(None, "--date", help="测算日期，覆盖文件中的 date（YYYY-MM-DD）"),
) -> None:
    """测算一户家庭可享受的各项救助及金额，逐项说明依据（输出 JSON）。"""
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        common.fail(f"找不到文件“{file}”。")
        return
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        common.fail(f"文件“{file.name}”不是有效的 JSON（UTF-8）：{exc}")
        return
    if on and isinstance(data, dict):
        data["date"] = on
    try:
        household = HouseholdInput.model_validate(data)
    except ValidationError as exc:
        lines = [f"{_field(e['loc'])}：{e['msg']}" for e in exc.errors()]
        common.fail("家庭信息有误，请修改后重试：\n  " + "\n  ".join(lines))
        return
    try:
        params = default_parameters()
        results = assess(household, params)
    except ParameterError as exc:
        common.fail("参数文件有误：\n" + "\n".join(str(p) for p in exc.problems))
        return
    except LookupError as exc:
        common.fail(f"该日期没有生效的参数：{exc}")
        return
    typer.echo(json.dumps(explain(household, results, params), ensure_ascii=False, indent=2, default=str))


def print_run(result: RunResult, title: str) -> None:
    """Recipients and monthly cost by program, then by prefecture (shared with ``doudi demo``)."""
    t = Table(title=title)
    for col in ("救助项目", "户数", "人数", "月支出（元）"):
        t.add_column(col, justify="left" if col == "救助项目" else "right")
    for row in result.by_program.to_pylist():
        t.add_row(
            PROGRAM_NAMES[row["program"]],
            f"{row['households']:,}",
            f"{row['persons']:,}",
            f"{Decimal(row['monthly_amount']):,.2f}",
        )
    common.console.print(t)
    pivot: dict[str, dict[str, Decimal]] = {}
    for row in result.by_prefecture.to_pylist():
        pivot.setdefault(row["prefecture"], {})[row["program"]] = Decimal(row["monthly_amount"])
    t = Table(title="按市（州）月支出（万元）")
    short = {
        "dibao": "低保",
        "tekun": "特困",
        "temporary_assistance": "临时救助",
        "disability_care_subsidy": "护理补贴",
        "disability_living_subsidy": "生活补贴",
    }
    t.add_column("市（州）")
    for label in short.values():
        t.add_column(label, justify="right")
    t.add_column("合计", justify="right")
    wan = Decimal(10000)
    for prefecture, amounts in pivot.items():
        t.add_row(
            prefecture.replace("布依族苗族自治州", "州").replace("苗族侗族自治州", "州"),
            *(f"{amounts.get(p, Decimal(0)) / wan:,.1f}" for p in short),
            f"{sum(amounts.values(), Decimal(0)) / wan:,.1f}",
        )
    common.console.print(t)


@app.command("run")
def run_cmd(
    on: str = typer.Option(None, "--date", help="测算日期，默认今天（YYYY-MM-DD）"),
    source: str = typer.Option(
        "registry", "--source", help="registry（名册，默认）或 population（模拟省份全体人口）"
    ),
) -> None:
    """按现行政策测算名册中每户可享受的救助，结果写入数据目录 programs/，并按项目、市（州）汇总。"""
    s = common.settings()
    day = common.parse_day(on, "--date")
    if source not in ("registry", "population"):
        common.fail("--source 只能是 registry 或 population。")
    src: Source = "registry" if source == "registry" else "population"
    try:
        with common.console.status("正在测算……"):
            result = run_programs(src, on=day, engine=common.engine(s), data_dir=s.data_dir)
    except FileNotFoundError:
        common.fail("没有模拟省份的人口文件，请先运行 doudi demo。")
        return
    except LookupError as exc:
        common.fail(f"该日期没有生效的参数：{exc}")
        return
    print_run(
        result,
        f"{day.isoformat()} 测算结果（{'名册' if src == 'registry' else '模拟省份全体人口'}，{result.results.num_rows:,} 户）",
    )
    if result.path:
        common.console.print(f"逐户结果：{result.path}")


def _wan(yuan: Decimal, signed: bool = False) -> str:
    """Yuan shown in 万元 to one decimal, rounded half up; ``signed`` puts + before increases."""
    value = (yuan / 10000).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return f"{value:+,}" if signed and yuan else f"{value:,}"


def print_simulation(result: SimulationResult) -> None:
    """Per program, then per prefecture, then the urban–rural standard ratio."""
    sc = result.scenario
    common.console.print(f"测算方案：{sc.name}", soft_wrap=True)
    for i, change in enumerate(sc.changes, start=1):
        common.console.print(f"  {i}. {change.describe(result.params_before)}", soft_wrap=True)
    t = Table(
        title=f"{sc.name}（测算日期 {sc.date.isoformat()}，{SOURCES.get(result.source or '', '')}"
        f" {result.households:,} 户）：与现行参数相比"
    )
    for col in (
        "救助项目",
        "新增户数",
        "退出户数",
        "新增户人数",
        "退出户人数",
        "月支出变化（万元）",
        "年支出变化（万元）",
    ):
        t.add_column(col, justify="left" if col == "救助项目" else "right", overflow="fold")
    for row in result.by_program.to_pylist():
        paid = row["program"] in PAID
        t.add_row(
            SHORT_NAMES[row["program"]],
            f"{row['households_new']:,}",
            f"{row['households_lost']:,}",
            f"{row['persons_new']:,}",
            f"{row['persons_lost']:,}",
            _wan(row["monthly_change"], signed=True) if paid else "—",
            _wan(row["annual_change"], signed=True) if paid else "—",
        )
    common.console.print(t)
    # Household counts of the paying program that moved most; money summed over all programs.
    moved = {
        r["program"]: r["households_new"] + r["households_lost"]
        for r in result.by_program.to_pylist()
        if r["program"] in PAID
    }
    focus = max(PAID, key=lambda p: (moved.get(p, 0), p == "dibao"))
    label = SHORT_NAMES[focus]
    counts: dict[str, tuple[int, int]] = {}
    money: dict[str, tuple[Decimal, Decimal]] = {}
    for r in result.by_prefecture.to_pylist():
        if r["program"] == focus:
            counts[r["prefecture"]] = (r["households_new"], r["households_lost"])
        before, after = money.get(r["prefecture"], (Decimal(0), Decimal(0)))
        money[r["prefecture"]] = (before + r["monthly_before"], after + r["monthly_after"])
    t = Table(title=f"按市（州）：{label}户数变化，各项目合计月支出（万元）")
    for col in (
        "市（州）",
        f"{label}新增户数",
        f"{label}退出户数",
        "调整前月支出",
        "调整后月支出",
        "月支出变化",
        "年支出变化",
    ):
        t.add_column(col, justify="left" if col == "市（州）" else "right", overflow="fold")
    for prefecture, (before, after) in money.items():
        new, lost = counts.get(prefecture, (0, 0))
        t.add_row(
            short_prefecture(prefecture),
            f"{new:,}",
            f"{lost:,}",
            _wan(before),
            _wan(after),
            _wan(after - before, signed=True),
            _wan(12 * (after - before), signed=True),
        )
    common.console.print(t)
    r = result.ratio
    common.console.print(
        f"城乡低保标准比（城市÷农村）：全省标准 {r.province_before} → {r.province_after}；"
        f"按县人口加权平均 {r.weighted_before} → {r.weighted_after}。",
        soft_wrap=True,
    )


@app.command("simulate")
def simulate_cmd(
    scenario_file: Path = typer.Argument(
        ..., help="测算方案 YAML 文件（格式见 docs/simulation.md，示例见 examples/scenario-*.yaml）"
    ),
    out: Path = typer.Option(
        None, "--out", help="报表输出目录，默认为数据目录下 simulations/<方案名>-<时间>/"
    ),
    source: str = typer.Option(
        None,
        "--source",
        help="population（模拟省份全体人口）或 registry（名册）；默认取方案中的 source，"
        "方案未写时有模拟人口用 population，否则用名册",
    ),
) -> None:
    """政策调整模拟：按测算方案调整参数，与现行参数比较各项救助新增、退出的户数、人数和支出变化，
    按市（州）、县汇总，并生成 Excel、CSV 和图表。"""
    s = common.settings()
    if source is not None and source not in SOURCES:
        common.fail("--source 只能是 population（模拟省份全体人口）或 registry（名册）。")
    try:
        params = default_parameters()
    except ParameterError as exc:
        common.fail("参数文件有误：\n" + "\n".join(str(p) for p in exc.problems))
        return
    try:
        scenario = load_scenario(scenario_file, params)
    except ScenarioError as exc:
        common.fail(f"测算方案“{scenario_file.name}”有误，请修改后重试：\n  " + "\n  ".join(exc.problems))
        return
    has_population = (s.data_dir / "population" / "households.parquet").exists()
    chosen = source or scenario.source or ("population" if has_population else "registry")
    src: Source = "population" if chosen == "population" else "registry"
    try:
        with common.console.status("正在读取家庭数据……"):
            households, members = load_households(
                src,
                on=scenario.date,
                engine=common.engine(s) if src == "registry" else None,
                data_dir=s.data_dir,
            )
    except FileNotFoundError:
        common.fail("没有模拟省份的人口文件，请先运行 doudi demo，或改用 --source registry。")
        return
    if households.num_rows == 0:
        common.fail(
            f"{SOURCES[src]}中没有可测算的家庭（{scenario.date.isoformat()}），请先导入名册或运行 doudi demo。"
        )
    try:
        with common.console.status(f"正在测算 {households.num_rows:,} 户（现行参数与测算方案各一次）……"):
            result = simulate(scenario, households=households, members=members, params=params, source=src)
    except LookupError as exc:
        common.fail(f"测算日期没有生效的参数：{exc}")
        return
    del households, members
    print_simulation(result)
    out_dir = out or s.data_dir / "simulations" / f"{slug(scenario.name)}-{dt.datetime.now():%Y%m%d-%H%M%S}"
    with common.console.status("正在生成报表……"):
        xlsx, csv_path, png = write_reports(result, out_dir)
    common.console.print("逐县、逐项目的完整结果（金额精确到分，单位元）见报表：")
    for label, path in (("Excel 报表", xlsx), ("按县 CSV", csv_path), ("图表", png)):
        common.console.print(f"  {label}：{path}", soft_wrap=True, highlight=False)
