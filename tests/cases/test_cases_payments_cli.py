"""``doudi cases recipients|roll|reviews``: recipients, the monthly roll and reviews as staff use them."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pytest
from case_world import build_world
from rich.console import Console
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from doudi.cases import ledger
from doudi.cli import common
from doudi.cli.main import app
from doudi.settings import Settings

runner = CliRunner()


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(common, "console", Console(width=250))
    monkeypatch.setattr(common, "err_console", Console(width=250, stderr=True))


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[dt.datetime], None]:
    def set_to(when: dt.datetime) -> None:
        monkeypatch.setattr(ledger, "now", lambda: when)

    return set_to


def cli(*args: str) -> str:
    result = runner.invoke(app, ["cases", *args])
    assert result.exit_code == 0, result.output
    return result.output


def cli_error(*args: str) -> str:
    result = runner.invoke(app, ["cases", *args])
    assert result.exit_code == 2, result.output
    return result.output


def _recipient(engine: Engine, household_no: str, program: str) -> str:
    with engine.connect() as conn:
        return str(
            conn.execute(
                text(
                    """SELECT r.id FROM recipients r JOIN households h ON h.id = r.household_id
                       WHERE h.household_no = :no AND r.program = :p"""
                ),
                {"no": household_no, "p": program},
            ).scalar_one()
        )


def test_go_live_change_roll_and_export(
    settings: Settings, engine: Engine, clock: Callable[[dt.datetime], None], tmp_path: Path
) -> None:
    build_world(engine, with_alerts=False)
    clock(dt.datetime(2026, 12, 1, 9, 0))
    out = cli("recipients", "enrol-registry", "--on", "2026-12-01", "--user", "admin")
    assert "已新增救助对象 4 个（4 户）" in out and "低保 2" in out and "发放自 2026-12 起" in out
    assert "没有新增救助对象" in cli("recipients", "enrol-registry", "--on", "2026-12-01")
    out = cli("recipients", "list", "--month", "2026-12", "--user", "worker1")
    assert "共 2 个" in out and "1,967.40" in out and "甲*" in out and "X001" not in out
    n001 = _recipient(engine, "N001", "dibao")
    out = cli(
        "recipients",
        "change",
        n001,
        "--from-month",
        "2027-01",
        "--amount",
        "9800",
        "--reason",
        "收入增加",
        "--user",
        "worker1",
    )
    assert "自 2027-01 起调整待遇" in out and "版本 2" in out
    err = cli_error(
        "recipients",
        "stop",
        n001,
        "--from-month",
        "2027-02",
        "--reason",
        "x",
        "--expected-version",
        "1",
        "--user",
        "worker1b",
    )
    assert "已被他人修改" in err
    assert "不存在，或不在您的管辖范围内" in cli_error("recipients", "show", n001, "--user", "worker2")
    out = cli("recipients", "show", n001, "--user", "worker1")
    assert "9,800.00" in out and "调整待遇" in out and "收入增加" in out
    out = cli("roll", "generate", "--county", "520102", "--period", "2027-01", "--user", "county1")
    roll = re.search(r"发放名册 (\d+)", out).group(1)  # type: ignore[union-attr]
    assert "南明区 2027-01" in out and "草稿" in out and "2 行" in out
    out = cli("roll", "check", roll, "--user", "county1")
    assert "已核查" in out and "金额超过标准 1 行" in out
    problems = cli("roll", "problems", roll, "--user", "county1")
    lines = re.findall(r"│ (\d+) +│", problems)
    assert len(lines) == 1 and "N001" in problems and "上限" in problems
    for line in lines:
        cli("roll", "resolve", line, "--keep", "--resolution", "已入户核实", "--user", "county1")
    assert "审核与确认分离" in cli_error("roll", "confirm", roll, "--user", "county1")
    out = cli("roll", "confirm", roll, "--user", "county1b")
    assert "已确认（冻结）" in out
    assert "不能重新生成" in cli_error(
        "roll", "generate", "--county", "520102", "--period", "2027-01", "--user", "county1"
    )
    assert "南明区" in cli("roll", "list", "--user", "analyst")
    path = tmp_path / "roll.xlsx"
    out = cli("roll", "export", roll, "--out", str(path), "--user", "county1")
    assert "已脱敏" in out
    wb = openpyxl.load_workbook(path, read_only=True)
    rows = list(wb["发放名册"].iter_rows(values_only=True))
    wb.close()
    assert rows[0][0] == "南明区 2027年1月 城乡低保等救助资金发放名册" and rows[-1][0] == "合计"
    assert "须填写理由" in cli_error(
        "roll", "export", roll, "--out", str(path), "--unmasked", "--user", "county1"
    )
    assert "不存在，或不在您的管辖范围内" in cli_error("roll", "show", roll, "--user", "county2")


def test_reviews_due_and_record(
    settings: Settings, engine: Engine, clock: Callable[[dt.datetime], None]
) -> None:
    build_world(engine, with_alerts=False)
    clock(dt.datetime(2026, 12, 1, 9, 0))
    cli("recipients", "enrol-registry", "--on", "2026-12-01", "--user", "admin")
    out = cli("reviews", "due", "--today", "2026-12-20", "--within-days", "30", "--user", "county2")
    assert "Y001" in out and "2027-01-01" in out  # 特困 since 2022-01-01: yearly review
    assert "共 0 个" in cli("reviews", "due", "--today", "2026-12-20", "--user", "county1")
    y001 = _recipient(engine, "Y001", "tekun")
    out = cli(
        "reviews",
        "record",
        y001,
        "--outcome",
        "continue",
        "--reviewed-on",
        "2026-12-28",
        "--reason",
        "无变化",
        "--user",
        "county2",
    )
    assert "继续保障" in out and "下次复核 2027-12-28" in out
    err = cli_error(
        "reviews",
        "record",
        y001,
        "--outcome",
        "stop",
        "--reviewed-on",
        "2026-12-28",
        "--reason",
        "x",
        "--user",
        "county1",
    )
    assert "不在您的管辖范围内" in err
    out = cli(
        "reviews",
        "record",
        y001,
        "--outcome",
        "stop",
        "--reviewed-on",
        "2027-01-05",
        "--reason",
        "已由子女赡养",
        "--user",
        "county2",
    )
    assert "已停止保障" in out
