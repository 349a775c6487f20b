"""How parameter values read to a civil-affairs user (units, areas), for the CLI and the web."""

from __future__ import annotations

from decimal import Decimal

from doudi.programs.parameters import CENT, UNITS

AREA_ZH = {"urban": "城市", "rural": "农村", "all": "不分城乡"}
# How a value of each unit reads after the number; units not listed fall back to UNITS.
_UNIT_SUFFIX = {
    "yuan_per_month": " 元/月",
    "yuan_per_year": " 元/年",
    "ratio_of_standard": " × 月低保标准",
    "multiple_of_standard": " × 月低保标准",
    "months_of_standard": " 个月的月低保标准",
    "count": " 个",
    "months": " 个月",
    "years": " 岁",
}


def format_value(value: Decimal | str, unit: str) -> str:
    """A parameter value with its unit, as a civil-affairs user reads it.

    Examples:
        >>> format_value(Decimal("778"), "yuan_per_month"), format_value(Decimal("6"), "months")
        ('778.00 元/月', '6 个月')
        >>> format_value(Decimal("0.60"), "ratio"), format_value(Decimal("1.30"), "multiple_of_standard")
        ('0.60（60%）', '1.30 × 月低保标准')
        >>> format_value("urban", "area")
        '城市'
    """
    if isinstance(value, str):
        return AREA_ZH.get(value, value)
    if unit.startswith("yuan"):
        value = value.quantize(CENT)
    if unit == "ratio":
        percent = f"{value * 100:f}"
        if "." in percent:
            percent = percent.rstrip("0").rstrip(".")
        return f"{value}（{percent}%）"
    return f"{value}{_UNIT_SUFFIX.get(unit, ' ' + UNITS.get(unit, unit))}"
