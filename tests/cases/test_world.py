"""The case-work test world builds on both databases, and the auth basics hold in it."""

from __future__ import annotations

import datetime as dt

import pytest
from case_world import build_world
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import DBAPIError

from doudi.auth.roles import Forbidden, require
from doudi.auth.scope import NotFound, check
from doudi.auth.users import UserError, create_user, get_actor, verify_password
from doudi.cases.ledger import events_of, record_event
from doudi.db.models import Alert, AuditEntry


def test_world_has_households_staff_and_routed_alerts(engine: Engine) -> None:
    world = build_world(engine)
    assert set(world.households) == {"N001", "N002", "N003", "X001", "Y001"}
    with engine.connect() as conn:
        towns = dict(conn.execute(select(Alert.household_no, Alert.township_code)).all())
    assert towns == {
        "N001": "520102001",
        "N002": "520102001",
        "N003": "520102001",
        "X001": "520102002",
        "Y001": "520103001",
    }
    assert world["worker1"].covers("520102001002001"[:12])
    assert not world["worker1"].covers("520102002001")
    assert world["county1"].covers("520102002001")
    assert world["analyst"].covers("520103001001")
    assert world["village1"].covers("520102001001") and not world["village1"].covers("520102001002")


def test_password_is_hashed_and_verified(engine: Engine) -> None:
    build_world(engine, with_alerts=False)
    assert verify_password(engine, "worker1", "correct horse battery staple") == get_actor(engine, "worker1")
    assert verify_password(engine, "worker1", "wrong") is None


def test_user_scope_must_match_role_level(engine: Engine) -> None:
    build_world(engine, with_alerts=False)
    with pytest.raises(UserError) as err:
        create_user(
            engine,
            username="bad",
            display_name="bad",
            role="township_caseworker",
            division_code="520102",
            created_by="t",
        )
    assert err.value.code == "bad_scope" and "9位乡镇" in err.value.message_zh


def test_role_permissions_and_out_of_scope_is_audited(engine: Engine) -> None:
    world = build_world(engine, with_alerts=False)
    with pytest.raises(Forbidden):
        require(world["village1"].role, "application.decide")
    with pytest.raises(NotFound):
        check(engine, world["worker2"], "household", 7, "520102001001")
    with engine.connect() as conn:
        denied = conn.execute(select(AuditEntry.actor, AuditEntry.action, AuditEntry.object_ref)).all()
    assert ("worker2", "access_denied", "7") in denied


def test_ledger_is_append_only_and_events_read_back(engine: Engine) -> None:
    at = dt.datetime(2026, 12, 1, 9, 0)
    with engine.begin() as conn:
        record_event(
            conn,
            case_type="alert",
            case_id=9,
            event="assigned",
            actor="w",
            at=at,
            from_status="open",
            to_status="assigned",
            township_code="520102001",
            reason="分派",
            data={"assignee": "w"},
        )
    with engine.connect() as conn:
        (event,) = events_of(conn, "alert", 9)
    assert (event["event"], event["from_status"], event["to_status"], event["data"]) == (
        "assigned",
        "open",
        "assigned",
        {"assignee": "w"},
    )
    for sql in ("UPDATE case_events SET actor = 'x'", "DELETE FROM case_events"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(sql))
