"""Dependencies every route uses: the engine, the signed-in actor with a permission, CSRF.

Each guard dependency carries ``__doudi_guard__`` (the permission it checks) so that a test
can walk every route of the app and fail on one that has none (tests/web/test_route_guards.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Request
from sqlalchemy import Engine

from doudi.auth import Actor, require
from doudi.errors import UserFacingError
from doudi.settings import Settings
from doudi.web import sessions

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class LoginRequired(UserFacingError):
    def __init__(self) -> None:
        super().__init__("login_required", "not signed in", "请先登录。")


class CsrfFailed(UserFacingError):
    def __init__(self) -> None:
        super().__init__(
            "csrf_failed",
            "missing or wrong CSRF token",
            "页面已过期或来源不明（安全校验未通过），请刷新页面后重试。",
        )


def engine_of(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def session_of(request: Request) -> sessions.Session:
    """The request's live session (cached on the request), or LoginRequired."""
    cached = getattr(request.state, "session", None)
    if cached is not None:
        found: sessions.Session = cached
        return found
    session = sessions.session_of(engine_of(request), request.cookies.get(sessions.COOKIE))
    if session is None:
        raise LoginRequired()
    request.state.session = session
    return session


def actor_with(permission: str) -> Callable[[Request], Actor]:
    """A dependency giving the signed-in actor, who must hold ``permission``."""

    def dependency(request: Request) -> Actor:
        actor = session_of(request).actor
        require(actor.role, permission)
        return actor

    dependency.__doudi_guard__ = permission  # type: ignore[attr-defined]
    dependency.__name__ = f"actor_with_{permission.replace('.', '_')}"
    return dependency


async def csrf_protect(request: Request) -> None:
    """Unsafe methods must present the session's CSRF token (form field or header)."""
    if request.method not in UNSAFE:
        return
    session = session_of(request)
    presented = request.headers.get("x-csrf-token")
    if not presented:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get("csrf_token")
            presented = value if isinstance(value, str) else None
    if not sessions.csrf_ok(session, presented):
        raise CsrfFailed()


csrf_protect.__doudi_csrf__ = True  # type: ignore[attr-defined]


F = TypeVar("F", bound=Callable[..., Any])


def public(func: F) -> F:
    """Mark a route as reachable without signing in (login page, health)."""
    setattr(func, "__doudi_public__", True)  # noqa: B010
    return func
