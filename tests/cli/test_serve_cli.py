"""``doudi serve``, started as an operator starts it: a real uvicorn process on a free port."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine

from doudi.settings import Settings

DOUDI = str(Path(sys.executable).with_name("doudi"))
START_TIMEOUT_S = 60


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _serving(log: Path, *args: str) -> Iterator[str]:
    """``doudi serve`` with ``args`` until its /healthz answers; SIGINT on exit (its log in ``log``)."""
    port = _free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [DOUDI, "serve", "--host", "127.0.0.1", "--port", str(port), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            while True:
                assert proc.poll() is None, log.read_text(encoding="utf-8")
                try:
                    with urllib.request.urlopen(f"{url}/healthz", timeout=2) as r:
                        if r.status == 200:
                            break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                time.sleep(0.2)
            yield url
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.status == 200
        assert r.headers["x-frame-options"] == "DENY"
        return str(r.read().decode("utf-8"))


def test_serve_answers_with_several_workers_on_postgres_and_logs_no_request_by_default(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    workers = "2" if settings.sqlalchemy_url.startswith("postgresql") else "1"
    log = tmp_path / "serve.log"
    with _serving(log, "--workers", workers) as url:
        for _ in range(3):
            assert "登录" in _get(f"{url}/login")
    text = log.read_text(encoding="utf-8")
    assert "兜底服务已启动" in text
    assert text.count("Application startup complete") == int(workers)
    assert "GET /login" not in text  # the reverse proxy keeps the access log
    assert "Traceback" not in text


def test_serve_writes_an_access_log_when_asked(settings: Settings, engine: Engine, tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    with _serving(log, "--access-log") as url:
        _get(f"{url}/login")
    assert '"GET /login HTTP/1.1" 200' in log.read_text(encoding="utf-8")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # PostgreSQL: the first test
def test_several_workers_need_postgres(settings: Settings, engine: Engine) -> None:
    result = subprocess.run(
        [DOUDI, "serve", "--port", str(_free_port()), "--workers", "2"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "SQLite 只支持单个工作进程" in result.stdout + result.stderr
