"""发放 pages: a county's roll generated, checked, its problem line resolved, confirmed by a
second reviewer and downloaded as XLSX (masked by default, in full with a reason, audited);
scoping, CSRF and conflicts."""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Iterator

import openpyxl
import pytest
from case_pages import CONFLICT, Clock, Staff, audit_rows, version_on
from case_world import World, build_world
from sqlalchemy import Engine, text

from doudi.cases.recipients import enrol
from doudi.ids import mask_citizen_id
from doudi.settings import Settings

START = dt.datetime(2026, 12, 20, 10, 0)
USERS = ("county1", "county1b", "county2", "worker2")
LINE = re.compile(r"/rolls/lines/(\d+)/resolve")


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return Clock(monkeypatch, START)


@pytest.fixture
def staff(settings: Settings) -> Iterator[Staff]:
    s = Staff(settings)
    yield s
    s.close()


def world_with_recipients(engine: Engine) -> World:
    """N001 and X001 on 低保 at sensible amounts; N002 at an amount no standard allows."""
    world = build_world(engine, with_alerts=False, passwords=USERS)
    with engine.begin() as conn:
        for no, amount in (("N001", "500"), ("N002", "99999"), ("X001", "400")):
            enrol(
                conn,
                household_id=world.households[no],
                program="dibao",
                monthly_amount=amount,
                covered_members=3,
                start_month="2026-12",
                source="registry",
                actor="tester",
                at=START,
            )
    return world


def generated(staff: Staff) -> int:
    r = staff.post("county1", "/rolls/generate", {"county_code": "520102", "period": "2026-12"})
    assert r.status_code == 303, r.text
    return int(r.headers["location"].split("/")[2].split("?")[0])


def post_step(staff: Staff, by: str, roll_id: int, url: str, **data: str) -> str:
    c = staff(by)
    v = version_on(c.get(f"/rolls/{roll_id}").text)
    r = staff.post(by, url, {"expected_version": str(v), **data})
    assert r.status_code == 303, r.text
    return c.get(r.headers["location"]).text


def roll_status(engine: Engine, roll_id: int) -> str:
    with engine.connect() as conn:
        return str(
            conn.execute(text("SELECT status FROM payment_rolls WHERE id = :i"), {"i": roll_id}).scalar_one()
        )


def test_generate_check_resolve_confirm_and_download(
    engine: Engine, settings: Settings, clock: Clock, staff: Staff
) -> None:
    world = world_with_recipients(engine)
    page = staff("county1").get("/rolls").text
    assert "生成发放名册" in page and 'value="520102"' in page and 'value="2026-12"' in page

    roll_id = generated(staff)
    page = staff("county1").get(f"/rolls/{roll_id}?ok=generated").text
    assert "发放名册已生成" in page and "草稿" in page and "2026年12月" in page
    assert page.count('href="/recipients/') == 3 and "甲*" in page and "甲某" not in page

    page = post_step(staff, "county1", roll_id, f"/rolls/{roll_id}/check")
    assert "核查完成" in page and "金额超过标准" in page and "已核查" in page

    # confirming: by another reviewer, and only with every problem resolved
    v = version_on(page)
    r = staff.post("county1", f"/rolls/{roll_id}/confirm", {"expected_version": v})
    assert r.status_code == 400 and "须由生成人以外的县级审核确认人确认" in r.text
    r = staff.post("county1b", f"/rolls/{roll_id}/confirm", {"expected_version": v})
    assert r.status_code == 400 and "还有 1 行核查问题未处理" in r.text

    problems = staff("county1").get(f"/rolls/{roll_id}?problems=1").text
    lines = LINE.findall(problems)
    assert len(lines) == 1 and "N002" in problems and "N001" not in problems
    r = staff.post(
        "county1",
        f"/rolls/lines/{lines[0]}/resolve",
        {"expected_version": v, "exclude": "1", "resolution": "金额录入错误，本月剔除"},
    )
    assert r.status_code == 303 and r.headers["location"] == f"/rolls/{roll_id}?ok=line"

    # a stale page cannot confirm
    r = staff.post("county1b", f"/rolls/{roll_id}/confirm", {"expected_version": v})
    assert r.status_code == 409 and CONFLICT in r.text
    page = post_step(staff, "county1b", roll_id, f"/rolls/{roll_id}/confirm")
    assert "已确认并冻结" in page and "已确认（冻结）" in page and "county1b" in page
    assert roll_status(engine, roll_id) == "confirmed"
    r = staff.post("county1", "/rolls/generate", {"county_code": "520102", "period": "2026-12"})
    assert r.status_code == 400 and "不能重新生成" in r.text

    # download: masked by default, audited
    r = staff.post("county1", f"/rolls/{roll_id}/export")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert "attachment" in r.headers["content-disposition"]
    sheet = openpyxl.load_workbook(io.BytesIO(r.content))["发放名册"]
    cells = [str(c) for row in sheet.iter_rows(values_only=True) for c in row if c is not None]
    head = world.citizen_ids["N001"]
    assert "2026年12月" in cells[0] and mask_citizen_id(head) in cells and head not in cells
    assert ("payment_roll", str(roll_id)) in audit_rows(engine, "county1", "export")

    # in full only with a reason, audited
    r = staff.post("county1", f"/rolls/{roll_id}/export", {"unmasked": "1", "reason": ""})
    assert r.status_code == 400 and "须填写理由" in r.text
    r = staff.post("county1", f"/rolls/{roll_id}/export", {"unmasked": "1", "reason": "银行代发"})
    assert r.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(r.content))["发放名册"]
    assert head in [c for row in sheet.iter_rows(values_only=True) for c in row]
    assert ("payment_roll", str(roll_id)) in audit_rows(engine, "county1", "export_unmasked")

    # the lines in full on the page, for a reason (audited)
    r = staff.post("county1", f"/rolls/{roll_id}/unmask", {"reason": "核对银行账户"})
    assert r.status_code == 200 and head in r.text and "甲某" in r.text
    assert ("payment_roll", str(roll_id)) in audit_rows(engine, "county1", "view_unmasked")


def test_another_countys_roll_is_not_found_and_audited(
    engine: Engine, settings: Settings, clock: Clock, staff: Staff
) -> None:
    world_with_recipients(engine)
    roll_id = generated(staff)
    for user in ("county2", "worker2"):
        r = staff(user).get(f"/rolls/{roll_id}")
        assert r.status_code == 404 and "不在您的管辖范围内" in r.text
        assert ("payment_roll", str(roll_id)) in audit_rows(engine, user, "access_denied")
        assert f'href="/rolls/{roll_id}"' not in staff(user).get("/rolls").text
    assert staff.post("county2", f"/rolls/{roll_id}/export").status_code == 404
    assert staff.post("county2", f"/rolls/{roll_id}/check", {"expected_version": "1"}).status_code == 404
    r = staff.post("county2", "/rolls/generate", {"county_code": "520102", "period": "2026-12"})
    assert r.status_code == 404
    assert staff.post("worker2", f"/rolls/{roll_id}/check").status_code == 403  # no such permission
    # no CSRF token: refused before anything runs
    c = staff("county1")
    assert c.post(f"/rolls/{roll_id}/check", data={"expected_version": "1"}).status_code == 403
    assert roll_status(engine, roll_id) == "draft"
