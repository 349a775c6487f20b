"""The synthetic province: determinism, counts, IDs, divisions, categories, money, rosters."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from doudi.divisions.catalog import Level, get_catalog
from doudi.ids import OK, birth_dates_of, sexes_of, validate_citizen_ids
from doudi.registry import codes
from doudi.registry.synthetic import (
    CATEGORY_ORDER,
    CATEGORY_RATES,
    ROSTER_FIELDS,
    RURAL_STANDARD_MONTHLY_CENTS,
    URBAN_STANDARD_MONTHLY_CENTS,
    Province,
    generate_province,
    registry_roster,
    roster_headers,
    write_roster,
)

PERSONS = 20_000
SEED = 11
AS_OF = dt.date(2026, 6, 30)
MONEY = pa.decimal128(12, 2)


@pytest.fixture(scope="module")
def province(tmp_path_factory: pytest.TempPathFactory) -> Province:
    return generate_province(persons=PERSONS, seed=SEED, out_dir=tmp_path_factory.mktemp("prov"), as_of=AS_OF)


@pytest.fixture(scope="module")
def con(province: Province) -> Iterator[duckdb.DuckDBPyConnection]:
    c = duckdb.connect()
    c.execute(f"CREATE VIEW p AS SELECT * FROM read_parquet('{province.persons_path}')")
    c.execute(f"CREATE VIEW h AS SELECT * FROM read_parquet('{province.households_path}')")
    c.execute(f"CREATE VIEW v AS SELECT * FROM read_parquet('{province.villages_path}')")
    # per-capita monthly income and its ratio to the local 低保 standard
    c.execute(
        f"""CREATE VIEW hinc AS
        SELECT h.*, tot / member_count AS pc,
               tot / member_count / (CASE WHEN area_type = 'urban' THEN {URBAN_STANDARD_MONTHLY_CENTS / 100}
                                     ELSE {RURAL_STANDARD_MONTHLY_CENTS / 100} END) AS ratio
        FROM h JOIN (SELECT household_no,
                            SUM(wage_income + business_income + property_income + transfer_income) AS tot
                     FROM p GROUP BY 1) USING (household_no)"""
    )
    yield c
    c.close()


def one(con: duckdb.DuckDBPyConnection, sql: str) -> Any:
    rows = con.sql(sql).fetchall()
    assert len(rows) == 1
    return rows[0][0]


def test_same_seed_gives_byte_identical_files(province: Province, tmp_path: Path) -> None:
    again = generate_province(persons=PERSONS, seed=SEED, out_dir=tmp_path / "a", as_of=AS_OF)
    for name in ("households.parquet", "persons.parquet", "villages.parquet"):
        assert (again.population_dir / name).read_bytes() == (province.population_dir / name).read_bytes()
    other = generate_province(persons=PERSONS, seed=SEED + 1, out_dir=tmp_path / "b", as_of=AS_OF)
    assert other.persons_path.read_bytes() != province.persons_path.read_bytes()


def test_counts_match_the_files(province: Province, con: duckdb.DuckDBPyConnection) -> None:
    assert province.persons == PERSONS
    assert one(con, "SELECT count(*) FROM p") == PERSONS
    assert one(con, "SELECT sum(member_count) FROM h") == PERSONS
    assert one(con, "SELECT count(*) FROM h") == province.households
    assert one(con, "SELECT count(DISTINCT household_no) FROM h") == province.households
    assert sum(province.persons_by_prefecture.values()) == PERSONS
    assert sum(province.households_by_prefecture.values()) == province.households
    by_pref = dict(con.sql("SELECT prefecture_code, sum(member_count) FROM h GROUP BY 1").fetchall())
    assert by_pref == province.persons_by_prefecture
    assert len(province.persons_by_prefecture) == 9
    for cat in CATEGORY_ORDER:
        n_h, n_p = con.execute(
            "SELECT count(*), coalesce(sum(member_count), 0) FROM h WHERE list_contains(string_split(category, '、'), ?)",
            [cat],
        ).fetchall()[0]
        assert (n_h, n_p) == (province.households_by_category[cat], province.persons_by_category[cat])
    assert one(con, "SELECT count(*) FROM h WHERE category IS NOT NULL") == province.registry_households
    assert one(con, "SELECT sum(member_count) FROM h WHERE category IS NOT NULL") == province.registry_persons
    assert province.villages.num_rows == pq.read_metadata(province.villages_path).num_rows


def test_progress_reports_persons_written(tmp_path: Path) -> None:
    seen: list[int] = []
    generate_province(persons=3_000, seed=1, out_dir=tmp_path, as_of=AS_OF, progress=seen.append)
    assert seen and seen == sorted(seen) and seen[-1] == 3_000


def test_citizen_ids_valid_unique_and_consistent(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.sql(
        "SELECT p.citizen_id, p.birth_date, p.sex, h.county_code FROM p JOIN h USING (household_no)"
    ).to_arrow_table()
    ids = np.asarray(rows.column("citizen_id").to_pylist())
    normalised, reasons = validate_citizen_ids(ids)
    assert (reasons == OK).all()
    assert (normalised == ids).all()
    assert len(set(ids.tolist())) == len(ids)
    assert [i[:6] for i in ids] == rows.column("county_code").to_pylist()
    births = np.asarray(rows.column("birth_date").to_numpy(zero_copy_only=False), dtype="datetime64[D]")
    assert (birth_dates_of(ids) == births).all()
    assert (sexes_of(ids) == np.asarray(rows.column("sex").to_pylist())).all()
    assert births.max() < np.datetime64(AS_OF)


def test_divisions_real_counties_and_plausible_villages(
    province: Province, con: duckdb.DuckDBPyConnection
) -> None:
    catalog = get_catalog("520000")
    counties = {d.code for d in catalog.counties()}
    assert len(counties) == 88
    assert {r[0] for r in con.sql("SELECT DISTINCT county_code FROM h").fetchall()} == counties
    townships = {d.code for d in catalog.townships()}
    villages = province.villages.to_pylist()
    assert {v["township_code"] for v in villages} == townships
    assert 16_000 <= len(villages) <= 20_000  # ≈ 12 per township, Guizhou has 17,964
    for v in villages:
        assert len(v["code"]) == 12 and v["code"][:9] == v["township_code"]
        kind = v["code"][6]
        assert v["name"].endswith("社区" if v["area_type"] == "urban" else "村")
        if kind == "0":
            assert v["area_type"] == "urban"
        elif kind in "23":
            assert v["area_type"] == "rural"
    # Village codes run 001, 002, … inside each township and names do not repeat there
    assert (
        one(
            con,
            "SELECT count(*) FROM (SELECT township_code, count(DISTINCT name) n, "
            "max(right(code, 3)::INT) m FROM v GROUP BY 1) WHERE n <> m",
        )
        == 0
    )
    # 镇: the town-centre community first, then villages
    assert (
        one(
            con,
            "SELECT count(*) FROM v WHERE substr(code, 7, 1) = '1' AND right(code, 3) = '001' "
            "AND area_type <> 'urban'",
        )
        == 0
    )
    # The result's catalogue knows the villages; every household lives in one
    sample = villages[123]
    village = province.catalog.require(sample["code"])
    assert village.level is Level.VILLAGE and village.name == sample["name"]
    assert (
        one(con, "SELECT count(*) FROM h LEFT JOIN v ON v.code = h.division_code WHERE v.code IS NULL") == 0
    )
    assert (
        one(con, "SELECT count(*) FROM h JOIN v ON v.code = h.division_code WHERE v.area_type <> h.area_type")
        == 0
    )
    # Density: 街道 > 镇 > 乡 in persons per township
    dens = dict(
        con.sql(
            """SELECT CASE substr(t, 7, 1) WHEN '0' THEN 'jd' WHEN '1' THEN 'zhen' ELSE 'xiang' END, avg(n)
           FROM (SELECT t.code AS t, coalesce(x.n, 0) AS n
                 FROM (SELECT DISTINCT township_code AS code FROM v) t
                 LEFT JOIN (SELECT substr(division_code, 1, 9) AS code, sum(member_count) AS n FROM h GROUP BY 1) x
                 USING (code))
           GROUP BY 1"""
        ).fetchall()
    )
    assert dens["jd"] > dens["zhen"] > dens["xiang"] > 0
    urban_share = one(con, "SELECT sum(member_count) FILTER (area_type = 'urban') / sum(member_count) FROM h")
    assert 0.4 < float(urban_share) < 0.65
    # Guiyang has the densest townships
    per_township = {
        pref: n / sum(len(catalog.townships(c.code)) for c in catalog.children(pref))
        for pref, n in province.persons_by_prefecture.items()
    }
    assert max(per_township, key=per_township.__getitem__) == "520100"


def test_household_numbers_and_addresses(con: duckdb.DuckDBPyConnection) -> None:
    assert (
        one(
            con,
            "SELECT count(*) FROM h WHERE length(household_no) <> 19 "
            "OR NOT starts_with(household_no, division_code)",
        )
        == 0
    )
    assert one(con, "SELECT count(*) FROM h WHERE NOT starts_with(address, '贵州省')") == 0
    assert (
        one(
            con,
            "SELECT count(*) FROM h WHERE area_type = 'rural' AND NOT regexp_matches(address, '村[0-9]+组[0-9]+号$')",
        )
        == 0
    )
    assert (
        one(
            con,
            "SELECT count(*) FROM h WHERE head_citizen_id NOT IN (SELECT citizen_id FROM p WHERE relation = 'head')",
        )
        == 0
    )


def test_household_structure_sizes_and_ages(con: duckdb.DuckDBPyConnection) -> None:
    assert (
        one(
            con,
            "SELECT count(*) FROM (SELECT household_no, count(*) FILTER (relation = 'head') AS heads, "
            "count(*) AS n, max(member_no) AS m FROM p GROUP BY 1) WHERE heads <> 1 OR n <> m",
        )
        == 0
    )
    assert one(con, "SELECT count(*) FROM p WHERE member_no = 1 AND relation <> 'head'") == 0
    sizes = dict(con.sql("SELECT member_count, count(*) FROM h GROUP BY 1").fetchall())
    assert set(sizes) <= set(range(1, 9)) and {1, 2, 3, 4, 5, 6} <= set(sizes)
    mean = PERSONS / sum(sizes.values())
    assert 2.85 <= mean <= 3.15
    assert set(r[0] for r in con.sql("SELECT DISTINCT relation FROM p").fetchall()) <= set(codes.RELATIONS)
    gaps = con.sql(
        """WITH hd AS (SELECT household_no, birth_date AS hb, sex AS hs FROM p WHERE relation = 'head')
           SELECT relation, min(date_diff('year', hb, birth_date)), max(date_diff('year', hb, birth_date)),
                  count(*) FILTER (relation = 'spouse' AND sex = hs)
           FROM p JOIN hd USING (household_no) GROUP BY 1"""
    ).fetchall()
    by_rel = {r[0]: r[1:] for r in gaps}
    assert by_rel["child"][0] >= 14  # children at least 14 years younger than the head
    assert by_rel["grandchild"][0] >= 30
    assert by_rel["parent"][1] <= -14
    assert by_rel["spouse"][2] == 0 and by_rel["spouse"][0] >= -15 and by_rel["spouse"][1] <= 15
    assert (
        one(
            con,
            f"SELECT count(*) FROM p WHERE relation IN ('head', 'spouse') "
            f"AND date_diff('year', birth_date, DATE '{AS_OF}') < 18",
        )
        == 0
    )
    share_60 = one(con, f"SELECT avg((date_diff('year', birth_date, DATE '{AS_OF}') >= 60)::INT) FROM p")
    assert 0.12 < float(share_60) < 0.21
    share_u15 = one(con, f"SELECT avg((date_diff('year', birth_date, DATE '{AS_OF}') < 15)::INT) FROM p")
    assert 0.19 < float(share_u15) < 0.29


def test_names_are_chinese_and_varied(con: duckdb.DuckDBPyConnection) -> None:
    distinct = one(con, "SELECT count(DISTINCT name) FROM p")
    assert int(distinct) > 0.75 * PERSONS
    assert one(con, "SELECT count(*) FROM p WHERE NOT regexp_matches(name, '^[\u4e00-\u9fff]{2,4}$')") == 0
    common = {
        r[0]
        for r in con.sql("SELECT left(name, 1) FROM p GROUP BY 1 ORDER BY count(*) DESC LIMIT 12").fetchall()
    }
    assert {"王", "李", "张", "杨", "吴"} <= common
    # Children carry a parent's surname, except some children of single mothers (their father's)
    same = one(
        con,
        """WITH hd AS (SELECT household_no, left(name, 1) AS hs FROM p WHERE relation = 'head'),
                            sp AS (SELECT household_no, left(name, 1) AS ss FROM p WHERE relation = 'spouse')
                       SELECT avg((left(p.name, 1) IN (hs, coalesce(ss, hs)))::INT) FROM p JOIN hd USING (household_no)
                       LEFT JOIN sp USING (household_no) WHERE relation = 'child'""",
    )
    assert float(same) > 0.75


def test_health_schooling_and_work(con: duckdb.DuckDBPyConnection) -> None:
    disabled = float(one(con, "SELECT avg((disability_grade IS NOT NULL)::INT) FROM p"))
    assert 0.045 < disabled < 0.075
    severe = float(
        one(con, "SELECT avg((disability_grade <= 2)::INT) FROM p WHERE disability_grade IS NOT NULL")
    )
    assert 0.25 < severe < 0.42
    assert (
        one(con, "SELECT count(*) FROM p WHERE (disability_grade IS NULL) <> (disability_kind IS NULL)") == 0
    )
    assert set(
        r[0]
        for r in con.sql(
            "SELECT DISTINCT disability_kind FROM p WHERE disability_kind IS NOT NULL"
        ).fetchall()
    ) <= set(codes.DISABILITY_KINDS)
    ill = float(one(con, "SELECT avg(serious_illness::INT) FROM p"))
    assert 0.008 < ill < 0.025
    assert one(con, "SELECT min(self_care_failed_items) >= 0 AND max(self_care_failed_items) <= 6 FROM p")
    care_severe = float(one(con, "SELECT avg(self_care_failed_items) FROM p WHERE disability_grade = 1"))
    care_young = float(
        one(
            con,
            f"SELECT avg(self_care_failed_items) FROM p WHERE disability_grade IS NULL "
            f"AND date_diff('year', birth_date, DATE '{AS_OF}') < 60",
        )
    )
    assert care_severe > 3 and care_young < 0.1
    age = f"date_diff('year', birth_date, DATE '{AS_OF}')"
    assert (
        float(one(con, f"SELECT avg((schooling = 'compulsory')::INT) FROM p WHERE {age} BETWEEN 7 AND 13"))
        > 0.95
    )
    assert one(con, f"SELECT count(*) FROM p WHERE {age} < 3 AND schooling <> 'none'") == 0
    assert one(con, f"SELECT count(*) FROM p WHERE {age} > 25 AND schooling <> 'none'") == 0
    assert (
        one(
            con,
            f"SELECT count(*) FROM p WHERE {age} < 16 AND employment IN ('employed', 'farming', 'flexible', 'retired')",
        )
        == 0
    )
    assert (
        one(
            con,
            f"SELECT count(*) FROM p WHERE {age} < 6 AND employment <> 'child' AND schooling <> 'compulsory'",
        )
        == 0
    )
    assert set(r[0] for r in con.sql("SELECT DISTINCT employment FROM p").fetchall()) <= set(codes.EMPLOYMENT)
    assert set(r[0] for r in con.sql("SELECT DISTINCT schooling FROM p").fetchall()) <= set(codes.SCHOOLING)
    assert (
        one(
            con,
            "SELECT count(*) FROM p WHERE employment IN ('unemployed', 'unable', 'child', 'student') "
            "AND wage_income > 0",
        )
        == 0
    )


def test_money_is_exact_decimal(province: Province, con: duckdb.DuckDBPyConnection) -> None:
    persons = pq.read_schema(province.persons_path)
    households = pq.read_schema(province.households_path)
    for name in ("wage_income", "business_income", "property_income", "transfer_income"):
        assert persons.field(name).type == MONEY
    assert households.field("deposits").type == MONEY
    assert not any(pa.types.is_floating(f.type) for f in [*persons, *households])
    assert (
        one(con, "SELECT min(least(wage_income, business_income, property_income, transfer_income)) FROM p")
        >= 0
    )
    # urban incomes are higher than rural ones
    by_area = dict(
        con.sql("SELECT area_type, avg(pc) FROM hinc WHERE category IS NULL GROUP BY 1").fetchall()
    )
    assert by_area["urban"] > 1.5 * by_area["rural"]
    value = one(con, "SELECT wage_income FROM p WHERE wage_income > 0 LIMIT 1")
    assert isinstance(value, Decimal) and value == value.quantize(Decimal("0.01"))


def test_category_rates_near_guizhou_targets(province: Province) -> None:
    tolerance = {
        "dibao": 0.12,
        "tekun": 0.35,
        "marginal": 0.25,
        "rigid_spending": 0.35,
        "relapse_watch": 0.25,
        "other": 0.5,
    }
    for cat, rate in CATEGORY_RATES.items():
        got = province.persons_by_category[cat] / PERSONS
        assert abs(got - rate) <= tolerance[cat] * rate, (cat, got, rate)
    assert province.registry_persons < 0.12 * PERSONS  # most people are in no category


def test_categories_fit_their_rules(con: duckdb.DuckDBPyConnection) -> None:
    def has(cat: str) -> str:
        return f"list_contains(string_split(category, '、'), '{cat}')"

    below = float(one(con, f"SELECT avg((ratio < 1)::INT) FROM hinc WHERE {has('dibao')}"))
    assert 0.85 < below < 0.97  # mostly below the standard, a few 渐退 / borderline cases
    assert (
        one(
            con,
            f"SELECT count(*) FROM hinc WHERE {has('dibao')} AND ratio >= 1.05 "
            "AND coalesce(synthetic_case, '') <> 'phase_out'",
        )
        == 0
    )
    assert one(con, "SELECT min(ratio) FROM hinc WHERE synthetic_case = 'phase_out'") > 1
    assert one(con, f"SELECT count(*) FROM hinc WHERE synthetic_case IS NOT NULL AND NOT {has('dibao')}") == 0
    assert (
        one(con, f"SELECT count(*) FROM hinc WHERE {has('marginal')} AND (ratio < 0.999 OR ratio > 1.61)")
        == 0
    )
    assert (
        one(con, f"SELECT count(*) FROM h WHERE {has('marginal')} AND ({has('dibao')} OR {has('tekun')})")
        == 0
    )
    assert one(con, f"SELECT count(*) FROM h WHERE {has('relapse_watch')} AND area_type = 'urban'") == 0
    overlap = float(one(con, f"SELECT avg({has('dibao')}::INT) FROM h WHERE {has('relapse_watch')}"))
    assert 0.2 < overlap < 0.7
    # 特困: mostly one old or severely disabled person, always below the standard
    single = float(one(con, f"SELECT avg((member_count = 1)::INT) FROM hinc WHERE {has('tekun')}"))
    assert single > 0.75
    assert one(con, f"SELECT count(*) FROM hinc WHERE {has('tekun')} AND ratio >= 1") == 0
    assert (
        one(
            con,
            f"""SELECT count(*) FROM p JOIN h USING (household_no) WHERE {has("tekun")}
                        AND date_diff('year', birth_date, DATE '{AS_OF}') < 60 AND coalesce(disability_grade, 9) > 3""",
        )
        == 0
    )
    # property of assisted households is modest except the deliberate cases
    assert (
        one(
            con,
            f"SELECT count(*) FROM h WHERE {has('dibao')} AND vehicles > 0 "
            "AND coalesce(synthetic_case, '') <> 'excess_property'",
        )
        == 0
    )
    # start dates (of the first category) in the past, 防返贫 not before 2021, 刚性支出 within a year
    assert (
        one(
            con,
            f"SELECT count(*) FROM h WHERE (category IS NULL) <> (category_start IS NULL) "
            f"OR category_start >= DATE '{AS_OF}'",
        )
        == 0
    )
    assert one(con, "SELECT min(category_start) FROM h WHERE category = 'relapse_watch'") >= dt.date(
        2021, 1, 1
    )
    assert one(
        con, "SELECT min(category_start) FROM h WHERE category = 'rigid_spending'"
    ) >= AS_OF - dt.timedelta(days=366)
    assert one(con, "SELECT count(*) FROM h WHERE day(category_start) <> 1") == 0


def test_registry_roster_columns_and_rows(province: Province) -> None:
    roster = registry_roster(province)
    assert tuple(roster.column_names) == ROSTER_FIELDS
    assert roster.num_rows == province.registry_persons
    for name in ("wage_income", "business_income", "property_income", "transfer_income", "deposits"):
        assert roster.schema.field(name).type == MONEY
    assert roster.schema.field("category_start").type == pa.date32()
    assert roster.schema.field("serious_illness").type == pa.bool_()
    assert roster.column("category").null_count == 0
    assert len(roster.column("division_code").to_pylist()[0]) == 12
    assert set(roster.column("area_type").to_pylist()) <= {"urban", "rural"}
    cats = {c for v in roster.column("category").to_pylist() for c in v.split("、")}
    assert cats <= set(CATEGORY_ORDER) and {"dibao", "tekun"} <= cats
    # same result from the directory or the paths
    assert registry_roster(province.out_dir).equals(roster)
    assert registry_roster((province.households_path, province.persons_path)).equals(roster)


def test_registry_roster_limit_takes_whole_households_and_fills_with_other(province: Province) -> None:
    small = registry_roster(province, limit_persons=500)
    assert 490 <= small.num_rows <= 500
    assert (
        "other" not in set(small.column("category").to_pylist()) or province.persons_by_category["other"] > 0
    )
    big = registry_roster(province, limit_persons=5_000)
    assert 4_990 <= big.num_rows <= 5_000
    cats = big.column("category").to_pylist()
    filled = sum(1 for c in cats if c == "other") - province.persons_by_category["other"]
    assert filled >= 5_000 - province.registry_persons - 10
    # whole households: every household's member rows are all there
    sizes = duckdb.sql(
        f"SELECT household_no, member_count FROM read_parquet('{province.households_path}')"
    ).fetchall()
    size_of = dict(sizes)
    hh = big.column("household_no").to_pylist()
    counts: dict[str, int] = {}
    for no in hh:
        counts[no] = counts.get(no, 0) + 1
    assert all(size_of[no] == n for no, n in counts.items())
    starts = big.column("category_start").to_pylist()
    assert all(s is not None and s < AS_OF for s in starts)


def test_write_roster_gbk_with_title(province: Province, tmp_path: Path) -> None:
    roster = registry_roster(province)
    path = write_roster(roster, tmp_path / "roster.csv", encoding="gbk", with_title=True)
    text = path.read_bytes().decode("gbk")  # strict: the file is GBK throughout
    lines = text.split("\r\n")
    assert lines[0].startswith("贵州省") and lines[0].rstrip(",").endswith("花名册")
    headers = lines[1].split(",")
    assert headers == [roster_headers()[f] for f in ROSTER_FIELDS]
    assert headers[:3] == ["户编号", "行政区划代码", "家庭住址"] and "公民身份号码" in headers
    assert len([ln for ln in lines[2:] if ln]) == roster.num_rows
    body = [ln.split(",") for ln in lines[2:] if ln]
    col = {h: i for i, h in enumerate(headers)}
    assert {r[col["与户主关系"]] for r in body} <= set(codes.RELATIONS.values())
    assert "户主" in {r[col["与户主关系"]] for r in body}
    assert {r[col["城乡类别"]] for r in body} <= {"城市", "农村"}
    assert {r[col["是否重病"]] for r in body} <= {"是", "否"}
    assert {r[col["残疾等级"]] for r in body} <= {"", "一级", "二级", "三级", "四级"}
    labels = {c for r in body for c in r[col["人员类别"]].split("、")}
    assert "低保" in labels and labels <= set(codes.CATEGORIES.values())
    first = roster.slice(0, 1).to_pylist()[0]
    assert body[0][col["公民身份号码"]] == first["citizen_id"]
    assert Decimal(body[0][col["转移净收入"]]) == first["transfer_income"]
    assert body[0][col["纳入日期"]] == first["category_start"].isoformat()


def test_write_roster_utf8_sig_and_single_county_title(province: Province, tmp_path: Path) -> None:
    roster = registry_roster(province)
    county = roster.column("division_code").to_pylist()[0][:6]
    mask = pa.array([c.startswith(county) for c in roster.column("division_code").to_pylist()])
    part = roster.filter(mask)
    path = write_roster(part, tmp_path / "r.csv", with_title=True)
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    title = raw.decode("utf-8-sig").split("\r\n")[0].rstrip(",")
    county_name = get_catalog("520000").require(county).name
    assert title.startswith(county_name) and title.endswith("花名册")
    with pytest.raises(ValueError):
        write_roster(part, tmp_path / "x.csv", encoding="latin-1")


def test_write_roster_gbk_replaces_characters_outside_gbk(province: Province, tmp_path: Path) -> None:
    # 正安县桴㯊镇 is a real township whose name is outside GBK (CJK Extension A)
    row = registry_roster(province).slice(0, 1)
    i = row.column_names.index("address")
    row = row.set_column(i, "address", pa.array(["贵州省遵义市正安县桴㯊镇桴㯊社区1号"]))
    text = write_roster(row, tmp_path / "r.csv", encoding="gbk").read_bytes().decode("gbk")
    assert "正安县桴?镇" in text
    with pytest.raises(UnicodeEncodeError):
        write_roster(row, tmp_path / "s.csv", encoding="gbk", errors="strict")
    assert "桴㯊镇" in write_roster(row, tmp_path / "t.csv", encoding="gb18030").read_bytes().decode(
        "gb18030"
    )
