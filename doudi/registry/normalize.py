"""Roster rows (text as read from a file) → typed registry rows, column by column.

Each check works on a whole column at once; values are mapped per distinct value, so a
million-row roster costs about as much as its distinct values. Every problem is recorded
as (row index, column, Chinese reason); a row with any problem is rejected whole.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from doudi import ids
from doudi.divisions import DivisionCatalog, DivisionError, Level
from doudi.registry import codes
from doudi.registry.codes import FIELD_LABELS
from doudi.registry.schema import MONEY

INCOME_FIELDS = {
    "wage_income": "wage",
    "business_income": "business",
    "property_income": "property",
    "transfer_income": "transfer",
    "monthly_income": "unclassified",
}
PROPERTY_FIELDS = ("vehicles", "extra_housing", "business_registered", "deposits")


@dataclass
class Problems:
    """Problems found so far: parallel lists of row index, field and reason."""

    rows: list[np.ndarray] = field(default_factory=list)
    fields: list[str] = field(default_factory=list)
    reasons: list[np.ndarray] = field(default_factory=list)

    def add(self, mask: np.ndarray, field_name: str, reason: str | np.ndarray) -> None:
        idx = np.flatnonzero(mask)
        if len(idx) == 0:
            return
        self.rows.append(idx)
        self.fields.append(field_name)
        if isinstance(reason, str):
            self.reasons.append(np.full(len(idx), reason, dtype=object))
        else:
            self.reasons.append(np.asarray(reason, dtype=object)[idx] if len(reason) != len(idx) else reason)

    def rejected_mask(self, n: int) -> np.ndarray:
        mask = np.zeros(n, dtype=bool)
        for idx in self.rows:
            mask[idx] = True
        return mask

    def table(self) -> pa.Table:
        """One line per rejected row: index, the fields at fault, the reasons joined."""
        if not self.rows:
            return pa.table(
                {
                    "_index": pa.array([], pa.int64()),
                    "column": pa.array([], pa.string()),
                    "reason": pa.array([], pa.string()),
                }
            )
        idx = np.concatenate(self.rows)
        cols = np.concatenate(
            [
                np.full(len(r), FIELD_LABELS.get(f, f), dtype=object)
                for r, f in zip(self.rows, self.fields, strict=True)
            ]
        )
        reasons = np.concatenate(self.reasons)
        order = np.argsort(idx, kind="stable")
        idx, cols, reasons = idx[order], cols[order], reasons[order]
        uniq, starts = np.unique(idx, return_index=True)
        bounds = [*starts[1:], len(idx)]
        col_out = ["、".join(dict.fromkeys(cols[s:e])) for s, e in zip(starts, bounds, strict=True)]
        reason_out = ["；".join(dict.fromkeys(reasons[s:e])) for s, e in zip(starts, bounds, strict=True)]
        return pa.table({"_index": pa.array(uniq, pa.int64()), "column": col_out, "reason": reason_out})


def _text(table: pa.Table, name: str) -> pa.Array:
    if name not in table.column_names:
        return pa.nulls(table.num_rows, pa.string())
    col = table.column(name)
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if not pa.types.is_string(arr.type):
        arr = pc.cast(arr, pa.string())
    trimmed = pc.utf8_trim_whitespace(arr)
    return pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)


def _map_unique(
    arr: pa.Array, fn: Callable[[str], Any], out_type: pa.DataType
) -> tuple[pa.Array, np.ndarray]:
    """Apply ``fn`` to each distinct non-null value; ``fn`` returns a value or raises ValueError.

    Returns the mapped array (null where input null or invalid) and a bool mask of invalid rows.
    """
    uniques = pc.unique(arr).drop_null()
    values: list[Any] = []
    bad: list[bool] = []
    for u in uniques.to_pylist():
        try:
            values.append(fn(u))
            bad.append(False)
        except ValueError:
            values.append(None)
            bad.append(True)
    index = pc.index_in(arr, value_set=uniques)
    mapped = pa.array(values, type=out_type).take(index)
    bad_arr = pa.array(bad, type=pa.bool_()).take(index)
    invalid = np.asarray(pc.fill_null(bad_arr, False).to_numpy(zero_copy_only=False), dtype=bool)
    return mapped, invalid


def _lookup(mapping: Mapping[str, Any], *, codes_ok: frozenset[str] = frozenset()) -> Callable[[str], Any]:
    folded = {_fold(k): v for k, v in mapping.items()}

    def fn(value: str) -> Any:
        if value in codes_ok:
            return value
        key = _fold(value)
        if key in folded:
            return folded[key]
        raise ValueError(value)

    return fn


def _fold(text: str) -> str:
    return re.sub(r"\s+", "", text).replace("（", "(").replace("）", ")").lower()


def parse_money(text: str) -> Decimal:
    """Yuan amounts as written in rosters: ``1,234.5``, ``１２３``, ``800元``.

    Examples:
        >>> parse_money("1,234.5"), parse_money("800元")
        (Decimal('1234.50'), Decimal('800.00'))
    """
    cleaned = ids.normalise_citizen_id(text).replace(",", "").replace("，", "").removesuffix("元")
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError(text) from None
    if not amount.is_finite() or abs(amount) >= Decimal("1e11"):
        raise ValueError(text)
    return amount.quantize(Decimal("0.01"))


_DATE_PATTERNS = (
    re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:\s+\d{1,2}:\d{2}(?::\d{2})?)?$"),
    re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
)


def parse_date(text: str) -> dt.date:
    """Dates as rosters write them: 2024-03-01, 2024/3/1, 2024年3月1日, 20240301.

    Examples:
        >>> parse_date("2024年3月1日"), parse_date("2024-03-01 00:00:00")
        (datetime.date(2024, 3, 1), datetime.date(2024, 3, 1))
    """
    text = text.strip()
    for pattern in _DATE_PATTERNS:
        m = pattern.match(text)
        if m:
            return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    raise ValueError(text)


def _categories(text: str) -> str:
    parts = [p for p in re.split(r"[、,，;；/|\s]+", text) if p]
    found = []
    for p in parts:
        if p in codes.CATEGORIES:
            found.append(p)
        elif _fold(p) in _CATEGORY_FOLDED:
            found.append(_CATEGORY_FOLDED[_fold(p)])
        else:
            raise ValueError(text)
    return ",".join(sorted(set(found)))


_CATEGORY_FOLDED = {_fold(k): v for k, v in codes.CATEGORY_ALIASES.items()}


def _yes_no(text: str) -> bool:
    t = _fold(text)
    if t in codes.YES_ALIASES:
        return True
    if t in codes.NO_ALIASES:
        return False
    raise ValueError(text)


def _small_int(lo: int, hi: int) -> Callable[[str], int]:
    def fn(text: str) -> int:
        t = ids.normalise_citizen_id(text).removesuffix(".0").removesuffix("项")
        if not t.isdigit() or not lo <= int(t) <= hi:
            raise ValueError(text)
        return int(t)

    return fn


def _count(text: str) -> Decimal:
    amount = parse_money(text)
    if amount != amount.to_integral_value():
        raise ValueError(text)
    return amount


@dataclass
class Normalised:
    """Typed rows (``table``, one per input row, in input order) and the problems found."""

    table: pa.Table
    problems: Problems
    new_villages: dict[str, tuple[str, str]]  # code → (name, area_type) of villages first seen here


def normalise_roster(raw: pa.Table, catalog: DivisionCatalog, *, as_of: dt.date) -> Normalised:
    """Validate and type every column of a roster table of text.

    ``raw`` has the canonical field names of ``roster_headers.yaml`` (missing ones allowed),
    all strings. Problems found in one row never stop the others.
    """
    n = raw.num_rows
    p = Problems()
    out: dict[str, pa.Array] = {}

    # Identity --------------------------------------------------------------------------
    raw_ids = _text(raw, "citizen_id")
    norm_ids, reasons = ids.validate_citizen_id_column(pc.fill_null(raw_ids, ""))
    bad = reasons != ids.OK
    if bad.any():
        reason_text = np.array([ids.REASONS[int(r)] for r in range(max(ids.REASONS) + 1)], dtype=object)
        p.add(bad, "citizen_id", reason_text[reasons[bad]])
    bad_arr = pa.array(bad)
    out["citizen_id"] = pc.if_else(bad_arr, "", norm_ids)
    # Birth date and sex come from the ID; rejected rows get a placeholder never stored.
    safe_ids = pc.if_else(bad_arr, "11010519491231002X", norm_ids)
    out["birth_date"] = pa.array(ids.birth_dates_of(safe_ids), pa.date32())
    out["sex"] = pa.array(ids.sexes_of(safe_ids), pa.string())

    name = _text(raw, "name")
    p.add(np.asarray(pc.is_null(name).to_numpy(zero_copy_only=False), dtype=bool), "name", "姓名为空")
    out["name"] = name

    household_no = _text(raw, "household_no")
    p.add(
        np.asarray(pc.is_null(household_no).to_numpy(zero_copy_only=False), dtype=bool),
        "household_no",
        "户编号为空，无法确定所属家庭",
    )
    out["household_no"] = household_no

    relation_raw = _text(raw, "relation")
    relation, bad_rel = _map_unique(
        relation_raw, _lookup(codes.RELATION_ALIASES, codes_ok=frozenset(codes.RELATIONS)), pa.string()
    )
    p.add(
        np.asarray(pc.is_null(relation_raw).to_numpy(zero_copy_only=False), dtype=bool),
        "relation",
        "与户主关系为空",
    )
    p.add(bad_rel, "relation", "与户主关系无法识别，应为户主、配偶、子女、父母、孙子女、兄弟姐妹或其他")
    out["relation"] = relation

    # Division --------------------------------------------------------------------------
    division, bad_div, reasons_div, new_villages = _resolve_divisions(raw, catalog)
    p.add(bad_div, "division_code", reasons_div)
    out["division_code"] = division

    area_raw = _text(raw, "area_type")
    area, bad_area = _map_unique(area_raw, _lookup(codes.AREA_TYPE_ALIASES), pa.string())
    p.add(bad_area, "area_type", "城乡类别应为“城市”或“农村”")

    def area_of(code: str) -> str:
        division = catalog.get(code)
        if division is not None:
            return division.area_type
        return new_villages.get(code, ("", "rural"))[1]

    div_area = _map_unique(pc.fill_null(division, ""), area_of, pa.string())[0]
    out["area_type"] = pc.coalesce(area, div_area)
    out["address"] = _text(raw, "address")

    # Household category ----------------------------------------------------------------
    cat_raw = _text(raw, "category")
    category, bad_cat = _map_unique(cat_raw, _categories, pa.string())
    p.add(bad_cat, "category", "人员类别无法识别，应为低保、特困、低保边缘、刚性支出困难、防返贫监测或其他")
    out["category"] = category
    start, bad_start = _map_unique(_text(raw, "category_start"), parse_date, pa.date32())
    p.add(bad_start, "category_start", "纳入日期无法识别，应写作2024-03-01")
    future = np.asarray(
        pc.fill_null(pc.greater(start, pa.scalar(as_of, pa.date32())), False).to_numpy(zero_copy_only=False),
        dtype=bool,
    )
    p.add(future, "category_start", f"纳入日期晚于导入生效日期{as_of.isoformat()}")
    out["category_start"] = start

    # Person attributes -----------------------------------------------------------------
    kind_raw = _text(raw, "disability_kind")
    kind, bad_kind = _map_unique(
        kind_raw,
        _lookup(codes.DISABILITY_KIND_ALIASES, codes_ok=frozenset(codes.DISABILITY_KINDS)),
        pa.string(),
    )
    p.add(bad_kind, "disability_kind", "残疾类别应为视力、听力、言语、肢体、智力、精神或多重")
    grade, bad_grade = _map_unique(
        _text(raw, "disability_grade"), _lookup(codes.DISABILITY_GRADE_ALIASES), pa.int8()
    )
    p.add(bad_grade, "disability_grade", "残疾等级应为一级至四级（1–4）")
    grade_np = np.asarray(pc.is_valid(grade).to_numpy(zero_copy_only=False), dtype=bool)
    kind_np = np.asarray(pc.is_valid(kind).to_numpy(zero_copy_only=False), dtype=bool)
    p.add(grade_np & ~kind_np & ~bad_kind, "disability_kind", "填写了残疾等级但未填写残疾类别")
    out["disability_kind"] = kind
    out["disability_grade"] = grade

    failed, bad_failed = _map_unique(_text(raw, "self_care_failed_items"), _small_int(0, 6), pa.int8())
    p.add(bad_failed, "self_care_failed_items", "生活自理能力评估未通过项数应为0–6的整数")
    out["self_care_failed_items"] = pc.fill_null(failed, 0)

    ill, bad_ill = _map_unique(_text(raw, "serious_illness"), _yes_no, pa.bool_())
    p.add(bad_ill, "serious_illness", "是否重病应填“是”或“否”")
    out["serious_illness"] = pc.fill_null(ill, False)

    school, bad_school = _map_unique(
        _text(raw, "schooling"),
        _lookup(codes.SCHOOLING_ALIASES, codes_ok=frozenset(codes.SCHOOLING)),
        pa.string(),
    )
    p.add(bad_school, "schooling", "就学情况无法识别，应为非在校、学前、义务教育、普通高中、中职或大专及以上")
    out["schooling"] = pc.fill_null(school, "none")

    emp, bad_emp = _map_unique(
        _text(raw, "employment"),
        _lookup(codes.EMPLOYMENT_ALIASES, codes_ok=frozenset(codes.EMPLOYMENT)),
        pa.string(),
    )
    p.add(bad_emp, "employment", "就业情况无法识别")
    out["employment"] = emp

    # Money -----------------------------------------------------------------------------
    for fname in INCOME_FIELDS:
        amount, bad_amount = _map_unique(_text(raw, fname), parse_money, MONEY)
        p.add(bad_amount, fname, f"{FIELD_LABELS[fname]}不是有效金额（元）")
        negative = np.asarray(
            pc.fill_null(pc.less(amount, pa.scalar(Decimal(0), MONEY)), False).to_numpy(zero_copy_only=False),
            dtype=bool,
        )
        p.add(negative, fname, f"{FIELD_LABELS[fname]}不能为负数")
        out[fname] = pc.fill_null(amount, pa.scalar(Decimal(0), MONEY))
    for fname in PROPERTY_FIELDS:
        parse = parse_money if fname == "deposits" else _count
        amount, bad_amount = _map_unique(_text(raw, fname), parse, MONEY)
        label = FIELD_LABELS[fname]
        p.add(bad_amount, fname, f"{label}应为{'金额（元）' if fname == 'deposits' else '非负整数'}")
        negative = np.asarray(
            pc.fill_null(pc.less(amount, pa.scalar(Decimal(0), MONEY)), False).to_numpy(zero_copy_only=False),
            dtype=bool,
        )
        p.add(negative, fname, f"{label}不能为负数")
        out[fname] = amount

    out["_row"] = (
        raw.column("_row") if "_row" in raw.column_names else pa.array(np.arange(2, n + 2), pa.int32())
    )
    out["_sheet"] = raw.column("_sheet") if "_sheet" in raw.column_names else pa.array([""] * n, pa.string())
    return Normalised(pa.table(out), p, new_villages)


def _resolve_divisions(
    raw: pa.Table, catalog: DivisionCatalog
) -> tuple[pa.Array, np.ndarray, np.ndarray, dict[str, tuple[str, str]]]:
    """Division of each row: a 12-digit code, or county/township/village names.

    A 12-digit code under a known township adds the village to the catalogue (rosters may
    bring their own villages). A township code from the statistics bureau's list (which
    differs from the Ministry's) is mapped by the township name when one is given.
    """
    code_col = _text(raw, "division_code")
    county_col = _text(raw, "county_name")
    town_col = _text(raw, "township_name")
    village_col = _text(raw, "village_name")
    keys = pc.binary_join_element_wise(
        pc.fill_null(code_col, ""),
        pc.fill_null(county_col, ""),
        pc.fill_null(town_col, ""),
        pc.fill_null(village_col, ""),
        "\x1f",
    )
    new_villages: dict[str, tuple[str, str]] = {}
    county_by_name = {d.name: d.code for d in catalog.counties()}
    towns_by_name: dict[str, list[str]] = {}
    for t in catalog.townships():
        towns_by_name.setdefault(t.name, []).append(t.code)

    def resolve(key: str) -> str:
        code, county, town, village = key.split("\x1f")
        code = ids.normalise_citizen_id(code).removesuffix(".0")
        if code:
            try:
                division = catalog.require(code)
            except DivisionError as exc:
                if len(code) == 12 and code.isdigit():
                    return _village_under(code, town, village, exc)
                raise ValueError(exc.reason) from None
            if division.level is not Level.VILLAGE:
                raise ValueError(
                    f"行政区划代码{code}是{_LEVEL_NAMES[division.level]}，应填写12位村（社区）代码"
                )
            return code
        if not town or not village:
            raise ValueError("缺少行政区划：请填写12位行政区划代码，或乡镇（街道）和村（社区）名称")
        county_code = county_by_name.get(county) if county else None
        if county and county_code is None:
            raise ValueError(f"县（市、区）“{county}”不在本省行政区划目录中")
        candidates = [
            c for c in towns_by_name.get(town, []) if county_code is None or c.startswith(county_code)
        ]
        if not candidates:
            raise ValueError(f"乡镇（街道）“{town}”不在{county or '本省'}的行政区划目录中")
        if len(candidates) > 1:
            raise ValueError(f"乡镇（街道）“{town}”在本省有重名，请同时填写县（市、区）")
        matches = [d.code for d in catalog.children(candidates[0]) if d.name == village]
        if not matches:
            raise ValueError(f"村（社区）“{village}”不在“{town}”的行政区划目录中，请填写12位行政区划代码")
        return matches[0]

    def _village_under(code: str, town: str, village: str, exc: DivisionError) -> str:
        township = catalog.get(code[:9])
        if township is None and town:
            mapped = catalog.township_by_name(code[:6], town)
            if mapped is not None:
                township = mapped
                code = mapped.code + code[9:]
                if code in catalog:
                    return code
        if township is None:
            raise ValueError(exc.reason) from None
        area = (
            "urban"
            if (village.endswith("社区") or (not village and township.area_type == "urban"))
            else "rural"
        )
        new_villages.setdefault(code, (village or f"{township.name}{code[9:]}", area))
        return code

    capture = _Capture()
    resolved, invalid = _map_unique(keys, capture(resolve), pa.string())
    reasons = capture.last_reasons(keys)
    return resolved, invalid, reasons, new_villages


_LEVEL_NAMES = {
    Level.PROVINCE: "省级",
    Level.PREFECTURE: "市（州）级",
    Level.COUNTY: "县级",
    Level.TOWNSHIP: "乡镇级",
    Level.VILLAGE: "村级",
}


class _Capture:
    """Wraps a resolver so the reason of each failed distinct value can be looked up afterwards."""

    def __init__(self) -> None:
        self.reasons: dict[str, str] = {}

    def __call__(self, fn: Callable[[str], str]) -> Callable[[str], str]:
        self.reasons = {}

        def wrapped(key: str) -> str:
            try:
                return fn(key)
            except ValueError as exc:
                self.reasons[key] = str(exc)
                raise

        return wrapped

    def last_reasons(self, keys: pa.Array) -> np.ndarray:
        if not self.reasons:
            return np.full(len(keys), "", dtype=object)
        lookup = np.array([*list(self.reasons.values()), ""], dtype=object)
        index = pc.fill_null(
            pc.index_in(keys, value_set=pa.array(list(self.reasons), pa.string())), len(self.reasons)
        )
        return lookup[np.asarray(index.to_numpy(zero_copy_only=False))]
