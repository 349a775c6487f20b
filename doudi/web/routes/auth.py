"""Sign in and out."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from doudi.errors import UserFacingError
from doudi.web import sessions
from doudi.web.deps import CsrfFailed, csrf_protect, engine_of, public, session_of, settings_of
from doudi.web.render import page

router = APIRouter()


def _safe_next(value: str | None) -> str:
    """Only local paths: never redirect off the site."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


LOGIN_CSRF = "doudi_login_csrf"


def _login_page(request: Request, next_path: str, error: str | None, status_code: int = 200) -> Response:
    """The sign-in form with a fresh double-submit CSRF token (cookie + hidden field)."""
    token = secrets.token_urlsafe(24)
    response = page(
        request, "login.html", status_code=status_code, next=next_path, error=error, login_csrf=token
    )
    response.set_cookie(
        LOGIN_CSRF,
        token,
        max_age=3600,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.get("/login")
@public
def login_form(request: Request, next: str | None = None) -> Response:
    return _login_page(request, _safe_next(next), None)


@router.post("/login")
@public
def login(
    request: Request,
    username: str = Form(..., max_length=60),
    password: str = Form(..., max_length=200),
    next: str = Form("/"),
    csrf_token: str = Form(""),
) -> Response:
    expected = request.cookies.get(LOGIN_CSRF, "")
    if not expected or not secrets.compare_digest(expected, csrf_token):
        raise CsrfFailed()
    client = request.client.host if request.client else "unknown"
    try:
        token, _ = sessions.sign_in(
            engine_of(request), settings_of(request), username.strip(), password, client
        )
    except UserFacingError as exc:
        status = 429 if exc.code == "locked" else 401
        return _login_page(request, _safe_next(next), exc.message_zh, status)
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.delete_cookie(LOGIN_CSRF)
    response.set_cookie(
        sessions.COOKIE,
        token,
        max_age=settings_of(request).session_hours * 3600,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@router.post("/logout", dependencies=[Depends(csrf_protect)])
@public
def logout(request: Request) -> Response:
    session_of(request)
    sessions.sign_out(engine_of(request), request.cookies.get(sessions.COOKIE))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(sessions.COOKIE, path="/")
    return response


@router.get("/healthz")
@public
def health() -> dict[str, str]:
    return {"status": "ok"}
