"""``doudi params show`` and ``doudi params check`` as a user runs them."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from doudi.cli import common
from doudi.cli.main import app
from doudi.programs.parameters import load_parameters

runner = CliRunner()
BROKEN = Path(__file__).parents[1] / "programs" / "broken_parameters"
SHIPPED = load_parameters()
PLACEHOLDERS = {name for name, p in SHIPPED.parameters.items() if p.placeholder}


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rich fits tables to the terminal; a wide console keeps each cell on one line."""
    monkeypatch.setattr(common, "console", Console(width=250))


def show(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["params", "show", *args])
    return result.exit_code, result.output


def table_rows(output: str) -> list[list[str]]:
    """The first line of each table row, as cells: 参数, 城乡, 取值, 适用区划, 起始日期, 依据, 状态."""
    rows = []
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip().strip("│").split("│")]
        if line.startswith("│") and cells[0] in SHIPPED.parameters:
            rows.append(cells)
    return rows


def row(output: str, name: str, area: str) -> list[str]:
    (found,) = [r for r in table_rows(output) if r[0] == name and r[1] == area]
    return found


def notes(output: str) -> dict[str, str]:
    """The numbered references under the table: "[1]" → text."""
    return dict(re.findall(r"^  (\[\d+\]) (.+)$", output, flags=re.MULTILINE))


def test_show_county_inheriting_from_the_province_around_the_start_date() -> None:
    code, before = show("520102", "--date", "2025-01-31")
    assert code == 0, before
    assert "520102 南明区 在 2025-01-31 适用的救助参数" in before
    assert row(before, "dibao.standard", "城市")[2:5] == ["无", "—", "—"]
    assert row(before, "dibao.standard", "城市")[6] == "该日无取值"
    assert "在 2025-01-31 没有取值" in before

    code, after = show("520102", "--date", "2025-02-01")
    assert code == 0, after
    assert row(after, "dibao.standard", "城市")[2:5] == ["778.00 元/月", "520000 贵州省", "2025-02-01"]
    rural = row(after, "dibao.standard", "农村")
    assert rural[2:5] == ["568.17 元/月", "520000 贵州省", "2025-02-01"]
    assert notes(after)[rural[5]].startswith("社会救助暂行办法第10条")
    assert "没有取值" not in after


def test_show_county_inheriting_from_its_prefecture_around_the_start_date() -> None:
    code, before = show("522701", "--date", "2024-02-29")
    assert code == 0, before
    assert row(before, "dibao.standard", "农村")[2] == "无"

    code, after = show("522701", "--date", "2024-03-01")
    assert code == 0, after
    assert "522701 都匀市 在 2024-03-01 适用的救助参数" in after
    urban = row(after, "dibao.standard", "城市")
    assert urban[2:5] == ["506.60 元/月", "522700 黔南布依族苗族自治州", "2024-03-01"]
    assert notes(after)[urban[5]] == "黔南州民政局统计数据（2024年3月）"
    assert row(after, "dibao.standard", "农村")[2] == "406.11 元/月"
    # Still the prefecture's value after the province raised its own.
    code, later = show("522701", "--date", "2025-10-01")
    assert row(later, "dibao.standard", "城市")[2:4] == ["506.60 元/月", "522700 黔南布依族苗族自治州"]


def test_show_lists_every_parameter_with_unit_description_and_placeholder_mark() -> None:
    code, out = show("522701", "--date", "2025-10-01")
    assert code == 0, out
    rows = table_rows(out)
    by_area = [p for p in SHIPPED.parameters.values() if p.by_area]
    assert len(rows) == len(SHIPPED.parameters) + len(by_area)
    assert {r[0] for r in rows} == set(SHIPPED.parameters)
    for r in rows:
        assert (r[6] == "待确认") == (r[0] in PLACEHOLDERS), r
    for p in SHIPPED.parameters.values():
        assert p.description in out, p.name
    assert row(out, "dibao.phase_out_months", "不分城乡")[2] == "6 个月"
    assert row(out, "rigid_spending.ratio", "不分城乡")[2] == "0.60（60%）"
    assert row(out, "tekun.basic_multiplier", "不分城乡")[2] == "1.30 × 月低保标准"
    assert row(out, "tekun.basic_base_area", "不分城乡")[2] == "城市"
    assert row(out, "tekun.student_age_limit", "不分城乡")[2] == "22 岁"
    assert row(out, "rigid_spending.disposable_income_prev_year", "农村")[2] == "15000.00 元/年"
    assert f"其中 {len(PLACEHOLDERS)} 个标为“待确认”" in out


def test_show_one_area_and_lower_level_codes() -> None:
    code, out = show("522701006", "--date", "2025-10-01", "--area", "rural")
    assert code == 0, out
    assert "522701006 文峰街道 在 2025-10-01 适用的救助参数（农村）" in out
    assert [r[1] for r in table_rows(out) if r[0] == "dibao.standard"] == ["农村"]
    assert row(out, "dibao.standard", "农村")[2:4] == ["406.11 元/月", "522700 黔南布依族苗族自治州"]
    code, village = show("522701006001", "--date", "2025-10-01", "--area", "urban")
    assert code == 0, village
    assert row(village, "dibao.standard", "城市")[2] == "506.60 元/月"


def test_show_defaults_to_today() -> None:
    code, out = show("520102")
    assert code == 0, out
    assert f"在 {dt.date.today().isoformat()} 适用的救助参数" in out


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["520199"], "行政区划代码520199不在行政区划目录中"),
        (["5201"], "行政区划代码应为6位、9位或12位数字"),
        (["510104"], "不属于本省"),
        (["520102999999"], "乡镇部分520102999不在行政区划目录中"),
        (["520102", "--area", "城市"], "--area 只能是 urban（城市）或 rural（农村）"),
        (["520102", "--date", "2025-02-30"], "--date 应为日期"),
    ],
)
def test_show_rejects_bad_input_with_one_sentence(args: list[str], says: str) -> None:
    code, out = show(*args)
    assert code == 2
    flat = out.replace("\n", "")
    assert flat.startswith("错误：") and says in flat
    assert "Traceback" not in out


def test_check_passes_on_the_shipped_parameters() -> None:
    result = runner.invoke(app, ["params", "check"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == f"参数文件检查通过：{len(SHIPPED.parameters)} 个参数"
    assert f"其中 {len(PLACEHOLDERS)} 个标为“待确认”" in result.output


def test_check_prints_every_problem_of_every_file(tmp_path: Path) -> None:
    shutil.copy(BROKEN / "invalid_date" / "dibao.yaml", tmp_path)
    shutil.copy(BROKEN / "missing_values" / "tekun.yaml", tmp_path)
    expected = [
        *(BROKEN / "invalid_date" / "expected.txt").read_text(encoding="utf-8").splitlines(),
        *(BROKEN / "missing_values" / "expected.txt").read_text(encoding="utf-8").splitlines(),
    ]
    result = runner.invoke(app, ["params", "check", str(tmp_path)])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0] == f"检查目录：{tmp_path}"
    assert lines[1:3] == expected  # whole lines: never wrapped, never marked up
    assert lines[3].startswith("共 2 处问题")


@pytest.mark.parametrize("case", sorted(d.name for d in BROKEN.iterdir() if d.is_dir()))
def test_check_of_each_broken_case_prints_its_expected_line(case: str) -> None:
    result = runner.invoke(app, ["params", "check", str(BROKEN / case)])
    assert result.exit_code == 1
    expected = (BROKEN / case / "expected.txt").read_text(encoding="utf-8").splitlines()
    assert result.output.splitlines()[1:-1] == expected


def test_check_of_a_missing_directory(tmp_path: Path) -> None:
    result = runner.invoke(app, ["params", "check", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "找不到参数文件目录" in result.output.replace("\n", "")
