"""The web application in a real browser: Debian's Chromium driven by Playwright against a
live uvicorn server on the test database (SQLite and PostgreSQL).

Scenarios from issue 6: a township caseworker signs in, opens an alert, records the home visit
and the decision, and finds them in the household's assistance chain and in the dashboard's
动态清零 figures; a county reviewer approves an application after its public notice. Every page
is checked for Content-Security-Policy violations and script errors in the browser console.

The screenshots are test artifacts (``test-artifacts/browser/``) and the pictures of the
Chinese user guides (``docs/images/``, taken on the SQLite run); see browser_support.py.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import pytest
from browser_support import ARTIFACTS, CHROMIUM, Session, launch, live_server, session, sign_in
from case_world import World, build_world, raise_alerts
from playwright.sync_api import Browser, ViewportSize, expect, sync_playwright
from sqlalchemy import Engine

from doudi.cases import applications as apps
from doudi.cases.assessment import assess_application
from doudi.cases.economic_check import run_economic_check
from doudi.settings import Settings

VILLAGES = {
    "N001": "520102001001",
    "N002": "520102001002",
    "N003": "520102001001",
    "X001": "520102002001",
    "Y001": "520103001001",
}
# Only the accounts the browser signs in as get a password (argon2 takes ~0.1 s a hash).
SIGN_IN = ("worker1", "county1", "village1", "analyst", "admin")
CJK_FONT = re.compile(r"WenQuanYi|Noto Sans CJK|Source Han|Droid Sans Fallback", re.IGNORECASE)


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} is missing: run the tests with ./scripts/test.sh (it installs chromium)"
        if _in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


@dataclass
class Site:
    """The live server of one test, its world, and where its screenshots go."""

    base: str
    world: World
    engine: Engine
    browser: Browser
    shots: Path
    docs: bool

    def tab(self, viewport: ViewportSize | None = None) -> AbstractContextManager[Session]:
        return session(self.browser, self.base, self.shots, docs=self.docs, viewport=viewport)


@pytest.fixture
def site(
    request: pytest.FixtureRequest, settings: Settings, engine: Engine, browser: Browser
) -> Iterator[Site]:
    """The synthetic world with alerts raised three days ago, served live."""
    world = build_world(engine, with_alerts=False, passwords=SIGN_IN)
    raised = dt.datetime.now().replace(hour=9, minute=30, second=0, microsecond=0) - dt.timedelta(days=3)
    last_month = (raised.date().replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m")
    world.alerts = raise_alerts(engine, VILLAGES, world.citizen_ids, period=last_month, now=raised)
    shots = ARTIFACTS / re.sub(r"[^\w.-]+", "_", request.node.name)
    shutil.rmtree(shots, ignore_errors=True)
    # The guides' pictures come from one run (SQLite); PostgreSQL must show the same pages.
    docs = request.node.callspec.params.get("db_url") == "sqlite"
    with live_server(settings) as base:
        yield Site(base, world, engine, browser, shots, docs)


def _fonts_of(s: Session, selector: str) -> list[str]:
    """The platform fonts Chromium used to draw the element's text (DevTools protocol)."""
    cdp = s.page.context.new_cdp_session(s.page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument")["root"]["nodeId"]
    node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
    fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
    cdp.detach()
    return [f["familyName"] for f in fonts]


def test_sign_in_and_dashboard_in_chinese(site: Site) -> None:
    with site.tab() as s:
        page = s.go("/")
        page.wait_for_url(re.compile(r"/login"))  # not signed in
        expect(page.get_by_role("heading", name="登录")).to_be_visible()
        s.shot("login")
        sign_in(s, "worker1")
        expect(page).to_have_title(re.compile("工作台"))
        figures = page.locator("#closure-figures")
        expect(figures).to_contain_text("预警数")
        expect(figures.locator(".figure").filter(has_text="预警数").locator("b")).to_have_text("3")
        fonts = _fonts_of(s, "h1")
        assert any(CJK_FONT.search(f) for f in fonts), f"Chinese drawn without a CJK font: {fonts}"
        s.shot("township-dashboard")


def _application_after_notice(site: Site, household: str = "N003") -> int:
    """A 低保 application of ``household`` taken by worker1 20 days ago, checked and assessed,
    approved at the township review by checker1 and publicly noticed: its notice is over, so
    the county can approve it today."""
    world, engine = site.world, site.engine
    start = dt.datetime.now().replace(hour=10, minute=0, second=0, microsecond=0) - dt.timedelta(days=20)
    app_id = apps.submit_application(
        engine, world["worker1"], world.households[household], "dibao", note="家庭收入低", now=start
    ).id
    run_economic_check(engine, world["worker1"], app_id, now=start + dt.timedelta(days=1))
    assess_application(engine, world["worker1"], app_id, now=start + dt.timedelta(days=1, hours=1))
    apps.review_application(engine, world["checker1"], app_id, "approve", now=start + dt.timedelta(days=2))
    return app_id


def test_county_reviewer_approves_an_application(site: Site) -> None:
    app_id = _application_after_notice(site)
    with site.tab() as s:
        page = sign_in(s, "county1")
        page.get_by_role("navigation").get_by_role("link", name="申请", exact=True).click()
        expect(page.get_by_role("heading", name="救助申请")).to_be_visible()
        page.get_by_label("状态").select_option("notice")
        page.get_by_role("button", name="筛选").click()
        row = page.locator("tbody tr").filter(has_text="N003")
        expect(row).to_contain_text("公示中")
        s.shot("county-application-list", full_page=False)
        row.get_by_role("link", name=str(app_id), exact=True).click()
        page.wait_for_url(re.compile(rf"/applications/{app_id}$"))
        card = page.locator("#application")
        expect(card).to_contain_text("公示中")
        expect(page.locator("#assessment")).to_contain_text("符合")
        decide = page.locator("form[action$='/decide']")
        expect(decide).to_contain_text("公示期已满")
        s.shot("county-application")
        decide.get_by_label("批准", exact=True).check()
        decide.get_by_role("button", name="提交决定").click()
        expect(card.locator(".badge").first).to_have_text("已批准")
        expect(card).to_contain_text("批准金额")
        expect(page.locator("#events")).to_contain_text("审核确认")
        assert s.console.dialogs == ["确认提交审核确认决定？"]
        s.shot("county-application-approved", full_page=False)
    assert apps.scoped_row(site.engine, site.world["county1"], app_id).status == "approved"
