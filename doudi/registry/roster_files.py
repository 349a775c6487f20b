"""Reading the rosters (花名册) that counties really keep: CSV and XLSX, as they come.

A county's roster is rarely a clean table. It has a title row or two above the header
("南明区城乡低保对象花名册（2025年10月）", "填报单位：…"), header cells with line breaks,
full-width brackets and units ("月收入（元）"), cells a household shares merged vertically
(户编号, 家庭住址), ID numbers that Excel stored as numbers, a 合计 row at the bottom, and it
arrives in UTF-8, UTF-8 with BOM, GBK or GB18030. :func:`read_roster` turns such a file into
one Arrow table of strings with the row number each value came from, and says what it
skipped and which headers it did not recognise. It does not validate values: that is the
import's job, and it needs the raw texts (a mangled ``5.20102E+17`` must reach it unchanged).

What the table holds:

- one column per recognised field (``household_no``, ``name``, ``citizen_id``, …; see
  ``data/roster_headers.yaml``), every value a trimmed string or null for an empty cell;
- ``_sheet``: the worksheet name ("" for CSV);
- ``_row``: the 1-based row number the user sees in Excel (or WPS). For a CSV file this is
  the record number counting the title and header lines, which is the line number whenever
  no field holds a line break; when one does (an address typed with Alt+Enter), Excel still
  shows the record on one row, and so do we.

Conversions made while reading:

- XLSX numbers: an integer cell gives its digits (an ID stored as the integer
  520102198001011235 gives "520102198001011235"); a float that is a whole number below 10^15
  gives its digits ("1500"); a float of 10^15 or more cannot hold 18 exact digits, so it
  gives what Excel's General format shows ("5.20102E+17") and the digits are never
  reconstructed; other floats give at most 15 significant digits, as Excel does.
- XLSX dates give ISO text ("2024-03-01", or "2024-03-01 08:30:00" with a time).
- Merged ranges: every cell of a range gets the range's value (a household's 户编号 merged
  over its members' rows fills each member's row). In the header rows only the first
  column of a range carries the header text, so a header merged across two columns maps once.
- Numeric fields (incomes, deposits, counts): thousands separators are removed
  ("1,200.50" → "1200.50") and full-width digits folded; nothing else is changed.

Rows that are entirely empty are dropped and not reported. Totals rows (合计/总计/小计/共计),
signature lines under the table (填表人：…) and rows with content only in unrecognised columns
(a pre-numbered 序号) are dropped and listed in :attr:`RosterFile.skipped` with a reason.

Performance: a CSV file without irregular records is read by ``pyarrow.csv`` in one pass
(1.5–2.5 s for a million rows of 25 columns, UTF-8 or GBK, on two cores) and ``_row`` is
computed arithmetically (or, when the file has blank lines, from their positions). A file
whose records do not match its lines otherwise (line breaks inside quoted fields, rows with a
different number of fields) is detected by comparing the record count with the line count,
and re-read with Python's csv module, which is slower (about 6 s per million rows) but
numbers every record exactly. XLSX files are read with openpyxl in read-only
mode (15–20 s for 100,000 rows of 25 columns); merged ranges, which read-only mode does not
expose, are taken from the sheet XML.

Examples:
    >>> normalise_header(" 月收入\\n（元） ")
    '月收入(元)'
    >>> load_header_map().field_of("公民身份\\n号码"), load_header_map().field_of("月收入（元）")
    ('citizen_id', 'monthly_income')
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import re
import unicodedata
import warnings
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import yaml
from openpyxl.utils.cell import get_column_letter, range_boundaries

from doudi.errors import UserFacingError

log = logging.getLogger(__name__)

#: The header must be among this many rows from the top of a sheet or file.
HEADER_SEARCH_ROWS = 30
#: A row is the header when its cells name at least this many known fields.
MIN_HEADER_MATCHES = 3
#: Fields every roster must have.
REQUIRED_FIELDS: tuple[str, ...] = ("household_no", "name", "citizen_id", "relation")
#: The division of a household: a code, or the township and village names.
DIVISION_FIELD_SETS: tuple[tuple[str, ...], ...] = (("division_code",), ("township_name", "village_name"))
#: Fields whose values are numbers: thousands separators are removed from them.
NUMERIC_FIELDS = frozenset(
    {
        "wage_income",
        "business_income",
        "property_income",
        "transfer_income",
        "monthly_income",
        "vehicles",
        "extra_housing",
        "business_registered",
        "deposits",
        "self_care_failed_items",
    }
)

CSV_SUFFIXES = frozenset({".csv"})
XLSX_SUFFIXES = frozenset({".xlsx", ".xlsm"})

#: Reasons given in :attr:`RosterFile.skipped` (shown to users).
SKIP_TOTALS = "合计行，不是家庭成员，已跳过"
SKIP_FOOTER = "表格下方的签字或说明行，已跳过"
SKIP_NO_FIELDS = "该行只有未识别列（如“序号”）的内容，没有可导入的信息，已跳过"

_HEADERS_RESOURCE = ("data", "roster_headers.yaml")
_FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
# A trailing unit or note in brackets, after NFKC folded full-width brackets to ASCII.
_UNIT_SUFFIX = re.compile(r"(?:\([^()]*\)|\[[^\[\]]*\]|【[^【】]*】|〔[^〔〕]*〕)$")
_HEADER_MARKS = "*※★☆#:"
_TOTALS = re.compile(r"^(合计|总计|小计|共计)")
_FOOTER = re.compile(
    r"^(填表人|填报人|制表人|审核人|审批人|负责人|单位负责人|经办人|联系电话|填表日期|填报日期|制表日期)"
)
_THOUSANDS = r"^[+-]?[0-9]{1,3}(,[0-9]{3})+(\.[0-9]*)?$"
_HEAD_DELIMITERS = (",", "\t", ";")
_XLS_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP_MAGIC = b"PK\x03\x04"
_MERGE_REF = re.compile(rb'<(?:[A-Za-z_][\w.-]*:)?mergeCell\s[^>]*?\bref="([A-Za-z]+[0-9]+:[A-Za-z]+[0-9]+)"')
_EXCEL_DIGITS = 10**15  # beyond this a double cannot hold every digit Excel shows


# --- errors and results -------------------------------------------------------------------


class RosterFileError(UserFacingError):
    """A roster file that cannot be read as a roster.

    ``str()`` is an English sentence for logs; ``message_zh`` one Chinese sentence for the
    user; ``code`` a stable machine code (``file_missing``, ``unsupported_type``,
    ``unreadable``, ``empty``, ``no_header``, ``missing_columns``, ``duplicate_columns``,
    ``bad_headers_file``); ``details`` optional further lines for the user (Chinese).
    """


class SkippedRow(NamedTuple):
    """A non-empty row that was not read as a person, with the reason (Chinese)."""

    sheet: str
    row: int
    reason: str


@dataclass(frozen=True)
class SheetInfo:
    """What was found on one sheet (one entry for a CSV file, with ``name`` "")."""

    name: str
    header_row: int
    mapping: dict[str, str]
    unmapped_headers: list[str]
    rows: int


@dataclass
class RosterFile:
    """A roster read from a file; see the module documentation for the table's shape.

    - ``encoding``: ``utf-8``, ``utf-8-sig``, ``gb18030`` (also for GBK files: a superset),
      ``utf-16`` (Excel's "Unicode text") or ``xlsx``.
    - ``header_row``, ``mapping`` (field → header as written), ``unmapped_headers``: for a
      workbook, the header row of the first sheet read, and the mappings and unrecognised
      headers of all sheets read (first sheet first); per sheet in ``sheets``.
    - ``skipped``: totals, signature and serial-only rows, as (sheet, row, reason).
    - ``ignored_sheets``: sheets with content but no recognisable header (empty sheets are
      not listed). Hidden sheets are read like the others.
    """

    path: Path
    table: pa.Table
    encoding: str
    header_row: int
    mapping: dict[str, str]
    unmapped_headers: list[str]
    skipped: list[SkippedRow]
    sheets: list[SheetInfo] = field(default_factory=list)
    ignored_sheets: list[str] = field(default_factory=list)

    @property
    def warnings(self) -> list[str]:
        """Things the user should know that did not stop the reading (Chinese)."""
        out: list[str] = []
        if self.unmapped_headers:
            out.append("以下列的表头未能识别，其内容不会导入：" + "、".join(self.unmapped_headers))
        if self.ignored_sheets:
            out.append("以下工作表没有找到表头，已忽略：" + "、".join(self.ignored_sheets))
        return out


# --- headers ------------------------------------------------------------------------------


def normalise_header(text: object) -> str:
    """A header cell as compared with the known headers: NFKC (full-width → half-width),
    no whitespace at all, lower case, no required-field marks (``*姓名``) or trailing colon.

    Examples:
        >>> normalise_header("＊姓　名：")
        '姓名'
    """
    if text is None:
        return ""
    folded = unicodedata.normalize("NFKC", str(text))
    return "".join(folded.split()).lower().strip(_HEADER_MARKS)


@dataclass(frozen=True)
class HeaderMap:
    """Canonical fields and the headers that name them."""

    aliases: dict[str, tuple[str, ...]]
    by_key: dict[str, str]

    def field_of(self, header: object) -> str | None:
        """The field a header cell names, or None. A trailing bracketed unit is ignored
        when the full text is not itself a known header ("村（社区）" is; "月收入（元）" is not)."""
        key = normalise_header(header)
        if not key:
            return None
        found = self.by_key.get(key)
        if found is None:
            stripped = _UNIT_SUFFIX.sub("", key)
            if stripped != key:
                found = self.by_key.get(stripped)
        return found

    def label(self, name: str) -> str:
        """The Chinese header shown for a field (its first alias), or the name itself."""
        names = self.aliases.get(name)
        return names[0] if names else name

    def extended(self, extra: Mapping[str, Sequence[str]], source: str) -> HeaderMap:
        aliases = dict(self.aliases)
        by_key = dict(self.by_key)
        for name, headers in extra.items():
            for header in headers:
                key = normalise_header(header)
                if not key:
                    continue
                owner = by_key.get(key)
                if owner is not None and owner != name:
                    raise _bad_headers(
                        source,
                        f"header {header!r} is already used for field {owner!r}",
                        f"表头“{header}”已用于“{self.label(owner)}”（{owner}），不能再用于{name}",
                    )
                by_key[key] = name
            known = aliases.get(name, ())
            aliases[name] = known + tuple(h for h in headers if h not in known)
        return HeaderMap(aliases, by_key)


def _bad_headers(source: str, message: str, message_zh: str) -> RosterFileError:
    return RosterFileError(
        "bad_headers_file",
        f"headers file {source}: {message}",
        f"表头配置文件“{source}”格式不正确：{message_zh}。",
    )


def _parse_headers_yaml(text: str, source: str) -> dict[str, list[str]]:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise _bad_headers(source, f"not valid YAML ({exc})", "不是有效的YAML文件") from exc
    fields = doc.get("fields") if isinstance(doc, dict) else None
    if not isinstance(fields, dict):
        raise _bad_headers(source, "needs a top-level 'fields:' mapping", "缺少顶层的“fields:”")
    out: dict[str, list[str]] = {}
    for name, headers in fields.items():
        if not isinstance(name, str) or not _FIELD_NAME.match(name):
            raise _bad_headers(
                source,
                f"field name {name!r} must be lower-case letters, digits and _",
                f"字段名“{name}”只能由小写英文字母、数字和下划线组成",
            )
        if not isinstance(headers, list) or not all(isinstance(h, str | int) for h in headers):
            raise _bad_headers(
                source,
                f"field {name!r} needs a list of headers",
                f"字段“{name}”后面应是表头列表，如 [身份证号, 证件号码]",
            )
        out[name] = [str(h) for h in headers]
    return out


@lru_cache(maxsize=1)
def _base_header_map() -> HeaderMap:
    text = resources.files("doudi.registry").joinpath(*_HEADERS_RESOURCE).read_text(encoding="utf-8")
    return HeaderMap({}, {}).extended(_parse_headers_yaml(text, "roster_headers.yaml"), "roster_headers.yaml")


def load_header_map(extra_headers: Path | None = None) -> HeaderMap:
    """The bundled header list, extended by a user's YAML file of the same layout."""
    base = _base_header_map()
    if extra_headers is None:
        return base
    try:
        text = Path(extra_headers).read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise RosterFileError(
            "bad_headers_file",
            f"headers file {extra_headers} not found",
            f"找不到表头配置文件“{Path(extra_headers).name}”。",
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise _bad_headers(
            Path(extra_headers).name, f"unreadable ({exc})", "无法读取（应为UTF-8编码的YAML文件）"
        ) from exc
    return base.extended(_parse_headers_yaml(text, Path(extra_headers).name), Path(extra_headers).name)


@dataclass
class _Header:
    """The header found on a sheet: per column, the field and the original text."""

    row: int
    last_row: int
    fields: list[str | None]
    texts: list[str]

    def mapping(self) -> dict[str, str]:
        return {f: self.texts[i] for i, f in enumerate(self.fields) if f is not None}

    def unmapped(self) -> list[str]:
        return [t for f, t in zip(self.fields, self.texts, strict=True) if f is None and t]


def _find_header(rows: Sequence[tuple[int, list[str]]], headers: HeaderMap) -> _Header | None:
    """The first row (of the first 30) naming at least 3 known fields, joined with the row
    below it when that row is a second header level (each of its cells repeats the cell
    above, as a vertically merged header does, or is itself a known header)."""
    for pos, (row_no, cells) in enumerate(rows):
        if row_no > HEADER_SEARCH_ROWS:
            break
        fields = [headers.field_of(c) for c in cells]
        if len({f for f in fields if f is not None}) < MIN_HEADER_MATCHES:
            continue
        header = _Header(row_no, row_no, fields, [c.strip() for c in cells])
        if pos + 1 < len(rows) and rows[pos + 1][0] == row_no + 1:
            _join_second_level(header, rows[pos + 1][1], headers)
        return header
    return None


def _join_second_level(header: _Header, below: list[str], headers: HeaderMap) -> None:
    width = max(len(header.texts), len(below))
    top = header.texts + [""] * (width - len(header.texts))
    sub = [c.strip() for c in below] + [""] * (width - len(below))
    sub_fields = [headers.field_of(c) for c in sub]
    filled = [i for i, c in enumerate(sub) if c]
    if not filled or not all(sub[i] == top[i] or sub_fields[i] is not None for i in filled):
        return
    fields = header.fields + [None] * (width - len(header.fields))
    for i in filled:
        if sub[i] != top[i] and sub_fields[i] is not None:
            fields[i] = sub_fields[i]
            top[i] = sub[i]
    header.fields, header.texts, header.last_row = fields, top, header.row + 1


def _check_header(header: _Header, headers: HeaderMap, path: Path, sheet: str) -> None:
    where_en = f"sheet {sheet!r}, header row {header.row}" if sheet else f"header row {header.row}"
    where_zh = f"工作表“{sheet}”的表头" if sheet else "表头"
    seen: dict[str, int] = {}
    for col, name in enumerate(header.fields):
        if name is None:
            continue
        if name in seen:
            first = seen[name]
            raise RosterFileError(
                "duplicate_columns",
                f"{where_en}: columns {get_column_letter(first + 1)} ({header.texts[first]!r}) and "
                f"{get_column_letter(col + 1)} ({header.texts[col]!r}) both map to field {name!r}",
                f"{where_zh}中第{get_column_letter(first + 1)}列“{_one_line(header.texts[first])}”和"
                f"第{get_column_letter(col + 1)}列“{_one_line(header.texts[col])}”都表示“{headers.label(name)}”，"
                "请删除或改名其中一列后重新导入。",
                path=path,
            )
        seen[name] = col
    missing = [name for name in REQUIRED_FIELDS if name not in seen]
    has_division = any(all(f in seen for f in group) for group in DIVISION_FIELD_SETS)
    labels = [f"“{headers.label(n)}”（也可写作：{'、'.join(headers.aliases[n][1:])}）" for n in missing]
    if not has_division:
        labels.append("“行政区划代码”（或者“乡镇（街道）”和“村（社区）”两列）")
        missing.append("division_code|township_name+village_name")
    if missing:
        raise RosterFileError(
            "missing_columns",
            f"{where_en} lacks required columns: {', '.join(missing)}",
            f"{where_zh}（第{header.row}行）缺少必需的列：{'；'.join(labels)}，请补上这些列后重新导入。",
            path=path,
            details=[f"第{header.row}行的表头：" + "、".join(_one_line(t) for t in header.texts if t)],
        )


def _one_line(text: str) -> str:
    return "".join(text.split())


def _no_header_error(path: Path, headers: HeaderMap) -> RosterFileError:
    expected = "、".join(f"“{headers.label(n)}”" for n in (*REQUIRED_FIELDS, "division_code"))
    known = [f"{headers.label(n)}：{'、'.join(a)}" for n, a in headers.aliases.items()]
    return RosterFileError(
        "no_header",
        f"no header row found in the first {HEADER_SEARCH_ROWS} rows "
        f"(a header names at least {MIN_HEADER_MATCHES} known columns)",
        f"在文件“{path.name}”的前{HEADER_SEARCH_ROWS}行中没有找到表头：表头行应至少包含{expected}等列名中的"
        f"{MIN_HEADER_MATCHES}个，请检查文件是否为花名册。",
        path=path,
        details=["可识别的列名：", *known],
    )


# --- public entry points -------------------------------------------------------------------


def read_roster(path: Path, *, extra_headers: Path | None = None) -> RosterFile:
    """Read a roster file (CSV in UTF-8 / UTF-8 with BOM / GBK / GB18030, or XLSX).

    Raises :class:`RosterFileError` when the file is missing, of an unsupported type,
    unreadable, empty, without a recognisable header row or without a required column.
    """
    path = Path(path)
    headers = load_header_map(extra_headers)
    suffix = path.suffix.lower()
    if suffix not in CSV_SUFFIXES | XLSX_SUFFIXES:
        shown = suffix or "（无扩展名）"
        raise RosterFileError(
            "unsupported_type",
            f"unsupported file type {suffix or '(none)'}; expected .csv, .xlsx or .xlsm",
            f"不支持“{shown}”类型的文件，请上传Excel工作簿（.xlsx）或CSV文件；.xls、.et等格式请先在Excel或WPS中另存为.xlsx。",
            path=path,
        )
    if not path.is_file():
        raise RosterFileError(
            "file_missing", "file not found", f"找不到文件“{path.name}”，请确认文件已上传。", path=path
        )
    try:
        with path.open("rb") as fh:
            magic = fh.read(8)
    except OSError as exc:
        raise _unreadable(path, str(exc)) from exc
    if magic.startswith(_XLS_MAGIC):
        raise RosterFileError(
            "unsupported_type",
            "an old binary .xls workbook or an encrypted workbook",
            f"文件“{path.name}”是旧版Excel（.xls）格式或设置了打开密码，请在Excel或WPS中取消密码并另存为.xlsx后重新导入。",
            path=path,
        )
    if magic.startswith(_ZIP_MAGIC):
        roster = _read_xlsx(path, headers)
    elif suffix in XLSX_SUFFIXES:
        if not magic:
            raise _empty(path)
        raise _unreadable(path, "not a zip archive")
    else:
        roster = _read_csv(path, headers)
    if roster.unmapped_headers:
        log.warning("%s: unrecognised headers ignored: %s", path.name, ", ".join(roster.unmapped_headers))
    log.info(
        "read roster %s: %d rows, %d skipped, encoding %s, header row %d",
        path.name,
        roster.table.num_rows,
        len(roster.skipped),
        roster.encoding,
        roster.header_row,
    )
    return roster


def write_rejects(path: Path, rows: pa.Table | Sequence[Mapping[str, Any]]) -> Path:
    """Write rejected rows as a CSV file that Excel opens (UTF-8 with BOM).

    ``rows`` has the columns ``_sheet``, ``_row``, ``column`` and ``reason``, then any roster
    fields. The file's headers are 工作表, 行号, 列, 原因 and the fields' Chinese headers; a
    ``column`` that names a field is shown by its Chinese header. Long digit strings (IDs)
    get a trailing tab so Excel keeps them as text, and values that Excel would run as a
    formula are prefixed with an apostrophe.
    """
    path = Path(path)
    records = rows.to_pylist() if isinstance(rows, pa.Table) else [dict(r) for r in rows]
    if isinstance(rows, pa.Table):
        names = list(rows.column_names)
    else:
        names = []
        for r in records:
            names.extend(k for k in r if k not in names)
    fixed = ["_sheet", "_row", "column", "reason"]
    headers = _base_header_map()
    known_order = {name: i for i, name in enumerate(headers.aliases)}
    extra = [n for n in names if n not in fixed]
    extra.sort(key=lambda n: (known_order.get(n, len(known_order)), names.index(n)))
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["工作表", "行号", "列", "原因", *(headers.label(n) for n in extra)])
        for r in records:
            column = r.get("column")
            column_text = (
                headers.label(column) if isinstance(column, str) and column in headers.aliases else column
            )
            writer.writerow(
                [
                    _excel_safe(r.get("_sheet")),
                    _excel_safe(r.get("_row")),
                    _excel_safe(column_text),
                    _excel_safe(r.get("reason")),
                    *(_excel_safe(r.get(n)) for n in extra),
                ]
            )
    return path


def _excel_safe(value: object) -> str:
    if value is None:
        return ""
    text = str(value)
    if text.isascii() and text.isdigit() and (len(text) >= 12 or (len(text) > 1 and text[0] == "0")):
        return text + "\t"  # Excel would show 5.20102E+17 or drop leading zeros
    if len(text) == 18 and text[:17].isascii() and text[:17].isdigit():
        return text + "\t"
    if text[:1] in ("=", "@", "\t", "\r") or (text[:1] in ("+", "-") and not _looks_numeric(text)):
        return "'" + text
    return text


def _looks_numeric(text: str) -> bool:
    try:
        float(text.replace(",", ""))
    except ValueError:
        return False
    return True


def _unreadable(path: Path, why: str, zh: str | None = None) -> RosterFileError:
    return RosterFileError(
        "unreadable",
        f"cannot be read as a roster ({why})",
        zh or f"无法读取文件“{path.name}”：文件可能已损坏，或者不是CSV或Excel格式的花名册。",
        path=path,
    )


def _empty(path: Path) -> RosterFileError:
    return RosterFileError(
        "empty", "the file is empty", f"文件“{path.name}”是空的，没有任何内容。", path=path
    )


# --- shared row assembly ------------------------------------------------------------------


def _assemble(
    columns: Sequence[pa.Array | pa.ChunkedArray],
    row_numbers: pa.Array,
    header: _Header,
    sheet: str,
) -> tuple[pa.Table, list[SkippedRow]]:
    """From all columns of a sheet (strings, any whitespace) to the roster table: trimmed,
    empty rows dropped, totals / footer / unmapped-only rows listed as skipped."""
    null = pa.scalar(None, pa.string())
    clean = []
    for col in columns:
        trimmed = pc.utf8_trim_whitespace(col)
        clean.append(pc.if_else(pc.equal(trimmed, ""), null, trimmed))
    n = len(row_numbers)
    if not clean or n == 0:
        return _empty_table(header), []
    mapped_idx = [i for i, f in enumerate(header.fields[: len(clean)]) if f is not None]
    any_cell = _any_valid(clean)
    any_mapped = _any_valid([clean[i] for i in mapped_idx])
    first = pc.coalesce(*clean) if len(clean) > 1 else clean[0]
    first_key = pc.replace_substring_regex(first, r"\s+", "")
    totals = pc.fill_null(pc.match_substring_regex(first_key, _TOTALS.pattern), False)
    name_idx = _index_of(header, "name")
    if name_idx is not None and name_idx < len(clean):
        name_key = pc.replace_substring_regex(clean[name_idx], r"\s+", "")
        totals = pc.or_(totals, pc.fill_null(pc.match_substring_regex(name_key, _TOTALS.pattern), False))
    footer = pc.fill_null(pc.match_substring_regex(first_key, _FOOTER.pattern), False)
    id_idx = _index_of(header, "citizen_id")
    if id_idx is not None and id_idx < len(clean):
        footer = pc.and_(footer, pc.is_null(clean[id_idx]))
    footer = pc.and_not(footer, totals)
    no_fields = pc.and_not(pc.and_not(pc.and_not(any_cell, any_mapped), totals), footer)
    skipped: list[SkippedRow] = []
    for mask, reason in ((totals, SKIP_TOTALS), (footer, SKIP_FOOTER), (no_fields, SKIP_NO_FIELDS)):
        if pc.any(mask).as_py():
            for row in pc.filter(row_numbers, mask).to_pylist():
                skipped.append(SkippedRow(sheet, row, reason))
    keep = pc.and_not(pc.and_not(any_mapped, totals), footer)
    arrays: dict[str, Any] = {
        "_sheet": pa.nulls(n, pa.string()).fill_null(sheet),
        "_row": row_numbers.cast(pa.int32()),
    }
    for i in mapped_idx:
        name = header.fields[i]
        assert name is not None
        values = clean[i]
        if name in NUMERIC_FIELDS:
            values = _plain_number(values)
        arrays[name] = values
    table = pa.table(arrays).filter(keep)
    skipped.sort(key=lambda s: s.row)
    return table, skipped


def _plain_number(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    # Cheap checks first: most columns hold neither full-width characters nor commas.
    if not pc.all(pc.string_is_ascii(values)).as_py():
        values = pc.utf8_normalize(values, "NFKC")
    if not pc.any(pc.match_substring(values, ",")).as_py():
        return values
    grouped = pc.fill_null(pc.match_substring_regex(values, _THOUSANDS), False)
    return pc.if_else(grouped, pc.replace_substring(values, ",", ""), values)


def _any_valid(cols: Sequence[pa.Array | pa.ChunkedArray]) -> Any:
    if not cols:
        return None
    acc = pc.is_valid(cols[0])
    for col in cols[1:]:
        acc = pc.or_(acc, pc.is_valid(col))
    return acc


def _index_of(header: _Header, name: str) -> int | None:
    try:
        return header.fields.index(name)
    except ValueError:
        return None


def _empty_table(header: _Header) -> pa.Table:
    arrays: dict[str, Any] = {"_sheet": pa.array([], pa.string()), "_row": pa.array([], pa.int32())}
    for name in header.fields:
        if name is not None:
            arrays[name] = pa.array([], pa.string())
    return pa.table(arrays)


def _order_columns(table: pa.Table, headers: HeaderMap) -> pa.Table:
    order = {name: i for i, name in enumerate(headers.aliases)}
    fields = sorted(
        (c for c in table.column_names if not c.startswith("_")), key=lambda c: order.get(c, len(order))
    )
    return table.select(["_sheet", "_row", *fields])


# --- CSV ----------------------------------------------------------------------------------


@dataclass
class _Record:
    row: int  # 1-based record number (the row Excel shows)
    cells: list[str]
    end: int  # byte offset just after the record


def _detect_encoding(raw: bytes) -> tuple[str, int]:
    """(encoding label, offset of the text after any BOM)."""
    if raw.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig", 3
    if _is_utf8(raw):
        return "utf-8", 0
    return "gb18030", 0


def _is_utf8(raw: bytes) -> bool:
    # Arrow's validator checks the whole file in milliseconds, without decoding it.
    offsets = pa.py_buffer(np.array([0, len(raw)], dtype=np.int64).tobytes())
    arr = pa.Array.from_buffers(pa.large_string(), 1, [None, offsets, pa.py_buffer(raw)])
    try:
        arr.validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def _head_records(
    raw: bytes, start: int, codec: str, delimiter: str, limit: int, errors: str = "strict"
) -> list[_Record]:
    pos = start

    def lines() -> Iterator[str]:
        nonlocal pos
        size = len(raw)
        while pos < size:
            nl = raw.find(b"\n", pos)
            end = size if nl < 0 else nl + 1
            chunk = raw[pos:end]
            pos = end
            yield chunk.decode(codec, errors)

    records: list[_Record] = []
    # csv.reader asks for exactly the lines of one record before yielding it, so ``pos`` is
    # the end of the record just read.
    for cells in csv.reader(lines(), delimiter=delimiter):
        records.append(_Record(len(records) + 1, cells, pos))
        if len(records) >= limit:
            break
    return records


def _read_csv(path: Path, headers: HeaderMap) -> RosterFile:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise _unreadable(path, str(exc)) from exc
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            raw = raw.decode("utf-16").encode("utf-8")
        except UnicodeDecodeError as exc:
            raise _unreadable(path, "bad UTF-16") from exc
        encoding, start = "utf-16", 0
    else:
        if b"\x00" in raw[:65536]:
            raise _unreadable(path, "binary content (NUL bytes)")
        encoding, start = _detect_encoding(raw)
    if not raw[start : start + 65536].strip() and not raw[start:].strip():
        raise _empty(path)
    if b"\n" not in raw and b"\r" in raw:
        raw = raw.replace(b"\r", b"\n")  # classic Mac line ends (0x0D is never inside a character)
    codec = "gb18030" if encoding == "gb18030" else "utf-8"

    try:
        header, records, delimiter = _locate_header(raw, start, codec, headers)
    except UnicodeDecodeError as exc:
        if codec == "gb18030" and _utf8_head_has_header(raw, start, headers):
            raise _mixed_encoding(path, exc) from exc
        raise _unreadable(path, f"not decodable as {codec}: {exc}") from exc
    except csv.Error as exc:
        raise _unreadable(path, f"malformed CSV: {exc}") from exc
    if header is None:
        # Not valid UTF-8 as a whole, yet its head reads as UTF-8: a UTF-8 file with some
        # GBK (or broken) bytes further down, which GB18030 would turn into nonsense.
        if codec == "gb18030" and _utf8_head_has_header(raw, start, headers):
            raise _mixed_encoding(path, "invalid UTF-8 after a UTF-8 header")
        raise _no_header_error(path, headers)
    _check_header(header, headers, path, "")
    data_start = records[header.last_row - 1].end
    end = len(raw)
    while end > data_start and raw[end - 1] in b" \t\r\n":
        end -= 1
    width = len(header.fields)

    read = None
    if end > data_start:
        read = _csv_fast(raw, data_start, end, width, codec, delimiter, path, header.last_row)
    if read is None:
        read = _csv_slow(raw, data_start, end, width, codec, delimiter, path, header.last_row)
    columns, rows = read
    table, skipped = _assemble(columns, rows, header, "")
    table = _order_columns(table, headers)
    info = SheetInfo("", header.row, header.mapping(), header.unmapped(), table.num_rows)
    return RosterFile(
        path=path,
        table=table,
        encoding=encoding,
        header_row=header.row,
        mapping=info.mapping,
        unmapped_headers=info.unmapped_headers,
        skipped=skipped,
        sheets=[info],
    )


def _locate_header(
    raw: bytes, start: int, codec: str, headers: HeaderMap, errors: str = "strict"
) -> tuple[_Header | None, list[_Record], str]:
    """The header and the first records, trying each delimiter in turn."""
    records: list[_Record] = []
    for delimiter in _HEAD_DELIMITERS:
        records = _head_records(raw, start, codec, delimiter, HEADER_SEARCH_ROWS + 1, errors)
        header = _find_header([(r.row, r.cells) for r in records], headers)
        if header is not None:
            return header, records, delimiter
    return None, records, ","


def _utf8_head_has_header(raw: bytes, start: int, headers: HeaderMap) -> bool:
    try:
        return _locate_header(raw, start, "utf-8", headers, "replace")[0] is not None
    except csv.Error:
        return False


def _mixed_encoding(path: Path, why: object) -> RosterFileError:
    return _unreadable(
        path,
        f"mixed or broken text encoding: {why}",
        f"文件“{path.name}”中有无法识别的文字（可能混用了UTF-8和GBK编码），请用Excel打开后重新另存为CSV。",
    )


def _csv_fast(
    raw: bytes, start: int, end: int, width: int, codec: str, delimiter: str, path: Path, header_row: int
) -> tuple[list[pa.ChunkedArray], pa.Array] | None:
    """Read the data records with pyarrow, and number them: arithmetically when records and
    lines match one to one, from the positions of the blank lines pyarrow skipped when
    those are the only difference. None when neither holds (quoted line breaks, rows of
    another width), so row numbers would shift."""
    irregular = 0

    def on_invalid(row: Any) -> str:
        nonlocal irregular
        irregular += 1
        return "skip"

    names = [f"c{i}" for i in range(width)]
    lines = raw.count(b"\n", start, end) + 1
    # A quote anywhere means a field might hold a line break; pyarrow must then not split
    # blocks at raw newlines. (0x22 never occurs inside a GBK/GB18030 or UTF-8 character.)
    quoted = raw.find(b'"', start, end) >= 0
    try:
        table = pacsv.read_csv(
            pa.BufferReader(pa.py_buffer(raw)[start:end]),
            read_options=pacsv.ReadOptions(
                column_names=names, encoding="utf8" if codec == "utf-8" else codec
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter, newlines_in_values=quoted, invalid_row_handler=on_invalid
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
                null_values=[""],
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        if "UTF8" in str(exc) or isinstance(exc, UnicodeDecodeError):
            raise _mixed_encoding(path, exc) from exc
        log.info("%s: pyarrow could not parse the CSV (%s); reading it record by record", path.name, exc)
        return None
    columns = [table.column(i) for i in range(width)]
    first = header_row + 1
    if not irregular and table.num_rows == lines:
        return columns, pa.array(np.arange(first, first + lines, dtype=np.int32))
    if not irregular and not quoted:
        filled = _non_blank_lines(raw, start, end)
        if len(filled) == table.num_rows:
            return columns, pa.array((filled + first).astype(np.int32))
    log.info(
        "%s: %d records on %d lines (%d irregular); reading record by record for exact row numbers",
        path.name,
        table.num_rows,
        lines,
        irregular,
    )
    return None


def _non_blank_lines(raw: bytes, start: int, end: int) -> np.ndarray:
    """0-based indices of the lines in raw[start:end] that are not empty (nor a lone CR)."""
    data = np.frombuffer(raw, dtype=np.uint8, count=end - start, offset=start)
    breaks = np.flatnonzero(data == 10)
    line_starts = np.concatenate(([0], breaks + 1))
    line_ends = np.concatenate((breaks, [len(data)]))
    length = line_ends - line_starts
    lone_cr = (length == 1) & (data[np.minimum(line_starts, len(data) - 1)] == 13)
    return np.flatnonzero((length > 0) & ~lone_cr)


_SLOW_CHUNK = 100_000


def _csv_slow(
    raw: bytes, start: int, end: int, width: int, codec: str, delimiter: str, path: Path, header_row: int
) -> tuple[list[pa.ChunkedArray], pa.Array]:
    """Read the data records with Python's csv module, numbering every record (blank lines
    included) as Excel does. Decodes as it goes and converts to Arrow every 100,000 rows,
    so memory stays near the size of the result."""
    stream = io.TextIOWrapper(io.BytesIO(raw[start:end]), encoding=codec, errors="strict", newline="")
    chunks: list[list[pa.Array]] = [[] for _ in range(width)]
    row_chunks: list[np.ndarray] = []
    cols: list[list[str | None]] = [[] for _ in range(width)]
    rows: list[int] = []
    lost = 0

    def flush() -> None:
        for j in range(width):
            chunks[j].append(pa.array(cols[j], pa.string()))
            cols[j].clear()
        row_chunks.append(np.asarray(rows, dtype=np.int32))
        rows.clear()

    try:
        for k, cells in enumerate(csv.reader(stream, delimiter=delimiter)):
            if not any(cells):
                continue
            if len(cells) > width:
                lost += any(c.strip() for c in cells[width:])
            rows.append(header_row + 1 + k)
            for j in range(width):
                cols[j].append(cells[j] if j < len(cells) and cells[j] else None)
            if len(rows) >= _SLOW_CHUNK:
                flush()
    except UnicodeDecodeError as exc:
        raise _mixed_encoding(path, exc) from exc
    except csv.Error as exc:
        raise _unreadable(path, f"malformed CSV: {exc}") from exc
    flush()
    if lost:
        log.warning(
            "%s: %d rows have values beyond the last header column; those values are ignored", path.name, lost
        )
    return [pa.chunked_array(c, pa.string()) for c in chunks], pa.array(np.concatenate(row_chunks))


# --- XLSX ---------------------------------------------------------------------------------


def _read_xlsx(path: Path, headers: HeaderMap) -> RosterFile:
    from openpyxl import load_workbook  # imported here: costly, and only XLSX needs it

    # openpyxl warns about features it drops (data validation extensions, unknown parts);
    # they do not matter for reading values, so they go to the log, never to the user.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        roster = _read_xlsx_workbook(path, headers, load_workbook)
    for w in caught:
        log.info("%s: openpyxl: %s", path.name, w.message)
    return roster


def _read_xlsx_workbook(path: Path, headers: HeaderMap, load_workbook: Any) -> RosterFile:
    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken package
        raise _unreadable(path, f"{type(exc).__name__}: {exc}") from exc
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        wb.close()
        raise _unreadable(path, str(exc)) from exc
    tables: list[pa.Table] = []
    skipped: list[SkippedRow] = []
    sheets: list[SheetInfo] = []
    ignored: list[str] = []
    any_content = False
    try:
        for ws in wb.worksheets:
            merges = _merged_ranges(archive, getattr(ws, "_worksheet_path", None))
            if hasattr(ws, "reset_dimensions"):
                ws.reset_dimensions()  # a wrong <dimension> would cut rows short
            result = _read_sheet(ws.iter_rows(values_only=True), merges, headers, ws.title, path)
            if result is None:
                continue
            if isinstance(result, bool):
                any_content = any_content or result
                ignored.append(ws.title)
                continue
            any_content = True
            table, sheet_skipped, info = result
            tables.append(table)
            skipped.extend(sheet_skipped)
            sheets.append(info)
    except RosterFileError:
        raise
    except Exception as exc:
        raise _unreadable(path, f"{type(exc).__name__}: {exc}") from exc
    finally:
        archive.close()
        wb.close()
    if not tables:
        if not any_content:
            raise _empty(path)
        raise _no_header_error(path, headers)
    table = pa.concat_tables(tables, promote_options="default") if len(tables) > 1 else tables[0]
    table = _order_columns(table, headers)
    mapping: dict[str, str] = {}
    unmapped: list[str] = []
    for info in sheets:
        for name, text in info.mapping.items():
            mapping.setdefault(name, text)
        unmapped.extend(t for t in info.unmapped_headers if t not in unmapped)
    return RosterFile(
        path=path,
        table=table,
        encoding="xlsx",
        header_row=sheets[0].header_row,
        mapping=mapping,
        unmapped_headers=unmapped,
        skipped=skipped,
        sheets=sheets,
        ignored_sheets=ignored,
    )


class _Merge(NamedTuple):
    min_row: int
    min_col: int  # 0-based
    max_row: int
    max_col: int  # 0-based, inclusive


def _merged_ranges(archive: zipfile.ZipFile, member: str | None) -> list[_Merge]:
    """Merged ranges of a sheet, from its XML (openpyxl's read-only mode does not expose them)."""
    if not member:
        log.warning("cannot locate the sheet XML; merged cells will not be filled")
        return []
    data = archive.read(member.lstrip("/"))
    at = data.find(b"mergeCell")
    if at < 0:
        return []
    out = []
    for m in _MERGE_REF.finditer(data, max(0, at - 64)):
        min_col, min_row, max_col, max_row = range_boundaries(m.group(1).decode("ascii"))
        if min_col is None or min_row is None or max_col is None or max_row is None:
            continue
        if (min_row, min_col) != (max_row, max_col):
            out.append(_Merge(min_row, min_col - 1, max_row, max_col - 1))
    out.sort()
    return out


def _read_sheet(
    rows: Iterator[tuple[Any, ...]], merges: list[_Merge], headers: HeaderMap, sheet: str, path: Path
) -> tuple[pa.Table, list[SkippedRow], SheetInfo] | bool | None:
    """One worksheet; False/True when it has no header (True: it has content), None if empty."""
    # Head: the first rows with header-style merge filling (only down a range's first
    # column), to find the header.
    head: list[list[Any]] = []
    for first_values in rows:
        head.append(list(first_values))
        if len(head) > HEADER_SEARCH_ROWS:
            break
    if not any(v is not None and v != "" for r in head for v in r):
        return None
    head_texts = _header_view(head, merges)
    header = _find_header(list(enumerate(head_texts, start=1)), headers)
    if header is None:
        return True
    _check_header(header, headers, path, sheet)
    width = len(header.fields)

    cols: list[list[str | None]] = [[] for _ in range(width)]
    row_numbers: list[int] = []
    pending = iter(merges)
    upcoming = next(pending, None)
    active: list[tuple[_Merge, Any]] = []

    def all_rows() -> Iterator[tuple[int, Sequence[Any]]]:
        yield from enumerate(head, start=1)
        yield from enumerate(rows, start=len(head) + 1)

    values: Sequence[Any]
    for r, values in all_rows():
        while upcoming is not None and upcoming.min_row <= r:
            anchor = values[upcoming.min_col] if upcoming.min_col < len(values) else None
            active.append((upcoming, anchor))
            upcoming = next(pending, None)
        if active:
            filled = list(values)
            for m, anchor in active:
                if len(filled) <= m.max_col:
                    filled.extend([None] * (m.max_col + 1 - len(filled)))
                for c in range(m.min_col, m.max_col + 1):
                    filled[c] = anchor
            values = filled
            active = [(m, a) for m, a in active if m.max_row > r]
        if r <= header.last_row:
            continue
        texts = [_cell_text(v) for v in values[:width]]
        if not any(texts):
            continue
        if len(texts) < width:
            texts.extend([None] * (width - len(texts)))
        row_numbers.append(r)
        for j in range(width):
            cols[j].append(texts[j])
    arrays = [pa.array(c, pa.string()) for c in cols]
    table, skipped = _assemble(arrays, pa.array(row_numbers, pa.int32()), header, sheet)
    info = SheetInfo(sheet, header.row, header.mapping(), header.unmapped(), table.num_rows)
    return table, skipped, info


def _header_view(head: list[list[Any]], merges: list[_Merge]) -> list[list[str]]:
    """Texts of the first rows; a vertically merged header fills down its first column only."""
    texts = [[_cell_text(v) or "" for v in row] for row in head]
    for m in merges:
        if m.min_row > len(texts):
            break
        anchor_row = texts[m.min_row - 1]
        value = anchor_row[m.min_col] if m.min_col < len(anchor_row) else ""
        for r in range(m.min_row + 1, min(m.max_row, len(texts)) + 1):
            row = texts[r - 1]
            if len(row) <= m.min_col:
                row.extend([""] * (m.min_col + 1 - len(row)))
            row[m.min_col] = value
    return texts


def _cell_text(value: Any) -> str | None:
    """What a user sees in a cell, as text (see the module documentation)."""
    if value is None:
        return None
    kind = type(value)
    if kind is str:
        return value.strip() or None
    if kind is int:
        return str(value)
    if kind is float:
        return _float_text(value)
    if kind is bool:
        return "是" if value else "否"
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0, 0):
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    text = str(value).strip()
    return text or None


def _float_text(value: float) -> str:
    """Excel's display of a float: digits for whole numbers it holds exactly, else at most
    15 significant digits; 10^15 and above as General format shows it (``5.20102E+17``).

    Examples:
        >>> _float_text(5.20102198001012e17), _float_text(1500.0), _float_text(0.1 + 0.2)
        ('5.20102E+17', '1500', '0.3')
    """
    if value != value or value in (float("inf"), float("-inf")):
        return str(value)
    if abs(value) >= _EXCEL_DIGITS:
        mantissa, exponent = f"{value:.5E}".split("E")
        mantissa = mantissa.rstrip("0").rstrip(".")
        return f"{mantissa}E{exponent}"
    if value.is_integer():
        return str(int(value))
    return format(value, ".15g")
