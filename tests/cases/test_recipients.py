"""Recipients: enrolment, exclusivity, and changes taking effect from the right month."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest
from case_world import build_world
from sqlalchemy import Connection, Engine, select, text

from doudi.cases import recipients as rc
from doudi.cases.errors import CaseError, Conflict, InvalidState
from doudi.db.models import HouseholdCategory, Recipient

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
