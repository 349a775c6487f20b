"""救助对象: the recipients of the scope (list) and one recipient with its terms, reviews and
events, and the changes of what it is paid (adjust, stop, 渐退期) from a month on."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response

from doudi.auth import Actor
from doudi.cases import ledger, recipients
from doudi.cases.applications import find_household
from doudi.cases.errors import CaseError
from doudi.cases.labels import PROGRAMS_SHORT, RECIPIENT_STATUSES
from doudi.cases.reviews import OUTCOMES as REVIEW_OUTCOMES
from doudi.periods import Period
from doudi.web.deps import actor_with, csrf_protect, engine_of
from doudi.web.render import page
from doudi.web.routes.case_forms import (
    at_own_url,
    done,
    may,
    money,
    month,
    ok_message,
    page_number,
    text_or_none,
    version,
    whole,
)

router = APIRouter(dependencies=[Depends(csrf_protect)])

VIEW = actor_with("case.view")
CHANGE = actor_with("recipient.change")
EVENTS: dict[str, str] = {
    "enrolled": "纳入救助",
    "adjusted": "调整待遇",
    "stopped": "停发",
    "phase_out_started": "进入渐退期",
    "reviewed": "定期复核",
}
SOURCES: dict[str, str] = {"application": "申请审批", "registry": "名册转入", "alert": "预警处置"}


def _url(recipient_id: int) -> str:
    return f"/recipients/{recipient_id}"


@router.get("/recipients")
def recipient_list(
    request: Request,
    actor: Actor = Depends(VIEW),
    program: str | None = Query(None, max_length=40),
    status: str | None = Query(None, max_length=20),
    household: str | None = Query(None, max_length=40),
    month_: str | None = Query(None, alias="month", max_length=7),
    page_no: int | None = Query(None, alias="page", ge=1, le=1_000_000),
) -> Response:
    engine = engine_of(request)
    program, status, number = text_or_none(program), text_or_none(status), text_or_none(household)
    if program is not None and program not in PROGRAMS_SHORT:
        raise CaseError("bad_program", f"unknown program {program!r}", f"救助项目“{program}”不存在。")
    if status is not None and status not in RECIPIENT_STATUSES:
        raise CaseError("bad_status", f"unknown status {status!r}", f"状态“{status}”不存在。")
    household_id = find_household(engine, actor, number) if number else None
    result = recipients.list_recipients(
        engine,
        actor,
        program=program,
        status=status,
        household_id=household_id,
        month=text_or_none(month_),
        page=page_number(page_no),
        today=ledger.now().date(),
    )
    filters = {
        "program": program or "",
        "status": status or "",
        "household": number or "",
        "month": month_ or "",
    }
    return page(
        request,
        "recipients/list.html",
        result=result,
        filters=filters,
        query="&".join(f"{k}={v}" for k, v in filters.items() if v),
        pages=max((result.total + result.page_size - 1) // result.page_size, 1),
        programs=PROGRAMS_SHORT,
        statuses=RECIPIENT_STATUSES,
    )


def detail_context(
    request: Request, actor: Actor, recipient_id: int, *, reason: str | None = None
) -> dict[str, Any]:
    """What the recipient page (and the review form) shows."""
    detail = recipients.recipient_detail(
        engine_of(request),
        actor,
        recipient_id,
        unmasked=reason is not None,
        reason=reason,
        today=ledger.now().date(),
    )
    events = [
        {
            "label": EVENTS.get(e.event, e.event),
            "at": e.at,
            "actor": e.actor,
            "from_status": e.from_status,
            "to_status": e.to_status,
            "reason": e.reason,
        }
        for e in detail.events
    ]
    return {
        "d": detail,
        "r": detail.recipient,
        "events": events,
        "unmasked": reason is not None,
        "statuses": RECIPIENT_STATUSES,
        "sources": SOURCES,
        "outcomes": REVIEW_OUTCOMES,
        "may": may(actor),
        "ok": ok_message(request),
        "next_month": str(Period.of(ledger.now().date()).shift(1)),
    }


@router.get("/recipients/{recipient_id}")
def recipient_page(recipient_id: int, request: Request, actor: Actor = Depends(VIEW)) -> Response:
    return at_own_url(
        request, page(request, "recipients/detail.html", **detail_context(request, actor, recipient_id))
    )


@router.post("/recipients/{recipient_id}/unmask")
def recipient_unmasked(
    recipient_id: int, request: Request, actor: Actor = Depends(VIEW), reason: str = Form("", max_length=200)
) -> Response:
    """显示完整信息 for a stated reason (audited)."""
    return page(
        request, "recipients/detail.html", **detail_context(request, actor, recipient_id, reason=reason)
    )


@router.post("/recipients/{recipient_id}/adjust")
def recipient_adjust(
    recipient_id: int,
    request: Request,
    actor: Actor = Depends(CHANGE),
    expected_version: str | None = Form(None),
    from_month: str = Form("", max_length=7),
    monthly_amount: str | None = Form(None),
    covered_members: str | None = Form(None),
    reason: str = Form("", max_length=500),
) -> Response:
    amount = money(monthly_amount, "月救助金额")
    members = whole(covered_members, "保障人数")
    if amount is None and members is None:
        raise CaseError(
            "bad_change", "adjust needs an amount or members", "调整待遇须填写新的月救助金额或保障人数。"
        )
    recipients.change_recipient(
        engine_of(request),
        actor,
        recipient_id,
        from_month=month(from_month) or "",
        reason=reason,
        monthly_amount=amount,
        covered_members=members,
        expected_version=version(expected_version),
    )
    return done(_url(recipient_id), "changed")


@router.post("/recipients/{recipient_id}/stop")
def recipient_stop(
    recipient_id: int,
    request: Request,
    actor: Actor = Depends(CHANGE),
    expected_version: str | None = Form(None),
    from_month: str = Form("", max_length=7),
    reason: str = Form("", max_length=500),
) -> Response:
    recipients.stop_recipient(
        engine_of(request),
        actor,
        recipient_id,
        from_month=month(from_month) or "",
        reason=reason,
        expected_version=version(expected_version),
    )
    return done(_url(recipient_id), "changed")


@router.post("/recipients/{recipient_id}/phase-out")
def recipient_phase_out(
    recipient_id: int,
    request: Request,
    actor: Actor = Depends(CHANGE),
    expected_version: str | None = Form(None),
    from_month: str = Form("", max_length=7),
    months: str | None = Form(None),
    monthly_amount: str | None = Form(None),
    reason: str = Form("", max_length=500),
) -> Response:
    recipients.start_phase_out(
        engine_of(request),
        actor,
        recipient_id,
        from_month=month(from_month) or "",
        reason=reason,
        months=whole(months, "渐退月数"),
        monthly_amount=money(monthly_amount, "渐退期月金额"),
        expected_version=version(expected_version),
    )
    return done(_url(recipient_id), "changed")
