"""Broken rule files (``broken_rules/``): each case pins the exact problems it must produce —
file, rule id, line, column and the Chinese message — and a check of the whole folder reports
every problem of every file at once."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from doudi.feeds.contract import default_contracts
from doudi.monitor.rules import ACTIONS, RuleError, RuleProblem, check_rules, load_rules
from doudi.registry.codes import CATEGORIES

BROKEN = Path(__file__).with_name("broken_rules")

ALL_ACTIONS = "、".join(f"{a}（{zh}）" for a, zh in ACTIONS.items())
ALL_KINDS = "、".join(f"{k}（{c.title}）" for k, c in sorted(default_contracts().items()))
ALL_CATEGORIES = "、".join(f"{c}（{zh}）" for c, zh in CATEGORIES.items())
ALL_FUNCTIONS = "coalesce、nullif、abs、greatest、least、round"

# case → files of the case → expected problems (file, rule id, line, column, message).
CASES: dict[str, tuple[tuple[str, ...], list[tuple[str, str, int, int, str]]]] = {
    "unknown_feature": (
        ("unknown_feature.yaml",),
        [
            (
                "unknown_feature.yaml",
                "unknown_feature",
                8,
                7,
                "未知的特征“medical_oop_12mm”：特征目录（doudi/monitor/features.yaml）和本规则的 params 中都没有，是否是 medical_oop_12m？",
            )
        ],
    ),
    "key_column": (
        ("key_column.yaml",),
        [("key_column.yaml", "key_column", 8, 16, "citizen_id 是标识列，不能用于规则表达式")],
    ),
    "subquery": (
        ("subquery.yaml",),
        [("subquery.yaml", "subquery", 10, 19, "不能使用子查询：规则只能读取本对象（人或户）的特征")],
    ),
    "select_statement": (
        ("select_statement.yaml",),
        [
            (
                "select_statement.yaml",
                "select_statement",
                8,
                7,
                "不能写 SELECT 查询：这里只能写一个对特征的表达式，如 medical_oop_12m > 20000",
            )
        ],
    ),
    "drop_table": (
        ("drop_table.yaml",),
        [("drop_table.yaml", "drop_table", 8, 12, "不能有分号：这里只能写一个表达式，不能写多条语句")],
    ),
    "aggregate": (
        ("aggregate.yaml",),
        [
            (
                "aggregate.yaml",
                "aggregate",
                8,
                7,
                "不能使用聚合函数 sum：规则按每个对象逐行判断，汇总值请用特征目录中的特征，如 hh_medical_oop_12m",
            )
        ],
    ),
    "window_function": (
        ("window_function.yaml",),
        [
            (
                "window_function.yaml",
                "window_function",
                10,
                3,
                "不能使用窗口函数（OVER）：规则按每个对象逐行判断",
            )
        ],
    ),
    "function_not_whitelisted": (
        ("function_not_whitelisted.yaml",),
        [
            (
                "function_not_whitelisted.yaml",
                "function_not_whitelisted",
                8,
                7,
                f"函数 sqrt 不在白名单内，可用的函数：{ALL_FUNCTIONS}",
            )
        ],
    ),
    "not_boolean": (
        ("not_boolean.yaml",),
        [
            (
                "not_boolean.yaml",
                "not_boolean",
                8,
                7,
                "条件的结果应为是/否（布尔值），这里是数值：请写成比较，如 medical_oop_12m > 20000",
            )
        ],
    ),
    "syntax_error": (
        ("syntax_error.yaml",),
        [("syntax_error.yaml", "syntax_error", 11, 17, "SQL 语法错误：缺少右括号")],
    ),
    "table_qualified": (
        ("table_qualified.yaml",),
        [
            (
                "table_qualified.yaml",
                "table_qualified",
                8,
                7,
                "不能写表名或别名“features.died”：直接写特征名，如 died",
            )
        ],
    ),
    "unknown_category": (
        ("unknown_category.yaml",),
        [("unknown_category.yaml", "unknown_category", 9, 23, f"未知的类别“wubao”，可用：{ALL_CATEGORIES}")],
    ),
    "unknown_action": (
        ("unknown_action.yaml",),
        [("unknown_action.yaml", "unknown_action", 11, 5, f"未知的措施“call_family”，可用：{ALL_ACTIONS}")],
    ),
    "unknown_feed": (
        ("unknown_feed.yaml",),
        [("unknown_feed.yaml", "unknown_feed", 13, 14, f"未知的数据种类“tax”，可用：{ALL_KINDS}")],
    ),
    "bad_placeholder": (
        ("bad_placeholder.yaml",),
        [
            (
                "bad_placeholder.yaml",
                "bad_placeholder",
                10,
                32,
                "占位符“{hh_income}”不是特征也不是本规则的参数",
            )
        ],
    ),
    "duplicate_id_across_files": (
        ("duplicate_id_a.yaml", "duplicate_id_b.yaml"),
        [
            (
                "duplicate_id_b.yaml",
                "duplicate_id",
                14,
                9,
                "规则 id 重复：duplicate_id_a.yaml 第2行已有 duplicate_id，每条规则的 id 在所有文件中必须唯一",
            )
        ],
    ),
    "param_shadows_feature": (
        ("param_shadows_feature.yaml",),
        [
            (
                "param_shadows_feature.yaml",
                "param_shadows_feature",
                9,
                3,
                "参数名“age”与特征同名，请换一个名字（参数不能遮蔽特征）",
            )
        ],
    ),
    "effective_to_before_from": (
        ("effective_to_before_from.yaml",),
        [
            (
                "effective_to_before_from.yaml",
                "effective_to_before_from",
                14,
                7,
                "结束日期 2025-06-30 早于起始日期 2025-07-01",
            )
        ],
    ),
    "bad_severity": (
        ("bad_severity.yaml",),
        [
            (
                "bad_severity.yaml",
                "bad_severity",
                5,
                11,
                "“critical”不是可用的取值，应为 red（红色）、orange（橙色）、yellow（黄色）",
            )
        ],
    ),
    "missing_field": (
        ("missing_field.yaml",),
        [("missing_field.yaml", "missing_field", 2, 1, "缺少 policy（政策依据：文件名称、文号或条款）")],
    ),
    "misspelt_key": (
        ("misspelt_key.yaml",),
        [("misspelt_key.yaml", "misspelt_key", 9, 1, "未知的键“actoins”，是否是 actions？")],
    ),
    "placeholder_variable": (
        ("placeholder_variable.yaml",),
        [
            (
                "placeholder_variable.yaml",
                "placeholder_variable",
                8,
                25,
                "不能使用占位符或变量“$threshold”：阈值请写在 params 里，按参数名引用",
            )
        ],
    ),
    "division": (
        ("division.yaml",),
        [
            (
                "division.yaml",
                "division",
                12,
                28,
                "不能使用除法：除法结果为浮点数，在阈值附近不稳定；请改写成乘法，如 hh_medical_oop_12m > 0.5 * hh_income_12m",
            )
        ],
    ),
    "type_mismatch": (
        ("type_mismatch.yaml",),
        [
            (
                "type_mismatch.yaml",
                "type_mismatch",
                8,
                16,
                "类型不匹配：“death_date”是日期，“20240101”是数值，不能比较",
            )
        ],
    ),
    "yaml_syntax": (
        ("yaml_syntax.yaml",),
        [
            (
                "yaml_syntax.yaml",
                "",
                6,
                8,
                "YAML 语法错误（mapping values are not allowed here），请检查这一行及前几行的缩进（只用空格）、冒号和引号",
            )
        ],
    ),
    "duplicate_key": (
        ("duplicate_key.yaml",),
        [
            (
                "duplicate_key.yaml",
                "duplicate_key",
                9,
                1,
                "键“when”重复：第8行已有，同一层中每个键只能出现一次",
            )
        ],
    ),
    "unused_param": (
        ("unused_param.yaml",),
        [
            (
                "unused_param.yaml",
                "unused_param",
                10,
                3,
                "参数“oop_ratio”没有在 when、event_key 或 explanation 中使用",
            )
        ],
    ),
    "evidence_months_too_long": (
        ("evidence_months_too_long.yaml",),
        [
            (
                "evidence_months_too_long.yaml",
                "evidence_months_too_long",
                10,
                35,
                "months 不能超过特征回溯月数 12",
            )
        ],
    ),
    "unregistered_with_categories": (
        ("unregistered_with_categories.yaml",),
        [
            (
                "unregistered_with_categories.yaml",
                "unregistered_with_categories",
                7,
                45,
                "未在册人员没有救助类别：registered: false 时请删去 categories",
            )
        ],
    ),
}


def problems(rows: list[tuple[str, str, int, int, str]]) -> list[RuleProblem]:
    return [RuleProblem(*row) for row in rows]


@pytest.mark.parametrize("case", sorted(CASES))
def test_broken_case_gives_exactly_its_problems(case: str, tmp_path: Path) -> None:
    files, expected = CASES[case]
    for name in files:
        shutil.copy(BROKEN / name, tmp_path / name)
    rules, found = check_rules(tmp_path)
    assert found == problems(expected)
    # Only the valid rules come back: none, or for the duplicate the first of the two ids
    # and the other rule of the second file.
    expected_ids = {"duplicate_id", "duplicate_id_other"} if case == "duplicate_id_across_files" else set()
    assert {r.id for r in rules} == expected_ids
    with pytest.raises(RuleError) as info:
        load_rules(tmp_path)
    assert info.value.problems == problems(expected)


def test_every_fixture_belongs_to_a_case_and_there_are_enough() -> None:
    in_cases = {name for files, _ in CASES.values() for name in files}
    on_disk = {p.name for p in BROKEN.glob("*.yaml")}
    assert in_cases == on_disk
    assert len(CASES) >= 20
    # Each case is one mistake giving one message: a second, derived message buries the first.
    assert all(len(expected) == 1 for _, expected in CASES.values())


def test_the_whole_folder_reports_every_problem_of_every_file_at_once() -> None:
    rules, found = check_rules(BROKEN)
    order = sorted(BROKEN.glob("*.yaml"))
    expected = sorted(
        (RuleProblem(*row) for _, rows in CASES.values() for row in rows),
        key=lambda p: ([f.name for f in order].index(p.file), p.line, p.column),
    )
    assert found == expected
    assert len({p.file for p in found}) == len(CASES)
    assert {r.id for r in rules} == {"duplicate_id", "duplicate_id_other"}


def test_several_problems_in_one_file_are_all_reported_in_file_order(tmp_path: Path) -> None:
    (tmp_path / "many.yaml").write_text(
        """\
rules:
  - id: first
    version: 0
    title: 第一条
    severity: yellow
    grain: person
    applies_to: {registered: true}
    when: died
    actions: [verify_visit]
    explanation: 已死亡。
    policy: 测试用
    effective: {from: 2024-01-01}
  - id: second
    version: 1
    title: 第二条
    severity: yellow
    grain: family
    applies_to: {registered: true, categories: [dibao]}
    when: |
      died
        AND hh_carz >= 1
        AND sum(age) > 1
    actions: [verify_visit]
    explanation: 汽车{hh_cars}辆，{nothing}。
    policy: 测试用
    effective: {from: 2024-01-01}
  - id: third
    version: 1
    title: 第三条
    severity: yellow
    grain: person
    applies_to: {registered: true}
    when: age > 100
    actions: [wait]
    explanation: Too old.
    policy: 测试用
    effective: {from: 2024-01-01}
""",
        encoding="utf-8",
    )
    rules, found = check_rules(tmp_path)
    assert rules == []
    # The second rule's grain is wrong; its other keys are still checked, down to the
    # expression inside the block and the template.
    assert [(p.rule_id, p.line, p.column, p.message) for p in found] == [
        ("first", 3, 14, "应不小于 1"),
        ("second", 17, 12, "“family”不是可用的取值，应为 person（个人）、household（家庭）"),
        (
            "second",
            21,
            13,
            "未知的特征“hh_carz”：特征目录（doudi/monitor/features.yaml）和本规则的 params 中都没有，是否是 hh_cars？",
        ),
        (
            "second",
            22,
            13,
            "不能使用聚合函数 sum：规则按每个对象逐行判断，汇总值请用特征目录中的特征，如 hh_medical_oop_12m",
        ),
        ("second", 24, 31, "占位符“{nothing}”不是特征也不是本规则的参数"),
        ("third", 34, 15, f"未知的措施“wait”，可用：{ALL_ACTIONS}"),
        ("third", 35, 18, "explanation 应用中文书写"),
    ]


def test_a_broken_rule_still_claims_its_id(tmp_path: Path) -> None:
    # The first file's rule is broken (bad severity) but its id is taken: the second file's
    # valid rule with the same id is a duplicate, not silently the one in force.
    shutil.copy(BROKEN / "duplicate_id_a.yaml", tmp_path / "b.yaml")
    broken = (
        (BROKEN / "duplicate_id_a.yaml")
        .read_text(encoding="utf-8")
        .replace("severity: yellow", "severity: pink")
    )
    (tmp_path / "a.yaml").write_text(broken, encoding="utf-8")
    rules, found = check_rules(tmp_path)
    assert rules == []
    assert [(p.file, p.line, p.column, p.message) for p in found] == [
        ("a.yaml", 5, 11, "“pink”不是可用的取值，应为 red（红色）、orange（橙色）、yellow（黄色）"),
        ("b.yaml", 2, 5, "规则 id 重复：a.yaml 第2行已有 duplicate_id，每条规则的 id 在所有文件中必须唯一"),
    ]


def test_invalid_param_values_keep_their_names_for_the_expression_check(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(
        """id: bad_param_value
version: 1
title: 参数值错误
severity: yellow
grain: person
applies_to: {registered: false}
params:
  floor: {value: "两万", source: 测试用}
when: medical_oop_12m >= floor AND medical_oop_12mm > 0
actions: [verify_visit]
explanation: 自付{medical_oop_12m}元，超过{floor}元。
policy: 测试用
effective: {from: 2024-01-01}
""",
        encoding="utf-8",
    )
    _, found = check_rules(tmp_path)
    assert [(p.line, p.column, p.message.split("：")[0]) for p in found] == [
        (8, 18, "应为数字，如 20000 或 0.5（不加引号、不带单位）"),
        (9, 36, "未知的特征“medical_oop_12mm”"),
    ]
