"""复核 and 救助对象 pages: the reviews falling due, a review recorded through the form (and
what it changes), a recipient's changes (渐退期, stop), masking, scoping, CSRF and conflicts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from case_pages import CONFLICT, Clock, Staff, audit_rows, version_on
from case_world import World, build_world
from sqlalchemy import Engine, text

from doudi.cases.recipients import enrol
from doudi.settings import Settings

START = dt.datetime(2026, 12, 20, 10, 0)
USERS = ("worker1", "worker2", "county2")


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return Clock(monkeypatch, START)


@pytest.fixture
def staff(settings: Settings) -> Iterator[Staff]:
    s = Staff(settings)
    yield s
    s.close()


def world_with_recipients(engine: Engine) -> tuple[World, dict[str, int]]:
    """N001 (township 520102001) and X001 (520102002) on 低保 since January: review due 2027-01-01."""
    world = build_world(engine, with_alerts=False, passwords=USERS)
    ids = {}
    with engine.begin() as conn:
        for no in ("N001", "X001"):
            ids[no] = enrol(
                conn,
                household_id=world.households[no],
                program="dibao",
                monthly_amount="500",
                covered_members=3,
                start_month="2026-01",
                source="registry",
                actor="tester",
                at=START,
                review_cycle_months=12,
            )
    return world, ids


def recipient_row(engine: Engine, recipient_id: int) -> dict[str, object]:
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT status, next_review_due, end_month, version FROM recipients WHERE id = :i"),
            {"i": recipient_id},
        ).mappings()
        return dict(row.one())


def test_a_review_due_is_recorded_through_the_form(
    engine: Engine, settings: Settings, clock: Clock, staff: Staff
) -> None:
    _, ids = world_with_recipients(engine)
    rid = ids["N001"]
    c = staff("worker1")
    page = c.get("/reviews").text
    assert "2027-01-01" in page and "12 天" in page and f'href="/reviews/{rid}"' in page
    assert f'href="/recipients/{ids["X001"]}"' not in page  # another township's
    form = c.get(f"/reviews/{rid}")
    assert form.status_code == 200 and "复核结论" in form.text and "500.00" in form.text
    v = version_on(form.text)

    r = staff.post(
        "worker1",
        f"/reviews/{rid}",
        {
            "expected_version": v,
            "outcome": "adjust",
            "reviewed_on": "2026-12-18",
            "new_amount": "450",
            "reason": "配偶务工收入增加",
        },
    )
    assert r.status_code == 303 and r.headers["location"] == f"/recipients/{rid}?ok=review"
    page = c.get(r.headers["location"]).text
    assert "定期复核已登记" in page and "调整待遇" in page and "配偶务工收入增加" in page
    assert "450.00" in page and "2027-01" in page
    with engine.connect() as conn:
        outcome, amount = conn.execute(
            text("SELECT outcome, new_amount FROM periodic_reviews WHERE recipient_id = :r"), {"r": rid}
        ).one()
    assert outcome == "adjust" and float(amount) == 450
    assert str(recipient_row(engine, rid)["next_review_due"])[:10] == "2027-12-18"
    assert f'href="/reviews/{rid}"' not in c.get("/reviews").text  # no longer due

    # the same form again (a stale version): a conflict, in Chinese
    r = staff.post(
        "worker1", f"/reviews/{rid}", {"expected_version": v, "outcome": "continue", "reason": "再次复核"}
    )
    assert r.status_code == 409 and CONFLICT in r.text
    r = staff.post("worker1", f"/reviews/{rid}", {"outcome": "continue", "reason": ""})
    assert r.status_code == 400 and "请填写复核情况和结论理由" in r.text
    # no CSRF token
    assert c.post(f"/reviews/{rid}", data={"outcome": "continue", "reason": "x"}).status_code == 403


def test_recipient_list_detail_and_changes(
    engine: Engine, settings: Settings, clock: Clock, staff: Staff
) -> None:
    world, ids = world_with_recipients(engine)
    rid = ids["N001"]
    c = staff("worker1")
    page = c.get("/recipients").text
    assert f'href="/recipients/{rid}"' in page and f'href="/recipients/{ids["X001"]}"' not in page
    assert "甲*" in page and "甲某" not in page and "500.00" in page
    assert f'href="/recipients/{rid}"' in c.get("/recipients?household=N001&program=dibao").text
    assert "没有符合条件的救助对象" in c.get("/recipients?status=stopped").text

    page = c.get(f"/recipients/{rid}").text
    assert "救助对象" in page and "在保" in page and "纳入救助" in page
    v = version_on(page)
    r = staff.post(
        "worker1",
        f"/recipients/{rid}/adjust",
        {"expected_version": v, "from_month": "2027-01", "reason": "x"},
    )
    assert r.status_code == 400 and "新的月救助金额或保障人数" in r.text
    r = staff.post(
        "worker1",
        f"/recipients/{rid}/phase-out",
        {
            "expected_version": v,
            "from_month": "2027-01",
            "months": "3",
            "reason": "家庭收入超过标准，进入渐退期",
        },
    )
    assert r.status_code == 303
    page = c.get(f"/recipients/{rid}").text
    assert "渐退期" in page and "进入渐退期" in page and "2027-03" in page
    r = staff.post(
        "worker1",
        f"/recipients/{rid}/stop",
        {"expected_version": v, "from_month": "2027-02", "reason": "迁出"},
    )
    assert r.status_code == 409 and CONFLICT in r.text
    page = c.get(f"/recipients/{rid}").text
    r = staff.post(
        "worker1",
        f"/recipients/{rid}/stop",
        {"expected_version": version_on(page), "from_month": "2027-02", "reason": "全家迁出本县"},
    )
    assert r.status_code == 303
    assert (
        recipient_row(engine, rid)["status"] == "stopped"
        and recipient_row(engine, rid)["end_month"] == "2027-01"
    )
    assert "已停发" in c.get(f"/recipients/{rid}").text

    r = staff.post("worker1", f"/recipients/{rid}/unmask", {"reason": "发放核对"})
    assert r.status_code == 200 and "甲某" in r.text and world.citizen_ids["N001"] in r.text
    assert ("recipient", str(rid)) in audit_rows(engine, "worker1", "view_unmasked")


def test_another_townships_recipient_is_not_found_and_audited(
    engine: Engine, settings: Settings, clock: Clock, staff: Staff
) -> None:
    _, ids = world_with_recipients(engine)
    rid = ids["N001"]
    for user in ("worker2", "county2"):
        r = staff(user).get(f"/recipients/{rid}")
        assert r.status_code == 404 and "救助对象" in r.text and "不在您的管辖范围内" in r.text
        assert ("recipient", str(rid)) in audit_rows(engine, user, "access_denied")
    assert staff("worker2").get(f"/reviews/{rid}").status_code == 404
    r = staff.post("worker2", f"/reviews/{rid}", {"outcome": "stop", "reason": "越权"})
    assert r.status_code == 404
    r = staff.post("worker2", f"/recipients/{rid}/stop", {"from_month": "2027-01", "reason": "越权"})
    assert r.status_code == 404
    assert staff("worker2").get("/recipients?household=N001").status_code == 404
    assert recipient_row(engine, rid)["status"] == "active"
    assert f'href="/recipients/{ids["X001"]}"' in staff("worker2").get("/recipients").text
