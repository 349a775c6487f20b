"""``doudi feeds`` as a user runs it: the quality report, the manifest, the contracts, exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest
from feed_files import medical, write_csv, write_xlsx
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from doudi.cli import common
from doudi.cli.feeds import app
from doudi.feeds.contract import default_contracts
from doudi.settings import Settings

runner = CliRunner()


def test_load_prints_the_quality_report_and_reload_changes_nothing(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    rows = [medical("S1"), medical("S2", settle_date="2026-12-01"), medical("S1"), medical("S4")]
    path = write_csv(tmp_path / "医保.csv", rows, encoding="gbk")
    first = runner.invoke(app, ["load", "medical", str(path), "--period", "2026-11"])
    assert first.exit_code == 0, first.output
    out = first.output
    assert "医疗保障结算记录 2026-11 质量报告（载入记录 1）" in out
    assert "│    4 │    2 │      2 │        1 │          0 │   0.0% │" in out
    assert "结算日期不在本期（2026年11月）内" in out and "与前面的行重复（结算单号相同）" in out
    quarantine = settings.data_dir / "feeds" / "medical" / "2026-11" / "load-1-rejects.csv"
    assert str(quarantine.resolve()) in out.replace("\n", "")
    again = runner.invoke(app, ["load", "medical", str(path), "--period", "2026-11"])
    assert again.exit_code == 0, again.output
    assert "完全相同，未做任何改动" in again.output
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM feed_loads")).scalar_one() == 1


def test_resubmission_and_list(
    settings: Settings, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(common.console, "_width", 200)
    runner.invoke(
        app, ["load", "medical", str(write_csv(tmp_path / "a.csv", [medical("S1")])), "--period", "2026-11"]
    )
    b = write_xlsx(tmp_path / "b.xlsx", [medical("S1"), medical("S2")])
    second = runner.invoke(app, ["load", "medical", str(b), "--period", "2026-11"])
    assert second.exit_code == 0, second.output
    flat = second.output.replace("\n", "")
    assert "本文件替换了载入记录 1（更正后重新提交）：新增 1 行，删除 0 行，修改 0 行，未变 1 行。" in flat
    listed = runner.invoke(app, ["list", "--period", "2026-11", "--kind", "medical"])
    assert listed.exit_code == 0, listed.output
    lines = [line for line in listed.output.splitlines() if "医疗保障结算记录" in line]
    assert len(lines) == 2
    assert "在用" in lines[0] and "b.xlsx" in lines[0] and "替换 1" in lines[0]
    assert "已被替换" in lines[1] and "a.csv" in lines[1] and "被 2 替换" in lines[1]
    none = runner.invoke(app, ["list", "--period", "2026-10"])
    assert none.exit_code == 0 and "没有载入记录" in none.output


def test_failed_load_exit_codes(settings: Settings, engine: Engine, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "x.csv", [medical("S1")], {"settlement_no": "结算单号"})
    failed = runner.invoke(app, ["load", "medical", str(path), "--period", "2026-11"])
    assert failed.exit_code == 1
    assert "错误：文件“x.csv”缺少医疗保障结算记录的必需列" in failed.output.replace("\n", "")
    assert "载入记录 1 已记为失败，原有数据不受影响。" in failed.output
    unknown = runner.invoke(app, ["load", "medicine", str(path), "--period", "2026-11"])
    assert unknown.exit_code == 2
    flat = unknown.output.replace("\n", "")
    assert "没有“medicine”这类数据。可用的数据类别：" in flat
    assert all(kind in flat for kind in default_contracts())
    bad_period = runner.invoke(app, ["load", "medical", str(path), "--period", "2026/11"])
    assert bad_period.exit_code == 2 and "期间“2026/11”格式不对" in bad_period.output
    missing = runner.invoke(app, ["load", "medical", str(tmp_path / "none.csv"), "--period", "2026-11"])
    assert missing.exit_code == 2 and "找不到文件“none.csv”" in missing.output


def test_contracts_lists_every_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(common.console, "_width", 400)
    result = runner.invoke(app, ["contracts"])
    assert result.exit_code == 0, result.output
    for kind, contract in default_contracts().items():
        assert kind in result.output and contract.title in result.output
    assert "结算单号*（文本）" in result.output and "重特大疾病（是/否）" in result.output
