"""``doudi programs``: assess one household, run the whole registry, simulate a change."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import typer
from pydantic import ValidationError
from rich.table import Table

from doudi.cli import common
from doudi.programs.engine import assess
from doudi.programs.explain import PROGRAM_NAMES, explain
from doudi.programs.inputs import HouseholdInput
from doudi.programs.parameters import ParameterError, default_parameters
from doudi.programs.run import RunResult, Source, run_programs

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
