"""Validating a feed against its contract, column by column, in DuckDB.

Input: the text table :data:`doudi.feeds.reader.RAW_TABLE` left by
:func:`doudi.feeds.reader.read_feed`. Output, in the same connection:

- ``typed``: ``row_no``, one typed column per contract column (``v_<name>``: VARCHAR, DATE,
  DECIMAL(18,2), INTEGER or BOOLEAN; an enum holds its code), one message column per check
  (``e_<name>``, NULL when the value is fine) and ``ok`` (the row passed everything);
- ``problems``: one row per problem found: ``row_no``, ``ord`` (the order in which the
  problems of a row are listed), ``col`` (the column's Chinese label, several joined by
  "、" for a row check), ``reason`` (Chinese, shown in the quarantine file) and ``grp`` (the
  reason without row-specific numbers, for counting);
- the raw table, narrowed to the rejected rows (their text goes to the quarantine file; the
  rest is dropped to free memory).

What is checked, every value trimmed first (spaces, full-width spaces, tabs) and full-width
digits and punctuation folded to ASCII for every type but text:

- ``citizen_id``: :func:`doudi.ids.validate_citizen_id_column` (check digit, birth date,
  province; a lower-case x is upper-cased; 15-digit numbers are refused with their reason);
- ``division``: 6, 9 or 12 digits;
- ``date``: ``YYYY-MM-DD``, ``YYYY/MM/DD``, ``YYYYMMDD``, ``YYYY年M月D日`` (a trailing time of
  day is ignored), and in XLSX files an Excel serial number (a date cell stored as a number);
  between 1900 and 2100;
- ``money``: 元, ￥ and thousands separators removed; at most two decimals that are not zero
  (more are refused, never rounded); DECIMAL(18,2);
- ``integer``; ``boolean`` (是/否, 1/0, true/false, Y/N); ``enum`` (the code or the Chinese
  label); ``required``; ``min``/``max``;
- for ``mode: events``, the event date within the period of the load;
- the contract's ``checks``, compiled by :func:`compile_check` (only after the columns they
  name passed their own checks; a check that comes out NULL passes, as SQL CHECK does);
- duplicates by ``key``: among the rows whose key columns are valid, the first occurrence is
  kept and every later one is rejected, naming the first row.

Nothing runs per row in Python: values are checked by SQL expressions generated from the
contract, the ID column by numpy in batches. Values from the file never become SQL text.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import duckdb
import pyarrow as pa
import sqlglot
from sqlglot import exp

from doudi import ids
from doudi.feeds.contract import Check, Column, FeedContract
from doudi.feeds.reader import RAW_TABLE, ROW_PROBLEM, FeedFile, scalar

log = logging.getLogger(__name__)

TYPED = "typed"
PROBLEMS = "problems"

#: Whitespace trimmed from every value (ASCII, no-break space, ideographic space, BOM).
_TRIM = " \t\r\n\u00a0\u3000\ufeff"
_FULL = "０１２３４５６７８９．，－／：＋Ｘｘ"
_HALF = "0123456789.,-/:+Xx"
_ID_BATCH = 1_000_000
_ID_SCHEMA = pa.schema([("row_no", pa.int64()), ("norm", pa.string()), ("code", pa.int8())])
_DATE_MIN, _DATE_MAX = "1900-01-01", "2100-12-31"
_TRUE = ("是", "1", "true", "t", "y", "yes")
_FALSE = ("否", "0", "false", "f", "n", "no")
ROW_LABEL = "整行"

# The node types a contract check may contain.
_ALLOWED = (
    exp.Column,
    exp.Identifier,
    exp.Literal,
    exp.Boolean,
    exp.Null,
    exp.Paren,
    exp.Add,
    exp.Sub,
    exp.Mul,
    exp.Div,
    exp.Neg,
    exp.EQ,
    exp.NEQ,
    exp.GT,
    exp.GTE,
    exp.LT,
    exp.LTE,
    exp.And,
    exp.Or,
    exp.Not,
    exp.Is,
)


class CheckError(ValueError):
    """A contract check that is not a plain boolean expression over the contract's columns."""


@dataclass(frozen=True)
class CompiledCheck:
    check: Check
    columns: tuple[str, ...]
    sql: str  # over the typed columns v_<name>


def compile_check(contract: FeedContract, check: Check) -> CompiledCheck:
    """Parse a check with sqlglot and allow only the contract's columns, literals,
    arithmetic, comparisons, AND/OR/NOT and IS NULL; return it rewritten over ``v_<name>``.

    Examples:
        >>> from doudi.feeds.contract import get_contract
        >>> c = get_contract("medical")
        >>> compile_check(c, c.checks[0]).sql
        'v_reimbursed + v_out_of_pocket <= v_total_cost + 0.01'
    """
    where = f"{contract.kind}.{check.id}"
    try:
        tree = sqlglot.parse_one(check.when, read="duckdb")
    except sqlglot.errors.ParseError as exc:
        raise CheckError(f"check {where}: not an SQL expression ({exc})") from exc
    names = set(contract.names)
    used: list[str] = []
    for node in tree.walk():
        if not isinstance(node, _ALLOWED):
            raise CheckError(f"check {where}: {type(node).__name__} is not allowed ({node.sql()})")
        if isinstance(node, exp.Is) and not isinstance(node.expression, exp.Null):
            raise CheckError(f"check {where}: only IS NULL / IS NOT NULL are allowed")
        if isinstance(node, exp.Column):
            if node.table or node.name not in names:
                raise CheckError(f"check {where}: unknown column {node.sql()}")
            if node.name not in used:
                used.append(node.name)
    if not isinstance(tree, exp.And | exp.Or | exp.Not | exp.Paren | exp.Is) and not _is_comparison(tree):
        raise CheckError(f"check {where}: not a boolean expression")

    def typed(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Column):
            return exp.column(f"v_{node.name}")
        return node

    in_order = tuple(n for n in contract.names if n in used)  # labels listed in the contract's order
    return CompiledCheck(check, in_order, tree.transform(typed).sql(dialect="duckdb"))


def _is_comparison(node: exp.Expr) -> bool:
    return isinstance(node, exp.EQ | exp.NEQ | exp.GT | exp.GTE | exp.LT | exp.LTE)


def compile_checks(contract: FeedContract) -> list[CompiledCheck]:
    return [compile_check(contract, c) for c in contract.checks]


@dataclass
class Validation:
    """Counts of a validated feed (the rows are in the tables ``typed`` and ``problems``)."""

    rows_read: int
    rows_good: int
    rows_rejected: int
    rows_duplicate: int
    rejects_by_reason: dict[str, int]


def validate(
    con: duckdb.DuckDBPyConnection,
    contract: FeedContract,
    feed: FeedFile,
    *,
    period_start: str,
    period_end: str,
    period_label: str,
) -> Validation:
    """Build ``typed`` and ``problems`` from the raw table; see the module documentation.

    ``period_start``/``period_end`` are ISO dates bounding the events of an events feed;
    ``period_label`` names the period in messages (e.g. "2026年11月")."""
    checks = compile_checks(contract)
    id_tables = _check_ids(con, contract, feed)
    sql, errors = _typed_sql(contract, feed, checks, id_tables)
    con.execute(f"DROP TABLE IF EXISTS {TYPED}")
    params: dict[str, str] = {}
    if contract.mode == "events":
        label = contract.column(_event_date(contract)).label
        params = {
            "period_start": period_start,
            "period_end": period_end,
            "period_message": f"{label}不在本期（{period_label}）内",
        }
    con.execute(f"CREATE TABLE {TYPED} AS {sql}", params)
    for table in id_tables.values():
        con.execute(f"DROP TABLE {table}")
    _duplicates(con, contract)
    _problems(con, errors, contract)
    con.execute(
        f"""UPDATE {TYPED} SET ok = false
            WHERE ok AND row_no IN (SELECT row_no FROM {PROBLEMS} WHERE ord = {_DUP_ORD})"""
    )
    # The text of the good rows is not needed any more (the quarantine file shows the rest).
    con.execute(
        f"CREATE TABLE rejected_raw AS SELECT * FROM {RAW_TABLE} WHERE row_no IN (SELECT row_no FROM {PROBLEMS})"
    )
    con.execute(f"DROP TABLE {RAW_TABLE}")
    con.execute(f"ALTER TABLE rejected_raw RENAME TO {RAW_TABLE}")
    rows_read = int(scalar(con, f"SELECT count(*) FROM {TYPED}"))
    rejected = int(scalar(con, f"SELECT count(DISTINCT row_no) FROM {PROBLEMS}"))
    duplicates = int(scalar(con, f"SELECT count(*) FROM {PROBLEMS} WHERE ord = {_DUP_ORD}"))
    by_reason = {
        str(grp): int(n)
        for grp, n in con.execute(
            f"SELECT grp, count(*) AS n FROM {PROBLEMS} GROUP BY grp ORDER BY n DESC, grp"
        ).fetchall()
    }
    log.info(
        "validated %s: %d rows, %d rejected (%d duplicates)", contract.kind, rows_read, rejected, duplicates
    )
    return Validation(rows_read, rows_read - rejected, rejected, duplicates, by_reason)


def _event_date(contract: FeedContract) -> str:
    assert contract.event_date is not None
    return contract.event_date


# --- citizen IDs --------------------------------------------------------------------------


def _check_ids(con: duckdb.DuckDBPyConnection, contract: FeedContract, feed: FeedFile) -> dict[str, str]:
    """Per citizen-ID column of the file, a table (row_no, norm, code) from doudi.ids, streamed
    through numpy a million rows at a time (a second cursor reads while the first writes)."""
    out: dict[str, str] = {}
    for column in contract.columns:
        source = feed.column_of(column.name)
        if column.type != "citizen_id" or source is None:
            continue
        table = f"ids_{column.name}"
        cursor = con.cursor()
        try:
            values = cursor.sql(f"SELECT row_no, {source} FROM {RAW_TABLE}").to_arrow_reader(_ID_BATCH)
            con.execute(f"DROP TABLE IF EXISTS {table}")
            con.register("ids_source", pa.RecordBatchReader.from_batches(_ID_SCHEMA, _checked_ids(values)))
            try:
                con.execute(f"CREATE TABLE {table} AS SELECT * FROM ids_source")
            finally:
                con.unregister("ids_source")
        finally:
            cursor.close()
        out[column.name] = table
    return out


def _checked_ids(values: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
    for batch in values:
        norm, codes = ids.validate_citizen_id_column(batch.column(1))
        yield pa.RecordBatch.from_arrays([batch.column(0), norm, pa.array(codes)], schema=_ID_SCHEMA)


# --- the typed table ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Error:
    """An error column of ``typed``: its name, the label shown in 列, its place in the list."""

    name: str
    label: str
    ord: int


_DUP_ORD = 10_000


def _typed_sql(
    contract: FeedContract, feed: FeedFile, checks: list[CompiledCheck], id_tables: dict[str, str]
) -> tuple[str, list[_Error]]:
    """SELECT building ``typed`` in stages: raw text with a fast-path flag (x, f), normalised
    text (s), typed values (v), then error messages (e) and ``ok``.

    Most values of a real feed are already in their plain form ("1234.50", "2026-11-03"),
    which one regular expression recognises (``f_<name>``); only the others go through the
    costly normalisation (trim with Unicode spaces, full-width folding, 元/￥/commas), which
    DuckDB evaluates for those rows alone because it sits in the ELSE of a CASE."""
    xlsx = feed.format == "xlsx"
    stage_x = ["r.row_no", f"r.{ROW_PROBLEM} AS e__row"]
    joins = []
    for col in contract.columns:
        source = feed.column_of(col.name)
        text = f"r.{source}" if source else "CAST(NULL AS VARCHAR)"
        if col.type == "citizen_id" and col.name in id_tables:
            alias = f"i_{col.name}"
            joins.append(f"LEFT JOIN {id_tables[col.name]} {alias} ON {alias}.row_no = r.row_no")
            stage_x.append(f"NULLIF({alias}.norm, '') AS s_{col.name}")
            stage_x.append(f"{alias}.code AS k_{col.name}")
        elif col.type == "citizen_id":
            stage_x.append(f"CAST(NULL AS VARCHAR) AS s_{col.name}")
            stage_x.append(f"CAST(NULL AS TINYINT) AS k_{col.name}")
        elif col.type in ("string", "enum"):
            stage_x.append(f"{_trimmed(text)} AS s_{col.name}")
        else:
            stage_x.append(f"{text} AS x_{col.name}")
            stage_x.append(f"{_fast(text, col)} AS f_{col.name}")
    sql = f"SELECT {', '.join(stage_x)} FROM {RAW_TABLE} r {' '.join(joins)}"

    stage_s = ["row_no", "e__row"]
    for col in contract.columns:
        if col.type == "citizen_id":
            stage_s += [f"s_{col.name}", f"k_{col.name}"]
        elif col.type in ("string", "enum"):
            stage_s.append(f"s_{col.name}")
        else:
            x = f"x_{col.name}"
            stage_s.append(f"f_{col.name}")
            stage_s.append(f"CASE WHEN f_{col.name} THEN {x} ELSE {_normalise(x, col)} END AS s_{col.name}")
    sql = f"SELECT {', '.join(stage_s)} FROM ({sql})"

    stage_v = [*stage_s[:2]]
    for col in contract.columns:
        stage_v.append(f"s_{col.name}")
        if col.type == "citizen_id":
            stage_v.append(f"k_{col.name}")
        value = _value(col, xlsx)
        if col.type not in ("string", "enum", "citizen_id"):
            value = f"CASE WHEN f_{col.name} THEN {_fast_value(col)} ELSE {value} END"
        stage_v.append(f"{value} AS v_{col.name}")
    sql = f"SELECT {', '.join(stage_v)} FROM ({sql})"

    errors = [_Error("e__row", ROW_LABEL, 0)]
    final = ["row_no", *(f"v_{c.name}" for c in contract.columns), "e__row"]
    for i, col in enumerate(contract.columns, start=1):
        final.append(f"{_column_error(col)} AS e_{col.name}")
        errors.append(_Error(f"e_{col.name}", col.label, i))
    sql = f"SELECT {', '.join(final)} FROM ({sql})"

    outer = ["*"]
    if contract.mode == "events":
        event = _event_date(contract)
        outer.append(
            f"""CASE WHEN e_{event} IS NULL AND v_{event} IS NOT NULL
                 AND (v_{event} < CAST($period_start AS DATE) OR v_{event} > CAST($period_end AS DATE))
                 THEN $period_message END AS e__period"""
        )
        errors.append(_Error("e__period", contract.column(event).label, len(contract.columns) + 1))
    for j, chk in enumerate(checks):
        fine = " AND ".join(f"e_{n} IS NULL" for n in chk.columns) or "true"
        outer.append(
            f"CASE WHEN {fine} AND NOT coalesce(({chk.sql}), true) THEN {_lit(chk.check.message)} END "
            f"AS e__check_{chk.check.id}"
        )
        labels = "、".join(contract.column(n).label for n in chk.columns) or ROW_LABEL
        errors.append(_Error(f"e__check_{chk.check.id}", labels, len(contract.columns) + 2 + j))
    ok = " AND ".join(f"{e.name} IS NULL" for e in errors)
    return f"SELECT {', '.join(outer)}, ({ok}) AS ok FROM ({sql})", errors


def _lit(text: str) -> str:
    """A SQL string literal of a contract's own text (labels, messages): never file data."""
    return "'" + text.replace("'", "''") + "'"


#: Characters a value may start or end with that trimming removes.
_SPACES = (" ", "\t", "\r", "\n", "\u3000", "\u00a0", "\ufeff")


def _trimmed(text: str) -> str:
    """Text without surrounding spaces (full-width and no-break ones too), NULL when empty.
    Trimming with a character set is slow in DuckDB, so only values that need it get it
    (LIKE with a fixed prefix or suffix is cheap)."""
    edges = " OR ".join(
        [f"{text} LIKE {_lit(ch + '%')}" for ch in _SPACES]
        + [f"{text} LIKE {_lit('%' + ch)}" for ch in _SPACES]
    )
    return f"CASE WHEN {edges} THEN NULLIF(trim({text}, {_lit(_TRIM)}), '') ELSE NULLIF({text}, '') END"


def _normalise(text: str, col: Column) -> str:
    """The slow path: trimmed, full-width digits and punctuation folded, and per type the
    decorations people add (元, ￥, thousands separators, a time of day after a date)."""
    trimmed = f"NULLIF(trim({text}, {_lit(_TRIM)}), '')"
    folded = f"translate({trimmed}, {_lit(_FULL)}, {_lit(_HALF)})"
    if col.type == "money":
        return f"NULLIF(regexp_replace({folded}, '[元￥¥,\\s]', '', 'g'), '')"
    if col.type == "integer":
        return f"NULLIF(regexp_replace({folded}, '[,\\s]', '', 'g'), '')"
    if col.type == "date":
        return f"regexp_replace({folded}, '[ T][0-9]{{1,2}}:[0-9]{{2}}(:[0-9]{{2}}(\\.[0-9]+)?)?$', '')"
    if col.type == "boolean":
        return f"lower({folded})"
    return folded  # division


def _fast(text: str, col: Column) -> str:
    """Whether a raw value is already in the plain form of its type."""
    if col.type == "money":
        return f"regexp_full_match({text}, '[0-9]{{1,16}}(\\.[0-9]{{1,2}})?')"
    if col.type == "date":
        return f"regexp_full_match({text}, '[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}')"
    if col.type == "integer":
        return f"regexp_full_match({text}, '-?[0-9]{{1,9}}')"
    if col.type == "division":
        return f"regexp_full_match({text}, '[0-9]{{6}}|[0-9]{{9}}|[0-9]{{12}}')"
    if col.type == "boolean":
        return f"{text} IN ('是', '否', '1', '0', 'true', 'false')"
    raise AssertionError(col.type)


def _fast_value(col: Column) -> str:
    s = f"s_{col.name}"
    if col.type == "money":
        return f"CAST({s} AS DECIMAL(18,2))"
    if col.type == "date":
        return f"TRY_CAST({s} AS DATE)"
    if col.type == "integer":
        return f"CAST({s} AS INTEGER)"
    if col.type == "division":
        return s
    if col.type == "boolean":
        return f"{s} IN ('是', '1', 'true')"
    raise AssertionError(col.type)


_MONEY_SHAPE = r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)"


def _value(col: Column, xlsx: bool) -> str:
    """The typed value of ``s_<name>``, NULL when it is empty or invalid."""
    s = f"s_{col.name}"
    if col.type == "string":
        return s
    if col.type == "citizen_id":
        return f"CASE WHEN k_{col.name} = {ids.OK} THEN {s} END"
    if col.type == "division":
        return f"CASE WHEN regexp_full_match({s}, '[0-9]{{6}}|[0-9]{{9}}|[0-9]{{12}}') THEN {s} END"
    if col.type == "enum":
        assert col.values is not None
        exact = " ".join(
            f"WHEN {s} IN ({_lit(code)}, {_lit(label)}) THEN {_lit(code)}"
            for code, label in col.values.items()
        )
        codes = ", ".join(_lit(code.lower()) for code in col.values)
        return f"CASE {exact} WHEN lower({s}) IN ({codes}) THEN lower({s}) END"
    if col.type == "boolean":
        return (
            f"CASE WHEN {s} IN ({', '.join(map(_lit, _TRUE))}) THEN true "
            f"WHEN {s} IN ({', '.join(map(_lit, _FALSE))}) THEN false END"
        )
    if col.type == "integer":
        return (
            f"CASE WHEN regexp_full_match({s}, '[+-]?[0-9]+(\\.0*)?') "
            f"THEN TRY_CAST(regexp_replace({s}, '\\.0*$', '') AS INTEGER) END"
        )
    if col.type == "money":
        return (
            f"CASE WHEN regexp_full_match({s}, '{_MONEY_SHAPE}') "
            f"AND length(regexp_replace({s}, '^[+-]?0*|\\..*$', '', 'g')) <= 16 "
            f"AND length(rtrim(regexp_extract({s}, '\\.([0-9]*)$', 1), '0')) <= 2 "
            f"THEN CAST({s} AS DECIMAL(18,2)) END"
        )
    if col.type == "date":
        parts = f"regexp_extract({s}, '^([0-9]{{4}})[-/年]([0-9]{{1,2}})[-/月]([0-9]{{1,2}})日?$', ['y', 'm', 'd'])"
        cases = [
            f"WHEN regexp_full_match({s}, '[0-9]{{4}}(-[0-9]{{1,2}}-[0-9]{{1,2}}|/[0-9]{{1,2}}/[0-9]{{1,2}}"
            f"|年[0-9]{{1,2}}月[0-9]{{1,2}}日)') THEN TRY_CAST(printf('%s-%s-%s', {parts}.y, "
            f"lpad({parts}.m, 2, '0'), lpad({parts}.d, 2, '0')) AS DATE)",
            f"WHEN regexp_full_match({s}, '[0-9]{{8}}') THEN TRY_CAST(printf('%s-%s-%s', "
            f"substr({s}, 1, 4), substr({s}, 5, 2), substr({s}, 7, 2)) AS DATE)",
        ]
        if xlsx:
            # An Excel serial day number (a date cell kept as a number); 61 is 1900-03-01,
            # below it Excel counts a 29 February 1900 that never was.
            cases.append(
                f"WHEN regexp_full_match({s}, '[0-9]{{2,7}}(\\.[0-9]+)?') AND CAST({s} AS DOUBLE) >= 61 "
                f"THEN CAST(DATE '1899-12-30' + CAST(floor(CAST({s} AS DOUBLE)) AS INTEGER) AS DATE)"
            )
        return f"CASE {' '.join(cases)} END"
    raise AssertionError(col.type)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def _column_error(col: Column) -> str:
    """The message for ``s_``/``v_`` of a column, or NULL."""
    s, v, label = f"s_{col.name}", f"v_{col.name}", col.label
    cases = []
    if col.required:
        cases.append(f"WHEN {s} IS NULL THEN {_lit(f'{label}为空（必填）')}")
    if col.type == "citizen_id":
        prefix = "" if label == "公民身份号码" else f"{label}："
        for code, message in ids.REASONS.items():
            if code in (ids.OK, ids.EMPTY):
                continue
            cases.append(f"WHEN k_{col.name} = {code} THEN {_lit(prefix + message)}")
    elif col.type == "division":
        cases.append(
            f"WHEN {s} IS NOT NULL AND {v} IS NULL THEN {_lit(f'{label}应为6位、9位或12位数字的行政区划代码')}"
        )
    elif col.type == "enum":
        assert col.values is not None
        allowed = "、".join(col.values.values())
        cases.append(
            f"WHEN {s} IS NOT NULL AND {v} IS NULL THEN {_lit(f'{label}不是规定的取值（应为：{allowed}）')}"
        )
    elif col.type == "boolean":
        cases.append(f"WHEN {s} IS NOT NULL AND {v} IS NULL THEN {_lit(f'{label}应为“是”或“否”')}")
    elif col.type == "integer":
        cases.append(
            f"WHEN {s} IS NOT NULL AND {v} IS NULL AND regexp_full_match({s}, '[+-]?[0-9]+(\\.0*)?') "
            f"THEN {_lit(f'{label}超出整数范围')}"
        )
        cases.append(f"WHEN {s} IS NOT NULL AND {v} IS NULL THEN {_lit(f'{label}应为整数')}")
    elif col.type == "money":
        cases.append(
            f"WHEN {s} IS NOT NULL AND {v} IS NULL AND NOT regexp_full_match({s}, '{_MONEY_SHAPE}') "
            f"THEN {_lit(f'{label}不是有效的金额')}"
        )
        cases.append(
            f"WHEN {s} IS NOT NULL AND {v} IS NULL AND length(regexp_replace({s}, '^[+-]?0*|\\..*$', '', 'g')) > 16 "
            f"THEN {_lit(f'{label}超出金额范围')}"
        )
        cases.append(
            f"WHEN {s} IS NOT NULL AND {v} IS NULL THEN {_lit(f'{label}超过两位小数（金额精确到分，不作四舍五入）')}"
        )
    elif col.type == "date":
        cases.append(
            f"WHEN {s} IS NOT NULL AND {v} IS NULL THEN "
            f"{_lit(f'{label}不是有效的日期（应为YYYY-MM-DD、YYYY/MM/DD、YYYYMMDD或YYYY年M月D日）')}"
        )
        cases.append(
            f"WHEN {v} < DATE '{_DATE_MIN}' OR {v} > DATE '{_DATE_MAX}' "
            f"THEN {_lit(f'{label}不在合理范围内（1900年至2100年）')}"
        )
    if col.type in ("money", "integer"):
        bound = "CAST({} AS DECIMAL(18,2))" if col.type == "money" else "{}"
        if col.min is not None:
            cases.append(
                f"WHEN {v} < {bound.format(_number(col.min))} THEN {_lit(f'{label}不能小于{_number(col.min)}')}"
            )
        if col.max is not None:
            cases.append(
                f"WHEN {v} > {bound.format(_number(col.max))} THEN {_lit(f'{label}不能大于{_number(col.max)}')}"
            )
    if not cases:
        return "CAST(NULL AS VARCHAR)"
    return f"CASE {' '.join(cases)} END"


# --- duplicates and the problem list --------------------------------------------------------


def _duplicates(con: duckdb.DuckDBPyConnection, contract: FeedContract) -> None:
    """``dups``: rows whose key equals that of an earlier row, with the first row's number."""
    key = list(contract.key)
    valid = " AND ".join(f"e_{k} IS NULL AND v_{k} IS NOT NULL" for k in key)
    on = " AND ".join(f"t.v_{k} = d.v_{k}" for k in key)
    cols = ", ".join(f"v_{k}" for k in key)
    con.execute("DROP TABLE IF EXISTS dups")
    con.execute(
        f"""CREATE TABLE dups AS
            SELECT t.row_no, d.first_row
            FROM {TYPED} t
            JOIN (SELECT {cols}, min(row_no) AS first_row FROM {TYPED} WHERE {valid}
                  GROUP BY {cols} HAVING count(*) > 1) d ON {on}
            WHERE {" AND ".join(f"t.e_{k} IS NULL" for k in key)} AND t.row_no <> d.first_row"""
    )


def _problems(con: duckdb.DuckDBPyConnection, errors: list[_Error], contract: FeedContract) -> None:
    labels = pa.table(
        {
            "ename": [e.name for e in errors],
            "ord": pa.array([e.ord for e in errors], pa.int32()),
            "col": [e.label for e in errors],
        }
    )
    key_labels = "、".join(contract.column(k).label for k in contract.key)
    con.execute(f"DROP TABLE IF EXISTS {PROBLEMS}")
    con.register("error_labels", labels)
    try:
        con.execute(
            f"""CREATE TABLE {PROBLEMS} AS
                SELECT u.row_no, l.ord, l.col, u.reason, u.reason AS grp
                FROM (UNPIVOT (SELECT row_no, {", ".join(e.name for e in errors)} FROM {TYPED} WHERE NOT ok)
                      ON {", ".join(e.name for e in errors)} INTO NAME ename VALUE reason) u
                JOIN error_labels l USING (ename)
                UNION ALL
                SELECT row_no, {_DUP_ORD} AS ord, {_lit(key_labels)} AS col,
                       printf({_lit(f"与第%d行重复（{key_labels}相同）")}, first_row) AS reason,
                       {_lit(f"与前面的行重复（{key_labels}相同）")} AS grp
                FROM dups"""
        )
    finally:
        con.unregister("error_labels")
    con.execute("DROP TABLE dups")
