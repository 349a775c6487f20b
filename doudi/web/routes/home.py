"""工作台: the dashboard of a division in the signed-in user's scope, with drill-down."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from doudi.auth import Actor
from doudi.cases.dashboard import SEVERITIES, dashboard
from doudi.monitor.rules import SEVERITIES as SEVERITY_NAMES
from doudi.web.deps import actor_with, csrf_protect, engine_of
from doudi.web.render import page

router = APIRouter(dependencies=[Depends(csrf_protect)])


@router.get("/")
def dashboard_page(
    request: Request,
    actor: Actor = Depends(actor_with("case.view")),
    division: str | None = Query(None, max_length=12),
    period: str | None = Query(None, max_length=7),
    as_of: dt.date | None = Query(None),
) -> Response:
    """The actor's division by default; ``division`` (a code in scope) drills down or up,
    ``period`` (YYYY-MM or YYYY) limits the alerts counted to those raised in it, ``as_of``
    (default today) is the day the figures stand at."""
    board = dashboard(
        engine_of(request),
        actor,
        division_code=(division or "").strip() or None,
        period=(period or "").strip() or None,
        as_of=as_of,
    )
    return page(
        request,
        "home.html",
        board=board,
        stats=board.closure,
        as_of_given=as_of is not None,
        severities=[(s, SEVERITY_NAMES[s]) for s in SEVERITIES],
    )
