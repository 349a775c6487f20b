"""Periodic reviews: due lists as tasks (scoped), a review continuing, changing or stopping
assistance from the right month, and the next review one cycle on."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from case_world import World, build_world
from sqlalchemy import Engine, select, text

from doudi.auth.roles import Forbidden
from doudi.auth.scope import NotFound
from doudi.cases import payroll, reviews
from doudi.cases import recipients as rc
from doudi.cases.errors import CaseError, Conflict, InvalidState
from doudi.db.models import AuditEntry, PeriodicReview

AT = dt.datetime(2026, 12, 20, 10, 0)


def _setup(engine: Engine) -> tuple[World, dict[str, int]]:
    world = build_world(engine, with_alerts=False)
    h = world.households
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE person_versions SET employment = 'flexible' WHERE household_id = :h AND relation = 'head'"
            ),
            {"h": h["X001"]},
        )
        ids = {
            no: rc.enrol(
                conn,
                household_id=h[no],
                program=program,
                monthly_amount=Decimal("500"),
                covered_members=3 if program == "dibao" else 1,
                start_month="2027-01",
                source="application",
                actor="county1",
                at=AT,
            )
            for no, program in (("N001", "dibao"), ("X001", "dibao"), ("Y001", "tekun"))
        }
    return world, ids


def _due(engine: Engine, world: World, who: str, today: dt.date, within: int = 30) -> list[int]:
    return [
        r.recipient_id for r in reviews.reviews_due(engine, world[who], within_days=within, today=today).rows
    ]


def test_reviews_due_are_scoped_tasks(engine: Engine) -> None:
    world, ids = _setup(engine)
    june = dt.date(2027, 6, 15)  # X001 (irregular income: 6 months) due 2027-07-01; N001 and Y001 in 2028
    assert _due(engine, world, "county1", june) == [ids["X001"]]
    assert _due(engine, world, "worker2", june) == [ids["X001"]]
    assert _due(engine, world, "worker1", june) == []
    assert _due(engine, world, "county2", june) == []
    page = reviews.reviews_due(engine, world["county1"], today=june)
    task = page.rows[0]
    assert (task.due_date, task.days_left, task.overdue, task.review_cycle_months) == (
        dt.date(2027, 7, 1),
        16,
        False,
        6,
    )
    assert task.head_name == "甲*" and task.program_label == "低保"
    later = dt.date(2028, 1, 10)
    assert _due(engine, world, "analyst", later) == [ids["X001"], ids["N001"], ids["Y001"]]
    assert _due(engine, world, "county2", later) == [ids["Y001"]]
    assert reviews.reviews_due(engine, world["worker1"], today=later).rows[0].overdue


def test_review_continues_adjusts_or_stops(engine: Engine) -> None:
    world, ids = _setup(engine)
    res = reviews.record_review(
        engine,
        world["worker2"],
        ids["X001"],
        outcome="continue",
        reviewed_on=dt.date(2027, 6, 20),
        reason="家庭情况无变化",
        now=AT,
    )
    assert res.next_review_due == dt.date(2027, 12, 20)
    assert _due(engine, world, "worker2", dt.date(2027, 6, 25)) == []
    res = reviews.record_review(
        engine,
        world["worker1"],
        ids["N001"],
        outcome="adjust",
        reviewed_on=dt.date(2027, 12, 10),
        reason="子女就业，收入增加",
        new_amount="300",
        covered_members=2,
        now=AT,
    )
    assert res.next_review_due == dt.date(2028, 12, 10)
    res = reviews.record_review(
        engine,
        world["county2"],
        ids["Y001"],
        outcome="stop",
        reviewed_on=dt.date(2027, 12, 28),
        reason="已入住养老机构由子女赡养",
        from_month="2028-02",
        now=AT,
    )
    assert res.next_review_due is None
    amounts = {}
    for county, actor in (("520102", "county1"), ("520103", "county2")):
        for p in ("2027-12", "2028-01", "2028-02"):
            roll = payroll.generate_roll(engine, world[actor], county, p, now=AT)
            amounts.update(
                {
                    (rid, p): (a, c)
                    for rid, a, c in (
                        (line.recipient_id, line.amount, line.covered_members)
                        for line in payroll.roll_lines(engine, world[actor], roll.id).rows
                    )
                }
            )
    assert amounts[(ids["N001"], "2027-12")] == (Decimal("500.00"), 3)
    assert amounts[(ids["N001"], "2028-01")] == (Decimal("300.00"), 2)
    assert amounts[(ids["Y001"], "2028-01")] == (Decimal("500.00"), 1)
    assert (ids["Y001"], "2028-02") not in amounts
    detail = rc.recipient_detail(engine, world["county2"], ids["Y001"])
    assert detail.recipient.status == "stopped" and detail.recipient.end_month == "2028-01"
    assert [e.event for e in detail.events] == ["enrolled", "stopped", "reviewed"]
    assert [(r.outcome, r.due_date) for r in detail.reviews] == [("stop", dt.date(2028, 1, 1))]
    with engine.connect() as conn:
        assert len(conn.execute(select(PeriodicReview.id)).all()) == 3
    with pytest.raises(InvalidState):
        reviews.record_review(
            engine,
            world["county2"],
            ids["Y001"],
            outcome="continue",
            reviewed_on=dt.date(2028, 1, 5),
            reason="x",
        )
    assert _due(engine, world, "analyst", dt.date(2029, 1, 1)) == [ids["X001"], ids["N001"]]


def test_review_checks_input_scope_and_versions(engine: Engine) -> None:
    world, ids = _setup(engine)
    on = dt.date(2027, 6, 20)
    with pytest.raises(CaseError) as err:
        reviews.record_review(
            engine, world["worker2"], ids["X001"], outcome="maybe", reviewed_on=on, reason="x"
        )
    assert err.value.code == "bad_outcome"
    with pytest.raises(CaseError):
        reviews.record_review(
            engine, world["worker2"], ids["X001"], outcome="adjust", reviewed_on=on, reason="x"
        )
    with pytest.raises(Forbidden):
        reviews.record_review(
            engine, world["village1"], ids["N001"], outcome="continue", reviewed_on=on, reason="x"
        )
    for who, key in (("worker1", "X001"), ("worker2", "N001"), ("county2", "N001"), ("county1", "Y001")):
        with pytest.raises(NotFound):
            reviews.record_review(engine, world[who], ids[key], outcome="stop", reviewed_on=on, reason="x")
    with engine.connect() as conn:
        denied = conn.execute(
            select(AuditEntry.actor, AuditEntry.object_ref).where(AuditEntry.action == "access_denied")
        ).all()
    assert ("worker1", str(ids["X001"])) in denied and ("county2", str(ids["N001"])) in denied
    version = rc.recipient_detail(engine, world["worker2"], ids["X001"]).recipient.version
    reviews.record_review(
        engine,
        world["worker2"],
        ids["X001"],
        outcome="continue",
        reviewed_on=on,
        reason="无变化",
        expected_version=version,
    )
    with pytest.raises(Conflict):
        reviews.record_review(
            engine,
            world["county1"],
            ids["X001"],
            outcome="stop",
            reviewed_on=on,
            reason="收入超标",
            expected_version=version,
        )
    assert rc.recipient_detail(engine, world["county1"], ids["X001"]).recipient.status == "active"
