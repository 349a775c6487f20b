"""工作台: the dashboard of the signed-in user's division."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from doudi.auth import Actor
from doudi.cases.stats import closure_stats
from doudi.web.deps import actor_with, csrf_protect, engine_of
from doudi.web.render import page

router = APIRouter(dependencies=[Depends(csrf_protect)])


@router.get("/")
def dashboard(request: Request, actor: Actor = Depends(actor_with("case.view"))) -> Response:
    stats = closure_stats(engine_of(request), actor)
    return page(request, "home.html", stats=stats)
