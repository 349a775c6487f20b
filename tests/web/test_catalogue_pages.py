"""规则 and 标准: the rule catalogue and the parameters in force, read-only, for every role."""

from __future__ import annotations

import datetime as dt
import html

import pytest
from case_world import build_world
from sqlalchemy import Engine
from web_client import client, login

from doudi.monitor.rules import load_rules
from doudi.programs.display import format_value
from doudi.programs.parameters import default_parameters
from doudi.settings import Settings

ROLES = ("village1", "worker1", "county1", "analyst", "admin")


@pytest.fixture
def world(engine: Engine) -> None:
    build_world(engine, with_alerts=False, passwords=ROLES)


def test_every_role_reads_the_catalogues(settings: Settings, world: None) -> None:
    for username in ROLES:
        c = client(settings)
        login(c, username)
        for path in ("/rules", "/rules/catastrophic_medical_spending", "/standards"):
            r = c.get(path)
            assert r.status_code == 200, (username, path)
            assert r.text.count('method="post"') == 1  # read-only: the sign-out form only
    anonymous = client(settings)
    for path in ("/rules", "/rules/catastrophic_medical_spending", "/standards"):
        assert anonymous.get(path).status_code == 303


def test_rule_catalogue_lists_every_rule_with_its_explanation_and_thresholds(
    settings: Settings, world: None
) -> None:
    c = client(settings)
    login(c, "worker1")
    listing = c.get("/rules").text
    rules = load_rules()
    for rule in rules:
        assert f'href="/rules/{rule.id}"' in listing
    assert f"共 {len(rules)} 条规则" in listing
    page = c.get("/rules/catastrophic_medical_spending").text
    text = html.unescape(page)
    assert "家庭医疗自付支出过高" in text
    # thresholds filled in, facts named by their labels
    assert '<b class="param">50%</b>' in page and '<b class="param">10,000.00</b>' in page
    assert 'class="fact"' in page
    assert "hh_medical_oop_12m >= oop_floor" in text  # the condition as written
    assert "刚性支出困难家庭认定办法" in text  # the policy reference
    assert "待确认" in text  # an unconfirmed threshold is marked
    assert 'data-param="oop_ratio"' in page
    assert c.get("/rules/no_such_rule").status_code == 404
    bad = c.get("/rules/Bad-Id")
    assert bad.status_code == 400 and "格式不正确" in bad.text


def test_standards_in_force_for_a_county_and_date(settings: Settings, world: None) -> None:
    params = default_parameters()
    c = client(settings)
    login(c, "worker1")
    day = dt.date(2026, 12, 1)
    page = c.get(f"/standards?on={day}").text  # a township caseworker: the county's
    assert "救助标准 · 南明区" in page and 'value="520102" selected' in page
    urban = params.resolve("dibao.standard", "520102", "urban", day)
    row = page.split('data-param="dibao.standard" data-area="urban"')[1].split("</tr>")[0]
    assert format_value(urban.value, urban.unit) in row and str(urban.start) in row
    assert len(page.split('data-param="')) - 1 == sum(
        2 if p.by_area else 1 for p in params.parameters.values()
    )
    province = c.get("/standards?division=520000").text
    assert "救助标准 · 贵州省" in province and "本级" in province
    old = c.get("/standards?division=520102&on=1990-01-01")
    assert old.status_code == 200 and "没有取值" in old.text
    bad = c.get("/standards?division=999999")
    assert bad.status_code == 400 and "区划代码“999999”无效" in bad.text
