"""Files attached to cases (visit photos, signed forms), stored on disk by their SHA-256.

A file is written once under ``data_dir/attachments/<first two hex>/<sha256>`` whatever its
name, so attaching the same file twice stores it once; the ``attachments`` row records the
name it came with, its size and type, who attached it and when. Nothing is ever deleted.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import mimetypes
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, insert, select

from doudi.cases.errors import CaseError
from doudi.db.models import Attachment

MAX_BYTES = 20 * 1024 * 1024
_TABLE = Attachment.__table__


@dataclass(frozen=True)
class AttachmentInfo:
    id: int
    file_name: str
    sha256: str
    size: int
    media_type: str
    uploaded_by: str
    uploaded_at: dt.datetime


def stored_path(data_dir: Path, sha256: str) -> Path:
    return data_dir / "attachments" / sha256[:2] / sha256


def attach(
    conn: Connection,
    data_dir: Path,
    *,
    case_type: str,
    case_id: int,
    file_name: str,
    content: bytes,
    actor: str,
    at: dt.datetime,
    media_type: str | None = None,
) -> AttachmentInfo:
    """Store ``content`` (once per hash) and record it against the case, in the caller's transaction."""
    name = Path(file_name).name.strip()
    if not name:
        raise CaseError("bad_attachment", "attachment has no file name", "附件缺少文件名。")
    if not content:
        raise CaseError("bad_attachment", f"attachment {name} is empty", f"附件“{name}”是空文件。")
    if len(content) > MAX_BYTES:
        raise CaseError(
            "bad_attachment",
            f"attachment {name} is {len(content)} bytes, over {MAX_BYTES}",
            f"附件“{name}”超过 {MAX_BYTES // (1024 * 1024)} MB，请压缩后再上传。",
        )
    sha = hashlib.sha256(content).hexdigest()
    path = stored_path(data_dir, sha)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".part-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
        os.replace(tmp, path)
    kind = media_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
    new_id = conn.execute(
        insert(Attachment)
        .values(
            case_type=case_type,
            case_id=case_id,
            file_name=name,
            sha256=sha,
            size=len(content),
            media_type=kind,
            uploaded_by=actor,
            uploaded_at=at,
        )
        .returning(Attachment.id)
    ).scalar_one()
    return AttachmentInfo(int(new_id), name, sha, len(content), kind, actor, at)


def attachments_of(conn: Connection, case_type: str, case_id: int) -> list[AttachmentInfo]:
    rows = conn.execute(
        select(_TABLE)
        .where(_TABLE.c.case_type == case_type, _TABLE.c.case_id == case_id)
        .order_by(_TABLE.c.id)
    ).mappings()
    return [
        AttachmentInfo(
            r["id"],
            r["file_name"],
            r["sha256"],
            r["size"],
            r["media_type"],
            r["uploaded_by"],
            r["uploaded_at"],
        )
        for r in rows
    ]


def read_attachment(data_dir: Path, info: AttachmentInfo) -> bytes:
    """The stored bytes, checked against the recorded hash."""
    content = stored_path(data_dir, info.sha256).read_bytes()
    if hashlib.sha256(content).hexdigest() != info.sha256:
        raise CaseError(
            "attachment_corrupt",
            f"attachment {info.id} does not match its hash",
            f"附件“{info.file_name}”的文件已损坏（与登记的校验值不符）。",
        )
    return content
