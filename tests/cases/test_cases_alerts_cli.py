"""``doudi cases`` alert-loop commands as staff use them: inbox, show, assign, assign-open,
verify with attachments, decide, escalate, overdue, chain and stats, each as ``--user`` with
that account's scope, in Chinese."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from case_world import World, build_world, raise_alerts
from rich.console import Console
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from doudi.cases import ledger
from doudi.cli import common
from doudi.cli.main import app
from doudi.db.models import Application, Attachment
from doudi.settings import Settings

runner = CliRunner()
VILLAGES = {
    "N001": "520102001001",
    "N002": "520102001002",
    "N003": "520102001001",
    "X001": "520102002001",
    "Y001": "520103001001",
}


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(common, "console", Console(width=250))
    monkeypatch.setattr(common, "err_console", Console(width=250, stderr=True))


@pytest.fixture
def world(settings: Settings, engine: Engine) -> World:
    """The test world with its alerts raised 20 days ago (so they are overdue today)."""
    w = build_world(engine, with_alerts=False)
    w.alerts = raise_alerts(engine, VILLAGES, w.citizen_ids, now=ledger.now() - dt.timedelta(days=20))
    return w


def cases(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["cases", *args])
    return result.exit_code, result.output


def test_inbox_show_and_scope(world: World) -> None:
    code, out = cases("inbox", "--user", "worker1")
    assert code == 0, out
    assert "N001" in out and "N003" in out and "X001" not in out and "共 3 条" in out
    head = world.citizen_ids["N001"]
    assert head not in out and head[:4] + "*" * 10 + head[-4:] in out
    assert "待分派" in out and "逾期5天" in out
    code, out = cases("show", str(world.alerts["N001"]), "--user", "worker1")
    assert code == 0, out
    assert "红色预警 · 医疗支出型困难" in out and "未分派" in out and "版本 1" in out
    code, out = cases("show", str(world.alerts["N001"]), "--user", "worker2")
    assert code == 2 and "不在您的管辖范围内" in out
    code, out = cases("show", str(world.alerts["N001"]), "--user", "worker1", "--unmasked")
    assert code == 2 and "需要填写理由" in out
    code, out = cases(
        "show", str(world.alerts["N001"]), "--user", "worker1", "--unmasked", "--reason", "核对身份"
    )
    assert code == 0 and head in out


def test_assign_verify_decide_chain(world: World, engine: Engine, tmp_path: Path) -> None:
    alert = str(world.alerts["N001"])
    code, out = cases("assign", alert, "worker1b", "--user", "checker1")
    assert code == 0 and "已分派给 worker1b" in out and "版本 2" in out, out
    code, out = cases("assign", alert, "worker1", "--user", "worker1", "--expected-version", "1")
    assert code == 2 and "已被他人修改" in out
    photo = tmp_path / "门口.jpg"
    photo.write_bytes(b"\xff\xd8 a photo")
    today = dt.date.today().isoformat()
    code, out = cases(
        "verify",
        alert,
        "--visited-on",
        today,
        "--visitors",
        "张三、李四",
        "--met",
        "户主本人",
        "--findings",
        "户主住院，家中无收入。",
        "--attach",
        str(photo),
        "--user",
        "worker1b",
        "--expected-version",
        "2",
    )
    assert code == 0 and "附件 1 个" in out and "版本 3" in out, out
    with engine.connect() as conn:
        assert conn.execute(select(Attachment.file_name)).scalars().all() == ["门口.jpg"]
    code, out = cases(
        "decide",
        alert,
        "--outcome",
        "refer_medical:住院费用高",
        "--outcome",
        "temporary_assistance：突发重病，先行救助",
        "--amount",
        "temporary_assistance=1500",
        "--user",
        "worker1b",
    )
    assert code == 0, out
    assert (
        "已办结" in out
        and "转介医疗救助：住院费用高" in out
        and "金额 1500.00 元" in out
        and "已受理申请" in out
    )
    with engine.connect() as conn:
        assert conn.execute(select(Application.program, Application.channel)).all() == [
            ("temporary_assistance", "alert")
        ]
    code, out = cases("show", alert, "--user", "worker1")
    assert "已办结" in out and "核查" in out and "门口.jpg" in out
    code, out = cases("chain", "N001", "--user", "worker1")
    assert code == 0, out
    for step in (
        "预警",
        "预警：分派",
        "入户核查",
        "转介医疗救助",
        "给予临时救助",
        "申请：受理申请",
        "申请：先行救助",
    ):
        assert step in out
    code, out = cases("chain", "N001", "--user", "worker2")
    assert code == 2 and "不在您的管辖范围内" in out
    code, out = cases("chain", "NOPE", "--user", "worker1")
    assert code == 2 and "不存在" in out


def test_decide_input_errors_are_explained(world: World, tmp_path: Path) -> None:
    alert = str(world.alerts["N002"])
    code, out = cases("decide", alert, "--outcome", "refer_medical", "--user", "worker1")
    assert code == 2 and "类型:理由" in out
    code, out = cases(
        "decide", alert, "--outcome", "a:x", "--outcome", "b:y", "--amount", "100", "--user", "worker1"
    )
    assert code == 2 and "类型=金额" in out
    code, out = cases("decide", alert, "--outcome", "no_help_needed:已报销", "--user", "worker1")
    assert code == 2 and "请先核查" in out


def test_assign_open_escalate_overdue(world: World) -> None:
    cases("assign", str(world.alerts["N001"]), "worker1", "--user", "worker1")
    code, out = cases("assign-open", "--user", "checker1")
    assert code == 0 and "已分派 2 条预警" in out and "worker1 1 条" in out and "worker1b 1 条" in out, out
    code, out = cases("escalate", "--user", "worker1")
    assert code == 2 and "无权督办逾期预警" in out
    code, out = cases("escalate", "--user", "county1")
    assert code == 0 and "已将 4 条逾期预警提交县级督办" in out, out
    code, out = cases("escalate", "--user", "county1")
    assert "没有需要提交督办" in out
    code, out = cases("escalate", "--user", "county2", "--division", "520102")
    assert code == 2 and "不在您的管辖范围内" in out
    code, out = cases("inbox", "--escalated", "--user", "county1")
    assert code == 0 and "共 4 条" in out and "已督办" in out
    code, out = cases("overdue", "--user", "worker2")
    assert code == 0 and "X001" in out and "共 1 条" in out and "逾期5天" in out


def test_stats_table_and_json(world: World, tmp_path: Path) -> None:
    alert = str(world.alerts["N003"])
    cases(
        "verify",
        alert,
        "--visited-on",
        dt.date.today().isoformat(),
        "--visitors",
        "张三",
        "--met",
        "户主",
        "--findings",
        "属实",
        "--user",
        "worker1",
    )
    cases("decide", alert, "--outcome", "services:送米面油", "--user", "worker1")
    code, out = cases("stats", "--user", "county1")
    assert code == 0, out
    assert "动态清零统计：南明区" in out and "五里冲街道" in out and "合计" in out and "期限内核查" in out
    code, out = cases("stats", "--user", "county1", "--json")
    assert code == 0, out
    rows = {r["division_code"]: r for r in json.loads(out)}
    assert (rows["520102001"]["raised"], rows["520102001"]["helped"], rows["520102001"]["overdue"]) == (
        3,
        1,
        2,
    )
    assert rows["520102001"]["verified_within_due"] == 0  # visited after the due date
    assert rows["520102"]["name"] == "合计" and rows["520102"]["raised"] == 4
    code, out = cases("stats", "--user", "worker2", "--division", "520102001")
    assert code == 2 and "不在您的管辖范围内" in out
    code, out = cases("stats", "--user", "county1", "--period", "2026-13")
    assert code == 2 and "统计期间" in out
