"""Feed uploads by department systems: ``/api/v1/feeds``.

A department token pushes a file of one of its kinds for a period; the file goes through
:func:`doudi.feeds.service.load_feed`, exactly as ``doudi feeds load`` (same validation,
quarantine of the rejected rows, quality report and manifest row). The token then reads the
status and quality report of the loads of its kinds, and downloads their quarantine files.
A kind the token may not push answers 403; a load of another kind does not exist for it (404),
and both are written to the audit log.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from doudi.errors import UserFacingError
from doudi.feeds.contract import TYPE_LABELS, default_contracts
from doudi.feeds.reader import FeedError
from doudi.feeds.service import FeedLoadResult, contract_for, list_loads, load_feed, parse_period
from doudi.settings import Settings
from doudi.web.deps import engine_of, settings_of
from doudi.web.routes.api_common import ERRORS, MAX_INT, PREFIX, ErrorOut, Timestamp, error_response
from doudi.web.tokens import Principal, check_push, feed_client, quarantine_of, token_load

STATUS_LABELS = {"active": "在用", "superseded": "已被替换", "failed": "失败", "running": "载入中"}
_CHUNK = 1 << 20
_BEFORE_LOAD = frozenset({"unknown_kind", "bad_period", "file_missing"})

# The kinds are documented in the schema but checked by the feed service, whose message lists
# them in Chinese with their titles (unknown_kind).
KIND_SCHEMA: dict[str, Any] = {"enum": sorted(default_contracts()), "examples": ["medical"]}
PERIOD = r"^(19|[2-9][0-9])[0-9]{2}-(0[1-9]|1[0-2])$"
"""A period as the API takes it, ``YYYY-MM`` (the CLI also reads other digits and spaces)."""

api = APIRouter(prefix=f"{PREFIX}/feeds", tags=["数据报送"], responses=ERRORS)


# --- models ---------------------------------------------------------------------------------


class ColumnOut(BaseModel):
    name: str
    label: str
    type: str
    type_label: str
    required: bool
    aliases: list[str]
    values: dict[str, str] | None = None


class KindOut(BaseModel):
    """A feed kind the token may push, with its contract (the columns a file must have)."""

    kind: str
    title: str
    department: str
    mode: str = Field(description="events：本期发生的事件；snapshot：截至本期的全量")
    columns: list[ColumnOut]


class LoadOut(BaseModel):
    """A load (manifest row): its status and counts."""

    id: int
    kind: str
    title: str
    period: str
    status: str = Field(description="active 在用、superseded 已被替换、failed 失败、running 载入中")
    status_label: str
    file_name: str
    file_sha256: str
    file_format: str
    rows_read: int
    rows_good: int
    rows_rejected: int = Field(description="未通过校验的行数（见未通过清单）")
    rows_duplicate: int
    rows_matched: int
    match_rate: float
    has_quarantine: bool = Field(description="是否有未通过清单（GET …/quarantine 下载）")
    replaces_load_id: int | None
    superseded_by: int | None
    change: dict[str, Any] | None = Field(description="更正后重新提交时：新增、删除、修改、未变的行数")
    error: ErrorOut | None = Field(description="失败的原因")
    started_at: Timestamp | None
    finished_at: Timestamp | None
    unchanged: bool = Field(False, description="文件与本期在用的数据完全相同，未做任何改动")


def _load_out(r: FeedLoadResult) -> LoadOut:
    contract = default_contracts().get(r.kind)
    error = r.error
    return LoadOut(
        id=r.load_id,
        kind=r.kind,
        title=contract.title if contract else r.kind,
        period=r.period,
        status=r.status,
        status_label=STATUS_LABELS.get(r.status, r.status),
        file_name=r.file_name,
        file_sha256=r.file_sha256,
        file_format=r.file_format,
        rows_read=r.rows_read,
        rows_good=r.rows_good,
        rows_rejected=r.rows_rejected,
        rows_duplicate=r.rows_duplicate,
        rows_matched=r.rows_matched,
        match_rate=r.match_rate,
        has_quarantine=r.quarantine_path is not None,
        replaces_load_id=r.replaces_load_id,
        superseded_by=r.superseded_by,
        change=r.change,
        error=ErrorOut(
            code=str(error.get("code", "")),
            message=str(error.get("message", "")),
            details=[str(d) for d in error.get("details", [])],
        )
        if error
        else None,
        started_at=r.started_at,
        finished_at=r.finished_at,
        unchanged=r.unchanged,
    )


def public_quality(quality: dict[str, Any]) -> dict[str, Any]:
    """The quality report without the server's file paths and the English log line."""
    out = {k: v for k, v in quality.items() if k not in ("quarantine_path", "quality_path")}
    if isinstance(out.get("error"), dict):
        out["error"] = {k: v for k, v in out["error"].items() if k != "log"}
    return out


# --- routes ---------------------------------------------------------------------------------


@api.get("/kinds", response_model=list[KindOut], summary="可报送的数据类别")
def kinds(principal: Principal = Depends(feed_client)) -> list[KindOut]:
    """The kinds this token may push, with the columns their files must have."""
    contracts = default_contracts()
    return [
        KindOut(
            kind=c.kind,
            title=c.title,
            department=c.department,
            mode=c.mode,
            columns=[
                ColumnOut(
                    name=col.name,
                    label=col.label,
                    type=col.type,
                    type_label=TYPE_LABELS[col.type],
                    required=col.required,
                    aliases=list(col.aliases),
                    values=col.values,
                )
                for col in c.columns
            ],
        )
        for k in principal.token.feed_kinds
        if (c := contracts.get(k)) is not None
    ]


_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]")


def safe_file_name(name: str | None) -> str:
    """The uploaded file's own name, reduced to something safe to create (its suffix says the
    format; the manifest records the name).

    >>> safe_file_name("../../etc/医保 11月.csv"), safe_file_name(None), safe_file_name("..")
    ('医保 11月.csv', 'upload', 'upload')
    """
    base = _UNSAFE_NAME.sub("_", (name or "").replace("\\", "/").rsplit("/", 1)[-1]).strip()
    if base in ("", ".", ".."):
        return "upload"
    if len(base) > 200:
        suffix = Path(base).suffix[:20]
        base = base[: 200 - len(suffix)] + suffix
    return base


def _too_large(limit: int) -> UserFacingError:
    return UserFacingError(
        "too_large",
        f"upload over the {limit}-byte limit",
        f"上传的文件超过 {limit // (1024 * 1024)} MB，请分批或压缩后再上传。",
    )


def _save(upload: UploadFile, target: Path, limit: int) -> None:
    """Copy the upload to ``target``, refusing it past ``limit`` bytes (a body sent without a
    Content-Length gets past the app's size check)."""
    written = 0
    with target.open("wb") as out:
        while chunk := upload.file.read(_CHUNK):
            written += len(chunk)
            if written > limit:
                raise _too_large(limit)
            out.write(chunk)


def _failed(exc: FeedError) -> JSONResponse:
    details = list(exc.details)
    quality = exc.quality or {}
    for reason, n in (quality.get("rejects_by_reason") or {}).items():
        details.append(f"{reason}：{n} 行")
    if exc.load_id is not None:
        details.append(f"载入记录 {exc.load_id} 已记为失败，原有数据不受影响。")
        if quality.get("quarantine_path"):
            details.append(f"未通过的行及原因：GET {PREFIX}/feeds/loads/{exc.load_id}/quarantine")
    status = 500 if exc.code == "internal" else 422
    return error_response(status, exc.code, exc.message_zh, details)


@api.post(
    "/loads",
    response_model=LoadOut,
    status_code=201,
    summary="报送数据文件",
    responses={
        200: {"model": LoadOut, "description": "文件与本期在用的数据完全相同，未做任何改动"},
        201: {"description": "已载入（未通过的行见质量报告和未通过清单）"},
    },
)
def upload(
    request: Request,
    file: UploadFile = File(..., description="CSV（UTF-8 / GBK）、XLSX、Parquet 或 JSON Lines"),
    kind: str = Form(
        ..., min_length=1, max_length=40, description="数据类别，如 medical", json_schema_extra=KIND_SCHEMA
    ),
    period: str = Form(..., pattern=PERIOD, description="数据所属期间（年-月），如 2026-11"),
    principal: Principal = Depends(feed_client),
) -> Response:
    """Load one file for a kind and period: validated against the kind's contract, the rows
    that pass become the data in force for the period (a resubmission replaces the previous
    load), the rejected ones go to the quarantine file. Same as ``doudi feeds load``."""
    engine = engine_of(request)
    settings: Settings = settings_of(request)
    contract_for(kind)
    check_push(engine, principal, kind)
    parse_period(period)
    uploads = settings.data_dir / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=uploads) as tmp:
        path = Path(tmp) / safe_file_name(file.filename)
        _save(file, path, settings.max_upload_mb * 1024 * 1024)
        try:
            result = load_feed(engine, settings, kind, path, period, actor=principal.token.label)
        except FeedError as exc:
            if exc.code in _BEFORE_LOAD:
                raise
            return _failed(exc)
    body = _load_out(result).model_dump(mode="json")
    return JSONResponse(body, status_code=200 if result.unchanged else 201)


@api.get("/loads", response_model=list[LoadOut], summary="载入记录")
def loads(
    request: Request,
    kind: str | None = Query(None, max_length=40, description="只列出这一类", json_schema_extra=KIND_SCHEMA),
    period: str | None = Query(None, pattern=PERIOD, description="只列出这一期（年-月）"),
    limit: int = Query(100, ge=1, le=1000),
    principal: Principal = Depends(feed_client),
) -> list[LoadOut]:
    """The loads of the token's kinds, newest first."""
    if period is not None:
        period = str(parse_period(period))
    allowed = principal.token.feed_kinds
    if kind is not None:
        contract_for(kind)
        if kind not in allowed:
            return []
    with engine_of(request).connect() as conn:
        rows = list_loads(conn, period=period, kind=kind, kinds=allowed, limit=limit)
    return [_load_out(r) for r in rows]


@api.get("/loads/{load_id:int}", response_model=LoadOut, summary="载入状态")
def load_status(
    request: Request, load_id: int = PathParam(ge=1, le=MAX_INT), principal: Principal = Depends(feed_client)
) -> LoadOut:
    """One load's status and counts."""
    return _load_out(token_load(engine_of(request), principal, load_id))


@api.get("/loads/{load_id:int}/quality", response_model=dict[str, Any], summary="质量报告")
def quality(
    request: Request, load_id: int = PathParam(ge=1, le=MAX_INT), principal: Principal = Depends(feed_client)
) -> dict[str, Any]:
    """The load's quality report: rows read, passed, rejected by reason, matched to the
    registry, columns recognised and missing, warnings (or why the load failed)."""
    return public_quality(token_load(engine_of(request), principal, load_id).quality)


@api.get(
    "/loads/{load_id:int}/quarantine",
    response_class=FileResponse,
    summary="下载未通过清单",
    responses={200: {"content": {"text/csv": {}}, "description": "未通过的行（行号、列、原因及原始各列）"}},
)
def quarantine(
    request: Request, load_id: int = PathParam(ge=1, le=MAX_INT), principal: Principal = Depends(feed_client)
) -> Response:
    """The rejected rows with the row number, column and reason (CSV, UTF-8 with BOM as
    written by the load); the download is audited."""
    path = quarantine_of(engine_of(request), principal, load_id)
    return FileResponse(path, media_type="text/csv; charset=utf-8", filename=f"load-{load_id}-rejects.csv")
