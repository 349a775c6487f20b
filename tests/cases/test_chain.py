"""A household's assistance chain: every step of its alerts, applications, payments and
reviews in the order they happened, scoped to the household's division."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from case_world import RAISED, build_world
from sqlalchemy import Engine, select

from doudi.auth.scope import NotFound
from doudi.cases import alert_work as aw
from doudi.cases import payroll, reviews
from doudi.cases.alert_work import Outcome
from doudi.cases.chain import find_household, household_chain
from doudi.cases.recipients import enrol
from doudi.db.models import AuditEntry


def test_chain_in_time_order_from_alert_to_payment_and_review(engine: Engine, tmp_path: Path) -> None:
    world = build_world(engine)
    alert = world.alerts["N003"]
    household = world.households["N003"]
    aw.assign(engine, world["worker1"], alert, "worker1b", now=dt.datetime(2026, 12, 2, 9, 0))
    aw.assign(
        engine,
        world["checker1"],
        alert,
        "worker1",
        reason="worker1b 休假",
        now=dt.datetime(2026, 12, 2, 14, 0),
    )
    aw.record_verification(
        engine,
        world["worker1"],
        alert,
        visited_on=dt.date(2026, 12, 3),
        visitors="张三、李四",
        met="户主及配偶",
        findings="户主住院，自付费用高。",
        data_dir=tmp_path,
        now=dt.datetime(2026, 12, 3, 15, 0),
    )
    decided = dt.datetime(2026, 12, 5, 10, 0)
    aw.decide(
        engine,
        world["worker1"],
        alert,
        [
            Outcome("refer_medical", "转介医疗救助"),
            Outcome("temporary_assistance", "先行救助", amount=Decimal("2000")),
        ],
        now=decided,
    )
    # the December roll of the county, generated, checked, confirmed by a second reviewer
    roll = payroll.generate_roll(
        engine, world["county1"], "520102", "2026-12", now=dt.datetime(2026, 12, 20, 10)
    )
    payroll.check_roll(engine, world["county1"], roll.id, now=dt.datetime(2026, 12, 20, 11))
    confirmed = dt.datetime(2026, 12, 21, 9, 0)
    payroll.confirm_roll(engine, world["county1b"], roll.id, now=confirmed)
    # later: 低保 from January, reviewed in July
    with engine.begin() as conn:
        dibao = enrol(
            conn,
            household_id=household,
            program="dibao",
            monthly_amount=Decimal("700"),
            covered_members=3,
            start_month="2027-01",
            source="application",
            actor="county1",
            at=dt.datetime(2026, 12, 28, 16, 0),
        )
    reviews.record_review(
        engine,
        world["worker1"],
        dibao,
        outcome="continue",
        reviewed_on=dt.date(2027, 6, 30),
        reason="收入无变化",
        now=dt.datetime(2027, 7, 1, 10, 0),
    )
    # another household's alert is no part of this chain
    aw.assign(engine, world["worker1"], world.alerts["N001"], "worker1", now=decided)

    chain = household_chain(engine, world["worker1"], household)
    assert (chain.household_no, chain.division_code) == ("N003", "520102001001")
    got = [(e.at, e.kind, e.title) for e in chain.entries]
    assert got == [
        (RAISED, "alert", "红色预警：医疗支出型困难"),
        (dt.datetime(2026, 12, 2, 9, 0), "event", "预警：分派"),
        (dt.datetime(2026, 12, 2, 14, 0), "event", "预警：改派"),
        (dt.datetime(2026, 12, 3, 15, 0), "visit", "入户核查（2026-12-03）"),
        (decided, "referral", "转介医疗救助"),
        (decided, "decision", "给予临时救助"),
        (decided, "event", "申请：受理申请"),
        (decided, "event", "救助对象：纳入救助"),
        (decided, "event", "申请：先行救助"),
        (confirmed, "payment", "2026-12 发放临时救助"),
        (dt.datetime(2026, 12, 28, 16, 0), "event", "救助对象：纳入救助"),
        (dt.datetime(2027, 7, 1, 10, 0), "review", "定期复核：继续保障"),
    ]
    e = chain.entries
    assert e[2].detail == "由 worker1b 改派给 worker1；理由：worker1b 休假" and e[2].actor == "checker1"
    assert "户主住院" in e[3].detail and e[3].actor == "worker1"
    assert e[5].detail == "理由：先行救助，金额 2000.00 元"
    assert e[9].detail == "2000.00 元，保障 3 人" and e[9].actor == "county1b"
    assert e[9].data["amount"] == Decimal("2000.00")
    assert [x.kind for x in chain.of_kind("referral")] == ["referral"]
    assert all(x.case_id != world.alerts["N001"] or x.case_type != "alert" for x in e)


def test_chain_is_scoped_to_where_the_household_lives(engine: Engine) -> None:
    world = build_world(engine)
    n003 = world.households["N003"]
    assert household_chain(engine, world["village1"], n003).entries[0].kind == "alert"
    assert household_chain(engine, world["county1"], n003).household_no == "N003"
    for user in ("worker2", "county2"):
        with pytest.raises(NotFound):
            household_chain(engine, world[user], n003)
    with engine.connect() as conn:
        denied = conn.execute(
            select(AuditEntry.actor, AuditEntry.object_type, AuditEntry.object_ref).where(
                AuditEntry.action == "access_denied"
            )
        ).all()
    assert sorted(denied) == [("county2", "household", str(n003)), ("worker2", "household", str(n003))]
    with pytest.raises(NotFound):
        household_chain(engine, world["worker1"], 999_999)


def test_find_household_by_number_or_id(engine: Engine) -> None:
    world = build_world(engine, with_alerts=False)
    assert find_household(engine, "N002") == world.households["N002"]
    assert find_household(engine, str(world.households["X001"])) == world.households["X001"]
    assert find_household(engine, "NOPE") is None
