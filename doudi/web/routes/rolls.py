"""发放: the monthly payment rolls per county (generate, check, resolve problem lines, confirm
by a second reviewer, download the XLSX the bank is sent).

A roll's lines show names and citizen IDs masked; "显示完整信息" and the unmasked download need
a typed reason, and every download (masked or not) is written to the audit log by
:func:`doudi.cases.payroll_xlsx.export_roll_xlsx`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response

from doudi.auth import Actor
from doudi.cases import ledger, payroll
from doudi.cases.errors import CaseError
from doudi.cases.labels import ROLL_STATUSES
from doudi.cases.payroll_xlsx import export_roll_xlsx, title
from doudi.periods import Period
from doudi.web.deps import actor_with, csrf_protect, engine_of
from doudi.web.render import page
from doudi.web.routes.case_forms import at_own_url, done, may, ok_message, page_number, text_or_none, version

router = APIRouter(dependencies=[Depends(csrf_protect)])

VIEW = actor_with("case.view")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PAGE_SIZE = 50


def _roll_url(roll_id: int) -> str:
    return f"/rolls/{roll_id}"


@router.get("/rolls")
def roll_list(
    request: Request,
    actor: Actor = Depends(VIEW),
    period: str | None = Query(None, max_length=7),
    status: str | None = Query(None, max_length=20),
) -> Response:
    period = text_or_none(period)
    status = text_or_none(status)
    if status is not None and status not in ROLL_STATUSES:
        raise CaseError("bad_status", f"unknown roll status {status!r}", f"名册状态“{status}”不存在。")
    rolls = payroll.list_rolls(engine_of(request), actor, period=period, status=status)
    this_month = Period.of(ledger.now().date())
    return page(
        request,
        "rolls/list.html",
        rolls=rolls,
        filters={"period": period or "", "status": status or ""},
        statuses=ROLL_STATUSES,
        county=actor.division_code if len(actor.division_code) == 6 else "",
        default_period=str(this_month),
        may=may(actor),
    )


@router.post("/rolls/generate")
def roll_generate(
    request: Request,
    actor: Actor = Depends(actor_with("roll.generate")),
    county_code: str = Form("", max_length=12),
    period: str = Form("", max_length=7),
    expected_version: str | None = Form(None),
) -> Response:
    summary = payroll.generate_roll(
        engine_of(request),
        actor,
        county_code.strip(),
        period.strip(),
        expected_version=version(expected_version),
    )
    return done(_roll_url(summary.id), "generated")


def _detail(
    request: Request,
    actor: Actor,
    roll_id: int,
    *,
    problems: bool,
    page_no: int,
    reason: str | None = None,
) -> Response:
    engine = engine_of(request)
    summary = payroll.roll_summary(engine, actor, roll_id)
    lines = payroll.roll_lines(
        engine,
        actor,
        roll_id,
        problems_only=problems,
        page=page_no,
        page_size=PAGE_SIZE,
        unmasked=reason is not None,
        reason=reason,
    )
    return page(
        request,
        "rolls/detail.html",
        r=summary,
        lines=lines,
        problems=problems,
        query="problems=1" if problems else "",
        pages=max((lines.total + PAGE_SIZE - 1) // PAGE_SIZE, 1),
        unmasked=reason is not None,
        title=title(summary.county_name, summary.period, summary.status),
        ok=ok_message(request),
        may=may(actor),
        problem_labels=payroll.PROBLEMS,
    )


@router.get("/rolls/{roll_id}")
def roll_page(
    roll_id: int,
    request: Request,
    actor: Actor = Depends(VIEW),
    problems: str | None = Query(None),
    page_no: int | None = Query(None, alias="page", ge=1, le=1_000_000),
) -> Response:
    return at_own_url(
        request, _detail(request, actor, roll_id, problems=problems == "1", page_no=page_number(page_no))
    )


@router.post("/rolls/{roll_id}/unmask")
def roll_unmasked(
    roll_id: int,
    request: Request,
    actor: Actor = Depends(VIEW),
    reason: str = Form("", max_length=200),
    problems: str | None = Form(None),
    page_no: int | None = Form(None, alias="page", ge=1, le=1_000_000),
) -> Response:
    """The lines with names and IDs in full, for a stated reason (audited)."""
    return _detail(
        request, actor, roll_id, problems=problems == "1", page_no=page_number(page_no), reason=reason
    )


@router.post("/rolls/{roll_id}/check")
def roll_check(
    roll_id: int,
    request: Request,
    actor: Actor = Depends(actor_with("roll.generate")),
    expected_version: str | None = Form(None),
) -> Response:
    payroll.check_roll(engine_of(request), actor, roll_id, expected_version=version(expected_version))
    return done(_roll_url(roll_id), "roll_checked")


@router.post("/rolls/lines/{line_id}/resolve")
def roll_line_resolve(
    line_id: int,
    request: Request,
    actor: Actor = Depends(actor_with("roll.generate")),
    expected_version: str | None = Form(None),
    exclude: str = Form(""),
    resolution: str = Form("", max_length=300),
) -> Response:
    if exclude not in ("1", "0"):
        raise CaseError("bad_choice", "exclude must be 1 or 0", "请选择剔除还是保留该行。")
    summary = payroll.resolve_line(
        engine_of(request),
        actor,
        line_id,
        exclude=exclude == "1",
        resolution=resolution,
        expected_version=version(expected_version),
    )
    return done(_roll_url(summary.id), "line")


@router.post("/rolls/{roll_id}/confirm")
def roll_confirm(
    roll_id: int,
    request: Request,
    actor: Actor = Depends(actor_with("roll.confirm")),
    expected_version: str | None = Form(None),
) -> Response:
    payroll.confirm_roll(engine_of(request), actor, roll_id, expected_version=version(expected_version))
    return done(_roll_url(roll_id), "confirmed")


@router.post("/rolls/{roll_id}/export")
def roll_export(
    roll_id: int,
    request: Request,
    actor: Actor = Depends(actor_with("roll.export")),
    unmasked: str | None = Form(None),
    reason: str | None = Form(None, max_length=200),
) -> Response:
    """The roll as XLSX: masked, or in full with a reason; audited either way."""
    full = unmasked == "1"
    with tempfile.TemporaryDirectory(prefix="doudi-roll-") as tmp:
        path = Path(tmp) / "roll.xlsx"
        result = export_roll_xlsx(
            engine_of(request),
            actor,
            roll_id,
            path,
            unmasked=full,
            reason=text_or_none(reason) if full else None,
        )
        content = result.path.read_bytes()
    summary = payroll.roll_summary(engine_of(request), actor, roll_id)
    name = f"{summary.county_name}{summary.period}发放名册{'' if full else '（脱敏）'}.xlsx"
    disposition = f"attachment; filename=\"roll-{roll_id}.xlsx\"; filename*=UTF-8''{quote(name)}"
    return Response(content, media_type=XLSX, headers={"Content-Disposition": disposition})
