"""Feeds as departments deliver them: formats, Chinese headers and labels, and planted messes.

:func:`delivery_of` says how a department sends a kind of feed (format, encoding, headers);
:class:`Planter` turns a part's typed table into what such a file holds, planting the messes
of :data:`MESSES` at their rates and recording every planted row (row numbers as a loader
counts them: header = row 1, first data row = 2 in CSV and XLSX; 1-based line in JSON lines;
1-based index in Parquet); :func:`open_sink` writes the rows, part after part, in the format.

Each planted row carries exactly one mess. Messes of kind ``reject`` must be quarantined by a
loader (one rejected row each); messes of kind ``repair`` are what a careful loader cleans up
(the row is kept). Rows about people from other provinces are not messes (valid IDs of
nobody in the population) and are counted apart.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from doudi.feeds.contract import Column, FeedContract
from doudi.feeds.synthetic_base import KINDS, Month
from doudi.feeds.synthetic_people import rng_for
from doudi.ids import CHECK_CHARS

Format = Literal["parquet", "csv", "xlsx", "jsonl"]


@dataclass(frozen=True)
class Mess:
    name: str
    rate: float
    outcome: Literal["reject", "repair"]
    description: str  # Chinese, for reports and demos


#: Planted messes with their rates (share of a file's rows; ``lowercase_x``: share of the IDs
#: ending in X). All are assumptions: small, plausible rates for data keyed in by hand or
#: exported from older systems.
MESSES: tuple[Mess, ...] = (
    Mess("bad_check_digit", 0.001, "reject", "身份证号校验位错误"),
    Mess("fifteen_digit_id", 0.0003, "reject", "15位旧身份证号"),
    Mess("duplicate_row", 0.002, "reject", "完全重复的行"),
    Mess("date_out_of_period", 0.001, "reject", "事件日期不在本期"),
    Mess("negative_amount", 0.0005, "reject", "金额为负数"),
    Mess("missing_required", 0.001, "reject", "必填项为空"),
    Mess("spaces", 0.004, "repair", "身份证号前后有空格"),
    Mess("fullwidth_digits", 0.001, "repair", "身份证号为全角数字"),
    Mess("formatted_amount", 0.002, "repair", "金额带千分位和“元”（如1,234.50元）"),
    Mess("lowercase_x", 0.05, "repair", "身份证号末位为小写x"),
)
MESS_BY_NAME = {m.name: m for m in MESSES}
REJECTED = frozenset(m.name for m in MESSES if m.outcome == "reject")
_CODE = {m.name: i + 1 for i, m in enumerate(MESSES)}  # 0 = none

#: How departments deliver each kind: format and encoding ("medical" alternates by month:
#: Parquet in even months, UTF-8 CSV in odd ones).
DELIVERY: dict[str, tuple[Format, str | None]] = {
    "medical": ("parquet", None),
    "disability": ("xlsx", None),
    "death": ("csv", "gbk"),
    "hukou_move": ("csv", "gbk"),
    "unemployment": ("csv", "utf-8-sig"),
    "pension": ("csv", "utf-8-sig"),
    "disaster": ("xlsx", None),
    "school": ("jsonl", "utf-8"),
    "vehicle": ("csv", "utf-8"),
    "business": ("csv", "utf-8"),
    "real_estate": ("csv", "utf-8"),
    "public_employee": ("csv", "utf-8"),
}
#: Chance that a column with aliases is headed by one of them instead of its label (per file).
ALIAS_SHARE = 0.3

_EXTENSION = {"parquet": "parquet", "csv": "csv", "xlsx": "xlsx", "jsonl": "jsonl"}


@dataclass(frozen=True)
class Delivery:
    format: Format
    encoding: str | None
    headers: tuple[str, ...]  # one per contract column, in order
    labels: bool  # enums as Chinese labels (delivered) or codes (clean)

    @property
    def extension(self) -> str:
        return _EXTENSION[self.format]

    @property
    def first_row(self) -> int:
        """Row number of the first data row, as a loader numbers them."""
        return 2 if self.format in ("csv", "xlsx") else 1


def delivery_of(kind: str, month: Month, style: str, seed: int) -> Delivery:
    from doudi.feeds.contract import get_contract

    contract = get_contract(kind)
    if style == "clean":
        return Delivery("parquet", None, tuple(contract.names), labels=False)
    fmt, encoding = DELIVERY[kind]
    if kind == "medical" and month.month % 2 == 1:
        fmt, encoding = "csv", "utf-8"
    rng = rng_for(seed, 9, month.ordinal, KINDS.index(kind))
    headers = []
    for col in contract.columns:
        use_alias = rng.random() < ALIAS_SHARE
        pick = int(rng.integers(0, max(len(col.aliases), 1)))
        headers.append(col.aliases[pick] if col.aliases and use_alias else col.label)
    return Delivery(fmt, encoding, tuple(headers), labels=True)


# --- planting ------------------------------------------------------------------------------------

_FULLWIDTH = str.maketrans("0123456789Xx", "０１２３４５６７８９Ｘｘ")
_PLAIN_NUMBER = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")
_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def _money_column(contract: FeedContract) -> Column | None:
    """The money column messes go to: the first required one, else the first one."""
    money = [c for c in contract.columns if c.type == "money"]
    required = [c for c in money if c.required]
    candidates = required or money
    return candidates[0] if candidates else None


@dataclass
class Planter:
    """Plants messes into the parts of one file and keeps count."""

    contract: FeedContract
    month: Month
    delivery: Delivery
    seed: int
    counts: dict[str, int] = field(default_factory=dict)
    rows: dict[str, list[int]] = field(default_factory=dict)

    @property
    def expected_rejects(self) -> int:
        return sum(v for k, v in self.counts.items() if k in REJECTED)

    def plant(self, table: pa.Table, part_no: int, *, first_row: int) -> pa.Table:
        """The part's rows as delivered; ``first_row`` is the row number its first row gets."""
        contract = self.contract
        n = table.num_rows
        rng = rng_for(self.seed, 11, self.month.ordinal, KINDS.index(contract.kind), part_no)
        text = self.delivery.format != "parquet"
        ids = table.column(contract.person).combine_chunks()
        money_col = _money_column(contract)
        money_ok = (
            np.asarray(
                pc.fill_null(pc.is_valid(table.column(money_col.name)), False).to_numpy(zero_copy_only=False)
            )
            if money_col is not None
            else np.zeros(n, dtype=bool)
        )
        if money_col is not None:
            positive = pc.fill_null(pc.greater(table.column(money_col.name), pa.scalar(0, pa.int64())), False)
            money_positive = money_ok & np.asarray(positive.to_numpy(zero_copy_only=False))
        else:
            money_positive = money_ok
        ends_x = np.asarray(pc.fill_null(pc.ends_with(ids, "X"), False).to_numpy(zero_copy_only=False))
        born_19 = np.asarray(
            pc.fill_null(pc.equal(pc.utf8_slice_codeunits(ids, 6, 8), "19"), False).to_numpy(
                zero_copy_only=False
            )
        ) & np.asarray(pc.fill_null(pc.equal(pc.utf8_length(ids), 18), False).to_numpy(zero_copy_only=False))
        applicable: dict[str, np.ndarray | bool] = {
            "bad_check_digit": True,
            "fifteen_digit_id": born_19,
            "duplicate_row": True,
            "date_out_of_period": contract.mode == "events",
            "negative_amount": money_positive,
            "missing_required": True,
            "spaces": True,
            "fullwidth_digits": True,
            "formatted_amount": money_ok & text,
        }
        label = np.zeros(n, dtype=np.int64)
        u = rng.random(n)
        low = 0.0
        for mess in MESSES:
            if mess.name == "lowercase_x":
                continue
            hit = (u >= low) & (u < low + mess.rate) & applicable[mess.name]
            label[hit] = _CODE[mess.name]
            low += mess.rate
        v = rng.random(n)
        label[(label == 0) & ends_x & (v < MESS_BY_NAME["lowercase_x"].rate)] = _CODE["lowercase_x"]

        table = self._typed_messes(table, label, rng)
        # Exact duplicates: a copy right after the original
        dup = np.flatnonzero(label == _CODE["duplicate_row"])
        order = np.sort(np.concatenate([np.arange(n), dup]), kind="stable")
        label = label[order]
        if len(dup):
            copy = np.zeros(len(order), dtype=bool)
            copy[1:] = order[1:] == order[:-1]
            label[(label == _CODE["duplicate_row"]) & ~copy] = 0
            table = table.take(pa.array(order))
        table = self._representation(table)
        table = self._text_messes(table, label, rng)
        for mess in MESSES:
            where = np.flatnonzero(label == _CODE[mess.name])
            if len(where):
                self.counts[mess.name] = self.counts.get(mess.name, 0) + len(where)
                self.rows.setdefault(mess.name, []).extend((where + first_row).tolist())
        return table

    # -- messes on typed values (before duplicates are copied)

    def _typed_messes(self, table: pa.Table, label: np.ndarray, rng: np.random.Generator) -> pa.Table:
        contract = self.contract
        n = table.num_rows
        if contract.event_date is not None:
            mask = label == _CODE["date_out_of_period"]
            if mask.any():
                col = contract.event_date
                late = rng.random(n) < 0.85  # mostly last month's events reported late
                shifted = np.where(
                    late,
                    self.month.start - rng.integers(1, 25, n),
                    self.month.end + rng.integers(1, 10, n),
                ).astype(np.int32)
                new = pa.array(shifted, type=pa.int32()).cast(pa.date32())
                table = _replace(table, col, pc.if_else(pa.array(mask), new, table.column(col)))
        money_col = _money_column(contract)
        mask = label == _CODE["negative_amount"]
        if money_col is not None and mask.any():
            col = table.column(money_col.name)
            table = _replace(table, money_col.name, pc.if_else(pa.array(mask), pc.negate(col), col))
        mask = label == _CODE["missing_required"]
        if mask.any():
            required = [c.name for c in contract.columns if c.required]
            which = rng.integers(0, len(required), n)
            for i, name in enumerate(required):
                m = mask & (which == i)
                if m.any():
                    col = table.column(name)
                    table = _replace(table, name, pc.if_else(pa.array(m), pa.scalar(None, col.type), col))
        return table

    # -- the file's representation: labels, and text for text formats

    def _representation(self, table: pa.Table) -> pa.Table:
        arrays = []
        text = self.delivery.format != "parquet"
        for col in self.contract.columns:
            arr = table.column(col.name).combine_chunks()
            if col.type == "enum" and self.delivery.labels:
                assert col.values is not None
                keys = pa.array(list(col.values), type=pa.string())
                labels = pa.array(list(col.values.values()), type=pa.string())
                arr = labels.take(pc.index_in(arr, value_set=keys))
            elif text and col.type == "boolean":
                arr = pc.if_else(arr, "是", "否")
            elif text:
                arr = arr.cast(pa.string())
            arrays.append(arr)
        return pa.Table.from_arrays(arrays, names=self.contract.names)

    # -- messes on the text of IDs and amounts

    def _text_messes(self, table: pa.Table, label: np.ndarray, rng: np.random.Generator) -> pa.Table:
        person = self.contract.person
        ids = table.column(person).combine_chunks()
        edits: dict[int, str] = {}
        for name, fn in _ID_EDITS.items():
            where = np.flatnonzero(label == _CODE[name])
            if len(where) == 0:
                continue
            values = ids.take(pa.array(where)).to_pylist()
            choice = rng.integers(0, 1 << 30, len(where))
            for i, value, c in zip(where.tolist(), values, choice.tolist(), strict=True):
                edits[i] = fn(value or "", c)
        if edits:
            table = _replace(table, person, _edit(ids, edits))
        money_col = _money_column(self.contract)
        where = np.flatnonzero(label == _CODE["formatted_amount"])
        if money_col is not None and len(where):
            col = table.column(money_col.name).combine_chunks()
            values = col.take(pa.array(where)).to_pylist()
            edits = {i: f"{Decimal(value):,}元" for i, value in zip(where.tolist(), values, strict=True)}
            table = _replace(table, money_col.name, _edit(col, edits))
        return table


def _bad_check(value: str, c: int) -> str:
    wrong = (
        CHECK_CHARS[(CHECK_CHARS.index(value[-1]) + 1 + c % 10) % 11] if value[-1:] in CHECK_CHARS else "0"
    )
    return value[:-1] + wrong


def _fifteen(value: str, c: int) -> str:
    return value[:6] + value[8:17]  # the old form: 2-digit year, no check character


def _spaces(value: str, c: int) -> str:
    return (" " + value, value + " ", " " + value + "  ", value + "\t")[c % 4]


def _fullwidth(value: str, c: int) -> str:
    return value.translate(_FULLWIDTH)


def _lowercase(value: str, c: int) -> str:
    return value[:-1] + value[-1:].lower()


_ID_EDITS: dict[str, Callable[[str, int], str]] = {
    "bad_check_digit": _bad_check,
    "fifteen_digit_id": _fifteen,
    "spaces": _spaces,
    "fullwidth_digits": _fullwidth,
    "lowercase_x": _lowercase,
}


def _edit(arr: pa.Array, edits: dict[int, str]) -> pa.Array:
    idx = np.array(sorted(edits), dtype=np.int64)
    mask = np.zeros(len(arr), dtype=bool)
    mask[idx] = True
    values = pa.array([edits[i] for i in idx.tolist()], type=pa.string())
    return pc.replace_with_mask(arr.cast(pa.string()), pa.array(mask), values)


def _replace(table: pa.Table, name: str, arr: pa.Array | pa.ChunkedArray) -> pa.Table:
    i = table.schema.get_field_index(name)
    return table.set_column(i, pa.field(name, arr.type), arr)


# --- sinks ---------------------------------------------------------------------------------------


class Sink(Protocol):
    path: Path
    period: str
    delivery: Delivery
    headers: list[str]
    rows_written: int
    other_province: int

    @property
    def first_row(self) -> int: ...

    def write(self, table: pa.Table, *, other_province: int = 0) -> None: ...

    def close(self) -> None: ...


class _BaseSink:
    def __init__(self, path: Path, contract: FeedContract, delivery: Delivery) -> None:
        self.path = path
        self.period = path.parent.name
        self.contract = contract
        self.delivery = delivery
        self.headers = list(delivery.headers)
        self.rows_written = 0
        self.other_province = 0
        path.parent.mkdir(parents=True, exist_ok=True)

    @property
    def first_row(self) -> int:
        return self.delivery.first_row

    def write(self, table: pa.Table, *, other_province: int = 0) -> None:
        self.rows_written += table.num_rows
        self.other_province += other_province
        if table.num_rows:
            self._write(table)

    def _write(self, table: pa.Table) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class _ParquetSink(_BaseSink):
    """Parquet (zstd) in row groups of at least ``_ROW_GROUP`` rows (parts are buffered)."""

    _ROW_GROUP = 65_536

    def __init__(self, path: Path, contract: FeedContract, delivery: Delivery) -> None:
        super().__init__(path, contract, delivery)
        self._buffer: list[pa.Table] = []
        self._buffered = 0
        self._writer: pq.ParquetWriter | None = None
        if delivery.labels:  # delivered: Chinese headers, labels for enums, typed otherwise
            fields = [
                pa.field(h, pa.string() if c.type == "enum" else c.arrow_type)
                for h, c in zip(delivery.headers, contract.columns, strict=True)
            ]
            self._schema = pa.schema(fields)
        else:
            self._schema = contract.arrow_schema()

    def _write(self, table: pa.Table) -> None:
        self._buffer.append(table.rename_columns(self._schema.names).cast(self._schema))
        self._buffered += table.num_rows
        if self._buffered >= self._ROW_GROUP:
            self._flush()

    def _flush(self) -> None:
        if self._writer is None:
            # No dictionary for the ID and key columns: nearly unique, it only costs time.
            plain = {self.contract.person, *self.contract.key}
            dictionary = [
                h
                for h, c in zip(self._schema.names, self.contract.columns, strict=True)
                if c.name not in plain
            ]
            self._writer = pq.ParquetWriter(
                self.path, self._schema, compression="zstd", use_dictionary=dictionary
            )
        if self._buffer:
            self._writer.write_table(pa.concat_tables(self._buffer), row_group_size=1 << 22)
            self._buffer.clear()
            self._buffered = 0

    def close(self) -> None:
        self._flush()
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def _csv_field(arr: pa.Array) -> pa.Array:
    """Text as a CSV field: quoted when it holds a comma, quote or line break; null → empty."""
    arr = pc.fill_null(arr, "")
    needs = pc.match_substring_regex(arr, '[,"\r\n]')
    if pc.any(needs).as_py():
        quoted = pc.binary_join_element_wise('"', pc.replace_substring(arr, '"', '""'), '"', "")
        arr = pc.if_else(needs, quoted, arr)
    return arr


def _joined_text(lines: pa.Array) -> bytes:
    """The values of a string array without nulls, one after another, as bytes."""
    lines = pc.cast(lines, pa.large_string())
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64, count=len(lines) + 1, offset=lines.offset * 8)
    data = lines.buffers()[2]
    if data is None:
        return b""
    return data.to_pybytes()[int(offsets[0]) : int(offsets[-1])]


class _CsvSink(_BaseSink):
    """CSV with CRLF line ends, minimal quoting, in UTF-8, UTF-8 with BOM or GBK."""

    def __init__(self, path: Path, contract: FeedContract, delivery: Delivery) -> None:
        super().__init__(path, contract, delivery)
        self._fh = path.open("wb")
        encoding = delivery.encoding or "utf-8"
        if encoding == "utf-8-sig":
            self._fh.write(b"\xef\xbb\xbf")
        self._codec = "utf-8" if encoding == "utf-8-sig" else encoding
        header = ",".join(_csv_field(pa.array(self.headers)).to_pylist()) + "\r\n"
        self._fh.write(header.encode(self._codec))

    def _write(self, table: pa.Table) -> None:
        fields = [_csv_field(table.column(i).combine_chunks()) for i in range(table.num_columns)]
        lines = pc.binary_join_element_wise(*fields, ",")
        data = _joined_text(pc.binary_join_element_wise(lines, "\r\n", ""))
        if self._codec != "utf-8":
            # Characters outside GBK (a few rare ones) become "?", as when Excel saves as GBK.
            data = data.decode("utf-8").encode(self._codec, errors="replace")
        self._fh.write(data)

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()


class _JsonlSink(_BaseSink):
    """JSON lines: one object per row, keys the headers, values strings or null (UTF-8)."""

    def __init__(self, path: Path, contract: FeedContract, delivery: Delivery) -> None:
        super().__init__(path, contract, delivery)
        self._fh = path.open("wb")
        self._keys = [json.dumps(h, ensure_ascii=False) + ":" for h in self.headers]

    def _write(self, table: pa.Table) -> None:
        parts: list[pa.Array | str] = []
        for i, key in enumerate(self._keys):
            arr = table.column(i).combine_chunks()
            escaped = pc.replace_substring(pc.replace_substring(arr, "\\", "\\\\"), '"', '\\"')
            escaped = pc.replace_substring(pc.replace_substring(escaped, "\t", "\\t"), "\n", "\\n")
            value = pc.fill_null(pc.binary_join_element_wise('"', escaped, '"', ""), "null")
            parts.extend([("{" if i == 0 else ",") + key, value])
        lines = pc.binary_join_element_wise(*parts, "}\n", "")
        self._fh.write(_joined_text(lines))

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()


_EPOCH = dt.date(1970, 1, 1)


class _XlsxSink(_BaseSink):
    """The first worksheet of a workbook: IDs as text, dates as date cells, amounts as numbers
    (unless a mess made them text), written with openpyxl in write-only mode."""

    def __init__(self, path: Path, contract: FeedContract, delivery: Delivery) -> None:
        super().__init__(path, contract, delivery)
        from openpyxl import Workbook  # imported here: costly, and only XLSX needs it

        self._wb: Any = Workbook(write_only=True)
        fixed = dt.datetime(2000, 1, 1)
        self._wb.properties.created = fixed
        self._wb.properties.modified = fixed
        self._ws = self._wb.create_sheet(contract.title[:31])
        self._ws.append(self.headers)
        self._converters = [_xlsx_converter(c) for c in contract.columns]

    def _write(self, table: pa.Table) -> None:
        columns = [[conv(v) for v in table.column(i).to_pylist()] for i, conv in enumerate(self._converters)]
        for row in zip(*columns, strict=True):
            self._ws.append(list(row))

    def close(self) -> None:
        if self._wb is not None:
            self._wb.save(self.path)
            self._wb = None
            _normalise_xlsx(self.path)


_CORE_DATES = re.compile(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(</dcterms:)")


def _normalise_xlsx(path: Path) -> None:
    """Make a saved workbook byte-identical from run to run: openpyxl stamps the zip entries and
    the document's modified date with the time of saving, so a regenerated month would look
    like a resubmission to the loader."""
    with zipfile.ZipFile(path) as zin:
        entries = [(info, zin.read(info)) for info in zin.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for info, data in entries:
            if info.filename == "docProps/core.xml":
                data = _CORE_DATES.sub(rb"\g<1>2000-01-01T00:00:00Z\g<2>", data)
            fixed = zipfile.ZipInfo(info.filename, date_time=(2000, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = info.external_attr
            zout.writestr(fixed, data)


def _xlsx_converter(col: Column) -> Callable[[Any], Any]:
    def text(v: Any) -> Any:
        return v if v not in ("",) else None

    if col.type == "date":

        def date(v: Any) -> Any:
            if isinstance(v, str) and _ISO_DATE.match(v):
                return dt.date.fromisoformat(v)
            return text(v)

        return date
    if col.type in ("money", "integer"):

        def number(v: Any) -> Any:
            if isinstance(v, str) and _PLAIN_NUMBER.match(v):
                return int(v) if col.type == "integer" else float(v)
            return text(v)

        return number
    return text


def open_sink(path: Path, contract: FeedContract, delivery: Delivery) -> Sink:
    sink_types: dict[str, type[_BaseSink]] = {
        "parquet": _ParquetSink,
        "csv": _CsvSink,
        "jsonl": _JsonlSink,
        "xlsx": _XlsxSink,
    }
    return sink_types[delivery.format](path, contract, delivery)
