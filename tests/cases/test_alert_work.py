"""The alert loop on both databases: inbox, detail, assignment and reassignment, home visits
with attachments, decisions and what they set off, overdue alerts and escalation, and the
division scope of every one of these."""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from case_world import RAISED, World, build_world, raise_alerts
from sqlalchemy import Engine, func, select, text

from doudi.auth.roles import Forbidden
from doudi.auth.scope import NotFound
from doudi.cases import alert_work as aw
from doudi.cases.alert_views import inbox_query
from doudi.cases.alert_work import Outcome
from doudi.cases.attachments import read_attachment, stored_path
from doudi.cases.errors import CaseError, Conflict, InvalidState
from doudi.cases.recipients import enrol
from doudi.db.models import (
    Alert,
    AlertDecision,
    AlertWork,
    Application,
    AuditEntry,
    CaseEvent,
    Recipient,
    RecipientTerm,
    Verification,
)

T1 = dt.datetime(2026, 12, 2, 9, 0)
T2 = dt.datetime(2026, 12, 3, 15, 0)
T3 = dt.datetime(2026, 12, 5, 10, 0)
VISIT = dt.date(2026, 12, 3)


def events(engine: Engine, alert_id: int) -> list[tuple[str, str | None, str | None, str]]:
    with engine.connect() as conn:
        return [
            (e.event, e.from_status, e.to_status, e.actor)
            for e in conn.execute(
                select(CaseEvent)
                .where(CaseEvent.case_type == "alert", CaseEvent.case_id == alert_id)
                .order_by(CaseEvent.id)
            )
        ]


def denied(engine: Engine, actor: str) -> list[tuple[str, str | None]]:
    with engine.connect() as conn:
        return [
            (r.object_type, r.object_ref)
            for r in conn.execute(
                select(AuditEntry).where(AuditEntry.actor == actor, AuditEntry.action == "access_denied")
            )
        ]


def verify(engine: Engine, world: World, no: str, tmp_path: Path, *, who: str = "worker1", **kw: Any) -> Any:
    return aw.record_verification(
        engine,
        world[who],
        world.alerts[no],
        visited_on=VISIT,
        visitors="张三、李四",
        met="户主本人",
        findings="户主住院，家中无其他收入。",
        data_dir=tmp_path,
        now=T2,
        **kw,
    )


# --- inbox -------------------------------------------------------------------------------------


def test_inbox_lists_the_scope_only_by_due_date_masked(engine: Engine) -> None:
    world = build_world(engine)
    seen = {u: [r.household_no for r in aw.inbox(engine, world[u]).rows] for u in world.actors}
    assert seen["worker1"] == ["N001", "N002", "N003"]
    assert seen["worker2"] == ["X001"]
    assert seen["village1"] == ["N001", "N003"]  # their own village only
    assert seen["county1"] == ["N001", "N002", "N003", "X001"]
    assert seen["county2"] == ["Y001"]
    assert seen["analyst"] == ["N001", "N002", "N003", "X001", "Y001"]
    row = aw.inbox(engine, world["worker1"], today=dt.date(2026, 12, 10)).rows[0]
    head = world.citizen_ids["N001"]
    assert row.citizen_id == head[:4] + "*" * 10 + head[-4:]
    assert (row.status, row.status_label, row.severity_label, row.version) == ("open", "待分派", "红色", 1)
    assert (row.due_date, row.days_left, row.overdue) == (dt.date(2026, 12, 16), 6, False)


def test_inbox_pages_and_filters(engine: Engine) -> None:
    world = build_world(engine)
    w1 = world["worker1"]
    first = aw.inbox(engine, w1, page_size=2)
    second = aw.inbox(engine, w1, page=2, page_size=2)
    assert (first.total, first.pages, len(first.rows), len(second.rows)) == (3, 2, 2, 1)
    assert [r.id for r in first.rows + second.rows] == sorted(
        world.alerts[n] for n in ("N001", "N002", "N003")
    )
    aw.assign(engine, w1, world.alerts["N002"], "worker1b", now=T1)
    assert [r.household_no for r in aw.inbox(engine, w1, assignee="worker1b").rows] == ["N002"]
    assert [r.household_no for r in aw.inbox(engine, w1, status="open").rows] == ["N001", "N003"]
    assert aw.inbox(engine, w1, overdue=True, today=dt.date(2026, 12, 16)).total == 0
    late = aw.inbox(engine, w1, overdue=True, today=dt.date(2026, 12, 17))
    assert late.total == 3 and all(r.overdue and r.days_left == -1 for r in late.rows)
    assert aw.inbox(engine, w1, severity="yellow").total == 0
    assert aw.inbox(engine, w1, rule_id="medical_catastrophic").total == 3
    with pytest.raises(CaseError) as bad:
        aw.inbox(engine, w1, status="nonsense")
    assert bad.value.code == "bad_status"
    with pytest.raises(CaseError):
        aw.inbox(engine, w1, page_size=10_000)


# --- detail ------------------------------------------------------------------------------------


def test_detail_masked_by_default_unmasked_with_reason_audited(engine: Engine) -> None:
    world = build_world(engine)
    alert = world.alerts["N001"]
    head = world.citizen_ids["N001"]
    detail = aw.alert_detail(engine, world["worker1"], alert)
    assert detail.citizen_id != head and detail.citizen_id.endswith(head[-4:])
    assert (detail.household_no, detail.status, detail.version, detail.facts) == (
        "N001",
        "open",
        1,
        {"medical_oop_12m": "25000.00"},
    )
    with pytest.raises(CaseError) as no_reason:
        aw.alert_detail(engine, world["worker1"], alert, unmasked=True)
    assert no_reason.value.code == "reason_required"
    full = aw.alert_detail(engine, world["worker1"], alert, unmasked=True, reason="入户核查需核对身份")
    assert full.citizen_id == head and full.unmasked
    with engine.connect() as conn:
        audited = conn.execute(
            select(AuditEntry.actor, AuditEntry.object_ref, AuditEntry.reason).where(
                AuditEntry.action == "view_unmasked"
            )
        ).all()
    assert audited == [("worker1", str(alert), "入户核查需核对身份")]


def test_unknown_alert_is_not_found_and_not_audited(engine: Engine) -> None:
    world = build_world(engine)
    with pytest.raises(NotFound):
        aw.alert_detail(engine, world["worker1"], 999_999)
    assert denied(engine, "worker1") == []


# --- scope of every service function ----------------------------------------------------------

Call = Callable[[Engine, World, Path], object]

CALLS: dict[str, Call] = {
    "alert_detail": lambda e, w, p: aw.alert_detail(e, w["worker2"], w.alerts["N001"]),
    "assign": lambda e, w, p: aw.assign(e, w["worker2"], w.alerts["N001"], "worker2", now=T1),
    "assign_open": lambda e, w, p: aw.assign_open(e, w["worker2"], "520102001", now=T1),
    "record_verification": lambda e, w, p: verify(e, w, "N001", p, who="worker2"),
    "decide": lambda e, w, p: aw.decide(
        e, w["worker2"], w.alerts["N001"], [Outcome("no_help_needed", "x")], now=T3
    ),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_other_township_is_not_found_and_audited(engine: Engine, tmp_path: Path, name: str) -> None:
    world = build_world(engine)
    with pytest.raises(NotFound) as err:
        CALLS[name](engine, world, tmp_path)
    assert err.value.code == "not_found" and "不在您的管辖范围内" in err.value.message_zh
    assert len(denied(engine, "worker2")) == 1
    # nothing happened to the alert
    assert events(engine, world.alerts["N001"]) == []
    with engine.connect() as conn:
        assert conn.execute(select(AlertWork)).first() is None


def test_village_assistant_sees_and_verifies_own_village_only(engine: Engine, tmp_path: Path) -> None:
    world = build_world(engine)
    assert verify(engine, world, "N001", tmp_path, who="village1").version == 2
    with pytest.raises(NotFound):
        verify(engine, world, "N002", tmp_path, who="village1")  # village 520102001002
    with pytest.raises(Forbidden):
        aw.assign(engine, world["village1"], world.alerts["N001"], "worker1")
    with pytest.raises(Forbidden):
        aw.decide(engine, world["village1"], world.alerts["N001"], [Outcome("no_help_needed", "x")])


# --- assignment --------------------------------------------------------------------------------


def test_assign_and_reassign_are_events(engine: Engine) -> None:
    world = build_world(engine)
    alert = world.alerts["N001"]
    work = aw.assign(engine, world["checker1"], alert, "worker1b", now=T1)
    assert (work.assignee, work.status, work.version, work.assigned_at) == ("worker1b", "assigned", 2, T1)
    again = aw.assign(engine, world["county1"], alert, "village1", reason="村协理员就近核查", now=T2)
    assert (again.assignee, again.version) == ("village1", 3)
    assert events(engine, alert) == [
        ("assigned", "open", "assigned", "checker1"),
        ("reassigned", "assigned", "assigned", "county1"),
    ]
    detail = aw.alert_detail(engine, world["worker1"], alert)
    assert detail.events[1]["data"] == {"assignee": "village1", "previous": "worker1b"}
    assert detail.events[1]["reason"] == "村协理员就近核查"


@pytest.mark.parametrize(
    ("assignee", "why"),
    [
        ("worker2", "不包括"),  # another township's caseworker
        ("checker1", "只能分派给"),  # a reviewer
        ("nobody", "不存在"),
    ],
)
def test_assignee_must_be_a_caseworker_covering_the_alert(engine: Engine, assignee: str, why: str) -> None:
    world = build_world(engine)
    with pytest.raises(CaseError) as err:
        aw.assign(engine, world["worker1"], world.alerts["N001"], assignee, now=T1)
    assert err.value.code == "bad_assignee" and why in err.value.message_zh
    with pytest.raises(CaseError) as village:
        aw.assign(engine, world["worker1"], world.alerts["N002"], "village1", now=T1)
    assert village.value.code == "bad_assignee"  # village1 covers 520102001001, N002 is in ...002


def test_second_write_on_a_stale_version_is_a_conflict(engine: Engine) -> None:
    world = build_world(engine)
    alert = world.alerts["N001"]
    seen_by_worker = aw.alert_detail(engine, world["worker1"], alert).version
    seen_by_checker = aw.alert_detail(engine, world["checker1"], alert).version
    assert seen_by_worker == seen_by_checker == 1
    aw.assign(engine, world["worker1"], alert, "worker1", expected_version=seen_by_worker, now=T1)
    with pytest.raises(Conflict) as err:
        aw.assign(engine, world["checker1"], alert, "worker1b", expected_version=seen_by_checker, now=T1)
    assert err.value.code == "conflict" and "已被他人修改" in err.value.message_zh
    assert aw.alert_detail(engine, world["worker1"], alert).work.assignee == "worker1"
    assert len(events(engine, alert)) == 1


def test_two_sessions_at_once_one_gets_a_conflict(engine: Engine) -> None:
    world = build_world(engine)
    alert = world.alerts["N003"]
    start = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def act(user: str, assignee: str) -> None:
        start.wait()
        try:
            aw.assign(engine, world[user], alert, assignee, expected_version=1, now=T1)
            outcomes[user] = "ok"
        except Conflict:
            outcomes[user] = "conflict"

    threads = [
        threading.Thread(target=act, args=("worker1", "worker1")),
        threading.Thread(target=act, args=("checker1", "worker1b")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes.values()) == ["conflict", "ok"]
    with engine.connect() as conn:
        assert conn.execute(select(AlertWork.version)).scalar_one() == 2


def test_assign_open_round_robin_and_least_loaded(engine: Engine) -> None:
    world = build_world(engine)
    aw.assign(engine, world["worker1"], world.alerts["N002"], "worker1b", now=T1)
    given = aw.assign_open(engine, world["checker1"], "520102001", now=T2)
    # N001 and N003 are still unassigned: round robin in user-name order
    assert given == {"worker1": 1, "worker1b": 1}
    rows = {r.household_no: r for r in aw.inbox(engine, world["worker1"]).rows}
    assert (rows["N001"].assignee, rows["N003"].assignee) == ("worker1", "worker1b")
    assert (rows["N001"].version, rows["N001"].status) == (2, "assigned")
    assert events(engine, world.alerts["N003"]) == [("assigned", "open", "assigned", "checker1")]
    assert aw.assign_open(engine, world["checker1"], "520102001", now=T2) == {"worker1": 0, "worker1b": 0}


def test_assign_open_least_loaded(engine: Engine) -> None:
    world = build_world(engine)
    aw.assign(engine, world["worker1"], world.alerts["N001"], "worker1", now=T1)
    aw.assign(engine, world["worker1"], world.alerts["N002"], "worker1", now=T1)
    given = aw.assign_open(engine, world["county1"], "520102001", strategy="least_loaded", now=T2)
    assert given == {"worker1": 0, "worker1b": 1}  # round robin would start with worker1
    with pytest.raises(CaseError) as bad:
        aw.assign_open(engine, world["county1"], "520102001", strategy="random")
    assert bad.value.code == "bad_strategy"


# --- verification -----------------------------------------------------------------------------


def test_verification_with_attachments_on_disk_by_hash(engine: Engine, tmp_path: Path) -> None:
    world = build_world(engine)
    alert = world.alerts["N001"]
    photo = b"\x89PNG fake photo bytes"
    v = verify(
        engine, world, "N001", tmp_path, attachments=[("门口.png", photo), ("签字表.pdf", b"%PDF-1.4")]
    )
    assert (v.version, v.visited_on, v.recorded_by) == (2, VISIT, "worker1")
    sha = hashlib.sha256(photo).hexdigest()
    assert v.attachments[0].sha256 == sha and v.attachments[0].media_type == "image/png"
    assert stored_path(tmp_path, sha).read_bytes() == photo
    assert read_attachment(tmp_path, v.attachments[0]) == photo
    detail = aw.alert_detail(engine, world["worker1"], alert)
    assert (detail.status, detail.work.verified_at, detail.version) == ("verified", T2, 2)
    assert [a.file_name for a in detail.attachments] == ["门口.png", "签字表.pdf"]
    assert detail.verifications[0].findings == "户主住院，家中无其他收入。"
    # a second visit adds to the record; the first one's time stays the verification time
    aw.record_verification(
        engine,
        world["worker1b"],
        alert,
        visited_on=dt.date(2026, 12, 4),
        visitors="王五",
        met="配偶",
        findings="复核属实。",
        data_dir=tmp_path,
        expected_version=2,
        now=T3,
    )
    detail = aw.alert_detail(engine, world["worker1"], alert)
    assert (len(detail.verifications), detail.work.verified_at, detail.version) == (2, T2, 3)
    assert [e[0] for e in events(engine, alert)] == ["verified", "verified"]


def test_verification_needs_its_facts_and_a_sensible_date(engine: Engine, tmp_path: Path) -> None:
    world = build_world(engine)
    with pytest.raises(CaseError) as missing:
        aw.record_verification(
            engine,
            world["worker1"],
            world.alerts["N001"],
            visited_on=VISIT,
            visitors="张三",
            met=" ",
            findings="",
            data_dir=tmp_path,
            now=T2,
        )
    assert missing.value.code == "missing_field" and "见到的人、核查情况" in missing.value.message_zh
    for day in (dt.date(2026, 12, 4), dt.date(2026, 11, 30)):  # future; before the alert
        with pytest.raises(CaseError) as bad:
            aw.record_verification(
                engine,
                world["worker1"],
                world.alerts["N001"],
                visited_on=day,
                visitors="张三",
                met="户主",
                findings="见户主",
                data_dir=tmp_path,
                now=T2,
            )
        assert bad.value.code == "bad_date"


# --- decisions ---------------------------------------------------------------------------------


def test_decision_needs_a_verification_even_no_help_needed(engine: Engine) -> None:
    world = build_world(engine)
    with pytest.raises(InvalidState) as err:
        aw.decide(
            engine, world["worker1"], world.alerts["N003"], [Outcome("no_help_needed", "电话核实无困难")]
        )
    assert "请先核查" in err.value.message_zh


def test_referrals_and_services_close_the_alert_as_helped(engine: Engine, tmp_path: Path) -> None:
    world = build_world(engine)
    alert = world.alerts["N003"]
    verify(engine, world, "N003", tmp_path)
    result = aw.decide(
        engine,
        world["checker1"],
        alert,
        [
            Outcome("refer_medical", "住院费用高，转介医疗救助"),
            Outcome("services", "送米面油及护理服务", amount=Decimal("300")),
        ],
        expected_version=2,
        now=T3,
    )
    assert result.version == 3
    assert [(d.outcome, d.outcome_label, d.amount) for d in result.decisions] == [
        ("refer_medical", "转介医疗救助", None),
        ("services", "提供物质和服务类救助", Decimal("300.00")),
    ]
    detail = aw.alert_detail(engine, world["worker1"], alert)
    assert (detail.status, detail.closed_at, detail.work.helped_at, detail.work.decided_at) == (
        "closed",
        T3,
        T3,
        T3,
    )
    assert detail.closed_reason == "转介医疗救助；提供物质和服务类救助"
    assert events(engine, alert)[-1] == ("decided", "verified", "closed", "checker1")
    # closed: gone from the inbox, no more work on it
    assert alert not in [r.id for r in aw.inbox(engine, world["worker1"]).rows]
    assert alert in [r.id for r in aw.inbox(engine, world["worker1"], include_closed=True).rows]
    with pytest.raises(InvalidState):
        aw.decide(engine, world["worker1"], alert, [Outcome("no_help_needed", "x")], now=T3)
    with pytest.raises(InvalidState):
        aw.assign(engine, world["worker1"], alert, "worker1b", now=T3)
    with pytest.raises(InvalidState):
        verify(engine, world, "N003", tmp_path)


def test_no_help_needed_closes_without_helped(engine: Engine, tmp_path: Path) -> None:
    world = build_world(engine)
    verify(engine, world, "N002", tmp_path)
    aw.decide(engine, world["worker1"], world.alerts["N002"], [Outcome("no_help_needed", "已报销")], now=T3)
    work = aw.alert_detail(engine, world["worker1"], world.alerts["N002"]).work
    assert (work.status, work.decided_at, work.helped_at) == ("closed", T3, None)


@pytest.mark.parametrize(
    ("outcomes", "code"),
    [
        ([], "no_outcome"),
        ([Outcome("win_lottery", "x")], "bad_outcome"),
        ([Outcome("refer_medical", " ")], "reason_required"),
        ([Outcome("no_help_needed", "x"), Outcome("refer_medical", "y")], "contradictory_outcomes"),
        ([Outcome("refer_medical", "x"), Outcome("refer_medical", "y")], "repeated_outcome"),
        ([Outcome("services", "x", amount=Decimal("-5"))], "bad_amount"),
        ([Outcome("adjust_payment", "x")], "amount_required"),
        ([Outcome("stop_payment", "x")], "which_recipient"),  # N002 has no recipient
        ([Outcome("stop_payment", "x", from_month="2026-13")], "bad_month"),
    ],
)
def test_bad_decisions_are_refused_and_change_nothing(
    engine: Engine, tmp_path: Path, outcomes: list[Outcome], code: str
) -> None:
    world = build_world(engine)
    verify(engine, world, "N002", tmp_path)
    with pytest.raises(CaseError) as err:
        aw.decide(engine, world["worker1"], world.alerts["N002"], outcomes, now=T3)
    assert err.value.code == code
    detail = aw.alert_detail(engine, world["worker1"], world.alerts["N002"])
    assert (detail.status, detail.version, detail.decisions) == ("verified", 2, ())


def test_enrolment_opens_an_application_from_the_alert(engine: Engine, tmp_path: Path) -> None:
    world = build_world(engine)
    alert = world.alerts["N003"]
    verify(engine, world, "N003", tmp_path)
    result = aw.decide(
        engine, world["worker1"], alert, [Outcome("enrol_dibao", "人均收入低于低保标准")], now=T3
    )
    application_id = result.decisions[0].application_id
    with engine.connect() as conn:
        app = conn.execute(select(Application).where(Application.id == application_id)).one()
        assert (app.program, app.channel, app.alert_id, app.household_id, app.status) == (
            "dibao",
            "alert",
            alert,
            world.households["N003"],
            "submitted",
        )
        assert app.applied_on == T3.date()


def test_temporary_assistance_pays_at_once(engine: Engine, tmp_path: Path) -> None:
    world = build_world(engine)
    alert = world.alerts["N003"]
    verify(engine, world, "N003", tmp_path)
    result = aw.decide(
        engine,
        world["worker1"],
        alert,
        [Outcome("temporary_assistance", "突发重病，先行救助", amount=Decimal("2000"))],
        now=T3,
    )
    decision = result.decisions[0]
    assert decision.application_id is not None and decision.recipient_id is not None
    with engine.connect() as conn:
        app = conn.execute(select(Application).where(Application.id == decision.application_id)).one()
        assert (app.emergency, app.paid_first_at, app.recipient_id) == (True, T3, decision.recipient_id)
        rec = conn.execute(select(Recipient).where(Recipient.id == decision.recipient_id)).one()
        assert (rec.program, rec.start_month, rec.end_month) == ("temporary_assistance", "2026-12", "2026-12")


def _dibao_recipient(engine: Engine, world: World, no: str) -> int:
    with engine.begin() as conn:
        return enrol(
            conn,
            household_id=world.households[no],
            program="dibao",
            monthly_amount=Decimal("900"),
            covered_members=3,
            start_month="2026-10",
            source="registry",
            actor="tester",
            at=dt.datetime(2026, 10, 1, 8, 0),
        )


def test_payment_changes_act_on_the_households_recipient(engine: Engine, tmp_path: Path) -> None:
    world = build_world(engine)
    recipient = _dibao_recipient(engine, world, "N001")
    verify(engine, world, "N001", tmp_path)
    result = aw.decide(
        engine,
        world["worker1"],
        world.alerts["N001"],
        [Outcome("adjust_payment", "医疗支出增加，提高保障金", amount=Decimal("1200"))],
        now=T3,
    )
    assert result.decisions[0].recipient_id == recipient
    with engine.connect() as conn:
        terms = conn.execute(
            select(RecipientTerm.from_month, RecipientTerm.to_month, RecipientTerm.monthly_amount)
            .where(RecipientTerm.recipient_id == recipient)
            .order_by(RecipientTerm.id)
        ).all()
    assert [tuple(t) for t in terms] == [
        ("2026-10", "2026-12", Decimal("900.00")),
        ("2027-01", None, Decimal("1200.00")),
    ]
    # a recipient of another household cannot be named
    other = _dibao_recipient(engine, world, "X001")
    verify(engine, world, "N002", tmp_path)
    with pytest.raises(CaseError) as err:
        aw.decide(
            engine,
            world["worker1"],
            world.alerts["N002"],
            [Outcome("stop_payment", "x", recipient_id=other)],
            now=T3,
        )
    assert err.value.code == "bad_recipient"


def test_stop_payment_from_a_given_month(engine: Engine, tmp_path: Path) -> None:
    world = build_world(engine)
    recipient = _dibao_recipient(engine, world, "N001")
    verify(engine, world, "N001", tmp_path)
    aw.decide(
        engine,
        world["worker1"],
        world.alerts["N001"],
        [Outcome("stop_payment", "户主已稳定就业，收入超过标准", program="dibao", from_month="2027-02")],
        now=T3,
    )
    with engine.connect() as conn:
        rec = conn.execute(select(Recipient).where(Recipient.id == recipient)).one()
        decision = conn.execute(select(AlertDecision)).one()
    assert (rec.status, rec.end_month, decision.recipient_id) == ("stopped", "2027-01", recipient)


def test_a_failed_outcome_rolls_back_the_whole_decision(engine: Engine, tmp_path: Path) -> None:
    world = build_world(engine)
    verify(engine, world, "N002", tmp_path)
    with pytest.raises(CaseError) as err:  # the application opens, then the stop finds no recipient
        aw.decide(
            engine,
            world["worker1"],
            world.alerts["N002"],
            [Outcome("enrol_marginal", "收入低于边缘标准"), Outcome("stop_payment", "停发")],
            now=T3,
        )
    assert err.value.code == "which_recipient"
    with engine.connect() as conn:
        assert conn.execute(select(AlertDecision)).first() is None
        assert conn.execute(select(Application)).first() is None
        assert (
            conn.execute(select(Alert.status).where(Alert.id == world.alerts["N002"])).scalar_one()
            == "verified"
        )
    assert [e[0] for e in events(engine, world.alerts["N002"])] == ["verified"]


# --- overdue and escalation -------------------------------------------------------------------


def test_escalation_of_overdue_alerts_to_the_county(engine: Engine, tmp_path: Path) -> None:
    world = build_world(engine)
    # N003 is decided in time: never escalated
    verify(engine, world, "N003", tmp_path)
    aw.decide(engine, world["worker1"], world.alerts["N003"], [Outcome("no_help_needed", "已康复")], now=T3)
    aw.assign(engine, world["worker1"], world.alerts["N001"], "worker1b", now=T1)
    assert aw.escalate_overdue(engine, now=dt.datetime(2026, 12, 16, 23, 0)) == 0  # due today: not yet
    late = dt.datetime(2026, 12, 17, 1, 0)
    assert aw.escalate_overdue(engine, now=late, division="520102") == 3  # N001, N002, X001
    assert aw.escalate_overdue(engine, now=late) == 1  # Y001 in the other county
    assert aw.escalate_overdue(engine, now=late + dt.timedelta(days=1)) == 0  # once only
    county = aw.inbox(engine, world["county1"], escalated=True, today=late.date())
    assert [r.household_no for r in county.rows] == ["N001", "N002", "X001"]
    assert all(r.escalated_at == late and r.overdue for r in county.rows)
    assert [r.household_no for r in aw.inbox(engine, world["county2"], escalated=True).rows] == ["Y001"]
    assert aw.overdue(engine, world["worker2"], today=late.date()).total == 1
    # escalation does not move the lock version: the caseworker's save still goes through
    n001 = aw.alert_detail(engine, world["worker1"], world.alerts["N001"])
    assert n001.version == 2 and n001.work.escalated_at == late
    assert events(engine, world.alerts["N001"])[-1] == ("escalated", "assigned", "assigned", "system")
    assert n001.events[-1]["data"] == {"due_date": "2026-12-16"}
    aw.assign(engine, world["county1"], world.alerts["N001"], "worker1", expected_version=2, now=late)
    with engine.connect() as conn:
        escalated = (
            conn.execute(
                select(CaseEvent.case_id).where(CaseEvent.event == "escalated").order_by(CaseEvent.case_id)
            )
            .scalars()
            .all()
        )
    assert escalated == sorted(world.alerts[n] for n in ("N001", "N002", "X001", "Y001"))


def test_overdue_list_is_scoped_and_ordered(engine: Engine) -> None:
    world = build_world(engine)
    day = dt.date(2026, 12, 20)
    listing = aw.overdue(engine, world["worker1"], today=day)
    assert [r.household_no for r in listing.rows] == ["N001", "N002", "N003"]
    assert listing.rows[0].days_left == -4
    assert aw.overdue(engine, world["worker1"], today=RAISED.date()).total == 0


def test_verification_files_do_not_leak_other_townships(engine: Engine, tmp_path: Path) -> None:
    world = build_world(engine)
    verify(engine, world, "X001", tmp_path, who="worker2")
    with pytest.raises(NotFound):
        aw.alert_detail(engine, world["worker1"], world.alerts["X001"])
    with engine.connect() as conn:
        assert conn.execute(select(Verification.recorded_by)).scalars().all() == ["worker2"]


_COLUMNS = (
    "rule_id, rule_version, severity, grain, subject_key, citizen_id, person_id, household_id, household_no, "
    "registered, division_code, township_code, county_code, period_first, period_last, updated_at, "
    "first_run_id, last_run_id, title, explanation, facts, actions, policy"
)


def _a_year_of_alerts(engine: Engine, world: World) -> None:
    """60,000 more alerts over a year in two townships, one in twenty still open (PostgreSQL)."""
    with engine.begin() as conn:
        for no in ("N001", "X001"):
            conn.execute(
                text(
                    f"INSERT INTO alerts ({_COLUMNS}, event_key, status, raised_at, due_date, closed_at) "
                    f"SELECT {_COLUMNS}, 'e' || g, CASE WHEN g % 20 = 0 THEN 'open' ELSE 'closed' END, "
                    "raised_at - g * interval '8 minutes', due_date - (g / 180), "
                    "CASE WHEN g % 20 = 0 THEN NULL ELSE raised_at END "
                    "FROM alerts CROSS JOIN generate_series(1, 30000) g WHERE id = :id"
                ),
                {"id": world.alerts[no]},
            )
        conn.execute(text("ANALYZE alerts"))


def test_township_inbox_query_runs_on_the_inbox_index(engine: Engine) -> None:
    world = build_world(engine)
    if engine.dialect.name == "postgresql":
        _a_year_of_alerts(engine, world)
    query, counting = inbox_query(world["worker1"], day=dt.date(2026, 12, 10))
    plans = []
    with engine.connect() as conn:
        for q in (query, counting):
            sql = str(q.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
            if engine.dialect.name == "postgresql":
                plans.append(" ".join(r[0] for r in conn.execute(text("EXPLAIN " + sql))))
            else:
                plans.append(" ".join(str(r[-1]) for r in conn.execute(text("EXPLAIN QUERY PLAN " + sql))))
    assert all("ix_alerts_inbox" in p for p in plans), plans
    page = aw.inbox(engine, world["worker1"], page_size=50)
    assert len(page.rows) == (50 if engine.dialect.name == "postgresql" else 3) and [
        r.due_date for r in page.rows
    ] == sorted(r.due_date for r in page.rows)


def test_a_closed_alert_is_not_raised_again_by_the_next_run(engine: Engine, tmp_path: Path) -> None:
    world = build_world(engine)
    verify(engine, world, "N003", tmp_path)
    aw.decide(engine, world["worker1"], world.alerts["N003"], [Outcome("services", "送温暖")], now=T3)
    villages = {"N001": "520102001001", "N003": "520102001001"}
    again = raise_alerts(
        engine, villages, world.citizen_ids, period="2026-12", now=dt.datetime(2027, 1, 2, 9, 0)
    )
    assert again == {"N001": world.alerts["N001"], "N003": world.alerts["N003"]}  # no new alert for either
    with engine.connect() as conn:
        n003 = conn.execute(
            select(Alert.status, Alert.period_last).where(Alert.id == world.alerts["N003"])
        ).one()
        n001 = conn.execute(select(Alert.period_last).where(Alert.id == world.alerts["N001"])).scalar_one()
        per_household = dict(
            conn.execute(select(Alert.household_no, func.count()).group_by(Alert.household_no)).all()
        )
    assert tuple(n003) == ("closed", "2026-11") and n001 == "2026-12"  # open one carried on, closed one left
    assert per_household["N003"] == per_household["N001"] == 1
