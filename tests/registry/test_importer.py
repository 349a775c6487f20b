"""Roster import on SQLite and PostgreSQL: counts, rejects, idempotence and history."""

from __future__ import annotations

import datetime as dt

import pytest
from factories import family, person_row, roster
from sqlalchemy import Engine, text

from doudi.registry import divisions_store, queries
from doudi.registry.importer import REGISTRY_TABLES, ImportResult, import_roster_table

OCT = dt.date(2025, 10, 1)
NOV = dt.date(2025, 11, 1)
TABLES = (*REGISTRY_TABLES, "divisions")


def run(engine: Engine, rows: list[dict], on: dt.date = OCT) -> ImportResult:
    catalog = divisions_store.load_catalog(engine)
    result = import_roster_table(
        engine, roster(rows), catalog=catalog, as_of=on, actor="tester", file_name="t.csv", file_sha="x"
    )
    assert result.read == result.new + result.updated + result.unchanged + result.rejected
    return result


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar_one() for t in TABLES}


def reasons(result: ImportResult) -> dict[str, str]:
    assert result.rejects is not None
    return {r["name"]: r["reason"] for r in result.rejects.to_pylist()}


def test_first_import_then_the_same_again_changes_nothing(engine: Engine) -> None:
    rows = family("H001") + family("H002", category="特困、防返贫", seq0=31)
    first = run(engine, rows)
    assert (first.read, first.new, first.updated, first.unchanged, first.rejected) == (6, 6, 0, 0, 0)
    assert (first.households_new, first.categories_opened) == (2, 3)
    before = counts(engine)
    second = run(engine, rows)
    assert (second.read, second.new, second.updated, second.unchanged, second.rejected) == (6, 0, 0, 6, 0)
    assert second.households_unchanged == 2
    assert counts(engine) == before


def test_corrected_file_updates_with_history(engine: Engine) -> None:
    run(engine, family("H001", wage="600"))
    corrected = family("H001", wage="900")
    result = run(engine, corrected, on=NOV)
    assert (result.new, result.updated, result.unchanged) == (0, 1, 2)
    with engine.connect() as conn:
        before = queries.register(conn, on=dt.date(2025, 10, 15))
        after = queries.register(conn, on=dt.date(2025, 11, 15))
    head_income = lambda t: next(r["monthly_income"] for r in t.to_pylist() if r["relation"] == "head")  # noqa: E731
    assert str(head_income(before)) == "600.00"
    assert str(head_income(after)) == "900.00"


def test_category_history_answers_who_was_in_dibao_on_a_date(engine: Engine) -> None:
    run(engine, family("H001", category="低保"))
    run(engine, family("H001", category="低保边缘"), on=NOV)
    with engine.connect() as conn:
        october = {
            r["category"]: r["persons"]
            for r in queries.category_counts(conn, on=dt.date(2025, 10, 31)).to_pylist()
        }
        november = {r["category"]: r["persons"] for r in queries.category_counts(conn, on=NOV).to_pylist()}
        start = conn.execute(
            text("SELECT start_date FROM household_categories WHERE category='dibao'")
        ).scalar_one()
    assert october == {"dibao": 3}
    assert november == {"marginal": 3}
    assert str(start) == "2023-05-01"


def test_member_who_leaves_is_closed_not_deleted(engine: Engine) -> None:
    run(engine, family("H001"))
    result = run(engine, family("H001")[:2], on=NOV)
    assert result.members_left == 1
    with engine.connect() as conn:
        assert len(queries.register(conn, on=dt.date(2025, 10, 15))) == 3
        assert len(queries.register(conn, on=dt.date(2025, 11, 15))) == 2
        assert conn.execute(text("SELECT COUNT(*) FROM person_versions")).scalar_one() == 3


def test_household_without_head_is_rejected_whole(engine: Engine) -> None:
    rows = family("H001")[1:] + family("H002", seq0=31)
    result = run(engine, rows)
    assert (result.new, result.rejected) == (3, 2)
    assert set(reasons(result).values()) == {"该户缺少户主（与户主关系为“户主”的成员），全户暂不导入"}


def test_bad_head_row_names_its_row(engine: Engine) -> None:
    rows = family("H001")
    rows[0]["citizen_id"] = rows[0]["citizen_id"][:-1] + ("0" if rows[0]["citizen_id"][-1] != "0" else "1")
    result = run(engine, rows)
    got = reasons(result)
    assert got["甲某"] == "公民身份号码校验位错误，可能有数字录入错误"
    assert got["乙某"] == "该户户主所在行（第2行）未通过校验，全户暂不导入"


def test_person_in_two_households_is_rejected_in_both(engine: Engine) -> None:
    rows = family("H001") + family("H002", seq0=31)
    twin = dict(rows[2], household_no="H002", name="丙某二")
    result = run(engine, [*rows, twin])
    got = reasons(result)
    assert "同一人登记在多个家庭中（户编号：H001、H002）" in got["丙某"]
    assert "同一人登记在多个家庭中" in got["丙某二"]
    assert result.rejected == 2


def test_unknown_division_and_bad_values_are_rejected_with_reasons(engine: Engine) -> None:
    rows = family("H001", seq0=11) + family("H002", seq0=31) + family("H003", seq0=51)
    for r in rows[3:6]:
        r["division_code"] = "520199001001"
    rows[7]["wage_income"] = "-50"
    rows[8]["disability_grade"] = "五级"
    result = run(engine, rows)
    got = reasons(result)
    assert got["甲某"] == "行政区划代码520199001001不在行政区划目录中"
    assert "工资性收入不能为负数" in next(r["reason"] for r in result.rejects.to_pylist() if r["_row"] == 9)
    assert any("残疾等级应为一级至四级" in r["reason"] for r in result.rejects.to_pylist() if r["_row"] == 10)
    # H001 whole, H003 only its head: a member's bad row does not block the rest of the household.
    assert result.new == 4 and result.rejected == 5


def test_new_village_under_a_known_township_is_registered(engine: Engine) -> None:
    rows = family("H001")
    for r in rows:
        r["division_code"] = "520102001077"
    result = run(engine, rows)
    assert result.new_villages == 1
    with engine.connect() as conn:
        row = conn.execute(text("SELECT parent_code, level FROM divisions WHERE code='520102001077'")).one()
    assert tuple(row) == ("520102001", 5)


@pytest.mark.parametrize("label", ["户主", "本人（户主）", "head"])
def test_relation_labels(engine: Engine, label: str) -> None:
    rows = family("H001")
    rows[0]["relation"] = label
    assert run(engine, rows).new == 3


def test_excel_mangled_id_is_rejected_not_guessed(engine: Engine) -> None:
    rows = [*family("H001"), person_row("H001", "丁某", "子女", citizen_id="5.20102E+17")]
    result = run(engine, rows)
    assert reasons(result)["丁某"].startswith("公民身份号码被Excel显示为科学计数法")
    assert result.new == 3
