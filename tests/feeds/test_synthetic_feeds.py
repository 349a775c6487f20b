"""The synthetic province's monthly feeds: files, schemas, people, rates, signals, determinism.

One small province (30,000 persons) is generated once per module; its feeds for twelve months
(clean Parquet) and for two months (delivered formats) are generated once too. The delivered
files are read back in ``test_synthetic_delivered.py``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import zipfile
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from doudi.feeds.contract import default_contracts, get_contract
from doudi.feeds.synthetic import KINDS, FeedFile, generate_feeds, plant_summary, read_manifest
from doudi.ids import validate_citizen_id_column
from doudi.registry.synthetic import generate_province

AS_OF = dt.date(2026, 11, 1)
YEAR = [f"{y}-{m:02d}" for y, m in [(2025, 12)] + [(2026, k) for k in range(1, 12)]]


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("province")
    generate_province(persons=30_000, seed=11, out_dir=out, as_of=AS_OF)
    return out / "population"


@pytest.fixture(scope="module")
def year(population: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[FeedFile]]:
    out = tmp_path_factory.mktemp("year")
    # Small parts, so that the part boundaries (and state carried within a part) are exercised.
    files = generate_feeds(population, YEAR, out, seed=3, style="clean", part_persons=7_000)
    return out, files


@pytest.fixture(scope="module")
def everyone(population: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("everyone")
    generate_feeds(
        population, ["2026-10", "2026-11"], out, seed=3, style="clean", snapshot_scope="population"
    )
    return out


def _con(population: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(f"CREATE VIEW p AS SELECT * FROM read_parquet('{population}/persons.parquet')")
    con.execute(f"CREATE VIEW h AS SELECT * FROM read_parquet('{population}/households.parquet')")
    return con


def _feed(out: Path, kind: str, period: str = "*") -> str:
    return f"read_parquet('{out}/{period}/{kind}.parquet')"


def _one(con: duckdb.DuckDBPyConnection, sql: str) -> float:
    value = con.execute(sql).fetchall()[0][0]
    return float(value)


# --- files and schemas ---------------------------------------------------------------------------


def test_every_kind_and_period_has_a_file_with_exactly_the_contract_schema(
    year: tuple[Path, list[FeedFile]],
) -> None:
    out, files = year
    assert set(KINDS) == set(default_contracts())
    assert [(f.period, f.kind) for f in files] == [(p, k) for p in YEAR for k in KINDS]
    for f in files:
        assert f.path == out / f.period / f"{f.kind}.parquet"
        assert f.format == "parquet" and f.planted == {} and f.expected_rejects == 0
        schema = pq.read_schema(f.path)
        assert schema.equals(get_contract(f.kind).arrow_schema(), check_metadata=False), f.kind
        assert pq.ParquetFile(f.path).metadata.num_rows == f.rows
    rows = {k: sum(f.rows for f in files if f.kind == k) for k in KINDS}
    assert all(rows[k] > 0 for k in KINDS), rows
    assert rows["medical"] > 0.7 * sum(rows.values())  # medical is the bulk
    manifest = read_manifest(out)
    assert manifest["style"] == "clean" and manifest["snapshot_scope"] == "registry"
    assert len(manifest["files"]) == len(files)


def test_enum_values_are_codes_and_money_is_exact(year: tuple[Path, list[FeedFile]]) -> None:
    out, _ = year
    con = duckdb.connect()
    for kind in KINDS:
        contract = get_contract(kind)
        for col in contract.columns:
            if col.type == "enum":
                assert col.values is not None
                found = {
                    r[0]
                    for r in con.execute(f"SELECT DISTINCT {col.name} FROM {_feed(out, kind)}").fetchall()
                }
                assert found - {None} <= set(col.values), (kind, col.name, found)
            if col.type == "money":
                low = con.execute(f"SELECT min({col.name}) FROM {_feed(out, kind)}").fetchall()[0][0]
                assert low is None or low >= 0, (kind, col.name)
    # Medical: the total is exactly what the fund and the patient paid, to the cent
    bad = _one(
        con, f"SELECT count(*) FROM {_feed(out, 'medical')} WHERE reimbursed + out_of_pocket <> total_cost"
    )
    assert bad == 0


# --- people ---------------------------------------------------------------------------------------


def test_every_id_is_valid_and_of_the_population_except_people_from_other_provinces(
    population: Path, year: tuple[Path, list[FeedFile]], everyone: Path
) -> None:
    known = pq.read_table(population / "persons.parquet", columns=["citizen_id"]).column("citizen_id")
    for out, files in ((year[0], year[1]), (everyone, None)):
        entries = read_manifest(out)["files"]
        other_total = 0
        for entry in entries:
            contract = get_contract(entry["kind"])
            ids = pq.read_table(out / entry["path"], columns=[contract.person]).column(contract.person)
            norm, reasons = validate_citizen_id_column(ids.combine_chunks())
            assert not reasons.any(), (entry["path"], norm.filter(pa.array(reasons != 0)).to_pylist()[:3])
            assert pc.all(pc.equal(norm, ids.combine_chunks()), min_count=0).as_py()  # already normalised
            outside = pc.invert(pc.is_in(ids, value_set=known))
            strangers = ids.filter(outside)
            # Whoever is not in the population is from another province (IDs of Guizhou start with 52)
            assert not pc.any(pc.starts_with(strangers, "52"), min_count=0).as_py(), entry["path"]
            assert strangers.length() == entry["other_province"], entry["path"]
            other_total += entry["other_province"]
        assert other_total > 0
        if files is not None:
            assert sum(f.other_province for f in files) == other_total


def test_registry_scope_snapshots_list_only_registered_households(
    population: Path, year: tuple[Path, list[FeedFile]]
) -> None:
    out, _ = year
    con = _con(population)
    for kind in ("pension", "vehicle", "business", "real_estate", "public_employee"):
        unregistered = _one(
            con,
            f"""SELECT count(*) FROM {_feed(out, kind)} f JOIN p USING (citizen_id) JOIN h USING (household_no)
                WHERE h.category IS NULL""",
        )
        listed = _one(con, f"SELECT count(*) FROM {_feed(out, kind)}")
        assert unregistered == 0 and listed > 0, kind


# --- rates ----------------------------------------------------------------------------------------


def test_rates_over_a_year_are_plausible(population: Path, year: tuple[Path, list[FeedFile]]) -> None:
    out, files = year
    con = _con(population)
    persons = _one(con, "SELECT count(*) FROM p")
    months = len(YEAR)
    # Deaths: about 0.7 % a year, far more among the old
    deaths = _one(con, f"SELECT count(*) FROM {_feed(out, 'death')}")
    assert 0.004 < deaths / persons < 0.011
    old_rate = _one(
        con,
        f"""SELECT count(d.citizen_id) / count(*) FROM p LEFT JOIN {_feed(out, "death")} d USING (citizen_id)
            WHERE p.birth_date < DATE '1946-11-01'""",
    )
    young_rate = _one(
        con,
        f"""SELECT count(d.citizen_id) / count(*) FROM p LEFT JOIN {_feed(out, "death")} d USING (citizen_id)
            WHERE p.birth_date BETWEEN DATE '1976-11-01' AND DATE '2006-11-01'""",
    )
    assert old_rate > 20 * young_rate
    # Nobody is treated after the month of their death
    after = _one(
        con,
        f"""SELECT count(*) FROM {_feed(out, "medical")} m JOIN {_feed(out, "death")} d USING (citizen_id)
            WHERE m.settle_date > d.death_date""",
    )
    assert after == 0
    # Medical: outpatient ≈ 0.3 per person-month, inpatient 1–1.5 % of persons a month
    visits = dict(
        con.execute(f"SELECT visit_type, count(*) FROM {_feed(out, 'medical')} GROUP BY 1").fetchall()
    )
    assert 0.2 < visits["outpatient"] / persons / months < 0.45
    assert 0.009 < visits["inpatient"] / persons / months < 0.02
    assert visits["chronic"] > 0
    # The seriously ill are admitted far more often and with bigger bills
    ill, well = con.execute(
        f"""SELECT p.serious_illness, count(*) / any_value(n), median(m.total_cost)
            FROM {_feed(out, "medical")} m JOIN p USING (citizen_id)
            JOIN (SELECT serious_illness, count(*) AS n FROM p GROUP BY 1) c USING (serious_illness)
            WHERE m.visit_type = 'inpatient' GROUP BY 1 ORDER BY 1 DESC"""
    ).fetchall()
    assert ill[1] > 5 * well[1] and ill[2] > 2 * well[2]
    # A few catastrophic bills, flagged as major disease
    catastrophic = con.execute(
        f"SELECT count(*), bool_and(major_disease) FROM {_feed(out, 'medical')} WHERE out_of_pocket > 50000"
    ).fetchall()[0]
    assert catastrophic[0] > 0 and catastrophic[1]
    # Disability: new certificates ≈ 0.04 % a month, about a third of grade 1–2
    new, severe = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE grade <= 2) FROM {_feed(out, 'disability')} WHERE event = 'issue'"
    ).fetchall()[0]
    assert 0.0001 < new / persons / months < 0.001
    assert 0.15 < severe / new < 0.5
    issued_to_disabled = _one(
        con,
        f"""SELECT count(*) FROM {_feed(out, "disability")} f JOIN p USING (citizen_id)
            WHERE f.event = 'issue' AND p.disability_grade IS NOT NULL""",
    )
    assert issued_to_disabled == 0  # new certificates go to people without one
    # Unemployment: working-age registrations ≈ 0.1 % a month
    registered = _one(con, f"SELECT count(*) FROM {_feed(out, 'unemployment')} WHERE event = 'register'")
    assert 0.0003 < registered / (0.6 * persons) / months < 0.004
    # Disasters: the summer months have most of them
    by_month = dict(
        con.execute(
            f"SELECT month(disaster_date), count(*) FROM {_feed(out, 'disaster')} GROUP BY 1"
        ).fetchall()
    )
    summer = sum(by_month.get(m, 0) for m in (6, 7, 8))
    assert summer > sum(by_month.values()) - summer
    # School: the September intake; 15-year-olds to high school, 18-year-olds to college
    sept = dict(
        con.execute(
            f"""SELECT stage, count(*) FROM {_feed(out, "school", "2026-09")} GROUP BY 1"""
        ).fetchall()
    )
    assert sept.get("high_school", 0) > 0 and sept.get("college", 0) > 0 and sept.get("vocational", 0) > 0
    total_school = sum(f.rows for f in files if f.kind == "school")
    assert sum(sept.values()) > 0.8 * total_school
    ages = con.execute(
        f"""SELECT stage, min(date_diff('year', p.birth_date, DATE '2026-09-01')),
                   max(date_diff('year', p.birth_date, DATE '2026-09-01'))
            FROM {_feed(out, "school", "2026-09")} s JOIN p USING (citizen_id) GROUP BY 1"""
    ).fetchall()
    span = {stage: (lo, hi) for stage, lo, hi in ages}
    assert span["high_school"][0] >= 14 and span["high_school"][1] <= 17
    assert span["college"][0] >= 17


def test_pensions_pay_everyone_over_60_of_the_check_list(
    population: Path, year: tuple[Path, list[FeedFile]]
) -> None:
    out, _ = year
    con = _con(population)
    period = "2026-11"
    missing = _one(
        con,
        f"""SELECT count(*) FROM p JOIN h USING (household_no)
            LEFT JOIN {_feed(out, "pension", period)} f USING (citizen_id)
            LEFT JOIN {_feed(out, "death")} d USING (citizen_id)
            LEFT JOIN (SELECT citizen_id FROM {_feed(out, "hukou_move")} WHERE direction = 'out_of_province') m
                USING (citizen_id)
            WHERE h.category IS NOT NULL AND p.birth_date <= DATE '1966-11-30'
              AND d.citizen_id IS NULL AND m.citizen_id IS NULL AND f.citizen_id IS NULL""",
    )
    assert missing == 0
    amounts = dict(
        (scheme, (lo, hi))
        for scheme, lo, hi in con.execute(
            f"SELECT scheme, min(monthly_amount), max(monthly_amount) FROM {_feed(out, 'pension', period)} GROUP BY 1"
        ).fetchall()
    )
    assert amounts["resident"][0] >= 150 and amounts["resident"][1] <= 300
    assert amounts["employee"][0] >= 2000 and amounts["employee"][1] <= 6500
    # The dead are not paid after the month of their death
    paid_dead = _one(
        con,
        f"""SELECT count(*) FROM {_feed(out, "pension", "2026-11")} f
            JOIN {_feed(out, "death")} d USING (citizen_id) WHERE d.death_date < DATE '2026-11-01'""",
    )
    assert paid_dead == 0


def test_population_scope_has_general_rates_and_lower_rates_in_registered_households(
    population: Path, everyone: Path
) -> None:
    con = _con(population)
    period = "2026-11"
    households = dict(con.execute("SELECT category IS NOT NULL, count(*) FROM h GROUP BY 1").fetchall())
    adults = _one(con, "SELECT count(*) FROM p WHERE birth_date <= DATE '2008-11-30'")

    def households_with(kind: str, where: str) -> dict[bool, float]:
        rows = con.execute(
            f"""SELECT h.category IS NOT NULL, count(DISTINCT household_no)
                FROM {_feed(everyone, kind, period)} f JOIN p USING (citizen_id) JOIN h USING (household_no)
                WHERE {where} GROUP BY 1"""
        ).fetchall()
        found = dict(rows)
        return {reg: found.get(reg, 0) / households[reg] for reg in (False, True)}

    cars = households_with("vehicle", "vehicle_kind IN ('car', 'truck')")
    assert 0.2 < cars[False] < 0.4 and 0 < cars[True] < cars[False] / 5
    homes = households_with("real_estate", "use = 'residential'")
    assert 0.6 < homes[False] < 0.9 and homes[True] > 0.5
    business = households_with("business", "status = 'active'")
    assert 0 < business[True] < business[False] / 4
    public = households_with("public_employee", "staffing <> 'retired'")
    assert 0 < public[True] < public[False] / 4
    operators = _one(con, f"SELECT count(DISTINCT citizen_id) FROM {_feed(everyone, 'business', period)}")
    assert 0.03 < operators / adults < 0.09
    staff = _one(
        con, f"SELECT count(*) FROM {_feed(everyone, 'public_employee', period)} WHERE staffing <> 'retired'"
    )
    assert 0.015 < staff / adults < 0.05


def test_registered_households_carry_the_ineligibility_signals(
    population: Path, year: tuple[Path, list[FeedFile]]
) -> None:
    """What the 防错 rules look for: cars the registry does not know, businesses, second homes
    and public employees in registered households — present, but rare."""
    out, _ = year
    con = _con(population)
    period = "2026-11"
    registered = _one(con, "SELECT count(*) FROM h WHERE category IS NOT NULL")
    hidden_cars = _one(
        con,
        f"""SELECT count(DISTINCT household_no) FROM {_feed(out, "vehicle", period)} f JOIN p USING (citizen_id)
            JOIN h USING (household_no) WHERE f.vehicle_kind IN ('car', 'truck') AND h.vehicles = 0""",
    )
    assert 0 < hidden_cars < 0.05 * registered
    businesses = _one(
        con,
        f"""SELECT count(DISTINCT household_no) FROM {_feed(out, "business", period)} JOIN p USING (citizen_id)
            WHERE status = 'active'""",
    )
    assert 0 < businesses < 0.05 * registered
    second_homes = _one(
        con,
        f"""SELECT count(*) FROM (
                SELECT household_no FROM {_feed(out, "real_estate", period)} f JOIN p USING (citizen_id)
                WHERE use = 'residential' GROUP BY 1 HAVING count(DISTINCT certificate_no) >= 2)""",
    )
    assert 0 < second_homes < 0.05 * registered
    public = _one(con, f"SELECT count(*) FROM {_feed(out, 'public_employee', period)}")
    assert 0 < public < 0.02 * registered


def test_snapshots_are_stable_from_month_to_month(everyone: Path) -> None:
    con = duckdb.connect()
    for kind, key in (("vehicle", "plate_no"), ("real_estate", "certificate_no || citizen_id")):
        before = {
            r[0] for r in con.execute(f"SELECT {key} FROM {_feed(everyone, kind, '2026-10')}").fetchall()
        }
        after = {
            r[0] for r in con.execute(f"SELECT {key} FROM {_feed(everyone, kind, '2026-11')}").fetchall()
        }
        assert len(before & after) > 0.97 * max(len(before), len(after)), kind
        assert before != after, kind  # a few additions and removals
    # The same plate keeps its owner and date
    changed = _one(
        con,
        f"""SELECT count(*) FROM {_feed(everyone, "vehicle", "2026-10")} a
            JOIN {_feed(everyone, "vehicle", "2026-11")} b USING (plate_no)
            WHERE a.citizen_id <> b.citizen_id OR a.register_date <> b.register_date""",
    )
    assert changed == 0


def test_keys_are_unique_in_every_clean_file(year: tuple[Path, list[FeedFile]], everyone: Path) -> None:
    con = duckdb.connect()
    for out in (year[0], everyone):
        for entry in read_manifest(out)["files"]:
            contract = get_contract(entry["kind"])
            key = ", ".join(contract.key)
            dups = _one(
                con,
                f"""SELECT count(*) FROM (SELECT {key} FROM read_parquet('{out / entry["path"]}')
                    GROUP BY ALL HAVING count(*) > 1)""",
            )
            assert dups == 0, entry["path"]


def test_event_dates_fall_within_their_period(year: tuple[Path, list[FeedFile]]) -> None:
    _out, files = year
    con = duckdb.connect()
    for f in files:
        contract = get_contract(f.kind)
        if contract.event_date is None or f.rows == 0:
            continue
        lo, hi = con.execute(
            f"SELECT min({contract.event_date}), max({contract.event_date}) FROM read_parquet('{f.path}')"
        ).fetchall()[0]
        assert lo.strftime("%Y-%m") == f.period == hi.strftime("%Y-%m"), f.path


# --- determinism ----------------------------------------------------------------------------------


def _digests(out: Path) -> dict[str, str]:
    return {
        p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(out.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("style", ["clean", "delivered"])
def test_same_inputs_give_byte_identical_files(population: Path, tmp_path: Path, style: str) -> None:
    periods = ["2026-08", "2026-09"]
    a = generate_feeds(population, periods, tmp_path / "a", seed=7, style=style)  # type: ignore[arg-type]
    b = generate_feeds(population, periods, tmp_path / "b", seed=7, style=style)  # type: ignore[arg-type]
    assert [(f.kind, f.period, f.rows, f.planted) for f in a] == [
        (f.kind, f.period, f.rows, f.planted) for f in b
    ]
    digests = _digests(tmp_path / "a")
    assert digests == _digests(tmp_path / "b")
    assert "manifest.json" in digests and len(digests) >= 2 * 10
    # Workbooks carry no time of writing (openpyxl stamps zip entries and the modified date):
    # regenerating a month must not look like a resubmission to the loader.
    workbooks = sorted((tmp_path / "a").rglob("*.xlsx"))
    assert workbooks or style == "clean"
    for path in workbooks:
        with zipfile.ZipFile(path) as z:
            assert {info.date_time for info in z.infolist()} == {(2000, 1, 1, 0, 0, 0)}
            assert b"2000-01-01T00:00:00Z" in z.read("docProps/core.xml")
    c = generate_feeds(population, periods, tmp_path / "c", seed=8, style=style)  # type: ignore[arg-type]
    medical = next(f for f in c if f.kind == "medical").path.relative_to(tmp_path / "c").as_posix()
    assert _digests(tmp_path / "c")[medical] != digests[medical]


def test_progress_and_refusals(population: Path, tmp_path: Path) -> None:
    seen: list[int] = []
    generate_feeds(
        population.parent,
        ["2026-11"],
        tmp_path / "x",
        seed=1,
        style="clean",
        progress=seen.append,
        part_persons=10_000,
    )
    assert seen == sorted(seen) and seen[-1] == 30_000 and len(seen) >= 3
    with pytest.raises(ValueError, match="YYYY-MM"):
        generate_feeds(population, ["2026-13"], tmp_path / "y", seed=1)
    with pytest.raises(ValueError, match="style"):
        generate_feeds(population, ["2026-11"], tmp_path / "y", seed=1, style="raw")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="scope"):
        generate_feeds(population, ["2026-11"], tmp_path / "y", seed=1, snapshot_scope="all")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        generate_feeds(population, "2026-11", tmp_path / "y", seed=1)


def test_plant_summary_of_clean_feeds_is_empty(year: tuple[Path, list[FeedFile]]) -> None:
    out, files = year
    summary = plant_summary(out)
    assert summary["style"] == "clean" and summary["totals"] == {} and summary["expected_rejects"] == 0
    assert summary["files"]["2026-11/medical"]["rows"] == next(
        f.rows for f in files if f.period == "2026-11" and f.kind == "medical"
    )


# --- identifiers ------------------------------------------------------------------------------------

_CREDIT = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def credit_code_ok(code: str) -> bool:
    """GB 32100-2015 unified social credit code, with its organisation-code check (GB 11714)."""
    if len(code) != 18 or any(c not in _CREDIT for c in code):
        return False
    weights = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
    c18 = (31 - sum(_CREDIT.index(c) * w for c, w in zip(code[:17], weights, strict=True)) % 31) % 31
    org = [int(c) if c.isdigit() else ord(c) - 55 for c in code[8:16]]
    c9 = 11 - sum(v * w for v, w in zip(org, [3, 7, 9, 10, 5, 8, 4, 2], strict=True)) % 11
    return _CREDIT[c18] == code[17] and {10: "X", 11: "0"}.get(c9, str(c9)) == code[16]


def test_identifiers_look_like_the_real_ones(everyone: Path) -> None:
    assert credit_code_ok("91350100M000100Y43")  # the example of GB 32100
    assert not credit_code_ok("91350100M000100Y44")
    con = duckdb.connect()
    period = "2026-11"
    codes = [
        r[0] for r in con.execute(f"SELECT credit_code FROM {_feed(everyone, 'business', period)}").fetchall()
    ]
    assert codes and all(credit_code_ok(c) for c in codes)
    kinds = dict(
        con.execute(
            f"SELECT entity_kind, any_value(left(credit_code, 2)) FROM {_feed(everyone, 'business', period)} GROUP BY 1"
        ).fetchall()
    )
    assert kinds["individual"] == "92" and kinds["company"] == "91"
    plates = [
        r[0] for r in con.execute(f"SELECT plate_no FROM {_feed(everyone, 'vehicle', period)}").fetchall()
    ]
    assert all(re.fullmatch("贵[A-HJ][0-9A-HJ-NP-Z]{5}", p) for p in plates)
    certs = [
        r[0]
        for r in con.execute(
            f"SELECT certificate_no FROM {_feed(everyone, 'real_estate', period)}"
        ).fetchall()
    ]
    assert all(re.fullmatch(r"黔\((19|20)[0-9]{2}\)\S+[区县市]不动产权第[0-9]{7}号", c) for c in certs)
    # 2nd-generation disability certificates: the ID number, the kind (1–7) and the grade (1–4)
    wrong = _one(
        con,
        f"""SELECT count(*) FROM {_feed(everyone, "disability")}
            WHERE certificate_no <> citizen_id || CAST(list_position(['visual', 'hearing', 'speech',
                'physical', 'intellectual', 'mental', 'multiple'], disability_kind) AS VARCHAR) || CAST(grade AS VARCHAR)""",
    )
    assert wrong == 0
