"""Browser tests' machinery: a live uvicorn server on the test database, Debian's Chromium
driven by Playwright, console checks and screenshots.

The server runs the real app (``create_app(settings)``) in a thread on a socket bound to a
free loopback port, so the browser talks HTTP to the same code ``doudi serve`` runs. The
browser is Debian's ``/usr/bin/chromium`` (installed by ``scripts/test.sh``), headless, with
no network beyond loopback. Chinese text needs a CJK font (``fonts-wqy-microhei``).

Screenshots go to ``test-artifacts/browser/`` (git-ignored; kept by CI) and, for the user
guides, to ``docs/images/`` under stable names, so the guides' pictures are retaken on every
run and never go stale.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn
from case_world import PASSWORD
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Dialog,
    Locator,
    Page,
    Playwright,
    ViewportSize,
    expect,
)

from doudi.settings import Settings
from doudi.web.app import create_app

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
DOC_IMAGES = ROOT / "docs" / "images"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--font-render-hinting=none",
    "--lang=zh-CN",
]
# A laptop: the guides' pictures are taken at this size (phones get their own pictures).
LAPTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}
# ECharts draws its charts with a one-second animation.
CHART_SETTLE_MS = 1100
CSP_VIOLATION = re.compile(r"Content Security Policy|Content-Security-Policy", re.IGNORECASE)


@contextmanager
def live_server(settings: Settings) -> Iterator[str]:
    """The app on ``settings`` served by uvicorn in a thread; yields its base URL."""
    app = create_app(settings)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_config=None, access_log=False, ws="none", lifespan="off", http="h11", timeout_keep_alive=2
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
        app.state.engine.dispose()


def launch(playwright: Playwright) -> Browser:
    # Chromium's own widgets (date fields, file pickers) follow LANGUAGE, not --lang, when
    # headless; their Chinese strings come from Debian's chromium-l10n (the test command installs it).
    env = {**os.environ, "LANGUAGE": "zh_CN"}
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, env=env)


@dataclass
class Console:
    """What the browser reported: console messages, uncaught errors, dialogs."""

    messages: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def on_console(self, message: ConsoleMessage) -> None:
        self.messages.append(f"{message.type}: {message.text} ({message.location.get('url', '')})")

    def on_error(self, error: Exception) -> None:
        self.errors.append(str(error))

    def on_dialog(self, dialog: Dialog) -> None:
        # data-confirm forms ask "确定…？": the user says yes.
        self.dialogs.append(dialog.message)
        dialog.accept()

    def csp_violations(self) -> list[str]:
        return [m for m in self.messages if CSP_VIOLATION.search(m)]

    def assert_clean(self) -> None:
        """No Content-Security-Policy violation and no uncaught script error on any page."""
        assert not self.csp_violations(), "CSP violations:\n" + "\n".join(self.csp_violations())
        assert not self.errors, "script errors:\n" + "\n".join(self.errors)


@dataclass
class Session:
    """One user's browser tab on the live server."""

    page: Page
    base: str
    console: Console
    shots: Path
    docs: bool

    def go(self, path: str) -> Page:
        self.page.goto(self.base + path)
        return self.page

    def shot(self, name: str, *, full_page: bool = True, of: Locator | None = None) -> Path | None:
        """Save a PNG screenshot as a test artifact and (for the guides) as docs/images/<name>.png.

        Only on the run that takes the guides' pictures (the other database's run checks the
        same pages; its pictures would be the same)."""
        if not self.docs:
            return None
        self.page.wait_for_load_state("load")
        self.page.evaluate("document.fonts.ready.then(() => true)")
        if self.page.locator(".chart canvas").count():
            self.page.wait_for_timeout(CHART_SETTLE_MS)  # ECharts animates its first drawing
        target = self.shots / f"{name}.png"
        if of is not None:  # one element (a form, a table) rather than the page
            of.screenshot(path=str(target), animations="disabled", caret="hide")
        else:
            self.page.screenshot(path=str(target), full_page=full_page, animations="disabled", caret="hide")
        DOC_IMAGES.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(target, DOC_IMAGES / f"{name}.png")
        return target


@contextmanager
def session(
    browser: Browser,
    base: str,
    shots: Path,
    *,
    docs: bool,
    viewport: ViewportSize | None = None,
) -> Iterator[Session]:
    """A fresh browser context (own cookies) with the console watched; checked clean on exit."""
    context = browser.new_context(
        viewport=viewport or LAPTOP,
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
        device_scale_factor=1,
        is_mobile=viewport == PHONE,
        has_touch=viewport == PHONE,
    )
    context.set_default_timeout(10_000)
    console = Console()
    page = context.new_page()
    page.on("console", console.on_console)
    page.on("pageerror", console.on_error)
    page.on("dialog", console.on_dialog)
    shots.mkdir(parents=True, exist_ok=True)
    try:
        yield Session(page, base, console, shots, docs)
        console.assert_clean()
    finally:
        context.close()


def sign_in(s: Session, username: str, password: str = PASSWORD) -> Page:
    """Through the login form, as a user would; lands on the dashboard."""
    page = s.go("/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(s.base + "/")
    expect(page.locator("header .who")).to_contain_text(username)
    return page
