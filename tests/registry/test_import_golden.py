"""Golden roster files (tests/fixtures/rosters, described row by row in its README): exact
counts and reject reasons, on SQLite and PostgreSQL, and the same again on a second import."""

from __future__ import annotations

import csv
import datetime as dt
import shutil
from pathlib import Path

import pyarrow as pa
import pytest
from sqlalchemy import Engine, text

from doudi import ids
from doudi.registry import divisions_store
from doudi.registry.service import import_roster_file
from doudi.settings import Settings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "rosters"
AS_OF = dt.date(2025, 11, 1)
NO_HEAD = "该户缺少户主（与户主关系为“户主”的成员），全户暂不导入"
TWO_HOMES = "同一人登记在多个家庭中（户编号：NM2025-006、NM2025-007），请核实后只保留一处"
UNKNOWN = "行政区划代码520199001001不在行政区划目录中"

GOLDEN = {
    "gbk_title.csv": {
        "counts": (17, 7, 0, 0, 10),
        "households": 5,
        "rejects": {
            8: ("公民身份号码", ids.REASONS[ids.BAD_CHECK]),
            9: ("公民身份号码", ids.REASONS[ids.SCIENTIFIC]),
            11: ("与户主关系", NO_HEAD),
            12: ("与户主关系", NO_HEAD),
            13: ("行政区划代码", UNKNOWN),
            14: ("行政区划代码", UNKNOWN),
            16: ("工资性收入", "工资性收入不能为负数"),
            17: ("公民身份号码", TWO_HOMES),
            19: ("公民身份号码", TWO_HOMES),
            20: ("公民身份号码", ids.REASONS[ids.FIFTEEN_DIGITS]),
        },
        "skipped": [21],
    },
    "utf8_bom.csv": {
        "counts": (7, 6, 0, 0, 1),
        "households": 3,
        "rejects": {4: ("姓名", "姓名为空")},
        "skipped": [],
    },
    "merged.xlsx": {
        "counts": (8, 7, 0, 0, 1),
        "households": 4,
        "rejects": {8: ("公民身份号码", ids.REASONS[ids.SCIENTIFIC])},
        "skipped": [],
    },
}


def register_qingzhen_villages(engine: Engine) -> None:
    """The UTF-8 roster names its villages; a county registers its village list first."""
    catalog = divisions_store.load_catalog(engine)
    villages = pa.table(
        {
            "code": ["520181100001", "520181101001"],
            "name": ["民乐村", "新寨村"],
            "area_type": ["rural", "rural"],
        }
    )
    with engine.begin() as conn:
        divisions_store.add_villages(conn, catalog, villages, "county_list")


def read_rejects(path: str) -> dict[int, tuple[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0][:4] == ["工作表", "行号", "列", "原因"]
    return {int(r[1]): (r[2], r[3]) for r in rows[1:]}


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_roster(name: str, settings: Settings, engine: Engine, tmp_path: Path) -> None:
    golden = GOLDEN[name]
    path = shutil.copy(FIXTURES / name, tmp_path / name)
    if name == "utf8_bom.csv":
        register_qingzhen_villages(engine)
    result, warnings = import_roster_file(engine, Path(path), settings=settings, as_of=AS_OF, actor="tester")
    counts = (result.read, result.new, result.updated, result.unchanged, result.rejected)
    assert counts == golden["counts"]
    assert result.households_new == golden["households"]
    assert result.rejects_path is not None
    assert read_rejects(result.rejects_path) == golden["rejects"]
    for row in golden["skipped"]:
        assert any(f"第{row}行已跳过" in w for w in warnings)
    with engine.connect() as conn:
        before = {
            t: conn.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar_one()
            for t in (
                "persons",
                "person_versions",
                "household_versions",
                "household_categories",
                "income_items",
            )
        }

    again, _ = import_roster_file(engine, Path(path), settings=settings, as_of=AS_OF, actor="tester")
    read, new, _updated, _unchanged, rejected = golden["counts"]
    assert (again.read, again.new, again.updated, again.unchanged, again.rejected) == (
        read,
        0,
        0,
        new,
        rejected,
    )
    with engine.connect() as conn:
        after = {t: conn.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar_one() for t in before}
    assert after == before


def test_name_only_roster_without_village_list_is_rejected_with_reason(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    path = shutil.copy(FIXTURES / "utf8_bom.csv", tmp_path / "utf8_bom.csv")
    result, _ = import_roster_file(engine, Path(path), settings=settings, as_of=AS_OF, actor="tester")
    assert result.rejected == 7 and result.new == 0
    assert result.rejects_path is not None
    got = read_rejects(result.rejects_path)
    assert got[2] == (
        "行政区划代码",
        "村（社区）“民乐村”不在“红枫湖镇”的行政区划目录中，请填写12位行政区划代码",
    )


def test_xlsx_values_arrive_as_written(settings: Settings, engine: Engine, tmp_path: Path) -> None:
    path = shutil.copy(FIXTURES / "merged.xlsx", tmp_path / "merged.xlsx")
    import_roster_file(engine, Path(path), settings=settings, as_of=AS_OF, actor="tester")
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT p.citizen_id, h.household_no, hv.division_code FROM persons p "
                "JOIN person_versions pv ON pv.person_id = p.id JOIN households h ON h.id = pv.household_id "
                "JOIN household_versions hv ON hv.household_id = h.id ORDER BY p.citizen_id"
            )
        ).all()
    by_id = {r[0]: (r[1], r[2]) for r in rows}
    # The integer ID cell, the merged household number and the numeric division code.
    assert by_id["520115197103031154"] == ("GSH-001", "520115001001")
    assert by_id["520115200505201480"][0] == "GSH-001"
