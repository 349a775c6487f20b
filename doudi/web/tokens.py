"""API tokens: department systems pushing feeds, and integrations reading as a staff account.

One table (``api_tokens``), two uses that a token may combine:

- a **department token** lists the feed kinds it may push (``feed_kinds``): it uploads files of
  those kinds and reads the status, quality report and quarantine of loads of those kinds, and
  nothing else;
- a **user token** is bound to a staff account (``username``): it reads alerts and households
  exactly as that user would in the browser, with the user's role and division scope looked
  up at every request (disabling the account or changing its scope takes effect at once).

The token is ``doudi_`` followed by 43 URL-safe random characters. It is shown once, when it
is created; the database keeps only its SHA-256, so a copy of the database lets nobody call the
API. A revoked token stays in the table (who created it, when it was revoked) and answers 401.
Creating and revoking a token are written to the audit log.

The API authenticates with the ``Authorization: Bearer <token>`` header only. Cookies are never
read by the API's guards, so a browser session cannot be used against the API and the API needs
no CSRF token. The guards at the end of this module carry ``__doudi_guard__`` values starting
with ``api:`` (tests/web/test_route_guards.py checks that every route has one).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine, insert, select, update

from doudi import audit
from doudi.auth import Actor, require
from doudi.auth.users import get_user
from doudi.db.models import ApiToken
from doudi.errors import UserFacingError
from doudi.feeds.contract import default_contracts
from doudi.feeds.service import FeedLoadResult, get_load

PREFIX = "doudi_"
_TABLE = ApiToken.__table__


class TokenError(UserFacingError):
    """A token that cannot be created or revoked as asked (the CLI and the admin page show it)."""


class ApiAuthError(UserFacingError):
    """No usable token on an API request: 401 with the API's error shape."""

    def __init__(self, message: str, message_zh: str) -> None:
        super().__init__(
            "login_required",
            message,
            message_zh,
            details=[
                "请在请求头中提供 Authorization: Bearer <令牌>（令牌由系统管理员用 doudi tokens create 发放）。"
            ],
        )


class ApiForbidden(UserFacingError):
    """A valid token asking for something it is not allowed (403)."""

    def __init__(self, message: str, message_zh: str) -> None:
        super().__init__("forbidden", message, message_zh)


@dataclass(frozen=True)
class TokenInfo:
    """A token as listed (never the token itself)."""

    id: int
    name: str
    feed_kinds: tuple[str, ...]
    username: str | None
    created_by: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    @property
    def label(self) -> str:
        """How loads and the audit log name the token (``token 3 医保局``)."""
        return f"token {self.id} {self.name}"[:100]


@dataclass(frozen=True)
class Principal:
    """Who is calling the API: the token, and the staff account it reads as (if any)."""

    token: TokenInfo
    actor: Actor | None

    def may_push(self, kind: str) -> bool:
        return kind in self.token.feed_kinds


def _sha(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _now() -> dt.datetime:
    return dt.datetime.now().replace(microsecond=0)


def _info(row: Any) -> TokenInfo:
    kinds = json.loads(row.feed_kinds) if row.feed_kinds else []
    return TokenInfo(
        id=int(row.id),
        name=row.name,
        feed_kinds=tuple(str(k) for k in kinds),
        username=row.username,
        created_by=row.created_by,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


def parse_kinds(text: str | Sequence[str] | None) -> tuple[str, ...]:
    """Feed kinds as typed (``medical,death``, or a list), checked against the contracts;
    sorted, without duplicates.

    >>> parse_kinds("death, medical,death")
    ('death', 'medical')
    >>> parse_kinds(None)
    ()
    """
    if text is None:
        return ()
    items = text.replace("，", ",").split(",") if isinstance(text, str) else list(text)
    kinds = sorted({k.strip() for k in items if k and k.strip()})
    contracts = default_contracts()
    unknown = [k for k in kinds if k not in contracts]
    if unknown:
        known = "、".join(f"{k}（{c.title}）" for k, c in sorted(contracts.items()))
        raise TokenError(
            "unknown_kind",
            f"unknown feed kinds {unknown}",
            f"没有“{'、'.join(unknown)}”这类数据。可用的数据类别：{known}。",
        )
    return tuple(kinds)


def create_token(
    engine: Engine,
    *,
    name: str,
    feed_kinds: str | Sequence[str] | None = None,
    username: str | None = None,
    created_by: str,
    by: Actor | None = None,
) -> tuple[TokenInfo, str]:
    """Issue a token; returns it with the secret, which is not stored and cannot be shown again.

    ``by`` (the admin page) must be an administrator; the CLI passes none (the operator of the
    server is trusted). A token needs feed kinds, a user, or both."""
    if by is not None:
        require(by.role, "user.manage")
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise TokenError("bad_name", "token name must be 1-100 characters", "令牌名称应为1至100个字符。")
    kinds = parse_kinds(feed_kinds)
    if username is not None:
        user = get_user(engine, username)
        if user is None or not user.active:
            raise TokenError(
                "unknown_user",
                f"no active user {username!r}",
                f"用户“{username}”不存在或已停用，令牌不能绑定到该用户。",
            )
    if not kinds and username is None:
        raise TokenError(
            "empty_token",
            "a token needs feed kinds or a user",
            "令牌须指定可报送的数据类别（部门令牌）或绑定一个用户（用户令牌），或两者兼有。",
        )
    secret = PREFIX + secrets.token_urlsafe(32)
    now = _now()
    with engine.begin() as conn:
        token_id = int(
            conn.execute(
                insert(ApiToken)
                .values(
                    name=name,
                    token_sha256=_sha(secret),
                    feed_kinds=json.dumps(list(kinds)),
                    username=username,
                    created_by=created_by,
                    created_at=now,
                )
                .returning(ApiToken.id)
            ).scalar_one()
        )
        audit.record(
            conn,
            actor=created_by,
            action="api_token_created",
            object_type="api_token",
            object_ref=str(token_id),
            detail={"name": name, "feed_kinds": list(kinds), "username": username},
        )
    info = TokenInfo(token_id, name, kinds, username, created_by, now, None)
    return info, secret


def list_tokens(engine: Engine, *, by: Actor | None = None) -> list[TokenInfo]:
    """Every token, active ones first, newest first."""
    if by is not None:
        require(by.role, "user.manage")
    with engine.connect() as conn:
        rows = conn.execute(select(_TABLE).order_by(_TABLE.c.id.desc())).all()
    tokens = [_info(r) for r in rows]
    return sorted(tokens, key=lambda t: t.revoked_at is not None)


def get_token(engine: Engine, token_id: int) -> TokenInfo | None:
    with engine.connect() as conn:
        row = conn.execute(select(_TABLE).where(_TABLE.c.id == token_id)).first()
    return _info(row) if row else None


def revoke_token(engine: Engine, token_id: int, *, revoked_by: str, by: Actor | None = None) -> TokenInfo:
    """Revoke a token (it answers 401 from now on). Revoking a revoked token changes nothing."""
    if by is not None:
        require(by.role, "user.manage")
    now = _now()
    with engine.begin() as conn:
        row = conn.execute(select(_TABLE).where(_TABLE.c.id == token_id)).first()
        if row is None:
            raise TokenError("not_found", f"no api token {token_id}", f"令牌（编号 {token_id}）不存在。")
        if row.revoked_at is not None:
            return _info(row)
        conn.execute(update(ApiToken).where(ApiToken.id == token_id).values(revoked_at=now))
        audit.record(
            conn,
            actor=revoked_by,
            action="api_token_revoked",
            object_type="api_token",
            object_ref=str(token_id),
            detail={"name": row.name},
        )
        row = conn.execute(select(_TABLE).where(_TABLE.c.id == token_id)).one()
    return _info(row)


def authenticate(engine: Engine, secret: str | None) -> Principal:
    """The caller behind a token, or :class:`ApiAuthError` (missing, unknown, revoked, or its
    user disabled)."""
    if not secret:
        raise ApiAuthError("no API token", "缺少 API 令牌。")
    with engine.connect() as conn:
        row = conn.execute(select(_TABLE).where(_TABLE.c.token_sha256 == _sha(secret))).first()
    if row is None:
        raise ApiAuthError("unknown API token", "API 令牌无效。")
    info = _info(row)
    if info.revoked_at is not None:
        raise ApiAuthError(f"API token {info.id} is revoked", "API 令牌已被吊销，请向系统管理员申请新令牌。")
    actor = None
    if info.username is not None:
        user = get_user(engine, info.username)
        if user is None or not user.active:
            raise ApiAuthError(
                f"the user {info.username!r} of API token {info.id} is disabled",
                "API 令牌所绑定的用户已停用。",
            )
        actor = user.actor()
    return Principal(info, actor)


# --- what a token may see -----------------------------------------------------------------


def deny(engine: Engine, principal: Principal, object_type: str, ref: object, detail: dict[str, Any]) -> None:
    """Write a refused API request to the audit log (in a transaction of its own)."""
    with engine.begin() as conn:
        audit.record(
            conn,
            actor=principal.actor.username if principal.actor else principal.token.label,
            action="access_denied",
            object_type=object_type,
            object_ref=str(ref),
            detail={"token": principal.token.id, "feed_kinds": list(principal.token.feed_kinds), **detail},
        )


def check_push(engine: Engine, principal: Principal, kind: str) -> None:
    """403 (audited) unless the token may push ``kind``."""
    if not principal.may_push(kind):
        deny(engine, principal, "feed_kind", kind, {"attempt": "push"})
        raise ApiForbidden(
            f"API token {principal.token.id} may not push {kind!r}",
            f"此 API 令牌无权报送“{kind}”类数据（可报送：{'、'.join(principal.token.feed_kinds) or '无'}）。",
        )


def token_load(engine: Engine, principal: Principal, load_id: int) -> FeedLoadResult:
    """A feed load of one of the token's kinds; ``not_found`` otherwise (audited when the load
    exists but belongs to another kind)."""
    with engine.connect() as conn:
        found = get_load(conn, load_id)
    if found is None or not principal.may_push(found.kind):
        if found is not None:
            deny(engine, principal, "feed_load", load_id, {"kind": found.kind})
        raise UserFacingError(
            "not_found",
            f"feed load {load_id} not found or not of the token's kinds",
            f"载入记录（编号 {load_id}）不存在，或不属于此令牌可报送的数据类别。",
        )
    return found


def quarantine_of(engine: Engine, principal: Principal, load_id: int) -> Path:
    """The quarantine file (rejected rows with the reasons) of one of the token's loads, for
    download; the export is audited. ``not_found`` when the load has none."""
    found = token_load(engine, principal, load_id)
    path = found.quarantine_path
    if path is None or not path.is_file():
        raise UserFacingError(
            "not_found",
            f"feed load {load_id} has no quarantine file",
            f"载入记录（编号 {load_id}）没有未通过的行。",
        )
    with engine.begin() as conn:
        audit.record(
            conn,
            actor=principal.token.label,
            action="export",
            object_type="feed_load",
            object_ref=str(load_id),
            detail={"file": "quarantine", "kind": found.kind, "period": found.period, "via": "api"},
        )
    return path


# --- FastAPI guards -------------------------------------------------------------------------


def bearer(request: Request) -> str | None:
    """The token of ``Authorization: Bearer <token>`` (scheme case-insensitive), or None."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


# Declares the scheme in the OpenAPI document; the header is read by :func:`bearer` (a missing or
# malformed header is a 401 in the API's error shape, not FastAPI's 403).
_BEARER = HTTPBearer(auto_error=False, description="doudi tokens create 发放的 API 令牌")


def api_principal(
    request: Request, _credentials: HTTPAuthorizationCredentials | None = Depends(_BEARER)
) -> Principal:
    """Any valid token (cached on the request)."""
    cached = getattr(request.state, "api_principal", None)
    if isinstance(cached, Principal):
        return cached
    principal = authenticate(request.app.state.engine, bearer(request))
    request.state.api_principal = principal
    return principal


api_principal.__doudi_guard__ = "api:token"  # type: ignore[attr-defined]


def feed_client(principal: Principal = Depends(api_principal)) -> Principal:
    """A token that may push at least one feed kind."""
    if not principal.token.feed_kinds:
        raise ApiForbidden(
            f"API token {principal.token.id} has no feed kinds", "此 API 令牌没有报送任何数据类别的权限。"
        )
    return principal


feed_client.__doudi_guard__ = "api:feeds"  # type: ignore[attr-defined]


def api_reader(permission: str) -> Callable[..., Actor]:
    """A dependency giving the staff account a user token reads as, which must hold
    ``permission``; a department token gets 403."""

    def dependency(principal: Principal = Depends(api_principal)) -> Actor:
        if principal.actor is None:
            raise ApiForbidden(
                f"API token {principal.token.id} is not bound to a user",
                "此 API 令牌未绑定用户，只能报送数据；查询预警和家庭需要用户令牌。",
            )
        require(principal.actor.role, permission)
        return principal.actor

    dependency.__doudi_guard__ = f"api:{permission}"  # type: ignore[attr-defined]
    dependency.__name__ = f"api_reader_{permission.replace('.', '_')}"
    return dependency
