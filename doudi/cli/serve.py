"""``doudi serve``: the web application and API with uvicorn."""

from __future__ import annotations

import contextlib
import socket
from typing import Any

import typer

from doudi.cli import common


def serve_cmd(
    host: str = typer.Option("127.0.0.1", "--host", help="监听地址（生产环境放在反向代理之后）"),
    port: int = typer.Option(8000, "--port", help="端口"),
    workers: int = typer.Option(1, "--workers", help="工作进程数（PostgreSQL 时可多于1个）"),
    access_log: bool = typer.Option(
        False, "--access-log/--no-access-log", help="逐条记录请求（默认不记录：由反向代理记录访问日志）"
    ),
) -> None:
    """启动网页和接口服务（默认 SQLite；设置 DOUDI_DATABASE_URL 使用 PostgreSQL）。"""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    s = common.settings()
    common.engine(s).dispose()  # migrate first, once, before any worker starts
    if workers > 1 and not s.sqlalchemy_url.startswith("postgresql"):
        common.fail("SQLite 只支持单个工作进程；多个工作进程请使用 PostgreSQL（DOUDI_DATABASE_URL）。")
    common.console.print(f"兜底服务已启动：http://{host}:{port}/ （Ctrl+C 停止）")
    options: dict[str, Any] = {
        "factory": True,
        "host": host,
        "port": port,
        "proxy_headers": True,
        "forwarded_allow_ips": "127.0.0.1",
        "log_level": "info",
        "access_log": access_log,  # a line per request costs the workers ~5 % of their CPU
    }
    if workers == 1:
        uvicorn.run("doudi.web.app:app_factory", **options)
        return
    config = uvicorn.Config("doudi.web.app:app_factory", workers=workers, **options)
    with contextlib.suppress(KeyboardInterrupt):
        Multiprocess(config, sockets=[as_tcp(config.bind_socket())]).run()


def as_tcp(sock: socket.socket) -> socket.socket:
    """The listening socket declared as TCP. uvicorn binds the socket the workers share with
    ``proto`` 0, so asyncio does not set TCP_NODELAY on the connections it accepts, and every
    answer on a keep-alive connection after the first waits ~40 ms for the client's delayed
    ACK (Nagle; uvicorn issue Kludex/uvicorn#3149). One worker is not affected (asyncio binds
    that socket itself)."""
    if sock.family in (socket.AF_INET, socket.AF_INET6) and sock.proto == 0:
        sock = socket.socket(sock.family, socket.SOCK_STREAM, socket.IPPROTO_TCP, fileno=sock.detach())
        sock.set_inheritable(True)
    return sock
