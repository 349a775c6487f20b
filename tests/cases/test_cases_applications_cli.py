"""``doudi cases application``: the whole application from the command line, as staff use it."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

import pytest
from case_world import build_world
from rich.console import Console
from sqlalchemy import Engine
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
    """Set the time the services see (``ledger.now``)."""

    def set_to(when: dt.datetime) -> None:
        monkeypatch.setattr(ledger, "now", lambda: when)

    return set_to


def cli(*args: str) -> str:
    result = runner.invoke(app, ["cases", "application", *args])
    assert result.exit_code == 0, result.output
    return result.output


def cli_error(*args: str) -> str:
    result = runner.invoke(app, ["cases", "application", *args])
    assert result.exit_code == 2, result.output
    return result.output


def test_application_from_intake_to_decision(
    settings: Settings, engine: Engine, clock: Callable[[dt.datetime], None]
) -> None:
    build_world(engine, with_alerts=False)
    clock(dt.datetime(2026, 12, 1, 9, 0))
    out = cli("submit", "--household", "N003", "--program", "dibao", "--note", "收入低", "--user", "village1")
    app_id = re.search(r"申请 (\d+)", out).group(1)  # type: ignore[union-attr]
    assert "已受理" in out and "2027-01-12" in out
    out = cli("check", app_id, "--user", "worker1")
    assert "已核对" in out and "机动车 0 辆" in out and "尚无数据" in out
    out = cli("assess", app_id, "--user", "worker1")
    assert "初审建议：符合最低生活保障（低保）条件" in out and "家庭月人均收入" in out
    # Maker-checker: the one who assessed may not review; a caseworker may not at all.
    assert "无权审核申请" in cli_error("review", app_id, "--opinion", "approve", "--user", "worker1")
    clock(dt.datetime(2026, 12, 3, 9, 0))
    out = cli("review", app_id, "--opinion", "approve", "--reason", "情况属实", "--user", "checker1")
    assert "公示中" in out and "2026-12-03 至 2026-12-09" in out
    out = cli("objection", app_id, "--content", "反映家中有车", "--objector", "李四", "--user", "worker1")
    objection_id = re.search(r"公示异议 (\d+)", out).group(1)  # type: ignore[union-attr]
    clock(dt.datetime(2026, 12, 10, 9, 0))
    assert "未处理" in cli_error("decide", app_id, "--decision", "approve", "--user", "county1")
    cli(
        "resolve",
        objection_id,
        "--not-upheld",
        "--resolution",
        "经核实车辆已于2025年转让",
        "--user",
        "worker1",
    )
    # A stale version is refused with a conflict.
    assert "已被他人修改" in cli_error(
        "decide", app_id, "--decision", "approve", "--expected-version", "1", "--user", "county1"
    )
    out = cli("decide", app_id, "--decision", "approve", "--user", "county1")
    assert "已批准" in out and "自 2027-01 起发放" in out
    out = cli("show", app_id, "--user", "worker1")
    assert "异议不成立" in out and "审核确认：批准" in out and "甲*" in out
    for step in (
        "受理申请",
        "家庭经济状况核对",
        "提出初审建议",
        "乡镇审核",
        "登记公示异议",
        "处理公示异议",
        "审核确认",
    ):
        assert step in out
    out = cli("list", "--user", "worker1")
    assert "已批准" in out and "共 1 件" in out
    assert "共 0 件" in cli("list", "--user", "worker2")
    assert "不存在，或不在您的管辖范围内" in cli_error("show", app_id, "--user", "worker2")


def test_refusal_emergency_extension_and_overdue(
    settings: Settings, engine: Engine, clock: Callable[[dt.datetime], None]
) -> None:
    world = build_world(engine, with_alerts=False)
    clock(dt.datetime(2026, 12, 1, 9, 0))
    out = cli(
        "submit",
        "--household",
        "N001",
        "--program",
        "temporary_assistance",
        "--emergency",
        "--user",
        "worker1",
    )
    emergency = re.search(r"申请 (\d+)", out).group(1)  # type: ignore[union-attr]
    out = cli("pay-first", emergency, "--amount", "2,000元", "--user", "checker1")
    assert "已先行救助 2,000.00元" in out and "2026-12-08 前补齐手续" in out
    assert "金额" in cli_error("pay-first", emergency, "--amount", "两千", "--user", "checker1")

    out = cli("submit", "--household", "N003", "--program", "dibao", "--user", "worker1")
    refused = re.search(r"申请 (\d+)", out).group(1)  # type: ignore[union-attr]
    assert "书面理由" in cli_error("decide", refused, "--decision", "refuse", "--user", "county1")
    out = cli("decide", refused, "--decision", "refuse", "--reason", "申请人主动撤回", "--user", "county1")
    assert "2026-12-04 前书面告知" in out

    out = cli(
        "submit",
        "--household",
        "N002",
        "--program",
        "disability_care_subsidy",
        "--person",
        world.citizen_ids["N002"],
        "--user",
        "worker1",
    )
    person_app = re.search(r"申请 (\d+)", out).group(1)  # type: ignore[union-attr]
    out = cli("extend", person_app, "--reason", "需补充残疾评定", "--user", "checker1")
    assert "已延长" in out and "2027-02-02" in out
    assert "只能延长一次" in cli_error("extend", person_app, "--reason", "再次", "--user", "checker1")

    out = cli("overdue", "--as-of", "2026-12-09", "--user", "worker1")
    assert "共 1 件逾期" in out and "临时救助" in out
    clock(dt.datetime(2026, 12, 9, 9, 0))
    cli("check", emergency, "--user", "worker1")
    out = cli("paperwork", emergency, "--note", "已补齐申请书和核查记录", "--user", "county1")
    assert "已批准" in out
    assert "共 0 件逾期" in cli("overdue", "--as-of", "2026-12-09", "--user", "worker1")
    out = cli("show", person_app, "--unmasked", "--reason", "核对身份", "--user", "worker1")
    assert world.citizen_ids["N002"] in out
    assert "理由" in cli_error("show", person_app, "--unmasked", "--user", "worker1")
