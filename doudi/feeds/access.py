"""Feed loads as staff reach them (the 数据 pages): who may see, load and download what.

The manifest and the quality reports are counts, with no personal data: every member of
staff may read them. Loading a file and downloading a load's quarantine file (the rejected
rows as the department sent them, citizen IDs and names in full) need ``feed.load``; the
download also needs a stated reason, and is written to the audit log with it.

Feeds are province-wide (a department sends one file for the province), so there is no
division scope here: the permission is the whole check.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import Engine, select

from doudi import audit
from doudi.auth import Actor, require
from doudi.db.models import FeedLoad
from doudi.errors import UserFacingError
from doudi.feeds.contract import FeedContract, default_contracts
from doudi.feeds.service import FeedLoadResult, list_loads, load_feed
from doudi.settings import Settings

STATUSES: dict[str, str] = {
    "active": "在用",
    "superseded": "已被更正版本替换",
    "failed": "未载入",
    "running": "正在载入",
}
_UNSAFE_NAME = re.compile(r'[\\/:*?"<>|\x00-\x1f]+')
REASON_MAX = 500


class ReasonRequired(UserFacingError):
    def __init__(self) -> None:
        super().__init__(
            "reason_required",
            "a reason is required to download rejected rows",
            "下载未通过校验的数据（含完整身份证号和姓名）须填写理由，理由将记入审计日志。",
        )


def contracts() -> list[FeedContract]:
    """The kinds of feed a file can be loaded as, by kind."""
    return [c for _, c in sorted(default_contracts().items())]


def loads(
    engine: Engine, actor: Actor, *, kind: str | None = None, period: str | None = None
) -> list[FeedLoadResult]:
    """Manifest rows, newest first, optionally of one kind and/or period."""
    require(actor.role, "case.view")
    with engine.connect() as conn:
        return list_loads(conn, kind=kind or None, period=period or None)


class LoadNotFound(UserFacingError):
    def __init__(self, load_id: int, what: str = "数据载入记录") -> None:
        super().__init__("not_found", f"feed load {load_id} not found", f"{what}（编号 {load_id}）不存在。")


def load_detail(engine: Engine, actor: Actor, load_id: int) -> FeedLoadResult:
    """One manifest row with its quality report; not_found when there is none."""
    require(actor.role, "case.view")
    with engine.connect() as conn:
        row = conn.execute(select(FeedLoad.__table__).where(FeedLoad.id == load_id)).first()
    if row is None:
        raise LoadNotFound(load_id)
    return FeedLoadResult.from_row(row)


def safe_file_name(name: str | None) -> str:
    """The last part of an uploaded file's name, without characters no file system takes.

    Examples:
        >>> safe_file_name("C:\\\\数据\\\\医保结算11月.csv"), safe_file_name("../../etc/passwd")
        ('医保结算11月.csv', 'passwd')
        >>> safe_file_name(None), safe_file_name("a<b>.xlsx")
        ('upload', 'a_b_.xlsx')
    """
    base = re.split(r"[\\/]", name or "")[-1].strip().lstrip(".")
    return _UNSAFE_NAME.sub("_", base)[:200] or "upload"


def upload(
    engine: Engine,
    settings: Settings,
    actor: Actor,
    *,
    kind: str,
    period: str,
    file_name: str | None,
    content: BinaryIO,
) -> FeedLoadResult:
    """Load an uploaded file exactly as ``doudi feeds load`` would (same validation, quarantine,
    manifest and audit entry), recorded as loaded by the actor. The uploaded copy is removed
    afterwards: the good rows are kept as Parquet, the rejected ones in the quarantine file.

    Raises :class:`~doudi.feeds.reader.FeedError` like :func:`load_feed` (its ``load_id`` is
    set when a failed manifest row was written)."""
    require(actor.role, "feed.load")
    folder = Path(settings.data_dir) / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        path = Path(tmp) / safe_file_name(file_name)
        with path.open("wb") as out:
            shutil.copyfileobj(content, out, 1024 * 1024)
        return load_feed(engine, settings, kind, path, period, actor=actor.username)


def quarantine_file(engine: Engine, actor: Actor, load_id: int, *, reason: str | None) -> Path:
    """The quarantine file of a load, for download: ``feed.load``, a stated reason, audited."""
    require(actor.role, "feed.load")
    text = (reason or "").strip()
    if not text:
        raise ReasonRequired()
    result = load_detail(engine, actor, load_id)
    path = result.quarantine_path
    if path is None or not path.is_file():
        raise LoadNotFound(load_id, "该次载入的未通过清单")
    with engine.begin() as conn:
        audit.record(
            conn,
            actor=actor.username,
            action="export_unmasked",
            object_type="feed_quarantine",
            object_ref=str(load_id),
            reason=text[:REASON_MAX],
            detail={
                "kind": result.kind,
                "period": result.period,
                "file": path.name,
                "rows_rejected": result.rows_rejected,
            },
        )
    return path
