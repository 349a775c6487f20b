"""系统: accounts with role and division scope, the audit log search and the API tokens —
administrators only, every change audited."""

from __future__ import annotations

import datetime as dt
import hashlib
import re

import pytest
import sqlalchemy.exc
from case_world import PASSWORD, build_world
from sqlalchemy import Engine, select, text
from web_client import client, login

from doudi import audit
from doudi.auth import admin
from doudi.db.models import ApiToken, AuditEntry
from doudi.settings import Settings
from doudi.web import tokens

NEW = {
    "username": "worker3",
    "display_name": "王五",
    "role": "township_caseworker",
    "division_code": "520102002",
    "password": "a long enough password",
    "password_again": "a long enough password",
}


def audit_rows(engine: Engine, action: str) -> list[tuple[str, str | None]]:
    with engine.connect() as conn:
        return [
            (str(a), r)
            for a, r in conn.execute(
                select(AuditEntry.actor, AuditEntry.object_ref).where(AuditEntry.action == action)
            ).all()
        ]


def audit_table(html: str) -> str:
    """The results table of the audit page ("" when there are no results)."""
    start = html.find('<table id="audit">')
    return html[start : html.index("</table>", start)] if start >= 0 else ""


def test_only_administrators_reach_the_system_pages(settings: Settings, engine: Engine) -> None:
    build_world(engine, with_alerts=False, passwords=("worker1", "county1", "analyst", "admin"))
    for username in ("worker1", "county1", "analyst"):
        c = client(settings)
        token = login(c, username)
        assert 'href="/admin/users"' not in c.get("/").text  # not in the menu
        for path in ("/admin/users", "/admin/audit", "/admin/tokens"):
            r = c.get(path)
            assert r.status_code == 403 and "无权" in r.text, (username, path)
        assert c.post("/admin/users", data={**NEW, "csrf_token": token}).status_code == 403
        assert (
            c.post("/admin/users/worker1/active", data={"active": "false", "csrf_token": token}).status_code
            == 403
        )
        assert c.post("/admin/tokens", data={"name": "x", "csrf_token": token}).status_code == 403
    c = client(settings)
    login(c, "admin")
    assert 'href="/admin/users"' in c.get("/").text
    for path in ("/admin/users", "/admin/audit", "/admin/tokens"):
        assert c.get(path).status_code == 200, path


def test_an_administrator_creates_an_account_that_can_sign_in(settings: Settings, engine: Engine) -> None:
    build_world(engine, with_alerts=False, passwords=("admin",))
    c = client(settings)
    token = login(c, "admin")
    r = c.post("/admin/users", data={**NEW, "csrf_token": token})
    assert r.status_code == 200 and "已新增用户 worker3" in r.text
    assert 'data-user="worker3"' in r.text and "王五" in r.text
    assert audit_rows(engine, "user_created") == [("admin", "worker3")]
    new = client(settings)
    login(new, "worker3", NEW["password"])
    home = new.get("/")
    assert home.status_code == 200 and "工作台 · 小车河街道" in home.text


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"division_code": "520102"}, "的管辖区划应为9位乡镇（街道）代码，收到“520102”"),
        ({"role": "county_reviewer", "division_code": "520100"}, "6位县级代码"),
        ({"division_code": "520102999"}, "区划代码“520102999”不存在"),
        ({"username": "Bad Name"}, "用户名“Bad Name”应为2至60位小写字母"),
        ({"username": "worker1"}, "用户“worker1”已存在"),
        ({"password_again": "something else!"}, "两次输入的密码不一致"),
        ({"password": "short", "password_again": "short"}, "初始密码至少10个字符"),
    ],
)
def test_a_bad_account_is_refused_in_chinese(
    settings: Settings, engine: Engine, change: dict[str, str], message: str
) -> None:
    build_world(engine, with_alerts=False, passwords=("admin",))
    c = client(settings)
    token = login(c, "admin")
    r = c.post("/admin/users", data={**NEW, **change, "csrf_token": token})
    assert r.status_code == 400 and 'id="user-error"' in r.text
    assert message in r.text
    assert f'value="{change.get("division_code", NEW["division_code"])}"' in r.text  # kept
    assert NEW["password"] not in r.text  # passwords are never sent back
    assert audit_rows(engine, "user_created") == []


def test_disabling_an_account_ends_its_sessions(settings: Settings, engine: Engine) -> None:
    build_world(engine, with_alerts=False, passwords=("admin", "worker1"))
    worker = client(settings)
    login(worker, "worker1")
    assert worker.get("/").status_code == 200
    c = client(settings)
    token = login(c, "admin")
    page = c.get("/admin/users").text
    assert 'action="/admin/users/worker1/active"' in page and 'action="/admin/users/admin/active"' not in page
    r = c.post("/admin/users/worker1/active", data={"active": "false", "csrf_token": token})
    assert r.status_code == 200 and "已停用用户 worker1" in r.text
    assert worker.get("/").status_code == 303  # signed out at once
    again = client(settings)
    form = again.get("/login").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert csrf
    refused = again.post(
        "/login", data={"username": "worker1", "password": PASSWORD, "csrf_token": csrf.group(1)}
    )
    assert refused.status_code == 401
    c.post("/admin/users/worker1/active", data={"active": "true", "csrf_token": token})
    assert audit_rows(engine, "user_disabled") == [("admin", "worker1")]
    assert audit_rows(engine, "user_enabled") == [("admin", "worker1")]
    self_disable = c.post("/admin/users/admin/active", data={"active": "false", "csrf_token": token})
    assert self_disable.status_code == 400 and "不能停用自己的账号" in self_disable.text
    assert (
        c.post("/admin/users/nobody/active", data={"active": "false", "csrf_token": token}).status_code == 404
    )


def test_the_audit_log_is_searchable_and_append_only(settings: Settings, engine: Engine) -> None:
    build_world(engine, with_alerts=False, passwords=("admin", "worker1"))
    worker = client(settings)
    login(worker, "worker1")
    worker.get("/?division=520103")  # out of scope: logged
    c = client(settings)
    token = login(c, "admin")
    c.post("/admin/users", data={**NEW, "csrf_token": token})
    everything = audit_table(c.get("/admin/audit").text)
    assert "越权访问被拒" in everything and "新增用户" in everything
    by_worker = audit_table(c.get("/admin/audit?who=worker1").text)
    assert "越权访问被拒" in by_worker and "新增用户" not in by_worker
    # Objects, roles and detail keys in Chinese, not the stored codes.
    assert (
        "区划 520103" in by_worker
        and "角色：乡镇（街道）经办人" in by_worker
        and "管辖范围：520102001" in by_worker
    )
    assert "township_caseworker" not in by_worker and "division" not in by_worker
    by_type = audit_table(c.get("/admin/audit?object_type=user").text)
    assert "用户 worker3" in by_type and "越权访问被拒" not in by_type
    created = audit_table(c.get("/admin/audit?action=user_created").text)
    assert "worker3" in created and "越权访问被拒" not in created
    today = dt.date.today()
    assert "worker3" in audit_table(c.get(f"/admin/audit?start={today}&end={today}").text)
    # The search form sends empty dates when left blank: no bound, not an error.
    blank = c.get("/admin/audit?who=&action=user_created&object_type=&start=&end=")
    assert blank.status_code == 200 and "worker3" in audit_table(blank.text)
    assert c.get("/admin/audit?start=2026-13-01").status_code == 400
    old = c.get(f"/admin/audit?end={today - dt.timedelta(days=30)}").text
    assert audit_table(old) == "" and "没有符合条件的记录" in old
    backwards = c.get(f"/admin/audit?start={today}&end={today - dt.timedelta(days=1)}")
    assert backwards.status_code == 400 and "早于开始日期" in backwards.text
    # no page changes it; the database refuses to
    with pytest.raises(sqlalchemy.exc.DatabaseError), engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log"))
    with pytest.raises(sqlalchemy.exc.DatabaseError), engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET actor = 'x'"))


def test_audit_log_pages_back(settings: Settings, engine: Engine) -> None:
    world = build_world(engine, with_alerts=False, passwords=("admin",))
    with engine.begin() as conn:
        for i in range(admin.PAGE_SIZE + 5):
            audit.record(conn, actor="bulk", action="export", object_type="t", object_ref=str(i))
    page = admin.search_audit(engine, world["admin"], actor="bulk")
    assert len(page.rows) == admin.PAGE_SIZE and page.next_before is not None
    rest = admin.search_audit(engine, world["admin"], actor="bulk", before_id=page.next_before)
    assert len(rest.rows) == 5 and rest.next_before is None
    c = client(settings)
    login(c, "admin")
    first = c.get("/admin/audit?who=bulk").text
    assert f"who=bulk&amp;before={page.next_before}" in first


def test_api_tokens_are_shown_once_and_revoked(settings: Settings, engine: Engine) -> None:
    build_world(engine, with_alerts=False, passwords=("admin",))
    c = client(settings)
    token = login(c, "admin")
    r = c.post(
        "/admin/tokens",
        data={"name": "医保局数据报送", "feed_kinds": ["medical", "death"], "csrf_token": token},
    )
    assert r.status_code == 200 and "令牌只显示这一次" in r.text
    match = re.search(r'<code id="token-secret">(doudi_[A-Za-z0-9_-]+)</code>', r.text)
    assert match
    secret = match.group(1)
    with engine.connect() as conn:
        (stored,) = conn.execute(select(ApiToken.token_sha256)).one()
    assert stored == hashlib.sha256(secret.encode()).hexdigest()
    listing = c.get("/admin/tokens").text
    assert secret not in listing and "医保局数据报送" in listing and "death、medical" in listing
    principal = tokens.authenticate(engine, secret)
    assert principal.token.feed_kinds == ("death", "medical")
    token_id = principal.token.id
    revoked = c.post(f"/admin/tokens/{token_id}/revoke", data={"csrf_token": token})
    assert revoked.status_code == 303
    assert "已吊销" in c.get("/admin/tokens").text
    with pytest.raises(tokens.ApiAuthError):
        tokens.authenticate(engine, secret)
    assert audit_rows(engine, "api_token_created") == [("admin", str(token_id))]
    assert audit_rows(engine, "api_token_revoked") == [("admin", str(token_id))]
    empty = c.post("/admin/tokens", data={"name": "空令牌", "csrf_token": token})
    assert empty.status_code == 400 and "令牌须指定可报送的数据类别" in empty.text
    assert c.post("/admin/tokens/999/revoke", data={"csrf_token": token}).status_code == 404


def test_system_forms_need_the_csrf_token(settings: Settings, engine: Engine) -> None:
    build_world(engine, with_alerts=False, passwords=("admin",))
    c = client(settings)
    login(c, "admin")
    for path, data in (
        ("/admin/users", NEW),
        ("/admin/users/worker1/active", {"active": "false"}),
        ("/admin/tokens", {"name": "x", "feed_kinds": "medical"}),
    ):
        r = c.post(path, data=data)
        assert r.status_code == 403 and "安全校验未通过" in r.text, path
    assert audit_rows(engine, "user_created") == [] and audit_rows(engine, "user_disabled") == []
