"""Monthly payment rolls: generate, each check caught on a planted case, resolve, confirm
(maker-checker, frozen), regenerate idempotent, division scoping."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal
from pathlib import Path

import pytest
from case_world import build_world
from sqlalchemy import Engine, insert, select, text

from doudi.auth.roles import Forbidden
from doudi.auth.scope import NotFound
from doudi.cases import payroll
from doudi.cases import recipients as rc
from doudi.cases.errors import CaseError, Conflict, InvalidState
from doudi.db.models import AuditEntry, Recipient, RecipientTerm
from doudi.feeds.service import load_feed
from doudi.settings import Settings

AT = dt.datetime(2026, 12, 20, 10, 0)
PERIOD = "2026-12"


def enrol(
    engine: Engine, household_id: int, program: str, amount: str, covered: int = 3, **kw: object
) -> int:
    with engine.begin() as conn:
        return rc.enrol(
            conn,
            household_id=household_id,
            program=program,
            monthly_amount=Decimal(amount),
            covered_members=covered,
            start_month=str(kw.pop("start_month", "2026-11")),
            source="application",
            actor="county1",
            at=AT,
            **kw,  # type: ignore[arg-type]
        )


def plant(engine: Engine, household_id: int, program: str, amount: str, covered: int = 1) -> int:
    """A recipient written straight to the tables (as a migration of old data might leave it),
    bypassing enrol's checks."""
    with engine.begin() as conn:
        division = conn.execute(
            text("SELECT division_code FROM household_versions WHERE household_id = :h AND valid_to IS NULL"),
            {"h": household_id},
        ).scalar_one()
        rid = conn.execute(
            insert(Recipient)
            .values(
                household_id=household_id,
                program=program,
                division_code=division,
                township_code=division[:9],
                county_code=division[:6],
                source="registry",
                start_month="2026-01",
                status="active",
                review_cycle_months=12,
                created_at=AT,
                version=1,
            )
            .returning(Recipient.id)
        ).scalar_one()
        conn.execute(
            insert(RecipientTerm).values(
                recipient_id=rid,
                from_month="2026-01",
                monthly_amount=Decimal(amount),
                covered_members=covered,
                reason="迁移",
                created_by="tester",
                created_at=AT,
            )
        )
    return int(rid)


def load_deaths(engine: Engine, settings: Settings, tmp_path: Path, rows: list[tuple[str, str]]) -> None:
    path = tmp_path / "deaths-2026-12.csv"
    path.write_text(
        "公民身份号码,姓名,死亡日期\n" + "".join(f"{cid},某某,{day}\n" for cid, day in rows), encoding="utf-8"
    )
    load_feed(engine, settings, "death", path, PERIOD, actor="tester")


def member_ids(engine: Engine, household_id: int) -> dict[str, tuple[int, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                """SELECT pv.relation, p.id, p.citizen_id FROM person_versions pv JOIN persons p ON p.id = pv.person_id
                   WHERE pv.household_id = :h AND pv.valid_to IS NULL"""
            ),
            {"h": household_id},
        ).all()
    return {r[0]: (int(r[1]), str(r[2])) for r in rows}


@pytest.fixture
def planted(engine: Engine, settings: Settings, tmp_path: Path) -> dict[str, object]:
    """County 520102 with one recipient per check, one clean line and one not on the roll."""
    world = build_world(engine, with_alerts=False)
    h = world.households
    ids: dict[str, int] = {}
    ids["dead"] = enrol(engine, h["N001"], "dibao", "500")
    spouse = member_ids(engine, h["N003"])["spouse"][0]
    ids["over"] = enrol(engine, h["N003"], "dibao", "9999")
    ids["clean"] = enrol(engine, h["N003"], "disability_living_subsidy", "80", covered=1, person_id=spouse)
    ids["dup_dibao"] = enrol(engine, h["X001"], "dibao", "400")
    ids["dup_tekun"] = plant(engine, h["X001"], "tekun", "900")
    ids["moved"] = enrol(engine, h["N002"], "dibao", "300")
    ids["zero"] = plant(engine, h["N002"], "disability_care_subsidy", "0")
    ids["stopped"] = enrol(engine, h["Y001"], "tekun", "1200", covered=1)  # county 520103: not on the roll
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE household_versions SET division_code = '520103001001' WHERE household_id = :h"),
            {"h": h["N002"]},
        )
    head = member_ids(engine, h["N001"])["head"][1]
    load_deaths(engine, settings, tmp_path, [(head, "2026-12-05"), (world.citizen_ids["Y001"], "2027-01-03")])
    return {"world": world, "ids": ids}


def lines(engine: Engine, roll_id: int) -> dict[int, tuple[str | None, Decimal, int]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT recipient_id, problem, amount, covered_members FROM payment_roll_lines WHERE roll_id = :r"
            ),
            {"r": roll_id},
        ).all()
    return {int(r[0]): (r[1], Decimal(str(r[2])).quantize(Decimal("0.01")), int(r[3])) for r in rows}


def test_generate_and_check_catch_each_planted_problem(engine: Engine, planted: dict) -> None:
    world, ids = planted["world"], planted["ids"]
    roll = payroll.generate_roll(engine, world["county1"], "520102", PERIOD, now=AT)
    assert (roll.status, roll.lines, roll.county_name) == ("draft", 7, "南明区")
    assert ids["stopped"] not in lines(engine, roll.id)
    checked = payroll.check_roll(engine, world["county1"], roll.id, now=AT)
    got = {rid: v[0] for rid, v in lines(engine, roll.id).items()}
    assert got == {
        ids["dead"]: "dead",
        ids["over"]: "over_standard",
        ids["clean"]: None,
        ids["dup_dibao"]: "duplicate",
        ids["dup_tekun"]: "duplicate",
        ids["moved"]: "outside_division",
        ids["zero"]: "outside_division",  # moved first: the earlier problem wins
    }
    assert checked.status == "checked" and checked.problems == 6 and checked.unresolved == 6
    assert checked.problem_counts == {"dead": 1, "duplicate": 2, "outside_division": 2, "over_standard": 1}
    assert checked.total == Decimal("500") + Decimal("9999") + 80 + 400 + 900 + 300
    page = payroll.roll_lines(engine, world["county1"], roll.id, problems_only=True)
    details = {r.recipient_id: r.problem_detail for r in page.rows}
    assert "2026-12-05" in details[ids["dead"]] and "领取人" in details[ids["dead"]]
    assert "特困" in details[ids["dup_dibao"]] and "低保" in details[ids["dup_tekun"]]
    assert "520103001001" in details[ids["moved"]]
    assert details[ids["over"]].endswith("元") and "上限" in details[ids["over"]]
    assert page.rows[0].payee_citizen_id.count("*") == 10  # masked


def test_zero_amount_and_member_death(engine: Engine, settings: Settings, tmp_path: Path) -> None:
    world = build_world(engine, with_alerts=False)
    h = world.households
    zero = plant(engine, h["N003"], "dibao", "0", covered=3)
    rid = enrol(engine, h["N001"], "dibao", "500")
    child = member_ids(engine, h["N001"])["child"][1]
    load_deaths(engine, settings, tmp_path, [(child, "2026-12-31")])
    roll = payroll.generate_roll(engine, world["county1"], "520102", PERIOD, now=AT)
    payroll.check_roll(engine, world["county1"], roll.id, now=AT)
    got = lines(engine, roll.id)
    assert got[zero][0] == "zero_amount" and got[rid][0] == "dead"
    page = payroll.roll_lines(engine, world["county1"], roll.id, problems_only=True)
    assert any("核减保障人数" in (r.problem_detail or "") for r in page.rows)


def test_changes_take_effect_on_the_roll_of_the_right_month(engine: Engine) -> None:
    world = build_world(engine, with_alerts=False)
    h = world.households
    up = enrol(engine, h["N001"], "dibao", "500")
    down = enrol(engine, h["N003"], "dibao", "500")
    stop = enrol(engine, h["X001"], "dibao", "500")
    fade = enrol(engine, h["N002"], "dibao", "500")
    c1 = world["county1"]
    rc.change_recipient(
        engine, world["worker1"], up, from_month="2027-01", monthly_amount="650", reason="增加", now=AT
    )
    rc.change_recipient(
        engine, world["worker1"], down, from_month="2027-02", monthly_amount="200", reason="减少", now=AT
    )
    rc.stop_recipient(engine, world["worker2"], stop, from_month="2027-01", reason="死亡", now=AT)
    rc.start_phase_out(engine, c1, fade, from_month="2027-01", months=2, reason="就业增收", now=AT)
    amounts = {}
    for p in ("2026-12", "2027-01", "2027-02", "2027-03"):
        roll = payroll.generate_roll(engine, c1, "520102", p, now=AT)
        amounts[p] = {rid: v[1] for rid, v in lines(engine, roll.id).items()}
    d = Decimal
    assert amounts["2026-12"] == {up: d("500.00"), down: d("500.00"), stop: d("500.00"), fade: d("500.00")}
    assert amounts["2027-01"] == {up: d("650.00"), down: d("500.00"), fade: d("500.00")}
    assert amounts["2027-02"] == {up: d("650.00"), down: d("200.00"), fade: d("500.00")}
    assert amounts["2027-03"] == {up: d("650.00"), down: d("200.00")}


def test_regenerate_is_idempotent_and_confirm_freezes(engine: Engine, planted: dict) -> None:
    world, ids = planted["world"], planted["ids"]
    c1, c1b = world["county1"], world["county1b"]
    first = payroll.generate_roll(engine, c1, "520102", PERIOD, now=AT)
    before = lines(engine, first.id)
    again = payroll.generate_roll(engine, c1, "520102", PERIOD, now=AT)
    assert again.id == first.id and lines(engine, again.id) == before and again.total == first.total
    with pytest.raises(InvalidState):
        payroll.confirm_roll(engine, c1b, first.id)  # not checked yet
    roll = payroll.check_roll(engine, c1, first.id, now=AT)
    with pytest.raises(CaseError) as err:
        payroll.confirm_roll(engine, c1b, roll.id)
    assert err.value.code == "unresolved_problems"
    page = payroll.roll_lines(engine, c1, roll.id, problems_only=True)
    by_recipient = {r.recipient_id: r for r in page.rows}
    for rid, line in by_recipient.items():
        exclude = rid in (ids["dead"], ids["dup_tekun"], ids["moved"], ids["zero"], ids["over"])
        roll = payroll.resolve_line(
            engine, c1, line.id, exclude=exclude, resolution="核实" if not exclude else "剔除", now=AT
        )
    assert roll.unresolved == 0 and roll.excluded == 5
    assert roll.total == Decimal("80.00") + Decimal("400.00")
    # Re-checking keeps the resolutions of lines whose problem is unchanged.
    roll = payroll.check_roll(engine, c1, roll.id, now=AT)
    assert roll.unresolved == 0 and roll.total == Decimal("480.00")
    with pytest.raises(CaseError) as err:
        payroll.confirm_roll(engine, c1, roll.id)
    assert err.value.code == "maker_checker"
    with pytest.raises(Conflict):
        payroll.confirm_roll(engine, c1b, roll.id, expected_version=roll.version - 1)
    done = payroll.confirm_roll(engine, c1b, roll.id, expected_version=roll.version, now=AT)
    assert (done.status, done.confirmed_by, done.total) == ("confirmed", "county1b", Decimal("480.00"))
    for attempt in (
        lambda: payroll.generate_roll(engine, c1, "520102", PERIOD),
        lambda: payroll.check_roll(engine, c1, roll.id),
        lambda: payroll.resolve_line(engine, c1, page.rows[0].id, exclude=False, resolution="x"),
    ):
        with pytest.raises(InvalidState):
            attempt()
    assert lines(engine, roll.id) == lines(engine, first.id)
    # A change may not reach back into the paid month.
    with pytest.raises(CaseError) as err:
        rc.change_recipient(engine, c1, ids["dup_dibao"], from_month=PERIOD, monthly_amount="10", reason="x")
    assert err.value.code == "month_paid"
    rc.change_recipient(engine, c1, ids["dup_dibao"], from_month="2027-01", monthly_amount="10", reason="x")
    with engine.connect() as conn:
        events = [
            e
            for (e,) in conn.execute(
                text(
                    "SELECT event FROM case_events WHERE case_type = 'payment_roll' AND case_id = :r ORDER BY id"
                ),
                {"r": roll.id},
            )
        ]
    assert events[:3] == ["generated", "regenerated", "checked"] and events[-1] == "confirmed"
    assert events.count("line_excluded") == 5 and events.count("line_kept") == 1


def test_rolls_are_scoped_to_the_county(engine: Engine, planted: dict) -> None:
    world = planted["world"]
    roll = payroll.generate_roll(engine, world["county1"], "520102", PERIOD, now=AT)
    with pytest.raises(NotFound):
        payroll.generate_roll(engine, world["county2"], "520102", PERIOD)
    for who in ("county2", "worker2", "worker1", "village1"):
        with pytest.raises(NotFound):
            payroll.roll_summary(engine, world[who], roll.id)
        with pytest.raises(NotFound):
            payroll.roll_lines(engine, world[who], roll.id)
        assert payroll.list_rolls(engine, world[who]) == []
    with pytest.raises(NotFound):
        payroll.check_roll(engine, world["county2"], roll.id)
    with pytest.raises(NotFound):
        payroll.confirm_roll(engine, world["county2"], roll.id)
    with pytest.raises(NotFound):
        payroll.find_roll(engine, world["county2"], "520102", PERIOD)
    line_id = payroll.roll_lines(engine, world["county1"], roll.id).rows[0].id
    with pytest.raises(NotFound):
        payroll.resolve_line(engine, world["county2"], line_id, exclude=True, resolution="x")
    with pytest.raises(Forbidden):
        payroll.generate_roll(engine, world["worker1"], "520102", PERIOD)
    assert [r.id for r in payroll.list_rolls(engine, world["analyst"])] == [roll.id]
    assert [r.id for r in payroll.list_rolls(engine, world["county1"], period=PERIOD)] == [roll.id]
    with engine.connect() as conn:
        denied = conn.execute(
            select(AuditEntry.actor, AuditEntry.object_type).where(AuditEntry.action == "access_denied")
        ).all()
    assert ("county2", "payment_roll") in denied and ("worker2", "payment_roll") in denied


def test_unmasked_lines_need_a_reason_and_are_audited(engine: Engine, planted: dict) -> None:
    world = planted["world"]
    roll = payroll.generate_roll(engine, world["county1"], "520102", PERIOD, now=AT)
    with pytest.raises(CaseError):
        payroll.roll_lines(engine, world["county1"], roll.id, unmasked=True)
    page = payroll.roll_lines(engine, world["county1"], roll.id, unmasked=True, reason="核对银行退票")
    assert all("*" not in r.payee_citizen_id for r in page.rows if r.payee_citizen_id)
    with engine.connect() as conn:
        audited = conn.execute(
            select(AuditEntry.actor, AuditEntry.reason).where(AuditEntry.action == "view_unmasked")
        ).all()
    assert audited == [("county1", "核对银行退票")]


def test_two_reviewers_resolving_at_once_one_gets_a_conflict(engine: Engine, planted: dict) -> None:
    world = planted["world"]
    roll = payroll.generate_roll(engine, world["county1"], "520102", PERIOD, now=AT)
    roll = payroll.check_roll(engine, world["county1"], roll.id, now=AT)
    first, second = payroll.roll_lines(engine, world["county1"], roll.id, problems_only=True).rows[:2]
    start = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def act(user: str, line_id: int) -> None:
        start.wait()
        try:
            payroll.resolve_line(
                engine,
                world[user],
                line_id,
                exclude=True,
                resolution="剔除",
                expected_version=roll.version,
                now=AT,
            )
            outcomes[user] = "ok"
        except Conflict:
            outcomes[user] = "conflict"

    threads = [
        threading.Thread(target=act, args=("county1", first.id)),
        threading.Thread(target=act, args=("county1b", second.id)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes.values()) == ["conflict", "ok"]
    after = payroll.roll_summary(engine, world["county1"], roll.id)
    assert after.version == roll.version + 1 and after.excluded == 1
