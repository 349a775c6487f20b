"""Program parameters: YAML files with provenance, dated values per division, inheritance.

Each file under ``doudi/programs/parameters/`` holds one topic (``dibao.yaml`` holds only
``dibao.*``). A parameter has a Chinese ``description``, a ``unit``, a policy ``reference``,
optionally ``by_area: true`` (separate urban and rural values) and ``placeholder: true`` (a
value the department has not confirmed yet), and ``values`` keyed by division code, then area
(``urban``/``rural``, or ``all``), then start date::

    dibao.standard:
      description: 最低生活保障标准（按月）
      unit: yuan_per_month
      by_area: true
      reference: …
      values:
        "520000": {urban: {"2025-02-01": 778.00}, rural: {"2025-02-01": 568.17}}
        "522700": {urban: {"2024-03-01": {value: 506.60, reference: …}}}

A value is looked up for a division and a date by walking county → prefecture → province and
taking, at the first level that has one, the value with the latest start date on or before
the date. Every file is checked before use; all problems of all files are reported at once,
each with file, line, column and key (:class:`ParameterError`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any

import pyarrow as pa
import yaml
from yaml.nodes import MappingNode, Node, ScalarNode

from doudi.divisions import DivisionCatalog, DivisionError, Level, get_catalog

DEFAULT_DIR = Path(__file__).parent / "parameters"

UNITS = {
    "yuan_per_month": "元/月",
    "yuan_per_year": "元/年",
    "ratio": "比例",
    "ratio_of_standard": "相当于月低保标准的比例",
    "multiple_of_standard": "相当于月低保标准的倍数",
    "months_of_standard": "相当于月低保标准的月数",
    "count": "个",
    "months": "月",
    "years": "岁",
    "area": "城乡类别",
}
AREAS = ("urban", "rural")
NUMERIC = pa.decimal128(18, 4)
_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")
_SPEC_KEYS = {"description", "unit", "reference", "by_area", "placeholder", "values"}
_VALUE_KEYS = {"value", "note", "reference"}
# Required keys of a parameter, with what the message tells the author to write there.
_REQUIRED = {
    "description": "参数的中文说明，如 最低生活保障标准（按月）",
    "unit": "单位，如 yuan_per_month",
    "reference": "政策依据：文件名称、文号或条款",
    "values": "取值：区划代码 → 城乡 → 起始日期: 数值",
}
_CODE_HINT = '应为本省省、市（州）、县（市、区）的6位代码（加引号），如 "520000"、"522700"、"522701"'
FOUR_PLACES = Decimal("0.0001")
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Problem:
    """One problem in a parameter file; ``str()`` is ``file:line:col: key: message``."""

    file: str
    line: int
    column: int
    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.key}: {self.message}"


class ParameterError(ValueError):
    """Parameter files that cannot be used; ``problems`` lists every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("invalid parameter files:\n" + "\n".join(str(p) for p in problems))


@dataclass(frozen=True)
class DatedValue:
    start: dt.date
    value: Decimal | str
    note: str | None = None
    reference: str | None = None


@dataclass(frozen=True)
class Parameter:
    name: str
    description: str
    unit: str
    reference: str
    by_area: bool
    placeholder: bool
    # division code → area ("urban" / "rural" / "all") → values sorted by start date
    values: Mapping[str, Mapping[str, tuple[DatedValue, ...]]]
    file: str

    @property
    def column(self) -> str:
        """Column name in parameter tables: dots become double underscores."""
        return self.name.replace(".", "__")


@dataclass(frozen=True)
class Resolved:
    """A value in force, with where it comes from."""

    name: str
    value: Decimal | str
    unit: str
    division_code: str
    area: str
    start: dt.date
    reference: str
    placeholder: bool
    note: str | None
    description: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "value": str(self.value),
            "unit": self.unit,
            "from_division": self.division_code,
            "since": self.start.isoformat(),
            "reference": self.reference,
            "placeholder": self.placeholder,
        }


class _Checker:
    """Walks composed YAML nodes so that every problem carries its line and column."""

    def __init__(self, file: str, catalog: DivisionCatalog) -> None:
        self.file = file
        self.catalog = catalog
        self.problems: list[Problem] = []

    def fail(self, node: Node, key: str, message: str) -> None:
        mark = node.start_mark
        self.problems.append(Problem(self.file, mark.line + 1, mark.column + 1, key, message))

    def mapping(self, node: Node, key: str) -> list[tuple[ScalarNode, Node]] | None:
        if not isinstance(node, MappingNode):
            self.fail(node, key, "应为映射（键: 值）")
            return None
        pairs: list[tuple[ScalarNode, Node]] = []
        seen: dict[str, ScalarNode] = {}
        for k, v in node.value:
            if not isinstance(k, ScalarNode):
                self.fail(k, key, "键应为文字")
                continue
            if k.value in seen:
                first = seen[k.value].start_mark.line + 1
                self.fail(
                    k,
                    f"{key}.{k.value}" if key else k.value,
                    f"键重复：第{first}行已有同一个键，同一层中每个键只能出现一次，请删去或合并其中一个",
                )
                continue
            seen[k.value] = k
            pairs.append((k, v))
        return pairs

    def scalar(self, node: Node, key: str) -> str | None:
        if not isinstance(node, ScalarNode):
            self.fail(node, key, "应为单个值")
            return None
        return str(node.value)


def _number(text: str) -> Decimal:
    value = Decimal(text)
    if not value.is_finite():
        raise InvalidOperation(text)
    return value


def _parse_parameter(chk: _Checker, topic: str, name_node: ScalarNode, spec_node: Node) -> Parameter | None:
    name = name_node.value
    problems_before = len(chk.problems)
    if not _NAME.match(name):
        chk.fail(name_node, name, "参数名应为小写英文并以点分隔，如 dibao.standard")
    elif name.split(".")[0] != topic:
        chk.fail(
            name_node,
            name,
            f"参数名应以文件主题“{topic}.”开头（一个文件只放一个主题），请移到 {name.split('.')[0]}.yaml",
        )
    pairs = chk.mapping(spec_node, name)
    if pairs is None:
        return None
    spec = {k.value: (k, v) for k, v in pairs}
    for k, _v in pairs:
        if k.value not in _SPEC_KEYS:
            chk.fail(k, f"{name}.{k.value}", f"未知的键，可用的键：{'、'.join(sorted(_SPEC_KEYS))}")
    for required, what in _REQUIRED.items():
        if required not in spec:
            chk.fail(spec_node, name, f"缺少 {required}（{what}）")
    texts: dict[str, str] = {}
    for key in ("description", "unit", "reference"):
        if key in spec:
            text = chk.scalar(spec[key][1], f"{name}.{key}")
            if text is not None and not text.strip():
                chk.fail(spec[key][1], f"{name}.{key}", "不能为空")
            texts[key] = text or ""
    unit = texts.get("unit", "")
    if "unit" in spec and unit and unit not in UNITS:
        units = "、".join(f"{u}（{zh}）" for u, zh in UNITS.items())
        chk.fail(spec["unit"][1], f"{name}.unit", f"未知单位“{unit}”，可用：{units}")
    flags: dict[str, bool] = {}
    for key in ("by_area", "placeholder"):
        flags[key] = False
        if key in spec:
            text = chk.scalar(spec[key][1], f"{name}.{key}")
            if text not in ("true", "false"):
                chk.fail(spec[key][1], f"{name}.{key}", "应为 true 或 false")
            flags[key] = text == "true"
    values: dict[str, dict[str, tuple[DatedValue, ...]]] = {}
    if "values" in spec:
        values = _parse_values(chk, name, unit, flags["by_area"], spec["values"][1])
    if len(chk.problems) > problems_before:
        return None
    return Parameter(
        name=name,
        description=texts["description"],
        unit=unit,
        reference=texts["reference"],
        by_area=flags["by_area"],
        placeholder=flags["placeholder"],
        values=values,
        file=chk.file,
    )


def _parse_values(
    chk: _Checker, name: str, unit: str, by_area: bool, node: Node
) -> dict[str, dict[str, tuple[DatedValue, ...]]]:
    out: dict[str, dict[str, tuple[DatedValue, ...]]] = {}
    divisions = chk.mapping(node, f"{name}.values") or []
    if not divisions and isinstance(node, MappingNode):
        chk.fail(node, f"{name}.values", "至少要有一个取值")
    allowed_areas = AREAS if by_area else ("all",)
    for div_node, areas_node in divisions:
        code = div_node.value
        key = f"{name}.values.{code}"
        try:
            division = chk.catalog.require(code)
            if division.level > Level.COUNTY:
                chk.fail(div_node, key, f"不能按乡镇（街道）、村（社区）设定参数；{_CODE_HINT}")
        except DivisionError as exc:
            chk.fail(div_node, key, f"{exc.reason}，请核对；{_CODE_HINT}")
        by_area_values: dict[str, tuple[DatedValue, ...]] = {}
        wrong_area = False
        for area_node, dates_node in chk.mapping(areas_node, key) or []:
            area = area_node.value
            akey = f"{key}.{area}"
            if area not in allowed_areas:
                hint = (
                    "urban 或 rural（该参数分城乡，城市、农村分别给出取值）"
                    if by_area
                    else "all（该参数不分城乡；分城乡请设 by_area: true）"
                )
                chk.fail(area_node, akey, f"城乡键应为 {hint}")
                wrong_area = True
                continue
            dated: list[DatedValue] = []
            for date_node, value_node in chk.mapping(dates_node, akey) or []:
                dkey = f"{akey}.{date_node.value}"
                try:
                    start = dt.date.fromisoformat(date_node.value)
                except ValueError:
                    chk.fail(
                        date_node,
                        dkey,
                        f'“{date_node.value}”不是有效的日期，应写作 "YYYY-MM-DD"（加引号），如 "2025-02-01"',
                    )
                    continue
                parsed = _parse_value(chk, dkey, unit, value_node)
                if parsed is not None:
                    dated.append(replace(parsed, start=start))
            by_area_values[area] = tuple(sorted(dated, key=lambda v: v.start))
        # A misspelt area key is reported once, not again as a missing provincial value.
        if code == chk.catalog.province_code and not wrong_area:
            for area in allowed_areas:
                if area not in by_area_values:
                    chk.fail(
                        areas_node,
                        key,
                        f"省级必须给出 {area} 的取值：未单独设定的市（州）、县（市、区）都从省级继承",
                    )
        out[code] = by_area_values
    return out


def _parse_value(chk: _Checker, key: str, unit: str, node: Node) -> DatedValue | None:
    note = reference = None
    value_node = node
    if isinstance(node, MappingNode):
        parts = dict((k.value, v) for k, v in (chk.mapping(node, key) or []))
        for k in parts:
            if k not in _VALUE_KEYS:
                chk.fail(node, f"{key}.{k}", f"未知的键，可用：{'、'.join(sorted(_VALUE_KEYS))}")
        if "value" not in parts:
            chk.fail(node, key, "缺少 value")
            return None
        value_node = parts["value"]
        note = chk.scalar(parts["note"], f"{key}.note") if "note" in parts else None
        reference = chk.scalar(parts["reference"], f"{key}.reference") if "reference" in parts else None
    text = chk.scalar(value_node, key)
    if text is None:
        return None
    if unit == "area":
        if text not in AREAS:
            chk.fail(value_node, key, f"“{text}”不是城乡类别，应为 urban 或 rural")
            return None
        return DatedValue(dt.date.min, text, note, reference)
    try:
        number = _number(text)
    except (InvalidOperation, ValueError):
        chk.fail(value_node, key, f"“{text}”不是数字，应只写数字、不带单位，如 778.00 或 0.30")
        return None
    if number < 0:
        chk.fail(value_node, key, f"“{text}”是负数，应为 0 或正数")
        return None
    if unit in ("count", "months", "years") and number != number.to_integral_value():
        chk.fail(value_node, key, f"“{text}”不是整数，数量、月数、年龄应为整数，如 0、6、12")
        return None
    if unit.startswith("yuan") and number != number.quantize(CENT):
        example = number.quantize(CENT, rounding=ROUND_HALF_UP)
        chk.fail(value_node, key, f"金额“{text}”超过两位小数，金额只能精确到分，如 {example}")
        return None
    return DatedValue(dt.date.min, number, note, reference)


def _yaml_message(exc: yaml.YAMLError) -> str:
    """A Chinese message for a YAML syntax error; PyYAML's own English wording in brackets."""
    problem = getattr(exc, "problem", None) or str(exc)
    message = f"YAML 语法错误（{problem}），请检查这一行及前几行的缩进（只用空格）、冒号和引号"
    context = getattr(exc, "context_mark", None)
    problem_mark = getattr(exc, "problem_mark", None)
    if context is not None and (problem_mark is None or context.line != problem_mark.line):
        message += f"；出错的内容从第{context.line + 1}行第{context.column + 1}列开始"
    return message


def _load_file(path: Path, catalog: DivisionCatalog) -> tuple[list[Parameter], list[Problem]]:
    chk = _Checker(path.name, catalog)
    try:
        root = yaml.compose(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        return [], [Problem(path.name, line, col, "(file)", _yaml_message(exc))]
    except UnicodeDecodeError:
        return [], [Problem(path.name, 1, 1, "(file)", "文件应为 UTF-8 编码")]
    if root is None:
        return [], [Problem(path.name, 1, 1, "(file)", "文件为空，应至少定义一个参数（不用的文件请删除）")]
    params = []
    for name_node, spec_node in chk.mapping(root, "") or []:
        param = _parse_parameter(chk, path.stem, name_node, spec_node)
        if param is not None:
            params.append(param)
    return params, chk.problems


@dataclass(frozen=True)
class ParameterSet:
    """All parameters of an installation; look values up for a division, area and date."""

    parameters: Mapping[str, Parameter]
    catalog: DivisionCatalog = field(repr=False)

    def __getitem__(self, name: str) -> Parameter:
        try:
            return self.parameters[name]
        except KeyError:
            raise KeyError(f"unknown parameter {name!r}") from None

    def _chain(self, division_code: str) -> list[str]:
        """The division and its ancestors up to the province, nearest first (county level at most)."""
        county = division_code[:6] if len(division_code) > 6 else division_code
        return [d.code for d in reversed(self.catalog.ancestors(county))]

    def resolve(self, name: str, division_code: str, area: str, on: dt.date) -> Resolved:
        """The value of ``name`` in force in a division (any level) for an area on a date."""
        param = self[name]
        key = area if param.by_area else "all"
        for code in self._chain(division_code):
            dated = param.values.get(code, {}).get(key, ())
            current = [v for v in dated if v.start <= on]
            if current:
                v = current[-1]
                return Resolved(
                    name=name,
                    value=v.value,
                    unit=param.unit,
                    division_code=code,
                    area=key,
                    start=v.start,
                    reference=v.reference or param.reference,
                    placeholder=param.placeholder,
                    note=v.note,
                    description=param.description,
                )
        raise LookupError(f"parameter {name} has no value for {division_code} ({key}) on {on.isoformat()}")

    def in_force(self, division_code: str, area: str, on: dt.date) -> list[Resolved]:
        """Every parameter in force for a division, area and date, in name order."""
        return [self.resolve(n, division_code, area, on) for n in sorted(self.parameters)]

    def table(self, on: dt.date, county_codes: Iterable[str] | None = None) -> pa.Table:
        """One row per (county, area) with a column per parameter (numeric as DECIMAL(18,4),
        ``area`` units as text): what batch formulas join to households."""
        counties = (
            sorted(county_codes)
            if county_codes is not None
            else sorted(d.code for d in self.catalog.counties())
        )
        rows: dict[str, list[Any]] = {"county_code": [], "area_type": []}
        names = sorted(self.parameters)
        for n in names:
            rows[self.parameters[n].column] = []
        for county in counties:
            for area in AREAS:
                rows["county_code"].append(county)
                rows["area_type"].append(area)
                for n in names:
                    value = self.resolve(n, county, area, on).value
                    rows[self.parameters[n].column].append(
                        value.quantize(FOUR_PLACES) if isinstance(value, Decimal) else value
                    )
        schema = pa.schema(
            [("county_code", pa.string()), ("area_type", pa.string())]
            + [
                (self.parameters[n].column, pa.string() if self.parameters[n].unit == "area" else NUMERIC)
                for n in names
            ]
        )
        return pa.table(rows, schema=schema)

    def with_change(
        self,
        name: str,
        *,
        start: dt.date,
        area: str | None = None,
        scale: Decimal | None = None,
        set_to: Decimal | None = None,
        divisions: Iterable[str] | None = None,
    ) -> ParameterSet:
        """A copy in which ``name`` changes from ``start``: every division that sets the
        parameter (or those listed) gets a new dated value — the value in force on ``start``
        times ``scale`` (money rounded half up to the fen), or ``set_to``."""
        param = self[name]
        if (scale is None) == (set_to is None):
            raise ValueError("give exactly one of scale and set_to")
        areas = [area] if area and param.by_area else (list(AREAS) if param.by_area else ["all"])
        targets = list(divisions) if divisions is not None else list(param.values)
        new_values = {code: dict(by_area) for code, by_area in param.values.items()}
        for code in targets:
            for a in areas:
                current = self.resolve(name, code, a if a != "all" else "urban", start).value
                assert isinstance(current, Decimal), f"{name} is not numeric"
                value = set_to if set_to is not None else current * (scale or Decimal(1))
                places = CENT if param.unit.startswith("yuan") else FOUR_PLACES
                value = value.quantize(places, rounding=ROUND_HALF_UP)
                kept = tuple(v for v in new_values.get(code, {}).get(a, ()) if v.start < start)
                new_values.setdefault(code, {})[a] = (*kept, DatedValue(start, value, note="测算方案"))
        changed = replace(param, values=new_values)
        return replace(self, parameters={**self.parameters, name: changed})


def load_parameters(directory: Path | None = None, catalog: DivisionCatalog | None = None) -> ParameterSet:
    """Read and check every ``*.yaml`` in ``directory``; raise :class:`ParameterError` listing all problems."""
    directory = directory or DEFAULT_DIR
    catalog = catalog or get_catalog()
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise ParameterError([Problem(str(directory), 1, 1, "(directory)", "目录中没有参数文件（*.yaml）")])
    params: dict[str, Parameter] = {}
    problems: list[Problem] = []
    for path in files:
        found, file_problems = _load_file(path, catalog)
        problems.extend(file_problems)
        for p in found:
            if p.name in params:
                problems.append(
                    Problem(path.name, 1, 1, p.name, f"参数与 {params[p.name].file} 中的同名参数重复")
                )
            params[p.name] = p
    if problems:
        raise ParameterError(problems)
    return ParameterSet(params, catalog)


@lru_cache(maxsize=1)
def default_parameters() -> ParameterSet:
    """The shipped parameters (cached)."""
    return load_parameters()
