"""A signed-in test client of the real app on the test's database (SQLite or PostgreSQL)."""

from __future__ import annotations

import re

from case_world import PASSWORD
from fastapi.testclient import TestClient

from doudi.settings import Settings
from doudi.web.app import create_app

CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]*)">')
HIDDEN_CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')


def client(settings: Settings) -> TestClient:
    """A client of a fresh app on ``settings`` (cookies kept between calls)."""
    return TestClient(create_app(settings), base_url="http://testserver", follow_redirects=False)


def login(c: TestClient, username: str, password: str = PASSWORD) -> str:
    """Sign in through the login form; returns the session's CSRF token."""
    form = c.get("/login")
    token = HIDDEN_CSRF.search(form.text)
    assert token, "the login form carries a CSRF token"
    response = c.post(
        "/login", data={"username": username, "password": password, "csrf_token": token.group(1), "next": "/"}
    )
    assert response.status_code == 303, response.text
    return csrf_of(c)


def csrf_of(c: TestClient) -> str:
    """The CSRF token of the signed-in session (from any page's meta tag)."""
    match = CSRF_META.search(c.get("/").text)
    assert match and match.group(1), "signed in: pages carry the session's CSRF token"
    return match.group(1)
