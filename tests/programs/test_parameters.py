"""Program parameters: the shipped files, resolution with inheritance, the per-county table,
scenarios (``with_change``), the documentation list, and a folder of broken files each paired
with the exact problems it must produce (``broken_parameters/<case>/expected.txt``)."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
import yaml

from doudi.programs.parameters import (
    DEFAULT_DIR,
    NUMERIC,
    UNITS,
    ParameterError,
    ParameterSet,
    load_parameters,
)

BROKEN = Path(__file__).parent / "broken_parameters"
CASES = sorted(d for d in BROKEN.iterdir() if d.is_dir())
DOC = Path(__file__).parents[2] / "docs" / "parameters.md"

PROVINCE = "520000"
QIANNAN = "522700"  # 黔南布依族苗族自治州: sets its own dibao.standard from 2024-03-01
DUYUN = "522701"  # 都匀市, in 黔南: inherits from 522700
NANMING = "520102"  # 南明区, in 贵阳: nothing of its own, inherits from the province
STANDARD = "dibao.standard"
# The parameters whose values the department has confirmed; every other one is a placeholder.
# Confirming a value is a deliberate act: move its name here when `placeholder: true` goes.
CONFIRMED = {
    "dibao.standard",
    "disability.care_subsidy.grade1",
    "disability.care_subsidy.grade2",
    "marginal.multiplier",
    "rigid_spending.validity_months",
    "tekun.basic_base_area",
    "tekun.basic_multiplier",
}


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def problems_of(directory: Path) -> list[str]:
    with pytest.raises(ParameterError) as info:
        load_parameters(directory)
    return [str(p) for p in info.value.problems]


def expected_of(case: Path) -> list[str]:
    return (case / "expected.txt").read_text(encoding="utf-8").splitlines()


@pytest.fixture(scope="module")
def params() -> ParameterSet:
    return load_parameters()


# --- broken files ------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=lambda d: d.name)
def test_broken_file_gives_exactly_its_expected_problems(case: Path) -> None:
    assert problems_of(case) == expected_of(case)


def test_each_broken_case_is_one_file_with_one_problem() -> None:
    # One mistake must produce one message: a second, derived message only buries the first.
    assert len(CASES) >= 15
    for case in CASES:
        assert len(list(case.glob("*.yaml"))) == 1, case.name
        assert len(expected_of(case)) == 1, case.name


def test_problem_carries_file_line_column_key_and_message() -> None:
    with pytest.raises(ParameterError) as info:
        load_parameters(BROKEN / "money_three_decimals")
    (problem,) = info.value.problems
    assert (problem.file, problem.line, problem.column) == ("dibao.yaml", 11, 23)
    assert problem.key == "dibao.standard.values.520000.rural.2025-02-01"
    assert "568.167" in problem.message and "568.17" in problem.message
    assert str(problem) in str(info.value)


def test_problems_of_all_files_are_reported_at_once(tmp_path: Path) -> None:
    first = BROKEN / "money_three_decimals"
    second = BROKEN / "unknown_unit"
    shutil.copy(first / "dibao.yaml", tmp_path)
    shutil.copy(second / "disability.yaml", tmp_path)
    # Files are read in name order: dibao.yaml, then disability.yaml.
    assert problems_of(tmp_path) == expected_of(first) + expected_of(second)


def test_every_problem_of_one_file_is_reported_next_to_valid_files(tmp_path: Path) -> None:
    for path in DEFAULT_DIR.glob("*.yaml"):
        shutil.copy(path, tmp_path)
    (tmp_path / "tekun.yaml").write_text(
        """\
tekun.care.self_care:
  description: 特困人员照料护理标准：具备生活自理能力
  unit: yuan_per_month
  reference: 贵州金额待确定
  values:
    "520000":
      all:
        "2020-01-01": 200.005
tekun.student_age_limit:
  description: 在校就读的特困未成年人继续供养至此年龄（不含）
  unit: years
  values:
    "520000":
      all:
        "2016-10-01": 22
tekun.basic_multiplier:
  description: 特困人员基本生活标准不低于低保标准的倍数
  unit: multiple_of_standard
  reference: 国发〔2016〕14号
  values:
    "520199":
      all:
        "2016-10-01": 1.30
""",
        encoding="utf-8",
    )
    problems = problems_of(tmp_path)
    assert [p.split(": ")[0] for p in problems] == ["tekun.yaml:8:23", "tekun.yaml:10:3", "tekun.yaml:21:5"]
    assert [p.split(": ")[1] for p in problems] == [
        "tekun.care.self_care.values.520000.all.2020-01-01",
        "tekun.student_age_limit",
        "tekun.basic_multiplier.values.520199",
    ]


def test_an_empty_directory_is_one_problem(tmp_path: Path) -> None:
    assert problems_of(tmp_path) == [f"{tmp_path}:1:1: (directory): 目录中没有参数文件（*.yaml）"]


# --- the shipped parameters --------------------------------------------------------------


def test_shipped_parameters_load_with_provenance(params: ParameterSet) -> None:
    assert len(params.parameters) >= 28
    for name, p in params.parameters.items():
        assert p.description.strip(), name
        assert p.unit in UNITS, name
        assert p.reference.strip(), name
        assert p.file == f"{name.split('.')[0]}.yaml", name
        # The province sets every parameter, so every county inherits a value.
        expected_areas = {"urban", "rural"} if p.by_area else {"all"}
        assert set(p.values[PROVINCE]) == expected_areas, name
        assert all(p.values[PROVINCE][a] for a in expected_areas), name


def test_county_inherits_from_its_prefecture(params: ParameterSet) -> None:
    r = params.resolve(STANDARD, DUYUN, "urban", day("2024-03-01"))
    assert (r.value, r.division_code, r.start) == (Decimal("506.60"), QIANNAN, day("2024-03-01"))
    assert r.reference == "黔南州民政局统计数据（2024年3月）"  # the value's own reference wins
    assert r.unit == "yuan_per_month" and not r.placeholder
    rural = params.resolve(STANDARD, DUYUN, "rural", day("2025-10-01"))
    assert (rural.value, rural.division_code) == (Decimal("406.11"), QIANNAN)
    # The nearest level that sets a value wins, even when the province's value is newer.
    assert params.resolve(STANDARD, DUYUN, "urban", day("2025-10-01")).value == Decimal("506.60")


def test_county_without_own_value_inherits_from_the_province(params: ParameterSet) -> None:
    r = params.resolve(STANDARD, NANMING, "urban", day("2025-10-01"))
    assert (r.value, r.division_code, r.start) == (Decimal("778.00"), PROVINCE, day("2025-02-01"))
    assert r.reference.startswith("社会救助暂行办法第10条")
    rural = params.resolve(STANDARD, NANMING, "rural", day("2025-02-01"))
    assert (rural.value, rural.note) == (Decimal("568.17"), "全省农村平均标准6818元/年折算")


def test_township_and_village_codes_resolve_through_their_county(params: ParameterSet) -> None:
    on = day("2025-10-01")
    for code in ("522701006", "522701006001", DUYUN, QIANNAN):
        assert params.resolve(STANDARD, code, "urban", on).division_code == QIANNAN, code
    assert params.resolve(STANDARD, PROVINCE, "urban", on).value == Decimal("778.00")


def test_nothing_before_the_earliest_date(params: ParameterSet) -> None:
    with pytest.raises(LookupError):
        params.resolve(STANDARD, DUYUN, "urban", day("2024-02-29"))
    with pytest.raises(LookupError):
        params.resolve(STANDARD, NANMING, "urban", day("2025-01-31"))
    with pytest.raises(LookupError):
        params.table(day("2024-06-01"))


def test_parameters_without_areas_ignore_the_area(params: ParameterSet) -> None:
    urban = params.resolve("marginal.multiplier", NANMING, "urban", day("2025-10-01"))
    rural = params.resolve("marginal.multiplier", NANMING, "rural", day("2025-10-01"))
    assert urban == rural and urban.area == "all" and urban.value == Decimal("1.50")
    assert params.resolve("tekun.basic_base_area", DUYUN, "rural", day("2025-10-01")).value == "urban"


def test_in_force_lists_every_parameter_in_name_order(params: ParameterSet) -> None:
    in_force = params.in_force(DUYUN, "rural", day("2025-10-01"))
    assert [r.name for r in in_force] == sorted(params.parameters)
    assert next(r for r in in_force if r.name == STANDARD).value == Decimal("406.11")


def test_table_has_a_row_per_county_and_area_with_decimal_columns(params: ParameterSet) -> None:
    table = params.table(day("2025-10-01"))
    assert table.num_rows == 88 * 2
    assert table.column_names[:2] == ["county_code", "area_type"]
    assert set(table.column_names[2:]) == {p.column for p in params.parameters.values()}
    for p in params.parameters.values():
        expected = pa.string() if p.unit == "area" else NUMERIC
        assert table.schema.field(p.column).type == expected, p.name
    assert table.schema.field("dibao__standard").type == pa.decimal128(18, 4)
    counties = table.column("county_code").to_pylist()
    assert all(counties.count(c) == 2 for c in set(counties)) and len(set(counties)) == 88
    rows = {(r["county_code"], r["area_type"]): r for r in table.to_pylist()}
    assert rows[(DUYUN, "urban")]["dibao__standard"] == Decimal("506.6000")
    assert rows[(NANMING, "rural")]["dibao__standard"] == Decimal("568.1700")
    assert rows[(NANMING, "urban")]["tekun__basic_base_area"] == "urban"
    assert rows[(NANMING, "urban")]["marginal__multiplier"] == Decimal("1.5000")


def test_table_for_given_counties(params: ParameterSet) -> None:
    table = params.table(day("2025-10-01"), county_codes=[NANMING, DUYUN])
    assert table.column("county_code").to_pylist() == [NANMING, NANMING, DUYUN, DUYUN]
    assert table.column("area_type").to_pylist() == ["urban", "rural", "urban", "rural"]


# --- scenarios ---------------------------------------------------------------------------


def test_with_change_scales_rural_standard_from_a_date(params: ParameterSet) -> None:
    start = day("2026-01-01")
    changed = params.with_change(STANDARD, start=start, area="rural", scale=Decimal("1.08"))
    nanming = changed.resolve(STANDARD, NANMING, "rural", start)
    duyun = changed.resolve(STANDARD, DUYUN, "rural", start)
    assert (nanming.value, nanming.division_code, nanming.start) == (Decimal("613.62"), PROVINCE, start)
    assert (duyun.value, duyun.division_code) == (Decimal("438.60"), QIANNAN)  # 438.5988 half up
    assert nanming.note == "测算方案"
    # Urban unchanged; before the start nothing changes; the original set is untouched.
    assert changed.resolve(STANDARD, NANMING, "urban", start).value == Decimal("778.00")
    assert changed.resolve(STANDARD, DUYUN, "urban", start).value == Decimal("506.60")
    before = day("2025-12-31")
    assert changed.resolve(STANDARD, NANMING, "rural", before).value == Decimal("568.17")
    assert changed.resolve(STANDARD, DUYUN, "rural", before).value == Decimal("406.11")
    assert params.resolve(STANDARD, NANMING, "rural", start).value == Decimal("568.17")
    # The table of the scenario carries the new values for every county.
    rows = {(r["county_code"], r["area_type"]): r for r in changed.table(start).to_pylist()}
    assert rows[(NANMING, "rural")]["dibao__standard"] == Decimal("613.6200")
    assert rows[("522702", "rural")]["dibao__standard"] == Decimal("438.6000")


def test_with_change_set_to(params: ParameterSet) -> None:
    start = day("2026-01-01")
    changed = params.with_change(STANDARD, start=start, area="urban", set_to=Decimal("800"))
    assert changed.resolve(STANDARD, NANMING, "urban", start).value == Decimal("800.00")
    assert changed.resolve(STANDARD, DUYUN, "urban", start).value == Decimal("800.00")
    assert changed.resolve(STANDARD, DUYUN, "rural", start).value == Decimal("406.11")
    only_duyun = params.with_change(
        STANDARD, start=start, area="urban", set_to=Decimal("520.5"), divisions=[DUYUN]
    )
    own = only_duyun.resolve(STANDARD, DUYUN, "urban", start)
    assert (own.value, own.division_code) == (Decimal("520.50"), DUYUN)
    assert only_duyun.resolve(STANDARD, "522702", "urban", start).value == Decimal("506.60")


def test_with_change_of_a_ratio_keeps_four_places(params: ParameterSet) -> None:
    start = day("2026-01-01")
    changed = params.with_change("marginal.multiplier", start=start, scale=Decimal("1.1"))
    assert changed.resolve("marginal.multiplier", DUYUN, "urban", start).value == Decimal("1.6500")


def test_with_change_needs_exactly_one_of_scale_and_set_to(params: ParameterSet) -> None:
    with pytest.raises(ValueError):
        params.with_change(STANDARD, start=day("2026-01-01"))
    with pytest.raises(ValueError):
        params.with_change(STANDARD, start=day("2026-01-01"), scale=Decimal(1), set_to=Decimal(1))


# --- placeholders ------------------------------------------------------------------------


def test_placeholder_flags_are_exactly_the_marked_parameters(params: ParameterSet) -> None:
    marked = set()
    for path in DEFAULT_DIR.glob("*.yaml"):
        for name, spec in yaml.safe_load(path.read_text(encoding="utf-8")).items():
            if spec.get("placeholder") is True:
                marked.add(name)
    flagged = {name for name, p in params.parameters.items() if p.placeholder}
    assert flagged == marked
    assert set(params.parameters) - flagged == CONFIRMED
    for r in params.in_force(DUYUN, "urban", day("2025-10-01")):
        assert r.placeholder == (r.name in marked), r.name


# --- documentation -----------------------------------------------------------------------


def _doc_rows() -> dict[str, list[str]]:
    """The parameter list of docs/parameters.md: name → the cells of its table row."""
    text = DOC.read_text(encoding="utf-8")
    assert "\n## 参数一览\n" in text
    rows: dict[str, list[str]] = {}
    for line in text.split("\n## 参数一览\n", 1)[1].splitlines():
        m = re.match(r"^\| `([a-z_.0-9]+)` \|", line)
        if m:
            assert m.group(1) not in rows, f"{m.group(1)} listed twice"
            rows[m.group(1)] = [c.strip() for c in line.strip().strip("|").split("|")]
    return rows


def _values_cell(params: ParameterSet, name: str) -> str:
    """What the doc's 最新取值 cell must say: per division, the latest value of each area and its start."""
    area_zh = {"urban": "城市 ", "rural": "农村 ", "all": ""}
    parts = []
    for code, by_area in params[name].values.items():
        latest = "、".join(
            f"{area_zh[a]}{dated[-1].value}（{dated[-1].start.isoformat()} 起）"
            for a, dated in by_area.items()
        )
        parts.append(f"{code} {params.catalog.require(code).name}：{latest}")
    return "；".join(parts)


def test_doc_lists_every_parameter_with_its_values_and_placeholder_mark(params: ParameterSet) -> None:
    rows = _doc_rows()
    assert set(rows) == set(params.parameters), "docs/parameters.md 参数一览 must list every parameter"
    for name, p in params.parameters.items():
        expected = [f"`{name}`", p.description, f"`{p.unit}`", _values_cell(params, name)]
        expected.append("是" if p.placeholder else "否")
        assert rows[name] == expected, (
            f"docs/parameters.md row of {name} should be: | {' | '.join(expected)} |"
        )


def test_doc_explains_every_unit() -> None:
    text = DOC.read_text(encoding="utf-8")
    for unit in UNITS:
        assert f"`{unit}`" in text, unit
