"""``doudi rules``: check alert rule files (every problem at once, ``文件:行:列 规则id：消息``)
and list the rules, optionally those in force on a date."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from doudi.cli import common
from doudi.monitor.rules import GRAINS, RULES_DIR, SEVERITIES, Rule, RuleError, check_rules, load_rules

app = typer.Typer(help="预警规则：检查规则文件，列出规则。", no_args_is_help=True)

_SEVERITY_STYLE = {"red": "bold red", "orange": "dark_orange", "yellow": "yellow"}


def _directory(directory: Path | None) -> Path:
    directory = directory or RULES_DIR
    if not directory.is_dir():
        common.fail(f"找不到规则目录：{directory}")
    return directory


@app.command("check")
def check_cmd(
    directory: Path = typer.Argument(None, help="规则文件目录（其中的 *.yaml），默认检查系统自带的规则"),
) -> None:
    """检查规则文件：一次列出全部问题（文件:行:列 规则id：说明）；有问题时退出码为 1。"""
    directory = _directory(directory)
    rules, problems = check_rules(directory)
    if problems:
        # Plain lines, never wrapped: "file:line:col" is what editors and grep understand.
        typer.echo(f"检查目录：{directory}")
        for problem in problems:
            typer.echo(str(problem))
        files = len({p.file for p in problems})
        typer.echo(
            f"共 {len(problems)} 处问题（{files} 个文件），请按“文件:行:列”找到位置逐一修改，改完再运行本命令检查。"
        )
        raise typer.Exit(1)
    if not rules:
        typer.echo(f"目录 {directory} 中没有规则文件（*.yaml）。")
        raise typer.Exit(1)
    files = len({r.file for r in rules})
    typer.echo(f"规则检查通过：{len(rules)} 条规则，{files} 个文件。")


def _object(rule: Rule) -> str:
    return f"{GRAINS[rule.grain]}：{rule.applies_to.label()}"


@app.command("list")
def list_cmd(
    on: str = typer.Option(None, "--on", help="只列出该日生效的规则，如 2026-11-30；不写则列出全部"),
    directory: Path = typer.Option(None, "--dir", help="规则文件目录，默认为系统自带的规则"),
) -> None:
    """列出预警规则：编号、版本、标题、级别、对象和生效日期。"""
    day = common.parse_day(on, "--on") if on else None
    try:
        rules = load_rules(_directory(directory) if directory else None)
    except RuleError as exc:
        typer.echo(
            f"规则文件有 {len(exc.problems)} 处问题，请先运行 doudi rules check 查看并修改。", err=True
        )
        raise typer.Exit(1) from None
    if day is not None:
        rules = [r for r in rules if r.in_force(day)]
    title = f"{day.isoformat()} 生效的预警规则" if day else "全部预警规则"
    table = Table(title=f"{title}（{len(rules)} 条）")
    # The id is what `grep` and the rule files know a rule by: never cut it; Chinese text has
    # no spaces to wrap at, so it folds by character instead of being cut with an ellipsis.
    width = max((len(r.id) for r in rules), default=4)
    table.add_column("规则", no_wrap=True, min_width=width)
    table.add_column("版本", no_wrap=True)
    table.add_column("标题", overflow="fold")
    table.add_column("级别", no_wrap=True)
    table.add_column("对象", overflow="fold")
    table.add_column("生效", overflow="fold")
    for rule in rules:
        style = _SEVERITY_STYLE[rule.severity]
        table.add_row(
            rule.id,
            str(rule.version),
            escape(rule.title),
            f"[{style}]{SEVERITIES[rule.severity]}[/]",
            escape(_object(rule)),
            rule.effective_label(),
        )
    common.console.print(table)
