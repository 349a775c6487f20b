"""Jinja2 pages: the environment, the navigation by permission, and ``page()``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from doudi.auth import can
from doudi.cases import labels
from doudi.ids import mask_citizen_id, mask_name

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))
TEMPLATES.env.globals.update(labels=labels, label=labels.label)
TEMPLATES.env.filters.update(
    mask_id=lambda v: mask_citizen_id(v) if v else "",
    mask_name=lambda v: mask_name(v) if v else "",
    yuan=lambda v: "—" if v is None else f"{v:,.2f}",
    num=lambda v: "—" if v is None else f"{v:,}",
    day=lambda v: "" if v is None else str(v)[:10],
    minute=lambda v: "" if v is None else str(v)[:16],
)

# (path, label, permission): the menu, each entry shown to the roles holding its permission.
NAV: list[tuple[str, str, str]] = [
    ("/", "工作台", "case.view"),
    ("/alerts", "预警", "case.view"),
    ("/households", "家庭", "case.view"),
    ("/applications", "申请", "case.view"),
    ("/rolls", "发放", "case.view"),
    ("/recipients", "救助对象", "case.view"),
    ("/reviews", "复核", "case.view"),
    ("/feeds", "数据", "case.view"),
    ("/rules", "规则", "case.view"),
    ("/standards", "标准", "case.view"),
    ("/simulate", "测算", "case.view"),
    ("/admin/users", "系统", "user.manage"),
]


def page(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render a page (or, for an HTMX request, the same template: templates decide what to send)."""
    session = getattr(request.state, "session", None)
    actor = session.actor if session else None
    nav = [(p, name) for p, name, perm in NAV if actor and can(actor.role, perm)]
    response = TEMPLATES.TemplateResponse(
        request,
        template,
        {
            "actor": actor,
            "csrf_token": session.csrf_token if session else "",
            "nav": nav,
            "path": request.url.path,
            "htmx": request.headers.get("hx-request") == "true",
            **context,
        },
        status_code=status_code,
    )
    return response
