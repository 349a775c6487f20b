"""The whole loop on a synthetic province, on SQLite and on PostgreSQL:

monthly run → alerts → assignment → home visit → decision → application → economic check →
assessment → review → 公示 → approval → recipient → the county's payment roll (checked,
confirmed, exported) → next month's run, which does not raise the handled events again;
the household's chain and the 动态清零 figures show it all.

Two alerts are worked: a hardship alert for a household outside 低保, decided "enrol in 低保"
(the application route), and an ineligibility alert (a vehicle) on a 低保 household, decided
"stop the payment" (the payment roll of the next month leaves it out).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import openpyxl
import pytest
from sqlalchemy import Engine, text

from doudi.auth import Actor
from doudi.auth.users import create_user
from doudi.cases import alert_work, applications, assessment, economic_check, payroll, recipients
from doudi.cases.alert_views import alert_detail, inbox
from doudi.cases.chain import household_chain
from doudi.cases.payroll_xlsx import export_roll_xlsx
from doudi.cases.stats import closure_stats
from doudi.feeds.service import load_feed
from doudi.feeds.synthetic import generate_feeds
from doudi.monitor.run import run_monitor
from doudi.registry.demo import build_demo
from doudi.settings import Settings

pytestmark = pytest.mark.slow

AS_OF = dt.date(2026, 11, 1)
PERSONS = 20_000
RUN_NOV = dt.datetime(2026, 12, 2, 9, 0)
RUN_DEC = dt.datetime(2027, 1, 3, 9, 0)
HARDSHIP = (
    "catastrophic_medical_spending",
    "medical_spike_temporary_assistance",
    "only_earner_unemployed",
    "main_earner_died",
    "new_severe_disability",
    "disaster_loss",
    "house_collapsed",
)


def _load(engine: Engine, settings: Settings, periods: list[str]) -> None:
    incoming = settings.data_dir / "incoming"
    for f in generate_feeds(settings.data_dir / "population", periods, incoming, seed=11, style="clean"):
        load_feed(engine, settings, f.kind, f.path, f.period, actor="tester")


def _one(engine: Engine, sql: str, **params: Any) -> Any:
    with engine.connect() as conn:
        return conn.execute(text(sql), params).first()


def _staff(engine: Engine, towns: set[str]) -> dict[str, Actor]:
    """A caseworker and a reviewer in each township, two reviewers in their county."""
    staff: dict[str, tuple[str, str]] = {}
    for town in sorted(towns):
        staff[f"worker{town}"] = ("township_caseworker", town)
        staff[f"checker{town}"] = ("township_reviewer", town)
    county = next(iter(towns))[:6]
    staff["county"] = ("county_reviewer", county)
    staff["county_b"] = ("county_reviewer", county)
    return {
        name: create_user(
            engine, username=name, display_name=name, role=role, division_code=division, created_by="tester"
        ).actor()
        for name, (role, division) in staff.items()
    }


def _pick(engine: Engine) -> tuple[dict[str, Any], dict[str, Any]]:
    """A hardship alert on a registered household outside 低保 and a vehicle alert on a 低保
    household with a recipient, in the same county."""
    with engine.connect() as conn:
        rows = [
            dict(r)
            for r in conn.execute(
                text(
                    """SELECT a.id, a.rule_id, a.household_id, a.township_code, a.subject_key, a.event_key,
                              (SELECT count(*) FROM recipients r WHERE r.household_id = a.household_id
                                 AND r.program = 'dibao' AND r.status = 'active') AS in_dibao
                       FROM alerts a WHERE a.registered AND a.household_id IS NOT NULL
                         AND length(a.township_code) = 9 AND a.closed_at IS NULL ORDER BY a.id"""
                )
            ).mappings()
        ]
    hardship = [r for r in rows if r["rule_id"] in HARDSHIP and r["in_dibao"] == 0]
    vehicle = [r for r in rows if r["rule_id"] == "ineligible_vehicle" and r["in_dibao"] == 1]
    counties = {r["township_code"][:6] for r in vehicle} & {r["township_code"][:6] for r in hardship}
    assert counties, "the synthetic month has both kinds of alert in some county"
    county = min(counties)
    return (
        next(r for r in hardship if r["township_code"].startswith(county)),
        next(r for r in vehicle if r["township_code"].startswith(county)),
    )


def test_alert_to_payment_and_no_repeat_next_month(engine: Engine, settings: Settings) -> None:
    build_demo(engine, settings=settings, persons=PERSONS, seed=11, as_of=AS_OF, actor="tester")
    _load(engine, settings, ["2026-10", "2026-11"])
    first = run_monitor(engine, settings, period="2026-11", actor="tester", now=RUN_NOV)
    assert first.merge.new > 20
    enrolled = recipients.enrol_from_registry(engine, on=dt.date(2026, 12, 1), actor="tester", now=RUN_NOV)
    assert enrolled.by_program["dibao"] > 100

    hardship, vehicle = _pick(engine)
    township = hardship["township_code"]
    staff = _staff(engine, {township, vehicle["township_code"]})
    worker, checker = staff[f"worker{township}"], staff[f"checker{township}"]
    county, county_b = staff["county"], staff["county_b"]

    # Each township's inbox holds its alert, sorted by due date; its worker takes it.
    day = dt.datetime(2026, 12, 3, 10, 0)
    for a in (hardship, vehicle):
        own = staff[f"worker{a['township_code']}"]
        page = inbox(engine, own, today=dt.date(2026, 12, 3), page_size=500)
        assert a["id"] in [r.id for r in page.rows]
        assert [r.due_date for r in page.rows] == sorted(r.due_date for r in page.rows)
        assert all(r.division_code.startswith(a["township_code"]) for r in page.rows)
        alert_work.assign(engine, own, a["id"], own.username, now=day)
        alert_work.record_verification(
            engine,
            own,
            a["id"],
            visited_on=dt.date(2026, 12, 4),
            visitors="经办人、村协理员",
            met="户主本人",
            findings="入户核实情况属实。",
            attachments=[("visit.jpg", b"\xff\xd8synthetic")],
            data_dir=settings.data_dir,
            now=day + dt.timedelta(days=1),
        )

    # Hardship: enrol in 低保 → an application in the same transaction as the decision.
    alert_work.decide(
        engine,
        worker,
        hardship["id"],
        [alert_work.Outcome("enrol_dibao", "家庭人均收入低于低保标准，引导申请低保。")],
        now=dt.datetime(2026, 12, 5, 16, 0),
    )
    detail = alert_detail(engine, worker, hardship["id"])
    assert detail.status == "closed" and detail.closed_at is not None
    application_id = detail.decisions[0].application_id
    assert application_id is not None

    # Vehicle: stop the household's 低保 from January.
    rec = _one(
        engine,
        "SELECT id FROM recipients WHERE household_id = :h AND program = 'dibao'",
        h=vehicle["household_id"],
    )[0]
    alert_work.decide(
        engine,
        staff[f"worker{vehicle['township_code']}"],
        vehicle["id"],
        [
            alert_work.Outcome(
                "stop_payment", "家庭名下有机动车，经核实不符合低保条件。", from_month="2027-01"
            )
        ],
        now=dt.datetime(2026, 12, 5, 16, 30),
    )
    assert _one(engine, "SELECT status, end_month FROM recipients WHERE id = :r", r=rec) == (
        "stopped",
        "2026-12",
    )

    # The application: check, assess, review (not by its recorder), 公示 7 days, county approval.
    economic_check.run_economic_check(engine, worker, application_id, now=dt.datetime(2026, 12, 7, 9, 0))
    view = assessment.assess_application(engine, worker, application_id, now=dt.datetime(2026, 12, 7, 9, 5))
    amount = view.proposed_amount if view.proposed_amount and view.proposed_amount > 0 else Decimal("300.00")
    applications.review_application(
        engine,
        checker,
        application_id,
        "approve",
        reason="材料齐全，同意。",
        now=dt.datetime(2026, 12, 8, 9, 0),
    )
    with pytest.raises(applications.CaseError):  # still in the 7-day notice
        applications.decide_application(
            engine, county, application_id, "approve", amount=amount, now=dt.datetime(2026, 12, 10, 9, 0)
        )
    approved = applications.decide_application(
        engine,
        county,
        application_id,
        "approve",
        amount=amount,
        start_month="2027-01",
        reason="公示无异议，批准。",
        now=dt.datetime(2026, 12, 16, 9, 0),
    )
    assert approved.status == "approved" and approved.recipient_id is not None

    # January's roll: the new recipient in, the stopped one out; checked, confirmed by another.
    county_code = township[:6]
    roll = payroll.generate_roll(engine, county, county_code, "2027-01", now=dt.datetime(2026, 12, 20, 9, 0))
    roll = payroll.check_roll(engine, county, roll.id, now=dt.datetime(2026, 12, 20, 9, 5))
    lines = {r[0]: r[1] for r in _lines(engine, roll.id)}
    assert approved.recipient_id in lines and lines[approved.recipient_id] == amount
    assert rec not in lines
    for line_id in _problem_lines(engine, roll.id):
        payroll.resolve_line(
            engine,
            county,
            line_id,
            exclude=True,
            resolution="核实后暂停发放。",
            now=dt.datetime(2026, 12, 20, 10, 0),
        )
    with pytest.raises(applications.CaseError):  # maker-checker on the roll
        payroll.confirm_roll(engine, county, roll.id, now=dt.datetime(2026, 12, 21, 9, 0))
    confirmed = payroll.confirm_roll(engine, county_b, roll.id, now=dt.datetime(2026, 12, 21, 9, 0))
    assert confirmed.status == "confirmed"
    out = export_roll_xlsx(engine, county, roll.id, settings.data_dir / "exports" / "roll.xlsx")
    ws = openpyxl.load_workbook(out.path, read_only=True).worksheets[0]
    cells = [c for row in ws.iter_rows(values_only=True) for c in row if c is not None]
    assert any("发放名册" in str(c) for c in cells)

    # The chain of the enrolled household shows alert → visit → decision → approval → payment.
    chain = household_chain(engine, worker, hardship["household_id"])
    kinds = [e.kind for e in chain.entries]
    assert kinds.index("alert") < kinds.index("visit") < kinds.index("decision")
    assert "payment" in kinds
    assert [e.at for e in chain.entries] == sorted(e.at for e in chain.entries)

    # Next month: the handled events are not raised again; a rerun of November suppresses them.
    _load(engine, settings, ["2026-12"])
    run_monitor(engine, settings, period="2026-12", actor="tester", now=RUN_DEC)
    again = run_monitor(engine, settings, period="2026-11", actor="tester", now=RUN_DEC)
    assert again.merge.suppressed >= 2
    for a in (hardship, vehicle):
        n = _one(
            engine,
            "SELECT count(*) FROM alerts WHERE rule_id = :r AND subject_key = :s AND event_key = :e",
            r=a["rule_id"],
            s=a["subject_key"],
            e=a["event_key"],
        )[0]
        assert n == 1, f"{a['rule_id']} for {a['subject_key']} raised again"

    stats = closure_stats(engine, county, period="2026-12", as_of=dt.date(2026, 12, 31))
    assert stats.total.helped >= 2 and stats.total.verified_within_due >= 2
    assert stats.total.median_days_to_help is not None


def _lines(engine: Engine, roll_id: int) -> list[tuple[int, Decimal]]:
    with engine.connect() as conn:
        return [
            (int(r[0]), Decimal(str(r[1])))
            for r in conn.execute(
                text("SELECT recipient_id, amount FROM payment_roll_lines WHERE roll_id = :r"), {"r": roll_id}
            )
        ]


def _problem_lines(engine: Engine, roll_id: int) -> list[int]:
    with engine.connect() as conn:
        return [
            int(r[0])
            for r in conn.execute(
                text(
                    "SELECT id FROM payment_roll_lines WHERE roll_id = :r AND problem IS NOT NULL "
                    "AND resolution IS NULL"
                ),
                {"r": roll_id},
            )
        ]
