"""Application deadlines in working days, the one extension, and the overdue list."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from app_flow import at, submitted
from case_world import build_world
from sqlalchemy import Engine

from doudi.auth.roles import Forbidden
from doudi.cases import applications as apps
from doudi.cases.errors import CaseError, InvalidState
from doudi.cases.parameters import case_parameters
from doudi.cases.workdays import add_working_days, is_working_day


def test_deadline_is_thirty_working_days(engine: Engine) -> None:
    world = build_world(engine, with_alerts=False)
    app_id = submitted(engine, world, "N003")
    view = apps.get_application(engine, world["worker1"], app_id)
    assert case_parameters().decision_working_days.value == 30
    assert view.applied_on == dt.date(2026, 12, 1)
    # Six weeks of five working days: Tuesday 1 December → Tuesday 12 January.
    assert view.deadline == dt.date(2027, 1, 12)
    days = [
        view.applied_on + dt.timedelta(days=k) for k in range(1, (view.deadline - view.applied_on).days + 1)
    ]
    assert sum(is_working_day(d) for d in days) == 30
    # Applied on a Saturday at a village: counted from the next working day.
    other = apps.submit_application(
        engine,
        world["village1"],
        world.households["N001"],
        "dibao",
        applied_on=dt.date(2026, 11, 28),
        now=at(),
    )
    assert other.deadline == add_working_days(dt.date(2026, 11, 28), 30) == dt.date(2027, 1, 8)
    with pytest.raises(CaseError) as exc:
        apps.submit_application(
            engine,
            world["worker1"],
            world.households["N002"],
            "marginal",
            applied_on=dt.date(2026, 12, 5),
            now=at(),
        )
    assert exc.value.code == "bad_date"


def test_extension_once_with_a_reason(engine: Engine) -> None:
    world = build_world(engine, with_alerts=False)
    app_id = submitted(engine, world, "N003")
    with pytest.raises(Forbidden):
        apps.extend_deadline(engine, world["worker1"], app_id, reason="需补充材料", now=at(5))
    with pytest.raises(CaseError) as exc:
        apps.extend_deadline(engine, world["checker1"], app_id, reason=" ", now=at(5))
    assert exc.value.code == "reason_required"
    view = apps.extend_deadline(
        engine, world["checker1"], app_id, reason="申请人外出务工，需延期入户核查", now=at(5)
    )
    assert view.extended is True
    assert view.deadline == add_working_days(dt.date(2027, 1, 12), 15) == dt.date(2027, 2, 2)
    with pytest.raises(CaseError) as exc:
        apps.extend_deadline(engine, world["checker1"], app_id, reason="再次延期", now=at(6))
    assert exc.value.code == "already_extended"
    detail = apps.application_detail(engine, world["worker1"], app_id)
    extended = [e for e in detail.events if e["event"] == "deadline_extended"]
    assert extended[0]["data"] == {"from": "2027-01-12", "to": "2027-02-02"}
    assert extended[0]["reason"] == "申请人外出务工，需延期入户核查"


def test_overdue_list(engine: Engine) -> None:
    world = build_world(engine, with_alerts=False)
    late = submitted(engine, world, "N003")  # due 2027-01-12
    extended = submitted(engine, world, "N002", program="marginal")
    decided = submitted(engine, world, "N001", program="temporary_assistance")
    apps.extend_deadline(engine, world["checker1"], extended, reason="特殊情况", now=at(3))
    apps.decide_application(engine, world["county1"], decided, "refuse", reason="已获其他救助", now=at(3))
    assert apps.overdue_applications(engine, world["worker1"], today=dt.date(2027, 1, 12)).total == 0
    page = apps.overdue_applications(engine, world["worker1"], today=dt.date(2027, 1, 13))
    assert [r.id for r in page.rows] == [late] and page.rows[0].overdue is True
    not_late = apps.list_applications(engine, world["worker1"], overdue=False, today=dt.date(2027, 1, 13))
    assert {r.id for r in not_late.rows} == {extended, decided}
    assert [r.overdue for r in not_late.rows] == [False, False]
    assert apps.overdue_applications(engine, world["county1"], today=dt.date(2027, 2, 3)).total == 2
    assert apps.overdue_applications(engine, world["worker2"], today=dt.date(2027, 2, 3)).total == 0
    with pytest.raises(InvalidState):  # a decided application has no deadline left to extend
        apps.extend_deadline(engine, world["county1"], decided, reason="x", now=at(4))


def test_emergency_paperwork_overdue(engine: Engine) -> None:
    world = build_world(engine, with_alerts=False)
    app_id = submitted(engine, world, "N001", program="temporary_assistance", emergency=True)
    view = apps.pay_first(engine, world["checker1"], app_id, Decimal("1800"), now=at())
    assert view.paperwork_due == dt.date(2026, 12, 8)
    assert apps.overdue_applications(engine, world["worker1"], today=dt.date(2026, 12, 8)).total == 0
    page = apps.overdue_applications(engine, world["worker1"], today=dt.date(2026, 12, 9))
    assert [r.id for r in page.rows] == [app_id]
