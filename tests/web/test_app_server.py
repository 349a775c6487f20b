"""What the app sets up for serving: its thread pool and database pool, headers on every answer."""

from __future__ import annotations

import anyio.to_thread
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from doudi.settings import Settings
from doudi.web.app import create_app


def test_each_worker_serves_web_threads_requests_at_once_with_a_pool_to_match(settings: Settings) -> None:
    """AnyIO's 40 threads on two cores fought over the GIL and over a 5-connection pool (a new
    PostgreSQL backend per request beyond it): the worker's threads and pool follow the setting."""
    tuned = settings.model_copy(update={"web_threads": 3})
    app = create_app(tuned)
    with TestClient(app) as c:
        assert c.portal is not None  # the app's event loop, running while the client is open
        tokens = c.portal.call(lambda: anyio.to_thread.current_default_thread_limiter().total_tokens)
    assert tokens == 3
    engine: Engine = app.state.engine
    assert engine.pool.size() == 6  # type: ignore[attr-defined]


def test_security_headers_are_set_once_and_static_files_may_be_cached(settings: Settings) -> None:
    c = TestClient(create_app(settings), base_url="http://testserver", follow_redirects=False)
    page = c.get("/login")
    asset = c.get("/static/app.css")
    assert page.status_code == asset.status_code == 200
    for r in (page, asset):
        assert r.headers.get_list("content-security-policy") == [r.headers["content-security-policy"]]
        assert r.headers["x-frame-options"] == "DENY" and r.headers["referrer-policy"] == "no-referrer"
        assert "strict-transport-security" not in r.headers  # plain HTTP
    assert page.headers["cache-control"] == "no-store"
    assert "no-store" not in asset.headers.get("cache-control", "")
    secure = TestClient(create_app(settings), base_url="https://testserver", follow_redirects=False)
    assert secure.get("/login").headers["strict-transport-security"].startswith("max-age=")
