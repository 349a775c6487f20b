"""Delivered feeds read back: formats, encodings, Chinese headers and labels, and every planted
mess exactly where the manifest says (and nowhere else).

The files are read here with the plain libraries (csv, openpyxl, json, pyarrow), numbering
rows as a loader does: header = row 1 in CSV and XLSX, 1-based lines in JSON lines, 1-based
index in Parquet.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from openpyxl import load_workbook

from doudi import ids
from doudi.feeds.contract import FeedContract, get_contract
from doudi.feeds.synthetic import KINDS, FeedFile, generate_feeds, plant_summary, read_manifest
from doudi.feeds.synthetic_mess import DELIVERY, MESSES, REJECTED
from doudi.registry.synthetic import generate_province

PERIODS = ["2026-08", "2026-09"]  # medical as Parquet, then as CSV; the September school intake

Row = tuple[int, list[Any]]


@pytest.fixture(scope="module")
def delivered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[FeedFile]]:
    province = tmp_path_factory.mktemp("province")
    generate_province(persons=30_000, seed=12, out_dir=province, as_of=dt.date(2026, 11, 1))
    out = tmp_path_factory.mktemp("delivered")
    files = generate_feeds(
        province / "population", PERIODS, out, seed=4, style="delivered", part_persons=8_000
    )
    return out, files


# --- reading the files as delivered ------------------------------------------------------------------


def _text(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        return f"{Decimal(str(value)):.2f}" if value != int(value) else str(int(value))
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, Decimal):
        return str(value)
    return value


def read_rows(path: Path, fmt: str, encoding: str | None) -> tuple[list[str], list[Row]]:
    """(headers, [(row number, values)]) of a delivered file, values as text or None."""
    if fmt == "csv":
        raw = path.read_bytes()
        codec = {"utf-8-sig": "utf-8-sig", "gbk": "gbk"}.get(encoding or "", "utf-8")
        records = list(csv.reader(io.StringIO(raw.decode(codec), newline="")))
        body = [[v if v != "" else None for v in r] for r in records[1:]]
        return records[0], [(i + 2, r) for i, r in enumerate(body)]
    if fmt == "xlsx":
        wb = load_workbook(path, read_only=True)
        ws = wb.worksheets[0]
        rows = [list(r) for r in ws.iter_rows(values_only=True)]
        wb.close()
        return [str(h) for h in rows[0]], [(i + 2, [_text(v) for v in r]) for i, r in enumerate(rows[1:])]
    if fmt == "jsonl":
        lines = path.read_text(encoding="utf-8").splitlines()
        objects = [json.loads(line) for line in lines]
        headers = list(objects[0]) if objects else []
        return headers, [(i + 1, list(o.values())) for i, o in enumerate(objects)]
    table = pq.read_table(path)
    rows = [[_text(v) for v in r.values()] for r in table.to_pylist()]
    return table.column_names, [(i + 1, r) for i, r in enumerate(rows)]


def _rows_of(out: Path, entry: dict[str, Any]) -> tuple[list[str], list[Row]]:
    return read_rows(out / entry["path"], entry["format"], entry["encoding"])


# --- formats, encodings, headers ------------------------------------------------------------------------


def test_each_kind_comes_in_its_format_encoding_and_headers(delivered: tuple[Path, list[FeedFile]]) -> None:
    out, files = delivered
    assert [(f.period, f.kind) for f in files] == [(p, k) for p in PERIODS for k in KINDS]
    formats = {(f.kind, f.period): (f.format, f.encoding) for f in files}
    assert formats["medical", "2026-08"] == ("parquet", None)
    assert formats["medical", "2026-09"] == ("csv", "utf-8")
    for kind in KINDS:
        if kind != "medical":
            assert formats[kind, "2026-09"] == DELIVERY[kind], kind
    used_alias = False
    for entry in read_manifest(out)["files"]:
        contract = get_contract(entry["kind"])
        path = out / entry["path"]
        assert (
            path.suffix
            == "." + {"parquet": "parquet", "csv": "csv", "xlsx": "xlsx", "jsonl": "jsonl"}[entry["format"]]
        )
        if entry["format"] == "csv":
            raw = path.read_bytes()
            assert raw.endswith(b"\r\n") and b"\r\n" in raw
            if entry["encoding"] == "gbk":
                with pytest.raises(UnicodeDecodeError):
                    raw.decode("utf-8")
                raw.decode("gbk")
            elif entry["encoding"] == "utf-8-sig":
                assert raw.startswith(b"\xef\xbb\xbf")
            else:
                assert not raw.startswith(b"\xef\xbb\xbf")
                raw.decode("utf-8")
        headers, rows = _rows_of(out, entry)
        if entry["rows"] or entry["format"] != "jsonl":
            assert headers == entry["headers"], entry["path"]
        assert len(rows) == entry["rows"], entry["path"]
        for header, col in zip(entry["headers"], contract.columns, strict=True):
            assert header in (col.label, *col.aliases), (entry["path"], header)
            used_alias = used_alias or header != col.label
        # Enums come as Chinese labels (an empty cell is a planted missing value)
        for i, col in enumerate(contract.columns):
            if col.type == "enum":
                assert col.values is not None
                found = {r[i] for _, r in rows} - {None}
                assert found <= set(col.values.values()), (entry["path"], col.name, found)
    assert used_alias


def test_xlsx_keeps_ids_as_text_and_dates_as_dates(delivered: tuple[Path, list[FeedFile]]) -> None:
    _out, files = delivered
    f = next(f for f in files if f.kind == "disaster" and f.period == "2026-08")
    assert f.rows > 0
    wb = load_workbook(f.path, read_only=True)
    rows = list(wb.worksheets[0].iter_rows(values_only=True))
    wb.close()
    contract = get_contract("disaster")
    i_id = contract.names.index("citizen_id")
    i_date = contract.names.index("disaster_date")
    i_loss = contract.names.index("loss_amount")
    assert all(isinstance(r[i_id], str) for r in rows[1:] if r[i_id] is not None)
    assert any(isinstance(r[i_date], dt.datetime) for r in rows[1:])
    assert any(isinstance(r[i_loss], float | int) for r in rows[1:])


# --- planted messes -------------------------------------------------------------------------------------

_FULLWIDTH_DIGIT = re.compile("[０-９]")
_FORMATTED = re.compile(r"^[0-9]{1,3}(,[0-9]{3})*\.[0-9]{2}元$")
_PLAIN = re.compile(r"^[0-9]+\.[0-9]{2}$")


def _money_index(contract: FeedContract) -> int | None:
    money = [i for i, c in enumerate(contract.columns) if c.type == "money"]
    required = [i for i in money if contract.columns[i].required]
    return (required or money or [None])[0]


def _in_period(value: str | None, period: str) -> bool:
    return value is not None and value[:7] == period


def _mess_of(contract: FeedContract, period: str, row: list[Any], previous: list[Any] | None) -> set[str]:
    """Every mess visible in a row."""
    found = set()
    raw = row[contract.names.index(contract.person)]
    if raw is not None:
        value = str(raw)
        norm = ids.normalise_citizen_id(value)
        if value != value.strip():
            found.add("spaces")
        if _FULLWIDTH_DIGIT.search(value):
            found.add("fullwidth_digits")
        if value.endswith("x"):
            found.add("lowercase_x")
        if len(norm) == 15 and norm.isdigit():
            found.add("fifteen_digit_id")
        elif not ids.is_valid_citizen_id(norm):
            found.add("bad_check_digit")
    if any(row[i] is None for i, c in enumerate(contract.columns) if c.required):
        found.add("missing_required")
    if contract.event_date is not None:
        date = row[contract.names.index(contract.event_date)]
        if date is not None and not _in_period(date, period):
            found.add("date_out_of_period")
    m = _money_index(contract)
    if m is not None and row[m] is not None:
        text = str(row[m])
        if text.startswith("-"):
            found.add("negative_amount")
        elif _FORMATTED.match(text):
            found.add("formatted_amount")
        else:
            assert _PLAIN.match(text) or text.isdigit(), text
    if previous is not None and row == previous:
        found.add("duplicate_row")
    return found


def test_every_planted_mess_is_in_its_row_and_no_other_row_has_one(
    delivered: tuple[Path, list[FeedFile]],
) -> None:
    out, files = delivered
    manifest = read_manifest(out)
    for entry in manifest["files"]:
        contract = get_contract(entry["kind"])
        planted = {row: mess for mess, rows in entry["planted_rows"].items() for row in rows}
        assert len(planted) == sum(entry["planted"].values()), entry["path"]  # one mess per row
        _, rows = _rows_of(out, entry)
        previous = None
        for row_no, values in rows:
            seen = _mess_of(contract, entry["period"], values, previous)
            expected = planted.get(row_no)
            if expected is None:
                assert not seen, (entry["path"], row_no, seen, values)
            else:
                # A planted duplicate repeats its original; every other mess stands alone
                assert seen == {expected}, (entry["path"], row_no, expected, seen, values)
            previous = values
        assert entry["expected_rejects"] == sum(v for k, v in entry["planted"].items() if k in REJECTED)
    f = {(x.period, x.kind): x for x in files}
    for entry in manifest["files"]:
        x = f[entry["period"], entry["kind"]]
        assert x.planted == entry["planted"] and x.expected_rejects == entry["expected_rejects"]


def test_every_kind_of_mess_is_planted_at_a_small_rate(delivered: tuple[Path, list[FeedFile]]) -> None:
    out, files = delivered
    summary = plant_summary(out)
    assert summary["style"] == "delivered"
    assert set(summary["totals"]) == {m.name for m in MESSES}
    rows = sum(f.rows for f in files)
    planted = sum(summary["totals"].values())
    assert 0.002 < planted / rows < 0.03
    assert summary["expected_rejects"] == sum(f.expected_rejects for f in files) > 0
    # Rows of people from other provinces are no mess: valid IDs that match nobody
    assert sum(f.other_province for f in files) > 0
    # The messes that cannot be cleaned up are the ones a loader must reject
    assert {
        "bad_check_digit",
        "fifteen_digit_id",
        "duplicate_row",
        "date_out_of_period",
        "negative_amount",
        "missing_required",
    } == REJECTED
