"""Alert rules (预警规则): YAML files under ``doudi/monitor/rules/``, checked all at once.

A file holds one rule (a mapping) or several (a mapping with a single key ``rules`` holding a
list). Each rule has an ``id``, a ``version``, a Chinese ``title``, a ``severity``
(red/orange/yellow), a ``grain`` (person/household), the population it ``applies_to``, named
``params`` with their source, a ``when`` condition and an optional ``event_key`` written in SQL
over the feature catalogue, the ``evidence`` to attach, suggested ``actions``, a Chinese
``explanation`` template, a ``policy`` reference and ``effective`` dates. ``docs/rules.md``
describes the format for rule authors.

:func:`check_rules` reads every file of a directory and returns the valid rules and every
problem of every file, each with the file, rule id, line and column (in the YAML file, also for
a mistake inside a multi-line ``when``), in Chinese. :func:`load_rules` raises
:class:`RuleError` when there is any.
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlglot import exp
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from doudi.feeds.contract import FeedContract, default_contracts
from doudi.monitor.catalogue import Catalogue, get_catalogue
from doudi.monitor.compiler import ExpressionIssue, check_expression, columns_of, params_of
from doudi.monitor.parameters import monitor_parameters
from doudi.registry.codes import CATEGORIES

RULES_DIR = Path(__file__).with_name("rules")

SEVERITIES: dict[str, str] = {"red": "红色", "orange": "橙色", "yellow": "黄色"}
GRAINS: dict[str, str] = {"person": "个人", "household": "家庭"}

#: Suggested actions a rule may list, with the label a caseworker reads.
ACTIONS: dict[str, str] = {
    "verify_visit": "入户核查",
    "assess_temporary_assistance": "评估临时救助",
    "assess_individual_inclusion": "评估单人保",
    "suspend_payment": "暂停发放待核实",
    "stop_payment": "停止发放",
    "assess_dibao": "评估低保",
    "assess_tekun": "评估特困人员救助供养",
    "assess_marginal": "评估低保边缘家庭",
    "assess_rigid_spending": "评估刚性支出困难家庭",
    "assess_disability_subsidy": "评估残疾人两项补贴",
    "medical_assistance": "医疗救助",
    "education_assistance": "教育救助",
    "housing_assistance": "住房救助",
    "employment_assistance": "就业帮扶",
    "review_eligibility": "复核家庭经济状况",
    "periodic_review": "定期核查",
    "update_registry": "更新名册信息",
    "transfer_adult_care": "成年后转衔安置",
}

#: Units of a rule param: how its value reads in an explanation.
PARAM_UNITS: dict[str, str] = {
    "yuan": "元（显示为 12,345.67）",
    "ratio": "比例（0.5 显示为 50%）",
    "count": "个数",
    "months": "月数",
    "years": "岁数",
    "number": "数值（按原样显示）",
}

ID_PATTERN = r"^[a-z][a-z0-9_]*$"
_NAME = re.compile(ID_PATTERN)
_CJK = re.compile(r"[\u4e00-\u9fff]")
CENT = Decimal("0.01")
NONE_TEXT = "无"

# What to write for a missing key, by key name.
_HINTS = {
    "id": "规则编号，小写英文字母、数字和下划线，如 recipient_died",
    "version": "版本号，从 1 开始，规则内容改变时加 1",
    "title": "中文标题",
    "severity": "级别：red（红色）、orange（橙色）或 yellow（黄色）",
    "grain": "对象：person（个人）或 household（家庭）",
    "applies_to": "适用人群，如 {registered: true, categories: [dibao]}",
    "registered": "true（在册人员）或 false（未在册人员，主动发现）",
    "when": "条件：对特征的 SQL 布尔表达式，如 medical_oop_12m > 20000",
    "actions": "建议措施代码列表，如 [verify_visit]",
    "explanation": "中文说明模板，可用 {特征名} 和 {参数名}",
    "policy": "政策依据：文件名称、文号或条款",
    "effective": "生效日期，如 {from: 2025-01-01}",
    "from": "起始日期，如 2025-01-01",
    "value": "参数值（数字）",
    "source": "参数来源：政策文件，或 [UNCONFIRMED] 加说明",
    "kind": "数据种类，如 medical",
}


# --- schema ----------------------------------------------------------------------------------


class Param(BaseModel):
    """A named threshold of a rule, referenced by its bare name in ``when``."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    value: Decimal = Field(strict=False)
    source: str = Field(min_length=1)
    unit: Literal["yuan", "ratio", "count", "months", "years", "number"] = "number"

    @field_validator("value", mode="before")
    @classmethod
    def _number(cls, value: object) -> object:
        if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
            raise ValueError("应为数字，如 20000 或 0.5（不加引号、不带单位）")
        if isinstance(value, Decimal) and not value.is_finite():
            raise ValueError("应为有限的数字")
        return value


class AppliesTo(BaseModel):
    """The population: registered households (optionally of some categories) or unregistered
    people (active discovery)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    registered: bool
    categories: tuple[str, ...] = Field(default=(), strict=False)

    def label(self) -> str:
        """Who the rule is about, in Chinese.

        Examples:
            >>> AppliesTo(registered=True, categories=("dibao", "tekun")).label()
            '低保、特困'
            >>> AppliesTo(registered=False).label()
            '未在册人员（主动发现）'
        """
        if not self.registered:
            return "未在册人员（主动发现）"
        if not self.categories:
            return "全部在册人员"
        return "、".join(CATEGORIES.get(c, c) for c in self.categories)


class FeedEvidence(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    kind: str
    months: int = Field(default=12, ge=1)


class Evidence(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    features: tuple[str, ...] = Field(default=(), strict=False)
    feeds: tuple[FeedEvidence, ...] = Field(default=(), strict=False)


class Effective(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    from_: dt.date = Field(alias="from", strict=False)
    to: dt.date | None = Field(default=None, strict=False)


class _RuleSpec(BaseModel):
    """The keys of a rule as written in YAML."""

    model_config = ConfigDict(extra="forbid", strict=True)

    id: str = Field(pattern=ID_PATTERN, max_length=60)
    version: int = Field(ge=1)
    title: str = Field(min_length=1, max_length=200)
    severity: Literal["red", "orange", "yellow"]
    grain: Literal["person", "household"]
    applies_to: AppliesTo
    params: dict[str, Param] = Field(default_factory=dict)
    when: str = Field(min_length=1)
    event_key: str | None = None
    evidence: Evidence = Field(default_factory=Evidence)
    actions: list[str] = Field(min_length=1)
    explanation: str = Field(min_length=1)
    policy: str = Field(min_length=1, max_length=500)
    effective: Effective
    suppress_days: int | None = Field(default=None, ge=0)


_KEYS: dict[str, tuple[str, ...]] = {
    "rule": tuple(f.alias or name for name, f in _RuleSpec.model_fields.items()),
    "applies_to": tuple(AppliesTo.model_fields),
    "param": tuple(Param.model_fields),
    "evidence": tuple(Evidence.model_fields),
    "feed": tuple(FeedEvidence.model_fields),
    "effective": tuple(f.alias or name for name, f in Effective.model_fields.items()),
}


# --- the rule --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """A checked alert rule. ``file`` and ``line`` say where it is written."""

    id: str
    version: int
    title: str
    severity: str
    grain: str
    applies_to: AppliesTo
    params: Mapping[str, Param]
    when: str
    event_key: str | None
    evidence: Evidence
    actions: tuple[str, ...]
    explanation: str
    policy: str
    effective: Effective
    suppress_days: int | None = None
    file: str = ""
    line: int = 0
    facts_columns: tuple[str, ...] = ()
    """Features to store with the alert as its facts: the evidence features, then those the
    condition, event key and explanation read."""
    feature_types: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def param_values(self) -> dict[str, Decimal]:
        return {name: p.value for name, p in self.params.items()}

    @property
    def suppress_days_in_force(self) -> int:
        """The rule's own suppression window, else the monitoring default."""
        if self.suppress_days is not None:
            return self.suppress_days
        return monitor_parameters().suppress_days.value

    @property
    def action_labels(self) -> list[str]:
        return [ACTIONS[a] for a in self.actions]

    def in_force(self, on: dt.date) -> bool:
        """Whether the rule applies on ``on`` (both ends of ``effective`` inclusive)."""
        to = self.effective.to
        return self.effective.from_ <= on and (to is None or on <= to)

    def effective_label(self) -> str:
        start = self.effective.from_.isoformat()
        if self.effective.to is None:
            return f"{start} 起"
        return f"{start} 至 {self.effective.to.isoformat()}"

    def render(self, facts: Mapping[str, Any]) -> str:
        """The explanation with every ``{name}`` replaced: a fact (money as 12,345.67, dates as
        YYYY-MM-DD, booleans as 是/否, missing values as 无) or a param (by its unit).

        ``facts`` must hold every feature the template names (:attr:`facts_columns` does)."""
        parts: list[str] = []
        for piece in _parsed_template(self.explanation):
            if isinstance(piece, str):
                parts.append(piece)
                continue
            name = piece.name
            if name in self.params:
                param = self.params[name]
                parts.append(format_param(param.value, param.unit))
            elif name in facts:
                parts.append(format_fact(facts[name], self.feature_types.get(name, "string")))
            else:
                raise KeyError(f"rule {self.id}: no fact {name!r} for the explanation")
        return "".join(parts)


def format_fact(value: Any, feature_type: str) -> str:
    """A feature value as a caseworker reads it.

    Examples:
        >>> format_fact(Decimal("12345.675"), "money"), format_fact(dt.date(2026, 3, 5), "date")
        ('12,345.68', '2026-03-05')
        >>> format_fact(True, "boolean"), format_fact(None, "money"), format_fact(3, "integer")
        ('是', '无', '3')
    """
    if value is None:
        return NONE_TEXT
    if feature_type == "boolean":
        if isinstance(value, str):
            value = value.lower() in ("true", "1", "t")
        return "是" if value else "否"
    if feature_type == "money":
        amount = Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)
        return f"{amount:,.2f}"
    if feature_type == "date":
        if isinstance(value, (dt.date, dt.datetime)):
            return value.strftime("%Y-%m-%d")
        return str(value)[:10]
    if feature_type == "integer":
        return f"{int(value):,}"
    return str(value)


def format_param(value: Decimal, unit: str) -> str:
    """A param value in an explanation.

    Examples:
        >>> format_param(Decimal("20000"), "yuan"), format_param(Decimal("0.5"), "ratio")
        ('20,000.00', '50%')
        >>> format_param(Decimal("6"), "months"), format_param(Decimal("1.50"), "number")
        ('6', '1.5')
    """
    if unit == "yuan":
        return format_fact(value, "money")
    if unit == "ratio":
        return f"{_plain(value * 100)}%"
    if unit in ("count", "months", "years"):
        return f"{int(value):,}"
    return _plain(value)


def _plain(value: Decimal) -> str:
    """A number as written, without exponent or trailing zeros: 20000, 0.5."""
    return format(value.normalize(), "f")


# --- explanation templates -------------------------------------------------------------------


@dataclass(frozen=True)
class _Placeholder:
    name: str
    offset: int


@functools.lru_cache(maxsize=256)
def _parsed_template(template: str) -> tuple[str | _Placeholder, ...]:
    """:func:`_template_pieces`, parsed once per template (a run renders thousands)."""
    return tuple(_template_pieces(template))


def _template_pieces(template: str) -> Iterator[str | _Placeholder]:
    """Literal text and ``{name}`` placeholders; ``{{`` and ``}}`` are literal braces.
    Assumes a template that :func:`_template_issues` accepts."""
    i = 0
    text: list[str] = []
    while i < len(template):
        c = template[i]
        if c in "{}" and template[i + 1 : i + 2] == c:
            text.append(c)
            i += 2
        elif c == "{":
            end = template.index("}", i)
            if text:
                yield "".join(text)
                text = []
            yield _Placeholder(template[i + 1 : end].strip(), i)
            i = end + 1
        else:
            text.append(c)
            i += 1
    if text:
        yield "".join(text)


def _template_issues(template: str) -> list[ExpressionIssue]:
    issues = []
    i = 0
    while i < len(template):
        c = template[i]
        if c in "{}" and template[i + 1 : i + 2] == c:
            i += 2
            continue
        if c == "}":
            issues.append(ExpressionIssue(i, "多余的“}”：占位符写作 {特征名}，文字中的花括号写作 }}"))
        elif c == "{":
            end = template.find("}", i)
            nxt = template.find("{", i + 1)
            if end < 0 or (0 <= nxt < end):
                issues.append(ExpressionIssue(i, "“{”没有对应的“}”：占位符写作 {特征名}"))
            else:
                name = template[i + 1 : end].strip()
                if not _NAME.match(name):
                    issues.append(
                        ExpressionIssue(
                            i,
                            f"占位符“{{{template[i + 1 : end]}}}”应只写特征名或参数名，如 {{medical_oop_12m}}",
                        )
                    )
                i = end
        i += 1
    return issues


def template_names(template: str) -> list[tuple[str, int]]:
    """The placeholders of a (valid) template with their offsets."""
    return [(p.name, p.offset) for p in _template_pieces(template) if isinstance(p, _Placeholder)]


# --- problems --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleProblem:
    """One problem in a rule file; ``str()`` is ``文件:行:列 规则id：消息``."""

    file: str
    rule_id: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column} {self.rule_id or '-'}：{self.message}"


class RuleError(ValueError):
    """Rule files that cannot be used; ``problems`` lists every problem of every file."""

    def __init__(self, problems: list[RuleProblem]) -> None:
        self.problems = problems
        super().__init__("invalid rule files:\n" + "\n".join(str(p) for p in problems))


# --- YAML with positions ---------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """Safe YAML where a number with a fraction is an exact Decimal, never a float."""


def _decimal(loader: yaml.SafeLoader, node: yaml.Node) -> object:
    text = str(loader.construct_scalar(node)).replace("_", "")
    try:
        return Decimal(text)
    except InvalidOperation:
        return loader.construct_yaml_float(node)


_Loader.add_constructor("tag:yaml.org,2002:float", _decimal)


class _File:
    """One rule file: its text, composed nodes, and the problems found in it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = path.name
        self.text = ""
        self.problems: list[RuleProblem] = []

    def position(self, index: int) -> tuple[int, int]:
        """1-based line and column of a character index of the file text."""
        line = self.text.count("\n", 0, index) + 1
        column = index - (self.text.rfind("\n", 0, index) + 1) + 1
        return line, column

    def fail_at(self, index: int, rule_id: str, message: str) -> None:
        line, column = self.position(index)
        self.problems.append(RuleProblem(self.name, rule_id, line, column, message))

    def fail(self, node: Node, rule_id: str, message: str) -> None:
        self.fail_at(node.start_mark.index, rule_id, message)

    def scalar_index(self, node: ScalarNode, value: str, offset: int) -> int:
        """The file index of character ``offset`` of a scalar's value: block (``|``, ``>``),
        plain multi-line and quoted scalars differ from the file text by indentation, folding
        and quotes, so the value is aligned with its source text character by character."""
        start, end = node.start_mark.index, node.end_mark.index
        src = self.text[start:end]
        j = 0
        if node.style in ("|", ">"):
            newline = src.find("\n")
            j = newline + 1 if newline >= 0 else len(src)
        elif node.style in ("'", '"'):
            j = 1
        i = 0
        while i < len(value) and j < len(src):
            v, s = value[i], src[j]
            if v == s:
                if i == offset:
                    return start + j
                i += 1
                j += 1
            elif s in " \t\r\n":
                j += 1
            elif v in " \n":
                if i == offset:
                    return start + j
                i += 1
            else:
                j += 1
        return start + min(j, len(src))


def _compose(loader_text: str) -> tuple[Node | None, Any]:
    loader = _Loader(loader_text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()
    return node, data


def _yaml_message(exc: yaml.YAMLError) -> str:
    problem = getattr(exc, "problem", None) or str(exc)
    return f"YAML 语法错误（{problem}），请检查这一行及前几行的缩进（只用空格）、冒号和引号"


def _pairs(node: MappingNode) -> list[tuple[ScalarNode, Node]]:
    return [(k, v) for k, v in node.value if isinstance(k, ScalarNode)]


def _child(node: Node, key: str | int) -> Node | None:
    if isinstance(node, MappingNode):
        for k, v in _pairs(node):
            if k.value == key:
                return v
    elif isinstance(node, SequenceNode) and isinstance(key, int) and 0 <= key < len(node.value):
        return node.value[key]
    return None


def _key_node(node: Node, key: str) -> Node | None:
    if isinstance(node, MappingNode):
        for k, _v in _pairs(node):
            if k.value == key:
                return k
    return None


def _duplicate_keys(file: _File, node: Node, rule_id: str) -> None:
    """PyYAML keeps the last of two equal keys silently; an author means one of them."""
    if isinstance(node, MappingNode):
        seen: dict[str, int] = {}
        for k, v in node.value:
            if isinstance(k, ScalarNode):
                if k.value in seen:
                    file.fail(
                        k, rule_id, f"键“{k.value}”重复：第{seen[k.value]}行已有，同一层中每个键只能出现一次"
                    )
                else:
                    seen[k.value] = k.start_mark.line + 1
            _duplicate_keys(file, v, rule_id)
    elif isinstance(node, SequenceNode):
        for item in node.value:
            _duplicate_keys(file, item, rule_id)


# --- checking one rule -----------------------------------------------------------------------


def _schema_message(error: Mapping[str, Any], key: str, keys_of: str) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    value = error.get("input")
    if kind == "missing":
        hint = _HINTS.get(key)
        return f"缺少 {key}" + (f"（{hint}）" if hint else "")
    if kind == "extra_forbidden":
        return f"未知的键“{key}”，可用的键：{'、'.join(_KEYS[keys_of])}"
    if kind == "literal_error":
        choices = {"severity": SEVERITIES, "grain": GRAINS, "unit": PARAM_UNITS}.get(key)
        expected = "、".join(f"{c}（{zh}）" for c, zh in choices.items()) if choices else ctx.get("expected")
        return f"“{value}”不是可用的取值，应为 {expected}"
    if kind == "string_pattern_mismatch":
        return f"“{value}”应为小写英文字母、数字和下划线，以字母开头，如 recipient_died"
    if kind == "string_too_short":
        return "不能为空"
    if kind == "string_too_long":
        return f"太长，最多 {ctx.get('max_length')} 个字符"
    if kind == "too_short":
        return "至少要有一项"
    if kind == "string_type":
        return "应为文字"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"“{value}”应为整数"
    if kind == "greater_than_equal":
        return f"应不小于 {ctx.get('ge')}"
    if kind in ("bool_type", "bool_parsing"):
        return "应为 true 或 false"
    if kind.startswith("date") or kind.startswith("datetime"):
        return f"“{value}”应为日期，写作 YYYY-MM-DD，如 2025-01-01"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return "应为映射（键: 值）"
    if kind in ("list_type", "tuple_type"):
        return "应为列表，如 [a, b]"
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    return f"格式不对（{error['msg']}）"


def _keys_of(loc: Sequence[str | int]) -> str:
    """Which model the last key of ``loc`` belongs to (for the list of valid keys)."""
    parents = list(loc[:-1])
    if not parents:
        return "rule"
    if parents[0] == "params" and len(parents) == 2:
        return "param"
    if parents[0] == "evidence":
        return "feed" if len(parents) == 3 else "evidence"
    return str(parents[0]) if str(parents[0]) in _KEYS else "rule"


def _schema_problems(file: _File, node: MappingNode, rule_id: str, err: ValidationError) -> None:
    errors = err.errors()
    # A misspelt key gives "unknown key" and, for a required one, "missing key": report it once,
    # as the unknown key with the name it was probably meant to be.
    missing = {tuple(e["loc"]) for e in errors if e["type"] == "missing"}
    skip: set[tuple[str | int, ...]] = set()
    meant: dict[tuple[str | int, ...], str] = {}
    for error in errors:
        loc = tuple(error["loc"])
        if error["type"] != "extra_forbidden" or not loc:
            continue
        allowed = [k for k in _KEYS[_keys_of(loc)] if (*loc[:-1], k) in missing] or list(_KEYS[_keys_of(loc)])
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1, cutoff=0.6)
        if close:
            meant[loc] = close[0]
            skip.add((*loc[:-1], close[0]))
    for error in errors:
        loc = tuple(error["loc"])
        if loc in skip and error["type"] == "missing":
            continue
        target: Node = node
        for i, part in enumerate(loc):
            child = _child(target, part)
            if child is None:
                break
            if i == len(loc) - 1 and error["type"] == "extra_forbidden" and isinstance(part, str):
                child = _key_node(target, part) or child
            target = child
        key = str(loc[-1]) if loc else ""
        if loc in meant:
            message = f"未知的键“{key}”，是否是 {meant[loc]}？"
        else:
            message = _schema_message(error, key, _keys_of(list(loc)))
        file.fail(target, rule_id, message)


# Valid stand-ins for keys whose values failed the schema, so that the other keys of the rule
# are still checked (every problem at once); checks reading a stand-in are skipped.
_STAND_INS: dict[str, Any] = {
    "id": "rule",
    "version": 1,
    "title": "规则",
    "severity": "yellow",
    "grain": "person",
    "applies_to": {"registered": True},
    "params": {},
    "when": "TRUE",
    "event_key": None,
    "evidence": {},
    "actions": ["verify_visit"],
    "explanation": "说明",
    "policy": "依据",
    "effective": {"from": dt.date(1900, 1, 1)},
    "suppress_days": None,
}


def _repaired(raw: Mapping[str, Any], err: ValidationError) -> tuple[_RuleSpec, frozenset[str]] | None:
    """The rule with each invalid top-level value replaced by its stand-in (unknown keys
    dropped), and the keys replaced; None if even that does not validate."""
    bad = {str(e["loc"][0]) for e in err.errors() if e["loc"]}
    fields = {f.alias or name for name, f in _RuleSpec.model_fields.items()}
    fixed: dict[str, Any] = {k: v for k, v in raw.items() if k in fields and k not in bad}
    for key in bad & fields:
        if key == "params" and isinstance(raw.get("params"), dict):
            # Keep every param's name (the expressions refer to them), whatever its value.
            fixed["params"] = {str(name): {"value": 0, "source": "x"} for name in raw["params"]}
            continue
        fixed[key] = _STAND_INS[key]
    try:
        spec = _RuleSpec.model_validate(fixed)
    except ValidationError:
        return None
    skip = bad & fields
    if "params" in skip and isinstance(raw.get("params"), dict):
        skip = skip - {"params"} | {"param_values"}
    return spec, frozenset(skip)


class _RuleChecker:
    """Checks that need the catalogue, the contracts and the file positions."""

    def __init__(self, file: _File, catalogue: Catalogue, contracts: Mapping[str, FeedContract]) -> None:
        self.file = file
        self.catalogue = catalogue
        self.contracts = contracts
        self.window = monitor_parameters().window_months.value

    def check(
        self, node: MappingNode, spec: _RuleSpec, rid: str, skip: frozenset[str] = frozenset()
    ) -> Rule | None:
        """Check what the schema cannot; ``skip`` names the keys whose values were invalid
        (already reported) and stand in ``spec`` as placeholders: checks reading them are left
        out. The rule when nothing is wrong, else None."""
        before = len(self.file.problems)
        fail = self.file.fail
        for text, field_name in ((spec.title, "title"), (spec.explanation, "explanation")):
            if field_name not in skip and not _CJK.search(text):
                fail(self._at(node, field_name), rid, f"{field_name} 应用中文书写")
        if "applies_to" not in skip:
            self._applies_to(node, spec, rid)
        features = self.catalogue.by_name()
        params = {name: p.value for name, p in spec.params.items()}
        params_node = _child(node, "params")
        for name in spec.params:
            name_node = _key_node(params_node, name) if params_node is not None else None
            where = name_node if name_node is not None else node
            if not _NAME.match(name):
                fail(where, rid, f"参数名“{name}”应为小写英文字母、数字和下划线，如 oop_ratio")
            elif name in features:
                fail(where, rid, f"参数名“{name}”与特征同名，请换一个名字（参数不能遮蔽特征）")
        used: list[str] = []
        referenced: set[str] = set()
        parsed = True
        key_columns: list[str] = []
        expressions: list[tuple[str, str | None]] = [("when", spec.when), ("event_key", spec.event_key)]
        for which, source in expressions:
            if which in skip or "params" in skip:
                # A broken params list would make every param look like an unknown feature.
                parsed = False
                continue
            if source is None:
                continue
            tree = self._expression(
                node, which, source, "when" if which == "when" else "event_key", params, rid
            )
            if tree is None:
                parsed = False
                continue
            columns = columns_of(tree, params)
            if which == "when":
                used = columns
            else:
                key_columns = columns
            referenced |= params_of(tree, params)
        evidence_node = _child(node, "evidence")
        usable = self.catalogue.usable()
        for i, name in enumerate(spec.evidence.features):
            where = self._at_path(evidence_node, ["features", i]) or node
            if name in features and name not in usable:
                fail(where, rid, f"{name} 是标识列，不能作为证据特征")
            elif name not in usable:
                fail(where, rid, f"未知的特征“{name}”：特征目录（doudi/monitor/features.yaml）中没有")
        for i, feed in enumerate(spec.evidence.feeds):
            if feed.kind not in self.contracts:
                where = self._at_path(evidence_node, ["feeds", i, "kind"]) or node
                kinds = "、".join(f"{k}（{c.title}）" for k, c in sorted(self.contracts.items()))
                fail(where, rid, f"未知的数据种类“{feed.kind}”，可用：{kinds}")
            if feed.months > self.window:
                where = self._at_path(evidence_node, ["feeds", i, "months"]) or node
                fail(where, rid, f"months 不能超过特征回溯月数 {self.window}")
        actions_node = _child(node, "actions")
        for i, action in enumerate(spec.actions):
            if action not in ACTIONS:
                where = self._at_path(actions_node, [i]) or node
                fail(
                    where,
                    rid,
                    f"未知的措施“{action}”，可用：{'、'.join(f'{a}（{zh}）' for a, zh in ACTIONS.items())}",
                )
        shown = None if {"explanation", "params"} & skip else self._template(node, spec, params, rid)
        if (
            "effective" not in skip
            and spec.effective.to is not None
            and spec.effective.to < spec.effective.from_
        ):
            where = self._at_path(node, ["effective", "to"]) or node
            fail(where, rid, f"结束日期 {spec.effective.to} 早于起始日期 {spec.effective.from_}")
        if shown is not None:
            referenced |= {name for name, _offset in template_names(spec.explanation) if name in params}
        if parsed and shown is not None:
            for name in spec.params:
                if name not in referenced and name not in features:
                    key = _key_node(params_node, name) if params_node is not None else None
                    fail(key or node, rid, f"参数“{name}”没有在 when、event_key 或 explanation 中使用")
        if len(self.file.problems) > before or skip:
            return None
        facts = list(dict.fromkeys([*spec.evidence.features, *used, *key_columns, *(shown or [])]))
        return Rule(
            id=spec.id,
            version=spec.version,
            title=spec.title,
            severity=spec.severity,
            grain=spec.grain,
            applies_to=spec.applies_to,
            params=dict(spec.params),
            when=spec.when,
            event_key=spec.event_key,
            evidence=spec.evidence,
            actions=tuple(spec.actions),
            explanation=spec.explanation,
            policy=spec.policy,
            effective=spec.effective,
            suppress_days=spec.suppress_days,
            file=self.file.name,
            line=node.start_mark.line + 1,
            facts_columns=tuple(facts),
            feature_types={name: features[name].type for name in facts},
        )

    def _at(self, node: MappingNode, key: str) -> Node:
        return _child(node, key) or node

    def _at_path(self, node: Node | None, path: Sequence[str | int]) -> Node | None:
        for part in path:
            if node is None:
                return None
            node = _child(node, part)
        return node

    def _applies_to(self, node: MappingNode, spec: _RuleSpec, rid: str) -> None:
        applies = spec.applies_to
        categories_node = self._at_path(node, ["applies_to", "categories"])
        if not applies.registered and applies.categories:
            self.file.fail(
                categories_node or node, rid, "未在册人员没有救助类别：registered: false 时请删去 categories"
            )
            return
        for i, code in enumerate(applies.categories):
            if code not in CATEGORIES:
                where = self._at_path(categories_node, [i]) or node
                known = "、".join(f"{c}（{zh}）" for c, zh in CATEGORIES.items())
                self.file.fail(where, rid, f"未知的类别“{code}”，可用：{known}")
            elif f"in_{code}" not in self.catalogue.usable():
                raise ValueError(f"the feature catalogue has no in_{code} for category {code}")

    def _expression(
        self,
        node: MappingNode,
        key: str,
        text: str,
        role: Literal["when", "event_key"],
        params: Mapping[str, Decimal],
        rid: str,
    ) -> exp.Expr | None:
        tree, issues = check_expression(text, role=role, params=params, catalogue=self.catalogue)
        value_node = _child(node, key)
        for issue in issues:
            if isinstance(value_node, ScalarNode):
                index = self.file.scalar_index(value_node, text, issue.offset)
            else:
                index = node.start_mark.index
            self.file.fail_at(index, rid, issue.message)
        return tree

    def _template(
        self, node: MappingNode, spec: _RuleSpec, params: Mapping[str, Decimal], rid: str
    ) -> list[str] | None:
        """Check the explanation's placeholders; the features it shows (None if it is broken)."""
        value_node = _child(node, "explanation")

        def fail(offset: int, message: str) -> None:
            if isinstance(value_node, ScalarNode):
                self.file.fail_at(self.file.scalar_index(value_node, spec.explanation, offset), rid, message)
            else:
                self.file.fail(node, rid, message)

        issues = _template_issues(spec.explanation)
        for issue in issues:
            fail(issue.offset, issue.message)
        if issues:
            return None
        features = self.catalogue.by_name()
        usable = self.catalogue.usable()
        shown = []
        for name, offset in template_names(spec.explanation):
            if name in params:
                continue
            if name in usable:
                shown.append(name)
            elif name in features:
                fail(offset, f"说明中不能显示标识列 {name}")
            else:
                fail(offset, f"占位符“{{{name}}}”不是特征也不是本规则的参数")
        return shown


# --- files and directories -------------------------------------------------------------------


def _rule_nodes(file: _File, root: Node, data: Any) -> list[tuple[MappingNode, Any]]:
    if not isinstance(root, MappingNode):
        file.fail(root, "", "文件应为一条规则（键: 值），或在 rules: 下列出多条规则")
        return []
    keys = [k.value for k, _v in _pairs(root)]
    if "rules" not in keys:
        return [(root, data)]
    if len(keys) > 1:
        other = next(k for k, _v in _pairs(root) if k.value != "rules")
        file.fail(other, "", "有 rules: 列表的文件顶层只能有 rules 这一个键")
        return []
    items = _child(root, "rules")
    if not isinstance(items, SequenceNode) or not isinstance(data.get("rules"), list):
        file.fail(items or root, "", "rules: 下应为规则的列表（每条以“- id: …”开始）")
        return []
    out = []
    for item_node, item in zip(items.value, data["rules"], strict=True):
        if not isinstance(item_node, MappingNode):
            file.fail(item_node, "", "列表中的每一项应为一条规则（键: 值）")
            continue
        out.append((item_node, item))
    return out


@dataclass
class _Checked:
    """What one file gave: its valid rules, the id of every rule that has one (valid or not,
    for the duplicate check across files), and its problems."""

    rules: list[Rule] = field(default_factory=list)
    ids: list[tuple[str, Node, int]] = field(default_factory=list)  # id, its node, rule line
    problems: list[RuleProblem] = field(default_factory=list)


def _check_file(path: Path, catalogue: Catalogue, contracts: Mapping[str, FeedContract]) -> _Checked:
    file = _File(path)
    out = _Checked(problems=file.problems)
    try:
        file.text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        file.problems.append(RuleProblem(file.name, "", 1, 1, "文件应为 UTF-8 编码"))
        return out
    try:
        root, data = _compose(file.text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        file.problems.append(RuleProblem(file.name, "", line, column, _yaml_message(exc)))
        return out
    if root is None:
        file.problems.append(
            RuleProblem(file.name, "", 1, 1, "文件为空，应至少写一条规则（不用的文件请删除）")
        )
        return out
    checker = _RuleChecker(file, catalogue, contracts)
    for node, raw in _rule_nodes(file, root, data):
        raw_id = raw.get("id") if isinstance(raw, dict) else None
        rid = raw_id if isinstance(raw_id, str) else ""
        if rid and _NAME.match(rid):
            out.ids.append((rid, _child(node, "id") or node, node.start_mark.line + 1))
        before = len(file.problems)
        _duplicate_keys(file, node, rid)
        skip: frozenset[str] = frozenset()
        try:
            spec = _RuleSpec.model_validate(raw)
        except ValidationError as err:
            _schema_problems(file, node, rid, err)
            repaired = _repaired(raw, err) if isinstance(raw, dict) else None
            if repaired is None:
                continue
            spec, skip = repaired
        rule = checker.check(node, spec, rid, skip)
        if rule is not None and len(file.problems) == before:
            out.rules.append(rule)
    return out


def check_rules(
    directory: Path | None = None,
    *,
    catalogue: Catalogue | None = None,
    contracts: Mapping[str, FeedContract] | None = None,
) -> tuple[list[Rule], list[RuleProblem]]:
    """Every rule of every ``*.yaml`` file in ``directory`` (the packaged rules by default),
    and every problem found, in file order then position. Only rules without problems are
    returned; a rule whose id repeats an earlier one (in any file) is reported and left out.
    A key whose value is invalid is reported, and the rest of its rule is still checked.
    """
    directory = directory or RULES_DIR
    if not directory.is_dir():
        raise FileNotFoundError(f"no rule directory {directory}")
    catalogue = catalogue or get_catalogue()
    contracts = contracts or default_contracts()
    rules: list[Rule] = []
    problems: list[RuleProblem] = []
    first: dict[str, tuple[str, int]] = {}  # id → (file, line of its rule)
    for path in sorted(directory.glob("*.yaml")):
        checked = _check_file(path, catalogue, contracts)
        repeated: set[int] = set()
        for rule_id, id_node, line in checked.ids:
            if rule_id in first:
                earlier_file, earlier_line = first[rule_id]
                mark = id_node.start_mark
                checked.problems.append(
                    RuleProblem(
                        path.name,
                        rule_id,
                        mark.line + 1,
                        mark.column + 1,
                        f"规则 id 重复：{earlier_file} 第{earlier_line}行已有 {rule_id}，每条规则的 id 在所有文件中必须唯一",
                    )
                )
                repeated.add(line)
            else:
                first[rule_id] = (path.name, line)
        rules += [r for r in checked.rules if r.line not in repeated]
        problems += sorted(checked.problems, key=lambda p: (p.line, p.column))
    return rules, problems


def load_rules(
    directory: Path | None = None,
    *,
    catalogue: Catalogue | None = None,
    contracts: Mapping[str, FeedContract] | None = None,
) -> list[Rule]:
    """The rules of ``directory`` (the packaged ones by default); :class:`RuleError` listing
    every problem of every file if there is any."""
    if directory is None and catalogue is None and contracts is None:
        return list(_default_rules())
    rules, problems = check_rules(directory, catalogue=catalogue, contracts=contracts)
    if problems:
        raise RuleError(problems)
    return rules


@functools.cache
def _default_rules() -> tuple[Rule, ...]:
    rules, problems = check_rules()
    if problems:
        raise RuleError(problems)
    return tuple(rules)
