"""``doudi rules check`` and ``doudi rules list`` as a user runs them (the Typer app of
``doudi.cli.rules``, wired into ``doudi`` as ``rules``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from doudi.cli import common
from doudi.cli.rules import app
from doudi.monitor.rules import check_rules, load_rules

runner = CliRunner()
BROKEN = Path(__file__).with_name("broken_rules")
SHIPPED = load_rules()


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rich fits tables to the terminal; a wide console keeps each cell on one line."""
    monkeypatch.setattr(common, "console", Console(width=250))


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_check_of_the_shipped_rules_is_one_ok_line() -> None:
    code, output = invoke("check")
    assert code == 0, output
    files = len({r.file for r in SHIPPED})
    assert output == f"规则检查通过：{len(SHIPPED)} 条规则，{files} 个文件。\n"


def test_check_prints_every_problem_as_file_line_column_id_message() -> None:
    code, output = invoke("check", str(BROKEN))
    assert code == 1
    lines = output.splitlines()
    _, problems = check_rules(BROKEN)
    assert lines[0] == f"检查目录：{BROKEN}"
    assert lines[1:-1] == [str(p) for p in problems]
    assert lines[1] == (
        "aggregate.yaml:8:7 aggregate：不能使用聚合函数 sum：规则按每个对象逐行判断，"
        "汇总值请用特征目录中的特征，如 hh_medical_oop_12m"
    )
    assert "yaml_syntax.yaml:6:8 -：YAML 语法错误" in output
    files = len({p.file for p in problems})
    assert (
        lines[-1]
        == f"共 {len(problems)} 处问题（{files} 个文件），请按“文件:行:列”找到位置逐一修改，改完再运行本命令检查。"
    )


def test_check_of_a_missing_or_empty_directory(tmp_path: Path) -> None:
    code, output = invoke("check", str(tmp_path / "nowhere"))
    assert code == 2
    assert "找不到规则目录" in output
    code, output = invoke("check", str(tmp_path))
    assert code == 1
    assert output == f"目录 {tmp_path} 中没有规则文件（*.yaml）。\n"


def table_rows(output: str) -> list[list[str]]:
    return [
        [c.strip() for c in line.strip().strip("│").split("│")]
        for line in output.splitlines()
        if line.startswith("│")
    ]


def test_list_shows_every_rule_with_version_title_severity_object_and_dates() -> None:
    code, output = invoke("list")
    assert code == 0, output
    assert f"全部预警规则（{len(SHIPPED)} 条）" in output
    rows = {r[0]: r for r in table_rows(output)}
    assert list(rows) == [r.id for r in SHIPPED]
    assert rows["recipient_died"] == [
        "recipient_died",
        "1",
        "低保、特困人员已死亡，应停止发放",
        "红色",
        "个人：低保、特困",
        "2024-01-01 起",
    ]
    assert rows["discovery_catastrophic_medical"][4] == "个人：未在册人员（主动发现）"
    assert rows["dibao_review_6m"][3:5] == ["黄色", "家庭：低保"]


def test_list_on_a_date_keeps_the_rules_in_force(tmp_path: Path) -> None:
    shutil.copy(BROKEN / "duplicate_id_a.yaml", tmp_path / "a.yaml")
    text = (BROKEN / "duplicate_id_a.yaml").read_text(encoding="utf-8")
    (tmp_path / "b.yaml").write_text(
        text.replace("id: duplicate_id", "id: later_rule").replace(
            "effective: {from: 2024-01-01}", "effective: {from: 2026-12-01, to: 2027-06-30}"
        ),
        encoding="utf-8",
    )
    code, output = invoke("list", "--dir", str(tmp_path), "--on", "2026-11-30")
    assert code == 0, output
    assert [r[0] for r in table_rows(output)] == ["duplicate_id"]
    assert "2026-11-30 生效的预警规则（1 条）" in output
    code, output = invoke("list", "--dir", str(tmp_path), "--on", "2027-01-01")
    assert [r[0] for r in table_rows(output)] == ["duplicate_id", "later_rule"]
    assert table_rows(output)[1][5] == "2026-12-01 至 2027-06-30"


def test_list_refuses_broken_rules_and_bad_dates() -> None:
    code, output = invoke("list", "--dir", str(BROKEN))
    assert code == 1
    assert "请先运行 doudi rules check" in output
    code, output = invoke("list", "--on", "2026-13-01")
    assert code == 2
    assert "--on 应为日期" in output
