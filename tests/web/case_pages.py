"""Helpers of the case-work page tests (申请, 发放, 救助对象, 复核): a settable clock, signed-in
clients and form posts carrying the session's CSRF token."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import Engine, select
from web_client import client, login

from doudi.cases import ledger
from doudi.db.models import AuditEntry
from doudi.settings import Settings

CONFLICT = "该记录已被他人修改，您的操作未保存"
VERSION = re.compile(r'name="expected_version" value="(\d+)"')


class Clock:
    """``ledger.now()`` for the services the pages call (the sessions keep the real time)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, start: dt.datetime) -> None:
        self.at = start
        monkeypatch.setattr(ledger, "now", lambda: self.at)

    def set(self, at: dt.datetime) -> None:
        self.at = at


class Staff:
    """One signed-in client per user, with its CSRF token."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.clients: dict[str, tuple[TestClient, str]] = {}

    def __call__(self, username: str) -> TestClient:
        return self.signed_in(username)[0]

    def signed_in(self, username: str) -> tuple[TestClient, str]:
        if username not in self.clients:
            c = client(self.settings)
            self.clients[username] = (c, login(c, username))
        return self.clients[username]

    def post(self, username: str, url: str, data: dict[str, Any] | None = None, **kw: Any) -> Response:
        c, token = self.signed_in(username)
        return c.post(url, data={"csrf_token": token, **(data or {})}, **kw)

    def close(self) -> None:
        for c, _ in self.clients.values():
            c.close()


def version_on(html: str) -> int:
    """The version the page's forms carry (the object's ``expected_version``)."""
    found = VERSION.search(html)
    assert found, "the page has a form with the object's version"
    return int(found.group(1))


def audit_rows(engine: Engine, username: str, action: str) -> list[tuple[str, str]]:
    """(object_type, object_ref) of a user's audit entries of one action."""
    with engine.connect() as conn:
        return [
            (str(t), str(r))
            for t, r in conn.execute(
                select(AuditEntry.object_type, AuditEntry.object_ref)
                .where(AuditEntry.actor == username, AuditEntry.action == action)
                .order_by(AuditEntry.id)
            )
        ]
