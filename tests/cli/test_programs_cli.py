"""``doudi programs simulate`` as a user runs it: a demo province, a scenario file, tables and
report paths out; a bad scenario is one sentence per problem and exit code 2."""

from __future__ import annotations

from pathlib import Path

import openpyxl
from typer.testing import CliRunner

from doudi.cli.main import app
from doudi.settings import Settings

runner = CliRunner()
EXAMPLES = Path(__file__).parents[2] / "examples"
PLUS_8 = EXAMPLES / "scenario-rural-dibao-plus-8pct.yaml"


def flat(output: str) -> str:
    return output.replace("\n", "")


def test_simulate_end_to_end(settings: Settings, tmp_path: Path) -> None:
    demo = runner.invoke(app, ["demo", "--persons", "20000", "--seed", "9", "--as-of", "2025-12-01"])
    assert demo.exit_code == 0, demo.output

    out = tmp_path / "out"
    result = runner.invoke(app, ["programs", "simulate", str(PLUS_8), "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = flat(result.output)
    assert "农村低保标准提高8%" in text and "模拟省份全体人口" in text
    assert "按市（州）" in text and "毕节市" in text and "黔南州" in text
    assert "城乡低保标准比（城市÷农村）：全省标准 1.3693 → 1.2679" in text
    lines = {line.split("│")[1].strip(): line for line in result.output.splitlines() if line.count("│") > 6}
    cells = [c.strip() for c in lines["低保"].split("│")[2:-1]]
    assert int(cells[0].replace(",", "")) > 0 and cells[1] == "0"  # newly eligible, none lost
    assert cells[4].startswith("+") and cells[5].startswith("+")  # monthly, annual cost up
    for name in ("simulation.xlsx", "by-county.csv", "cost-by-prefecture.png"):
        assert (out / name).exists() and str(out / name) in text
    wb = openpyxl.load_workbook(out / "simulation.xlsx")
    assert wb.sheetnames == ["概要", "按市州", "按县"]
    assert wb["概要"]["B3"].value == "模拟省份全体人口"

    # The registry instead of the whole population, reports in the data directory by default.
    registry = runner.invoke(app, ["programs", "simulate", str(PLUS_8), "--source", "registry"])
    assert registry.exit_code == 0, registry.output
    assert "名册" in flat(registry.output)
    (made,) = (settings.data_dir / "simulations").iterdir()
    assert made.name.startswith("农村低保标准提高8%-")
    assert sorted(p.name for p in made.iterdir()) == [
        "by-county.csv",
        "cost-by-prefecture.png",
        "simulation.xlsx",
    ]
    assert openpyxl.load_workbook(made / "simulation.xlsx")["概要"]["B3"].value == "名册"


def test_a_bad_scenario_is_explained_and_exits_2(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "坏方案.yaml"
    path.write_text(
        "name: 坏方案\ndate: 2026-02-30\nchanges:\n"
        "  - parameter: dibao.standrd\n    from: 2026-01-01\n    scale: 1.08\n"
        "  - parameter: dibao.standard\n    from: 2026-01-01\n    scale: 1.08\n    set: 600\n"
        "  - parameter: dibao.standard\n    from: 2026-01-01\n    set: -1\n    divisions: ['529999']\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["programs", "simulate", str(path)])
    assert result.exit_code == 2, result.output
    text = flat(result.output)
    assert "错误：测算方案“坏方案.yaml”有误，请修改后重试" in text
    for expected in (
        "date：“2026-02-30”不是有效的日期",
        "changes 第1项 parameter：未知参数“dibao.standrd”，是否应为 dibao.standard？",
        "changes 第2项：scale 和 set 只能给一个",
        "changes 第3项 set：“-1”是负数，应为 0 或正数。",
        "changes 第3项 divisions：“529999”无效",
    ):
        assert expected in text, expected
    assert not (settings.data_dir / "simulations").exists() or not any(
        (settings.data_dir / "simulations").iterdir()
    )


def test_missing_file_bad_source_and_no_population(settings: Settings, tmp_path: Path) -> None:
    missing = runner.invoke(app, ["programs", "simulate", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 2 and "找不到测算方案文件" in flat(missing.output)
    bad = runner.invoke(app, ["programs", "simulate", str(PLUS_8), "--source", "excel"])
    assert bad.exit_code == 2 and "--source 只能是 population" in flat(bad.output)
    no_population = runner.invoke(app, ["programs", "simulate", str(PLUS_8), "--source", "population"])
    assert no_population.exit_code == 2 and "没有模拟省份的人口文件" in flat(no_population.output)
    empty = runner.invoke(app, ["programs", "simulate", str(PLUS_8)])  # registry by default: empty
    assert empty.exit_code == 2 and "名册中没有可测算的家庭" in flat(empty.output)
