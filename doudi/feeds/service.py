"""Loading a feed file for a kind and period, and the manifest (``feed_loads``) of what is in force.

:func:`load_feed` is the one entry point (``doudi feeds load`` and the demo call it):

1. the kind and the period are checked; the file is hashed (SHA-256) in one pass;
2. if the active load of that kind and period has the same hash, nothing happens: no row,
   no file, and the result says ``unchanged``;
3. otherwise a manifest row is added (``running``), the file is read and validated in DuckDB
   (:mod:`doudi.feeds.reader`, :mod:`doudi.feeds.validate`), the good rows are written as
   Parquet, the rejected ones to the quarantine file, the quality report next to them
   (:mod:`doudi.feeds.store`, :mod:`doudi.feeds.quality`);
4. in one transaction the load becomes ``active`` and the previous active load of the kind
   and period, if any, ``superseded`` (a corrected resubmission), with the rows added,
   removed and changed recorded in ``change``; an audit entry is written with it.

A file that cannot be read, lacks a required column, of which no row passes, or that is
an empty snapshot (a full list without a single row is an export gone wrong; an events file
without rows just says nothing happened), ends as a ``failed`` manifest row with the error in ``quality`` and raises
:class:`~doudi.feeds.reader.FeedError`; it never becomes active, so the earlier load stays in
force. (A file of which every row is rejected keeps its quarantine file, so the department
can see why.)

The monthly run reads what is active with :func:`active_loads`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
from sqlalchemy import Connection, Engine, insert, select, update

from doudi import audit
from doudi.db import bulk, duck
from doudi.db.models import FeedLoad
from doudi.feeds import store
from doudi.feeds.contract import FeedContract, default_contracts
from doudi.feeds.quality import failure_report, match_rate, quality_report, registry_match
from doudi.feeds.reader import (
    FeedError,
    FeedFileError,
    FileScan,
    detect_format,
    no_rows_error,
    read_feed,
    scan_file,
)
from doudi.feeds.validate import Validation, validate
from doudi.periods import Period, PeriodError
from doudi.settings import Settings

log = logging.getLogger(__name__)

ACTIVE = "active"
SUPERSEDED = "superseded"
FAILED = "failed"
RUNNING = "running"
_TABLE = FeedLoad.__table__


@dataclass(frozen=True)
class ActiveLoad:
    """A load in force: the monthly run reads ``path`` (Parquet, ``stored_schema()``)."""

    load_id: int
    kind: str
    period: str
    path: Path


@dataclass
class FeedLoadResult:
    """A manifest row as the caller sees it, with the quality report decoded.

    ``unchanged`` is True when the file was already the active load of its kind and period
    (the result then describes that load, and nothing was written)."""

    load_id: int
    kind: str
    period: str
    status: str
    file_name: str
    file_sha256: str
    file_format: str
    rows_read: int
    rows_good: int
    rows_rejected: int
    rows_duplicate: int
    rows_matched: int
    parquet_path: Path | None
    quarantine_path: Path | None
    quality_path: Path | None
    quality: dict[str, Any] = field(default_factory=dict)
    change: dict[str, Any] | None = None
    replaces_load_id: int | None = None
    superseded_by: int | None = None
    actor: str = ""
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    unchanged: bool = False

    @property
    def match_rate(self) -> float:
        return match_rate(self.rows_matched, self.rows_good)

    @property
    def error(self) -> dict[str, Any] | None:
        found = self.quality.get("error")
        return found if isinstance(found, dict) else None

    @classmethod
    def from_row(cls, row: Any, *, unchanged: bool = False) -> FeedLoadResult:
        quality = json.loads(row.quality) if row.quality else {}
        parquet = Path(row.parquet_path) if row.parquet_path else None
        quality_file = Path(quality["quality_path"]) if quality.get("quality_path") else None
        return cls(
            load_id=row.id,
            kind=row.kind,
            period=row.period,
            status=row.status,
            file_name=row.file_name,
            file_sha256=row.file_sha256,
            file_format=row.file_format,
            rows_read=row.rows_read,
            rows_good=row.rows_good,
            rows_rejected=row.rows_rejected,
            rows_duplicate=row.rows_duplicate,
            rows_matched=row.rows_matched,
            parquet_path=parquet,
            quarantine_path=Path(row.quarantine_path) if row.quarantine_path else None,
            quality_path=quality_file,
            quality=quality,
            change=json.loads(row.change) if row.change else None,
            replaces_load_id=row.replaces_load_id,
            superseded_by=row.superseded_by,
            actor=row.actor,
            started_at=row.started_at,
            finished_at=row.finished_at,
            unchanged=unchanged,
        )


# --- requests -----------------------------------------------------------------------------


def contract_for(kind: str) -> FeedContract:
    """The contract of ``kind``; :class:`FeedError` ``unknown_kind`` listing the known kinds."""
    contracts = default_contracts()
    if kind not in contracts:
        known = "、".join(f"{k}（{c.title}）" for k, c in sorted(contracts.items()))
        raise FeedError(
            "unknown_kind",
            f"unknown feed kind {kind!r}; known: {', '.join(sorted(contracts))}",
            f"没有“{kind}”这类数据。可用的数据类别：{known}。",
        )
    return contracts[kind]


def parse_period(period: str) -> Period:
    """``YYYY-MM`` as a :class:`~doudi.periods.Period`; :class:`FeedError` ``bad_period``."""
    try:
        return Period.parse(period)
    except PeriodError as exc:
        raise FeedError("bad_period", f"period {period!r} is not YYYY-MM", str(exc)) from exc


def period_label(p: Period) -> str:
    """``2026年11月``."""
    return f"{p.year}年{p.month}月"


# --- loading ------------------------------------------------------------------------------


def load_feed(
    engine: Engine,
    settings: Settings,
    kind: str,
    path: Path,
    period: str,
    *,
    actor: str,
    progress: Callable[[str], None] | None = None,
) -> FeedLoadResult:
    """Load one feed file for ``kind`` and ``period`` (see the module documentation).

    Raises :class:`FeedError` (``unknown_kind``, ``bad_period``, ``file_missing`` before any
    manifest row; :class:`FeedFileError` codes, ``no_good_rows`` or ``internal`` after a
    ``failed`` one, whose id is the error's ``load_id``). ``progress`` receives the name of
    each step (Chinese)."""
    say = progress or (lambda _m: None)
    contract = contract_for(kind)
    p = parse_period(period)
    period = str(p)
    path = Path(path)
    if not path.is_file():
        raise FeedFileError(
            "file_missing", "file not found", f"找不到文件“{path.name}”，请确认路径是否正确。", path=path
        )
    say("核对文件")
    scan = scan_file(path)
    with engine.begin() as conn:
        active = _active_row(conn, kind, period)
        if active is not None and active.file_sha256 == scan.sha256:
            log.info(
                "%s %s: %s is already the active load %d; nothing to do", kind, period, path.name, active.id
            )
            return FeedLoadResult.from_row(active, unchanged=True)
        try:
            fmt = detect_format(path)
        except FeedFileError:
            fmt = (path.suffix.lower().lstrip(".") or "unknown")[:10]
        load_id = int(
            conn.execute(
                insert(FeedLoad)
                .values(
                    kind=kind,
                    period=period,
                    file_name=path.name[:500],
                    file_sha256=scan.sha256,
                    file_format=fmt,
                    status=RUNNING,
                    actor=actor,
                )
                .returning(FeedLoad.id)
            ).scalar_one()
        )
    job = _Load(engine, settings, contract, path, p, load_id, fmt, scan, active, actor, say)
    con = duck.connect(settings)
    try:
        return job.run(con)
    except FeedError as exc:
        log.warning("feed load %d (%s %s, %s) failed: %s", load_id, kind, period, path.name, exc)
        job.fail(exc)
        raise
    except Exception as exc:
        log.exception("feed load %d (%s %s, %s) failed", load_id, kind, period, path.name)
        error = FeedError(
            "internal",
            f"{type(exc).__name__}: {exc}",
            f"载入文件“{path.name}”时出现内部错误，未载入；请将日志发给系统管理员。",
            path=path,
        )
        job.fail(error)
        raise error from exc
    finally:
        con.close()
        duck.release_arrow_memory()


@dataclass
class _Load:
    """One load after its manifest row was added: read, validate, store, activate (or fail)."""

    engine: Engine
    settings: Settings
    contract: FeedContract
    path: Path
    p: Period
    load_id: int
    fmt: str
    scan: FileScan
    active: Any  # the active manifest row of the kind and period when the load began, or None
    actor: str
    say: Callable[[str], None]
    written: list[Path] = field(default_factory=list)

    @property
    def period(self) -> str:
        return str(self.p)

    def _file(self, make: Callable[[Path, str, str, int], Path]) -> Path:
        target = make(self.settings.data_dir, self.contract.kind, self.period, self.load_id).resolve()
        self.written.append(target)
        return target

    def run(self, con: duckdb.DuckDBPyConnection) -> FeedLoadResult:
        contract, p, say = self.contract, self.p, self.say
        say("读取文件")
        feed = read_feed(con, contract, self.path, scan=self.scan)
        if feed.rows == 0:
            # No events this month is news; an empty full list is an export gone wrong.
            if contract.mode == "snapshot":
                raise no_rows_error(self.path)
            feed.warnings.append(f"文件中没有数据行：本期（{period_label(p)}）没有{contract.title}。")
        say("校验")
        validation = validate(
            con,
            contract,
            feed,
            period_start=p.start.isoformat(),
            period_end=p.end.isoformat(),
            period_label=period_label(p),
        )
        say("与名册比对")
        with self.engine.connect() as conn:
            match = registry_match(con, conn, contract)
        quality = quality_report(
            contract=contract, feed=feed, validation=validation, match=match, period=self.period
        )
        quarantine = None
        if validation.rows_rejected:
            say("写出未通过的行")
            quarantine = self._file(store.quarantine_path)
            store.write_quarantine(con, feed.headers, quarantine)
            quality["quarantine_path"] = str(quarantine)
        quality_file = self._file(store.quality_path)
        quality["quality_path"] = str(quality_file)
        if validation.rows_read and validation.rows_good == 0:
            error = FeedError(
                "no_good_rows",
                f"none of the {validation.rows_read} rows passed validation",
                f"文件“{self.path.name}”的{validation.rows_read}行数据全部未通过校验，未载入；原因见未通过清单。",
                path=self.path,
            )
            quality["error"] = error.to_dict()
            store.write_quality(quality, quality_file)
            error.quality = quality
            raise error
        say("写入数据")
        target = self._file(store.parquet_path)
        store.write_good_rows(con, contract, target, period=self.period, load_id=self.load_id)
        change = None
        if self.active is not None:
            say("与上次提交比对")
            change = self._change(con, self.active, target)
        store.write_quality(quality, quality_file)
        return self._activate(con, validation, match.rows_matched, target, quarantine, quality, change)

    def _change(self, con: duckdb.DuckDBPyConnection, previous: Any, target: Path) -> dict[str, Any] | None:
        """Rows added, removed and changed since ``previous`` (None if its file is gone)."""
        if not previous.parquet_path or not Path(previous.parquet_path).is_file():
            log.warning("load %d: the file of load %d is gone; no change recorded", self.load_id, previous.id)
            return None
        return {
            "replaces_load_id": previous.id,
            **store.diff_loads(con, self.contract, Path(previous.parquet_path), target),
        }

    def _activate(
        self,
        con: duckdb.DuckDBPyConnection,
        validation: Validation,
        rows_matched: int,
        target: Path,
        quarantine: Path | None,
        quality: dict[str, Any],
        change: dict[str, Any] | None,
    ) -> FeedLoadResult:
        """In one transaction: this load active, the one it replaces superseded, the audit entry."""
        kind, period, load_id = self.contract.kind, self.period, self.load_id
        with self.engine.begin() as conn:
            bulk.lock_for_write(conn, ["feed_loads"])
            current = _active_row(conn, kind, period)
            if current is not None and (self.active is None or current.id != self.active.id):
                change = self._change(con, current, target)  # another load became active meanwhile
            replaced = current.id if current is not None else None
            if replaced is not None:
                conn.execute(
                    update(FeedLoad)
                    .where(FeedLoad.id == replaced)
                    .values(status=SUPERSEDED, superseded_by=load_id)
                )
            conn.execute(
                update(FeedLoad)
                .where(FeedLoad.id == load_id)
                .values(
                    status=ACTIVE,
                    replaces_load_id=replaced,
                    rows_read=validation.rows_read,
                    rows_good=validation.rows_good,
                    rows_rejected=validation.rows_rejected,
                    rows_duplicate=validation.rows_duplicate,
                    rows_matched=rows_matched,
                    parquet_path=str(target),
                    quarantine_path=str(quarantine) if quarantine else None,
                    quality=json.dumps(quality, ensure_ascii=False),
                    change=json.dumps(change, ensure_ascii=False) if change else None,
                    finished_at=dt.datetime.now().replace(microsecond=0),
                )
            )
            audit.record(
                conn,
                actor=self.actor,
                action="feed_load",
                object_type="feed_load",
                object_ref=str(load_id),
                detail={
                    "kind": kind,
                    "period": period,
                    "file": self.path.name,
                    "sha256": self.scan.sha256,
                    "rows_read": validation.rows_read,
                    "rows_good": validation.rows_good,
                    "rows_rejected": validation.rows_rejected,
                    "replaces_load_id": replaced,
                },
            )
            row = conn.execute(select(_TABLE).where(FeedLoad.id == load_id)).one()
        log.info(
            "feed load %d (%s %s, %s): %d read, %d good, %d rejected, %d matched%s",
            load_id,
            kind,
            period,
            self.path.name,
            validation.rows_read,
            validation.rows_good,
            validation.rows_rejected,
            rows_matched,
            f", replaces load {replaced}" if replaced else "",
        )
        return FeedLoadResult.from_row(row)

    def fail(self, error: FeedError) -> None:
        """Record the load as failed. The files it wrote go, except the quarantine and quality
        files of a load whose every row was rejected (they say why)."""
        keep = error.code == "no_good_rows"
        for p in self.written:
            if not keep or p.suffix == ".parquet":
                p.unlink(missing_ok=True)
        quality = error.quality or failure_report(
            contract=self.contract,
            period=self.period,
            file_name=self.path.name,
            file_format=self.fmt,
            error=error.to_dict(),
        )
        values: dict[str, Any] = {
            "status": FAILED,
            "quality": json.dumps(quality, ensure_ascii=False),
            "finished_at": dt.datetime.now().replace(microsecond=0),
        }
        if keep:
            values.update(
                rows_read=quality.get("rows_read", 0),
                rows_rejected=quality.get("rows_rejected", 0),
                rows_duplicate=quality.get("rows_duplicate", 0),
                quarantine_path=quality.get("quarantine_path"),
            )
        with self.engine.begin() as conn:
            conn.execute(update(FeedLoad).where(FeedLoad.id == self.load_id).values(**values))
            audit.record(
                conn,
                actor=self.actor,
                action="feed_load_failed",
                object_type="feed_load",
                object_ref=str(self.load_id),
                reason=error.code,
                detail={
                    "kind": self.contract.kind,
                    "period": self.period,
                    "file": self.path.name,
                    "error": str(error),
                },
            )
        error.load_id = self.load_id


# --- the manifest -------------------------------------------------------------------------


def _active_row(conn: Connection, kind: str, period: str) -> Any:
    return conn.execute(
        select(_TABLE).where(FeedLoad.kind == kind, FeedLoad.period == period, FeedLoad.status == ACTIVE)
    ).first()


def active_loads(
    conn: Connection, *, periods: list[str], kinds: list[str] | None = None
) -> dict[str, list[ActiveLoad]]:
    """The loads in force for ``periods``, by kind (every requested kind, or every contract's
    kind, is a key; a kind without loads has an empty list), oldest period first."""
    wanted = list(kinds) if kinds is not None else sorted(default_contracts())
    out: dict[str, list[ActiveLoad]] = {k: [] for k in wanted}
    if not periods or not wanted:
        return out
    rows = conn.execute(
        select(FeedLoad.id, FeedLoad.kind, FeedLoad.period, FeedLoad.parquet_path)
        .where(FeedLoad.status == ACTIVE, FeedLoad.period.in_(periods), FeedLoad.kind.in_(wanted))
        .order_by(FeedLoad.kind, FeedLoad.period, FeedLoad.id)
    ).all()
    for load_id, kind, period, path in rows:
        out[kind].append(ActiveLoad(int(load_id), kind, period, Path(str(path))))
    return out


def list_loads(
    conn: Connection,
    *,
    period: str | None = None,
    kind: str | None = None,
    kinds: Sequence[str] | None = None,
    limit: int | None = None,
) -> list[FeedLoadResult]:
    """Manifest rows, newest first, optionally of one period and/or kind, or of ``kinds`` (an
    API token's), at most ``limit`` of them."""
    query = select(_TABLE).order_by(FeedLoad.id.desc())
    if period is not None:
        query = query.where(FeedLoad.period == period)
    if kind is not None:
        query = query.where(FeedLoad.kind == kind)
    if kinds is not None:
        query = query.where(FeedLoad.kind.in_(list(kinds)))
    if limit is not None:
        query = query.limit(limit)
    return [FeedLoadResult.from_row(r) for r in conn.execute(query).all()]


def get_load(conn: Connection, load_id: int) -> FeedLoadResult | None:
    """One manifest row, or None."""
    row = conn.execute(select(_TABLE).where(FeedLoad.id == load_id)).first()
    return FeedLoadResult.from_row(row) if row is not None else None
