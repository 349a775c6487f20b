"""The feature pipeline: golden cases (feature_cases/*.yaml) on DuckDB and on Spark, the
columns and types of ``features`` against the catalogue, the step files, debug mode."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from factories import citizen_id

from doudi.feeds.contract import default_contracts, get_contract
from doudi.monitor.catalogue import get_catalogue
from doudi.monitor.engines import DuckDBEngine, MonitorEngine
from doudi.monitor.features import STEPS, build_features, load_steps, register_inputs, run_period_table
from doudi.monitor.snapshot import CATEGORY_FLAGS, HOUSEHOLDS_SCHEMA, PERSONS_SCHEMA, Snapshot
from doudi.settings import Settings

CASES_DIR = Path(__file__).with_name("feature_cases")
CASES = sorted(CASES_DIR.glob("*.yaml"))
IDENTITY = ("citizen_id", "person_id", "household_no")

# Values of required contract columns a case may leave out.
FEED_DEFAULTS: dict[str, dict[str, Any]] = {
    "medical": {"visit_type": "outpatient", "reimbursed": "0.00", "major_disease": False},
    "disability": {"disability_kind": "physical"},
}


@dataclass(frozen=True)
class Load:
    load_id: int
    kind: str
    period: str
    path: Path


@dataclass
class Case:
    name: str
    period: str
    window_months: int
    ids: dict[str, str]  # who → citizen ID
    snapshot: Snapshot
    loads: dict[str, list[Load]]
    expected: dict[str, dict[str, Any]]  # who → column → value


def _value(value: Any, t: pa.DataType) -> Any:
    if value is None:
        return None
    if pa.types.is_decimal(t):
        return Decimal(str(value))
    if pa.types.is_date(t) and isinstance(value, str):
        return dt.date.fromisoformat(value)
    return value


def _table(rows: list[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    return pa.table(
        {f.name: pa.array([_value(r.get(f.name), f.type) for r in rows], f.type) for f in schema},
        schema=schema,
    )


def build_case(path: Path, work: Path) -> Case:
    """Write the case's snapshot and feed loads as Parquet under ``work``."""
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    ids = {
        who: citizen_id(str(p["birth"]), seq=100 + i, address=int(p["county"]))
        for i, (who, p) in enumerate(spec["people"].items())
    }
    assert len(set(ids.values())) == len(ids)
    persons, households = [], []
    for i, (no, h) in enumerate(spec["households"].items(), start=1):
        households.append(
            {
                "household_id": i,
                "household_no": no,
                "division_code": h["division_code"],
                "area_type": h["area_type"],
                "member_count": len(h["members"]),
                **{f"in_{c}": c in h["categories"] for c in CATEGORY_FLAGS},
                "category_start": h["category_start"],
                **h["figures"],
            }
        )
        for m in h["members"]:
            persons.append(
                {
                    "person_id": m["person_id"],
                    "household_id": i,
                    "household_no": no,
                    "citizen_id": ids[m["who"]],
                    "relation": m["relation"],
                    "birth_date": spec["people"][m["who"]]["birth"],
                    "disability_grade": m.get("disability_grade"),
                    "schooling": m.get("schooling", "none"),
                    "employment": m.get("employment"),
                    "monthly_income": m.get("monthly_income", "0.00"),
                    "division_code": h["division_code"],
                }
            )
    work.mkdir(parents=True, exist_ok=True)
    snapshot = Snapshot(work / "registry_persons.parquet", work / "registry_households.parquet", 0, 0)
    pq.write_table(_table(persons, PERSONS_SCHEMA), snapshot.persons_path)
    pq.write_table(_table(households, HOUSEHOLDS_SCHEMA), snapshot.households_path)

    loads: dict[str, list[Load]] = {}
    load_id = 0
    for kind, by_period in spec["feeds"].items():
        contract = get_contract(kind)
        for period, rows in by_period.items():
            load_id += 1
            stored = []
            for row in rows:
                row = dict(row)
                repeat = row.pop("repeat", 1)
                who = row.pop("who")
                for _ in range(repeat):
                    full = {**FEED_DEFAULTS.get(kind, {}), **row, "citizen_id": ids[who]}
                    if kind == "medical" and "settlement_no" not in full:
                        full["settlement_no"] = f"M{load_id}-{len(stored) + 1}"
                    full.update(period=period, load_id=load_id, row_no=len(stored) + 2)
                    stored.append(full)
            out = work / "feeds" / kind / period / f"load-{load_id}.parquet"
            out.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(_table(stored, contract.stored_schema()), out)
            loads.setdefault(kind, []).append(Load(load_id, kind, period, out))

    exp = spec["expected"]
    expected: dict[str, dict[str, Any]] = {}
    for no, h in spec["households"].items():
        for m in h["members"]:
            expected[m["who"]] = {
                **exp["all"],
                **exp["registered"],
                **exp["households"].get(no, {}),
                "citizen_id": ids[m["who"]],
                "person_id": m["person_id"],
                "household_no": no,
                "division_code": h["division_code"],
                **exp["subjects"][m["who"]],
            }
    registered = set(expected)
    for who, own in exp["subjects"].items():
        if who not in registered:
            expected[who] = {
                **exp["all"],
                **exp["unregistered"],
                "citizen_id": ids[who],
                "person_id": None,
                "household_no": None,
                **own,
            }
    return Case(path.stem, str(spec["period"]), spec["window_months"], ids, snapshot, loads, expected)


def run_case(engine: MonitorEngine, case: Case) -> dict[str, dict[str, Any]]:
    """The features of every subject, by ``who``."""
    register_inputs(
        engine, snapshot=case.snapshot, loads=case.loads, period=case.period, window_months=case.window_months
    )
    subjects = build_features(engine)
    table = engine.to_arrow("SELECT * FROM features")
    assert table.num_rows == subjects
    assert table.schema == get_catalogue().arrow_schema(), (
        "features must have the catalogue's columns and types"
    )
    who_of = {v: k for k, v in case.ids.items()}
    rows = table.to_pylist()
    assert len({r["citizen_id"] for r in rows}) == len(rows), "one row per subject"
    return {who_of[r["citizen_id"]]: r for r in rows}


def check(case: Case, actual: dict[str, dict[str, Any]]) -> None:
    assert sorted(actual) == sorted(case.expected), "subjects"
    types = {f.name: f.type for f in get_catalogue().arrow_schema()}
    problems = []
    for who, want in case.expected.items():
        missing = sorted(set(types) - set(want))
        assert not missing, f"{case.name}: no expected value of {missing} for {who}"
        for column, t in types.items():
            expected_value = _value(want[column], t)
            got = actual[who][column]
            if got != expected_value or type(got) is not type(expected_value):
                problems.append(f"{who}.{column}: expected {expected_value!r}, got {got!r}")
    assert not problems, f"{case.name}:\n" + "\n".join(problems)


@pytest.fixture(params=CASES, ids=[p.stem for p in CASES])
def case(request: pytest.FixtureRequest, tmp_path: Path) -> Case:
    return build_case(request.param, tmp_path / "case")


def duck_settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", duckdb_memory_limit="1GB", duckdb_threads=2)


def test_golden_cases_on_duckdb(case: Case, tmp_path: Path) -> None:
    engine = DuckDBEngine(duck_settings(tmp_path))
    try:
        check(case, run_case(engine, case))
    finally:
        engine.close()


@pytest.mark.spark
def test_golden_cases_on_spark(spark_session: Any, tmp_path: Path) -> None:
    from doudi.monitor.engines.spark_engine import SparkEngine

    engine = SparkEngine(duck_settings(tmp_path), session=spark_session)
    try:
        for path in CASES:
            one = build_case(path, tmp_path / path.stem)
            check(one, run_case(engine, one))
    finally:
        engine.close()


def test_every_feed_kind_is_a_view_even_without_loads(tmp_path: Path) -> None:
    case = build_case(CASES[0], tmp_path / "case")
    engine = DuckDBEngine(duck_settings(tmp_path))
    try:
        register_inputs(engine, snapshot=case.snapshot, loads={}, period="2026-11", window_months=12)
        for kind, contract in default_contracts().items():
            table = engine.to_arrow(f"SELECT * FROM feed_{kind}")
            assert table.num_rows == 0
            assert table.schema == contract.stored_schema()
        rows = build_features(engine)
        # without feeds the subjects are the registered persons only
        assert rows == pq.read_metadata(case.snapshot.persons_path).num_rows
    finally:
        engine.close()


def test_loads_outside_the_window_are_left_out_and_two_loads_of_a_period_refused(tmp_path: Path) -> None:
    case = build_case(CASES[0], tmp_path / "case")
    engine = DuckDBEngine(duck_settings(tmp_path))
    try:
        register_inputs(engine, snapshot=case.snapshot, loads=case.loads, period="2026-11", window_months=12)
        periods = (
            engine.to_arrow("SELECT DISTINCT period FROM feed_medical ORDER BY period").column(0).to_pylist()
        )
        assert periods[0] == "2025-12" and periods[-1] == "2026-11" and len(periods) == 12
        doubled = {"medical": [*case.loads["medical"], case.loads["medical"][-2]]}
        with pytest.raises(ValueError, match="more than one active load"):
            register_inputs(engine, snapshot=case.snapshot, loads=doubled, period="2026-11", window_months=12)
        with pytest.raises(ValueError, match="unknown feed kinds"):
            register_inputs(
                engine, snapshot=case.snapshot, loads={"tax": []}, period="2026-11", window_months=12
            )
    finally:
        engine.close()


def test_unregistered_people_without_a_hardship_signal_are_not_subjects(case: Case, tmp_path: Path) -> None:
    """With a discovery floor above everyone's spending, the unregistered subjects left are
    those with a major-disease settlement or a disability event; registered ones all stay."""
    engine = DuckDBEngine(duck_settings(tmp_path))
    try:
        register_inputs(
            engine,
            snapshot=case.snapshot,
            loads=case.loads,
            period=case.period,
            window_months=case.window_months,
            discovery_oop_floor=Decimal("99999999"),
        )
        build_features(engine)
        kept = {r["citizen_id"]: r for r in engine.to_arrow("SELECT * FROM features").to_pylist()}
        disability = {
            r["citizen_id"]
            for r in engine.to_arrow(
                "SELECT d.citizen_id FROM feed_disability d, run_period r "
                "WHERE d.event_date BETWEEN r.period_start AND r.period_end"
            ).to_pylist()
        }
    finally:
        engine.close()
    for who, want in case.expected.items():
        cid = case.ids[who]
        signal = want["major_disease_12m"] is True or cid in disability
        if want["registered"] or signal:
            assert cid in kept, who
        else:
            assert cid not in kept, who
    assert any(not w["registered"] for w in case.expected.values())


def test_run_period_row() -> None:
    row = run_period_table("2026-03", 3).to_pylist()[0]
    assert row == {
        "period": "2026-03",
        "period_start": dt.date(2026, 3, 1),
        "period_end": dt.date(2026, 3, 31),
        "window_start": dt.date(2026, 1, 1),
        "discovery_oop_floor": Decimal("0.00"),
    }
    assert run_period_table("2026-03", 3, Decimal(5000)).column("discovery_oop_floor").to_pylist() == [
        Decimal("5000.00")
    ]
    with pytest.raises(ValueError):
        run_period_table("2026-3", 12)


def test_steps_are_numbered_commented_selects_ending_with_features() -> None:
    names = [s.name for s in STEPS]
    assert names[-1] == "features"
    assert len(set(names)) == len(names)
    assert [s.number for s in STEPS] == sorted(s.number for s in STEPS)
    for step in STEPS:
        assert step.summary, step.path.name
        body = "\n".join(line for line in step.sql.splitlines() if not line.lstrip().startswith("--"))
        assert body.lstrip().upper().startswith(("SELECT", "WITH")), step.path.name
        assert ";" not in body, f"{step.path.name}: one statement per step"


def test_features_step_lists_the_catalogue_columns_in_order() -> None:
    import sqlglot

    select = sqlglot.parse_one(STEPS[-1].sql, read="duckdb")
    assert select.named_selects == [f.name for f in get_catalogue().features]


def test_a_step_file_without_its_comment_is_refused(tmp_path: Path) -> None:
    (tmp_path / "01_x.sql").write_text("SELECT 1", encoding="utf-8")
    with pytest.raises(ValueError, match="-- comment"):
        load_steps(tmp_path)
    (tmp_path / "01_x.sql").write_text("-- x\nSELECT 1", encoding="utf-8")
    with pytest.raises(ValueError, match="last step"):
        load_steps(tmp_path)


def test_debug_shows_each_steps_sql_and_rows(tmp_path: Path) -> None:
    case = build_case(CASES[0], tmp_path / "case")
    engine = DuckDBEngine(duck_settings(tmp_path))
    lines: list[str] = []
    try:
        register_inputs(engine, snapshot=case.snapshot, loads=case.loads, period="2026-11", window_months=12)
        rows = build_features(engine, debug=lines.append)
    finally:
        engine.close()
    assert len(lines) == 2 * len(STEPS)
    for step, before, after in zip(STEPS, lines[::2], lines[1::2], strict=True):
        assert step.sql in before and f"{step.name} on duckdb" in before
        assert after.startswith(f"-- step {step.number:02d} {step.name}: ") and " rows in " in after
    assert f"features: {rows} rows" in lines[-1]


TYPE_WORDS = {"boolean": "布尔", "integer": "整数", "money": "金额", "date": "日期", "string": "文本"}


def test_docs_list_every_feature_and_step() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "features.md").read_text(encoding="utf-8")
    rows = [line.split("|")[1:-1] for line in doc.splitlines() if line.startswith("| `")]
    features = {cells[0].strip().strip("`"): cells for cells in rows}
    catalogue = get_catalogue().features
    listed = [name for name in features if name in {f.name for f in catalogue}]
    assert listed == [f.name for f in catalogue], "docs/features.md lists the catalogue in its order"
    for f in catalogue:
        cells = [c.strip() for c in features[f.name]]
        assert cells[1] == f.label, f.name
        assert cells[2].startswith(TYPE_WORDS[f.type]), f.name
        assert ("标识" in cells[2]) == (f.role == "key"), f.name
        assert cells[3], f"{f.name}: no definition"
    steps = [
        cells
        for cells in (line.split("|")[1:-1] for line in doc.splitlines())
        if cells and cells[0].strip().isdigit()
    ]
    assert [(int(c[0]), c[1].strip().strip("`")) for c in steps] == [(s.number, s.name) for s in STEPS]
