"""测算: a scenario from the form gives the same results as the service, with a chart and an
Excel report whose download is audited; problems are listed in Chinese; who may run one."""

from __future__ import annotations

import io
import re
from decimal import Decimal

import openpyxl
from case_world import build_world
from sqlalchemy import Engine, select
from web_client import client, login

from doudi.db.models import AuditEntry
from doudi.programs.parameters import default_parameters
from doudi.programs.run import load_households
from doudi.programs.simulate import parse_scenario, simulate
from doudi.settings import Settings

FORM = {
    "name": "农村低保标准提高8%",
    "date": "2026-12-01",
    "source": "registry",
    "parameter_0": "dibao.standard",
    "area_0": "rural",
    "from_0": "2026-12-01",
    "how_0": "scale",
    "value_0": "1.08",
    "parameter_1": "dibao.standard",
    "area_1": "urban",
    "from_1": "2026-12-01",
    "how_1": "set",
    "value_1": "900.00",
    "divisions_1": "520100",
}


def test_a_scenario_runs_and_its_report_downloads(settings: Settings, engine: Engine) -> None:
    build_world(engine, with_alerts=False, passwords=("analyst",))
    c = client(settings)
    token = login(c, "analyst")
    form = c.get("/simulate")
    assert form.status_code == 200 and 'id="scenario"' in form.text and "dibao.standard" in form.text
    r = c.post("/simulate", data={**FORM, "csrf_token": token})
    assert r.status_code == 303, r.text
    location = r.headers["location"]
    run_id = location.rsplit("/", 1)[1]
    page = c.get(location)
    assert page.status_code == 200
    assert "测算结果 · 农村低保标准提高8%" in page.text and "名册" in page.text
    assert '<script type="application/json" id="simulation-data">' in page.text
    assert "/static/js/simulate.js" in page.text and "<script>" not in page.text
    assert "限贵阳市" in page.text  # the second change's divisions

    # the same figures as the service computes
    params = default_parameters()
    scenario = parse_scenario(
        {
            "name": "x",
            "date": "2026-12-01",
            "changes": [
                {"parameter": "dibao.standard", "from": "2026-12-01", "area": "rural", "scale": "1.08"},
                {
                    "parameter": "dibao.standard",
                    "from": "2026-12-01",
                    "area": "urban",
                    "set": "900.00",
                    "divisions": ["520100"],
                },
            ],
        },
        params,
    )
    households, members = load_households("registry", on=scenario.date, engine=engine)
    expected = simulate(scenario, households=households, members=members, params=params)
    assert f'data-figure="households">{expected.households}<' in page.text
    dibao = next(r for r in expected.by_program.to_pylist() if r["program"] == "dibao")
    row = page.text.split('data-program="dibao"')[1].split("</tr>")[0]
    assert f"{dibao['monthly_before']:,.2f}" in row and f"{dibao['monthly_after']:,.2f}" in row
    assert dibao["monthly_after"] > dibao["monthly_before"]

    listed = c.get("/simulate").text
    assert f'href="/simulate/{run_id}"' in listed  # among the recent runs

    got = c.post(f"/simulate/{run_id}/xlsx", data={"csrf_token": token})
    assert got.status_code == 200 and got.content[:2] == b"PK"
    book = openpyxl.load_workbook(io.BytesIO(got.content))
    assert book.sheetnames == ["概要", "按市州", "按县"]
    assert book["概要"]["B1"].value == "农村低保标准提高8%"
    with engine.connect() as conn:
        audited = conn.execute(
            select(AuditEntry.actor, AuditEntry.object_ref).where(
                AuditEntry.action == "export", AuditEntry.object_type == "simulation"
            )
        ).all()
    assert audited == [("analyst", run_id)]
    assert Decimal(expected.ratio.province_after) != Decimal(expected.ratio.province_before)


def test_problems_in_a_scenario_are_listed_in_chinese(settings: Settings, engine: Engine) -> None:
    build_world(engine, with_alerts=False, passwords=("analyst",))
    c = client(settings)
    token = login(c, "analyst")
    bad = {**FORM, "value_0": "abc", "from_1": "2027-05-01", "divisions_1": "9999", "csrf_token": token}
    r = c.post("/simulate", data=bad)
    assert r.status_code == 400 and 'id="scenario-error"' in r.text
    assert "测算方案有误" in r.text
    assert "“abc”不是数字" in r.text
    assert "晚于测算日期" in r.text
    assert "“9999”无效" in r.text
    assert 'value="abc"' in r.text  # the form keeps what was typed
    nothing = c.post("/simulate", data={"csrf_token": token, "name": "空", "date": "2026-12-01"})
    assert nothing.status_code == 400 and "至少要有一项调整" in nothing.text


def test_who_may_run_a_simulation(settings: Settings, engine: Engine) -> None:
    build_world(engine, with_alerts=False, passwords=("analyst", "worker1", "county1"))
    c = client(settings)
    token = login(c, "analyst")
    run_id = c.post("/simulate", data={**FORM, "csrf_token": token}).headers["location"].rsplit("/", 1)[1]
    for username in ("worker1", "county1"):
        other = client(settings)
        t = login(other, username)
        page = other.get("/simulate")
        assert page.status_code == 200 and 'id="scenario"' not in page.text and "省级分析人员" in page.text
        assert other.post("/simulate", data={**FORM, "csrf_token": t}).status_code == 403
        assert other.get(f"/simulate/{run_id}").status_code == 403
        assert other.post(f"/simulate/{run_id}/xlsx", data={"csrf_token": t}).status_code == 403
    assert c.get("/simulate/0123456789abcdef").status_code == 404
    assert c.get("/simulate/not-a-run").status_code == 400


def test_running_needs_the_csrf_token(settings: Settings, engine: Engine) -> None:
    build_world(engine, with_alerts=False, passwords=("analyst",))
    c = client(settings)
    token = login(c, "analyst")
    r = c.post("/simulate", data=FORM)
    assert r.status_code == 403 and "安全校验未通过" in r.text
    run_id = c.post("/simulate", data={**FORM, "csrf_token": token}).headers["location"].rsplit("/", 1)[1]
    assert re.fullmatch(r"[0-9a-f]{16}", run_id)
    assert c.post(f"/simulate/{run_id}/xlsx").status_code == 403
