"""系统 (administrators): staff accounts with their role and division scope, the audit log,
and the departments' API tokens."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from doudi.auth import Actor
from doudi.auth import admin as svc
from doudi.auth.scope import OBJECT_LABELS
from doudi.auth.users import UserError
from doudi.errors import UserFacingError
from doudi.feeds.contract import default_contracts
from doudi.web import tokens
from doudi.web.deps import actor_with, csrf_protect, engine_of
from doudi.web.render import page

router = APIRouter(dependencies=[Depends(csrf_protect)])
USERNAME = r"^[a-z0-9_.-]{2,60}$"


def _users_page(
    request: Request,
    actor: Actor,
    *,
    error: UserError | None = None,
    form: dict[str, str] | None = None,
    done: str | None = None,
) -> Response:
    return page(
        request,
        "admin/users.html",
        status_code=400 if error else 200,
        tab="users",
        users=svc.accounts(engine_of(request), actor),
        roles=svc.role_choices(),
        error=error,
        form=form or {},
        done=done,
    )


@router.get("/admin/users")
def users_page(request: Request, actor: Actor = Depends(actor_with("user.manage"))) -> Response:
    return _users_page(request, actor)


@router.post("/admin/users")
def create_user(
    request: Request,
    actor: Actor = Depends(actor_with("user.manage")),
    username: str = Form(..., max_length=60),
    display_name: str = Form("", max_length=60),
    role: str = Form(..., max_length=30),
    division_code: str = Form(..., max_length=12),
    password: str = Form(..., max_length=200),
    password_again: str = Form(..., max_length=200),
) -> Response:
    try:
        info = svc.add_account(
            engine_of(request),
            actor,
            username=username,
            display_name=display_name,
            role=role,
            division_code=division_code,
            password=password,
            password_again=password_again,
        )
    except UserError as exc:
        kept = {
            "username": username,
            "display_name": display_name,
            "role": role,
            "division_code": division_code,
        }
        return _users_page(request, actor, error=exc, form=kept)
    return _users_page(request, actor, done=f"已新增用户 {info.username}。")


@router.post("/admin/users/{username}/active")
def set_active(
    request: Request,
    username: str = Path(..., pattern=USERNAME),
    actor: Actor = Depends(actor_with("user.manage")),
    active: bool = Form(...),
) -> Response:
    try:
        info = svc.set_account_active(engine_of(request), actor, username, active)
    except UserError as exc:
        return _users_page(request, actor, error=exc)
    return _users_page(request, actor, done=f"已{'启用' if info.active else '停用'}用户 {info.username}。")


def _day(text: str | None, what: str) -> dt.date | None:
    if not text or not text.strip():
        return None
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise UserFacingError(
            "bad_date", f"bad date {text!r}", f"{what}应为日期，格式如 2026-12-01，收到“{text}”。"
        ) from None


@router.get("/admin/audit")
def audit_page(
    request: Request,
    actor: Actor = Depends(actor_with("audit.view")),
    who: str | None = Query(None, max_length=100),
    action: str | None = Query(None, max_length=40),
    object_type: str | None = Query(None, max_length=40),
    start_text: str | None = Query(None, alias="start", max_length=10),
    end_text: str | None = Query(None, alias="end", max_length=10),
    before: int | None = Query(None, ge=1, le=2**63 - 1),
) -> Response:
    # An empty date field means "no bound" (a search form sends start= when left blank).
    start, end = _day(start_text, "起始日期"), _day(end_text, "截止日期")
    filters: dict[str, Any] = {
        "who": (who or "").strip(),
        "action": (action or "").strip(),
        "object_type": (object_type or "").strip(),
        "start": start,
        "end": end,
    }
    found = svc.search_audit(
        engine_of(request),
        actor,
        actor=filters["who"] or None,
        action=filters["action"] or None,
        object_type=filters["object_type"] or None,
        start=start,
        end=end,
        before_id=before,
    )
    more = {k: v for k, v in filters.items() if v}
    return page(
        request,
        "admin/audit.html",
        tab="audit",
        entries=found.rows,
        next_before=found.next_before,
        filters=filters,
        more=more,
        actions=svc.ACTIONS,
        object_types=OBJECT_LABELS,
    )


def _tokens_page(
    request: Request,
    actor: Actor,
    *,
    error: tokens.TokenError | None = None,
    created: tuple[tokens.TokenInfo, str] | None = None,
    form: dict[str, Any] | None = None,
) -> Response:
    return page(
        request,
        "admin/tokens.html",
        status_code=400 if error else 200,
        tab="tokens",
        tokens=tokens.list_tokens(engine_of(request), by=actor),
        contracts=sorted(default_contracts().items()),
        error=error,
        created=created,
        form=form or {},
    )


@router.get("/admin/tokens")
def tokens_page(request: Request, actor: Actor = Depends(actor_with("user.manage"))) -> Response:
    return _tokens_page(request, actor)


@router.post("/admin/tokens")
async def create_token(request: Request, actor: Actor = Depends(actor_with("user.manage"))) -> Response:
    form = await request.form()
    name = str(form.get("name") or "")[:100]
    kinds = [str(k) for k in form.getlist("feed_kinds")][:50]
    username = str(form.get("username") or "").strip()[:60] or None
    try:
        created = tokens.create_token(
            engine_of(request),
            name=name,
            feed_kinds=kinds,
            username=username,
            created_by=actor.username,
            by=actor,
        )
    except tokens.TokenError as exc:
        return _tokens_page(
            request, actor, error=exc, form={"name": name, "feed_kinds": kinds, "username": username or ""}
        )
    # The secret is in this response only: never in a URL, a log or the database.
    return _tokens_page(request, actor, created=created)


@router.post("/admin/tokens/{token_id}/revoke")
def revoke_token(
    request: Request,
    token_id: int = Path(..., ge=1, le=2**31 - 1),
    actor: Actor = Depends(actor_with("user.manage")),
) -> Response:
    try:
        tokens.revoke_token(engine_of(request), token_id, revoked_by=actor.username, by=actor)
    except tokens.TokenError as exc:
        if exc.code == "not_found":
            raise
        return _tokens_page(request, actor, error=exc)
    return RedirectResponse("/admin/tokens", status_code=303)
