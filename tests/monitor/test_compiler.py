"""The rule compiler: expressions accepted and refused, params substituted as literals, and the
candidates and evidence queries run for real on DuckDB (and on Spark, marked ``spark``) over a
hand-made ``features`` table and hand-made feed views, with exactly the expected rows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
import sqlglot
from factories import citizen_id
from sqlglot import exp
from sqlglot.errors import ErrorLevel

from doudi.feeds.contract import default_contracts, get_contract
from doudi.monitor.catalogue import get_catalogue
from doudi.monitor.compiler import (
    EVIDENCE_LIMIT,
    FUNCTIONS,
    CompiledRule,
    candidates_sql,
    check_expression,
    compile_rules,
    evidence_sql,
    substitute_params,
)
from doudi.monitor.rules import Rule, load_rules

PERIOD = "2026-11"
ON = dt.date(2026, 11, 30)
CATALOGUE = get_catalogue()
RULES = load_rules()


def spark(sql: str) -> str:
    return sqlglot.transpile(sql, read="duckdb", write="spark", unsupported_level=ErrorLevel.RAISE)[0]


# --- expressions -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "died",
        "NOT died AND age >= 60",
        "coalesce(major_disease_12m, false) OR medical_oop_12m > 20000.00",
        "category_months > 0 AND category_months % 6 = 0",
        "age BETWEEN 16 AND 17 AND hh_cars IN (1, 2, -1)",
        "death_date IS NOT NULL AND registry_disability_grade IS NULL",
        "CASE WHEN in_dibao THEN hh_cars >= 1 ELSE hh_cars >= 2 END",
        "greatest(hh_cars, hh_vehicles) > least(1, 2) AND abs(age - 18) <= 1",
        "round(hh_income_12m, 0) > 0 AND nullif(earners, 0) IS NULL",
        "-medical_oop_12m < 0 AND medical_oop_12m * 2 > hh_income_12m - 1",
    ],
)
def test_allowed_expressions_pass(text: str) -> None:
    tree, issues = check_expression(text, role="when", params={})
    assert issues == []
    assert tree is not None


def test_every_whitelisted_function_is_accepted_and_no_other() -> None:
    calls = {
        "coalesce": "coalesce(died, false)",
        "nullif": "nullif(earners, 0) > 1",
        "abs": "abs(age) > 1",
        "greatest": "greatest(age, 1) > 1",
        "least": "least(age, 1) > 1",
        "round": "round(medical_oop_12m, 0) > 1",
    }
    assert set(calls) == set(FUNCTIONS)
    for text in calls.values():
        assert check_expression(text, role="when", params={})[1] == []
    _, issues = check_expression("upper(died) = 'X'", role="when", params={})
    assert [i.message.split("不在")[0] for i in issues] == ["函数 upper "]


@pytest.mark.parametrize(
    ("text", "offset", "start"),
    [
        ("died OR age > ?", 14, "不能使用占位符或变量“?”"),
        ("age > :limit", 6, "不能使用占位符或变量“:limit”"),
        ("age > 1;", 7, "不能有分号"),
        ("CAST(age AS VARCHAR) = '1'", 0, "不能做类型转换"),
        ("age::INT > 1", 0, "不能做类型转换"),
        ("EXISTS (SELECT 1) AND died", 0, "不能使用子查询"),
        ("died AND hh_cars IN (SELECT 1)", 21, "不能使用子查询"),
        ("died AND age::INT > 1", 9, "不能做类型转换"),
        ("died AND CAST(age AS INT) > 1", 9, "不能做类型转换"),
        ("died OR if(died, true, false)", 8, "不能使用 if() 函数"),
        ("count(*) > 1", 0, "不能使用聚合函数 count"),
        ("died AND hh_cars IN (hh_vehicles)", 21, "IN 后只能列出常量"),
        ("if(died, true, false)", 0, "不能使用 if() 函数"),
        ("age LIKE '1%'", 0, "不支持的写法“age LIKE '1%'”"),
        ("INSERT INTO alerts VALUES (1)", 0, "不能写 SQL 语句 INSERT"),
        ("NOT age", 4, "AND、OR、NOT 两边应为是/否（布尔值），“age”是数值"),
        ("died + 1 > 1", 0, "算术运算只能用于数值，“died”是是/否（布尔值）"),
        ("", 0, "表达式不能为空"),
    ],
)
def test_refused_expressions_point_at_the_mistake(text: str, offset: int, start: str) -> None:
    tree, issues = check_expression(text, role="when", params={})
    assert tree is None
    assert len(issues) == 1
    assert issues[0].offset == offset
    assert issues[0].message.startswith(start)


def test_event_key_may_be_any_type_but_null() -> None:
    assert check_expression("death_date", role="event_key", params={})[1] == []
    assert check_expression("category_months", role="event_key", params={})[1] == []
    _, issues = check_expression("NULL", role="event_key", params={})
    assert [i.message for i in issues] == ["事件标识不能是常量空值"]


def test_params_become_literals_by_tree_transformation() -> None:
    params = {"floor": Decimal("20000.00"), "ratio": Decimal("0.5"), "minus": Decimal("-3")}
    text = "medical_oop_12m >= floor AND hh_medical_oop_12m >= ratio * hh_income_12m AND age > minus"
    tree, issues = check_expression(text, role="when", params=params)
    assert issues == [] and tree is not None
    substituted = substitute_params(tree, params)
    assert substituted.sql("duckdb") == (
        "medical_oop_12m >= 20000.00 AND hh_medical_oop_12m >= 0.5 * hh_income_12m AND age > -3"
    )
    # The checked tree itself is untouched, and no column is left named after a param.
    assert {c.name for c in tree.find_all(exp.Column)} >= {"floor", "ratio", "minus"}
    assert not {c.name for c in substituted.find_all(exp.Column)} & set(params)


def test_a_param_name_inside_a_string_or_a_longer_name_is_not_replaced() -> None:
    params = {"age_limit": Decimal(60)}
    tree, issues = check_expression("age > age_limit", role="when", params=params)
    assert issues == [] and tree is not None
    assert substitute_params(tree, params).sql("duckdb") == "age > 60"


# --- compile ---------------------------------------------------------------------------------


def rule_file(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


RULE_TEMPLATE = """\
id: {id}
version: 3
title: 测试规则
severity: yellow
grain: person
applies_to: {{registered: true}}
when: died
actions: [verify_visit]
explanation: 已死亡。
policy: 测试用
effective: {effective}
"""


def test_compile_keeps_only_rules_in_force_on_the_day(tmp_path: Path) -> None:
    rule_file(
        tmp_path, "a.yaml", RULE_TEMPLATE.format(id="old", effective="{from: 2024-01-01, to: 2026-10-31}")
    )
    rule_file(tmp_path, "b.yaml", RULE_TEMPLATE.format(id="current", effective="{from: 2026-11-30}"))
    rule_file(tmp_path, "c.yaml", RULE_TEMPLATE.format(id="future", effective="{from: 2026-12-01}"))
    rules = load_rules(tmp_path)
    assert [c.rule.id for c in compile_rules(rules, on=dt.date(2026, 10, 31))] == ["old"]
    assert [c.rule.id for c in compile_rules(rules, on=ON)] == ["current"]
    assert [c.rule.id for c in compile_rules(rules, on=dt.date(2026, 12, 1))] == ["current", "future"]


def test_compile_refuses_a_rule_that_skipped_the_checks() -> None:
    good = next(r for r in RULES if r.id == "recipient_died")
    bad = Rule(**{**good.__dict__, "when": "died; DROP TABLE alerts"})
    with pytest.raises(ValueError, match="recipient_died does not compile"):
        compile_rules([bad], on=ON)


def test_population_and_grain_are_anded_into_each_branch() -> None:
    compiled = {c.rule.id: c for c in compile_rules(RULES, on=ON)}
    assert (
        compiled["recipient_died"].where.sql("duckdb") == "(registered AND (in_dibao OR in_tekun)) AND (died)"
    )
    assert (
        compiled["main_earner_died"].where.sql("duckdb")
        == "(registered AND household_row) AND (hh_main_earner_died)"
    )
    assert compiled["discovery_severe_disability"].where.sql("duckdb") == (
        "NOT registered AND (new_severe_disability)"
    )
    assert compiled["ineligible_business"].where.sql("duckdb") == (
        "(registered AND (in_dibao OR in_tekun) AND household_row) "
        "AND (hh_business_capital >= 50000 OR hh_businesses >= 2)"
    )


def test_every_shipped_rule_compiles_and_both_queries_transpile_to_spark() -> None:
    compiled = compile_rules(RULES, on=ON)
    assert len(compiled) == len(RULES)
    for sql in (candidates_sql(compiled), evidence_sql(compiled)):
        assert sql is not None
        spark_sql = spark(sql)
        assert "STRING" in spark_sql and "TEXT" not in spark_sql
    # One branch per rule; evidence branches shared by rules of the same grain, kind and months.
    assert candidates_sql(compiled).count("UNION ALL") == len(compiled) - 1
    groups = {(c.rule.grain, f.kind, f.months) for c in compiled for f in c.rule.evidence.feeds}
    assert (evidence_sql(compiled) or "").count("UNION ALL") == len(groups) - 1


def test_no_rules_give_an_empty_typed_candidates_query_and_no_evidence_query() -> None:
    con = duckdb.connect()
    con.register("features", CATALOGUE.arrow_schema().empty_table())
    result = con.sql(candidates_sql([])).to_arrow_table()
    assert result.num_rows == 0
    assert result.schema == CANDIDATES_SCHEMA
    spark(candidates_sql([]))
    assert evidence_sql([]) is None
    no_feeds = [c for c in compile_rules(RULES, on=ON) if not c.rule.evidence.feeds]
    assert no_feeds and evidence_sql(no_feeds) is None


# --- running the queries on hand-made data ----------------------------------------------------

CANDIDATES_SCHEMA = pa.schema(
    [
        ("rule_id", pa.string()),
        ("rule_version", pa.int32()),
        ("severity", pa.string()),
        ("grain", pa.string()),
        ("subject_key", pa.string()),
        ("event_key", pa.string()),
        ("citizen_id", pa.string()),
        ("person_id", pa.int64()),
        ("household_no", pa.string()),
        ("division_code", pa.string()),
        ("registered", pa.bool_()),
    ]
)
EVIDENCE_SCHEMA = pa.schema(
    [
        ("rule_id", pa.string()),
        ("subject_key", pa.string()),
        ("event_key", pa.string()),
        ("feed_kind", pa.string()),
        ("load_id", pa.int64()),
        ("period", pa.string()),
        ("row_no", pa.int64()),
        ("citizen_id", pa.string()),
        ("event_date", pa.date32()),
    ]
)

# Who is who: synthetic citizen IDs.
ID = {
    "old_head": citizen_id("1956-03-02", 11),  # 低保 H001 head, died this month, main earner
    "old_wife": citizen_id("1981-07-09", 22),  # 低保 H001, working age and able
    "orphan": citizen_id("2008-11-15", 31),  # 特困 H002, turns 18 this month; household has a car
    "patient": citizen_id("1990-01-20", 42),  # 低保边缘 H003 head: major disease, a spike this month
    "patient_son": citizen_id("2015-05-05", 51),  # H003 member with an older settlement
    "edge": citizen_id("1960-02-02", 61),  # 低保 H004: out-of-pocket exactly at the thresholds
    "below": citizen_id("1962-02-02", 71),  # 低保 H005: one cent below it
    "disabled": citizen_id("1975-06-06", 81),  # 低保 H006: new grade 3 → grade 2, registry says 3
    "stranger_rich_bill": citizen_id("1970-08-08", 91, 520301),  # unregistered, exactly 50,000.00
    "stranger_small_bill": citizen_id("1971-08-08", 93, 520301),  # unregistered, 49,999.99
    "stranger_ill": citizen_id("1972-08-08", 95, 520301),  # unregistered, major disease + grade 1
}


def features_row(who: str, **values: Any) -> dict[str, Any]:
    """A features row with quiet defaults: nothing happened, no money, no flags."""
    row: dict[str, Any] = {}
    for f in CATALOGUE.features:
        if f.type == "boolean":
            row[f.name] = False
        elif f.type == "money":
            row[f.name] = Decimal("0.00")
        elif f.type == "integer":
            row[f.name] = 0
        else:
            row[f.name] = None
    row.update(
        citizen_id=ID[who],
        person_id=None,
        household_no=None,
        division_code="520102001001",
        new_disability_grade=None,
        registry_disability_grade=None,
        category_months=None,
        household_size=1,
        age=40,
    )
    row.update(values)
    return row


_person_ids = iter(range(1, 1000))


def member(who: str, household_no: str, category: str, *, head: bool, **values: Any) -> dict[str, Any]:
    return features_row(
        who,
        person_id=next(_person_ids),
        household_no=household_no,
        registered=True,
        household_row=head,
        is_head=head,
        **{f"in_{category}": True},
        **values,
    )


def stranger(who: str, **values: Any) -> dict[str, Any]:
    return features_row(who, division_code="520301", household_row=True, is_head=True, **values)


D = Decimal


def hand_made_features() -> pa.Table:
    h1 = {
        "category_months": 12,
        "has_working_age_able": True,
        "hh_main_earner_died": True,
        "household_size": 2,
    }
    h3 = {"category_months": 3, "hh_medical_oop_12m": D("12000.00"), "hh_income_12m": D("20000.00")}
    rows = [
        member(
            "old_head", "H001", "dibao", head=True, died=True, death_date=dt.date(2026, 11, 10), age=70, **h1
        ),
        member("old_wife", "H001", "dibao", head=False, age=45, **h1),
        member("orphan", "H002", "tekun", head=True, age=18, turns_18=True, category_months=5, hh_cars=1),
        member(
            "patient",
            "H003",
            "marginal",
            head=True,
            medical_oop_period=D("3000.00"),  # 5 × 600.00: at the spike threshold
            dibao_standard=D("600.00"),
            major_disease_12m=True,
            **h3,
        ),
        member("patient_son", "H003", "marginal", head=False, dibao_standard=D("600.00"), age=11, **h3),
        member(
            "edge",
            "H004",
            "dibao",
            head=True,
            category_months=7,
            hh_medical_oop_12m=D("10000.00"),
            hh_income_12m=D("20000.00"),
        ),
        member(
            "below",
            "H005",
            "dibao",
            head=True,
            category_months=7,
            hh_medical_oop_12m=D("9999.99"),
            hh_income_12m=D("19999.98"),
        ),
        member(
            "disabled",
            "H006",
            "dibao",
            head=True,
            category_months=24,
            new_disability_grade=2,
            new_severe_disability=True,
            registry_disability_grade=3,
        ),
        stranger("stranger_rich_bill", medical_oop_12m=D("50000.00")),
        stranger("stranger_small_bill", medical_oop_12m=D("49999.99")),
        stranger(
            "stranger_ill",
            medical_oop_12m=D("30000.00"),
            major_disease_12m=True,
            new_disability_grade=1,
            new_severe_disability=True,
        ),
    ]
    return pa.Table.from_pylist(rows, schema=CATALOGUE.arrow_schema())


EXPECTED_CANDIDATES = {
    # (rule_id, subject_key, event_key, citizen_id)
    ("recipient_died", ID["old_head"], "2026-11-10", ID["old_head"]),
    ("main_earner_died", "H001", "", ID["old_head"]),
    ("dibao_review_6m", "H001", "12", ID["old_head"]),
    ("tekun_minor_turns_18", ID["orphan"], "", ID["orphan"]),
    ("ineligible_vehicle", "H002", "", ID["orphan"]),
    ("medical_spike_temporary_assistance", ID["patient"], "", ID["patient"]),
    ("marginal_individual_inclusion", ID["patient"], "", ID["patient"]),
    ("catastrophic_medical_spending", "H003", "", ID["patient"]),
    ("catastrophic_medical_spending", "H004", "", ID["edge"]),
    ("dibao_review_12m", "H006", "24", ID["disabled"]),
    ("new_severe_disability", ID["disabled"], "", ID["disabled"]),
    ("discovery_catastrophic_medical", ID["stranger_rich_bill"], "", ID["stranger_rich_bill"]),
    ("discovery_catastrophic_medical", ID["stranger_ill"], "", ID["stranger_ill"]),
    ("discovery_severe_disability", ID["stranger_ill"], "", ID["stranger_ill"]),
}


def feed_table(kind: str, rows: list[dict[str, Any]]) -> pa.Table:
    schema = get_contract(kind).stored_schema()
    return pa.Table.from_pylist([{f.name: r.get(f.name) for f in schema} for r in rows], schema=schema)


def medical(who: str, period: str, day: int, row_no: int, load_id: int) -> dict[str, Any]:
    y, m = (int(x) for x in period.split("-"))
    return {
        "settlement_no": f"S{load_id}-{row_no}",
        "citizen_id": ID[who],
        "settle_date": dt.date(y, m, day),
        "visit_type": "inpatient",
        "total_cost": D("900.00"),
        "reimbursed": D("800.00"),
        "out_of_pocket": D("100.00"),
        "period": period,
        "load_id": load_id,
        "row_no": row_no,
    }


def hand_made_feeds() -> dict[str, pa.Table]:
    # 25 settlements of the patient this month, two a day from the 1st (load 101, rows 2-26):
    # the 20 kept are the latest by date, then by row.
    patient_now = [medical("patient", PERIOD, 1 + i // 2, 2 + i, 101) for i in range(25)]
    feeds = {kind: feed_table(kind, []) for kind in default_contracts()}
    feeds["medical"] = feed_table(
        "medical",
        [
            *patient_now,
            medical("patient", "2025-11", 3, 2, 90),  # 13 months back: outside every window
            medical("patient", "2026-06", 9, 5, 96),  # in the 12-month window only
            medical("patient_son", "2026-06", 9, 6, 96),  # a member: household rules only
            medical("stranger_rich_bill", "2026-02", 14, 7, 92),
            medical("old_wife", PERIOD, 2, 27, 101),  # not behind any medical alert
        ],
    )
    feeds["death"] = feed_table(
        "death",
        [
            {
                "citizen_id": ID["old_head"],
                "death_date": dt.date(2026, 11, 10),
                "period": PERIOD,
                "load_id": 201,
                "row_no": 4,
            },
        ],
    )
    car = {"citizen_id": ID["orphan"], "vehicle_kind": "car", "register_date": dt.date(2020, 1, 1)}
    feeds["vehicle"] = feed_table(
        "vehicle",
        [
            {**car, "plate_no": "贵A00001", "period": "2026-10", "load_id": 300, "row_no": 9},
            {**car, "plate_no": "贵A00001", "period": PERIOD, "load_id": 301, "row_no": 3},
            {**car, "plate_no": "贵A00002", "period": PERIOD, "load_id": 301, "row_no": 2},
        ],
    )
    feeds["disability"] = feed_table(
        "disability",
        [
            {
                "certificate_no": "C1",
                "citizen_id": ID["disabled"],
                "event": "change",
                "event_date": dt.date(2026, 11, 3),
                "grade": 2,
                "period": PERIOD,
                "load_id": 401,
                "row_no": 2,
            },
            {
                "certificate_no": "C2",
                "citizen_id": ID["stranger_ill"],
                "event": "issue",
                "event_date": dt.date(2026, 11, 20),
                "grade": 1,
                "period": PERIOD,
                "load_id": 401,
                "row_no": 3,
            },
        ],
    )
    return feeds


RUN_PERIOD = pa.table(
    {
        "period": [PERIOD],
        "period_start": [dt.date(2026, 11, 1)],
        "period_end": [dt.date(2026, 11, 30)],
        "window_start": [dt.date(2025, 12, 1)],
    }
)


def expected_evidence() -> set[tuple[Any, ...]]:
    """(rule_id, subject_key, event_key, feed_kind, load_id, period, row_no, citizen_id, event_date)."""
    out: set[tuple[Any, ...]] = set()
    patient_now = sorted(
        (medical("patient", PERIOD, 1 + i // 2, 2 + i, 101) for i in range(25)),
        key=lambda r: (r["settle_date"], r["row_no"]),
        reverse=True,
    )[:EVIDENCE_LIMIT]

    def add(
        rule: str, subject: str, rows: list[dict[str, Any]], kind: str = "medical", date: str = "settle_date"
    ) -> None:
        for r in rows:
            out.add(
                (rule, subject, "", kind, r["load_id"], r["period"], r["row_no"], r["citizen_id"], r[date])
            )

    # Person rules with 1 month (the spike) and 12 months (单人保) of medical evidence.
    add("medical_spike_temporary_assistance", ID["patient"], patient_now)
    add("marginal_individual_inclusion", ID["patient"], patient_now)  # the 20 newest of 26
    # The household rule sees every member (27 rows): still the 20 newest, all this month's.
    add("catastrophic_medical_spending", "H003", patient_now)
    add(
        "discovery_catastrophic_medical",
        ID["stranger_rich_bill"],
        [medical("stranger_rich_bill", "2026-02", 14, 7, 92)],
    )
    out.add(
        (
            "recipient_died",
            ID["old_head"],
            "2026-11-10",
            "death",
            201,
            PERIOD,
            4,
            ID["old_head"],
            dt.date(2026, 11, 10),
        )
    )
    out.add(("main_earner_died", "H001", "", "death", 201, PERIOD, 4, ID["old_head"], dt.date(2026, 11, 10)))
    # Snapshot: only the latest list (2026-11), not October's.
    out.add(("ineligible_vehicle", "H002", "", "vehicle", 301, PERIOD, 2, ID["orphan"], None))
    out.add(("ineligible_vehicle", "H002", "", "vehicle", 301, PERIOD, 3, ID["orphan"], None))
    out.add(
        (
            "new_severe_disability",
            ID["disabled"],
            "",
            "disability",
            401,
            PERIOD,
            2,
            ID["disabled"],
            dt.date(2026, 11, 3),
        )
    )
    out.add(
        (
            "discovery_severe_disability",
            ID["stranger_ill"],
            "",
            "disability",
            401,
            PERIOD,
            3,
            ID["stranger_ill"],
            dt.date(2026, 11, 20),
        )
    )
    return out


Runner = Callable[[str, str], pa.Table]


def duckdb_runner(**feeds: pa.Table) -> Iterator[Runner]:
    con = duckdb.connect()
    con.register("features_in", hand_made_features())
    con.execute("CREATE TABLE features AS SELECT * FROM features_in")
    for kind, table in {**hand_made_feeds(), **feeds}.items():
        con.register(f"feed_{kind}", table)
    con.register("run_period", RUN_PERIOD)

    def run(name: str, sql: str) -> pa.Table:
        if name:
            con.execute(f"CREATE OR REPLACE TABLE {name} AS {sql}")
            return con.sql(f"SELECT * FROM {name}").to_arrow_table()
        return con.sql(sql).to_arrow_table()

    yield run
    con.close()


@pytest.fixture
def on_duckdb() -> Iterator[Runner]:
    yield from duckdb_runner()


def candidate_set(table: pa.Table) -> set[tuple[Any, ...]]:
    return {(r["rule_id"], r["subject_key"], r["event_key"], r["citizen_id"]) for r in table.to_pylist()}


def evidence_set(table: pa.Table) -> set[tuple[Any, ...]]:
    return {tuple(r[c] for c in EVIDENCE_SCHEMA.names) for r in table.to_pylist()}


def run_both(run: Runner) -> tuple[pa.Table, pa.Table]:
    compiled = compile_rules(RULES, on=ON)
    candidates = run("candidates", candidates_sql(compiled))
    evidence = run("", evidence_sql(compiled) or "")
    return candidates, evidence


def test_candidates_on_duckdb_are_exactly_the_expected(on_duckdb: Runner) -> None:
    candidates, _ = run_both(on_duckdb)
    assert candidates.schema == CANDIDATES_SCHEMA
    assert candidate_set(candidates) == EXPECTED_CANDIDATES
    assert candidates.num_rows == len(EXPECTED_CANDIDATES)  # no duplicates
    by_rule = {r["rule_id"]: r for r in candidates.to_pylist()}
    assert by_rule["recipient_died"]["rule_version"] == 1
    assert by_rule["recipient_died"]["severity"] == "red"
    assert by_rule["main_earner_died"]["grain"] == "household"
    assert by_rule["main_earner_died"]["household_no"] == "H001"
    assert by_rule["discovery_severe_disability"]["registered"] is False
    assert by_rule["discovery_severe_disability"]["person_id"] is None


def test_evidence_on_duckdb_is_exactly_the_expected(on_duckdb: Runner) -> None:
    _, evidence = run_both(on_duckdb)
    assert evidence.schema == EVIDENCE_SCHEMA
    got = evidence_set(evidence)
    expected = expected_evidence()
    assert got == expected
    assert evidence.num_rows == len(expected)
    # The limit, per candidate and kind.
    counts: dict[tuple[str, str], int] = {}
    for r in evidence.to_pylist():
        counts[(r["rule_id"], r["feed_kind"])] = counts.get((r["rule_id"], r["feed_kind"]), 0) + 1
    assert counts[("marginal_individual_inclusion", "medical")] == EVIDENCE_LIMIT


def test_household_evidence_reaches_other_members(tmp_path: Path) -> None:
    # A household rule with six months of medical evidence: the son's June settlement is found
    # through the household, next to the head's; a person rule on the head does not see it;
    # nothing from before June.
    on_duckdb = next(
        duckdb_runner(
            medical=feed_table(
                "medical",
                [
                    medical("patient", "2026-05", 9, 4, 95),
                    medical("patient", "2026-06", 9, 5, 96),
                    medical("patient_son", "2026-06", 9, 6, 96),
                ],
            )
        )
    )
    rule_file(
        tmp_path,
        "r.yaml",
        """\
rules:
  - id: household_medical
    version: 1
    title: 家庭医疗
    severity: yellow
    grain: household
    applies_to: {registered: true, categories: [marginal]}
    when: hh_medical_oop_12m > 0
    evidence: {feeds: [{kind: medical, months: 6}]}
    actions: [medical_assistance]
    explanation: 家庭自付{hh_medical_oop_12m}元。
    policy: 测试用
    effective: {from: 2024-01-01}
  - id: person_medical
    version: 1
    title: 个人医疗
    severity: yellow
    grain: person
    applies_to: {registered: true, categories: [marginal]}
    when: is_head AND major_disease_12m
    evidence: {feeds: [{kind: medical, months: 6}]}
    actions: [medical_assistance]
    explanation: 个人。
    policy: 测试用
    effective: {from: 2024-01-01}
""",
    )
    compiled = compile_rules(load_rules(tmp_path), on=ON)
    on_duckdb("candidates", candidates_sql(compiled))
    evidence = on_duckdb("", evidence_sql(compiled) or "").to_pylist()
    got = {(r["rule_id"], r["subject_key"], r["citizen_id"], r["row_no"]) for r in evidence}
    assert got == {
        ("household_medical", "H003", ID["patient"], 5),
        ("household_medical", "H003", ID["patient_son"], 6),
        ("person_medical", ID["patient"], ID["patient"], 5),
    }


def test_money_thresholds_are_exact_at_the_boundary(on_duckdb: Runner) -> None:
    # 10,000.00 of 20,000.00 alerts; 9,999.99 of 19,999.98 (also half) is below the 10,000 floor.
    candidates, _ = run_both(on_duckdb)
    medical = {
        r["subject_key"] for r in candidates.to_pylist() if r["rule_id"] == "catastrophic_medical_spending"
    }
    assert medical == {"H003", "H004"}


# Rules covering each shape of SQL: a person rule with an event key (death events), a household
# rule with 12 months of medical evidence cut at the limit, a snapshot kind (vehicles), and an
# unregistered subject. Fewer branches keep Spark's per-stage overhead to seconds.
SPARK_RULES = (
    "recipient_died",
    "catastrophic_medical_spending",
    "ineligible_vehicle",
    "discovery_severe_disability",
)


@pytest.mark.spark
def test_spark_gives_the_same_candidates_and_evidence(tmp_path: Path, spark_session: Any) -> None:
    from doudi.monitor.engines.spark_engine import SparkEngine
    from doudi.settings import Settings

    rules = [r for r in RULES if r.id in SPARK_RULES]
    compiled = compile_rules(rules, on=ON)
    engine = SparkEngine(Settings(data_dir=tmp_path, duckdb_memory_limit="1GB"), session=spark_session)
    try:
        engine.register_arrow("features", hand_made_features())
        for kind, table in hand_made_feeds().items():
            if table.num_rows:
                engine.register_arrow(f"feed_{kind}", table)
            else:
                engine.register_parquet(f"feed_{kind}", [], table.schema)
        engine.register_arrow("run_period", RUN_PERIOD)
        engine.materialize("candidates", candidates_sql(compiled))
        candidates = engine.to_arrow("SELECT * FROM candidates")
        evidence = engine.to_arrow(evidence_sql(compiled) or "")
    finally:
        engine.close()
    assert candidates.schema == CANDIDATES_SCHEMA
    assert candidate_set(candidates) == {c for c in EXPECTED_CANDIDATES if c[0] in SPARK_RULES}
    assert evidence_set(evidence) == {e for e in expected_evidence() if e[0] in SPARK_RULES}
    assert {c[0] for c in candidate_set(candidates)} == set(SPARK_RULES)


def test_compiled_rule_keeps_its_rule() -> None:
    compiled = compile_rules(RULES, on=ON)
    assert all(isinstance(c, CompiledRule) and c.rule in RULES for c in compiled)
