"""``doudi tokens create|list|revoke``: the token shown once, only its hash stored, a revoked
token refused by the API; creation and revocation audited."""

from __future__ import annotations

import hashlib

import pytest
from api_support import API, audit_entries, auth
from case_world import build_world
from rich.console import Console
from sqlalchemy import Engine, select
from typer.testing import CliRunner
from web_client import client

from doudi.cli import common
from doudi.cli.main import app
from doudi.db.models import ApiToken
from doudi.settings import Settings

runner = CliRunner()


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(common, "console", Console(width=250))
    monkeypatch.setattr(common, "err_console", Console(width=250, stderr=True))


def _secret(output: str) -> str:
    (line,) = [x for x in output.splitlines() if x.startswith("doudi_")]
    return line.strip()


def test_create_list_and_revoke(settings: Settings, engine: Engine) -> None:
    build_world(engine, with_alerts=False, passwords=())
    r = runner.invoke(app, ["tokens", "create", "市医保局", "--kinds", "medical,death"])
    assert r.exit_code == 0, r.output
    assert "已发放令牌 1" in r.output and "death、medical" in r.output and "只显示这一次" in r.output
    secret = _secret(r.output)
    with engine.connect() as conn:
        stored = conn.execute(select(ApiToken.token_sha256, ApiToken.feed_kinds)).one()
    assert stored.token_sha256 == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(stored)
    assert stored.feed_kinds == '["death", "medical"]'

    r = runner.invoke(app, ["tokens", "create", "区救助平台", "--user", "worker1"])
    assert r.exit_code == 0, r.output
    assert "绑定用户：worker1" in r.output
    user_secret = _secret(r.output)

    c = client(settings)
    assert c.get(f"{API}/feeds/loads", headers=auth(secret)).status_code == 200
    assert c.get(f"{API}/alerts", headers=auth(user_secret)).status_code == 200

    listed = runner.invoke(app, ["tokens", "list"])
    assert listed.exit_code == 0
    assert "市医保局" in listed.output and "区救助平台" in listed.output and "worker1" in listed.output
    assert secret not in listed.output and "在用" in listed.output

    r = runner.invoke(app, ["tokens", "revoke", "1"])
    assert r.exit_code == 0 and "已吊销" in r.output
    assert c.get(f"{API}/feeds/loads", headers=auth(secret)).status_code == 401
    assert "已吊销（" in runner.invoke(app, ["tokens", "list"]).output
    assert [e.action for e in audit_entries(engine, "api_token_created")] == ["api_token_created"] * 2
    (revoked,) = audit_entries(engine, "api_token_revoked")
    assert revoked.object_ref == "1"


def test_bad_requests_are_explained_in_chinese(settings: Settings, engine: Engine) -> None:
    build_world(engine, with_alerts=False, passwords=())
    r = runner.invoke(app, ["tokens", "create", "x", "--kinds", "medical,nonsense"])
    assert r.exit_code == 2 and "没有“nonsense”这类数据" in r.output
    r = runner.invoke(app, ["tokens", "create", "x"])
    assert r.exit_code == 2 and "须指定可报送的数据类别" in r.output
    r = runner.invoke(app, ["tokens", "create", "x", "--user", "nobody"])
    assert r.exit_code == 2 and "用户“nobody”不存在" in r.output
    r = runner.invoke(app, ["tokens", "revoke", "42"])
    assert r.exit_code == 2 and "令牌（编号 42）不存在" in r.output
    with engine.connect() as conn:
        assert conn.execute(select(ApiToken.id)).first() is None
