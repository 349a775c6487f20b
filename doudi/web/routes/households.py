"""家庭: household search and the household's file.

The search criteria are personal data (the end of a citizen ID, a name), so the search form
is POSTed (with its CSRF token) and so are its pages: nothing of it reaches a URL or a log.
A household's page is at its internal id; it shows the members, categories with their
history, incomes, property, addresses, the assistance it receives, its alerts with the feed
rows behind them and its assistance chain. The programs' assessment and the matches in the
departments' feeds are filled in by HTMX after the page has come (they run the programs and
read Parquet files); without JavaScript they are links to pages of their own.

Masked by default; "显示完整信息" posts a reason and the service writes it to the audit log.
Every read is a service of :mod:`doudi.registry.households` (scoped in SQL; another
township's household is "not found", and the attempt is logged).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from doudi.auth import Actor
from doudi.cases import ledger
from doudi.cases.chain import household_chain
from doudi.programs.explain import DETAIL_LABELS as VALUE_LABELS
from doudi.programs.explain import FINDING_LABELS
from doudi.programs.parameters import default_parameters
from doudi.registry.households import (
    PAGE_SIZE,
    SearchResult,
    divisions_in_scope,
    household_assessment,
    household_detail,
    household_feed_matches,
    search_households,
)
from doudi.web.deps import actor_with, csrf_protect, engine_of
from doudi.web.render import page
from doudi.web.routes.alerts import RowId, evidence_fields, feed_title, plain

router = APIRouter(dependencies=[Depends(csrf_protect)])

VIEW = actor_with("case.view")

# The programs' explanation values (doudi.programs.engine details) by their Chinese names.


def _value(value: object) -> str:
    if value is True:
        return "是"
    if value is False:
        return "否"
    if value is None:
        return "—"
    return str(value)


# --- search -------------------------------------------------------------------------------------


def _search_page(
    request: Request,
    actor: Actor,
    *,
    result: SearchResult | None,
    criteria: dict[str, str],
) -> Response:
    partial = request.headers.get("hx-target") == "results"
    return page(
        request,
        "households/_results.html" if partial else "households/search.html",
        result=result,
        criteria=criteria,
        divisions=[] if partial else divisions_in_scope(engine_of(request), actor),
    )


@router.get("/households")
def household_search_form(request: Request, actor: Actor = Depends(VIEW)) -> Response:
    """The search form; for a county or below, the division's households as a first list."""
    result = None
    if len(actor.prefix) >= 6:
        result = search_households(engine_of(request), actor, page_size=PAGE_SIZE)
    criteria = {"id_tail": "", "name": "", "division": "", "household_no": ""}
    return _search_page(request, actor, result=result, criteria=criteria)


@router.post("/households/search")
def household_search(
    request: Request,
    actor: Actor = Depends(VIEW),
    id_tail: str = Form("", max_length=40),
    name: str = Form("", max_length=100),
    division: str = Form("", max_length=12),
    household_no: str = Form("", max_length=40),
    page_no: int = Form(1, alias="page", ge=1, le=100_000),
) -> Response:
    criteria = {"id_tail": id_tail, "name": name, "division": division, "household_no": household_no}
    result = search_households(
        engine_of(request),
        actor,
        id_tail=id_tail,
        name=name,
        division=division,
        household_no=household_no,
        page=page_no,
        page_size=PAGE_SIZE,
    )
    return _search_page(request, actor, result=result, criteria=criteria)


# --- one household --------------------------------------------------------------------------------


def _household_page(
    request: Request, actor: Actor, household_id: RowId, *, reason: str | None = None
) -> Response:
    engine = engine_of(request)
    detail = household_detail(
        engine, actor, household_id, unmasked=reason is not None, reason=reason, today=ledger.now().date()
    )
    return page(
        request,
        "households/detail.html",
        h=detail,
        chain=household_chain(engine, actor, household_id),
        evidence_fields=evidence_fields,
        feed_title=feed_title,
    )


@router.get("/households/{household_id}")
def household_page(request: Request, household_id: RowId, actor: Actor = Depends(VIEW)) -> Response:
    return _household_page(request, actor, household_id)


@router.post("/households/{household_id}/unmask")
def household_unmasked(
    request: Request,
    household_id: RowId,
    actor: Actor = Depends(VIEW),
    reason: str = Form("", max_length=500),
) -> Response:
    """Names and IDs in full: needs a reason, written to the audit log; shown in answer to the
    POST only."""
    return _household_page(request, actor, household_id, reason=plain(reason, "查看理由"))


@router.get("/households/{household_id}/assessment")
def household_programs(request: Request, household_id: RowId, actor: Actor = Depends(VIEW)) -> Response:
    """What the programs say the household is entitled to today, and why."""
    assessment = household_assessment(engine_of(request), actor, household_id, on=ledger.now().date())
    params = default_parameters()
    described = {}
    for p in assessment.programs:
        for name in p.parameters:
            try:
                described[name] = params[name].description
            except KeyError:
                described[name] = name
    partial = request.headers.get("hx-request") == "true"
    return page(
        request,
        "households/_assessment.html" if partial else "households/assessment.html",
        a=assessment,
        household_id=household_id,
        value_labels=VALUE_LABELS,
        described=described,
        shown=_value,
    )


@router.get("/households/{household_id}/feeds")
def household_feeds(request: Request, household_id: RowId, actor: Actor = Depends(VIEW)) -> Response:
    """The departments' feed rows in force that name a member (vehicles, real estate, …)."""
    matches = household_feed_matches(engine_of(request), actor, household_id, on=ledger.now().date())
    partial = request.headers.get("hx-request") == "true"
    return page(
        request,
        "households/_feeds.html" if partial else "households/feeds.html",
        f=matches,
        household_id=household_id,
        finding_labels=FINDING_LABELS,
        shown=_value,
    )
