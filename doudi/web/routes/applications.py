"""申请: applications from intake to the decision (list, submit, detail and every step).

Each step is a form posting to ``/applications/{id}/<step>`` with the version the user saw
(``expected_version``); the service checks permission, scope (another township's application
is "not found", audited), state and maker-checker, and the page redirects back to the
application. Searches never put personal data in the URL: the submit form takes the
household number, and a member's citizen ID (两项补贴) only in the POSTed form.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response

from doudi.auth import Actor
from doudi.cases import applications as apps
from doudi.cases import ledger
from doudi.cases.assessment import EMERGENCY_KINDS, assess_application
from doudi.cases.economic_check import run_economic_check
from doudi.cases.errors import CaseError
from doudi.cases.labels import PROGRAMS
from doudi.programs.explain import BASIS_NAMES, FINDING_LABELS
from doudi.programs.explain import DETAIL_LABELS as VALUE_LABELS
from doudi.programs.parameters import default_parameters
from doudi.registry.codes import RELATIONS
from doudi.web.deps import actor_with, csrf_protect, engine_of
from doudi.web.render import page
from doudi.web.routes.case_forms import (
    at_own_url,
    day,
    done,
    may,
    money,
    month,
    ok_message,
    page_number,
    text_or_none,
    version,
)

router = APIRouter(dependencies=[Depends(csrf_protect)])

VIEW = actor_with("case.view")

# The programs' explanation values (doudi.programs.engine SHARED_DETAILS and the 临时救助 ones).
INPUT_LABELS: dict[str, str] = {
    "members": "家庭人口",
    "vehicles": "机动车（辆）",
    "extra_housing": "其他房产（套）",
    "business_registered": "市场主体（个）",
    "deposits": "存款（元）",
    "no_able_supporter": "无有赡养扶养能力的义务人",
    "feed_findings_used": "计入部门核对结果",
}
FILTER_PROGRAMS = {p: PROGRAMS[p] for p in apps.APPLICATION_PROGRAMS}


def _app_url(application_id: int) -> str:
    return f"/applications/{application_id}"


# --- list and submit ----------------------------------------------------------------------


@router.get("/applications")
def application_list(
    request: Request,
    actor: Actor = Depends(VIEW),
    status: str | None = Query(None),
    program: str | None = Query(None),
    overdue: str | None = Query(None),
    page_no: int | None = Query(None, alias="page", ge=1, le=100_000),
) -> Response:
    status = text_or_none(status)
    program = text_or_none(program)
    if program is not None and program not in FILTER_PROGRAMS:
        raise CaseError("bad_program", f"unknown program {program!r}", f"救助项目“{program}”不存在。")
    late = {"1": True, "0": False}.get(overdue or "")
    result = apps.list_applications(
        engine_of(request), actor, status=status, program=program, overdue=late, page=page_number(page_no)
    )
    filters = {"status": status or "", "program": program or "", "overdue": overdue or ""}
    query = "&".join(f"{k}={v}" for k, v in filters.items() if v)
    return page(
        request,
        "applications/list.html",
        result=result,
        filters=filters,
        query=query,
        statuses=apps.STATUSES,
        programs=FILTER_PROGRAMS,
        pages=max((result.total + result.page_size - 1) // result.page_size, 1),
        may=may(actor),
    )


@router.get("/applications/new")
def application_form(
    request: Request,
    actor: Actor = Depends(actor_with("application.submit")),
    household: str | None = Query(None, max_length=40),
) -> Response:
    return page(
        request,
        "applications/new.html",
        household=household or "",
        programs={p: PROGRAMS[p] for p in apps.APPLICATION_PROGRAMS},
        person_programs=apps.PERSON_PROGRAMS,
        today=ledger.now().date(),
    )


@router.post("/applications")
def application_submit(
    request: Request,
    actor: Actor = Depends(actor_with("application.submit")),
    household_no: str = Form("", max_length=40),
    program: str = Form(""),
    applied_on: str | None = Form(None),
    citizen_id: str | None = Form(None, max_length=30),
    note: str | None = Form(None, max_length=500),
    emergency: str | None = Form(None),
) -> Response:
    engine = engine_of(request)
    number = household_no.strip()
    if not number:
        raise CaseError("household_required", "household number required", "请填写申请家庭的户编号。")
    household_id = apps.find_household(engine, actor, number)
    person_id = None
    if text_or_none(citizen_id):
        person_id = apps.find_person(engine, household_id, citizen_id or "")
    view = apps.submit_application(
        engine,
        actor,
        household_id,
        program.strip(),
        applied_on=day(applied_on, "申请日期"),
        person_id=person_id,
        note=text_or_none(note),
        emergency=emergency == "1",
    )
    return done(_app_url(view.id), "submitted")


# --- detail -------------------------------------------------------------------------------


def _detail(request: Request, actor: Actor, application_id: int, *, reason: str | None = None) -> Response:
    detail = apps.application_detail(
        engine_of(request), actor, application_id, unmasked=reason is not None, reason=reason
    )
    params = default_parameters()
    described = {}
    if detail.assessment:
        for name in detail.assessment.get("explanation", {}).get("parameters", {}):
            try:
                described[name] = params[name].description
            except KeyError:
                described[name] = name
    values: list[tuple[str, object]] = []
    if detail.assessment:
        given = detail.assessment.get("explanation", {}).get("values", {})
        values = [(VALUE_LABELS[k], given[k]) for k in VALUE_LABELS if k in given]
        values += [(k, v) for k, v in given.items() if k not in VALUE_LABELS]
    a = detail.application
    open_objections = [o for o in detail.objections if o.status == "open"]
    return page(
        request,
        "applications/detail.html",
        d=detail,
        a=a,
        ok=ok_message(request),
        may=may(actor),
        is_open=a.status in apps.OPEN_STATUSES,
        checkable=a.status in ("submitted", "investigating", "checked", "assessed"),
        open_objections=open_objections,
        can_approve=a.status == "notice" and a.paid_first_at is None,
        notice_over=bool(a.notice_end and ledger.now().date() >= a.notice_end),
        values=values,
        finding_labels=FINDING_LABELS,
        input_labels=INPUT_LABELS,
        param_labels=described,
        relations=RELATIONS,
        basis_names=BASIS_NAMES,
        emergency_kinds=EMERGENCY_KINDS,
        statuses=apps.STATUSES,
        opinions=apps.REVIEW_OPINIONS,
        programs=PROGRAMS,
    )


@router.get("/applications/{application_id}")
def application_page(application_id: int, request: Request, actor: Actor = Depends(VIEW)) -> Response:
    return at_own_url(request, _detail(request, actor, application_id))


@router.post("/applications/{application_id}/unmask")
def application_unmasked(
    application_id: int,
    request: Request,
    actor: Actor = Depends(VIEW),
    reason: str = Form("", max_length=200),
) -> Response:
    """显示完整信息: the same page with names and IDs in full, for a stated reason (audited)."""
    return _detail(request, actor, application_id, reason=reason)


# --- the steps ----------------------------------------------------------------------------


@router.post("/applications/{application_id}/check")
def application_check(
    application_id: int,
    request: Request,
    actor: Actor = Depends(actor_with("application.investigate")),
    expected_version: str | None = Form(None),
) -> Response:
    run_economic_check(engine_of(request), actor, application_id, expected_version=version(expected_version))
    return done(_app_url(application_id), "checked")


@router.post("/applications/{application_id}/assess")
def application_assess(
    application_id: int,
    request: Request,
    actor: Actor = Depends(actor_with("application.investigate")),
    expected_version: str | None = Form(None),
    no_able_supporter: str | None = Form(None),
    rigid_medical: str | None = Form(None),
    rigid_education: str | None = Form(None),
    rigid_rehabilitation: str | None = Form(None),
    emergency_kind: str | None = Form(None),
    emergency_loss: str | None = Form(None),
) -> Response:
    kind = text_or_none(emergency_kind)
    loss = money(emergency_loss, "损失金额")
    assess_application(
        engine_of(request),
        actor,
        application_id,
        no_able_supporter=no_able_supporter == "1",
        rigid_medical=money(rigid_medical, "医疗支出"),
        rigid_education=money(rigid_education, "教育支出"),
        rigid_rehabilitation=money(rigid_rehabilitation, "康复支出"),
        emergency_kind=kind,
        emergency_loss=loss if (kind or loss is not None) else None,
        expected_version=version(expected_version),
    )
    return done(_app_url(application_id), "assessed")


@router.post("/applications/{application_id}/review")
def application_review(
    application_id: int,
    request: Request,
    actor: Actor = Depends(actor_with("application.review")),
    expected_version: str | None = Form(None),
    opinion: str = Form(""),
    reason: str | None = Form(None, max_length=500),
) -> Response:
    apps.review_application(
        engine_of(request),
        actor,
        application_id,
        opinion,
        reason=text_or_none(reason),
        expected_version=version(expected_version),
    )
    return done(_app_url(application_id), "reviewed")


@router.post("/applications/{application_id}/objections")
def application_objection(
    application_id: int,
    request: Request,
    actor: Actor = Depends(actor_with("application.notice")),
    expected_version: str | None = Form(None),
    content: str = Form("", max_length=1000),
    objector: str | None = Form(None, max_length=60),
    received_on: str | None = Form(None),
) -> Response:
    apps.record_objection(
        engine_of(request),
        actor,
        application_id,
        content=content,
        objector=text_or_none(objector),
        received_on=day(received_on, "收到日期"),
        expected_version=version(expected_version),
    )
    return done(_app_url(application_id), "objection")


@router.post("/applications/objections/{objection_id}/resolve")
def objection_resolve(
    objection_id: int,
    request: Request,
    actor: Actor = Depends(actor_with("application.notice")),
    expected_version: str | None = Form(None),
    upheld: str = Form(""),
    resolution: str = Form("", max_length=1000),
) -> Response:
    if upheld not in ("1", "0"):
        raise CaseError("bad_upheld", "upheld must be 1 or 0", "请选择异议是否成立。")
    view = apps.resolve_objection(
        engine_of(request),
        actor,
        objection_id,
        upheld=upheld == "1",
        resolution=resolution,
        expected_version=version(expected_version),
    )
    return done(_app_url(view.id), "resolved")


@router.post("/applications/{application_id}/decide")
def application_decide(
    application_id: int,
    request: Request,
    actor: Actor = Depends(actor_with("application.decide")),
    expected_version: str | None = Form(None),
    decision: str = Form(""),
    amount: str | None = Form(None),
    start_month: str | None = Form(None),
    reason: str | None = Form(None, max_length=500),
) -> Response:
    apps.decide_application(
        engine_of(request),
        actor,
        application_id,
        decision,
        amount=money(amount, "批准金额") if decision == "approve" else None,
        start_month=month(start_month) if decision == "approve" else None,
        reason=text_or_none(reason),
        expected_version=version(expected_version),
    )
    return done(_app_url(application_id), "decided")


@router.post("/applications/{application_id}/extend")
def application_extend(
    application_id: int,
    request: Request,
    actor: Actor = Depends(actor_with("application.review")),
    expected_version: str | None = Form(None),
    reason: str = Form("", max_length=500),
) -> Response:
    apps.extend_deadline(
        engine_of(request), actor, application_id, reason=reason, expected_version=version(expected_version)
    )
    return done(_app_url(application_id), "extended")


@router.post("/applications/{application_id}/pay-first")
def application_pay_first(
    application_id: int,
    request: Request,
    actor: Actor = Depends(actor_with("application.decide")),
    expected_version: str | None = Form(None),
    amount: str | None = Form(None),
) -> Response:
    paid = money(amount, "先行救助金额")
    if paid is None or paid <= 0:
        raise CaseError("amount_required", "pay-first needs an amount", "请填写先行救助金额（大于0）。")
    apps.pay_first(
        engine_of(request), actor, application_id, paid, expected_version=version(expected_version)
    )
    return done(_app_url(application_id), "paid_first")


@router.post("/applications/{application_id}/paperwork")
def application_paperwork(
    application_id: int,
    request: Request,
    actor: Actor = Depends(actor_with("application.decide")),
    expected_version: str | None = Form(None),
    note: str = Form("", max_length=500),
) -> Response:
    apps.complete_paperwork(
        engine_of(request), actor, application_id, note=note, expected_version=version(expected_version)
    )
    return done(_app_url(application_id), "paperwork")
