"""The ``doudi`` command."""

from __future__ import annotations

import logging

import typer

from doudi.cli import cases, db, feeds, monitor, params, programs, registry, rules, tokens, users
from doudi.cli.demo import demo_cmd
from doudi.cli.serve import serve_cmd
from doudi.settings import Settings

app = typer.Typer(
    help="兜底：低收入人口动态监测与社会救助平台。", no_args_is_help=True, pretty_exceptions_enable=False
)
app.add_typer(cases.app, name="cases")
app.add_typer(db.app, name="db")
app.add_typer(feeds.app, name="feeds")
app.add_typer(monitor.app, name="monitor")
app.add_typer(params.app, name="params")
app.add_typer(programs.app, name="programs")
app.add_typer(registry.app, name="registry")
app.add_typer(rules.app, name="rules")
app.add_typer(tokens.app, name="tokens")
app.add_typer(users.app, name="users")
app.command("demo")(demo_cmd)
app.command("serve")(serve_cmd)


@app.callback()
def main(verbose: bool = typer.Option(False, "--verbose", "-v", help="输出调试日志（英文）")) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@app.command("settings")
def settings_cmd() -> None:
    """列出全部配置项（环境变量 DOUDI_*）及其说明。"""
    for name, field in Settings.model_fields.items():
        typer.echo(f"DOUDI_{name.upper()}  (default: {field.default})\n    {field.description}")
