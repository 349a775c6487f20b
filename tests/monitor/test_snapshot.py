"""The registry snapshot of the monthly run, on SQLite and PostgreSQL: who is in it, its two
Parquet schemas, income sums, category flags and the programs' figures."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pyarrow.parquet as pq
from factories import family, person_row, roster
from sqlalchemy import Engine, text

from doudi.monitor.snapshot import HOUSEHOLDS_SCHEMA, PERSONS_SCHEMA, registry_snapshot
from doudi.programs.run import run_programs
from doudi.registry import divisions_store
from doudi.registry.importer import import_roster_table
from doudi.settings import Settings

OCT = dt.date(2026, 10, 1)
NOV = dt.date(2026, 11, 1)
OCT_END = dt.date(2026, 10, 31)
NOV_END = dt.date(2026, 11, 30)


def load(engine: Engine, rows: list[dict], on: dt.date) -> None:
    result = import_roster_table(
        engine,
        roster(rows),
        catalog=divisions_store.load_catalog(engine),
        as_of=on,
        actor="tester",
        file_name="t.csv",
        file_sha=on.isoformat(),
    )
    assert result.rejected == 0, result.rejects.to_pylist() if result.rejects is not None else None


def october() -> list[dict]:
    single = [
        person_row(
            "H003",
            "丁某",
            "户主",
            birth="1950-01-05",
            seq=51,
            category="特困、防返贫",
            category_start="2024-02-01",
            disability_grade="一级",
            disability_kind="肢体",
        )
    ]
    return family("H001", category="低保", wage="600") + family("H002", category="低保", seq0=31) + single


def test_snapshot_holds_registered_households_and_their_current_members(
    engine: Engine, settings: Settings
) -> None:
    load(engine, october(), OCT)
    # November: H001's child leaves, the head's wage rises; H003 leaves 特困 for 低保边缘.
    nov = [r for r in family("H001", category="低保", wage="900") if r["name"] != "丙某"]
    h3 = october()[-1] | {"category": "低保边缘、防返贫"}
    load(engine, nov + october()[3:6] + [h3], NOV)
    # H002 leaves 低保 on 1 November (a caseworker's decision): in October's snapshot, not in November's
    with engine.begin() as conn:
        conn.execute(
            text(
                """UPDATE household_categories SET end_date = :on
                   WHERE household_id = (SELECT id FROM households WHERE household_no = 'H002')"""
            ),
            {"on": NOV},
        )

    before = registry_snapshot(engine, on=OCT_END, data_dir=settings.data_dir, settings=settings)
    after = registry_snapshot(engine, on=NOV_END, data_dir=settings.data_dir, settings=settings)

    assert before.persons_path == settings.data_dir / "monitor" / "2026-10" / "registry_persons.parquet"
    assert after.households_path == settings.data_dir / "monitor" / "2026-11" / "registry_households.parquet"
    persons = pq.read_table(after.persons_path)
    households = pq.read_table(after.households_path)
    assert persons.schema == PERSONS_SCHEMA
    assert households.schema == HOUSEHOLDS_SCHEMA
    assert (before.persons, before.households) == (7, 3)
    assert (after.persons, after.households) == (3, 2)
    assert sorted(households.column("household_no").to_pylist()) == ["H001", "H003"]

    people = {r["citizen_id"]: r for r in persons.to_pylist()}
    head = next(r for r in people.values() if r["household_no"] == "H001" and r["relation"] == "head")
    assert head["monthly_income"] == Decimal("900.00")
    assert head["birth_date"] == dt.date(1968, 3, 2)
    assert head["division_code"] == "520102001001"
    spouse = next(r for r in people.values() if r["household_no"] == "H001" and r["relation"] == "spouse")
    assert spouse["monthly_income"] == Decimal("0.00")
    single = next(r for r in people.values() if r["household_no"] == "H003")
    assert single["disability_grade"] == 1

    by_no = {r["household_no"]: r for r in households.to_pylist()}
    h1, h3 = by_no["H001"], by_no["H003"]
    assert {r["household_id"] for r in people.values() if r["household_no"] == "H001"} == {h1["household_id"]}
    assert h1["member_count"] == 2
    assert (h1["in_dibao"], h1["in_tekun"], h1["in_marginal"]) == (True, False, False)
    assert h1["category_start"] == dt.date(2023, 5, 1)
    assert (h3["in_tekun"], h3["in_marginal"], h3["in_relapse_watch"]) == (False, True, True)
    # 特困 closed, 低保边缘 opened on 1 November, 防返贫 still open since 2024: the earliest start
    assert h3["category_start"] == dt.date(2024, 2, 1)
    october_h3 = {r["household_no"]: r for r in pq.read_table(before.households_path).to_pylist()}["H003"]
    assert (october_h3["in_tekun"], october_h3["in_marginal"], october_h3["in_relapse_watch"]) == (
        True,
        False,
        True,
    )
    assert october_h3["category_start"] == dt.date(2024, 2, 1)

    # The programs' figures, as a run of the programs on that day gives them
    programs = {
        r["household_id"]: r
        for r in run_programs(
            "registry", on=NOV_END, engine=engine, data_dir=settings.data_dir, write=False
        ).results.to_pylist()
    }
    for no, h in by_no.items():
        assert h["hh_income_monthly"] == programs[no]["counted_income"]
        assert h["per_capita_income"] == programs[no]["per_capita_income"]
        assert h["dibao_standard"] == programs[no]["standard"]
        assert h["marginal_line"] == programs[no]["marginal_line"]
    assert h1["dibao_standard"] == Decimal("778.00")
    assert h1["hh_income_monthly"] > 0


def test_empty_registry_gives_empty_files_with_the_schemas(engine: Engine, settings: Settings) -> None:
    snap = registry_snapshot(engine, on=NOV_END, data_dir=settings.data_dir, settings=settings)
    assert (snap.persons, snap.households) == (0, 0)
    assert pq.read_table(snap.persons_path).schema == PERSONS_SCHEMA
    assert pq.read_table(snap.households_path).schema == HOUSEHOLDS_SCHEMA
