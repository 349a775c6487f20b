"""Helpers walking an application through its steps, shared by the application tests."""

from __future__ import annotations

import datetime as dt

from case_world import World
from sqlalchemy import Connection, Engine, select, text

from doudi.cases import applications as apps
from doudi.cases.assessment import assess_application
from doudi.cases.economic_check import run_economic_check
from doudi.db.models import AuditEntry, CaseEvent

DAY = dt.datetime(2026, 12, 1, 10, 0)  # a Tuesday


def at(days: int = 0, hour: int = 10) -> dt.datetime:
    return (DAY + dt.timedelta(days=days)).replace(hour=hour)


def submitted(
    engine: Engine,
    world: World,
    household: str = "N003",
    program: str = "dibao",
    *,
    by: str = "worker1",
    **kw: object,
) -> int:
    view = apps.submit_application(
        engine,
        world[by],
        world.households[household],
        program,
        now=at(),
        **kw,  # type: ignore[arg-type]
    )
    return view.id


def assessed(
    engine: Engine, world: World, household: str = "N003", *, by: str = "worker1", **kw: object
) -> int:
    app_id = submitted(engine, world, household, by=by)
    run_economic_check(engine, world[by], app_id, now=at(1))
    assess_application(engine, world[by], app_id, now=at(1, 11), **kw)  # type: ignore[arg-type]
    return app_id


def in_notice(engine: Engine, world: World, household: str = "N003") -> int:
    """Submitted and assessed by worker1, approved at review by checker1 on day 2 (notice to day 9)."""
    app_id = assessed(engine, world, household)
    apps.review_application(engine, world["checker1"], app_id, "approve", now=at(2))
    return app_id


def events(conn: Connection, app_id: int) -> list[str]:
    return list(
        conn.execute(
            select(CaseEvent.event)
            .where(CaseEvent.case_type == "application", CaseEvent.case_id == app_id)
            .order_by(CaseEvent.id)
        ).scalars()
    )


def denied(engine: Engine, username: str) -> list[tuple[str, str]]:
    """(object_type, object_ref) of the access_denied audit entries of a user."""
    with engine.connect() as conn:
        return [
            (str(t), str(r))
            for t, r in conn.execute(
                select(AuditEntry.object_type, AuditEntry.object_ref)
                .where(AuditEntry.actor == username, AuditEntry.action == "access_denied")
                .order_by(AuditEntry.id)
            )
        ]


def recipient(engine: Engine, recipient_id: int) -> dict[str, object]:
    with engine.connect() as conn:
        row = (
            conn.execute(
                text(
                    "SELECT r.program, r.start_month, r.end_month, r.status, t.monthly_amount, t.covered_members "
                    "FROM recipients r JOIN recipient_terms t ON t.recipient_id = r.id WHERE r.id = :id"
                ),
                {"id": recipient_id},
            )
            .mappings()
            .one()
        )
    return dict(row)
