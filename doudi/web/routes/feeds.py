"""数据: feed loads with their quality reports; uploading a file; the quarantine download."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import FileResponse, RedirectResponse, Response

from doudi.auth import Actor, can
from doudi.feeds import access
from doudi.feeds.reader import FeedError
from doudi.periods import Period
from doudi.web.deps import actor_with, csrf_protect, engine_of, settings_of
from doudi.web.render import page

router = APIRouter(dependencies=[Depends(csrf_protect)])
MAX_ID = 2**31 - 1  # feed_loads.id is an INTEGER


def _list_page(
    request: Request,
    actor: Actor,
    *,
    kind: str | None = None,
    period: str | None = None,
    error: FeedError | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    rows = access.loads(engine_of(request), actor, kind=kind, period=period)
    last_month = str(Period.of(dt.date.today()).shift(-1))
    return page(
        request,
        "feeds/list.html",
        status_code=400 if error else 200,
        loads=rows,
        contracts=access.contracts(),
        statuses=access.STATUSES,
        can_load=can(actor.role, "feed.load"),
        kind=kind or "",
        period=period or "",
        error=error,
        form=form or {"kind": "", "period": last_month},
    )


@router.get("/feeds")
def feeds_page(
    request: Request,
    actor: Actor = Depends(actor_with("case.view")),
    kind: str | None = Query(None, max_length=30),
    period: str | None = Query(None, max_length=7),
) -> Response:
    return _list_page(request, actor, kind=(kind or "").strip(), period=(period or "").strip())


@router.post("/feeds")
def upload_feed(
    request: Request,
    actor: Actor = Depends(actor_with("feed.load")),
    kind: str = Form(..., max_length=30),
    period: str = Form(..., max_length=7),
    file: UploadFile = File(...),
) -> Response:
    try:
        result = access.upload(
            engine_of(request),
            settings_of(request),
            actor,
            kind=kind.strip(),
            period=period.strip(),
            file_name=file.filename,
            content=file.file,
        )
    except FeedError as exc:
        if exc.load_id is None:  # refused before a manifest row: say why on the form
            return _list_page(request, actor, error=exc, form={"kind": kind, "period": period})
        return RedirectResponse(f"/feeds/{exc.load_id}", status_code=303)
    suffix = "?unchanged=1" if result.unchanged else ""
    return RedirectResponse(f"/feeds/{result.load_id}{suffix}", status_code=303)


@router.get("/feeds/{load_id}")
def feed_load_page(
    request: Request,
    load_id: int = Path(..., ge=1, le=MAX_ID),
    actor: Actor = Depends(actor_with("case.view")),
    unchanged: bool = Query(False),
) -> Response:
    result = access.load_detail(engine_of(request), actor, load_id)
    contract = {c.kind: c for c in access.contracts()}.get(result.kind)
    return page(
        request,
        "feeds/detail.html",
        load=result,
        field_labels={c.name: c.label for c in contract.columns} if contract else {},
        statuses=access.STATUSES,
        can_load=can(actor.role, "feed.load"),
        unchanged=unchanged,
    )


@router.post("/feeds/{load_id}/rejects")
def download_rejects(
    request: Request,
    load_id: int = Path(..., ge=1, le=MAX_ID),
    actor: Actor = Depends(actor_with("feed.load")),
    reason: str = Form("", max_length=access.REASON_MAX),
) -> Response:
    path = access.quarantine_file(engine_of(request), actor, load_id, reason=reason)
    return FileResponse(
        path,
        media_type="text/csv; charset=utf-8",
        filename=f"未通过校验-载入{load_id}.csv",
        headers={"Cache-Control": "no-store"},
    )
