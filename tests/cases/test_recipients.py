"""Recipients: enrolment, exclusivity, and changes taking effect from the right month."""

from __future__ import annotations

import datetime as dt
import json
import threading
from decimal import Decimal
from typing import Any

import pytest
from case_world import build_world
from sqlalchemy import Connection, Engine, select, text

from doudi.auth.roles import Forbidden
from doudi.auth.scope import NotFound
from doudi.cases import recipients as rc
from doudi.cases.errors import CaseError, Conflict, InvalidState
from doudi.db.models import AuditEntry, HouseholdCategory, Recipient

R = Recipient.__table__
AT = dt.datetime(2026, 12, 20, 10, 0)


def events_of(conn: Connection, case_type: str, case_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        text("SELECT event, data FROM case_events WHERE case_type = :t AND case_id = :i ORDER BY id"),
        {"t": case_type, "i": case_id},
    )
    return [{"event": e, "data": json.loads(d) if d else {}} for e, d in rows]


def _enrol(engine: Engine, household_id: int, program: str = "dibao", **kw: object) -> int:
    args: dict[str, object] = {
        "household_id": household_id,
        "program": program,
        "monthly_amount": Decimal("500"),
        "covered_members": 3,
        "start_month": "2027-01",
        "source": "application",
        "actor": "county1",
        "at": AT,
    }
    args.update(kw)
    with engine.begin() as conn:
        return rc.enrol(conn, **args)  # type: ignore[arg-type]


def _amounts(engine: Engine, recipient_id: int, months: list[str]) -> list[Decimal | None]:
    with engine.connect() as conn:
        out = []
        for m in months:
            t = rc.term_in_force(conn, recipient_id, m)
            row = conn.execute(
                text("SELECT start_month, end_month FROM recipients WHERE id = :i"), {"i": recipient_id}
            ).one()
            paid = row.start_month <= m and (row.end_month is None or m <= row.end_month)
            out.append(Decimal(str(t.monthly_amount)) if t is not None and paid else None)
        return out


def test_enrol_writes_recipient_term_category_and_event(engine: Engine) -> None:
    world = build_world(engine, with_alerts=False)
    hid = world.households["N003"]  # 其他困难: no dibao category yet
    rid = _enrol(engine, hid, reason="申请批准")
    with engine.connect() as conn:
        r = conn.execute(select(R).where(R.c.id == rid)).one()
        cats = conn.execute(
            select(HouseholdCategory.category, HouseholdCategory.start_date).where(
                HouseholdCategory.household_id == hid
            )
        ).all()
        events = events_of(conn, "recipient", rid)
    assert (r.program, r.status, r.division_code, r.township_code, r.county_code) == (
        "dibao",
        "active",
        "520102001001",
        "520102001",
        "520102",
    )
    assert r.review_cycle_months == 12 and r.next_review_due == dt.date(2028, 1, 1)
    assert ("dibao", dt.date(2027, 1, 1)) in cats
    assert [e["event"] for e in events] == ["enrolled"]
    assert events[0]["data"]["monthly_amount"] == "500.00"
    assert _amounts(engine, rid, ["2026-12", "2027-01", "2030-05"]) == [
        None,
        Decimal("500.00"),
        Decimal("500.00"),
    ]


def test_enrol_keeps_an_open_category_and_reviews_irregular_income_every_six_months(engine: Engine) -> None:
    world = build_world(engine, with_alerts=False)
    hid = world.households["N001"]  # already 低保 in the registry since 2023-05-01
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE person_versions SET employment = 'flexible' WHERE household_id = :h AND relation = 'spouse'"
            ),
            {"h": hid},
        )
    rid = _enrol(engine, hid)
    with engine.connect() as conn:
        n = conn.execute(
            select(HouseholdCategory.id).where(
                HouseholdCategory.household_id == hid, HouseholdCategory.category == "dibao"
            )
        ).all()
        r = conn.execute(select(R.c.review_cycle_months, R.c.next_review_due).where(R.c.id == rid)).one()
    assert len(n) == 1
    assert (r.review_cycle_months, r.next_review_due) == (6, dt.date(2027, 7, 1))


def test_exclusive_programs_and_duplicates_are_refused(engine: Engine) -> None:
    world = build_world(engine, with_alerts=False)
    hid = world.households["N003"]
    _enrol(engine, hid)
    with pytest.raises(CaseError) as err:
        _enrol(engine, hid, program="tekun", start_month="2027-03")
    assert err.value.code == "exclusive_programs" and "不能同时享受" in err.value.message_zh
    with pytest.raises(CaseError) as err:
        _enrol(engine, hid, program="dibao", start_month="2027-03")
    assert err.value.code == "already_recipient"
    # Temporary assistance goes with 低保, and may be granted more than once.
    _enrol(engine, hid, program="temporary_assistance", end_month="2027-01")
    _enrol(engine, hid, program="temporary_assistance", start_month="2027-02", end_month="2027-02")


def test_increase_decrease_from_the_month_given(engine: Engine) -> None:
    world = build_world(engine, with_alerts=False)
    rid = _enrol(engine, world.households["N003"])
    with engine.begin() as conn:
        v = rc.apply_change(
            conn,
            rid,
            kind="adjust",
            from_month="2027-04",
            actor="worker1",
            at=AT,
            reason="收入减少",
            monthly_amount="650",
        )
    assert v == 2
    with engine.begin() as conn:
        rc.apply_change(
            conn,
            rid,
            kind="adjust",
            from_month="2027-07",
            actor="worker1",
            at=AT,
            reason="就业",
            monthly_amount="300",
            covered_members=2,
        )
    months = ["2027-01", "2027-03", "2027-04", "2027-06", "2027-07", "2028-01"]
    assert _amounts(engine, rid, months) == [Decimal(x) for x in ("500", "500", "650", "650", "300", "300")]
    with engine.connect() as conn:
        assert rc.term_in_force(conn, rid, "2027-08").covered_members == 2
        assert [e["event"] for e in events_of(conn, "recipient", rid)] == ["enrolled", "adjusted", "adjusted"]


def test_stop_ends_payment_and_category_from_the_month(engine: Engine) -> None:
    world = build_world(engine, with_alerts=False)
    hid = world.households["N003"]
    rid = _enrol(engine, hid)
    with engine.begin() as conn:
        rc.apply_change(
            conn, rid, kind="stop", from_month="2027-05", actor="worker1", at=AT, reason="收入超标"
        )
    assert _amounts(engine, rid, ["2027-04", "2027-05", "2027-06"]) == [Decimal("500.00"), None, None]
    with engine.connect() as conn:
        r = conn.execute(
            text("SELECT status, end_month, version FROM recipients WHERE id = :i"), {"i": rid}
        ).one()
        end = conn.execute(
            select(HouseholdCategory.end_date).where(
                HouseholdCategory.household_id == hid, HouseholdCategory.category == "dibao"
            )
        ).scalar_one()
    assert (r.status, r.end_month, r.version) == ("stopped", "2027-04", 2)
    assert end == dt.date(2027, 5, 1)
    with pytest.raises(InvalidState), engine.begin() as conn:
        rc.apply_change(
            conn,
            rid,
            kind="adjust",
            from_month="2027-03",
            actor="worker1",
            at=AT,
            reason="x",
            monthly_amount="1",
        )
    # Once stopped, the household may be enrolled in another program from the month after.
    _enrol(engine, hid, program="tekun", start_month="2027-05")


def test_phase_out_pays_the_months_then_stops(engine: Engine) -> None:
    world = build_world(engine, with_alerts=False)
    rid = _enrol(engine, world.households["N003"])
    with engine.begin() as conn:
        rc.apply_change(
            conn,
            rid,
            kind="phase_out",
            from_month="2027-03",
            actor="worker1",
            at=AT,
            reason="家庭收入超过低保标准",
            months=3,
        )
    assert _amounts(engine, rid, ["2027-02", "2027-03", "2027-05", "2027-06"]) == [
        Decimal("500.00"),
        Decimal("500.00"),
        Decimal("500.00"),
        None,
    ]
    with engine.connect() as conn:
        r = conn.execute(
            text("SELECT status, end_month, phase_out_end FROM recipients WHERE id = :i"), {"i": rid}
        ).one()
    assert tuple(r) == ("phase_out", "2027-05", "2027-05")
    # A decrease during the 渐退期 keeps its end.
    with engine.begin() as conn:
        rc.apply_change(
            conn,
            rid,
            kind="adjust",
            from_month="2027-04",
            actor="worker1",
            at=AT,
            reason="减半",
            monthly_amount="250",
        )
    assert _amounts(engine, rid, ["2027-03", "2027-04", "2027-05", "2027-06"]) == [
        Decimal("500.00"),
        Decimal("250.00"),
        Decimal("250.00"),
        None,
    ]
    with pytest.raises(InvalidState), engine.begin() as conn:
        rc.apply_change(conn, rid, kind="phase_out", from_month="2027-04", actor="worker1", at=AT, reason="x")


def test_stale_version_is_a_conflict(engine: Engine) -> None:
    world = build_world(engine, with_alerts=False)
    rid = _enrol(engine, world.households["N003"])
    with engine.begin() as conn:
        rc.apply_change(
            conn,
            rid,
            kind="adjust",
            from_month="2027-02",
            actor="worker1",
            at=AT,
            reason="a",
            monthly_amount="520",
            expected_version=1,
        )
    with pytest.raises(Conflict), engine.begin() as conn:
        rc.apply_change(
            conn,
            rid,
            kind="adjust",
            from_month="2027-03",
            actor="worker1b",
            at=AT,
            reason="b",
            monthly_amount="540",
            expected_version=1,
        )
    assert _amounts(engine, rid, ["2027-03"]) == [Decimal("520.00")]


def test_list_and_detail_are_scoped_masked_and_audited(engine: Engine) -> None:
    world = build_world(engine, with_alerts=False)
    h = world.households
    mine = _enrol(engine, h["N001"])
    other_town = _enrol(engine, h["X001"])
    other_county = _enrol(engine, h["Y001"], program="tekun", covered_members=1)
    rc.change_recipient(
        engine, world["worker1"], mine, from_month="2027-03", monthly_amount="520", reason="调整"
    )
    today = dt.date(2027, 3, 15)

    def ids(actor: str) -> set[int]:
        return {r.id for r in rc.list_recipients(engine, world[actor], today=today).rows}

    assert ids("worker1") == {mine} and ids("village1") == {mine}
    assert ids("worker2") == {other_town}
    assert ids("county1") == {mine, other_town} and ids("county2") == {other_county}
    assert ids("analyst") == {mine, other_town, other_county}
    page = rc.list_recipients(engine, world["worker1"], today=today)
    row = page.rows[0]
    assert (page.total, row.monthly_amount, row.program_label, row.status_label) == (
        1,
        Decimal("520.00"),
        "低保",
        "在保",
    )
    assert row.head_name == "甲*" and row.head_citizen_id.count("*") == 10
    assert rc.list_recipients(engine, world["worker1"], month="2027-02").rows[0].monthly_amount == Decimal(
        "500.00"
    )
    detail = rc.recipient_detail(
        engine, world["worker1"], mine, unmasked=True, reason="入户核对", today=today
    )
    assert detail.recipient.head_citizen_id == world.citizen_ids["N001"]
    assert [(t.from_month, t.to_month, t.monthly_amount) for t in detail.terms] == [
        ("2027-01", "2027-02", Decimal("500.00")),
        ("2027-03", None, Decimal("520.00")),
    ]
    assert [e.event for e in detail.events] == ["enrolled", "adjusted"]
    with pytest.raises(CaseError):
        rc.recipient_detail(engine, world["worker1"], mine, unmasked=True)
    for who, rid in (
        ("worker2", mine),
        ("worker1", other_town),
        ("county2", mine),
        ("county1", other_county),
    ):
        with pytest.raises(NotFound):
            rc.recipient_detail(engine, world[who], rid)
        with pytest.raises(NotFound):
            rc.change_recipient(engine, world[who], rid, from_month="2027-04", monthly_amount="1", reason="x")
        with pytest.raises(NotFound):
            rc.stop_recipient(engine, world[who], rid, from_month="2027-04", reason="x")
        with pytest.raises(NotFound):
            rc.start_phase_out(engine, world[who], rid, from_month="2027-04", reason="x")
    with pytest.raises(Forbidden):
        rc.stop_recipient(engine, world["village1"], mine, from_month="2027-04", reason="x")
    with engine.connect() as conn:
        audit = conn.execute(
            select(AuditEntry.actor, AuditEntry.action, AuditEntry.object_ref).where(
                AuditEntry.object_type == "recipient"
            )
        ).all()
    assert ("worker1", "view_unmasked", str(mine)) in audit
    assert ("worker2", "access_denied", str(mine)) in audit and (
        "county2",
        "access_denied",
        str(mine),
    ) in audit
    assert len([a for a in audit if a[1] == "access_denied"]) == 16


def test_concurrent_changes_one_gets_a_conflict(engine: Engine) -> None:
    world = build_world(engine, with_alerts=False)
    rid = _enrol(engine, world.households["N001"])
    seen = rc.recipient_detail(engine, world["worker1"], rid).recipient.version
    rc.change_recipient(
        engine,
        world["worker1"],
        rid,
        from_month="2027-02",
        monthly_amount="600",
        reason="a",
        expected_version=seen,
    )
    with pytest.raises(Conflict) as err:
        rc.stop_recipient(
            engine, world["worker1b"], rid, from_month="2027-02", reason="b", expected_version=seen
        )
    assert "已被他人修改" in err.value.message_zh
    detail = rc.recipient_detail(engine, world["worker1"], rid)
    assert detail.recipient.status == "active" and [e.event for e in detail.events] == [
        "enrolled",
        "adjusted",
    ]


def test_enrol_from_registry_is_set_based_and_idempotent(engine: Engine) -> None:
    world = build_world(engine, with_alerts=False)
    h = world.households
    with engine.begin() as conn:  # N001's child: severely disabled (护理补贴, and 生活补贴 in a 低保 family)
        conn.execute(
            text(
                """UPDATE person_versions SET disability_kind = 'physical', disability_grade = 1
                   WHERE household_id = :h AND relation = 'child'"""
            ),
            {"h": h["N001"]},
        )
        conn.execute(  # X001's head: flexible work, so the household is reviewed every 6 months
            text(
                "UPDATE person_versions SET employment = 'flexible' WHERE household_id = :h AND relation = 'head'"
            ),
            {"h": h["X001"]},
        )
    on = dt.date(2026, 12, 1)
    counts = rc.enrol_from_registry(engine, on=on, actor="migration", now=AT)
    assert counts.by_program == {
        "dibao": 2,
        "marginal": 1,
        "tekun": 1,
        "disability_care_subsidy": 1,
        "disability_living_subsidy": 1,
    }
    assert (counts.households, counts.skipped_existing) == (4, 0)
    with engine.connect() as conn:
        got = {
            (r.household_id, r.program): r
            for r in conn.execute(
                text(
                    """SELECT r.id, r.household_id, r.person_id, r.program, r.start_month, r.next_review_due,
                              r.review_cycle_months, r.county_code, t.monthly_amount, t.covered_members
                       FROM recipients r JOIN recipient_terms t ON t.recipient_id = r.id"""
                )
            )
        }
        events = conn.execute(text("SELECT count(*) FROM case_events WHERE event = 'enrolled'")).scalar_one()
    n001 = got[(h["N001"], "dibao")]
    assert (n001.start_month, Decimal(str(n001.monthly_amount)), n001.covered_members) == (
        "2026-12",
        Decimal("1967.40"),
        3,
    )
    assert str(n001.next_review_due) == "2027-05-01" and n001.review_cycle_months == 12
    y001 = got[(h["Y001"], "tekun")]
    assert (Decimal(str(y001.monthly_amount)), y001.covered_members, str(y001.next_review_due)) == (
        Decimal("1211.40"),
        1,
        "2027-01-01",
    )
    assert Decimal(str(got[(h["N002"], "marginal")].monthly_amount)) == 0
    assert got[(h["X001"], "dibao")].review_cycle_months == 6
    care = got[(h["N001"], "disability_care_subsidy")]
    assert Decimal(str(care.monthly_amount)) == Decimal("110.00") and care.person_id is not None
    assert (h["N003"], "dibao") not in got  # 其他困难: not a recipient
    assert events == 6
    again = rc.enrol_from_registry(engine, on=on, actor="migration", now=AT)
    assert (again.total, again.skipped_existing) == (0, 4)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM recipients")).scalar_one() == 6
    # A recipient enrolled by an application before go-live is not enrolled twice; new ids follow on.
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE household_categories SET category = 'dibao' WHERE household_id = :h"),
            {"h": h["N003"]},
        )
    third = rc.enrol_from_registry(engine, on=on, actor="migration", now=AT)
    assert third.by_program == {"dibao": 1}
    later = _enrol(engine, h["N002"], program="temporary_assistance", end_month="2027-01")
    assert later == 8


def test_two_sessions_at_once_one_gets_a_conflict(engine: Engine) -> None:
    world = build_world(engine, with_alerts=False)
    rid = _enrol(engine, world.households["N001"])
    start = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def act(user: str) -> None:
        start.wait()
        try:
            if user == "worker1":
                rc.change_recipient(
                    engine,
                    world[user],
                    rid,
                    from_month="2027-02",
                    monthly_amount="600",
                    reason="a",
                    expected_version=1,
                )
            else:
                rc.stop_recipient(
                    engine, world[user], rid, from_month="2027-02", reason="b", expected_version=1
                )
            outcomes[user] = "ok"
        except Conflict:
            outcomes[user] = "conflict"

    threads = [threading.Thread(target=act, args=(u,)) for u in ("worker1", "worker1b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes.values()) == ["conflict", "ok"]
    detail = rc.recipient_detail(engine, world["worker1"], rid)
    assert detail.recipient.version == 2 and len(detail.events) == 2
    winner = "adjusted" if outcomes["worker1"] == "ok" else "stopped"
    assert detail.events[-1].event == winner
    # The loser's term changes were rolled back with it: one term per change made.
    assert len(detail.terms) == (2 if winner == "adjusted" else 1)
