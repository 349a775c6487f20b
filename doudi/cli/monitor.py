"""``doudi monitor``: the monthly monitoring run and its reports."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from doudi.cli import common
from doudi.monitor.alerts import alert_summary
from doudi.monitor.report import write_reports
from doudi.monitor.rules import SEVERITIES, RuleError
from doudi.monitor.run import MonitorError, MonitorResult, run_monitor
from doudi.periods import Period, PeriodError

app = typer.Typer(help="动态监测：按月比对部门数据、按规则生成预警、输出预警清单。", no_args_is_help=True)


def _period(value: str) -> str:
    try:
        return str(Period.parse(value))
    except PeriodError as err:
        common.fail(str(err))
    raise AssertionError  # unreachable


def print_result(result: MonitorResult) -> None:
    """The alert summary of a run, for the user."""
    m = result.merge
    common.console.print(
        f"{result.period} 动态监测（引擎 {result.engine}，第 {result.run_id} 次运行）：监测对象 {result.subjects:,} 人，"
        f"命中规则 {result.candidates:,} 条；新预警 {m.new:,}，更新 {m.updated:,}，未变 {m.unchanged:,}，"
        f"关闭后抑制 {m.suppressed:,}；用时 {result.duration_s:.1f} 秒。"
    )
    t = Table(title=f"{result.period} 预警（按规则）")
    for col in ("规则", "标题", "级别", "预警数", "其中未在册（主动发现）"):
        t.add_column(col, justify="right" if col.endswith("数") or col.startswith("其中") else "left")
    total = discovery = 0
    for row in result.by_rule.to_pylist():
        t.add_row(
            row["rule_id"],
            row["title"],
            SEVERITIES.get(row["severity"], row["severity"]),
            f"{row['alerts']:,}",
            f"{row['discovery']:,}",
        )
        total += row["alerts"]
        discovery += row["discovery"]
    t.add_row("合计", "", "", f"{total:,}", f"{discovery:,}")
    common.console.print(t)


@app.command("run")
def run_cmd(
    period: str = typer.Option(..., "--period", help="监测月份，如 2026-11"),
    engine: str = typer.Option(
        "duckdb", "--engine", help="计算引擎：duckdb（默认，单机）或 spark（横向扩展）"
    ),
    spark_master: str = typer.Option(None, "--spark-master", help="Spark 集群地址，默认本机 local[2]"),
    rules_dir: Path = typer.Option(None, "--rules-dir", help="规则目录，默认使用内置规则"),
    debug: bool = typer.Option(False, "--debug", help="逐步打印特征计算的 SQL 和行数"),
) -> None:
    """按月运行动态监测：名册快照、部门数据特征、预警规则，写回预警并打印汇总。"""
    p = _period(period)
    if engine not in ("duckdb", "spark"):
        common.fail(f"--engine 只能是 duckdb 或 spark，收到“{engine}”。")
    s = common.settings()
    db = common.engine(s)
    with common.console.status(f"正在运行 {p} 动态监测……") as status:
        try:
            result = run_monitor(
                db,
                s,
                period=p,
                engine=engine,
                spark_master=spark_master,
                rules_dir=rules_dir,
                debug=(lambda text: common.console.print(text, markup=False, highlight=False))
                if debug
                else None,
                step=lambda name: status.update(f"{p} 动态监测：{name}……"),
            )
        except RuleError as err:
            for problem in err.problems:
                common.err_console.print(str(problem), markup=False)
            common.fail(f"预警规则有 {len(err.problems)} 处错误，本次监测没有运行。")
        except MonitorError as err:
            common.fail(err.message_zh, code=1)
    print_result(result)


@app.command("report")
def report_cmd(
    period: str = typer.Option(..., "--period", help="监测月份，如 2026-11"),
    out: Path = typer.Option(None, "--out", help="输出目录，默认 数据目录/reports/monitor/月份"),
) -> None:
    """输出某月预警清单：每县一个 XLSX（按乡镇分页，身份证号和姓名已脱敏），另有全省汇总表。"""
    p = _period(period)
    s = common.settings()
    db = common.engine(s)
    out_dir = out or s.data_dir / "reports" / "monitor" / p
    files = write_reports(db, period=p, out_dir=out_dir, actor=s.actor)
    summary = alert_summary(db, period=p)
    if summary.num_rows == 0:
        common.console.print(f"{p} 没有预警。汇总表：{files.summary_path}")
        return
    t = Table(title=f"{p} 预警汇总（按级别）")
    for col in ("级别", "预警数", "本月新增", "其中未在册（主动发现）"):
        t.add_column(col, justify="left" if col == "级别" else "right")
    for sev in ("red", "orange", "yellow"):
        rows = [r for r in summary.to_pylist() if r["severity"] == sev]
        if rows:
            t.add_row(
                SEVERITIES[sev],
                f"{sum(r['alerts'] for r in rows):,}",
                f"{sum(r['new'] for r in rows):,}",
                f"{sum(r['discovery'] for r in rows):,}",
            )
    common.console.print(t)
    common.console.print(f"各县预警清单 {len(files.county_files)} 个，在 {out_dir}")
    common.console.print(f"全省汇总表：{files.summary_path}")
