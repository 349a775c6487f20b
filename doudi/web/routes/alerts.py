"""预警: the alert inbox and one alert's page, with the assignment, visit and decision forms.

The inbox filters (rule, severity, status, due date, order, page) are not personal data: they
are a GET query string, and the filter form swaps the list in place with HTMX (``#inbox``),
pushing the URL so that a reload or a shared link shows the same list. An alert's page shows
its explanation, facts, the feed rows behind it with their department, the household's
assistance chain and the forms of the next steps; each form posts with the version the user
saw (``expected_version``), and the page comes back with what was done (``?ok=…``) or with
the service's Chinese message (a stale version: "该记录已被他人修改…").

Everything goes through :mod:`doudi.cases.alert_work` and :mod:`doudi.cases.chain`, which
check permission and scope: another township's alert is "not found", and the attempt is in
the audit log.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from doudi.auth import Actor, can
from doudi.auth.users import list_users
from doudi.cases import alert_work, ledger
from doudi.cases.alert_views import SORTS, AlertDetail
from doudi.cases.attachments import read_attachment
from doudi.cases.chain import HouseholdChain, household_chain
from doudi.cases.errors import CaseError
from doudi.cases.labels import ALERT_STATUSES, OUTCOMES, PROGRAMS_SHORT
from doudi.feeds.contract import default_contracts
from doudi.monitor.catalogue import get_catalogue
from doudi.monitor.rules import ACTIONS, ID_PATTERN, SEVERITIES, format_fact, load_rules
from doudi.registry.households import division_names, divisions_in_scope, in_scope
from doudi.web.deps import actor_with, csrf_protect, engine_of, settings_of
from doudi.web.render import page
from doudi.web.routes import case_forms
from doudi.web.routes.case_forms import day, text_or_none

router = APIRouter(dependencies=[Depends(csrf_protect)])

VIEW = actor_with("case.view")
# A row id in a URL: a positive BIGINT (a larger number is a bad request, not a database error).
RowId = Annotated[int, Path(ge=1, le=2**63 - 1)]

# ?ok=<code> → what the alert's page says after a change.
DONE: dict[str, str] = {
    "assigned": "已分派。",
    "verified": "入户核查已登记。",
    "decided": "处置决定已保存，预警已办结。",
}
INBOX_DONE: dict[str, str] = {
    "assigned_open": "未分派的预警已按到期先后分给本乡镇（街道）的经办人。",
}
DUE_FILTERS: dict[str, str] = {
    "overdue": "已逾期",
    "week": "7天内到期",
    "not_overdue": "未逾期",
}
# Outcomes whose amount the decision form asks for (and what the amount is).
AMOUNTS: dict[str, str] = {
    "temporary_assistance": "先行救助金额（元，可不填）",
    "adjust_payment": "新的月救助金额（元）",
    "services": "折合金额（元，可不填）",
}
# Outcomes that change a payment: which program's payment (when the household has several)
# and from which month.
PAYMENT_OUTCOMES = frozenset({"stop_payment", "adjust_payment"})
# Attachments a browser may show in the page; anything else is downloaded (an uploaded HTML
# or SVG file must never run on this site).
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
ASSIGNABLE_ROLES = frozenset({"township_caseworker", "village_assistant"})


# --- form helpers -------------------------------------------------------------------------------


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def plain(value: str, what: str) -> str:
    """Free text as typed, refused when it carries control characters (a NUL cannot even be
    stored by PostgreSQL): a Chinese message instead of a server error.

    >>> plain("王五、李四", "核查人员")
    '王五、李四'
    """
    if _CONTROL.search(value):
        raise CaseError(
            "bad_text", f"{what}: control characters", f"{what}中有不可见的控制字符，请删除后重试。"
        )
    return value


def amount(value: str | None, what: str) -> Decimal | None:
    """A yuan amount, None when empty.

    >>> amount("1,200.5", "金额"), amount("", "金额")
    (Decimal('1200.5'), None)
    """
    cleaned = (value or "").strip().replace(",", "").replace("，", "")
    if not cleaned:
        return None
    try:
        found = Decimal(cleaned)
    except InvalidOperation:
        found = Decimal("NaN")
    if not found.is_finite():
        raise CaseError("bad_amount", f"bad amount {value!r}", f"{what}“{value}”应为数字，如 800 或 800.50。")
    return found


def back(request: Request, alert_id: RowId, ok: str) -> Response:
    """Back to the alert after a change: post/redirect/get, or for a form sent by HTMX a
    full-page redirect (``HX-Redirect``) so that the page shows the new state."""
    url = f"/alerts/{alert_id}?ok={ok}"
    if request.headers.get("hx-request") == "true":
        return Response(status_code=200, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


# --- inbox --------------------------------------------------------------------------------------


def _rules() -> dict[str, str]:
    """Rule id → title, for the filter (one entry per rule id, the latest version's title)."""
    out: dict[str, str] = {}
    for rule in sorted(load_rules(), key=lambda r: (r.id, r.version)):
        out[rule.id] = rule.title
    return dict(sorted(out.items(), key=lambda kv: kv[1]))


@router.get("/alerts")
def alert_inbox(
    request: Request,
    actor: Actor = Depends(VIEW),
    rule: str = Query("", max_length=60),
    severity: str = Query("", max_length=10),
    status: str = Query("", max_length=10),
    due: str = Query("", max_length=12),
    due_from: str = Query("", max_length=10),
    due_to: str = Query("", max_length=10),
    mine: str = Query("", max_length=1),
    sort: str = Query("due", max_length=10),
    page_no: int = Query(1, alias="page", ge=1, le=100_000),
) -> Response:
    rules = _rules()
    if rule and not re.fullmatch(ID_PATTERN, rule):
        raise CaseError("bad_rule", f"bad rule id {rule!r}", f"预警规则“{rule}”不存在。")
    if rule and rule not in rules:  # a retired rule's alerts can still be listed
        rules[rule] = rule
    if severity and severity not in SEVERITIES:
        raise CaseError("bad_severity", f"unknown severity {severity!r}", f"预警级别“{severity}”不存在。")
    if status and status != "all" and status not in ALERT_STATUSES:
        raise CaseError("bad_status", f"unknown status {status!r}", f"预警状态“{status}”不存在。")
    if due and due not in DUE_FILTERS:
        raise CaseError("bad_due", f"unknown due filter {due!r}", f"期限筛选“{due}”不存在。")
    today = ledger.now().date()
    start, end = day(due_from, "到期日（起）"), day(due_to, "到期日（止）")
    if due == "week":
        end = min(end or today + dt.timedelta(days=7), today + dt.timedelta(days=7))
    result = alert_work.inbox(
        engine_of(request),
        actor,
        status=status if status in ALERT_STATUSES else None,
        include_closed=status == "all",
        rule_id=rule or None,
        severity=severity or None,
        assignee=actor.username if mine == "1" else None,
        overdue={"overdue": True, "week": False, "not_overdue": False}.get(due),
        due_from=start,
        due_to=end,
        sort=sort,
        page=page_no,
        page_size=25,
        today=today,
    )
    filters = {
        "rule": rule,
        "severity": severity,
        "status": status,
        "due": due,
        "due_from": due_from.strip(),
        "due_to": due_to.strip(),
        "mine": mine,
        "sort": sort if sort != "due" else "",
    }
    query = urlencode({k: v for k, v in filters.items() if v})
    partial = request.headers.get("hx-target") == "inbox" and not request.headers.get(
        "hx-history-restore-request"
    )
    return page(
        request,
        "alerts/_inbox.html" if partial else "alerts/inbox.html",
        result=result,
        filters=filters,
        query=query,
        rules=rules,
        severities=SEVERITIES,
        statuses=ALERT_STATUSES,
        due_filters=DUE_FILTERS,
        sorts=SORTS,
        today=today,
        places=division_names(engine_of(request), {r.division_code for r in result.rows}),
        ok=INBOX_DONE.get(request.query_params.get("ok", "")),
        townships=_townships(request, actor),
        strategies=alert_work.ASSIGN_STRATEGIES,
    )


def _townships(request: Request, actor: Actor) -> list[tuple[str, str]]:
    """The townships whose open alerts the actor may share out (none without the permission)."""
    if not can(actor.role, "alert.assign"):
        return []
    if len(actor.prefix) == 9:
        return [(actor.prefix, "")]
    return [(d.code, d.name) for d in divisions_in_scope(engine_of(request), actor) if len(d.code) == 9]


@router.post("/alerts/assign-open")
def alerts_assign_open(
    request: Request,
    actor: Actor = Depends(actor_with("alert.assign")),
    township: str = Form("", max_length=12),
    strategy: str = Form("round_robin", max_length=20),
) -> Response:
    """Share the township's open, unassigned alerts among its caseworkers (most urgent first)."""
    town = plain(township, "乡镇（街道）").strip() or (actor.prefix if len(actor.prefix) == 9 else "")
    if not town:
        raise CaseError("township_required", "no township", "请选择要分派预警的乡镇（街道）。")
    alert_work.assign_open(engine_of(request), actor, town, strategy=strategy)
    url = "/alerts?ok=assigned_open"
    if request.headers.get("hx-request") == "true":
        return Response(status_code=200, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


# --- one alert ----------------------------------------------------------------------------------


def _facts(detail: AlertDetail) -> list[tuple[str, str]]:
    """The alert's facts as (label, value) the way a caseworker reads them."""
    features = get_catalogue().by_name()
    out = []
    for name, value in detail.facts.items():
        feature = features.get(name)
        if feature is None:
            out.append((name, "无" if value is None else str(value)))
        else:
            out.append((feature.label, format_fact(value, feature.type)))
    return out


def evidence_fields(kind: str, detail: dict[str, Any]) -> list[tuple[str, str]]:
    """A feed row's fields by their Chinese column label, codes as their labels.

    >>> evidence_fields("medical", {"visit_type": "inpatient", "major_disease": True, "x": None})
    [('就诊类别', '住院'), ('重特大疾病', '是'), ('x', '')]
    """
    contract = default_contracts().get(kind)
    out = []
    for name, value in detail.items():
        if isinstance(value, bool):
            value = "是" if value else "否"
        if contract is None:
            out.append((name, "" if value is None else str(value)))
            continue
        try:
            column = contract.column(name)
        except (KeyError, ValueError):
            out.append((name, "" if value is None else str(value)))
            continue
        shown = column.values.get(str(value), value) if column.values and value is not None else value
        out.append((column.label, "" if shown is None else str(shown)))
    return out


def feed_title(kind: str) -> str:
    contract = default_contracts().get(kind)
    return contract.title if contract else kind


def _assignees(request: Request, detail: AlertDetail) -> list[tuple[str, str]]:
    """Active caseworkers and village assistants whose scope covers the alert: (username, label)."""
    return [
        (u.username, f"{u.display_name}（{u.username}，{u.actor().role_label}）")
        for u in list_users(engine_of(request))
        if u.active and u.role in ASSIGNABLE_ROLES and detail.division_code.startswith(u.division_code)
    ]


def _chain(request: Request, actor: Actor, detail: AlertDetail) -> HouseholdChain | None:
    """The household's chain when the household is in the actor's scope now (a household that
    moved away is not looked up: that would be an out-of-scope attempt in the audit log)."""
    engine = engine_of(request)
    if detail.household_id is None or not in_scope(engine, actor, detail.household_id):
        return None
    return household_chain(engine, actor, detail.household_id)


def _actions(actions: list[Any]) -> list[str]:
    out = []
    for a in actions:
        if isinstance(a, dict):
            out.append(str(a.get("label") or ACTIONS.get(str(a.get("code")), a.get("code", ""))))
        else:
            out.append(ACTIONS.get(str(a), str(a)))
    return out


def _alert_page(request: Request, actor: Actor, detail: AlertDetail, *, status_code: int = 200) -> Response:
    is_open = detail.closed_at is None
    return page(
        request,
        "alerts/detail.html",
        status_code=status_code,
        d=detail,
        ok=DONE.get(request.query_params.get("ok", "")),
        facts=_facts(detail),
        actions=_actions(detail.actions),
        chain=_chain(request, actor, detail),
        assignees=_assignees(request, detail) if is_open and can(actor.role, "alert.assign") else [],
        may_assign=is_open and can(actor.role, "alert.assign"),
        may_verify=is_open and can(actor.role, "alert.verify"),
        may_decide=is_open and detail.work.verified_at is not None and can(actor.role, "alert.decide"),
        outcomes=OUTCOMES,
        amounts=AMOUNTS,
        payment_outcomes=PAYMENT_OUTCOMES,
        programs=PROGRAMS_SHORT,
        evidence_fields=evidence_fields,
        feed_title=feed_title,
        today=ledger.now().date(),
        inline_types=INLINE_TYPES,
        place=division_names(engine_of(request), {detail.division_code}).get(detail.division_code, ""),
    )


@router.get("/alerts/{alert_id}")
def alert_page(request: Request, alert_id: RowId, actor: Actor = Depends(VIEW)) -> Response:
    detail = alert_work.alert_detail(engine_of(request), actor, alert_id)
    return _alert_page(request, actor, detail)


@router.post("/alerts/{alert_id}/unmask")
def alert_unmasked(
    request: Request,
    alert_id: RowId,
    actor: Actor = Depends(VIEW),
    reason: str = Form("", max_length=500),
) -> Response:
    """The alert with the citizen ID in full: needs a reason, written to the audit log. Shown
    in answer to the POST (never at a URL of its own)."""
    why = plain(reason, "查看理由")
    detail = alert_work.alert_detail(engine_of(request), actor, alert_id, unmasked=True, reason=why)
    return _alert_page(request, actor, detail)


@router.post("/alerts/{alert_id}/assign")
def alert_assign(
    request: Request,
    alert_id: RowId,
    actor: Actor = Depends(actor_with("alert.assign")),
    assignee: str = Form("", max_length=60),
    reason: str = Form("", max_length=500),
    expected_version: str = Form(""),
) -> Response:
    if not plain(assignee, "经办人").strip():
        raise CaseError("assignee_required", "no assignee", "请选择分派给谁。")
    alert_work.assign(
        engine_of(request),
        actor,
        alert_id,
        assignee.strip(),
        expected_version=case_forms.version(expected_version),
        reason=text_or_none(plain(reason, "说明")),
    )
    return back(request, alert_id, "assigned")


@router.post("/alerts/{alert_id}/verify")
def alert_verify(
    request: Request,
    alert_id: RowId,
    actor: Actor = Depends(actor_with("alert.verify")),
    visited_on: str = Form(""),
    visitors: str = Form("", max_length=200),
    met: str = Form("", max_length=200),
    findings: str = Form("", max_length=5000),
    expected_version: str = Form(""),
    files: list[UploadFile] = File(default=[]),
) -> Response:
    """A home visit, with its photos and signed forms (multipart; stored by the service)."""
    visit_day = day(visited_on, "核查日期")
    if visit_day is None:
        raise CaseError("date_required", "no visit date", "请填写核查日期。")
    attachments = []
    for f in files:
        content = f.file.read()
        if not f.filename and not content:
            continue  # the empty file field of a form sent without files
        attachments.append((_CONTROL.sub("", f.filename or "") or "附件", content))
    alert_work.record_verification(
        engine_of(request),
        actor,
        alert_id,
        visited_on=visit_day,
        visitors=plain(visitors, "核查人员"),
        met=plain(met, "见到的人"),
        findings=plain(findings, "核查情况"),
        attachments=attachments,
        data_dir=settings_of(request).data_dir,
        expected_version=case_forms.version(expected_version),
    )
    return back(request, alert_id, "verified")


@router.post("/alerts/{alert_id}/decide")
async def alert_decide(
    request: Request, alert_id: RowId, actor: Actor = Depends(actor_with("alert.decide"))
) -> Response:
    """The decision: each ticked outcome with its own reason (and amount where it has one)."""
    form = await request.form()
    kinds = [str(k) for k in form.getlist("outcome")]
    outcomes = []
    for kind in kinds:
        if kind not in OUTCOMES:
            raise CaseError("bad_outcome", f"unknown outcome {kind!r}", f"处置结果“{kind}”不存在。")
        reason = plain(str(form.get(f"reason_{kind}") or ""), f"“{OUTCOMES[kind]}”的理由")
        money = amount(str(form.get(f"amount_{kind}") or ""), OUTCOMES[kind]) if kind in AMOUNTS else None
        program = from_month = None
        if kind in PAYMENT_OUTCOMES:
            program = text_or_none(str(form.get(f"program_{kind}") or ""))
            if program is not None and program not in PROGRAMS_SHORT:
                raise CaseError("bad_program", f"unknown program {program!r}", f"救助项目“{program}”不存在。")
            from_month = text_or_none(str(form.get(f"from_month_{kind}") or ""))
        outcomes.append(
            alert_work.Outcome(kind, reason, amount=money, program=program, from_month=from_month)
        )
    version = case_forms.version(str(form.get("expected_version") or ""))
    await run_in_threadpool(
        alert_work.decide, engine_of(request), actor, alert_id, outcomes, expected_version=version
    )
    return back(request, alert_id, "decided")


@router.get("/alerts/{alert_id}/attachments/{attachment_id}")
def alert_attachment(
    request: Request, alert_id: RowId, attachment_id: RowId, actor: Actor = Depends(VIEW)
) -> Response:
    """A visit's photo or form, for whoever may see the alert (scope checked by the service)."""
    detail = alert_work.alert_detail(engine_of(request), actor, alert_id)
    info = next((a for a in detail.attachments if a.id == attachment_id), None)
    if info is None:
        raise CaseError("not_found", f"no attachment {attachment_id} on alert {alert_id}", "附件不存在。")
    content = read_attachment(settings_of(request).data_dir, info)
    inline = info.media_type in INLINE_TYPES
    disposition = "inline" if inline else "attachment"
    return Response(
        content,
        media_type=info.media_type if inline else "application/octet-stream",
        headers={"Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(info.file_name)}"},
    )
