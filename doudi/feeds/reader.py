"""Reading a department's feed file into DuckDB as text, with the row number of every record.

Formats: CSV (UTF-8, UTF-8 with BOM, GBK/GB18030, UTF-16 with BOM; comma, tab, semicolon or
``|`` separated), XLSX (the first worksheet), Parquet and JSON lines (``.jsonl`` / ``.ndjson``,
UTF-8, one object per line). The first row of a CSV or XLSX file is its header; JSON lines and
Parquet name their columns themselves. Headers are matched to the contract's columns by name,
Chinese label or alias, ignoring spaces, full-width/half-width forms, case and a trailing unit in
brackets ("医疗总费用（元）"), with the same rules as the registry's roster reader
(:func:`doudi.registry.roster_files.normalise_header`).

What :func:`read_feed` leaves in the DuckDB connection is a table of text:

- ``row_no`` (BIGINT): the row the user sees. CSV and XLSX: the header is row 1 and the first
  data row is row 2, as Excel shows them (a record with a line break inside a quoted field is
  one row; a blank line is a row of its own and is skipped). JSON lines: the 1-based line.
  Parquet: the 1-based index of the row in the file.
- ``c0`` … ``cN``: every column of the file, in file order, as text (an empty CSV field is
  NULL). The header as written is in :attr:`FeedFile.headers`; which of them are contract
  columns is in :attr:`FeedFile.mapping`. Headers never reach SQL: columns are named by
  position.
- ``row_problem`` (VARCHAR): NULL, or why the record cannot be read as a row (a CSV record with
  more values than the header has columns; a JSON line that is not an object). The validator
  rejects such rows with this reason.

Nothing is validated here: the values arrive as written, so that the validator can say what
was wrong with them and the quarantine file can show them.

Speed and memory: the file is never held in memory whole. CSV is streamed by Arrow's reader
(which also transcodes GB18030) into DuckDB, and numbered arithmetically when records and
lines agree one to one, which :func:`scan_file` checks from the line count; otherwise (blank
lines, line breaks inside quoted fields, rows of another width) the file is read again by
Python's csv module, which numbers every record exactly (slower, about 5 s per million rows).
Parquet is read by DuckDB itself; JSON lines are read as lines and parsed by DuckDB's JSON
functions; XLSX goes through openpyxl (read-only mode), which is the slow one (15–20 s per
100,000 rows).
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import logging
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from doudi.errors import UserFacingError
from doudi.feeds.contract import FeedContract
from doudi.registry.roster_files import (
    HeaderMap,
    RosterFileError,
    _cell_text,
    _is_utf8,
)

log = logging.getLogger(__name__)

FORMATS = ("csv", "xlsx", "parquet", "jsonl")
CSV_SUFFIXES = frozenset({".csv", ".txt", ".tsv"})
XLSX_SUFFIXES = frozenset({".xlsx", ".xlsm"})
PARQUET_SUFFIXES = frozenset({".parquet", ".pq"})
JSONL_SUFFIXES = frozenset({".jsonl", ".ndjson", ".json"})

#: Name of the text table :func:`read_feed` creates.
RAW_TABLE = "raw"
ROW_PROBLEM = "row_problem"

_SCAN_CHUNK = 1 << 24
_HEAD_BYTES = 1 << 20
_TAIL_BYTES = 1 << 16
_BLOCK = 1 << 24
_SLOW_BATCH = 100_000
_DELIMITERS = (",", "\t", ";", "|")
_XLS_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP_MAGIC = b"PK\x03\x04"
_PARQUET_MAGIC = b"PAR1"
_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_WHITESPACE = b" \t\r\n"
# JSON never holds a raw control character, so splitting on this one leaves each line whole.
_LINE_ONLY = "\x1f"

TOO_MANY_VALUES = "该行的值比表头的列多，无法确定各值属于哪一列"
NOT_JSON_OBJECT = "该行不是有效的JSON对象"


# --- errors -------------------------------------------------------------------------------


class FeedError(UserFacingError):
    """A feed that cannot be loaded, or a request that cannot be carried out.

    ``str()`` is an English sentence for logs; ``message_zh`` one Chinese sentence for the
    user; ``code`` a stable machine code; ``details`` further lines for the user (Chinese).
    """

    def __init__(
        self,
        code: str,
        message: str,
        message_zh: str,
        *,
        path: Path | None = None,
        details: Sequence[str] = (),
    ) -> None:
        super().__init__(code, message, message_zh, path=path, details=details)
        #: When a load failed: its manifest row and, if it got that far, its quality report.
        self.load_id: int | None = None
        self.quality: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The error shape stored in the manifest and shown by the API."""
        return {"code": self.code, "message": self.message_zh, "details": self.details, "log": str(self)}


class FeedFileError(FeedError):
    """The file cannot be read as a feed of its kind (codes ``unsupported_type``,
    ``unreadable``, ``empty``, ``missing_columns``, ``duplicate_columns``)."""


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> Any:
    """The single value of a query (fetched whole: DuckDB 2 refuses new work on a connection
    while a result is unfinished)."""
    return con.execute(sql, params).fetchall()[0][0]


# --- the file as a whole ------------------------------------------------------------------


@dataclass(frozen=True)
class FileScan:
    """One pass over the bytes of a file: its SHA-256, and what CSV numbering needs.

    ``content_lines`` is the number of lines up to the last one with anything but whitespace
    on it (blank lines at the end do not count), or None when that cannot be told from the
    last 64 KiB. ``has_quote``: a ``"`` occurs, so a field might hold a line break.
    """

    sha256: str
    size: int
    newlines: int
    ends_with_newline: bool
    content_lines: int | None
    has_quote: bool


def scan_file(path: Path) -> FileScan:
    """SHA-256 and line counts in one read of the file (0.5 s for 600 MB)."""
    h = hashlib.sha256()
    size = newlines = 0
    has_quote = False
    tail = b""
    with path.open("rb") as f:
        while chunk := f.read(_SCAN_CHUNK):
            h.update(chunk)
            size += len(chunk)
            newlines += chunk.count(b"\n")
            has_quote = has_quote or b'"' in chunk
            tail = (tail + chunk)[-_TAIL_BYTES:]
    stripped = tail.rstrip(_WHITESPACE)
    content_lines: int | None
    if not stripped and size > len(tail):
        content_lines = None  # more trailing whitespace than the tail holds
    elif not stripped:
        content_lines = 0
    else:
        content_lines = newlines - tail[len(stripped) :].count(b"\n") + 1
    return FileScan(h.hexdigest(), size, newlines, tail.endswith(b"\n"), content_lines, has_quote)


@dataclass
class FeedFile:
    """What was read (the rows themselves are in the DuckDB table :data:`RAW_TABLE`).

    - ``headers``: the file's columns as written, in order; column ``c{i}`` holds ``headers[i]``.
    - ``mapping``: contract column → index into ``headers``.
    - ``encoding``: for CSV ``utf-8``, ``utf-8-sig``, ``gb18030`` (GBK files included: a
      superset) or ``utf-16``; ``utf-8`` for JSON lines; None otherwise.
    - ``warnings``: things the user should know that did not stop the reading (Chinese).
    """

    path: Path
    format: str
    encoding: str | None
    headers: list[str]
    mapping: dict[str, int]
    rows: int
    sheet: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def unknown_headers(self) -> list[str]:
        """Headers that name no contract column (their values are not loaded)."""
        used = set(self.mapping.values())
        return [h for i, h in enumerate(self.headers) if i not in used and h]

    def column_of(self, name: str) -> str | None:
        """The text column holding contract column ``name``, or None if the file lacks it."""
        index = self.mapping.get(name)
        return None if index is None else f"c{index}"


def detect_format(path: Path) -> str:
    """``csv``, ``xlsx``, ``parquet`` or ``jsonl``, from the content's magic bytes and the suffix.

    Raises :class:`FeedFileError` for other types (old ``.xls`` workbooks included)."""
    suffix = path.suffix.lower()
    with path.open("rb") as f:
        magic = f.read(8)
    if magic.startswith(_XLS_MAGIC):
        raise FeedFileError(
            "unsupported_type",
            "an old binary .xls workbook or an encrypted workbook",
            f"文件“{path.name}”是旧版Excel（.xls）格式或设置了打开密码，"
            "请在Excel或WPS中取消密码并另存为.xlsx后重新提交。",
            path=path,
        )
    if magic.startswith(_ZIP_MAGIC):
        return "xlsx"
    if magic.startswith(_PARQUET_MAGIC):
        return "parquet"
    if suffix in CSV_SUFFIXES:
        return "csv"
    if suffix in JSONL_SUFFIXES:
        return "jsonl"
    if suffix in XLSX_SUFFIXES | PARQUET_SUFFIXES:
        if not magic:
            raise _empty(path)
        raise _unreadable(path, f"not a {suffix} file (magic bytes {magic!r})")
    raise FeedFileError(
        "unsupported_type",
        f"unsupported file type {suffix or '(none)'}",
        f"不支持“{suffix or '（无扩展名）'}”类型的文件，请提交CSV（.csv）、Excel工作簿（.xlsx）、"
        "Parquet（.parquet）或JSON Lines（.jsonl）文件。",
        path=path,
    )


def read_feed(
    con: duckdb.DuckDBPyConnection,
    contract: FeedContract,
    path: Path,
    *,
    scan: FileScan | None = None,
) -> FeedFile:
    """Read ``path`` into the table :data:`RAW_TABLE` of ``con`` (replacing it) and match its
    headers to ``contract``.

    Raises :class:`FeedFileError` when the file is of an unsupported type, unreadable, empty,
    lacks a required column or has two columns for the same contract column. ``scan`` (from
    :func:`scan_file`) saves a second pass over a CSV or JSON lines file.
    """
    path = Path(path)
    fmt = detect_format(path)
    con.execute(f"DROP TABLE IF EXISTS {RAW_TABLE}")
    if fmt == "csv":
        feed = _read_csv(con, contract, path, scan or scan_file(path))
    elif fmt == "jsonl":
        feed = _read_jsonl(con, contract, path, scan or scan_file(path))
    elif fmt == "parquet":
        feed = _read_parquet(con, contract, path)
    else:
        feed = _read_xlsx(con, contract, path)
    log.info(
        "read feed %s (%s, %s): %d rows, columns %s, unknown headers %s",
        path.name,
        fmt,
        feed.encoding or "-",
        feed.rows,
        feed.mapping,
        feed.unknown_headers,
    )
    return feed


def read_feed_table(contract: FeedContract, path: Path) -> pa.Table:
    """A feed file as an Arrow table of text: ``row_no`` and the contract columns it has.

    For inspection and tests; loading goes through :func:`read_feed` in DuckDB."""
    con = duckdb.connect()
    try:
        feed = read_feed(con, contract, path)
        cols = ["row_no", *(f"c{i} AS {name}" for name, i in feed.mapping.items())]
        return con.sql(f"SELECT {', '.join(cols)} FROM {RAW_TABLE} ORDER BY row_no").to_arrow_table()
    finally:
        con.close()


# --- headers ------------------------------------------------------------------------------


def _headers_of(contract: FeedContract) -> HeaderMap:
    """The contract's headers, compared as the roster reader compares them (a few dozen)."""
    try:
        return HeaderMap({}, {}).extended(
            {c.name: c.headers() for c in contract.columns}, f"{contract.kind}.yaml"
        )
    except RosterFileError as exc:
        raise ValueError(f"contract {contract.kind}: {exc}") from exc


def match_headers(contract: FeedContract, headers: Sequence[str], path: Path) -> dict[str, int]:
    """Contract column → index of the header that names it.

    Raises :class:`FeedFileError` when a required column is missing or two headers name
    the same column."""
    known = _headers_of(contract)
    mapping: dict[str, int] = {}
    for i, text in enumerate(headers):
        name = known.field_of(text)
        if name is None:
            continue
        if name in mapping:
            first = headers[mapping[name]]
            label = contract.column(name).label
            raise FeedFileError(
                "duplicate_columns",
                f"columns {mapping[name] + 1} ({first!r}) and {i + 1} ({text!r}) both map to {name!r}",
                f"文件“{path.name}”的第{mapping[name] + 1}列“{first}”和第{i + 1}列“{text}”都表示“{label}”，"
                "请删除或改名其中一列后重新提交。",
                path=path,
            )
        mapping[name] = i
    missing = [c for c in contract.columns if c.required and c.name not in mapping]
    if missing:
        labels = [
            f"“{c.label}”" + (f"（也可写作：{'、'.join(c.aliases)}）" if c.aliases else "") for c in missing
        ]
        shown = "、".join(h for h in headers if h) or "（无）"
        raise FeedFileError(
            "missing_columns",
            f"lacks required columns: {', '.join(c.name for c in missing)}",
            f"文件“{path.name}”缺少{contract.title}的必需列：{'；'.join(labels)}。"
            "请补上这些列（表头须在第一行）后重新提交。",
            path=path,
            details=[f"文件的表头：{shown}"],
        )
    return mapping


def _header_texts(cells: Sequence[Any]) -> list[str]:
    return ["".join(str(c).split()) if c is not None else "" for c in cells]


# --- CSV ----------------------------------------------------------------------------------


def _read_csv(con: duckdb.DuckDBPyConnection, contract: FeedContract, path: Path, scan: FileScan) -> FeedFile:
    with path.open("rb") as f:
        head = f.read(_HEAD_BYTES)
    if not head.strip():
        raise _empty(path)
    codec, encoding = _csv_encoding(head, path)
    text = _decode_head(head, codec, path)
    header, delimiter, header_lines = _csv_header(text, contract)
    if not any(header):
        raise _empty(path)
    mapping = match_headers(contract, header, path)
    width = len(header)
    rows = None
    expected = None if scan.content_lines is None else scan.content_lines - 1
    if encoding != "utf-16" and header_lines == 1 and expected is not None:
        rows, codec = _csv_fast(con, path, codec, delimiter, width, expected, scan.has_quote, head)
        encoding = codec
    if rows is None:
        rows = _csv_slow(con, path, codec, delimiter, width)
    return FeedFile(path, "csv", encoding, header, mapping, rows)


def _csv_encoding(head: bytes, path: Path) -> tuple[str, str]:
    """(Python codec, encoding label) of a CSV file from its first megabyte."""
    if head.startswith(_UTF8_BOM):
        return "utf-8-sig", "utf-8-sig"
    if head.startswith(_UTF16_BOMS):
        return "utf-16", "utf-16"
    if b"\x00" in head:
        raise _unreadable(path, "binary content (NUL bytes)")
    whole = head if len(head) < _HEAD_BYTES else head[: head.rfind(b"\n") + 1] or head
    if _is_utf8(whole) or _utf8_prefix(whole):
        return "utf-8", "utf-8"
    # Not UTF-8 as a whole, yet mostly UTF-8: a UTF-8 file with some GBK (or broken) bytes,
    # which GB18030 would silently turn into nonsense. (GBK text read as UTF-8 is almost all
    # invalid sequences.)
    text = whole.decode("utf-8", errors="replace")
    bad = text.count("\ufffd")
    good = len(text) - len(text.encode("ascii", "ignore")) - bad
    if good > 10 * bad:
        raise _mixed_encoding(path, f"{bad} invalid UTF-8 sequences among {good} valid non-ASCII characters")
    return "gb18030", "gb18030"


def _utf8_prefix(data: bytes) -> bool:
    """Valid UTF-8 except perhaps a character cut off at the end."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(data, final=False)
    except UnicodeDecodeError:
        return False
    return True


def _decode_head(head: bytes, codec: str, path: Path) -> str:
    try:
        return codecs.getincrementaldecoder(codec)().decode(head, final=False)
    except UnicodeDecodeError as exc:
        raise _unreadable(path, f"not decodable as {codec}: {exc}") from exc


def _csv_header(text: str, contract: FeedContract) -> tuple[list[str], str, int]:
    """The header row (cells with whitespace removed), its delimiter and how many lines it
    spans. The delimiter is the one under which most header cells name contract columns."""
    known = _headers_of(contract)
    best: tuple[int, list[str], str, int] | None = None
    for delimiter in _DELIMITERS:
        stream = io.StringIO(text, newline="")
        try:
            cells = next(csv.reader(stream, delimiter=delimiter), [])
        except csv.Error:
            continue
        header = _header_texts(cells)
        score = len({known.field_of(h) for h in header} - {None})
        consumed = text[: stream.tell()] if stream.tell() else text
        lines = max(1, consumed.rstrip("\r\n").count("\n") + 1)
        if best is None or score > best[0]:
            best = (score, header, delimiter, lines)
    assert best is not None
    return best[1], best[2], best[3]


def _csv_fast(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    codec: str,
    delimiter: str,
    width: int,
    expected: int,
    quoted: bool,
    head: bytes,
) -> tuple[int | None, str]:
    """Stream the records with Arrow's reader, numbered 2, 3, …; the row count (None when
    the records do not match the lines one to one, so the numbers would be wrong) and the
    codec that read them (a file with an ASCII head may turn out to be GB18030)."""
    names = [f"c{i}" for i in range(width)]
    irregular = 0

    def on_invalid(_row: Any) -> str:
        nonlocal irregular
        irregular += 1
        return "skip"

    arrow_codec = "utf8" if codec in ("utf-8", "utf-8-sig") else codec
    try:
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(
                column_names=names, skip_rows=1, block_size=_BLOCK, encoding=arrow_codec
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
        rows = _stream_into(con, _numbered(reader, 2, extra_problem=True))
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        con.execute(f"DROP TABLE IF EXISTS {RAW_TABLE}")
        message = str(exc)
        if codec == "utf-8" and ("UTF8" in message or "UTF-8" in message):
            if not head.isascii():
                raise _mixed_encoding(path, exc) from exc
            log.info("%s: invalid UTF-8 after an ASCII head; reading as GB18030", path.name)
            return _csv_fast(con, path, "gb18030", delimiter, width, expected, quoted, head)
        if isinstance(exc, UnicodeDecodeError):
            raise _mixed_encoding(path, exc) from exc
        log.info("%s: Arrow could not parse the CSV (%s); reading it record by record", path.name, exc)
        return None, codec
    if irregular or rows != expected:
        log.info(
            "%s: %d records on %d data lines (%d irregular); reading record by record for exact row numbers",
            path.name,
            rows,
            expected,
            irregular,
        )
        con.execute(f"DROP TABLE {RAW_TABLE}")
        return None, codec
    return rows, codec


def _numbered(reader: pa.RecordBatchReader, first: int, *, extra_problem: bool) -> pa.RecordBatchReader:
    """The batches of ``reader`` with ``row_no`` (first, first + 1, …) and an empty
    ``row_problem`` column prepended/appended."""
    fields = [pa.field("row_no", pa.int64()), *reader.schema]
    if extra_problem:
        fields.append(pa.field(ROW_PROBLEM, pa.string()))
    schema = pa.schema(fields)
    start = first

    def batches() -> Iterator[pa.RecordBatch]:
        nonlocal start
        for batch in reader:
            n = batch.num_rows
            cols = [pa.array(np.arange(start, start + n, dtype=np.int64)), *batch.columns]
            if extra_problem:
                cols.append(pa.nulls(n, pa.string()))
            start += n
            yield pa.RecordBatch.from_arrays(cols, schema=schema)

    return pa.RecordBatchReader.from_batches(schema, batches())


def _stream_into(con: duckdb.DuckDBPyConnection, reader: pa.RecordBatchReader) -> int:
    con.register("feed_source", reader)
    try:
        con.execute(f"CREATE TABLE {RAW_TABLE} AS SELECT * FROM feed_source")
    except duckdb.InvalidInputException as exc:
        # An error raised inside the Arrow stream surfaces wrapped by DuckDB.
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, pa.ArrowInvalid | UnicodeDecodeError):
            raise cause from exc
        if "UTF8" in str(exc) or "UTF-8" in str(exc) or "decode" in str(exc):
            raise pa.ArrowInvalid(str(exc)) from exc
        raise
    finally:
        con.unregister("feed_source")
    return int(scalar(con, f"SELECT count(*) FROM {RAW_TABLE}"))


def _csv_slow(con: duckdb.DuckDBPyConnection, path: Path, codec: str, delimiter: str, width: int) -> int:
    """Every record numbered as Excel shows it (blank lines count as rows and are skipped; a
    record with quoted line breaks is one row). Python's csv module, 100,000 rows at a time."""
    names = [f"c{i}" for i in range(width)]
    schema = pa.schema(
        [
            pa.field("row_no", pa.int64()),
            *(pa.field(n, pa.string()) for n in names),
            pa.field(ROW_PROBLEM, pa.string()),
        ]
    )

    def batches() -> Iterator[pa.RecordBatch]:
        cols: list[list[str | None]] = [[] for _ in range(width)]
        rows: list[int] = []
        problems: list[str | None] = []

        def flush() -> pa.RecordBatch:
            batch = pa.RecordBatch.from_arrays(
                [
                    pa.array(rows, pa.int64()),
                    *(pa.array(c, pa.string()) for c in cols),
                    pa.array(problems, pa.string()),
                ],
                schema=schema,
            )
            for c in cols:
                c.clear()
            rows.clear()
            problems.clear()
            return batch

        with path.open("rb") as raw:
            stream = io.TextIOWrapper(raw, encoding=codec, errors="strict", newline="")
            records = csv.reader(stream, delimiter=delimiter)
            next(records, None)  # the header
            for k, cells in enumerate(records, start=2):
                if not any(c.strip() for c in cells):
                    continue
                rows.append(k)
                for j in range(width):
                    cols[j].append(cells[j] if j < len(cells) and cells[j] != "" else None)
                extra = any(c.strip() for c in cells[width:])
                problems.append(TOO_MANY_VALUES if extra else None)
                if len(rows) >= _SLOW_BATCH:
                    yield flush()
        if rows:
            yield flush()

    try:
        return _stream_into(con, pa.RecordBatchReader.from_batches(schema, batches()))
    except UnicodeDecodeError as exc:
        raise _mixed_encoding(path, exc) from exc
    except csv.Error as exc:
        raise _unreadable(path, f"malformed CSV: {exc}") from exc
    except pa.ArrowInvalid as exc:
        raise _unreadable(path, str(exc)) from exc


# --- JSON lines ---------------------------------------------------------------------------


def _read_jsonl(
    con: duckdb.DuckDBPyConnection, contract: FeedContract, path: Path, scan: FileScan
) -> FeedFile:
    if scan.content_lines == 0:
        # No line, no record: JSON lines has no header, so this is a file of zero rows
        # (an events feed of a quiet month); the caller decides whether that is acceptable.
        con.execute(f"CREATE TABLE {RAW_TABLE} (row_no BIGINT, {ROW_PROBLEM} VARCHAR)")
        return FeedFile(path, "jsonl", "utf-8", [], {}, 0)
    con.execute("DROP TABLE IF EXISTS feed_lines")
    try:
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(column_names=["line"], block_size=_BLOCK),
            parse_options=pacsv.ParseOptions(
                delimiter=_LINE_ONLY, quote_char=False, escape_char=False, ignore_empty_lines=False
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={"line": pa.string()}, strings_can_be_null=False
            ),
        )
        con.register("feed_source", _numbered(reader, 1, extra_problem=False))
        try:
            con.execute("CREATE TABLE feed_lines AS SELECT * FROM feed_source")
        finally:
            con.unregister("feed_source")
    except (pa.ArrowInvalid, duckdb.InvalidInputException) as exc:
        raise _unreadable(
            path,
            f"JSON lines must be UTF-8 text ({exc})",
            f"无法读取文件“{path.name}”：JSON Lines文件应为UTF-8编码的文本，每行一个JSON对象。",
        ) from exc
    lines_read = int(scalar(con, "SELECT count(*) FROM feed_lines"))
    expected = scan.newlines + (0 if scan.ends_with_newline else 1)
    if lines_read != expected:
        raise _unreadable(path, f"{lines_read} lines read, {expected} expected (control characters?)")
    # CASE, not AND: json_type raises on text that is not JSON, and AND evaluates both sides.
    valid = "CASE WHEN json_valid(line) THEN json_type(line) = 'OBJECT' ELSE false END"
    keys = [
        str(r[0])
        for r in con.execute(
            # Keys in the order they first appear: line, then place in the line.
            f"""SELECT k FROM (SELECT row_no, unnest(ks) AS k, unnest(range(len(ks))) AS i
                               FROM (SELECT row_no, json_keys(line) AS ks FROM feed_lines WHERE {valid}))
                GROUP BY k ORDER BY min(row_no), arg_min(i, row_no), k"""
        ).fetchall()
    ]
    if not keys:
        con.execute("DROP TABLE feed_lines")
        raise _unreadable(
            path,
            "no JSON object found",
            f"无法读取文件“{path.name}”：没有找到JSON对象，JSON Lines文件应每行一个JSON对象，如"
            '{"公民身份号码": "…", …}。',
        )
    headers = ["".join(k.split()) for k in keys]
    mapping = match_headers(contract, headers, path)
    paths = ['$."' + k.replace("\\", "\\\\").replace('"', '\\"') + '"' for k in keys]
    cols = ", ".join(f"v[{i + 1}] AS c{i}" for i in range(len(keys)))
    con.execute(
        f"""CREATE TABLE {RAW_TABLE} AS
            SELECT row_no, {cols},
                   CASE WHEN NOT ok THEN '{NOT_JSON_OBJECT}' END AS {ROW_PROBLEM}
            FROM (SELECT row_no, ok, CASE WHEN ok THEN json_extract_string(line, $paths) END AS v
                  FROM (SELECT row_no, line, {valid} AS ok FROM feed_lines WHERE trim(line) <> ''))""",
        {"paths": paths},
    )
    con.execute("DROP TABLE feed_lines")
    rows = int(scalar(con, f"SELECT count(*) FROM {RAW_TABLE}"))
    return FeedFile(path, "jsonl", "utf-8", keys, mapping, rows)


# --- Parquet ------------------------------------------------------------------------------


def _read_parquet(con: duckdb.DuckDBPyConnection, contract: FeedContract, path: Path) -> FeedFile:
    source = "read_parquet($path, file_row_number = true)"
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM {source}", {"path": str(path)}).fetchall()
    except duckdb.Error as exc:
        raise _unreadable(path, str(exc)) from exc
    names = [str(r[0]) for r in described][:-1]  # the last is file_row_number
    if not names:
        raise _empty(path)
    headers = ["".join(n.split()) for n in names]
    mapping = match_headers(contract, headers, path)
    # Columns by position (#n), so that no name from the file is written into the SQL.
    cols = ", ".join(f"CAST(#{i + 1} AS VARCHAR) AS c{i}" for i in range(len(names)))
    try:
        con.execute(
            f"""CREATE TABLE {RAW_TABLE} AS
                SELECT CAST(#{len(names) + 1} AS BIGINT) + 1 AS row_no, {cols},
                       CAST(NULL AS VARCHAR) AS {ROW_PROBLEM}
                FROM {source}""",
            {"path": str(path)},
        )
    except duckdb.Error as exc:
        raise _unreadable(path, str(exc)) from exc
    rows = int(scalar(con, f"SELECT count(*) FROM {RAW_TABLE}"))
    return FeedFile(path, "parquet", None, headers, mapping, rows)


# --- XLSX ---------------------------------------------------------------------------------


def _read_xlsx(con: duckdb.DuckDBPyConnection, contract: FeedContract, path: Path) -> FeedFile:
    from openpyxl import load_workbook  # costly to import, and only XLSX needs it

    # openpyxl warns about parts it drops (data validation extensions…); they do not matter
    # for reading values, so they go to the log.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            wb = load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds for a broken package
            raise _unreadable(path, f"{type(exc).__name__}: {exc}") from exc
        try:
            feed, table = _read_first_sheet(wb, contract, path)
        except FeedFileError:
            raise
        except Exception as exc:
            raise _unreadable(path, f"{type(exc).__name__}: {exc}") from exc
        finally:
            wb.close()
    for w in caught:
        log.info("%s: openpyxl: %s", path.name, w.message)
    con.register("feed_source", table)
    try:
        con.execute(f"CREATE TABLE {RAW_TABLE} AS SELECT * FROM feed_source")
    finally:
        con.unregister("feed_source")
    return feed


def _read_first_sheet(wb: Any, contract: FeedContract, path: Path) -> tuple[FeedFile, pa.Table]:
    sheets = list(wb.worksheets)
    if not sheets:
        raise _empty(path)
    ws = sheets[0]
    if hasattr(ws, "reset_dimensions"):
        ws.reset_dimensions()  # a wrong <dimension> would cut rows short
    rows = ws.iter_rows(values_only=True)
    first = next(rows, None)
    texts = [_cell_text(v) or "" for v in (first or ())]
    while texts and not texts[-1]:
        texts.pop()
    if not texts:
        raise _empty(path)
    headers = _header_texts(texts)
    mapping = match_headers(contract, headers, path)
    width = len(headers)
    cols: list[list[str | None]] = [[] for _ in range(width)]
    numbers: list[int] = []
    for r, values in enumerate(rows, start=2):
        cells = [_cell_text(v) for v in values[:width]]
        if not any(cells):
            continue
        numbers.append(r)
        for j in range(width):
            cols[j].append(cells[j] if j < len(cells) else None)
    table = pa.table(
        {
            "row_no": pa.array(numbers, pa.int64()),
            **{f"c{j}": pa.array(cols[j], pa.string()) for j in range(width)},
            ROW_PROBLEM: pa.nulls(len(numbers), pa.string()),
        }
    )
    feed = FeedFile(path, "xlsx", None, headers, mapping, len(numbers), sheet=ws.title)
    others = [s.title for s in sheets[1:] if _has_content(s)]
    if others:
        feed.warnings.append(
            f"只读取了第一个工作表“{ws.title}”，其余工作表（{'、'.join(others)}）未读取；"
            "数据较多时请分成几个文件提交，或改用CSV文件。"
        )
    return feed, table


def _has_content(ws: Any) -> bool:
    for values in ws.iter_rows(values_only=True, max_row=50):
        if any(v is not None and v != "" for v in values):
            return True
    return False


# --- errors -------------------------------------------------------------------------------


def _unreadable(path: Path, why: str, zh: str | None = None) -> FeedFileError:
    return FeedFileError(
        "unreadable",
        f"cannot be read as a feed ({why})",
        zh or f"无法读取文件“{path.name}”：文件可能已损坏，或者内容与其格式（扩展名）不符。",
        path=path,
    )


def _mixed_encoding(path: Path, why: object) -> FeedFileError:
    return _unreadable(
        path,
        f"mixed or broken text encoding: {why}",
        f"文件“{path.name}”中有无法识别的文字（可能混用了UTF-8和GBK编码），请重新导出为UTF-8编码的CSV文件。",
    )


def _empty(path: Path) -> FeedFileError:
    return FeedFileError("empty", "the file is empty", f"文件“{path.name}”是空的，没有任何内容。", path=path)


def no_rows_error(path: Path) -> FeedFileError:
    """The error for a snapshot feed without data rows."""
    return FeedFileError(
        "empty",
        "no data rows in a snapshot feed",
        f"文件“{path.name}”中没有数据行：全量名单不应为空，未载入任何内容，请检查导出是否完整。",
        path=path,
    )
