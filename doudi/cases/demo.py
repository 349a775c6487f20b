"""The case-work part of ``doudi demo``: staff accounts for one township and its county, the
registry's caseload made recipients, overdue alerts escalated, the county's payment roll of
the month generated and checked, and the 动态清零 figures.

Everything is idempotent: a second demo run finds the accounts, recipients and roll in place
and changes nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Engine, text

from doudi.auth import Actor
from doudi.auth.scope import NotFound
from doudi.auth.users import create_user, get_user
from doudi.cases import alert_work, ledger, payroll
from doudi.cases.payroll import RollSummary
from doudi.cases.recipients import EnrolCounts, enrol_from_registry
from doudi.cases.stats import ClosureStats, closure_stats

DEMO_PASSWORD = "doudi-demo-2026"


@dataclass(frozen=True)
class DemoAccount:
    username: str
    role: str
    division_code: str


@dataclass
class DemoCasework:
    township_code: str
    county_code: str
    accounts: list[DemoAccount]
    enrolled: EnrolCounts
    recipients: list[tuple[str, int, Decimal]]  # program, recipients, monthly amount in force
    escalated: int
    assigned: int
    roll: RollSummary
    roll_generated: bool
    stats: ClosureStats


def demo_township(engine: Engine) -> tuple[str, str]:
    """The township with the most open alerts (ties: the lowest code), and a village of it."""
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT township_code, count(*) AS n FROM alerts "
                "WHERE closed_at IS NULL AND length(township_code) = 9 "
                "GROUP BY township_code ORDER BY n DESC, township_code LIMIT 1"
            )
        ).first()
        township = (
            str(row[0])
            if row
            else str(conn.execute(text("SELECT min(code) FROM divisions WHERE level = 4")).scalar())
        )
        village = conn.execute(
            text("SELECT min(code) FROM divisions WHERE parent_code = :t"), {"t": township}
        ).scalar()
    return township, str(village or township)


def _accounts(township: str, village: str) -> list[DemoAccount]:
    county = township[:6]
    return [
        DemoAccount("demo.village", "village_assistant", village),
        DemoAccount("demo.worker", "township_caseworker", township),
        DemoAccount("demo.checker", "township_reviewer", township),
        DemoAccount("demo.county", "county_reviewer", county),
        DemoAccount("demo.county2", "county_reviewer", county),
        DemoAccount("demo.analyst", "provincial_analyst", county[:2] + "0000"),
        DemoAccount("demo.admin", "admin", county[:2] + "0000"),
    ]


def ensure_accounts(engine: Engine, accounts: list[DemoAccount], *, created_by: str) -> None:
    for a in accounts:
        if get_user(engine, a.username) is None:
            create_user(
                engine,
                username=a.username,
                display_name=a.username,
                role=a.role,
                division_code=a.division_code,
                password=DEMO_PASSWORD,
                created_by=created_by,
            )


def _recipients_by_program(engine: Engine, month: str) -> list[tuple[str, int, Decimal]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                """SELECT r.program, count(*), coalesce(sum(t.monthly_amount), 0)
                   FROM recipients r
                   JOIN recipient_terms t ON t.recipient_id = r.id AND t.from_month <= :m
                        AND (t.to_month IS NULL OR t.to_month >= :m)
                   WHERE r.start_month <= :m AND (r.end_month IS NULL OR r.end_month >= :m)
                   GROUP BY r.program ORDER BY count(*) DESC"""
            ),
            {"m": month},
        ).all()
    return [(str(p), int(n), Decimal(str(s))) for p, n, s in rows]


def demo_casework(
    engine: Engine, *, on: dt.date, period: str, actor: str, now: dt.datetime | None = None
) -> DemoCasework:
    """Case work on the demo province after its monthly run (see the module docstring)."""
    at = now or ledger.now()
    township, village = demo_township(engine)
    accounts = _accounts(township, village)
    ensure_accounts(engine, accounts, created_by=actor)
    enrolled = enrol_from_registry(engine, on=on, actor=actor, now=at)
    escalated = alert_work.escalate_overdue(engine, now=at, actor_name=actor)
    # The demo township's unassigned alerts go to its caseworker (none left on a rerun).
    checker = Actor("demo.checker", "township_reviewer", township)
    assigned = sum(alert_work.assign_open(engine, checker, township, now=at).values())
    county = Actor("demo.county", "county_reviewer", township[:6])
    try:
        roll = payroll.find_roll(engine, county, township[:6], period)
        generated = False
    except NotFound:
        roll = payroll.generate_roll(engine, county, township[:6], period, now=at)
        roll = payroll.check_roll(engine, county, roll.id, now=at)
        generated = True
    analyst = Actor("demo.analyst", "provincial_analyst", township[:2] + "0000")
    stats = closure_stats(engine, analyst, as_of=at.date())
    return DemoCasework(
        township_code=township,
        county_code=township[:6],
        accounts=accounts,
        enrolled=enrolled,
        recipients=_recipients_by_program(engine, period),
        escalated=escalated,
        assigned=assigned,
        roll=roll,
        roll_generated=generated,
        stats=stats,
    )
