"""The rule compiler: checks rule expressions and turns rules into SQL over the ``features`` table.

A rule's ``when`` (and ``event_key``) is parsed with sqlglot (DuckDB dialect) and checked before
anything runs: it may name only usable features of the catalogue and the rule's own params, the
functions of :data:`FUNCTIONS` and the operators listed in ``docs/rules.md``; no subqueries, no
statements, no semicolons, no aggregates or window functions, no table names, no placeholders.
So a rule file can never read or change anything but the row it is evaluated on.

Compiled rules give two queries, written once in DuckDB SQL and transpiled for Spark by sqlglot:

* :func:`candidates_sql` — one ``UNION ALL`` branch per rule over ``features``: which subjects
  (persons, or households through their ``household_row``) meet the rule this period;
* :func:`evidence_sql` — the feed rows behind each candidate (the person's rows, or every
  member's for a household rule) from the ``feed_<kind>`` views, the most recent
  :data:`EVIDENCE_LIMIT` per candidate and kind.

Every piece of SQL is built as a sqlglot tree: rule text is only ever parsed, never spliced in.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import difflib
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Literal

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.schema import MappingSchema
from sqlglot.tokens import Token, TokenType

from doudi.feeds.contract import FeedContract, default_contracts
from doudi.monitor.catalogue import Catalogue, get_catalogue

if TYPE_CHECKING:
    from doudi.monitor.rules import Rule

DIALECT = "duckdb"
FEATURES = "features"
CANDIDATES = "candidates"
RUN_PERIOD = "run_period"
EVIDENCE_LIMIT = 20
"""At most this many feed rows per candidate and feed kind become evidence (the most recent)."""

#: The functions a rule expression may call, with what they do (shown in docs/rules.md).
FUNCTIONS: dict[str, str] = {
    "coalesce": "取第一个非空值，如 coalesce(major_disease_12m, false)",
    "nullif": "两值相等时为空值，如 nullif(earners, 0)",
    "abs": "绝对值",
    "greatest": "取最大值（忽略空值）",
    "least": "取最小值（忽略空值）",
    "round": "四舍五入，如 round(hh_income_12m, 0)",
}
_FUNCTION_CLASSES: dict[type[exp.Expr], str] = {
    exp.Coalesce: "coalesce",
    exp.Nullif: "nullif",
    exp.Abs: "abs",
    exp.Greatest: "greatest",
    exp.Least: "least",
    exp.Round: "round",
}
#: Operators and forms a rule expression may use besides columns, literals and FUNCTIONS.
_OPERATORS: tuple[type[exp.Expr], ...] = (
    exp.Paren,
    exp.And,
    exp.Or,
    exp.Not,
    exp.EQ,
    exp.NEQ,
    exp.GT,
    exp.GTE,
    exp.LT,
    exp.LTE,
    exp.Add,
    exp.Sub,
    exp.Mul,
    exp.Mod,
    exp.Neg,
    exp.Between,
    exp.In,
    exp.Is,
    exp.Case,
    exp.If,
)
_LEAVES: tuple[type[exp.Expr], ...] = (exp.Column, exp.Identifier, exp.Literal, exp.Boolean, exp.Null)
_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)
_ARITHMETIC = (exp.Add, exp.Sub, exp.Mul, exp.Mod)

# Messages (Chinese, shown to rule authors); the broken-rule fixtures pin them.
MSG_EMPTY = "表达式不能为空"
MSG_SEMICOLON = "不能有分号：这里只能写一个表达式，不能写多条语句"
MSG_PLACEHOLDER = "不能使用占位符或变量“{text}”：阈值请写在 params 里，按参数名引用"
MSG_TOKENS = "无法识别的写法（引号是否成对？）"
MSG_SELECT = "不能写 SELECT 查询：这里只能写一个对特征的表达式，如 medical_oop_12m > 20000"
MSG_STATEMENT = "不能写 SQL 语句 {word}：这里只能写一个对特征的表达式"
MSG_SUBQUERY = "不能使用子查询：规则只能读取本对象（人或户）的特征"
MSG_AGGREGATE = (
    "不能使用聚合函数 {name}：规则按每个对象逐行判断，汇总值请用特征目录中的特征，如 hh_medical_oop_12m"
)
MSG_WINDOW = "不能使用窗口函数（OVER）：规则按每个对象逐行判断"
MSG_FUNCTION = "函数 {name} 不在白名单内，可用的函数：{allowed}"
MSG_IF = "不能使用 if() 函数，请写 CASE WHEN … THEN … ELSE … END"
MSG_DIVISION = "不能使用除法：除法结果为浮点数，在阈值附近不稳定；请改写成乘法，如 hh_medical_oop_12m > 0.5 * hh_income_12m"
MSG_TABLE = "不能写表名或别名“{text}”：直接写特征名，如 {name}"
MSG_STAR = "不能使用 *：请写出特征名"
MSG_CAST = "不能做类型转换（CAST、::、DATE '…'）：特征已有确定的类型"
MSG_KEY = "{name} 是标识列，不能用于规则表达式"
MSG_UNKNOWN = "未知的特征“{name}”：特征目录（doudi/monitor/features.yaml）和本规则的 params 中都没有"
MSG_IN_LIST = "IN 后只能列出常量，如 hh_cars IN (1, 2)"
MSG_UNSUPPORTED = "不支持的写法“{text}”：可用的运算符和函数见 docs/rules.md"
MSG_NOT_BOOLEAN = "条件的结果应为是/否（布尔值），这里是{kind}：请写成比较，如 {example}"
MSG_NULL_KEY = "事件标识不能是常量空值"
MSG_MISMATCH = "类型不匹配：“{left}”是{lkind}，“{right}”是{rkind}，不能比较"
MSG_LOGIC = "AND、OR、NOT 两边应为是/否（布尔值），“{text}”是{kind}"
MSG_ARITHMETIC = "算术运算只能用于数值，“{text}”是{kind}"

_KIND_ZH = {"boolean": "是/否（布尔值）", "number": "数值", "date": "日期", "text": "文字"}
_PARSE_ZH = {
    "Invalid expression / Unexpected token": "无法识别的写法",
    "Expecting )": "缺少右括号",
    "Expecting (": "缺少左括号",
}


@dataclass(frozen=True)
class ExpressionIssue:
    """A problem in a rule expression, at a character offset of the expression text."""

    offset: int
    message: str


ExpressionRole = Literal["when", "event_key"]


def _node_span(node: exp.Expr) -> tuple[int, int] | None:
    """The smallest and largest source offsets among the node and its descendants."""
    starts = [n.meta["start"] for n in node.walk() if "start" in n.meta]
    ends = [n.meta["end"] for n in node.walk() if "end" in n.meta]
    if not starts:
        return None
    return min(starts), max(ends)


class _Checker:
    def __init__(
        self,
        text: str,
        tokens: list[Token],
        catalogue: Catalogue,
        params: Mapping[str, Decimal],
    ) -> None:
        self.text = text
        self.tokens = tokens
        self.catalogue = catalogue
        self.params = params
        self.issues: list[ExpressionIssue] = []

    def fail(self, offset: int, message: str) -> None:
        self.issues.append(ExpressionIssue(offset, message))

    def offset(self, node: exp.Expr) -> int:
        """Where a node starts in the text. Keywords carry no position in sqlglot's tree, so a
        query starts at the last SELECT before its first positioned part, and a CAST, EXISTS or
        IF at its keyword just before the opening parenthesis."""
        span = _node_span(node)
        start = span[0] if span else len(self.text)
        if isinstance(node, (exp.Query, exp.Subquery)):
            selects = [t.start for t in self.tokens if t.token_type == TokenType.SELECT and t.start <= start]
            if selects:
                return selects[-1]
        if isinstance(node, (exp.Cast, exp.TryCast, exp.Exists, exp.If)):

            def keyword(token: Token) -> bool:
                if token.token_type in (TokenType.EXISTS, TokenType.SELECT):
                    return True
                return token.text.upper() in ("CAST", "TRY_CAST", "IF")

            before = [t for t in self.tokens if t.start < start]
            found = None
            while before and (before[-1].token_type == TokenType.L_PAREN or keyword(before[-1])):
                token = before.pop()
                if keyword(token):
                    found = token.start
            if found is not None:
                return found
        return start if span else 0

    def operator_offset(self, node: exp.Expr) -> int:
        """The offset of a binary node's operator: the first token after its left operand."""
        left = _node_span(node.this) if isinstance(node.this, exp.Expr) else None
        if left is None:
            return self.offset(node)
        after = [t.start for t in self.tokens if t.start > left[1] and t.token_type != TokenType.R_PAREN]
        return after[0] if after else self.offset(node)

    def source(self, node: exp.Expr) -> str:
        span = _node_span(node)
        if span is None:
            return node.sql(DIALECT)
        return self.text[span[0] : span[1] + 1]

    def walk(self, node: exp.Expr, parent: exp.Expr | None = None) -> None:
        """Pre-order check of every node; a rejected node's children are not checked (one
        message per mistake)."""
        if not self.allowed(node, parent):
            return
        for child in node.iter_expressions():
            self.walk(child, node)

    def allowed(self, node: exp.Expr, parent: exp.Expr | None) -> bool:
        if isinstance(node, (exp.Subquery, exp.Exists, exp.Query)):
            self.fail(self.offset(node), MSG_SUBQUERY if parent is not None else MSG_SELECT)
            return False
        if isinstance(node, exp.Window):
            self.fail(self.offset(node), MSG_WINDOW)
            return False
        if isinstance(node, exp.AggFunc):
            self.fail(self.offset(node), MSG_AGGREGATE.format(name=self.function_name(node)))
            return False
        if isinstance(node, (exp.Div, exp.IntDiv, exp.SafeDivide)):
            self.fail(self.operator_offset(node), MSG_DIVISION)
            return False
        if isinstance(node, (exp.Cast, exp.TryCast)):
            self.fail(self.offset(node), MSG_CAST)
            return False
        if isinstance(node, exp.Star):
            self.fail(self.offset(node), MSG_STAR)
            return False
        if isinstance(node, (exp.Placeholder, exp.Parameter)):
            self.fail(self.offset(node), MSG_PLACEHOLDER.format(text=node.sql(DIALECT)))
            return False
        if isinstance(node, exp.If) and not isinstance(parent, exp.Case):
            self.fail(self.offset(node), MSG_IF)
            return False
        if isinstance(node, exp.Column):
            return self.column(node)
        if isinstance(node, exp.In):
            if node.args.get("query") or node.args.get("unnest") or node.args.get("field"):
                target = node.args.get("query") or node
                self.fail(self.offset(target), MSG_SUBQUERY if node.args.get("query") else MSG_IN_LIST)
                return False
            for item in node.expressions:
                if not _is_constant(item):
                    self.fail(self.offset(item), MSG_IN_LIST)
                    return False
            return True
        if isinstance(node, (*_LEAVES, *_OPERATORS)) or type(node) in _FUNCTION_CLASSES:
            return True
        if isinstance(node, exp.Func):
            allowed = "、".join(FUNCTIONS)
            self.fail(self.offset(node), MSG_FUNCTION.format(name=self.function_name(node), allowed=allowed))
            return False
        self.fail(self.offset(node), MSG_UNSUPPORTED.format(text=self.source(node)))
        return False

    def function_name(self, node: exp.Expr) -> str:
        if "start" in node.meta:
            return self.text[node.meta["start"] : node.meta["end"] + 1]
        return node.sql_name() if isinstance(node, exp.Func) else node.key

    def column(self, node: exp.Column) -> bool:
        name = node.name
        if node.table:
            self.fail(self.offset(node), MSG_TABLE.format(text=self.source(node), name=name))
            return False
        if name in self.params:
            return True
        features = self.catalogue.by_name()
        if name in features and features[name].role == "key":
            self.fail(self.offset(node), MSG_KEY.format(name=name))
        elif name not in features:
            message = MSG_UNKNOWN.format(name=name)
            close = difflib.get_close_matches(
                name.lower(), [*self.catalogue.usable(), *self.params], n=1, cutoff=0.75
            )
            if close:
                message += f"，是否是 {close[0]}？"
            self.fail(self.offset(node), message)
        return False


def _is_constant(node: exp.Expr) -> bool:
    if isinstance(node, exp.Neg):
        node = node.this
    return isinstance(node, (exp.Literal, exp.Boolean, exp.Null))


def _kind(node: exp.Expr) -> str | None:
    """The broad type of an annotated node: boolean, number, date, text, or None (unknown)."""
    dtype = node.type
    if dtype is None:
        return None
    if dtype.this == exp.DataType.Type.BOOLEAN:
        return "boolean"
    if dtype.this in exp.DataType.NUMERIC_TYPES:
        return "number"
    if dtype.this in exp.DataType.TEMPORAL_TYPES:
        return "date"
    if dtype.this in exp.DataType.TEXT_TYPES:
        return "text"
    return None


def _literal(value: Decimal) -> exp.Expr:
    """A numeric literal for a param value, written without exponent."""
    text = format(value, "f")
    if value < 0:
        return exp.Neg(this=exp.Literal.number(text[1:]))
    return exp.Literal.number(text)


def substitute_params(tree: exp.Expr, params: Mapping[str, Decimal]) -> exp.Expr:
    """A copy of ``tree`` where every column named after a param is that param's literal value."""

    def replace(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Column) and not node.table and node.name in params:
            literal = _literal(params[node.name])
            if "start" in node.this.meta:
                literal.meta.update(node.this.meta)
            return literal
        return node

    return tree.copy().transform(replace, copy=False)


def _annotated(tree: exp.Expr, catalogue: Catalogue) -> exp.Expr:
    """``tree`` (params already substituted) with sqlglot types on every node."""
    qualified = tree.copy()
    for column in qualified.find_all(exp.Column):
        column.set("table", exp.to_identifier(FEATURES))
    schema = MappingSchema({FEATURES: catalogue.sql_schema()}, dialect=DIALECT)
    select = exp.select(exp.alias_(qualified, "value")).from_(FEATURES)
    annotated = annotate_types(select, schema=schema, dialect=DIALECT)
    return annotated.selects[0].this


def _type_issues(checker: _Checker, root: exp.Expr) -> None:
    """Operands of arithmetic, comparisons and logic must have compatible broad types.

    Checked in that order, each pass only when the previous found nothing: a wrong operand of
    ``+`` would otherwise be reported again by the comparison around it."""
    nodes = list(root.walk(bfs=False))
    for node in nodes:
        if isinstance(node, (*_ARITHMETIC, exp.Neg, exp.Abs, exp.Round)):
            operands = [node.this] + ([node.expression] if isinstance(node, _ARITHMETIC) else [])
            for operand in operands:
                kind = _kind(operand)
                if kind not in (None, "number"):
                    text = checker.source(operand)
                    checker.fail(
                        checker.offset(operand), MSG_ARITHMETIC.format(text=text, kind=_KIND_ZH[kind])
                    )
    if checker.issues:
        return
    for node in nodes:
        if not isinstance(node, (*_COMPARISONS, exp.Between, exp.In)):
            continue
        others: list[exp.Expr]
        if isinstance(node, exp.Between):
            others = [node.args["low"], node.args["high"]]
        elif isinstance(node, exp.In):
            others = list(node.expressions)
        else:
            others = [node.expression]
        left = _kind(node.this)
        for other in others:
            right = _kind(other)
            if left and right and left != right:
                checker.fail(
                    checker.offset(node),
                    MSG_MISMATCH.format(
                        left=checker.source(node.this),
                        lkind=_KIND_ZH[left],
                        right=checker.source(other),
                        rkind=_KIND_ZH[right],
                    ),
                )
                break
    if checker.issues:
        return
    for node in nodes:
        if isinstance(node, (exp.And, exp.Or, exp.Not)):
            for operand in (node.this, node.args.get("expression")):
                if operand is None:
                    continue
                kind = _kind(operand)
                if kind not in (None, "boolean"):
                    text = checker.source(operand)
                    checker.fail(checker.offset(operand), MSG_LOGIC.format(text=text, kind=_KIND_ZH[kind]))


def _parse_message(error: dict[str, object]) -> str:
    description = str(error.get("description") or "")
    if description.startswith("Required keyword"):
        return "SQL 语法错误：表达式不完整，运算符后缺少内容"
    return f"SQL 语法错误：{_PARSE_ZH.get(description, description)}"


@contextlib.contextmanager
def _quiet_sqlglot() -> Iterator[None]:
    """sqlglot logs a warning when it falls back to a raw command (``CALL f()``); the checker
    reports such text itself."""
    logger = logging.getLogger("sqlglot")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _line_col_offset(text: str, line: int, col: int) -> int:
    """The offset of a 1-based (line, column) in ``text``."""
    lines = text.split("\n")
    line = max(1, min(line, len(lines)))
    return sum(len(x) + 1 for x in lines[: line - 1]) + max(0, col - 1)


def check_expression(
    text: str,
    *,
    role: ExpressionRole,
    params: Mapping[str, Decimal],
    catalogue: Catalogue | None = None,
) -> tuple[exp.Expr | None, list[ExpressionIssue]]:
    """Parse and check one rule expression; the tree (params NOT substituted) and the issues.

    ``role`` is ``when`` (must be boolean) or ``event_key`` (any type but a constant NULL).
    Offsets in the issues are character offsets in ``text``.

    Examples:
        >>> tree, issues = check_expression("died AND age >= 60", role="when", params={})
        >>> issues
        []
        >>> _, issues = check_expression("sum(medical_oop_period) > 1", role="when", params={})
        >>> issues[0].offset, issues[0].message[:12]
        (0, '不能使用聚合函数 sum')
    """
    catalogue = catalogue or get_catalogue()
    if not text.strip():
        return None, [ExpressionIssue(0, MSG_EMPTY)]
    try:
        tokens = sqlglot.tokenize(text, read=DIALECT)
    except TokenError:
        return None, [ExpressionIssue(0, MSG_TOKENS)]
    checker = _Checker(text, tokens, catalogue, params)
    for i, token in enumerate(tokens):
        if token.token_type == TokenType.SEMICOLON:
            return None, [ExpressionIssue(token.start, MSG_SEMICOLON)]
        named = (
            token.token_type == TokenType.COLON
            and i + 1 < len(tokens)
            and tokens[i + 1].start == token.end + 1
        )
        if token.token_type in (TokenType.PLACEHOLDER, TokenType.PARAMETER) or named:
            following = (
                tokens[i + 1] if i + 1 < len(tokens) and tokens[i + 1].start == token.end + 1 else None
            )
            shown = text[token.start : (following.end if following else token.end) + 1]
            checker.fail(token.start, MSG_PLACEHOLDER.format(text=shown))
    if checker.issues:
        return None, checker.issues
    try:
        with _quiet_sqlglot():
            statements = sqlglot.parse(text, read=DIALECT)
    except ParseError as err:
        first = err.errors[0] if err.errors else {}
        line = int(first.get("line") or 1)
        col = int(first.get("col") or 1)
        highlight = str(first.get("highlight") or "")
        offset = _line_col_offset(text, line, col - max(len(highlight), 1) + 1)
        return None, [ExpressionIssue(offset, _parse_message(first))]
    root = statements[0] if statements else None
    if root is None:
        return None, [ExpressionIssue(0, MSG_EMPTY)]
    if not isinstance(root, (exp.Condition, exp.Query, exp.Star, exp.Interval)):
        word = tokens[0].text.upper() if tokens else ""
        return None, [ExpressionIssue(tokens[0].start if tokens else 0, MSG_STATEMENT.format(word=word))]
    checker.walk(root)
    if checker.issues:
        return None, checker.issues
    typed = _annotated(substitute_params(root, params), catalogue)
    _type_issues(checker, typed)
    if checker.issues:
        return None, checker.issues
    kind = _kind(typed)
    if role == "when" and kind != "boolean":
        example = "medical_oop_12m > 20000" if kind != "date" else "death_date IS NOT NULL"
        shown = _KIND_ZH.get(kind or "", "空值" if isinstance(root, exp.Null) else "未知类型")
        checker.fail(checker.offset(root), MSG_NOT_BOOLEAN.format(kind=shown, example=example))
    if role == "event_key" and isinstance(root, exp.Null):
        checker.fail(checker.offset(root), MSG_NULL_KEY)
    if checker.issues:
        return None, checker.issues
    return root, []


def columns_of(tree: exp.Expr, params: Mapping[str, Decimal]) -> list[str]:
    """Feature names a checked expression reads, params excluded, in order of first appearance
    in the text (``find_all`` walks breadth-first)."""
    first: dict[str, int] = {}
    for column in tree.find_all(exp.Column):
        if column.name not in params:
            start = column.this.meta.get("start", 0)
            first[column.name] = min(start, first.get(column.name, start))
    return sorted(first, key=first.__getitem__)


def params_of(tree: exp.Expr, params: Mapping[str, Decimal]) -> set[str]:
    """The params a checked expression refers to."""
    return {c.name for c in tree.find_all(exp.Column) if c.name in params}


# --- compilation -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CompiledRule:
    """A rule ready to run: its condition (params substituted, population ANDed in) as sqlglot
    trees over ``features``."""

    rule: Rule
    condition: exp.Expr
    population: exp.Expr
    event_key: exp.Expr | None

    @property
    def where(self) -> exp.Expr:
        """The full filter of the rule's candidates branch."""
        return exp.and_(self.population, exp.paren(self.condition.copy()), copy=True)


def _col(name: str, table: str | None = None) -> exp.Column:
    return exp.column(name, table=table)


def _population(rule: Rule, catalogue: Catalogue) -> exp.Expr:
    parts: list[exp.Expr] = []
    if rule.applies_to.registered:
        parts.append(_col("registered"))
        if rule.applies_to.categories:
            flags = [_col(f"in_{code}") for code in rule.applies_to.categories]
            parts.append(exp.paren(exp.or_(*flags)) if len(flags) > 1 else flags[0])
    else:
        parts.append(exp.not_(_col("registered")))
    if rule.grain == "household":
        parts.append(_col("household_row"))
    for part in parts:
        for column in part.find_all(exp.Column):
            if column.name not in catalogue.usable():
                raise ValueError(f"the catalogue has no feature {column.name!r} for rule {rule.id}")
    return exp.and_(*parts) if len(parts) > 1 else parts[0]


def compile_rules(
    rules: Sequence[Rule], *, on: dt.date, catalogue: Catalogue | None = None
) -> list[CompiledRule]:
    """The rules in force on ``on`` (the last day of the period run), compiled.

    Each expression is checked again (a rule built by hand could skip :func:`load_rules`);
    a problem raises ``ValueError``.
    """
    catalogue = catalogue or get_catalogue()
    out: list[CompiledRule] = []
    for rule in rules:
        if not rule.in_force(on):
            continue
        params = rule.param_values
        when, issues = check_expression(rule.when, role="when", params=params, catalogue=catalogue)
        key = None
        if rule.event_key is not None:
            key, key_issues = check_expression(
                rule.event_key, role="event_key", params=params, catalogue=catalogue
            )
            issues += key_issues
        if issues or when is None:
            raise ValueError(f"rule {rule.id} does not compile: " + "; ".join(i.message for i in issues))
        out.append(
            CompiledRule(
                rule=rule,
                condition=substitute_params(when, params),
                population=_population(rule, catalogue),
                event_key=substitute_params(key, params) if key is not None else None,
            )
        )
    return out


def _varchar(value: str) -> exp.Expr:
    return exp.cast(exp.Literal.string(value), exp.DataType.build("VARCHAR"))


def _subject_key(grain: str, table: str | None = None) -> exp.Expr:
    if grain == "household":
        return exp.func("COALESCE", _col("household_no", table), _col("citizen_id", table))
    return _col("citizen_id", table)


_CANDIDATE_COLUMNS = ("citizen_id", "person_id", "household_no", "division_code", "registered")


def _candidate_branch(compiled: CompiledRule) -> exp.Select:
    rule = compiled.rule
    event: exp.Expr
    if compiled.event_key is not None:
        event = exp.func(
            "COALESCE",
            exp.cast(compiled.event_key.copy(), exp.DataType.build("VARCHAR")),
            exp.Literal.string(""),
        )
    else:
        event = _varchar("")
    return (
        exp.select(
            exp.alias_(_varchar(rule.id), "rule_id"),
            exp.alias_(exp.cast(exp.Literal.number(rule.version), exp.DataType.build("INT")), "rule_version"),
            exp.alias_(_varchar(rule.severity), "severity"),
            exp.alias_(_varchar(rule.grain), "grain"),
            exp.alias_(_subject_key(rule.grain), "subject_key"),
            exp.alias_(event, "event_key"),
            *(_col(c) for c in _CANDIDATE_COLUMNS),
        )
        .from_(FEATURES)
        .where(compiled.where)
    )


def candidates_sql(compiled: Sequence[CompiledRule]) -> str:
    """DuckDB SQL over ``features``: one row per (rule, subject) meeting the rule.

    Columns: rule_id, rule_version, severity, grain, subject_key (citizen_id for a person rule;
    household_no, or the citizen_id of an unregistered person, for a household rule), event_key
    ('' when the rule has none), citizen_id, person_id, household_no, division_code, registered.

    Examples:
        >>> candidates_sql([])[:60]
        'SELECT CAST(NULL AS TEXT) AS rule_id, CAST(NULL AS INT) AS r'
    """
    if not compiled:
        nothing = exp.select(
            exp.alias_(exp.cast(exp.null(), exp.DataType.build("VARCHAR")), "rule_id"),
            exp.alias_(exp.cast(exp.null(), exp.DataType.build("INT")), "rule_version"),
            *(
                exp.alias_(exp.cast(exp.null(), exp.DataType.build("VARCHAR")), name)
                for name in ("severity", "grain", "subject_key", "event_key")
            ),
            *(_col(c) for c in _CANDIDATE_COLUMNS),
        )
        return nothing.from_(FEATURES).where(exp.false()).sql(DIALECT)
    query: exp.Query = _candidate_branch(compiled[0])
    for item in compiled[1:]:
        query = exp.union(query, _candidate_branch(item), distinct=False)
    return query.sql(DIALECT)


def _in_window(period: exp.Expr, months: int, run: str) -> exp.Expr:
    """``period`` ('YYYY-MM') is one of the last ``months`` periods up to the run's, read from
    ``run_period`` under the alias ``run``."""
    if months == 1:
        return exp.EQ(this=period, expression=_col("period", run))
    shifted = exp.Sub(
        this=_col("period_start", run),
        expression=exp.Interval(this=exp.Literal.number(months - 1), unit=exp.var("MONTH")),
    )
    first = exp.TimeToStr(this=shifted, format=exp.Literal.string("%Y-%m"))
    return exp.and_(
        exp.GTE(this=period.copy(), expression=first),
        exp.LTE(this=period.copy(), expression=_col("period", run)),
    )


def _latest_list(contract: FeedContract, months: int) -> exp.Subquery:
    """The period of the latest list of a snapshot kind in the window: one row, ``period``."""
    feed = exp.to_table(f"feed_{contract.kind}").as_("x")
    latest = (
        exp.select(exp.alias_(exp.func("MAX", _col("period", "x")), "period"))
        .from_(feed)
        .join(exp.to_table(RUN_PERIOD).as_("r"), join_type="CROSS")
        .where(_in_window(_col("period", "x"), months, "r"))
    )
    return latest.subquery("latest")


def _evidence_branch(grain: str, contract: FeedContract, months: int, rule_ids: list[str]) -> exp.Select:
    """Feed rows of one kind behind the candidates of some rules of one grain, ranked.

    Events: the rows of the last ``months`` periods, newest period, event date, load and row
    first. Snapshots: the rows of the latest list in those periods (as the features read
    it), in file order."""
    person = contract.person
    event_date: exp.Expr = (
        _col(contract.event_date, "f")
        if contract.event_date
        else exp.cast(exp.null(), exp.DataType.build("DATE"))
    )
    order = [exp.Ordered(this=_col("period", "f"), desc=True, nulls_first=False)]
    if contract.event_date:
        order.append(exp.Ordered(this=_col(contract.event_date, "f"), desc=True, nulls_first=False))
    order.append(exp.Ordered(this=_col("load_id", "f"), desc=True, nulls_first=False))
    snapshot = contract.mode == "snapshot"
    order.append(exp.Ordered(this=_col("row_no", "f"), desc=not snapshot, nulls_first=False))
    rank = exp.Window(
        this=exp.RowNumber(),
        partition_by=[_col("rule_id", "c"), _col("subject_key", "c"), _col("event_key", "c")],
        order=exp.Order(expressions=order),
    )
    select = exp.select(
        _col("rule_id", "c"),
        _col("subject_key", "c"),
        _col("event_key", "c"),
        exp.alias_(_varchar(contract.kind), "feed_kind"),
        _col("load_id", "f"),
        _col("period", "f"),
        _col("row_no", "f"),
        exp.alias_(_col(person, "f"), "citizen_id"),
        exp.alias_(event_date, "event_date"),
        exp.alias_(rank, "evidence_rank"),
    ).from_(exp.to_table(CANDIDATES).as_("c"))
    feed = exp.to_table(f"feed_{contract.kind}").as_("f")
    if grain == "household":
        members = exp.to_table(FEATURES).as_("m")
        select = select.join(
            members, on=exp.EQ(this=_subject_key("household", "m"), expression=_col("subject_key", "c"))
        )
        select = select.join(feed, on=exp.EQ(this=_col(person, "f"), expression=_col("citizen_id", "m")))
    else:
        select = select.join(feed, on=exp.EQ(this=_col(person, "f"), expression=_col("citizen_id", "c")))
    in_rules = exp.In(this=_col("rule_id", "c"), expressions=[exp.Literal.string(r) for r in rule_ids])
    if snapshot:
        select = select.join(
            _latest_list(contract, months),
            on=exp.EQ(this=_col("period", "f"), expression=_col("period", "latest")),
        )
        return select.where(in_rules)
    select = select.join(exp.to_table(RUN_PERIOD).as_("rp"), join_type="CROSS")
    return select.where(exp.and_(in_rules, _in_window(_col("period", "f"), months, "rp")))


_EVIDENCE_COLUMNS = (
    "rule_id",
    "subject_key",
    "event_key",
    "feed_kind",
    "load_id",
    "period",
    "row_no",
    "citizen_id",
    "event_date",
)


def evidence_sql(
    compiled: Sequence[CompiledRule], *, contracts: Mapping[str, FeedContract] | None = None
) -> str | None:
    """DuckDB SQL over ``candidates`` (the output of :func:`candidates_sql`), ``features``, the
    ``feed_<kind>`` views and ``run_period``: the feed rows behind each candidate. None when no
    rule in force names evidence feeds.

    Columns: rule_id, subject_key, event_key, feed_kind, load_id, period, row_no, citizen_id,
    event_date (the contract's event date, NULL for snapshot kinds). For each candidate and
    kind, the rows of the subject (every member for a household rule): for an events kind,
    those of the last ``months`` periods, most recent first by period, event date, load and
    row; for a snapshot kind, those of the latest list in that window (the list the features
    read), in file order; at most :data:`EVIDENCE_LIMIT` of them. Rules sharing grain, kind and
    months share one scan of the feed.
    """
    contracts = contracts or default_contracts()
    groups: dict[tuple[str, str, int], list[str]] = {}
    for item in compiled:
        for feed in item.rule.evidence.feeds:
            groups.setdefault((item.rule.grain, feed.kind, feed.months), []).append(item.rule.id)
    if not groups:
        return None
    query: exp.Query | None = None
    for (grain, kind, months), rule_ids in groups.items():
        ranked = _evidence_branch(grain, contracts[kind], months, rule_ids).subquery("e")
        branch = (
            exp.select(*(_col(c, "e") for c in _EVIDENCE_COLUMNS))
            .from_(ranked)
            .where(exp.LTE(this=_col("evidence_rank", "e"), expression=exp.Literal.number(EVIDENCE_LIMIT)))
        )
        query = branch if query is None else exp.union(query, branch, distinct=False)
    assert query is not None
    return query.sql(DIALECT)


def to_spark(sql: str) -> str:
    """The same query in Spark SQL, by sqlglot (never by string edits)."""
    return sqlglot.transpile(sql, read=DIALECT, write="spark")[0]
