"""复核: the periodic reviews falling due (overdue first) and the form recording one."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response

from doudi.auth import Actor
from doudi.cases import ledger, reviews
from doudi.web.deps import actor_with, csrf_protect, engine_of
from doudi.web.render import page
from doudi.web.routes.case_forms import day, done, may, money, month, ok_message, page_number, version, whole
from doudi.web.routes.recipients import detail_context

router = APIRouter(dependencies=[Depends(csrf_protect)])

WINDOWS = {0: "已逾期", 30: "30天内到期", 60: "60天内到期", 90: "90天内到期"}


@router.get("/reviews")
def reviews_page(
    request: Request,
    actor: Actor = Depends(actor_with("case.view")),
    within: int | None = Query(None, ge=0, le=366),
    page_no: int | None = Query(None, alias="page", ge=1, le=1_000_000),
) -> Response:
    days = 30 if within is None else within
    result = reviews.reviews_due(
        engine_of(request), actor, within_days=days, today=ledger.now().date(), page=page_number(page_no)
    )
    return page(
        request,
        "reviews/list.html",
        result=result,
        within=days,
        windows=WINDOWS,
        query=f"within={days}",
        pages=max((result.total + result.page_size - 1) // result.page_size, 1),
        ok=ok_message(request),
        may=may(actor),
    )


@router.get("/reviews/{recipient_id}")
def review_form(
    recipient_id: int, request: Request, actor: Actor = Depends(actor_with("review.record"))
) -> Response:
    context = detail_context(request, actor, recipient_id)
    return page(request, "reviews/record.html", today=ledger.now().date(), **context)


@router.post("/reviews/{recipient_id}")
def review_record(
    recipient_id: int,
    request: Request,
    actor: Actor = Depends(actor_with("review.record")),
    expected_version: str | None = Form(None),
    outcome: str = Form(""),
    reviewed_on: str | None = Form(None),
    reason: str = Form("", max_length=1000),
    new_amount: str | None = Form(None),
    covered_members: str | None = Form(None),
    from_month: str | None = Form(None, max_length=7),
) -> Response:
    reviews.record_review(
        engine_of(request),
        actor,
        recipient_id,
        outcome=outcome,
        reviewed_on=day(reviewed_on, "复核日期") or ledger.now().date(),
        reason=reason,
        new_amount=money(new_amount, "新的月救助金额") if outcome == "adjust" else None,
        covered_members=whole(covered_members, "保障人数") if outcome == "adjust" else None,
        from_month=month(from_month) if outcome != "continue" else None,
        expected_version=version(expected_version),
    )
    return done(f"/recipients/{recipient_id}", "review")
