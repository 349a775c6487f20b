"""Signing in and out: argon2 passwords, session cookie flags, throttling and lockout, CSRF,
security headers."""

from __future__ import annotations

from case_world import PASSWORD, build_world
from sqlalchemy import Engine, func, select
from web_client import HIDDEN_CSRF, client, csrf_of, login

from doudi.db.models import LoginAttempt, WebSession
from doudi.settings import Settings


def _form_token(c) -> str:  # type: ignore[no-untyped-def]
    match = HIDDEN_CSRF.search(c.get("/login").text)
    assert match
    return match.group(1)


def test_sign_in_sets_a_protected_cookie_and_shows_the_dashboard(settings: Settings, engine: Engine) -> None:
    build_world(engine, with_alerts=True)
    c = client(settings)
    assert c.get("/").status_code == 303  # not signed in: to the login page
    assert c.get("/").headers["location"] == "/login"
    token = _form_token(c)
    r = c.post(
        "/login", data={"username": "worker1", "password": PASSWORD, "csrf_token": token, "next": "/alerts"}
    )
    assert r.status_code == 303 and r.headers["location"] == "/alerts"
    cookie = next(
        v for k, v in r.headers.multi_items() if k == "set-cookie" and v.startswith("doudi_session=")
    )
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie  # plain http here
    home = c.get("/")
    assert home.status_code == 200 and "工作台" in home.text and "worker1" in home.text
    assert "预警数" in home.text
    with engine.connect() as conn:
        (stored,) = conn.execute(select(WebSession.token_sha256)).scalars()
    assert c.cookies.get("doudi_session") != stored and len(stored) == 64  # only the hash is kept


def test_wrong_password_and_unknown_user_get_the_same_answer(settings: Settings, engine: Engine) -> None:
    build_world(engine, with_alerts=False)
    c = client(settings)
    for user in ("worker1", "nobody"):
        r = c.post("/login", data={"username": user, "password": "wrong", "csrf_token": _form_token(c)})
        assert r.status_code == 401 and "用户名或密码不正确" in r.text


def test_repeated_failures_lock_the_account(settings: Settings, engine: Engine) -> None:
    build_world(engine, with_alerts=False)
    c = client(settings)
    for _ in range(settings.login_max_failures):
        c.post("/login", data={"username": "worker1", "password": "wrong", "csrf_token": _form_token(c)})
    r = c.post("/login", data={"username": "worker1", "password": PASSWORD, "csrf_token": _form_token(c)})
    assert r.status_code == 429 and "登录失败次数过多" in r.text
    with engine.connect() as conn:
        n = conn.execute(
            select(func.count()).select_from(LoginAttempt).where(LoginAttempt.ok.is_(False))
        ).scalar()
    assert n == settings.login_max_failures + 1


def test_login_needs_its_csrf_token(settings: Settings, engine: Engine) -> None:
    build_world(engine, with_alerts=False)
    c = client(settings)
    c.get("/login")
    r = c.post("/login", data={"username": "worker1", "password": PASSWORD, "csrf_token": "forged"})
    assert r.status_code == 403 and "安全校验未通过" in r.text


def test_logout_needs_csrf_and_ends_the_session(settings: Settings, engine: Engine) -> None:
    build_world(engine, with_alerts=False)
    c = client(settings)
    token = login(c, "worker1")
    assert c.post("/logout").status_code == 403  # no token
    assert c.get("/").status_code == 200
    r = c.post("/logout", data={"csrf_token": token})
    assert r.status_code == 303
    assert c.get("/").status_code == 303
    with engine.connect() as conn:
        assert conn.execute(select(WebSession.ended_at)).scalar() is not None


def test_security_headers_forbid_inline_scripts(settings: Settings, engine: Engine) -> None:
    build_world(engine, with_alerts=False)
    c = client(settings)
    login(c, "worker1")
    r = c.get("/")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert r.headers["x-content-type-options"] == "nosniff" and r.headers["cache-control"] == "no-store"
    assert "<script>" not in r.text and "onclick" not in r.text
    assert csrf_of(c)


def test_a_body_of_unknown_length_is_refused_before_it_is_read(settings: Settings, engine: Engine) -> None:
    build_world(engine, with_alerts=False)
    c = client(settings)
    token = login(c, "worker1")

    def chunks():  # type: ignore[no-untyped-def]
        yield b"csrf_token=" + token.encode()

    r = c.post("/logout", content=chunks(), headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 411 and "文件大小" in r.text
    assert c.get("/").status_code == 200  # still signed in: nothing was read
