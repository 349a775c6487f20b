"""The 7-day public notice (公示): no decision before it ends, objections recorded and
resolved, an upheld objection sends the application back to investigation."""

from __future__ import annotations

import datetime as dt

import pytest
from app_flow import at, events, in_notice
from case_world import build_world
from sqlalchemy import Engine

from doudi.auth.roles import Forbidden
from doudi.cases import applications as apps
from doudi.cases.assessment import assess_application
from doudi.cases.economic_check import run_economic_check
from doudi.cases.errors import CaseError, InvalidState


def test_no_decision_before_the_notice_ends(engine: Engine) -> None:
    world = build_world(engine, with_alerts=False)
    app_id = in_notice(engine, world)  # reviewed on 2026-12-03: notice 3rd..9th
    view = apps.get_application(engine, world["worker1"], app_id)
    assert (view.notice_start, view.notice_last_day, view.notice_end) == (
        dt.date(2026, 12, 3),
        dt.date(2026, 12, 9),
        dt.date(2026, 12, 10),
    )
    for day in (0, 6):  # the first and the last day of the notice
        with pytest.raises(CaseError) as exc:
            apps.decide_application(engine, world["county1"], app_id, "approve", now=at(2 + day, 17))
        assert exc.value.code == "notice_running" and "2026-12-09" in exc.value.message_zh
    assert apps.get_application(engine, world["worker1"], app_id).status == "notice"
    assert (
        apps.decide_application(engine, world["county1"], app_id, "approve", now=at(9, 9)).status
        == "approved"
    )


def test_objection_blocks_the_decision_until_resolved(engine: Engine) -> None:
    world = build_world(engine, with_alerts=False)
    app_id = in_notice(engine, world)
    with pytest.raises(CaseError) as exc:
        apps.record_objection(engine, world["worker1"], app_id, content="  ", now=at(3))
    assert exc.value.code == "content_required"
    objection = apps.record_objection(
        engine, world["worker1"], app_id, content="反映其子女在外地有稳定工作", objector="张三", now=at(4)
    )
    with pytest.raises(CaseError) as exc:
        apps.decide_application(engine, world["county1"], app_id, "approve", now=at(10))
    assert exc.value.code == "open_objections"
    with pytest.raises(CaseError) as exc:
        apps.resolve_objection(engine, world["worker1"], objection, upheld=False, resolution="", now=at(5))
    assert exc.value.code == "resolution_required"
    view = apps.resolve_objection(
        engine,
        world["worker1"],
        objection,
        upheld=False,
        resolution="经入户核实，子女已另立户，不属于共同生活的家庭成员，异议不成立",
        now=at(5),
    )
    assert view.status == "notice"
    with pytest.raises(InvalidState):
        apps.resolve_objection(engine, world["worker1"], objection, upheld=True, resolution="再次", now=at(5))
    detail = apps.application_detail(engine, world["worker1"], app_id)
    (obj,) = detail.objections
    assert (obj.status, obj.status_label, obj.upheld, obj.objector) == ("resolved", "已处理", False, "张*")
    assert obj.received_on == dt.date(2026, 12, 5) and obj.resolved_by == "worker1"
    assert (
        apps.decide_application(engine, world["county1"], app_id, "approve", now=at(10)).status == "approved"
    )
    with engine.connect() as conn:
        assert events(conn, app_id)[-3:] == ["objection_recorded", "objection_resolved", "decided"]


def test_upheld_objection_sends_it_back_to_investigation(engine: Engine) -> None:
    world = build_world(engine, with_alerts=False)
    app_id = in_notice(engine, world)
    objection = apps.record_objection(
        engine, world["worker1"], app_id, content="家中新购小汽车一辆", now=at(4)
    )
    view = apps.resolve_objection(
        engine, world["checker1"], objection, upheld=True, resolution="经核实确有车辆，需重新核对", now=at(5)
    )
    assert (view.status, view.status_label, view.notice_start, view.notice_end) == (
        "investigating",
        "重新调查",
        None,
        None,
    )
    with pytest.raises(InvalidState):
        apps.decide_application(engine, world["county1"], app_id, "approve", now=at(12))
    with pytest.raises(InvalidState):  # no objection outside a notice
        apps.record_objection(engine, world["worker1"], app_id, content="x", now=at(5))
    with pytest.raises(InvalidState):  # the check and assessment come first
        apps.review_application(engine, world["checker1"], app_id, "approve", now=at(6))
    run_economic_check(engine, world["worker1"], app_id, now=at(6))
    assess_application(engine, world["worker1"], app_id, now=at(6, 11))
    again = apps.review_application(engine, world["checker1"], app_id, "approve", now=at(7))
    assert (again.status, again.notice_start, again.notice_end) == (
        "notice",
        dt.date(2026, 12, 8),
        dt.date(2026, 12, 15),
    )
    with pytest.raises(CaseError):  # the new notice runs its full 7 days
        apps.decide_application(engine, world["county1"], app_id, "approve", now=at(12))
    assert (
        apps.decide_application(engine, world["county1"], app_id, "approve", now=at(14)).status == "approved"
    )
    with engine.connect() as conn:
        assert events(conn, app_id) == [
            "submitted",
            "economic_check",
            "assessed",
            "reviewed",
            "objection_recorded",
            "objection_resolved",
            "economic_check",
            "assessed",
            "reviewed",
            "decided",
        ]


def test_objection_dates_and_roles(engine: Engine) -> None:
    world = build_world(engine, with_alerts=False)
    app_id = in_notice(engine, world)
    with pytest.raises(CaseError) as exc:  # before the notice began
        apps.record_objection(
            engine, world["worker1"], app_id, content="x", received_on=dt.date(2026, 12, 2), now=at(3)
        )
    assert exc.value.code == "bad_date"
    with pytest.raises(Forbidden):  # a village assistant passes objections on; the township records them
        apps.record_objection(engine, world["village1"], app_id, content="x", now=at(3))
    # Received late (after the notice, before the decision): still recorded and still blocking.
    late = apps.record_objection(engine, world["worker1"], app_id, content="逾期收到的异议", now=at(10))
    assert late > 0
    with pytest.raises(CaseError) as exc:
        apps.decide_application(engine, world["county1"], app_id, "approve", now=at(10, 15))
    assert exc.value.code == "open_objections"
