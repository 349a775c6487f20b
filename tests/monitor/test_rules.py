"""The shipped alert rules, the rule file format (positions, scalar styles, both layouts),
explanation rendering, and docs/rules.md kept in step with the files."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from doudi.monitor.catalogue import get_catalogue
from doudi.monitor.compiler import FUNCTIONS
from doudi.monitor.parameters import monitor_parameters
from doudi.monitor.rules import (
    ACTIONS,
    GRAINS,
    RULES_DIR,
    SEVERITIES,
    Rule,
    check_rules,
    format_fact,
    load_rules,
)

DOC = Path(__file__).parents[2] / "docs" / "rules.md"
RULES = load_rules()
BY_ID = {r.id: r for r in RULES}


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


# --- the shipped rules ---------------------------------------------------------------------


def test_shipped_rules_check_clean() -> None:
    rules, problems = check_rules(RULES_DIR)
    assert problems == []
    assert len(rules) >= 16
    assert [r.id for r in rules] == [r.id for r in RULES]


def test_shipped_rules_cover_the_issue() -> None:
    # Each trigger the issue asks for, by the features its condition reads.
    reads = {r.id: set(r.facts_columns) for r in RULES}
    needed = {
        "catastrophic_medical_spending": {"hh_medical_oop_12m", "hh_income_12m"},
        "new_severe_disability": {"new_severe_disability"},
        "recipient_died": {"died"},
        "main_earner_died": {"hh_main_earner_died"},
        "only_earner_unemployed": {"hh_only_earner_unemployed"},
        "house_collapsed": {"house_collapsed"},
        "disaster_loss": {"hh_disaster_loss_period"},
        "non_compulsory_schooling": {"enrolled_high_school", "enrolled_college"},
        "ineligible_vehicle": {"hh_cars"},
        "ineligible_business": {"hh_businesses", "hh_business_capital"},
        "ineligible_property": {"hh_residences", "hh_commercial_properties"},
        "ineligible_public_employee": {"hh_public_employees"},
        "moved_out_of_province": {"moved_out_of_province"},
        "discovery_catastrophic_medical": {"medical_oop_12m", "major_disease_12m"},
        "discovery_severe_disability": {"new_severe_disability"},
        "tekun_minor_turns_18": {"turns_18"},
        "dibao_review_6m": {"category_months", "has_working_age_able"},
        "dibao_review_12m": {"category_months"},
        "tekun_review_12m": {"category_months"},
    }
    for rule_id, features in needed.items():
        assert features <= reads[rule_id], rule_id
    discovery = {r.id for r in RULES if not r.applies_to.registered}
    assert discovery == {"discovery_catastrophic_medical", "discovery_severe_disability"}
    assert {r.severity for r in RULES} == set(SEVERITIES)
    assert {r.grain for r in RULES} == set(GRAINS)


def test_recipient_death_is_red_keyed_by_the_death_and_stops_payment() -> None:
    rule = BY_ID["recipient_died"]
    assert rule.severity == "red"
    assert rule.event_key == "death_date"
    assert "stop_payment" in rule.actions
    assert set(rule.applies_to.categories) == {"dibao", "tekun"}
    assert rule.suppress_days_in_force == 30
    assert BY_ID["main_earner_died"].suppress_days_in_force == monitor_parameters().suppress_days.value


def test_periodic_reviews_follow_the_policy_cycles() -> None:
    six, twelve, tekun = BY_ID["dibao_review_6m"], BY_ID["dibao_review_12m"], BY_ID["tekun_review_12m"]
    assert six.params["review_months"].value == 6
    assert twelve.params["review_months"].value == 12
    assert tekun.params["review_months"].value == 12
    assert tekun.params["review_months"].source.startswith("[UNCONFIRMED]")
    for rule in (six, twelve, tekun):
        assert rule.event_key == "category_months"
        assert "%" in rule.when


def test_thresholds_are_named_params_never_literals_in_conditions() -> None:
    # Small counts and disability grades (0, 1, 2) are not thresholds; anything else must be a
    # param with its source, so that its origin is on record.
    for rule in RULES:
        tree = sqlglot.parse_one(rule.when, read="duckdb")
        literals = {lit.this for lit in tree.find_all(exp.Literal) if not lit.is_string}
        assert literals <= {"0", "1", "2"}, rule.id
        for name, param in rule.params.items():
            assert param.source.strip(), (rule.id, name)


def test_every_rule_has_chinese_text_and_a_policy_reference() -> None:
    for rule in RULES:
        assert re.search(r"[\u4e00-\u9fff]", rule.title), rule.id
        assert re.search(r"[\u4e00-\u9fff]", rule.explanation), rule.id
        assert len(rule.policy) >= 10, rule.id
        assert "domain.md" not in rule.policy, rule.id  # caseworkers read it: cite documents
        assert rule.effective.from_ <= dt.date(2026, 11, 30)


def test_facts_cover_evidence_condition_and_template() -> None:
    rule = BY_ID["disaster_loss"]
    assert rule.facts_columns == (
        "hh_disaster_loss_period",
        "household_size",
        "hh_income_monthly",
        "house_collapsed",
    )
    usable = get_catalogue().usable()
    for r in RULES:
        assert set(r.facts_columns) <= set(usable), r.id
        assert set(r.feature_types) == set(r.facts_columns)


# --- rendering -------------------------------------------------------------------------------


def test_render_formats_money_ratio_and_params() -> None:
    text = BY_ID["catastrophic_medical_spending"].render(
        {"hh_medical_oop_12m": Decimal("12345.6"), "hh_income_12m": Decimal("20000"), "household_size": 3}
    )
    assert text == (
        "近12个月家庭个人自付医疗费用12,345.60元，达到家庭年收入20,000.00元的50%以上（且不少于10,000.00元），"
        "家庭可能因病陷入困难。"
    )


def test_render_formats_dates_booleans_and_missing_values() -> None:
    died = BY_ID["recipient_died"].render({"death_date": dt.date(2026, 11, 3), "age": 81, "died": True})
    assert died == "公安死亡信息显示已于2026-11-03死亡（81岁），仍在低保或特困名册中，应停止发放并办理减员。"
    school = BY_ID["non_compulsory_schooling"].render(
        {
            "enrolled_high_school": True,
            "enrolled_college": False,
            "school_fee_annual": None,
            "hh_school_fees_period": Decimal("3500.00"),
        }
    )
    assert school.startswith(
        "本月升入高中或中职：是；升入高等教育：否。年学杂费及住宿费无元（全家本月新入学合计3,500.00元）"
    )
    # Facts read back from JSON arrive as strings.
    assert format_fact("2026-11-03", "date") == "2026-11-03"
    assert format_fact("1234.5", "money") == "1,234.50"
    assert format_fact("false", "boolean") == "否"


def test_render_needs_every_fact_the_template_names() -> None:
    with pytest.raises(KeyError, match="no fact 'age'"):
        BY_ID["recipient_died"].render({"death_date": dt.date(2026, 11, 3)})


def test_template_braces_escape_and_placeholders_map_to_the_file(tmp_path: Path) -> None:
    write(
        tmp_path,
        "r.yaml",
        """\
id: braces
version: 1
title: 花括号
severity: yellow
grain: person
applies_to: {registered: true}
params:
  limit: {value: 60, unit: years, source: 测试用}
when: age >= limit
actions: [verify_visit]
explanation: "年龄{age}岁（{{不少于}}{limit}岁）"
policy: 测试用
effective: {from: 2024-01-01}
""",
    )
    (rule,) = load_rules(tmp_path)
    assert rule.render({"age": 61}) == "年龄61岁（{不少于}60岁）"
    assert rule.facts_columns == ("age",)


@pytest.mark.parametrize(
    ("template", "column", "message"),
    [
        ("年龄{age岁", 16, "“{”没有对应的“}”：占位符写作 {特征名}"),
        ("年龄}岁", 16, "多余的“}”：占位符写作 {特征名}，文字中的花括号写作 }}"),
        ("年龄{age:>3}岁", 16, "占位符“{age:>3}”应只写特征名或参数名，如 {medical_oop_12m}"),
        ("号码{citizen_id}", 16, "说明中不能显示标识列 citizen_id"),
    ],
)
def test_broken_templates_are_reported_at_the_brace(
    tmp_path: Path, template: str, column: int, message: str
) -> None:
    write(
        tmp_path,
        "r.yaml",
        f"""\
id: template
version: 1
title: 模板
severity: yellow
grain: person
applies_to: {{registered: true}}
when: age >= 60
actions: [verify_visit]
explanation: {template}
policy: 测试用
effective: {{from: 2024-01-01}}
""",
    )
    _, problems = check_rules(tmp_path)
    assert [(p.line, p.column, p.message) for p in problems] == [(9, column, message)]


# --- positions in every YAML scalar style ------------------------------------------------------

WHEN_STYLES = {
    # style → (the `when:` lines, line and column of `foo` in the file)
    "plain": ("when: died AND foo(age) > 1", 7, 16),
    "plain multi-line": ("when: died\n  AND\n    foo(age) > 1", 9, 5),
    "double-quoted": ('when: "died AND\n  foo(age) > 1"', 8, 3),
    "single-quoted": ("when: 'died AND ''x'' = ''x'' AND foo(age) > 1'", 7, 35),
    "literal block": ("when: |\n  died\n  AND foo(age) > 1", 9, 7),
    "folded block": ("when: >-\n    died AND\n    foo(age) > 1", 9, 5),
}


@pytest.mark.parametrize("style", sorted(WHEN_STYLES))
def test_expression_errors_point_into_the_file_whatever_the_scalar_style(tmp_path: Path, style: str) -> None:
    when, line, column = WHEN_STYLES[style]
    write(
        tmp_path,
        "r.yaml",
        f"""\
id: styles
version: 1
title: 写法
severity: yellow
grain: person
applies_to: {{registered: true}}
{when}
actions: [verify_visit]
explanation: 说明。
policy: 测试用
effective: {{from: 2024-01-01}}
""",
    )
    _, problems = check_rules(tmp_path)
    assert [(p.line, p.column) for p in problems] == [(line, column)]
    assert problems[0].message.startswith("函数 foo 不在白名单内")
    text = (tmp_path / "r.yaml").read_text(encoding="utf-8").splitlines()
    assert text[line - 1][column - 1 :].startswith("foo(")


def test_numbers_are_exact_decimals_not_floats(tmp_path: Path) -> None:
    write(
        tmp_path,
        "r.yaml",
        """\
id: exact
version: 1
title: 精确
severity: yellow
grain: person
applies_to: {registered: false}
params:
  floor: {value: 0.1, unit: yuan, source: 测试用}
when: medical_oop_12m > floor
actions: [verify_visit]
explanation: 超过{floor}元。
policy: 测试用
effective: {from: 2024-01-01, to: 2024-12-31}
""",
    )
    (rule,) = load_rules(tmp_path)
    assert rule.params["floor"].value == Decimal("0.1")
    assert isinstance(rule.params["floor"].value, Decimal)
    assert rule.in_force(dt.date(2024, 1, 1)) and rule.in_force(dt.date(2024, 12, 31))
    assert not rule.in_force(dt.date(2023, 12, 31)) and not rule.in_force(dt.date(2025, 1, 1))
    assert rule.effective_label() == "2024-01-01 至 2024-12-31"
    assert rule.file == "r.yaml" and rule.line == 1


def test_a_missing_directory_raises_and_an_empty_one_has_no_rules(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        check_rules(tmp_path / "nowhere")
    assert check_rules(tmp_path) == ([], [])
    write(tmp_path, "empty.yaml", "# nothing yet\n")
    _, problems = check_rules(tmp_path)
    assert [str(p) for p in problems] == ["empty.yaml:1:1 -：文件为空，应至少写一条规则（不用的文件请删除）"]


def test_rule_problem_reads_file_line_column_id_message() -> None:
    rule_problem = check_rules(Path(__file__).with_name("broken_rules"))[1][0]
    assert str(rule_problem) == (
        f"{rule_problem.file}:{rule_problem.line}:{rule_problem.column} {rule_problem.rule_id}：{rule_problem.message}"
    )


def test_rule_is_frozen() -> None:
    with pytest.raises(AttributeError):
        RULES[0].id = "x"  # type: ignore[misc]
    assert isinstance(RULES[0], Rule)


# --- docs/rules.md ---------------------------------------------------------------------------


def doc_table(header: str) -> list[list[str]]:
    """The rows of the table whose header row starts with ``| header |``."""
    lines = DOC.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {header} |"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows


def test_docs_list_every_shipped_rule_as_it_is() -> None:
    rows = {r[0].strip("`"): r[1:] for r in doc_table("规则 | 版本")}
    assert list(rows) == [r.id for r in RULES], (
        "docs/rules.md 内置规则一览 must list every rule in file order"
    )
    for rule in RULES:
        unconfirmed = "、".join(
            f"`{n}`={p.value}" for n, p in rule.params.items() if p.source.startswith("[UNCONFIRMED]")
        )
        expected = [
            str(rule.version),
            rule.title,
            SEVERITIES[rule.severity],
            f"{GRAINS[rule.grain]}：{rule.applies_to.label()}",
            f"`{rule.file}`",
            unconfirmed or "—",
        ]
        assert rows[rule.id] == expected, (
            f"docs/rules.md row of {rule.id} should be: | {' | '.join(expected)} |"
        )


def test_docs_list_every_action_and_function() -> None:
    assert {r[0].strip("`"): r[1] for r in doc_table("措施代码")} == ACTIONS
    assert {r[0].strip("`"): r[1] for r in doc_table("函数名")} == FUNCTIONS
