"""``doudi demo``: a synthetic Guizhou, its registry loaded, and a summary."""

from __future__ import annotations

import time

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from doudi.auth.roles import ROLES
from doudi.cases.demo import DEMO_PASSWORD, DemoCasework, demo_casework
from doudi.cases.labels import PROGRAMS_SHORT
from doudi.cases.labels import label as code_label
from doudi.cases.payroll import problems_text
from doudi.cli import common
from doudi.cli.monitor import print_result
from doudi.cli.programs import print_run
from doudi.feeds.contract import default_contracts
from doudi.monitor.demo import demo_monitoring
from doudi.periods import Period
from doudi.programs.run import run_programs
from doudi.registry import codes
from doudi.registry.demo import build_demo, default_as_of, demo_roster_path
from doudi.registry.synthetic import registry_roster, write_roster


def demo_cmd(
    persons: int = typer.Option(200_000, "--persons", help="全省人口规模（人），可到 5000000 以上"),
    seed: int = typer.Option(52, "--seed", help="随机种子：相同种子生成相同的省份"),
    as_of: str = typer.Option(None, "--as-of", help="名册日期，默认本月1日（YYYY-MM-DD）"),
    roster: bool = typer.Option(False, "--roster", help="同时把名册写成花名册 CSV（UTF-8，可用于测试导入）"),
) -> None:
    """生成一个模拟的贵州省（全体人口存为 Parquet），把其中的低收入家庭载入名册，按现行政策测算救助，并打印概况。"""
    if persons <= 0:
        common.fail("--persons 应为正整数。")
    s = common.settings()
    day = common.parse_day(as_of) if as_of else default_as_of()
    engine = common.engine(s)
    started = time.perf_counter()
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,} 人"),
        TimeElapsedColumn(),
        console=common.console,
        transient=True,
    ) as bar:
        task = bar.add_task("生成人口", total=persons)
        result = build_demo(
            engine,
            settings=s,
            persons=persons,
            seed=seed,
            as_of=day,
            actor=s.actor,
            progress=lambda done: bar.update(task, completed=done),
            step=lambda name: bar.update(task, description=name),
        )
    elapsed = time.perf_counter() - started
    p, load = result.province, result.load
    common.console.print(
        f"模拟省份（种子 {seed}，名册日期 {day.isoformat()}）：{p.persons:,} 人，{p.households:,} 户，"
        f"村（社区）{p.villages.num_rows:,} 个；用时 {elapsed:.1f} 秒。"
    )
    common.console.print(f"全体人口已保存：{p.population_dir}")
    t = Table(title="在册低收入人口（按类别）")
    t.add_column("类别")
    t.add_column("户数", justify="right")
    t.add_column("人数", justify="right")
    t.add_column("占总人口", justify="right")
    for code, label in codes.CATEGORIES.items():
        n = p.persons_by_category.get(code, 0)
        t.add_row(
            label, f"{p.households_by_category.get(code, 0):,}", f"{n:,}", f"{n / max(p.persons, 1):.2%}"
        )
    t.add_row(
        "合计（任一类别）",
        f"{p.registry_households:,}",
        f"{p.registry_persons:,}",
        f"{p.registry_persons / max(p.persons, 1):.2%}",
    )
    common.console.print(t)
    t = Table(title="在册低收入人口（按市州）")
    for col in ("市（州）", "户数", "人数"):
        t.add_column(col, justify="right" if col != "市（州）" else "left")
    for row in result.by_prefecture.to_pylist():
        t.add_row(row["prefecture"], f"{row['households']:,}", f"{row['persons']:,}")
    common.console.print(t)
    common.console.print(
        f"名册载入：读取 {load.read:,} 行，新增 {load.new:,}，更新 {load.updated:,}，未变 {load.unchanged:,}，"
        f"未通过 {load.rejected:,}。"
    )
    with common.console.status("正在按现行政策测算名册中每户的救助……"):
        run = run_programs("registry", on=day, engine=engine, data_dir=s.data_dir)
    print_run(run, f"{day.isoformat()} 救助测算（名册 {run.results.num_rows:,} 户，现行参数）")
    period = str(Period.of(day))
    with common.console.status(f"正在生成并载入 {period} 部门比对数据，运行动态监测……") as status:
        monitoring = demo_monitoring(
            engine,
            settings=s,
            period=period,
            seed=seed,
            actor=s.actor,
            step=lambda name: status.update(f"{period} {name}……"),
        )
    print_feeds(monitoring.feeds, period)
    print_result(monitoring.run)
    common.console.print(
        f"预警清单可用 [bold]doudi monitor report --period {period}[/] 按县导出（身份证号、姓名已脱敏）。"
    )
    with common.console.status("正在办理个案：演示账号、在册对象转为救助对象、逾期督办、本月发放名册……"):
        work = demo_casework(engine, on=day, period=period, actor=s.actor)
    print_casework(work, period)
    if roster:
        path = demo_roster_path(s, seed, persons)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_roster(registry_roster(p), path)
        common.console.print(f"花名册已写出：{path}")


def print_feeds(feeds: list, period: str) -> None:
    contracts = default_contracts()
    t = Table(title=f"{period} 部门比对数据载入")
    for col in ("数据", "提供部门", "读取行", "通过", "未通过（已隔离）", "匹配名册"):
        t.add_column(col, justify="left" if col in ("数据", "提供部门") else "right")
    for f in feeds:
        c = contracts[f.kind]
        if f.result is None:
            t.add_row(c.title, c.department, "", "", f"[red]{f.error_zh}[/]", "")
            continue
        r = f.result
        t.add_row(
            c.title,
            c.department,
            f"{r.rows_read:,}",
            f"{r.rows_good:,}",
            f"{r.rows_rejected:,}",
            f"{r.match_rate:.1%}",
        )
    common.console.print(t)


def print_casework(work: DemoCasework, period: str) -> None:
    """Recipients, the demo county's payment roll, the 动态清零 figures and the demo accounts."""
    e = work.enrolled
    common.console.print(
        f"在册对象转为救助对象：新增 {e.total:,} 个（{e.households:,} 户），已是救助对象而跳过 {e.skipped_existing:,} 项。"
    )
    t = Table(title=f"{period} 救助对象（按项目）")
    for col in ("项目", "对象数", "月救助金额（元）"):
        t.add_column(col, justify="left" if col == "项目" else "right")
    for program, n, amount in work.recipients:
        t.add_row(code_label(PROGRAMS_SHORT, program), f"{n:,}", f"{amount:,.2f}")
    common.console.print(t)
    r = work.roll
    state = "新生成并核查" if work.roll_generated else "已存在，未改动"
    problems = problems_text(r.problem_counts)
    common.console.print(
        f"{r.county_name} {period} 发放名册（{state}）：{r.lines:,} 行，合计 {r.total:,.2f} 元，"
        f"核查问题 {r.problems:,} 行（{problems}）；状态：{r.status_label}。"
    )
    if work.assigned:
        common.console.print(
            f"演示乡镇 {work.township_code} 的 {work.assigned:,} 条待分派预警已分派给 demo.worker。"
        )
    if work.escalated:
        common.console.print(f"逾期未办结预警已提交县级督办：{work.escalated:,} 条。")
    total = work.stats.total
    median = "—" if total.median_days_to_help is None else f"{total.median_days_to_help:.1f} 天"
    common.console.print(
        f"动态清零（全省）：预警 {total.raised:,}，期限内核查 {total.verified_within_due:,}，已帮扶 {total.helped:,}，"
        f"未办结 {total.open:,}，逾期 {total.overdue:,}，预警到帮扶中位数 {median}。"
    )
    t = Table(title=f"演示账号（密码均为 {DEMO_PASSWORD}）")
    for col in ("用户名", "角色", "管辖区划"):
        t.add_column(col)
    for a in work.accounts:
        t.add_row(a.username, ROLES[a.role].label, a.division_code)
    common.console.print(t)
    common.console.print(
        "网页：[bold]doudi serve[/] 后打开 http://127.0.0.1:8000/ ，用上表任一账号登录"
        "（./scripts/demo.sh 会自动启动）。"
    )
    common.console.print(
        "试一试：[bold]doudi cases inbox --user demo.worker[/]（乡镇预警待办），"
        f"[bold]doudi cases roll show {work.roll.id} --user demo.county[/]（本县发放名册），"
        "[bold]doudi cases stats --user demo.analyst[/]。"
    )
