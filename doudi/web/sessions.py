"""Signing in and out: server-side sessions, CSRF tokens, throttling and lockout.

The session cookie holds a random token; the database keeps only its SHA-256, so a copy of the
database does not let anyone sign in. Each session has its own CSRF token, which every form
carries as ``csrf_token`` and every HTMX request as the ``X-CSRF-Token`` header.

Failed sign-ins are counted per account and per client address within the lockout window:
``login_max_failures`` for an account (``4 ×`` for an address) lock further attempts until the
window has passed since the last failure. A locked account gets the same answer whether or not
the password is right, and the answer never says whether the account exists.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import Engine, func, insert, select, update

from doudi.auth import Actor
from doudi.auth.users import verify_password
from doudi.db.engine import reading
from doudi.db.models import LoginAttempt, User, WebSession
from doudi.errors import UserFacingError
from doudi.settings import Settings

COOKIE = "doudi_session"


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now() -> dt.datetime:
    return dt.datetime.now().replace(microsecond=0)


@dataclass(frozen=True)
class Session:
    actor: Actor
    csrf_token: str
    expires_at: dt.datetime


class LoginError(UserFacingError):
    pass


def _failures(engine: Engine, column: str, value: str, since: dt.datetime) -> tuple[int, dt.datetime | None]:
    t = LoginAttempt.__table__
    with engine.connect() as conn:
        last_ok = conn.execute(
            select(func.max(t.c.at)).where(t.c[column] == value, t.c.ok.is_(True), t.c.at >= since)
        ).scalar()
        cond = [t.c[column] == value, t.c.ok.is_(False), t.c.at >= since]
        if last_ok is not None:
            cond.append(t.c.at > last_ok)
        row = conn.execute(select(func.count(), func.max(t.c.at)).where(*cond)).one()
    return int(row[0]), row[1]


def sign_in(
    engine: Engine, settings: Settings, username: str, password: str, client: str
) -> tuple[str, Session]:
    """Check the password (with throttling) and open a session; returns (cookie token, session)."""
    now = _now()
    window = dt.timedelta(minutes=settings.login_lockout_minutes)
    user_failures, _ = _failures(engine, "username", username, now - window)
    client_failures, _ = _failures(engine, "client", client, now - window)
    locked = (
        user_failures >= settings.login_max_failures or client_failures >= 4 * settings.login_max_failures
    )
    actor = None if locked else verify_password(engine, username, password)
    with engine.begin() as conn:
        conn.execute(
            insert(LoginAttempt).values(
                username=username[:60], client=client[:64], at=now, ok=actor is not None
            )
        )
    if locked:
        raise LoginError(
            "locked",
            f"sign-in locked for {username!r} from {client} after repeated failures",
            f"登录失败次数过多，请 {settings.login_lockout_minutes} 分钟后再试。",
        )
    if actor is None:
        raise LoginError("bad_login", f"failed sign-in for {username!r}", "用户名或密码不正确。")
    token = secrets.token_urlsafe(32)
    session = Session(actor, secrets.token_urlsafe(32), now + dt.timedelta(hours=settings.session_hours))
    with engine.begin() as conn:
        conn.execute(
            insert(WebSession).values(
                token_sha256=_sha(token),
                username=actor.username,
                csrf_token=session.csrf_token,
                created_at=now,
                expires_at=session.expires_at,
            )
        )
    return token, session


def session_of(engine: Engine, token: str | None) -> Session | None:
    """The live session of a cookie token, or None (unknown, ended, expired, or user disabled)."""
    if not token:
        return None
    t, u = WebSession.__table__, User.__table__
    with reading(engine) as conn:  # one query per request: the session and its active user
        row = conn.execute(
            select(
                t.c.csrf_token, t.c.expires_at, u.c.username, u.c.role, u.c.division_code, u.c.display_name
            )
            .join(u, u.c.username == t.c.username)
            .where(
                t.c.token_sha256 == _sha(token),
                t.c.ended_at.is_(None),
                t.c.expires_at > _now(),
                u.c.active.is_(True),
            )
        ).first()
    if row is None:
        return None
    return Session(
        Actor(row.username, row.role, row.division_code, row.display_name), row.csrf_token, row.expires_at
    )


def sign_out(engine: Engine, token: str | None) -> None:
    if not token:
        return
    with engine.begin() as conn:
        conn.execute(update(WebSession).where(WebSession.token_sha256 == _sha(token)).values(ended_at=_now()))


def csrf_ok(session: Session, presented: str | None) -> bool:
    return bool(presented) and secrets.compare_digest(session.csrf_token, presented or "")
