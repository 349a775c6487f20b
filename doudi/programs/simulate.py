"""What-if simulation of program parameters: how many households gain or lose a program, and
what it costs, county by county, if parameters change.

A scenario (YAML, see docs/simulation.md) names a date and a list of parameter changes. The
households of a source are evaluated twice with :func:`doudi.programs.engine.evaluate` — once
with the parameters as they are, once with the changes applied (``ParameterSet.with_change``)
— and the two result tables are compared per household and program in DuckDB, then summed by
county, prefecture and province. Money stays DECIMAL throughout; nothing loops over households
in Python.
"""

from __future__ import annotations

import csv
import datetime as dt
import difflib
import logging
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import yaml

from doudi.divisions import DivisionCatalog, DivisionError, Level
from doudi.programs.engine import PREFIX, PROGRAMS, evaluate
from doudi.programs.explain import PROGRAM_NAMES
from doudi.programs.parameters import AREAS, CENT, ParameterSet
from doudi.programs.run import Source

log = logging.getLogger(__name__)

SOURCES: dict[str, str] = {"population": "模拟省份全体人口", "registry": "名册"}
AREA_NAMES = {"urban": "城市", "rural": "农村"}
# Programs that pay money (the others are statuses with no monthly amount).
PAID = tuple(p for p in PROGRAMS if p not in ("marginal", "rigid_spending"))
SHORT_NAMES = {
    "dibao": "低保",
    "tekun": "特困",
    "marginal": "低保边缘",
    "rigid_spending": "刚性支出困难",
    "temporary_assistance": "临时救助",
    "disability_care_subsidy": "护理补贴",
    "disability_living_subsidy": "生活补贴",
}
RATIO_PLACES = Decimal("0.0001")
_TOP_KEYS = ("name", "date", "source", "changes", "description")
_CHANGE_KEYS = ("parameter", "from", "area", "scale", "set", "divisions")
_INTEGER_UNITS = ("count", "months", "years")
_DATE_HINT = "应写作 YYYY-MM-DD，如 2026-01-01"

# The CJK font Debian's fonts-wqy-microhei installs (scripts/test.sh installs the package).
CJK_FONT_FILE = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
CJK_FAMILIES: tuple[str, ...] = (
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "Noto Sans CJK SC",
    "Source Han Sans SC",
)


class ScenarioError(ValueError):
    """A scenario that cannot be simulated; ``problems`` holds one Chinese sentence per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid scenario:\n" + "\n".join(problems))


@dataclass(frozen=True)
class Change:
    """One parameter change: from ``start``, times ``scale`` or set to ``set_to``."""

    parameter: str
    start: dt.date
    area: str | None = None
    scale: Decimal | None = None
    set_to: Decimal | None = None
    divisions: tuple[str, ...] | None = None

    def describe(self, params: ParameterSet) -> str:
        """The change in one Chinese phrase, e.g. ``最低生活保障标准（按月）（农村）×1.08``."""
        param = params[self.parameter]
        area = f"（{AREA_NAMES[self.area]}）" if self.area else ""
        how = f"×{self.scale}" if self.scale is not None else f"调整为 {self.set_to}"
        where = ""
        if self.divisions:
            where = "，限" + "、".join(params.catalog.require(c).name for c in self.divisions)
        return f"{param.description}{area}{how}，{self.start.isoformat()} 起{where}"


@dataclass(frozen=True)
class Scenario:
    name: str
    date: dt.date
    changes: tuple[Change, ...]
    source: Source | None = None
    description: str | None = None

    def apply(self, params: ParameterSet) -> ParameterSet:
        """The parameters with every change applied, in order."""
        for c in self.changes:
            params = params.with_change(
                c.parameter,
                start=c.start,
                area=c.area,
                scale=c.scale,
                set_to=c.set_to,
                divisions=c.divisions,
            )
        return params


# --- reading and checking a scenario ----------------------------------------------------------


def _text(value: Any) -> str | None:
    """A scalar from the YAML (read with every scalar as text); None when absent or empty."""
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    return None


def _date(value: Any, where: str, problems: list[str]) -> dt.date | None:
    text = _text(value)
    if text is None:
        problems.append(f"{where}：缺少日期，{_DATE_HINT}。")
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        problems.append(f"{where}：“{text}”不是有效的日期，{_DATE_HINT}。")
        return None


def _decimal(value: Any, where: str, problems: list[str]) -> Decimal | None:
    text = _text(value)
    if text is None:
        problems.append(f"{where}：应为数字，如 1.08。")
        return None
    try:
        number = Decimal(text)
        if not number.is_finite():
            raise InvalidOperation(text)
    except (InvalidOperation, ValueError):
        problems.append(f"{where}：“{text}”不是数字，应只写数字、不带单位和百分号，如 1.08。")
        return None
    return number


def _unknown_keys(data: Mapping[str, Any], allowed: Sequence[str], where: str, problems: list[str]) -> None:
    for key in data:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f"是否应为 {close[0]}？" if close else ""
            problems.append(f"{where}{key}：未知的键，{hint}可用的键：{'、'.join(allowed)}。")


def _check_change(
    index: int, raw: Any, scenario_date: dt.date | None, params: ParameterSet, problems: list[str]
) -> Change | None:
    where = f"changes 第{index}项"
    if not isinstance(raw, dict):
        problems.append(f"{where}：应为“键: 值”的映射，至少包含 parameter、from 和 scale 或 set。")
        return None
    before = len(problems)
    _unknown_keys(raw, _CHANGE_KEYS, f"{where} ", problems)
    name = _text(raw.get("parameter"))
    param = None
    if name is None:
        problems.append(f"{where} parameter：缺少参数名，如 dibao.standard（全部参数见 doudi params show）。")
    elif name not in params.parameters:
        close = difflib.get_close_matches(name, list(params.parameters), n=1)
        hint = f"是否应为 {close[0]}？" if close else "全部参数见 doudi params show。"
        problems.append(f"{where} parameter：未知参数“{name}”，{hint}")
    else:
        param = params[name]
        if param.unit == "area":
            problems.append(f"{where} parameter：参数“{name}”是城乡类别而不是数值，不能用于测算调整。")
            param = None
    start = _date(raw.get("from"), f"{where} from", problems)
    if start is not None and scenario_date is not None and start > scenario_date:
        problems.append(
            f"{where} from：起始日期 {start.isoformat()} 晚于测算日期 date（{scenario_date.isoformat()}），"
            "调整在测算日期尚未生效，结果不会有任何变化；请把 date 改为起始日期当天或之后。"
        )
    area = _text(raw.get("area"))
    if area is not None and area not in AREAS:
        problems.append(
            f"{where} area：“{area}”不是城乡类别，应为 urban（城市）或 rural（农村），不分城乡时省略。"
        )
        area = None
    elif area is not None and param is not None and not param.by_area:
        problems.append(f"{where} area：参数“{param.name}”不分城乡，请删去 area。")
    scale = set_to = None
    has_scale, has_set = _text(raw.get("scale")) is not None, _text(raw.get("set")) is not None
    if has_scale and has_set:
        problems.append(f"{where}：scale 和 set 只能给一个（scale 按倍数调整，如 1.08；set 直接给出新值）。")
    elif not has_scale and not has_set:
        problems.append(
            f"{where}：缺少 scale 或 set（scale 按倍数调整，如 1.08 表示提高8%；set 直接给出新值）。"
        )
    elif has_scale:
        scale = _decimal(raw.get("scale"), f"{where} scale", problems)
        if scale is not None and scale <= 0:
            problems.append(
                f"{where} scale：“{raw.get('scale')}”不是正数，应为大于0的倍数，如 1.08 表示提高8%。"
            )
        elif scale is not None and param is not None and param.unit in _INTEGER_UNITS:
            problems.append(f"{where} scale：参数“{param.name}”只能取整数，请用 set 直接给出新值。")
    else:
        set_to = _decimal(raw.get("set"), f"{where} set", problems)
        if set_to is not None and set_to < 0:
            problems.append(f"{where} set：“{raw.get('set')}”是负数，应为 0 或正数。")
        elif set_to is not None and param is not None:
            if param.unit in _INTEGER_UNITS and set_to != set_to.to_integral_value():
                problems.append(f"{where} set：参数“{param.name}”只能取整数，如 0、6、12。")
            if param.unit.startswith("yuan") and set_to != set_to.quantize(CENT):
                example = set_to.quantize(CENT, rounding=ROUND_HALF_UP)
                problems.append(
                    f"{where} set：金额“{raw.get('set')}”超过两位小数，金额只能精确到分，如 {example}。"
                )
    divisions: tuple[str, ...] | None = None
    raw_divisions = raw.get("divisions")
    if raw_divisions is not None and raw_divisions != "":
        items = raw_divisions if isinstance(raw_divisions, list) else [raw_divisions]
        codes: list[str] = []
        for item in items:
            code = _text(item) or ""
            try:
                division = params.catalog.require(code)
            except DivisionError as exc:
                problems.append(
                    f"{where} divisions：“{code}”无效（{exc.reason}），应为本省省、市（州）、县（市、区）的6位代码。"
                )
                continue
            if division.level > Level.COUNTY:
                problems.append(
                    f"{where} divisions：“{code}”是乡镇或村，参数只能按省、市（州）、县（市、区）调整。"
                )
                continue
            if code not in codes:
                codes.append(code)
        if not items:
            problems.append(f"{where} divisions：列表为空；调整全部设定了该参数的区划时省略 divisions。")
        divisions = tuple(codes)
    if len(problems) > before or name is None or start is None:
        return None
    return Change(name, start, area, scale, set_to, divisions)


def parse_scenario(data: Any, params: ParameterSet) -> Scenario:
    """A checked scenario from parsed YAML (every scalar as text); :class:`ScenarioError`
    lists every problem at once."""
    problems: list[str] = []
    if not isinstance(data, dict):
        raise ScenarioError(
            ["测算方案应为“键: 值”的映射，包含 name、date 和 changes（示例见 docs/simulation.md）。"]
        )
    _unknown_keys(data, _TOP_KEYS, "", problems)
    name = _text(data.get("name"))
    if name is None:
        problems.append("name：缺少方案名称（中文标题），如 name: 农村低保标准提高8%。")
    day = _date(data.get("date"), "date", problems)
    source_text = _text(data.get("source"))
    source: Source | None = None
    if source_text == "population":
        source = "population"
    elif source_text == "registry":
        source = "registry"
    elif source_text is not None:
        problems.append(
            f"source：“{source_text}”不是数据来源，应为 population（模拟省份全体人口）或 registry（名册）。"
        )
    raw_changes = data.get("changes")
    changes: list[Change] = []
    if raw_changes is None or raw_changes == "" or raw_changes == []:
        problems.append("changes：至少要有一项调整（parameter、from 和 scale 或 set）。")
    elif not isinstance(raw_changes, list):
        problems.append("changes：应为列表，每项以“- parameter: …”开头。")
    else:
        for i, raw in enumerate(raw_changes, start=1):
            change = _check_change(i, raw, day, params, problems)
            if change is not None:
                changes.append(change)
    if problems:
        raise ScenarioError(problems)
    assert name is not None and day is not None
    return Scenario(name, day, tuple(changes), source, _text(data.get("description")))


class _Loader(yaml.BaseLoader):
    """Every scalar as text (dates and money are parsed exactly later); notes duplicate keys,
    which YAML would otherwise silently resolve to the last one."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[tuple[int, str]] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                if key_node.value in seen:
                    self.duplicates.append((key_node.start_mark.line + 1, key_node.value))
                seen.add(key_node.value)
        return super().construct_mapping(node, deep=deep)


def load_scenario(path: Path, params: ParameterSet) -> Scenario:
    """Read and check a scenario file; :class:`ScenarioError` on any problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError([f"找不到测算方案文件“{path}”。"]) from None
    except UnicodeDecodeError:
        raise ScenarioError([f"测算方案文件“{path.name}”应为 UTF-8 编码。"]) from None
    try:
        loader = _Loader(text)
        try:
            data = loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"第{mark.line + 1}行第{mark.column + 1}列" if mark else ""
        problem = getattr(exc, "problem", None) or "无法解析"
        raise ScenarioError(
            [
                f"测算方案文件“{path.name}”{at}有 YAML 语法错误（{problem}），请检查缩进（只用空格）、冒号和引号。"
            ]
        ) from None
    if loader.duplicates:
        raise ScenarioError(
            [
                f"第{line}行：键“{key}”重复，同一层中每个键只能出现一次，请删去或合并其中一个。"
                for line, key in loader.duplicates
            ]
        )
    return parse_scenario(data, params)


# --- simulating --------------------------------------------------------------------------------


@dataclass(frozen=True)
class StandardRatio:
    """Urban ÷ rural 低保 standard, before and after: the province's own values, and the
    average of the county ratios weighted by the persons of each county's households."""

    province_before: Decimal
    province_after: Decimal
    weighted_before: Decimal
    weighted_after: Decimal


@dataclass
class SimulationResult:
    scenario: Scenario
    households: int
    persons: int
    by_program: pa.Table
    by_prefecture: pa.Table
    by_county: pa.Table
    ratio: StandardRatio
    params_before: ParameterSet = field(repr=False)
    params_after: ParameterSet = field(repr=False)
    source: str | None = None


_MEASURES = """
    count(*) FILTER (WHERE b_e) AS households_before,
    count(*) FILTER (WHERE a_e) AS households_after,
    count(*) FILTER (WHERE a_e AND NOT b_e) AS households_new,
    count(*) FILTER (WHERE b_e AND NOT a_e) AS households_lost,
    coalesce(sum(b_c) FILTER (WHERE b_e), 0) AS persons_before,
    coalesce(sum(a_c) FILTER (WHERE a_e), 0) AS persons_after,
    coalesce(sum(a_c) FILTER (WHERE a_e AND NOT b_e), 0) AS persons_new,
    coalesce(sum(b_c) FILTER (WHERE b_e AND NOT a_e), 0) AS persons_lost,
    CAST(coalesce(sum(b_m) FILTER (WHERE b_e), 0) AS DECIMAL(18,2)) AS monthly_before,
    CAST(coalesce(sum(a_m) FILTER (WHERE a_e), 0) AS DECIMAL(18,2)) AS monthly_after
"""
_SUMS = """
    CAST(sum(households_before) AS BIGINT) AS households_before,
    CAST(sum(households_after) AS BIGINT) AS households_after,
    CAST(sum(households_new) AS BIGINT) AS households_new,
    CAST(sum(households_lost) AS BIGINT) AS households_lost,
    CAST(sum(persons_before) AS BIGINT) AS persons_before,
    CAST(sum(persons_after) AS BIGINT) AS persons_after,
    CAST(sum(persons_new) AS BIGINT) AS persons_new,
    CAST(sum(persons_lost) AS BIGINT) AS persons_lost,
    CAST(sum(monthly_before) AS DECIMAL(18,2)) AS monthly_before,
    CAST(sum(monthly_after) AS DECIMAL(18,2)) AS monthly_after
"""
_CHANGE = """
    CAST(monthly_after - monthly_before AS DECIMAL(18,2)) AS monthly_change,
    CAST(12 * (monthly_after - monthly_before) AS DECIMAL(18,2)) AS annual_change
"""


def _compared_columns(results: pa.Table) -> pa.Table:
    keep = {"household_id", "county_code", "n"} | {
        f"{prefix}_{what}" for prefix in PREFIX.values() for what in ("eligible", "covered", "amount")
    }
    return results.select([c for c in results.column_names if c in keep])


def paired(before: pa.Table, after: pa.Table) -> pa.Table:
    """One row per household: its county and, per program, eligible/covered/amount before
    (``b_``) and after (``a_``). Both tables come from :func:`evaluate` on the same households,
    so their rows are in the same order (by household_id); the columns are put side by side
    without a join or a copy."""
    if before.num_rows != after.num_rows or not before.column("household_id").equals(
        after.column("household_id")
    ):
        raise ValueError("baseline and scenario results are not the same households in the same order")
    names = ["county_code"]
    columns = [before.column("county_code")]
    for prefix in PREFIX.values():
        for what in ("eligible", "covered", "amount"):
            col = f"{prefix}_{what}"
            if col in before.column_names:
                names += [f"b_{col}", f"a_{col}"]
                columns += [before.column(col), after.column(col)]
    return pa.table(columns, names=names)


def _divisions_table(counties: list[str], catalog: DivisionCatalog) -> pa.Table:
    """County → county name, prefecture code and name (one row per county, not per household)."""
    rows: dict[str, list[str]] = {"county_code": [], "county": [], "prefecture_code": [], "prefecture": []}
    for code in counties:
        prefecture = catalog.prefecture_of(code)
        rows["county_code"].append(code)
        rows["county"].append(catalog.require(code).name)
        rows["prefecture_code"].append(prefecture.code)
        rows["prefecture"].append(prefecture.name)
    return pa.table(rows, schema=pa.schema([(k, pa.string()) for k in rows]))


def compare(
    before: pa.Table, after: pa.Table, catalog: DivisionCatalog
) -> tuple[pa.Table, pa.Table, pa.Table]:
    """Per program: by province, by prefecture and by county, from two result tables of the
    same households (the county table sums exactly to the others)."""
    con = duckdb.connect()
    try:
        con.register("pairs", paired(before, after))
        counties = sorted({c for c in before.column("county_code").unique().to_pylist() if c})
        con.register("d", _divisions_table(counties, catalog))
        parts = []
        for program in PROGRAMS:
            prefix = PREFIX[program]
            has_amount = f"{prefix}_amount" in before.column_names
            b_m = f"b_{prefix}_amount" if has_amount else "CAST(0 AS DECIMAL(18,2))"
            a_m = f"a_{prefix}_amount" if has_amount else "CAST(0 AS DECIMAL(18,2))"
            parts.append(
                f"""SELECT '{program}' AS program, county_code, {_MEASURES}
                    FROM (SELECT county_code, b_{prefix}_eligible AS b_e, a_{prefix}_eligible AS a_e,
                                 b_{prefix}_covered AS b_c, a_{prefix}_covered AS a_c, {b_m} AS b_m, {a_m} AS a_m
                          FROM pairs)
                    GROUP BY county_code"""
            )
        con.execute("CREATE TEMP TABLE c AS " + " UNION ALL ".join(parts))
        order = f"list_position([{', '.join(repr(p) for p in PROGRAMS)}], program)"
        by_county = con.sql(
            f"""SELECT d.prefecture_code, d.prefecture, c.county_code, d.county, program,
                       c.* EXCLUDE (program, county_code), {_CHANGE}
                FROM c JOIN d USING (county_code)
                ORDER BY d.prefecture_code, c.county_code, {order}"""
        ).to_arrow_table()
        by_prefecture = con.sql(
            f"""SELECT *, {_CHANGE}
                FROM (SELECT d.prefecture_code, d.prefecture, program, {_SUMS}
                      FROM c JOIN d USING (county_code) GROUP BY ALL)
                ORDER BY prefecture_code, {order}"""
        ).to_arrow_table()
        by_program = con.sql(
            f"""SELECT *, {_CHANGE}
                FROM (SELECT program, {_SUMS} FROM c GROUP BY program)
                ORDER BY {order}"""
        ).to_arrow_table()
    finally:
        con.close()
    return by_program, by_prefecture, by_county


def _ratio(u: Decimal | str, r: Decimal | str) -> Decimal:
    return (Decimal(u) / Decimal(r)).quantize(RATIO_PLACES, rounding=ROUND_HALF_UP)


def standard_ratio(
    before: ParameterSet, after: ParameterSet, on: dt.date, county_persons: Mapping[str, int]
) -> StandardRatio:
    """Urban ÷ rural 低保 standard before and after (see :class:`StandardRatio`)."""
    province = before.catalog.province_code
    values = []
    for params in (before, after):
        u = params.resolve("dibao.standard", province, "urban", on).value
        r = params.resolve("dibao.standard", province, "rural", on).value
        values.append(_ratio(u, r))
    weighted = []
    total = sum(county_persons.values())
    for params in (before, after):
        acc = Decimal(0)
        for county, persons in county_persons.items():
            u = Decimal(params.resolve("dibao.standard", county, "urban", on).value)
            r = Decimal(params.resolve("dibao.standard", county, "rural", on).value)
            acc += persons * u / r
        weighted.append((acc / total).quantize(RATIO_PLACES, rounding=ROUND_HALF_UP) if total else Decimal(0))
    return StandardRatio(values[0], values[1], weighted[0], weighted[1])


def simulate(
    scenario: Scenario,
    *,
    households: pa.Table,
    members: pa.Table,
    params: ParameterSet,
    source: str | None = None,
) -> SimulationResult:
    """Evaluate the households with ``params`` and with the scenario's changes, and compare.

    The households are assessed on ``scenario.date`` (their ``on_date`` is set to it).
    """
    if households.num_rows == 0:
        raise ValueError("no households to simulate")
    on = pa.repeat(pa.scalar(scenario.date, pa.date32()), households.num_rows)
    households = households.set_column(households.schema.get_field_index("on_date"), "on_date", on)
    changed = scenario.apply(params)
    # Keep only what the comparison reads, so the baseline's other columns are freed before
    # the second evaluation.
    before = _compared_columns(evaluate(households, members, params))
    after = _compared_columns(evaluate(households, members, changed))
    by_program, by_prefecture, by_county = compare(before, after, params.catalog)
    con = duckdb.connect()
    try:
        con.register("b", before.select(["county_code", "n"]))
        rows = con.sql("SELECT county_code, CAST(sum(n) AS BIGINT) FROM b GROUP BY ALL").fetchall()
    finally:
        con.close()
    county_persons = {str(c): int(n) for c, n in rows}
    ratio = standard_ratio(params, changed, scenario.date, county_persons)
    return SimulationResult(
        scenario=scenario,
        households=before.num_rows,
        persons=sum(county_persons.values()),
        by_program=by_program,
        by_prefecture=by_prefecture,
        by_county=by_county,
        ratio=ratio,
        params_before=params,
        params_after=changed,
        source=source or scenario.source,
    )


# --- reports ----------------------------------------------------------------------------------

HEADERS = {
    "prefecture_code": "市（州）代码",
    "prefecture": "市（州）",
    "county_code": "县（市、区）代码",
    "county": "县（市、区）",
    "program": "救助项目",
    "households_before": "调整前户数",
    "households_after": "调整后户数",
    "households_new": "新增户数",
    "households_lost": "退出户数",
    "persons_before": "调整前人数",
    "persons_after": "调整后人数",
    "persons_new": "新增户人数",
    "persons_lost": "退出户人数",
    "monthly_before": "调整前月支出（元）",
    "monthly_after": "调整后月支出（元）",
    "monthly_change": "月支出变化（元）",
    "annual_change": "年支出变化（元）",
}
MONEY_COLUMNS = ("monthly_before", "monthly_after", "monthly_change", "annual_change")
MONEY_FORMAT = "#,##0.00"
COUNT_FORMAT = "#,##0"


def short_prefecture(name: str) -> str:
    """黔南布依族苗族自治州 → 黔南州 (for charts and narrow tables)."""
    return re.sub(r"(布依族苗族|苗族侗族)自治州$", "州", name)


def slug(name: str) -> str:
    """A directory-safe form of a scenario name (Chinese kept)."""
    text = re.sub(r"[^\w.%+-]+", "-", name, flags=re.UNICODE).strip("-.")
    return text[:40] or "scenario"


def _rows(table: pa.Table) -> list[dict[str, Any]]:
    rows = table.to_pylist()
    for row in rows:
        if "program" in row:
            row["program"] = PROGRAM_NAMES[row["program"]]
    return rows


def _write_sheet(ws: Any, table: pa.Table) -> None:
    from openpyxl.styles import Font

    columns = [c for c in table.column_names if c in HEADERS]
    ws.append([HEADERS[c] for c in columns])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in _rows(table):
        ws.append([row[c] for c in columns])
    for i, col in enumerate(columns, start=1):
        letter = ws.cell(row=1, column=i).column_letter
        fmt = (
            MONEY_FORMAT
            if col in MONEY_COLUMNS
            else COUNT_FORMAT
            if col.startswith(("households", "persons"))
            else None
        )
        if fmt:
            for (cell,) in ws.iter_rows(min_row=2, min_col=i, max_col=i):
                cell.number_format = fmt
        width = max(len(HEADERS[col]) * 2 + 2, 12 if col in MONEY_COLUMNS else 8)
        if col in ("prefecture", "county", "program"):
            width = 24
        ws.column_dimensions[letter].width = width
    ws.freeze_panes = "A2"


def _write_summary(ws: Any, result: SimulationResult) -> None:
    from openpyxl.styles import Font

    s = result.scenario
    bold = Font(bold=True)
    ws.append(["测算方案", s.name])
    ws.append(["测算日期", s.date.isoformat()])
    ws.append(["数据来源", SOURCES.get(result.source or "", result.source or "")])
    ws.append(["参与测算户数", result.households])
    ws.append(["参与测算人数", result.persons])
    if s.description:
        ws.append(["说明", s.description])
    for row in ws.iter_rows(min_row=1, max_row=ws.max_row, max_col=1):
        row[0].font = bold
    ws["B4"].number_format = COUNT_FORMAT
    ws["B5"].number_format = COUNT_FORMAT
    ws.append([])
    ws.append(["调整内容", "参数", "城乡", "起始日期", "调整方式", "区划"])
    for cell in ws[ws.max_row]:
        cell.font = bold
    for i, c in enumerate(s.changes, start=1):
        param = result.params_before[c.parameter]
        how = f"×{c.scale}" if c.scale is not None else f"调整为 {c.set_to}"
        where = "、".join(c.divisions) if c.divisions else "所有设定了该参数的区划"
        area = AREA_NAMES[c.area] if c.area else ("城市和农村" if param.by_area else "不分城乡")
        ws.append([f"{i}. {param.description}", c.parameter, area, c.start.isoformat(), how, where])
    ws.append([])
    r = result.ratio
    ws.append(["城乡低保标准比（城市÷农村）", "调整前", "调整后"])
    for cell in ws[ws.max_row]:
        cell.font = bold
    ws.append(["全省标准", r.province_before, r.province_after])
    ws.append(["按县人口加权平均", r.weighted_before, r.weighted_after])
    for row in ws.iter_rows(min_row=ws.max_row - 1, max_row=ws.max_row, min_col=2, max_col=3):
        for cell in row:
            cell.number_format = "0.0000"
    ws.append([])
    ws.append(["全省合计"])
    ws[ws.max_row][0].font = bold
    first = ws.max_row + 1
    columns = [c for c in result.by_program.column_names if c in HEADERS]
    ws.append([HEADERS[c] for c in columns])
    for cell in ws[first]:
        cell.font = bold
    for row in _rows(result.by_program):
        ws.append([row[c] for c in columns])
    for i, col in enumerate(columns, start=1):
        fmt = MONEY_FORMAT if col in MONEY_COLUMNS else COUNT_FORMAT
        if col == "program":
            continue
        for (cell,) in ws.iter_rows(min_row=first + 1, min_col=i, max_col=i):
            cell.number_format = fmt
    ws.column_dimensions["A"].width = 30
    for letter in "BCDEFGHIJKLMNOP":
        ws.column_dimensions[letter].width = 16


def write_xlsx(result: SimulationResult, path: Path) -> Path:
    import openpyxl

    wb = openpyxl.Workbook()
    summary = wb.active
    assert summary is not None
    summary.title = "概要"
    _write_summary(summary, result)
    _write_sheet(wb.create_sheet("按市州"), result.by_prefecture)
    _write_sheet(wb.create_sheet("按县"), result.by_county)
    wb.save(path)
    return path


def write_csv(table: pa.Table, path: Path) -> Path:
    """A table with Chinese headers, UTF-8 with BOM (opens in Excel/WPS without garbling)."""
    columns = [c for c in table.column_names if c in HEADERS]
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        w.writerow([HEADERS[c] for c in columns])
        for row in _rows(table):
            w.writerow([row[c] for c in columns])
    return path


@cache
def _add_font_file(path: str) -> str:
    """Register a font file with matplotlib once per process; its family name."""
    from matplotlib import font_manager

    font_manager.fontManager.addfont(path)
    return str(font_manager.FontProperties(fname=path).get_name())


def cjk_font() -> str | None:
    """The family name of a CJK font matplotlib can use (registered if found by file), or None."""
    from matplotlib import font_manager

    if CJK_FONT_FILE.exists():
        try:
            return _add_font_file(str(CJK_FONT_FILE))
        except (OSError, RuntimeError, ValueError) as exc:
            log.warning("cannot load CJK font %s: %s", CJK_FONT_FILE, exc)
    for family in CJK_FAMILIES:
        try:
            font_manager.findfont(font_manager.FontProperties(family=family), fallback_to_default=False)
        except ValueError:
            continue
        return family
    return None


def prefecture_costs(result: SimulationResult) -> list[tuple[str, Decimal, Decimal]]:
    """(prefecture, monthly cost before, after) summed over the paying programs."""
    out: dict[str, tuple[Decimal, Decimal]] = {}
    for row in result.by_prefecture.to_pylist():
        b, a = out.get(row["prefecture"], (Decimal(0), Decimal(0)))
        out[row["prefecture"]] = (b + row["monthly_before"], a + row["monthly_after"])
    return [(name, b, a) for name, (b, a) in out.items()]


def write_chart(result: SimulationResult, path: Path) -> Path:
    """Bar chart of the monthly cost by prefecture, before and after (万元), Chinese labels."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    family = cjk_font()
    if family is None:
        log.warning(
            "no CJK font found (install fonts-wqy-microhei: %s); the chart's Chinese labels will not render",
            CJK_FONT_FILE,
        )
    costs = prefecture_costs(result)
    wan = Decimal(10000)
    labels = [short_prefecture(name) for name, _, _ in costs]
    before = [float(b / wan) for _, b, _ in costs]
    after = [float(a / wan) for _, _, a in costs]
    import matplotlib

    rc: dict[Any, Any] = {"font.family": [family, "DejaVu Sans"]} if family else {}
    with matplotlib.rc_context(rc), warnings.catch_warnings():
        if family is None:
            warnings.filterwarnings("ignore", message=".*[Gg]lyph.*missing.*")
        fig = Figure(figsize=(10, 5.6), dpi=120)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        xs = list(range(len(labels)))
        width = 0.38
        ax.bar([x - width / 2 for x in xs], before, width, label="调整前（现行参数）", color="#8da0cb")
        bars = ax.bar([x + width / 2 for x in xs], after, width, label="调整后（测算方案）", color="#e5734a")
        for bar, (_, b, a) in zip(bars, costs, strict=True):
            change = (a - b) / wan
            ax.annotate(
                f"{change:+,.1f}",
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                ha="center",
                va="bottom",
                fontsize=8,
                xytext=(0, 2),
                textcoords="offset points",
            )
        ax.set_xticks(xs, labels)
        ax.set_ylabel("月支出（万元）")
        ax.set_title(f"{result.scenario.name}：各市（州）月支出调整前后对比（标注为变化，万元）")
        ax.legend()
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
        fig.savefig(path, format="png")
    return path


def write_reports(result: SimulationResult, out_dir: Path) -> list[Path]:
    """The XLSX (概要, 按市州, 按县), the county table as CSV and the PNG chart, in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    return [
        write_xlsx(result, out_dir / "simulation.xlsx"),
        write_csv(result.by_county, out_dir / "by-county.csv"),
        write_chart(result, out_dir / "cost-by-prefecture.png"),
    ]
