"""Applications: intake, maker-checker review, decision, emergency pay-first, scoping."""

from __future__ import annotations

import datetime as dt

import pytest
from case_world import build_world
from sqlalchemy import Connection, Engine, select

from doudi.cases import applications as apps
from doudi.cases.errors import CaseError
from doudi.db.models import Application, CaseEvent

NOW = dt.datetime(2026, 12, 1, 10, 0)


def _events(conn: Connection, app_id: int) -> list[str]:
    return list(
        conn.execute(
            select(CaseEvent.event)
            .where(CaseEvent.case_type == "application", CaseEvent.case_id == app_id)
            .order_by(CaseEvent.id)
        ).scalars()
    )


def test_open_application_records_deadline_and_event(engine: Engine) -> None:
    world = build_world(engine, with_alerts=False)
    with engine.begin() as conn:
        app_id = apps.open_application(
            conn,
            household_id=world.households["N003"],
            program="dibao",
            channel="self",
            actor="worker1",
            at=NOW,
        )
    with engine.connect() as conn:
        row = conn.execute(select(Application.__table__).where(Application.id == app_id)).one()
        events = _events(conn, app_id)
    assert row.status == "submitted"
    assert row.township_code == "520102001" and row.county_code == "520102"
    assert row.division_code == "520102001001"
    # 2026-12-01 (Tuesday) + 30 working days = 2027-01-12
    assert row.deadline == dt.date(2027, 1, 12)
    assert row.relative_flag is False
    assert events == ["submitted"]
    with engine.begin() as conn, pytest.raises(CaseError) as exc:
        apps.open_application(
            conn,
            household_id=world.households["N003"],
            program="dibao",
            channel="self",
            actor="worker1",
            at=NOW,
        )
    assert exc.value.code == "application_exists"
