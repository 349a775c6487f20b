"""Where loaded feeds live, and the files a load writes.

Layout under the data directory::

    feeds/<kind>/<YYYY-MM>/load-<id>.parquet          good rows, exactly FeedContract.stored_schema()
    feeds/<kind>/<YYYY-MM>/load-<id>-rejects.csv      quarantine: 行号, 列, 原因 and the original values
    feeds/<kind>/<YYYY-MM>/load-<id>-quality.json     the quality report (also in feed_loads.quality)
    feeds/<kind>/<YYYY-MM>/load-<id>-by-person.parquet the good rows again, sorted by person, written
                                                       on the first lookup of one household's members

Every file is written under a temporary name and renamed into place, so a load that fails
half-way never leaves a file that looks finished. The good rows come out of DuckDB as Arrow
batches in row order and go into Parquet (zstd) with the contract's schema; the quarantine
file is UTF-8 with a BOM and CRLF line ends so that Excel opens it, with long digit strings
(IDs) kept as text.
"""

from __future__ import annotations

import csv
import io
import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from doudi.feeds.contract import FeedContract
from doudi.feeds.reader import RAW_TABLE
from doudi.feeds.validate import PROBLEMS, TYPED

_BATCH = 500_000
QUARANTINE_HEADERS = ("行号", "列", "原因")


def load_dir(data_dir: Path, kind: str, period: str) -> Path:
    return Path(data_dir) / "feeds" / kind / period


def parquet_path(data_dir: Path, kind: str, period: str, load_id: int) -> Path:
    return load_dir(data_dir, kind, period) / f"load-{load_id}.parquet"


def quarantine_path(data_dir: Path, kind: str, period: str, load_id: int) -> Path:
    return load_dir(data_dir, kind, period) / f"load-{load_id}-rejects.csv"


def quality_path(data_dir: Path, kind: str, period: str, load_id: int) -> Path:
    return load_dir(data_dir, kind, period) / f"load-{load_id}-quality.json"


def _temporary(path: Path) -> Path:
    return path.with_name(path.name + ".tmp")


# Rows per row group of a by-person copy: a lookup of a few citizen IDs reads one or two groups
# (their min/max statistics skip the rest) instead of every row of the load.
BY_PERSON_ROWS = 4096


def by_person_path(path: Path) -> Path:
    return path.with_name(f"{path.stem}-by-person.parquet")


def by_person(con: duckdb.DuckDBPyConnection, path: Path, person_column: str) -> Path:
    """The stored rows of a load sorted by ``person_column`` in small row groups, for lookups of
    a household's members (a page, not a batch): written on first use and kept, since a load's
    file never changes. Several processes may write it at once: each writes its own temporary
    file and the rename is atomic, so readers see a whole file or none."""
    target = by_person_path(path)
    if target.is_file():
        return target
    tmp = target.with_name(f"{target.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    try:
        con.read_parquet(str(path)).order(f"{person_column}, row_no").write_parquet(
            str(tmp), compression="zstd", row_group_size=BY_PERSON_ROWS
        )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def write_good_rows(
    con: duckdb.DuckDBPyConnection, contract: FeedContract, path: Path, *, period: str, load_id: int
) -> int:
    """The rows that passed, in file order, as Parquet with exactly ``stored_schema()``."""
    schema = contract.stored_schema()
    cols = ", ".join(f"v_{c.name} AS {c.name}" for c in contract.columns)
    reader = con.sql(
        f"""SELECT {cols}, CAST($period AS VARCHAR) AS period, CAST($load_id AS BIGINT) AS load_id,
                   CAST(row_no AS BIGINT) AS row_no
            FROM {TYPED} WHERE ok ORDER BY row_no""",
        params={"period": period, "load_id": load_id},
    ).to_arrow_reader(_BATCH)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary(path)
    rows = 0
    try:
        with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
            for batch in reader:
                writer.write_batch(batch.cast(schema))
                rows += batch.num_rows
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return rows


def _excel_safe(column: str) -> str:
    """SQL keeping a value as Excel shows it: long digit strings (IDs, codes with leading
    zeros) get a trailing tab so that they stay text, and a value Excel would run as a
    formula gets a leading apostrophe (the same rules as the registry's rejects file)."""
    return (
        f"CASE WHEN regexp_full_match({column}, '[0-9]{{12,}}|0[0-9]+|[0-9]{{17}}[0-9Xx]') THEN {column} || chr(9) "
        f"WHEN regexp_matches({column}, '^[=@\\t\\r]') OR (regexp_matches({column}, '^[+-]') "
        f"AND NOT regexp_full_match({column}, '[+-][0-9.,]+')) THEN '''' || {column} "
        f"ELSE {column} END"
    )


def write_quarantine(con: duckdb.DuckDBPyConnection, headers: Sequence[str], path: Path) -> int:
    """Rejected rows with 行号, 列, 原因 and every column of the file as it was delivered,
    headed as in the file; several problems of a row are joined by "；"."""
    originals = ", ".join(_excel_safe(f"r.c{i}") + f" AS c{i}" for i in range(len(headers)))
    reader = con.sql(
        f"""SELECT p.row_no, p.cols, p.reasons, {originals}
            FROM (SELECT row_no, string_agg(col, '、' ORDER BY ord) AS cols,
                         string_agg(reason, '；' ORDER BY ord) AS reasons
                  FROM {PROBLEMS} GROUP BY row_no) p
            JOIN {RAW_TABLE} r USING (row_no)
            ORDER BY p.row_no"""
    ).to_arrow_reader(_BATCH)
    shown = [h or f"第{i + 1}列" for i, h in enumerate(headers)]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary(path)
    rows = 0
    try:
        header = io.StringIO()
        csv.writer(header, lineterminator="\r\n").writerow([*QUARANTINE_HEADERS, *shown])
        with tmp.open("wb") as raw:
            raw.write(b"\xef\xbb\xbf" + header.getvalue().encode("utf-8"))
            writer = pacsv.CSVWriter(
                raw,
                reader.schema,
                write_options=pacsv.WriteOptions(include_header=False, quoting_style="needed", eol="\r\n"),
            )
            for batch in reader:
                writer.write_batch(batch)
                rows += batch.num_rows
            writer.close()
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return rows


def write_quality(quality: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary(path)
    tmp.write_text(json.dumps(quality, ensure_ascii=False, indent=2), encoding="utf-8")
    os.replace(tmp, path)


def diff_loads(
    con: duckdb.DuckDBPyConnection, contract: FeedContract, old: Path, new: Path
) -> dict[str, int]:
    """Rows added, removed and changed between two stored loads, matched by the contract's
    key (unique within each load: duplicates were rejected). A row is changed when any other
    contract column differs (NULLs compare equal)."""
    old_names = set(pq.read_schema(old).names)
    new_names = set(pq.read_schema(new).names)
    key = list(contract.key)
    if not set(key) <= old_names & new_names:
        raise ValueError(f"key {key} missing from {old} or {new}")
    others = [c for c in contract.names if c not in key and c in old_names and c in new_names]
    cols = ", ".join([*key, *others])
    on = " AND ".join(f"o.{k} IS NOT DISTINCT FROM n.{k}" for k in key)
    differs = " OR ".join(f"o.{c} IS DISTINCT FROM n.{c}" for c in others) or "false"
    row = con.execute(
        f"""SELECT count(*) FILTER (WHERE o.present IS NULL) AS added,
                   count(*) FILTER (WHERE n.present IS NULL) AS removed,
                   count(*) FILTER (WHERE o.present AND n.present AND ({differs})) AS changed,
                   count(*) FILTER (WHERE o.present AND n.present AND NOT ({differs})) AS unchanged,
                   count(*) FILTER (WHERE o.present) AS rows_before,
                   count(*) FILTER (WHERE n.present) AS rows_after
            FROM (SELECT {cols}, true AS present FROM read_parquet($old)) o
            FULL OUTER JOIN (SELECT {cols}, true AS present FROM read_parquet($new)) n ON {on}""",
        {"old": str(old), "new": str(new)},
    ).fetchall()[0]
    names = ("added", "removed", "changed", "unchanged", "rows_before", "rows_after")
    return {name: int(v) for name, v in zip(names, row, strict=True)}
