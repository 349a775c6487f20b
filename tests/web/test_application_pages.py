"""申请 pages: an application from intake to the county's approval through the browser's
forms (economic check with its sources, the assessment and its explanation, maker-checker
review, 公示 with an objection, decision), the other steps (refusal, extension, emergency
pay-first and paperwork), filters, scoping, CSRF, conflicts and masking."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from case_pages import CONFLICT, Clock, Staff, audit_rows, version_on
from case_world import World, build_world
from factories import citizen_id
from sqlalchemy import Engine, text

from doudi.feeds.contract import get_contract
from doudi.feeds.service import load_feed
from doudi.ids import mask_citizen_id
from doudi.settings import Settings

START = dt.datetime(2026, 12, 1, 10, 0)  # a Tuesday
USERS = ("worker1", "checker1", "county1", "worker2", "county2")
N003_HEAD = citizen_id("1968-03-02", 51)  # case_world: family("N003", seq0=51)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return Clock(monkeypatch, START)


@pytest.fixture
def staff(settings: Settings) -> Iterator[Staff]:
    s = Staff(settings)
    yield s
    s.close()


def world_of(engine: Engine) -> World:
    return build_world(engine, with_alerts=False, passwords=USERS)


def vehicle_feed(engine: Engine, settings: Settings, tmp: Path) -> int:
    """The traffic police's vehicle list for 2026-11: a motorcycle of N003's head (listed in
    the check, not counted as property)."""
    columns = get_contract("vehicle").columns
    row = {
        "plate_no": "贵A12345",
        "citizen_id": N003_HEAD,
        "name": "甲某",
        "vehicle_kind": "motorcycle",
        "register_date": "2019-05-01",
        "purchase_price": "6000",
    }
    path = tmp / "vehicle-2026-11.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow([c.label for c in columns])
        out.writerow([row.get(c.name, "") for c in columns])
    return load_feed(engine, settings, "vehicle", path, "2026-11", actor="tester").load_id


def submit(
    staff: Staff, household: str = "N003", program: str = "dibao", by: str = "worker1", **extra: str
) -> int:
    r = staff.post(by, "/applications", {"household_no": household, "program": program, **extra})
    assert r.status_code == 303, r.text
    location = r.headers["location"]
    assert location.endswith("?ok=submitted")
    return int(location.split("/")[2].split("?")[0])


def step(staff: Staff, by: str, app_id: int, name: str, **data: str) -> str:
    """Post a step with the version the page shows; returns the page after the redirect."""
    c = staff(by)
    before = c.get(f"/applications/{app_id}")
    assert before.status_code == 200, before.text
    r = staff.post(
        by, f"/applications/{app_id}/{name}", {"expected_version": str(version_on(before.text)), **data}
    )
    assert r.status_code == 303, r.text
    after = c.get(r.headers["location"])
    assert after.status_code == 200
    return after.text


def status_of(engine: Engine, app_id: int) -> str:
    with engine.connect() as conn:
        return str(
            conn.execute(text("SELECT status FROM applications WHERE id = :i"), {"i": app_id}).scalar_one()
        )


def in_notice(staff: Staff, household: str = "N003") -> int:
    app_id = submit(staff, household)
    step(staff, "worker1", app_id, "check")
    step(staff, "worker1", app_id, "assess")
    step(staff, "checker1", app_id, "review", opinion="approve", reason="情况属实")
    return app_id


def test_a_county_reviewer_approves_an_application_through_the_pages(
    engine: Engine, settings: Settings, tmp_path: Path, clock: Clock, staff: Staff
) -> None:
    world_of(engine)
    load_id = vehicle_feed(engine, settings, tmp_path)
    form = staff("worker1").get("/applications/new?household=N003")
    assert form.status_code == 200 and 'value="N003"' in form.text and "受理申请" in form.text

    app_id = submit(staff)
    page = staff("worker1").get(f"/applications/{app_id}?ok=submitted").text
    assert "申请已受理" in page and "已受理" in page and "甲*" in page and "甲某" not in page

    # 家庭经济状况核对: each match with its department, load and row
    page = step(staff, "worker1", app_id, "check")
    assert "核对报告见下方" in page and "已核对" in page
    assert "公安厅（交通管理）" in page and "机动车登记信息" in page and "摩托车" in page
    assert f"<td>{load_id}（2026-11）</td>" in page and '<td class="num">2</td>' in page  # file line 2
    assert N003_HEAD not in page and mask_citizen_id(N003_HEAD) in page

    # 初审建议 with its explanation
    page = step(staff, "worker1", app_id, "assess")
    assert (
        "符合最低生活保障（低保）条件" in page and "月人均收入（元）" in page and "最低生活保障标准" in page
    )

    # the recorder may not review: the role has no such permission, nor does the recorder
    assert staff.post("worker1", f"/applications/{app_id}/review", {"opinion": "approve"}).status_code == 403
    page = step(staff, "checker1", app_id, "review", opinion="approve", reason="情况属实")
    assert "公示期" in page and "2026-12-01 至 2026-12-07" in page and "公示中" in page

    # an objection during the notice, recorded and resolved
    page = step(staff, "worker1", app_id, "objections", content="邻居反映该户有经营收入", objector="丁某某")
    assert "邻居反映该户有经营收入" in page and "丁**" in page and "待处理" in page
    objection = int(page.split("/applications/objections/")[1].split("/")[0])

    # the county reviewer cannot approve during the notice
    clock.set(dt.datetime(2026, 12, 5, 9, 0))
    v = version_on(staff("county1").get(f"/applications/{app_id}").text)
    r = staff.post(
        "county1", f"/applications/{app_id}/decide", {"expected_version": v, "decision": "approve"}
    )
    assert r.status_code == 400 and "公示期满前不能作出批准决定" in r.text

    clock.set(dt.datetime(2026, 12, 8, 9, 0))
    r = staff.post(
        "county1", f"/applications/{app_id}/decide", {"expected_version": v, "decision": "approve"}
    )
    assert r.status_code == 400 and "公示异议尚有1件未处理" in r.text
    r = staff.post(
        "worker1",
        f"/applications/objections/{objection}/resolve",
        {"expected_version": v, "upheld": "0", "resolution": "经核实无经营收入"},
    )
    assert r.status_code == 303 and r.headers["location"] == f"/applications/{app_id}?ok=resolved"

    page = step(staff, "county1", app_id, "decide", decision="approve", amount="", start_month="")
    assert "审核确认决定已保存" in page and "已批准" in page and "自 2027-01 起" in page
    assert "/recipients/" in page
    assert status_of(engine, app_id) == "approved"
    for event in (
        "受理申请",
        "家庭经济状况核对",
        "提出初审建议",
        "乡镇审核",
        "登记公示异议",
        "处理公示异议",
        "审核确认",
    ):
        assert event in page
    with engine.connect() as conn:
        amount, start = conn.execute(
            text(
                "SELECT t.monthly_amount, r.start_month FROM recipients r JOIN recipient_terms t ON t.recipient_id = r.id "
                "WHERE r.application_id = :a"
            ),
            {"a": app_id},
        ).one()
    assert start == "2027-01" and float(amount) > 0


def test_maker_checker_and_state_errors_are_shown_in_chinese(
    engine: Engine, settings: Settings, clock: Clock, staff: Staff
) -> None:
    world_of(engine)
    app_id = submit(staff, by="checker1")  # the reviewer records it …
    step(staff, "worker1", app_id, "check")
    step(staff, "worker1", app_id, "assess")
    v = version_on(staff("checker1").get(f"/applications/{app_id}").text)
    r = staff.post(
        "checker1", f"/applications/{app_id}/review", {"expected_version": v, "opinion": "approve"}
    )
    assert r.status_code == 400 and "审核人不能是申请的登记人" in r.text  # … and may not review it
    r = staff.post("county1", f"/applications/{app_id}/review", {"expected_version": v, "opinion": "refuse"})
    assert r.status_code == 400 and "请填写不同意的理由" in r.text
    assert status_of(engine, app_id) == "assessed"
    # a second open application of the household for the same program
    r = staff.post("worker1", "/applications", {"household_no": "N003", "program": "dibao"})
    assert r.status_code == 400 and "不能重复申请" in r.text
    r = staff.post(
        "worker1", "/applications", {"household_no": "N003", "program": "dibao", "applied_on": "2026-13-01"}
    )
    assert r.status_code == 400 and "应为 年-月-日" in r.text


def test_refusal_extension_and_emergency_pay_first(
    engine: Engine, settings: Settings, clock: Clock, staff: Staff
) -> None:
    world_of(engine)
    # refusal needs a written reason, and shows the deadline to notify it
    refused = submit(staff, "N002")
    v = version_on(staff("county1").get(f"/applications/{refused}").text)
    r = staff.post(
        "county1", f"/applications/{refused}/decide", {"expected_version": v, "decision": "refuse"}
    )
    assert r.status_code == 400 and "请填写不予批准的书面理由" in r.text
    page = step(staff, "county1", refused, "decide", decision="refuse", reason="家庭人均收入高于低保标准")
    assert "不予批准" in page and "书面告知期限" in page and "家庭人均收入高于低保标准" in page

    # the decision deadline extended once
    extended = submit(staff, "N003")
    page = step(staff, "checker1", extended, "extend", reason="需要补充调查赡养人情况")
    assert "办理时限已延长" in page and "（已延长）" in page and "2027-02-02" in page
    v = version_on(page)
    r = staff.post(
        "checker1", f"/applications/{extended}/extend", {"expected_version": v, "reason": "再延一次"}
    )
    assert r.status_code == 400 and "只能延长一次" in r.text

    # 急难型临时救助: paid first, paperwork afterwards
    urgent = submit(staff, "N001", "temporary_assistance", emergency="1")
    page = step(staff, "checker1", urgent, "pay-first", amount="800")
    assert "已先行救助" in page and "补齐手续期限" in page
    r = staff.post(
        "checker1",
        f"/applications/{urgent}/paperwork",
        {"expected_version": version_on(page), "note": "已补齐"},
    )
    assert r.status_code == 400 and "须先完成家庭经济状况核对" in r.text
    step(staff, "worker1", urgent, "check")
    page = step(staff, "checker1", urgent, "paperwork", note="申请书、核对报告已补齐")
    assert "手续已补齐" in page and "已批准" in page
    assert status_of(engine, urgent) == "approved"


def test_the_list_filters_by_status_program_and_deadline(
    engine: Engine, settings: Settings, clock: Clock, staff: Staff
) -> None:
    world_of(engine)
    dibao = submit(staff, "N003")
    urgent = submit(staff, "N001", "temporary_assistance", emergency="1")
    c = staff("worker1")
    page = c.get("/applications").text
    assert f'href="/applications/{dibao}"' in page and f'href="/applications/{urgent}"' in page
    page = c.get("/applications?program=temporary_assistance").text
    assert f'href="/applications/{urgent}"' in page and f'href="/applications/{dibao}"' not in page
    page = c.get("/applications?status=checked").text
    assert "没有符合条件的申请" in page
    assert (
        c.get("/applications?overdue=1").text.count('href="/applications/')
        - page.count('href="/applications/')
        == 0
    )
    clock.set(dt.datetime(2027, 2, 1, 9, 0))  # past the 30 working days
    page = c.get("/applications?overdue=1").text
    assert f'href="/applications/{dibao}"' in page and "逾期" in page
    assert c.get("/applications?status=nonsense").status_code == 400


def test_another_townships_application_is_not_found_and_the_attempt_is_audited(
    engine: Engine, settings: Settings, clock: Clock, staff: Staff
) -> None:
    world_of(engine)
    app_id = submit(staff, "N003")
    for user in ("worker2", "county2"):
        r = staff(user).get(f"/applications/{app_id}")
        assert r.status_code == 404 and "不存在，或不在您的管辖范围内" in r.text
        assert ("application", str(app_id)) in audit_rows(engine, user, "access_denied")
        assert f'href="/applications/{app_id}"' not in staff(user).get("/applications").text
    r = staff.post("worker2", f"/applications/{app_id}/check", {"expected_version": "1"})
    assert r.status_code == 404
    r = staff.post("worker2", f"/applications/{app_id}/unmask", {"reason": "看看"})
    assert r.status_code == 404
    r = staff.post("worker2", "/applications", {"household_no": "N003", "program": "tekun"})
    assert r.status_code == 404 and ("household", "N003") in audit_rows(engine, "worker2", "access_denied")
    assert status_of(engine, app_id) == "submitted"


def test_csrf_conflict_masking_and_escaping(
    engine: Engine, settings: Settings, clock: Clock, staff: Staff
) -> None:
    world_of(engine)
    app_id = submit(staff, "N003", note="<script>alert(1)</script>")
    c = staff("worker1")
    page = c.get(f"/applications/{app_id}").text
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page

    # no CSRF token: refused, nothing changed
    assert c.post(f"/applications/{app_id}/check", data={"expected_version": "1"}).status_code == 403
    assert status_of(engine, app_id) == "submitted"

    # two caseworkers on the same page: the second save is a conflict, in Chinese
    step(staff, "worker1", app_id, "check")
    r = staff.post("worker1", f"/applications/{app_id}/check", {"expected_version": "1"})
    assert r.status_code == 409 and CONFLICT in r.text
    r = staff.post(
        "worker1", f"/applications/{app_id}/check", {"expected_version": "1"}, headers={"HX-Request": "true"}
    )
    assert r.status_code == 200 and r.headers["hx-retarget"] == "#flash" and CONFLICT in r.text
    assert "hx-replace-url" not in r.headers  # the address stays the application's
    r = c.get(f"/applications/{app_id}?ok=checked", headers={"HX-Request": "true"})
    assert r.headers["hx-replace-url"] == f"/applications/{app_id}"

    # 显示完整信息 needs a reason and is audited
    r = staff.post("worker1", f"/applications/{app_id}/unmask", {"reason": ""})
    assert r.status_code == 400 and "理由" in r.text
    r = staff.post("worker1", f"/applications/{app_id}/unmask", {"reason": "入户核对身份"})
    assert r.status_code == 200 and "甲某" in r.text and N003_HEAD in r.text and "已记入审计日志" in r.text
    assert ("application", str(app_id)) in audit_rows(engine, "worker1", "view_unmasked")
    assert "甲某" not in c.get(f"/applications/{app_id}").text
