"""预警 pages on both databases: a township caseworker works an alert from the inbox to the
decision and sees it in the household's chain; scope, CSRF, stale versions, masking and
escaping."""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal
from pathlib import Path

from case_world import World, build_world, raise_alerts
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert, select, update
from web_client import client, login

from doudi.cases import alert_work, ledger
from doudi.cases.recipients import enrol
from doudi.db.models import Alert, AlertEvidence, AuditEntry
from doudi.settings import Settings

VILLAGES = {
    "N001": "520102001001",
    "N002": "520102001002",
    "N003": "520102001001",
    "X001": "520102002001",
    "Y001": "520103001001",
}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
CONFLICT = "该记录已被他人修改"


def world_raised_recently(engine: Engine, *passwords: str, days_ago: int = 2) -> World:
    """The case world with its alerts raised ``days_ago`` days before now (so that a visit can
    be recorded today: the world's own alerts are dated in December 2026)."""
    world = build_world(engine, with_alerts=False, passwords=passwords or ("worker1",))
    raised = ledger.now().replace(hour=9, minute=30, second=0) - dt.timedelta(days=days_ago)
    world.alerts = raise_alerts(engine, VILLAGES, world.citizen_ids, now=raised)
    return world


def signed_in(settings: Settings, username: str) -> tuple[TestClient, str]:
    c = client(settings)
    return c, login(c, username)


def audit(engine: Engine, action: str) -> list[tuple[str, str, str | None]]:
    with engine.connect() as conn:
        return [
            (r.actor, r.object_type, r.object_ref)
            for r in conn.execute(
                select(AuditEntry.actor, AuditEntry.object_type, AuditEntry.object_ref).where(
                    AuditEntry.action == action
                )
            )
        ]


def version_on(html: str, form_id: str) -> str:
    form = html[html.index(f'id="{form_id}"') :]
    match = re.search(r'name="expected_version" value="(\d+)"', form)
    assert match, f"{form_id} carries the version"
    return match.group(1)


def test_caseworker_works_an_alert_from_inbox_to_chain(settings: Settings, engine: Engine) -> None:
    world = world_raised_recently(engine, "worker1")
    c, token = signed_in(settings, "worker1")
    alert_id = world.alerts["N001"]

    inbox = c.get("/alerts")
    assert inbox.status_code == 200 and "医疗支出型困难" in inbox.text
    assert inbox.text.count('href="/alerts/') == 3  # N001, N002, N003; not X001 or Y001
    assert "户 X001" not in inbox.text and "共 3 条预警" in inbox.text
    head = world.citizen_ids["N001"]
    assert head not in inbox.text and f"{head[:4]}**********{head[-4:]}" in inbox.text

    page = c.get(f"/alerts/{alert_id}")
    assert page.status_code == 200
    assert "近12个月自付医疗费用" in page.text and "黔民发〔2021〕1号" in page.text
    assert "评估临时救助" in page.text  # the suggested action by its label
    assert 'id="assign-form"' in page.text and 'id="verify-form"' in page.text
    assert 'id="decide-form"' not in page.text and "入户核查登记后才能作出处置决定" in page.text

    r = c.post(
        f"/alerts/{alert_id}/assign",
        data={
            "assignee": "worker1b",
            "expected_version": version_on(page.text, "assign-form"),
            "csrf_token": token,
        },
    )
    assert r.status_code == 303 and r.headers["location"] == f"/alerts/{alert_id}?ok=assigned"
    page = c.get(r.headers["location"])
    assert "已分派。" in page.text and "worker1b" in page.text

    r = c.post(
        f"/alerts/{alert_id}/verify",
        data={
            "visited_on": ledger.now().date().isoformat(),
            "visitors": "王五、李四",
            "met": "户主本人",
            "findings": "户主住院，家中无收入。",
            "expected_version": version_on(page.text, "verify-form"),
            "csrf_token": token,
        },
        files=[
            ("files", ("门口.png", PNG, "image/png")),
            ("files", ("签字表.pdf", b"%PDF-1.4", "application/pdf")),
        ],
    )
    assert r.status_code == 303, r.text
    page = c.get(r.headers["location"])
    assert "入户核查已登记。" in page.text and "户主住院，家中无收入。" in page.text
    links = re.findall(rf'href="(/alerts/{alert_id}/attachments/\d+)">([^<]+)</a>', page.text)
    assert [name for _, name in links] == ["门口.png", "签字表.pdf"]
    photo = c.get(links[0][0])
    assert photo.content == PNG and photo.headers["content-type"] == "image/png"
    assert photo.headers["content-disposition"].startswith("inline")
    pdf = c.get(links[1][0])
    assert pdf.headers["content-disposition"].startswith("attachment")
    assert pdf.headers["content-type"] == "application/octet-stream"

    assert 'id="decide-form"' in page.text
    r = c.post(
        f"/alerts/{alert_id}/decide",
        data={
            "outcome": ["refer_medical", "temporary_assistance"],
            "reason_refer_medical": "住院费用高，转介医疗救助",
            "reason_temporary_assistance": "家中无收入，先行临时救助",
            "amount_temporary_assistance": "800",
            "reason_services": "not ticked: ignored",
            "expected_version": version_on(page.text, "decide-form"),
            "csrf_token": token,
        },
    )
    assert r.status_code == 303, r.text
    page = c.get(r.headers["location"])
    assert "处置决定已保存，预警已办结。" in page.text and "已办结" in page.text
    assert "转介医疗救助" in page.text and "800.00" in page.text
    assert 'id="assign-form"' not in page.text and 'id="verify-form"' not in page.text

    # The household's chain (on the alert's page and the household's) tells the whole story.
    chain = page.text[page.text.index('id="chain"') :]
    for step in ("医疗支出型困难", "分派给 worker1b", "入户核查", "转介医疗救助", "给予临时救助"):
        assert step in chain, step
    household = c.get(f"/households/{world.households['N001']}")
    assert household.status_code == 200 and "转介医疗救助" in household.text

    # Closed alerts leave the default inbox and show with "all".
    assert c.get("/alerts").text.count('href="/alerts/') == 2
    assert f'href="/alerts/{alert_id}"' in c.get("/alerts?status=all").text


def test_inbox_filters_sort_and_page_with_htmx(settings: Settings, engine: Engine) -> None:
    world = world_raised_recently(engine, "county1")
    c, _ = signed_in(settings, "county1")  # county 520102: N001, N002, N003, X001
    with engine.begin() as conn:
        conn.execute(update(Alert).where(Alert.id == world.alerts["N002"]).values(severity="yellow"))
        conn.execute(
            update(Alert)
            .where(Alert.id == world.alerts["X001"])
            .values(due_date=ledger.now().date() - dt.timedelta(days=3))
        )
        conn.execute(
            update(Alert)
            .where(Alert.id == world.alerts["N003"])
            .values(due_date=ledger.now().date() + dt.timedelta(days=5))
        )
    assert c.get("/alerts").text.count('href="/alerts/') == 4
    assert c.get("/alerts?severity=yellow").text.count('href="/alerts/') == 1
    overdue = c.get("/alerts?due=overdue")
    assert overdue.text.count('href="/alerts/') == 1 and "逾期 3 天" in overdue.text
    week = c.get("/alerts?due=week").text
    assert week.count('href="/alerts/') == 1 and f'/alerts/{world.alerts["N003"]}"' in week
    assert c.get("/alerts?due=not_overdue").text.count('href="/alerts/') == 3
    assert c.get("/alerts?rule=medical_catastrophic&status=open").text.count('href="/alerts/') == 4
    assert c.get("/alerts?mine=1").text.count('href="/alerts/') == 0
    first_severity = c.get("/alerts?sort=severity&status=open").text
    assert first_severity.index(f'/alerts/{world.alerts["N002"]}"') > first_severity.index(
        f'/alerts/{world.alerts["N001"]}"'
    )
    # The filter form swaps the list in place: an HTMX request for #inbox gets the list only.
    partial = c.get("/alerts?severity=red", headers={"HX-Request": "true", "HX-Target": "inbox"})
    assert partial.status_code == 200 and "<html" not in partial.text and "共 3 条预警" in partial.text
    # Pages of 25: two pages with 30 alerts.
    more = {f"Z{i:03d}": "520102001001" for i in range(26)}
    raise_alerts(engine, more, {no: world.citizen_ids["N001"] for no in more}, now=ledger.now())
    first = c.get("/alerts")
    assert "第 1 / 2 页" in first.text and 'href="/alerts?page=2"' in first.text
    assert c.get("/alerts?page=2").text.count('href="/alerts/') == 5
    # Bad filters get a Chinese message, not a 500.
    for bad in (
        "rule=No-Such",
        "severity=purple",
        "status=gone",
        "due=someday",
        "sort=random",
        "due_from=2026-13-01",
    ):
        r = c.get(f"/alerts?{bad}")
        assert r.status_code == 400 and ("不存在" in r.text or "格式不对" in r.text), bad


def test_inbox_service_due_range_and_orders(engine: Engine) -> None:
    world = build_world(engine, with_alerts=True, passwords=())
    county = world["county1"]
    with engine.begin() as conn:
        conn.execute(
            update(Alert).where(Alert.id == world.alerts["X001"]).values(due_date=dt.date(2026, 12, 10))
        )
    found = alert_work.inbox(engine, county, due_to=dt.date(2026, 12, 12))
    assert [r.household_no for r in found.rows] == ["X001"]
    found = alert_work.inbox(engine, county, due_from=dt.date(2026, 12, 11), sort="due_desc")
    assert [r.household_no for r in found.rows] == ["N003", "N002", "N001"]
    assert alert_work.inbox(engine, county, sort="raised").total == 4


def test_another_townships_alert_is_not_found_and_logged(settings: Settings, engine: Engine) -> None:
    world = world_raised_recently(engine, "worker2")
    c, token = signed_in(settings, "worker2")
    alert_id = world.alerts["N001"]
    r = c.get(f"/alerts/{alert_id}")
    assert r.status_code == 404 and "不在您的管辖范围内" in r.text and "医疗支出型困难" not in r.text
    assert ("worker2", "alert", str(alert_id)) in audit(engine, "access_denied")
    r = c.post(f"/alerts/{alert_id}/assign", data={"assignee": "worker2", "csrf_token": token})
    assert r.status_code == 404
    assert c.get(f"/alerts/{alert_id}/attachments/1").status_code == 404
    assert c.get("/alerts/999999").status_code == 404
    assert c.get(f"/alerts/{2**64}").status_code == 400  # past BIGINT: a bad request, not a 500


def test_state_changes_need_the_csrf_token(settings: Settings, engine: Engine) -> None:
    world = world_raised_recently(engine, "worker1")
    c, _ = signed_in(settings, "worker1")
    alert_id = world.alerts["N001"]
    for path, data in (
        ("assign", {"assignee": "worker1b"}),
        ("verify", {"visited_on": "2026-11-01", "visitors": "a", "met": "b", "findings": "c"}),
        ("decide", {"outcome": "services", "reason_services": "x"}),
        ("unmask", {"reason": "x"}),
    ):
        r = c.post(f"/alerts/{alert_id}/{path}", data={**data, "csrf_token": "forged"})
        assert r.status_code == 403 and "安全校验未通过" in r.text, path
        assert c.post(f"/alerts/{alert_id}/{path}", data=data).status_code == 403
    assert "未分派" in c.get(f"/alerts/{alert_id}").text  # nothing changed


def test_control_characters_are_refused_with_a_message(settings: Settings, engine: Engine) -> None:
    world = world_raised_recently(engine, "worker1")
    c, token = signed_in(settings, "worker1")
    alert_id = world.alerts["N001"]
    for path, data in (
        ("assign", {"assignee": "worker1\x00"}),
        ("assign", {"assignee": "worker1b", "reason": "a\x00b"}),
        (
            "verify",
            {
                "visited_on": ledger.now().date().isoformat(),
                "visitors": "王\x00五",
                "met": "b",
                "findings": "c",
            },
        ),
        ("decide", {"outcome": "services", "reason_services": "x\x00"}),
        ("unmask", {"reason": "\x00"}),
    ):
        r = c.post(f"/alerts/{alert_id}/{path}", data={**data, "csrf_token": token})
        assert r.status_code == 400 and "控制字符" in r.text, (path, r.status_code)


def test_a_stale_version_shows_the_conflict_message(settings: Settings, engine: Engine) -> None:
    world = world_raised_recently(engine, "worker1")
    c, token = signed_in(settings, "worker1")
    alert_id = world.alerts["N002"]
    seen = version_on(c.get(f"/alerts/{alert_id}").text, "assign-form")
    alert_work.assign(engine, world["worker1b"], alert_id, "worker1b")  # someone else, meanwhile
    r = c.post(
        f"/alerts/{alert_id}/assign",
        data={"assignee": "worker1", "expected_version": seen, "csrf_token": token},
    )
    assert r.status_code == 409 and CONFLICT in r.text
    # Sent by HTMX, the message lands in the page's #flash instead.
    r = c.post(
        f"/alerts/{alert_id}/assign",
        data={"assignee": "worker1", "expected_version": seen, "csrf_token": token},
        headers={"HX-Request": "true"},
    )
    assert r.status_code == 200 and r.headers["hx-retarget"] == "#flash" and CONFLICT in r.text
    # With the fresh version it goes through; by HTMX the answer is a full-page redirect.
    fresh = version_on(c.get(f"/alerts/{alert_id}").text, "assign-form")
    r = c.post(
        f"/alerts/{alert_id}/assign",
        data={"assignee": "worker1", "expected_version": fresh, "csrf_token": token},
        headers={"HX-Request": "true"},
    )
    assert r.status_code == 200 and r.headers["hx-redirect"] == f"/alerts/{alert_id}?ok=assigned"


def test_show_full_needs_a_reason_and_is_audited(settings: Settings, engine: Engine) -> None:
    world = world_raised_recently(engine, "worker1")
    c, token = signed_in(settings, "worker1")
    alert_id = world.alerts["N001"]
    head = world.citizen_ids["N001"]
    assert head not in c.get(f"/alerts/{alert_id}").text
    r = c.post(f"/alerts/{alert_id}/unmask", data={"reason": "  ", "csrf_token": token})
    assert r.status_code == 400 and "需要填写理由" in r.text and head not in r.text
    r = c.post(f"/alerts/{alert_id}/unmask", data={"reason": "核对身份", "csrf_token": token})
    assert r.status_code == 200 and head in r.text and "已记入审计日志" in r.text
    assert audit(engine, "view_unmasked") == [("worker1", "alert", str(alert_id))]
    assert head not in c.get(f"/alerts/{alert_id}").text  # masked again on the next view


def test_data_is_escaped(settings: Settings, engine: Engine) -> None:
    world = world_raised_recently(engine, "worker1")
    script = "<script>alert(1)</script>"
    with engine.begin() as conn:
        conn.execute(
            update(Alert)
            .where(Alert.id == world.alerts["N001"])
            .values(title=f"标题{script}", explanation=f"说明{script}")
        )
    c, _ = signed_in(settings, "worker1")
    for html in (c.get("/alerts").text, c.get(f"/alerts/{world.alerts['N001']}").text):
        assert script not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_forms_follow_the_role(settings: Settings, engine: Engine) -> None:
    world = world_raised_recently(engine, "village1", "analyst")
    alert_id = world.alerts["N001"]
    village, token = signed_in(settings, "village1")
    page = village.get(f"/alerts/{alert_id}").text
    assert 'id="verify-form"' in page and 'id="assign-form"' not in page
    r = village.post(f"/alerts/{alert_id}/assign", data={"assignee": "worker1", "csrf_token": token})
    assert r.status_code == 403 and "无权分派预警" in r.text
    analyst, _ = signed_in(settings, "analyst")
    page = analyst.get(f"/alerts/{alert_id}").text
    assert not any(f'id="{f}"' in page for f in ("assign-form", "verify-form", "decide-form"))


def test_a_decision_can_stop_a_payment_from_a_month(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    world = world_raised_recently(engine, "worker1")
    with engine.begin() as conn:
        enrol(
            conn,
            household_id=world.households["N001"],
            program="dibao",
            monthly_amount=Decimal("900"),
            covered_members=3,
            start_month="2026-10",
            source="registry",
            actor="tester",
            at=dt.datetime(2026, 10, 1, 8, 0),
        )
    alert_id = world.alerts["N001"]
    alert_work.record_verification(
        engine,
        world["worker1"],
        alert_id,
        visited_on=ledger.now().date(),
        visitors="王五",
        met="户主",
        findings="户主已稳定就业",
        data_dir=tmp_path,
    )
    c, token = signed_in(settings, "worker1")
    page = c.get(f"/alerts/{alert_id}").text
    assert 'name="program_stop_payment"' in page and 'name="from_month_stop_payment"' in page
    r = c.post(
        f"/alerts/{alert_id}/decide",
        data={
            "outcome": "stop_payment",
            "reason_stop_payment": "户主已稳定就业，收入超过标准",
            "program_stop_payment": "dibao",
            "from_month_stop_payment": "2027-02",
            "expected_version": version_on(page, "decide-form"),
            "csrf_token": token,
        },
    )
    assert r.status_code == 303, r.text
    household = c.get(f"/households/{world.households['N001']}").text
    recipients = household[household.index('id="recipients"') :]
    assert "已停发" in recipients and "2027-01" in recipients  # the last month paid
    assert "停发救助金" in household[household.index('id="chain"') :]
    bad = c.post(
        f"/alerts/{world.alerts['N002']}/decide",
        data={
            "outcome": "stop_payment",
            "reason_stop_payment": "x",
            "program_stop_payment": "x",
            "csrf_token": token,
        },
    )
    assert bad.status_code == 400 and "救助项目“x”不存在" in bad.text


def test_evidence_rows_show_their_department_and_fields(settings: Settings, engine: Engine) -> None:
    world = world_raised_recently(engine, "worker1")
    detail = {
        "settlement_no": "JS202611001",
        "hospital": "省人民医院",
        "visit_type": "inpatient",
        "out_of_pocket": "25000.00",
        "major_disease": True,
    }
    with engine.begin() as conn:
        conn.execute(
            insert(AlertEvidence).values(
                alert_id=world.alerts["N001"],
                run_id=1,
                feed_kind="medical",
                department="医疗保障局",
                load_id=7,
                period="2026-10",
                row_no=42,
                citizen_id=world.citizen_ids["N001"],
                event_date=dt.date(2026, 10, 12),
                detail=json.dumps(detail, ensure_ascii=False),
            )
        )
    c, _ = signed_in(settings, "worker1")
    page = c.get(f"/alerts/{world.alerts['N001']}").text
    for shown in (
        "医疗保障局",
        "第 7 批 · 2026-10 · 第 42 行",
        "2026-10-12",
        "医疗机构：省人民医院",
        "就诊类别：住院",
        "重特大疾病：是",
    ):
        assert shown in page, shown
    assert world.citizen_ids["N001"] not in page  # the evidence row's ID is masked too
    household = c.get(f"/households/{world.households['N001']}").text
    assert "医疗保障局" in household and "就诊类别：住院" in household


def test_open_alerts_are_shared_out_among_the_townships_caseworkers(
    settings: Settings, engine: Engine
) -> None:
    world_raised_recently(engine, "worker1", "worker2", "county1")
    c, token = signed_in(settings, "worker1")
    inbox = c.get("/alerts").text
    assert 'id="assign-open-form"' in inbox and 'name="township" value="520102001"' in inbox
    r = c.post(
        "/alerts/assign-open", data={"township": "520102001", "strategy": "round_robin", "csrf_token": token}
    )
    assert r.status_code == 303 and r.headers["location"] == "/alerts?ok=assigned_open"
    page = c.get(r.headers["location"]).text
    listing = page[page.index('id="inbox"') :]
    assert "未分派的预警已按到期先后分给" in page and "待分派" not in listing
    assert listing.count(">worker1<") == 2 and listing.count(">worker1b<") == 1
    other, other_token = signed_in(settings, "worker2")
    r = other.post("/alerts/assign-open", data={"township": "520102001", "csrf_token": other_token})
    assert r.status_code == 404 and ("worker2", "division", "520102001") in audit(engine, "access_denied")
    county, _ = signed_in(settings, "county1")
    assert '<option value="520102002">' in county.get("/alerts").text  # the county picks a township
