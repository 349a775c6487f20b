"""工作台: figures per level with drill-down, the same as the services' figures, and scoped.

The world of tests/cases/case_world.py, with the alerts worked as in test_closure_stats.py
(N001 helped, N002 visited late and no help, N003 helped; X001 open and overdue; Y001 in
another county), and recipients:

=====  ===============  =========  ========  ===========
no     program          amount     members   months
=====  ===============  =========  ========  ===========
N001   低保             500.00     3         2026-11 …
N003   低保边缘         0.00       2         2026-11 …
X001   低保             400.50     1         2026-06 … 2026-10
Y001   特困             1200.00    1         2026-11 …  (county 520103)
=====  ===============  =========  ========  ===========
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import pytest
from case_world import World, build_world
from sqlalchemy import Engine, select
from web_client import client, login

from doudi.cases import alert_work as aw
from doudi.cases import recipients as rc
from doudi.cases.alert_work import Outcome
from doudi.cases.dashboard import dashboard
from doudi.cases.stats import closure_stats
from doudi.db.models import AuditEntry
from doudi.programs.parameters import default_parameters
from doudi.settings import Settings

DAY = "2026-12-20"
AS_OF = dt.date(2026, 12, 20)


class Rows(HTMLParser):
    """The cells of every ``<tr data-division|data-program|data-month="…">`` inside the element
    with id ``section``, as {key: [cell text, …]}; and every link's href."""

    def __init__(self, section: str) -> None:
        super().__init__()
        self.section = section
        self.depth = 0  # >0 while inside the section
        self.rows: dict[str, list[str]] = {}
        self.links: list[str] = []
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if self.depth == 0 and a.get("id") == self.section:
            self.depth = 1
            return
        if self.depth == 0:
            return
        if tag == "section":
            self.depth += 1
        key = a.get("data-division") or a.get("data-program") or a.get("data-month")
        if tag == "tr" and key:
            self._row = self.rows.setdefault(key, [])
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "a" and a.get("href"):
            self.links.append(str(a["href"]))

    def handle_endtag(self, tag: str) -> None:
        if self.depth == 0:
            return
        if tag == "section":
            self.depth -= 1
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr":
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def section(html: str, section_id: str) -> Rows:
    parser = Rows(section_id)
    parser.feed(html)
    assert parser.depth == 0 and (parser.rows or parser.links), f"section {section_id} not found"
    return parser


def number(text: str) -> int:
    return int(text.replace(",", ""))


def _work(
    engine: Engine, world: World, no: str, visit: dt.datetime, decided: dt.datetime, kind: str, tmp: Path
) -> None:
    aw.record_verification(
        engine,
        world["worker1"],
        world.alerts[no],
        visited_on=visit.date(),
        visitors="张三",
        met="户主",
        findings="已核实",
        data_dir=tmp,
        now=visit,
    )
    aw.decide(engine, world["worker1"], world.alerts[no], [Outcome(kind, "核查后决定")], now=decided)


def _enrol(engine: Engine, world: World, no: str, program: str, amount: str, covered: int, **kw: str) -> None:
    with engine.begin() as conn:
        rc.enrol(
            conn,
            household_id=world.households[no],
            program=program,
            monthly_amount=Decimal(amount),
            covered_members=covered,
            start_month=kw.pop("start_month", "2026-11"),
            source="application",
            actor="county1",
            at=dt.datetime(2026, 10, 20, 9, 0),
            **kw,  # type: ignore[arg-type]
        )


@pytest.fixture
def world(engine: Engine, tmp_path: Path) -> World:
    w = build_world(engine, passwords=("worker1", "county1", "analyst", "village1"))
    d = dt.datetime
    _work(engine, w, "N001", d(2026, 12, 3, 15), d(2026, 12, 5, 10), "refer_medical", tmp_path)
    _work(engine, w, "N002", d(2026, 12, 17, 10), d(2026, 12, 18, 9, 30), "no_help_needed", tmp_path)
    _work(engine, w, "N003", d(2026, 12, 10, 9, 30), d(2026, 12, 11, 9, 30), "services", tmp_path)
    _enrol(engine, w, "N001", "dibao", "500.00", 3)
    _enrol(engine, w, "N003", "marginal", "0", 2)
    _enrol(engine, w, "X001", "dibao", "400.50", 1, start_month="2026-06", end_month="2026-10")
    _enrol(engine, w, "Y001", "tekun", "1200.00", 1)
    return w


CLOSURE_COLUMNS = ("raised", "verified_within_due", None, "helped", "open", "overdue")


def test_county_dashboard_shows_the_closure_figures_per_township(
    settings: Settings, engine: Engine, world: World
) -> None:
    c = client(settings)
    login(c, "county1")
    r = c.get(f"/?as_of={DAY}")
    assert r.status_code == 200
    stats = closure_stats(engine, world["county1"], as_of=AS_OF)
    table = section(r.text, "closure-by-division")
    assert set(table.rows) == {row.division_code for row in stats.rows} | {"total"}
    for row in (*stats.rows, stats.total):
        cells = table.rows["total" if row is stats.total else row.division_code]
        for i, name in enumerate(CLOSURE_COLUMNS, start=1):
            if name:
                assert number(cells[i]) == getattr(row, name), (row.division_code, name)
        median = row.median_days_to_help
        assert cells[7] == ("—" if median is None else f"{median:.1f}")
    assert table.rows["520102001"][:8] == ["五里冲街道", "3", "2", "66.7%", "2", "0", "0", "7.0"]
    assert table.rows["520102002"][5:7] == ["1", "1"]  # X001 open and overdue
    # the headline figures are the total's
    for name in ("raised", "verified_within_due", "helped", "open", "overdue"):
        assert f'data-figure="{name}">{getattr(stats.total, name)}<' in r.text
    # townships are links one level down, keeping the day
    assert f"/?division=520102001&amp;as_of={DAY}" in r.text


def test_alerts_by_severity_add_up_to_the_closure_figures(
    settings: Settings, engine: Engine, world: World
) -> None:
    board = dashboard(engine, world["analyst"], as_of=AS_OF)
    assert [r.division_code for r in board.severity] == [r.division_code for r in board.closure.rows]
    for sev, clo in zip(board.severity, board.closure.rows, strict=True):
        assert (sev.raised_total, sev.open_total) == (clo.raised, clo.open)
    assert (board.severity_total.raised_total, board.severity_total.open_total) == (5, 2)
    assert board.severity_total.raised == {"red": 5, "orange": 0, "yellow": 0}
    c = client(settings)
    login(c, "analyst")
    page = c.get(f"/?as_of={DAY}").text
    alerts = section(page, "alerts-by-division")
    assert alerts.rows["520100"][0] == "贵阳市" and alerts.rows["520100"][1:6] == ["2", "0", "0", "2", "5"]
    assert alerts.rows["total"][1:6] == ["2", "0", "0", "2", "5"]
    assert f"/?division=520100&as_of={DAY}" in alerts.links


def test_drill_down_from_province_to_village_and_back(
    settings: Settings, engine: Engine, world: World
) -> None:
    c = client(settings)
    login(c, "analyst")
    steps = [("520100", "贵阳市"), ("520102", "南明区"), ("520102001", "五里冲街道"), ("520102001001", None)]
    for code, name in steps:
        r = c.get(f"/?division={code}&as_of={DAY}")
        assert r.status_code == 200, code
        crumbs = section(r.text, "closure-by-division")
        if name:
            assert f"工作台 · {name}" in r.text
        # the level below is listed (a village has no rows below it)
        assert all(
            k == "total" or k.startswith(code[: len(code) if len(code) > 6 else 4]) for k in crumbs.rows
        )
    village = c.get(f"/?division=520102001001&as_of={DAY}").text
    assert 'href="/?division=520102001&amp;as_of=2026-12-20"' in village  # breadcrumb back up
    assert 'href="/?division=520000&amp;as_of=2026-12-20"' in village
    rows = section(village, "closure-by-division").rows
    assert rows["520102001001"][1] == "2" and rows["total"][1] == "2"


def test_a_division_outside_the_scope_is_not_found_and_logged(
    settings: Settings, engine: Engine, world: World
) -> None:
    c = client(settings)
    login(c, "worker1")
    assert c.get("/?division=520102002").status_code == 404
    assert c.get("/?division=520102").status_code == 404  # not even the own county
    r = c.get(f"/?as_of={DAY}")
    assert r.status_code == 200 and "工作台 · 五里冲街道" in r.text
    # the county is shown in the breadcrumb but is no link for a township caseworker
    assert 'href="/?division=520102&amp;' not in r.text
    with engine.connect() as conn:
        denied = (
            conn.execute(
                select(AuditEntry.object_ref).where(
                    AuditEntry.action == "access_denied", AuditEntry.actor == "worker1"
                )
            )
            .scalars()
            .all()
        )
    assert sorted(str(d) for d in denied) == ["520102", "520102002"]
    assert c.get("/?division=abc").status_code == 400
    bad = c.get("/?period=2026-13")
    assert bad.status_code == 400 and "统计期间" in bad.text


def test_recipients_and_spending_by_program_and_month(
    settings: Settings, engine: Engine, world: World
) -> None:
    board = dashboard(engine, world["county1"], as_of=AS_OF)
    assert board.months[0] == "2026-01" and board.months[-1] == "2026-12"
    assert board.amount_of("2026-06", "dibao") == Decimal("400.50")
    assert board.amount_of("2026-11", "dibao") == Decimal("500.00")
    total = board.spending_total("2026-12")
    assert (total.recipients, total.persons, total.amount) == (2, 5, Decimal("500.00"))  # Y001 is elsewhere
    assert board.spending_total("2026-05").recipients == 0
    c = client(settings)
    login(c, "county1")
    page = c.get(f"/?as_of={DAY}").text
    spending = section(page, "spending")
    assert spending.rows["dibao"] == ["低保", "1", "3", "500.00"]
    assert spending.rows["marginal"] == ["低保边缘", "1", "2", "0.00"]
    assert spending.rows["2026-10"][1:] == ["400.50", "0.00", "400.50", "1"]
    assert spending.rows["2026-12"][1:] == ["500.00", "0.00", "500.00", "2"]
    # the province sees Y001's 特困 too
    province = dashboard(engine, world["analyst"], as_of=AS_OF).spending_total("2026-12")
    assert province.amount == Decimal("1700.00")


def test_urban_rural_standard_ratio(settings: Settings, engine: Engine, world: World) -> None:
    params = default_parameters()
    urban = Decimal(params.resolve("dibao.standard", "520102", "urban", AS_OF).value)
    rural = Decimal(params.resolve("dibao.standard", "520102", "rural", AS_OF).value)
    c = client(settings)
    login(c, "worker1")
    rows = section(c.get(f"/?as_of={DAY}").text, "standards").rows
    assert list(rows) == ["520102"]  # a township shows its county's standard
    assert rows["520102"][1:4] == [f"{urban:,.2f}", f"{rural:,.2f}", f"{urban / rural:.2f}"]
    login(c, "analyst")
    board = dashboard(engine, world["analyst"], as_of=AS_OF)
    assert board.standards[0].division_code == "520000" and len(board.standards) > 5  # and the prefectures
    assert all(s.ratio == (s.urban / s.rural).quantize(Decimal("0.01")) for s in board.standards)


def test_every_role_has_a_dashboard_with_charts_drawn_from_json(
    settings: Settings, engine: Engine, world: World
) -> None:
    for username in ("village1", "worker1", "county1", "analyst"):
        c = client(settings)
        login(c, username)
        r = c.get(f"/?as_of={DAY}")
        assert r.status_code == 200, username
        assert '<script type="application/json" id="dashboard-data">' in r.text
        assert "/static/js/dashboard.js" in r.text and "/static/vendor/echarts-6.1.0.min.js" in r.text
        assert "<script>" not in r.text and " style=" not in r.text and " onclick" not in r.text
    assert client(settings).get("/static/js/dashboard.js").status_code == 200
    assert client(settings).get("/").status_code == 303  # not signed in
