"""Helpers shared by the command groups: settings, engine, dates, and user-facing errors."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import NoReturn, TypeVar

import typer
from rich.console import Console
from sqlalchemy import Engine

from doudi.auth import Actor
from doudi.auth.users import get_actor
from doudi.db.engine import make_engine
from doudi.db.migrate import upgrade
from doudi.errors import UserFacingError
from doudi.settings import Settings, get_settings

console = Console()
err_console = Console(stderr=True)
log = logging.getLogger("doudi")


def settings() -> Settings:
    s = get_settings()
    s.ensure_dirs()
    return s


def engine(s: Settings | None = None, *, migrate: bool = True) -> Engine:
    """An engine on the configured database, migrated to the current schema first."""
    s = s or settings()
    if migrate:
        upgrade(s.sqlalchemy_url)
    return make_engine(s.sqlalchemy_url)


def parse_day(value: str | None, option: str = "--as-of") -> dt.date:
    if not value:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        fail(f"{option} 应为日期，格式如 2025-10-01，收到“{value}”。")
    raise AssertionError  # unreachable: fail() exits


def fail(message_zh: str, code: int = 2) -> NoReturn:
    """Print one clear sentence for the user and exit non-zero."""
    err_console.print(f"[bold red]错误：[/]{message_zh}")
    raise typer.Exit(code)


def acting_user(engine: Engine, username: str | None) -> Actor:
    """The staff account a command acts as (``--user``, else the DOUDI_ACTOR setting)."""
    name = username or get_settings().actor
    try:
        return get_actor(engine, name)
    except UserFacingError as exc:
        fail(exc.message_zh)
    raise AssertionError  # unreachable: fail() exits


def fail_on(exc: UserFacingError) -> NoReturn:
    """Print the error's Chinese message and its detail lines, and exit non-zero."""
    err_console.print(f"[bold red]错误：[/]{exc.message_zh}")
    for line in exc.details:
        err_console.print(f"  {line}")
    raise typer.Exit(2)


# --- shared by the case-work commands --------------------------------------------------------

USER = typer.Option(None, "--user", help="以哪个用户的身份办理（默认 DOUDI_ACTOR）")
VERSION = typer.Option(
    None, "--expected-version", help="您看到的版本号（列表和详情中的“版本”；他人已修改时拒绝保存，避免覆盖）"
)
R = TypeVar("R")


def run_as(username: str | None, act: Callable[[Engine, Actor], R]) -> R:
    """Run a service call as the acting user; a user-facing error exits with its Chinese message."""
    eng = engine()
    actor = acting_user(eng, username)
    try:
        return act(eng, actor)
    except UserFacingError as exc:
        fail_on(exc)


def parse_money(value: str | None, option: str) -> Decimal | None:
    """An amount in yuan as typed (``1,200.50``, ``650元``), or a clear error."""
    if value is None:
        return None
    try:
        return Decimal(value.replace(",", "").replace("元", "").strip())
    except InvalidOperation:
        fail(f"{option} 应为金额（元），如 650 或 1200.50，收到“{value}”。")
    raise AssertionError  # unreachable: fail() exits
