"""What-if simulation: the same households evaluated with the parameters as they are and with a
scenario's changes; the comparison, its sums, its reports and the scenario's checks."""

from __future__ import annotations

import csv
import datetime as dt
import logging
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pyarrow as pa
import pytest

from doudi.programs import simulate as sim
from doudi.programs.engine import PREFIX, PROGRAMS, evaluate
from doudi.programs.parameters import ParameterSet, default_parameters
from doudi.programs.simulate import (
    HEADERS,
    Scenario,
    ScenarioError,
    SimulationResult,
    load_scenario,
    parse_scenario,
    simulate,
    write_reports,
)
from doudi.programs.sources import from_population
from doudi.registry.synthetic import generate_province

EXAMPLES = Path(__file__).parents[2] / "examples"
PLUS_8 = EXAMPLES / "scenario-rural-dibao-plus-8pct.yaml"
ON = dt.date(2026, 1, 1)
COUNTS = (
    "households_before",
    "households_after",
    "households_new",
    "households_lost",
    "persons_before",
    "persons_after",
    "persons_new",
    "persons_lost",
)
MONEY = ("monthly_before", "monthly_after", "monthly_change", "annual_change")


@pytest.fixture(scope="module")
def params() -> ParameterSet:
    return default_parameters()


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> tuple[pa.Table, pa.Table]:
    province = generate_province(
        persons=20000, seed=31, out_dir=tmp_path_factory.mktemp("province"), as_of=dt.date(2025, 12, 1)
    )
    return from_population(province.population_dir, ON)


@pytest.fixture(scope="module")
def plus8(params: ParameterSet) -> Scenario:
    return load_scenario(PLUS_8, params)


@pytest.fixture(scope="module")
def plus8_result(
    plus8: Scenario, tables: tuple[pa.Table, pa.Table], params: ParameterSet
) -> SimulationResult:
    households, members = tables
    return simulate(plus8, households=households, members=members, params=params, source="population")


def by_program(result: SimulationResult) -> dict[str, dict[str, Any]]:
    return {row["program"]: row for row in result.by_program.to_pylist()}


def scenario(changes: Any, **top: Any) -> dict[str, Any]:
    return {"name": "测试方案", "date": "2026-01-01", "changes": changes, **top}


def test_a_scenario_that_changes_nothing_changes_nothing(
    tables: tuple[pa.Table, pa.Table], params: ParameterSet
) -> None:
    same = parse_scenario(
        scenario(
            [
                {"parameter": "dibao.standard", "from": "2026-01-01", "area": "rural", "scale": "1"},
                {"parameter": "marginal.multiplier", "from": "2025-06-01", "set": "1.50"},
            ]
        ),
        params,
    )
    households, members = tables
    result = simulate(same, households=households, members=members, params=params)
    for table in (result.by_program, result.by_prefecture, result.by_county):
        for row in table.to_pylist():
            assert row["households_new"] == row["households_lost"] == 0, row
            assert row["persons_new"] == row["persons_lost"] == 0, row
            assert row["households_before"] == row["households_after"], row
            assert row["persons_before"] == row["persons_after"], row
            assert row["monthly_before"] == row["monthly_after"], row
            assert row["monthly_change"] == row["annual_change"] == Decimal("0.00"), row
    assert by_program(result)["dibao"]["households_before"] > 0
    r = result.ratio
    assert (r.province_before, r.weighted_before) == (r.province_after, r.weighted_after)
    assert result.households == households.num_rows


def test_rural_plus_8_percent_only_adds_rural_households_and_costs_more(
    plus8: Scenario,
    plus8_result: SimulationResult,
    tables: tuple[pa.Table, pa.Table],
    params: ParameterSet,
) -> None:
    totals = by_program(plus8_result)
    dibao = totals["dibao"]
    assert dibao["households_new"] > 0 and dibao["persons_new"] >= dibao["households_new"]
    assert dibao["households_lost"] == 0 and dibao["persons_lost"] == 0
    assert totals["tekun"]["households_lost"] == 0
    assert dibao["monthly_change"] > 0
    assert dibao["annual_change"] == 12 * dibao["monthly_change"]
    assert sum(row["monthly_change"] for row in totals.values()) > 0
    # Independently: the two evaluate() tables, household by household.
    households, members = tables
    before = evaluate(households, members, params).to_pylist()
    after = evaluate(households, members, plus8.apply(params)).to_pylist()
    assert [b["household_id"] for b in before] == [a["household_id"] for a in after]
    for program, prefix in PREFIX.items():
        amount = f"{prefix}_amount"
        expected = sum(
            (
                (a.get(amount) or Decimal(0)) - (b.get(amount) or Decimal(0))
                for b, a in zip(before, after, strict=True)
            ),
            Decimal(0),
        )
        assert totals[program]["monthly_change"] == expected, program
        new = [
            a
            for b, a in zip(before, after, strict=True)
            if a[f"{prefix}_eligible"] and not b[f"{prefix}_eligible"]
        ]
        assert totals[program]["households_new"] == len(new), program
        assert totals[program]["persons_new"] == sum(a[f"{prefix}_covered"] for a in new), program
    changed = [
        b
        for b, a in zip(before, after, strict=True)
        if any(
            b[f"{p}_eligible"] != a[f"{p}_eligible"] or b.get(f"{p}_amount") != a.get(f"{p}_amount")
            for p in PREFIX.values()
        )
    ]
    assert changed and {b["area_type"] for b in changed} == {"rural"}
    # Urban standards are untouched: the province's ratio falls by exactly the rural raise.
    r = plus8_result.ratio
    assert r.province_before == Decimal("1.3693")  # 778.00 / 568.17
    assert r.province_after == (Decimal("778.00") / Decimal("613.62")).quantize(Decimal("0.0001"))
    assert r.weighted_after < r.weighted_before


def test_county_and_prefecture_tables_sum_to_the_province(plus8_result: SimulationResult) -> None:
    totals = by_program(plus8_result)
    for table in (plus8_result.by_county, plus8_result.by_prefecture):
        rows = table.to_pylist()
        for program in PROGRAMS:
            mine = [r for r in rows if r["program"] == program]
            for col in COUNTS:
                assert sum(r[col] for r in mine) == totals[program][col], (program, col)
            for col in MONEY:
                assert sum((r[col] for r in mine), Decimal(0)) == totals[program][col], (program, col)
    counties = plus8_result.by_county.to_pylist()
    assert {r["prefecture"] for r in counties} >= {"贵阳市", "黔南布依族苗族自治州"}
    assert all(r["county_code"].startswith(r["prefecture_code"][:4]) for r in counties)
    assert plus8_result.by_county.schema.field("monthly_change").type == pa.decimal128(18, 2)
    assert plus8_result.persons > plus8_result.households > 0


def test_a_change_limited_to_one_prefecture_changes_only_its_counties(
    tables: tuple[pa.Table, pa.Table], params: ParameterSet
) -> None:
    qiannan = parse_scenario(
        scenario(
            [{"parameter": "dibao.standard", "from": "2026-01-01", "scale": "1.2", "divisions": ["522700"]}]
        ),
        params,
    )
    households, members = tables
    result = simulate(qiannan, households=households, members=members, params=params)
    moved = [r for r in result.by_county.to_pylist() if r["monthly_change"] or r["households_new"]]
    assert moved and {r["prefecture_code"] for r in moved} == {"522700"}
    assert result.ratio.province_before == result.ratio.province_after


def test_reports_xlsx_csv_and_png(plus8_result: SimulationResult, tmp_path: Path) -> None:
    paths = write_reports(plus8_result, tmp_path / "out")
    assert [p.suffix for p in paths] == [".xlsx", ".csv", ".png"]
    xlsx, csv_path, png = paths
    wb = openpyxl.load_workbook(xlsx)
    assert wb.sheetnames == ["概要", "按市州", "按县"]
    summary = wb["概要"]
    assert summary["A1"].value == "测算方案" and summary["B1"].value == "农村低保标准提高8%"
    assert summary["B2"].value == "2026-01-01" and summary["B3"].value == "模拟省份全体人口"
    labels = [row[0] for row in summary.iter_rows(values_only=True)]
    assert "全省合计" in labels and "全省标准" in labels and "按县人口加权平均" in labels
    county = wb["按县"]
    header = [c.value for c in county[1]]
    assert header == [HEADERS[c] for c in plus8_result.by_county.column_names]
    assert header[:5] == ["市（州）代码", "市（州）", "县（市、区）代码", "县（市、区）", "救助项目"]
    assert "月支出变化（元）" in header and "年支出变化（元）" in header
    assert county.freeze_panes == "A2" and wb["按市州"].freeze_panes == "A2"
    assert county.max_row == plus8_result.by_county.num_rows + 1
    change = county.cell(row=2, column=header.index("月支出变化（元）") + 1)
    assert isinstance(change.value, (int, float, Decimal)) and change.number_format == "#,##0.00"
    count = county.cell(row=2, column=header.index("新增户数") + 1)
    assert isinstance(count.value, int) and count.number_format == "#,##0"
    assert county.cell(row=2, column=5).value == "最低生活保障（低保）"
    prefecture = wb["按市州"]
    assert [c.value for c in prefecture[1]][:3] == ["市（州）代码", "市（州）", "救助项目"]
    assert prefecture.max_row == 9 * len(PROGRAMS) + 1
    raw = csv_path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    with csv_path.open(encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))
    assert rows[0] == header and len(rows) == plus8_result.by_county.num_rows + 1
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_chart_without_a_cjk_font_warns_and_still_writes(
    plus8_result: SimulationResult,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(sim, "CJK_FONT_FILE", tmp_path / "none.ttc")
    monkeypatch.setattr(sim, "CJK_FAMILIES", ("No Such Font Family",))
    with caplog.at_level(logging.WARNING, logger="doudi.programs.simulate"):
        path = sim.write_chart(plus8_result, tmp_path / "chart.png")
    assert path.read_bytes()[:4] == b"\x89PNG"
    assert any("no CJK font" in r.getMessage() for r in caplog.records)


def test_the_cjk_font_is_found_when_installed() -> None:
    if not sim.CJK_FONT_FILE.exists():
        pytest.skip("fonts-wqy-microhei is not installed (scripts/test.sh installs it)")
    assert sim.cjk_font() == "WenQuanYi Micro Hei"


def test_example_scenarios_are_valid(params: ParameterSet) -> None:
    files = sorted(EXAMPLES.glob("scenario-*.yaml"))
    assert len(files) >= 2
    for path in files:
        s = load_scenario(path, params)
        assert s.name and s.changes
    plus8 = load_scenario(PLUS_8, params)
    assert plus8.date == ON and plus8.source is None
    (change,) = plus8.changes
    assert (change.parameter, change.area, change.scale, change.start) == (
        "dibao.standard",
        "rural",
        Decimal("1.08"),
        ON,
    )


def problems(data: Any, params: ParameterSet) -> list[str]:
    with pytest.raises(ScenarioError) as exc:
        parse_scenario(data, params)
    return exc.value.problems


def test_every_problem_is_reported_at_once_with_index_and_field(params: ParameterSet) -> None:
    found = problems(
        {
            "name": "错误示例",
            "date": "2026-13-01",
            "source": "excel",
            "changes": [
                {"parameter": "dibao.standrd", "from": "2026-01-01", "scale": "1.08"},
                {"parameter": "dibao.standard", "from": "2026-01-01", "scale": "1.08", "set": "600"},
                {
                    "parameter": "dibao.standard",
                    "from": "2026-01-01",
                    "scale": "1.08",
                    "divisions": ["529999"],
                },
                {"parameter": "disability.living_subsidy", "from": "2026-01-01", "set": "-10"},
                {"parameter": "dibao.standard", "from": "2026/01/01", "scale": "-1.08", "area": "city"},
                {"parameter": "marginal.multiplier", "from": "2026-01-01", "area": "rural", "scal": "1.1"},
            ],
        },
        params,
    )
    assert found == [
        "date：“2026-13-01”不是有效的日期，应写作 YYYY-MM-DD，如 2026-01-01。",
        "source：“excel”不是数据来源，应为 population（模拟省份全体人口）或 registry（名册）。",
        "changes 第1项 parameter：未知参数“dibao.standrd”，是否应为 dibao.standard？",
        "changes 第2项：scale 和 set 只能给一个（scale 按倍数调整，如 1.08；set 直接给出新值）。",
        "changes 第3项 divisions：“529999”无效（行政区划代码529999不在行政区划目录中），"
        "应为本省省、市（州）、县（市、区）的6位代码。",
        "changes 第4项 set：“-10”是负数，应为 0 或正数。",
        "changes 第5项 from：“2026/01/01”不是有效的日期，应写作 YYYY-MM-DD，如 2026-01-01。",
        "changes 第5项 area：“city”不是城乡类别，应为 urban（城市）或 rural（农村），不分城乡时省略。",
        "changes 第5项 scale：“-1.08”不是正数，应为大于0的倍数，如 1.08 表示提高8%。",
        "changes 第6项 scal：未知的键，是否应为 scale？可用的键：parameter、from、area、scale、set、divisions。",
        "changes 第6项 area：参数“marginal.multiplier”不分城乡，请删去 area。",
        "changes 第6项：缺少 scale 或 set（scale 按倍数调整，如 1.08 表示提高8%；set 直接给出新值）。",
    ]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            {
                "date": "2026-01-01",
                "changes": [{"parameter": "dibao.standard", "from": "2026-01-01", "scale": "1"}],
            },
            "name：缺少方案名称（中文标题），如 name: 农村低保标准提高8%。",
        ),
        (scenario([]), "changes：至少要有一项调整（parameter、from 和 scale 或 set）。"),
        (scenario("x"), "changes：应为列表，每项以“- parameter: …”开头。"),
        (scenario(["x"]), "changes 第1项：应为“键: 值”的映射，至少包含 parameter、from 和 scale 或 set。"),
        (
            scenario([{"parameter": "dibao.standard", "from": "2026-07-01", "scale": "1.08"}]),
            "changes 第1项 from：起始日期 2026-07-01 晚于测算日期 date（2026-01-01），调整在测算日期尚未生效，"
            "结果不会有任何变化；请把 date 改为起始日期当天或之后。",
        ),
        (
            scenario([{"parameter": "dibao.standard", "from": "2026-01-01", "scale": "8%"}]),
            "changes 第1项 scale：“8%”不是数字，应只写数字、不带单位和百分号，如 1.08。",
        ),
        (
            scenario([{"parameter": "dibao.standard", "from": "2026-01-01", "set": "600.123"}]),
            "changes 第1项 set：金额“600.123”超过两位小数，金额只能精确到分，如 600.12。",
        ),
        (
            scenario([{"parameter": "dibao.phase_out_months", "from": "2026-01-01", "scale": "2"}]),
            "changes 第1项 scale：参数“dibao.phase_out_months”只能取整数，请用 set 直接给出新值。",
        ),
        (
            scenario([{"parameter": "tekun.basic_base_area", "from": "2026-01-01", "set": "1"}]),
            "changes 第1项 parameter：参数“tekun.basic_base_area”是城乡类别而不是数值，不能用于测算调整。",
        ),
        (
            scenario(
                [
                    {
                        "parameter": "dibao.standard",
                        "from": "2026-01-01",
                        "scale": "1.1",
                        "divisions": ["520102001"],
                    }
                ]
            ),
            "changes 第1项 divisions：“520102001”是乡镇或村，参数只能按省、市（州）、县（市、区）调整。",
        ),
        (
            "just text",
            "测算方案应为“键: 值”的映射，包含 name、date 和 changes（示例见 docs/simulation.md）。",
        ),
    ],
    ids=[
        "no-name",
        "no-changes",
        "changes-not-a-list",
        "change-not-a-mapping",
        "from-after-date",
        "percent-sign",
        "money-beyond-fen",
        "scale-of-an-integer",
        "not-numeric",
        "township",
        "not-a-mapping",
    ],
)
def test_one_problem_one_sentence(data: Any, expected: str, params: ParameterSet) -> None:
    assert problems(data, params) == [expected]


def test_scenario_files_syntax_errors_and_missing_files(tmp_path: Path, params: ParameterSet) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nchanges:\n  - parameter: [dibao.standard\n", encoding="utf-8")
    with pytest.raises(ScenarioError) as exc:
        load_scenario(bad, params)
    (message,) = exc.value.problems
    assert message.startswith("测算方案文件“bad.yaml”第") and "YAML 语法错误" in message
    with pytest.raises(ScenarioError) as exc:
        load_scenario(tmp_path / "nope.yaml", params)
    assert exc.value.problems == [f"找不到测算方案文件“{tmp_path / 'nope.yaml'}”。"]
    gbk = tmp_path / "gbk.yaml"
    gbk.write_bytes("name: 农村低保\n".encode("gbk"))
    with pytest.raises(ScenarioError) as exc:
        load_scenario(gbk, params)
    assert exc.value.problems == ["测算方案文件“gbk.yaml”应为 UTF-8 编码。"]


def test_values_are_read_exactly_from_yaml(tmp_path: Path, params: ParameterSet) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "name: 测试\ndate: 2026-01-01\nsource: registry\nchanges:\n"
        "  - {parameter: dibao.standard, from: 2026-01-01, area: urban, set: 800.10, divisions: [520100, '522700']}\n",
        encoding="utf-8",
    )
    s = load_scenario(path, params)
    assert s.source == "registry"
    (change,) = s.changes
    assert change.set_to == Decimal("800.10") and change.divisions == ("520100", "522700")
    changed = s.apply(params)
    assert changed.resolve("dibao.standard", "520102", "urban", ON).value == Decimal("800.10")
    assert changed.resolve("dibao.standard", "522701", "urban", ON).value == Decimal("800.10")
    assert changed.resolve("dibao.standard", "520201", "urban", ON).value == Decimal("778.00")
    assert changed.resolve("dibao.standard", "520102", "rural", ON).value == Decimal("568.17")


def test_results_of_different_households_are_refused(
    tables: tuple[pa.Table, pa.Table], params: ParameterSet
) -> None:
    households, members = tables
    before = evaluate(households.slice(0, 50), members, params)
    with pytest.raises(ValueError, match="not the same households"):
        sim.compare(before, before.slice(1), params.catalog)
    with pytest.raises(ValueError, match="not the same households"):
        sim.compare(before, before.take(list(reversed(range(before.num_rows)))), params.catalog)


def test_duplicate_keys_are_reported(tmp_path: Path, params: ParameterSet) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text(
        "name: 重复\ndate: 2026-01-01\nchanges:\n"
        "  - parameter: dibao.standard\n    from: 2026-01-01\n    scale: 1.08\n    scale: 1.10\n",
        encoding="utf-8",
    )
    with pytest.raises(ScenarioError) as exc:
        load_scenario(path, params)
    assert exc.value.problems == ["第7行：键“scale”重复，同一层中每个键只能出现一次，请删去或合并其中一个。"]
