"""The FastAPI application: pages, API, security headers, error pages.

``create_app(settings)`` builds one app on the configured database; ``doudi serve`` runs it
with uvicorn. Every route is registered from a module of :mod:`doudi.web.routes` (one per
resource) and guarded by :mod:`doudi.web.deps`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from doudi.db.engine import make_engine
from doudi.errors import UserFacingError
from doudi.settings import Settings, get_settings
from doudi.web import routes
from doudi.web.render import page

log = logging.getLogger("doudi.web")

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
STATUS = {
    "not_found": 404,
    "forbidden": 403,
    "csrf_failed": 403,
    "conflict": 409,
    "login_required": 401,
    "too_large": 413,
    "locked": 429,
    "length_required": 411,
}


SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


class _HttpMiddleware:
    """A pure ASGI middleware for HTTP requests (other scopes pass through). Starlette's
    BaseHTTPMiddleware runs each request through a task group and memory streams, which cost
    more CPU than a simple page."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.http(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


class SecurityHeaders(_HttpMiddleware):
    """Adds the security headers to every response."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        extra = list(SECURITY_HEADERS)
        if not scope["path"].startswith("/static/"):
            extra.append((b"cache-control", b"no-store"))
        if scope.get("scheme") == "https":
            extra.append((b"strict-transport-security", b"max-age=31536000"))
        names = {name for name, _ in extra}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message = {**message, "headers": headers + extra}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class UploadLimit(_HttpMiddleware):
    """Refuse a request body over ``max_upload_mb`` before reading it, and a body of unknown
    length (it could not be limited before it is read)."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope["headers"])
        length = headers.get(b"content-length", b"").decode("latin-1")
        refusal = None
        if not length and b"transfer-encoding" in headers and scope["method"] in ("POST", "PUT", "PATCH"):
            refusal = UserFacingError(
                "length_required",
                "request body without content-length refused",
                "上传请求缺少文件大小（Content-Length），请使用浏览器或常规客户端重新上传。",
            )
        elif length:
            limit = scope["app"].state.settings.max_upload_mb * 1024 * 1024
            if length.isdigit() and int(length) > limit:
                refusal = UserFacingError(
                    "too_large",
                    f"request body of {length} bytes over the {limit}-byte limit",
                    f"上传的文件超过 {limit // (1024 * 1024)} MB，请分批或压缩后再上传。",
                )
        if refusal is None:
            await self.app(scope, receive, send)
        else:
            await _error(Request(scope), refusal)(scope, receive, send)


def wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _error(request: Request, exc: UserFacingError) -> Response:
    status = STATUS.get(exc.code, 400)
    if wants_json(request):
        return JSONResponse(
            {"code": exc.code, "message": exc.message_zh, "details": exc.details}, status_code=status
        )
    if exc.code == "login_required":
        target = request.url.path
        return RedirectResponse(f"/login?next={target}" if target not in ("/", "/login") else "/login", 303)
    if request.headers.get("hx-request") == "true":
        response = page(request, "_flash.html", status_code=200, message=exc.message_zh, details=exc.details)
        response.headers["HX-Retarget"] = "#flash"
        response.headers["HX-Reswap"] = "innerHTML"
        response.headers["HX-Push-Url"] = "false"  # keep the page's address, not the form's action
        return response
    return page(request, "error.html", status_code=status, message=exc.message_zh, details=exc.details)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Sync routes run in AnyIO's thread pool (40 threads by default). Many threads on two
        # cores fight over the GIL, and each wants a database connection: a pool smaller than
        # the threads opens and closes connections on every request (a PostgreSQL backend each).
        # A few threads, each with its pooled connections, served 1.7x the requests
        # (docs/benchmarks.md).
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.web_threads
        yield

    app = FastAPI(
        lifespan=lifespan,
        title="兜底 Doudi API",
        version="1",
        docs_url=None,  # Swagger UI needs a CDN and inline script: the CSP forbids both
        redoc_url=None,
        openapi_url="/api/v1/openapi.json",
    )
    app.state.settings = settings
    app.state.engine = make_engine(settings.sqlalchemy_url, pool_size=2 * settings.web_threads)
    app.add_middleware(UploadLimit)
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=str(Path(__file__).with_name("static"))), name="static")

    @app.exception_handler(UserFacingError)
    async def user_facing(request: Request, exc: UserFacingError) -> Response:
        if exc.code not in ("not_found", "login_required"):
            log.info("request refused: %s %s: %s", request.method, request.url.path, exc)
        return _error(request, exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        details = [
            f"{'.'.join(str(p) for p in e.get('loc', ())[1:])}: {e.get('msg', '')}" for e in exc.errors()
        ]
        return _error(
            request,
            UserFacingError(
                "invalid_request", "invalid request", "请求的内容不完整或格式不正确。", details=details
            ),
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        messages = {404: ("not_found", "页面不存在。"), 405: ("method_not_allowed", "不支持这种请求方式。")}
        code, zh = messages.get(exc.status_code, ("http_error", "请求无法处理。"))
        response = _error(request, UserFacingError(code, str(exc.detail), zh))
        response.status_code = exc.status_code
        return response

    for router in routes.all_routers():
        # Only the REST API belongs in the OpenAPI schema; pages are for browsers.
        app.include_router(router, include_in_schema=router.prefix.startswith("/api/"))
    return app


def app_factory() -> Any:
    """For ``uvicorn --factory doudi.web.app:app_factory`` (each worker builds its own app)."""
    return create_app()
