"""Applications: intake, maker-checker review, decision, emergency pay-first, scoping, conflicts."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from app_flow import assessed, at, denied, events, in_notice, recipient, submitted
from case_world import World, build_world
from sqlalchemy import Engine, select

from doudi.auth.roles import Forbidden
from doudi.auth.scope import NotFound
from doudi.auth.users import declare_relative
from doudi.cases import applications as apps
from doudi.cases import ledger, payroll
from doudi.cases.assessment import assess_application
from doudi.cases.economic_check import run_economic_check
from doudi.cases.errors import CaseError, Conflict, InvalidState
from doudi.db.models import Application, AuditEntry, HouseholdCategory

NOW = dt.datetime(2026, 12, 1, 10, 0)


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
        assert events(conn, app_id) == ["submitted"]
    assert row.status == "submitted"
    assert row.township_code == "520102001" and row.county_code == "520102"
    assert row.division_code == "520102001001"
    # 2026-12-01 (Tuesday) + 30 working days = 2027-01-12
    assert row.deadline == dt.date(2027, 1, 12)
    assert row.relative_flag is False
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


def test_whole_application_to_a_recipient(engine: Engine) -> None:
    world = build_world(engine, with_alerts=False)
    view = apps.submit_application(
        engine, world["village1"], world.households["N003"], "dibao", note="家庭收入低", now=at()
    )
    assert (view.status, view.channel, view.status_label) == ("submitted", "entrusted", "已受理")
    assert view.head_name == "甲*" and "*" in view.head_citizen_id
    checked = run_economic_check(engine, world["worker1"], view.id, now=at(1))
    assert checked.status == "checked"
    proposal = assess_application(engine, world["worker1"], view.id, now=at(1, 11))
    assert proposal.status == "assessed"
    detail = apps.application_detail(engine, world["worker1"], view.id, today=at(1).date())
    assert detail.assessment is not None and detail.assessment["eligible"] is True
    assert detail.assessment["explanation"]["summary"].startswith("家庭月人均收入")
    assert proposal.proposed_amount == Decimal(detail.assessment["monthly_amount"]) > 0

    reviewed = apps.review_application(engine, world["checker1"], view.id, "approve", now=at(2))
    assert reviewed.status == "notice"
    assert (reviewed.notice_start, reviewed.notice_end) == (dt.date(2026, 12, 3), dt.date(2026, 12, 10))
    assert reviewed.notice_last_day == dt.date(2026, 12, 9)
    decided = apps.decide_application(engine, world["county1"], view.id, "approve", now=at(9))
    assert decided.status == "approved" and decided.amount == proposal.proposed_amount
    assert decided.start_month == "2027-01"  # the month after the decision
    assert decided.recipient_id is not None
    paid = recipient(engine, decided.recipient_id)
    assert paid["program"] == "dibao" and paid["start_month"] == "2027-01" and paid["end_month"] is None
    assert Decimal(str(paid["monthly_amount"])) == decided.amount and paid["covered_members"] == 3
    with engine.connect() as conn:
        assert events(conn, view.id) == ["submitted", "economic_check", "assessed", "reviewed", "decided"]
    detail = apps.application_detail(engine, world["worker1"], view.id, today=at(9).date())
    assert [e["label"] for e in detail.events][-1] == "审核确认"


def test_maker_checker_at_review(engine: Engine) -> None:
    world = build_world(engine, with_alerts=False)
    # Recorded by the reviewer himself: he may not review it.
    own = submitted(engine, world, "N003", by="checker1")
    run_economic_check(engine, world["worker1"], own, now=at(1))
    assess_application(engine, world["worker1"], own, now=at(1))
    with pytest.raises(CaseError) as exc:
        apps.review_application(engine, world["checker1"], own, "approve", now=at(2))
    assert exc.value.code == "maker_checker"
    # Assessed by the reviewer: neither.
    other = submitted(engine, world, "N001", program="temporary_assistance", by="worker1")
    run_economic_check(engine, world["checker1"], other, now=at(1))
    assess_application(
        engine, world["checker1"], other, emergency_kind="fire", emergency_loss="3000", now=at(1)
    )
    with pytest.raises(CaseError) as exc:
        apps.review_application(engine, world["checker1"], other, "approve", now=at(2))
    assert exc.value.code == "maker_checker"
    # A caseworker may not review at all.
    with pytest.raises(Forbidden):
        apps.review_application(engine, world["worker1b"], own, "approve", now=at(2))
    # Someone else may; the status moved on.
    assert apps.review_application(engine, world["county1"], own, "approve", now=at(2)).status == "notice"
    assert apps.review_application(engine, world["county1"], other, "approve", now=at(2)).status == "notice"
    # The decision is not for the recorder either (county1b recorded nothing; checker1 is township).
    with pytest.raises(CaseError) as exc:
        apps.decide_application(engine, world["checker1"], own, "approve", now=at(10))
    assert exc.value.code == "county_decision_required"


def test_staff_relative_goes_to_the_county(engine: Engine) -> None:
    world = build_world(engine, with_alerts=False)
    declare_relative(engine, username="worker1b", citizen_id=world.citizen_ids["N003"], relation="兄弟")
    app_id = assessed(engine, world, "N003")
    assert apps.get_application(engine, world["worker1"], app_id).relative_flag is True
    with pytest.raises(CaseError) as exc:
        apps.review_application(engine, world["checker1"], app_id, "approve", now=at(2))
    assert exc.value.code == "county_review_required"
    assert apps.review_application(engine, world["county1"], app_id, "approve", now=at(2)).status == "notice"
    assert (
        apps.decide_application(engine, world["county1b"], app_id, "approve", now=at(9)).status == "approved"
    )


def test_relative_declared_after_intake_is_caught_at_review(engine: Engine) -> None:
    world = build_world(engine, with_alerts=False)
    app_id = assessed(engine, world, "N003")
    declare_relative(engine, username="worker1b", citizen_id=world.citizen_ids["N003"], relation="兄弟")
    with pytest.raises(CaseError) as exc:
        apps.review_application(engine, world["checker1"], app_id, "approve", now=at(2))
    assert exc.value.code == "county_review_required"


def test_refusal_needs_a_written_reason(engine: Engine) -> None:
    world = build_world(engine, with_alerts=False)
    app_id = assessed(engine, world, "N003")
    with pytest.raises(CaseError) as exc:
        apps.review_application(engine, world["checker1"], app_id, "refuse", reason="  ", now=at(2))
    assert exc.value.code == "reason_required"
    view = apps.review_application(
        engine, world["checker1"], app_id, "refuse", reason="家庭有存款未申报", now=at(2)
    )
    assert view.status == "to_decide" and view.notice_start is None
    with pytest.raises(InvalidState):  # approval only after a 公示
        apps.decide_application(engine, world["county1"], app_id, "approve", now=at(3))
    with pytest.raises(CaseError) as exc:
        apps.decide_application(engine, world["county1"], app_id, "refuse", now=at(3))
    assert exc.value.code == "reason_required"
    view = apps.decide_application(
        engine, world["county1"], app_id, "refuse", reason="经核查家庭存款超过规定，不符合低保条件", now=at(3)
    )
    assert (view.status, view.decision, view.status_label) == ("refused", "refuse", "不予批准")
    assert view.decision_reason == "经核查家庭存款超过规定，不符合低保条件"
    assert view.refusal_notice_due == dt.date(2026, 12, 9)  # Fri 4th + 3 working days → Wed 9th
    assert view.recipient_id is None
    with pytest.raises(InvalidState):
        apps.decide_application(engine, world["county1"], app_id, "refuse", reason="再次", now=at(4))


def test_review_against_the_proposal_needs_a_reason(engine: Engine) -> None:
    world = build_world(engine, with_alerts=False)
    app_id = assessed(engine, world, "N002")  # 低保边缘, wage 2600: not eligible for 低保
    detail = apps.application_detail(engine, world["worker1"], app_id)
    assert detail.assessment is not None and detail.assessment["eligible"] is False
    assert detail.application.proposed_amount is None
    with pytest.raises(CaseError) as exc:
        apps.review_application(engine, world["checker1"], app_id, "approve", now=at(2))
    assert exc.value.code == "reason_required"


def test_emergency_pays_first_and_completes_paperwork_later(engine: Engine) -> None:
    world = build_world(engine, with_alerts=False)
    app_id = submitted(engine, world, "N001", program="temporary_assistance", emergency=True)
    with pytest.raises(CaseError) as exc:
        apps.pay_first(engine, world["checker1"], app_id, Decimal("0"), now=at())
    assert exc.value.code == "bad_amount"
    with pytest.raises(Forbidden):
        apps.pay_first(engine, world["worker1"], app_id, Decimal("2000"), now=at())
    view = apps.pay_first(engine, world["checker1"], app_id, Decimal("2000"), now=at(0, 15))
    assert view.status == "submitted" and view.paid_first_at == at(0, 15)
    assert view.paperwork_due == dt.date(2026, 12, 8)  # 5 working days
    assert view.recipient_id is not None
    paid = recipient(engine, view.recipient_id)
    assert (paid["program"], paid["start_month"], paid["end_month"]) == (
        "temporary_assistance",
        "2026-12",
        "2026-12",
    )
    assert Decimal(str(paid["monthly_amount"])) == Decimal("2000.00")
    with pytest.raises(InvalidState):
        apps.pay_first(engine, world["checker1"], app_id, Decimal("2000"), now=at(1))
    with pytest.raises(CaseError) as exc:
        apps.complete_paperwork(engine, world["county1"], app_id, note="补齐申请书和核查记录", now=at(3))
    assert exc.value.code == "check_required"
    run_economic_check(engine, world["worker1"], app_id, now=at(3))
    done = apps.complete_paperwork(
        engine, world["county1"], app_id, note="补齐申请书和核查记录", now=at(3, 16)
    )
    assert (done.status, done.decision, done.amount, done.start_month) == (
        "approved",
        "approve",
        Decimal("2000.00"),
        "2026-12",
    )
    assert done.recipient_id == view.recipient_id
    with engine.connect() as conn:
        assert events(conn, app_id) == ["submitted", "paid_first", "economic_check", "paperwork_completed"]


def test_only_emergency_temporary_assistance_pays_first(engine: Engine) -> None:
    world = build_world(engine, with_alerts=False)
    with pytest.raises(CaseError) as exc:
        submitted(engine, world, "N003", program="dibao", emergency=True)
    assert exc.value.code == "bad_emergency"
    plain = submitted(engine, world, "N003", program="temporary_assistance")
    with pytest.raises(CaseError) as exc:
        apps.pay_first(engine, world["checker1"], plain, Decimal("500"), now=at())
    assert exc.value.code == "not_emergency"


def test_disability_subsidy_is_per_person(engine: Engine) -> None:
    world = build_world(engine, with_alerts=False)
    with pytest.raises(CaseError) as exc:
        submitted(engine, world, "N003", program="disability_care_subsidy")
    assert exc.value.code == "person_required"
    stranger = apps.find_person(engine, world.households["N001"], world.citizen_ids["N001"])
    with pytest.raises(CaseError) as exc:
        submitted(engine, world, "N003", program="disability_care_subsidy", person_id=stranger)
    assert exc.value.code == "not_a_member"
    head = apps.find_person(engine, world.households["N003"], world.citizen_ids["N003"])
    app_id = submitted(engine, world, "N003", program="disability_care_subsidy", person_id=head)
    view = apps.get_application(engine, world["worker1"], app_id)
    assert view.person_id == head and view.applicant_name == "甲*"
    run_economic_check(engine, world["worker1"], app_id, now=at(1))
    assessed_view = assess_application(engine, world["worker1"], app_id, now=at(1))
    # The head has no disability in the registry: not eligible, no amount proposed.
    assert assessed_view.proposed_amount is None


def test_stale_version_is_a_conflict(engine: Engine) -> None:
    world = build_world(engine, with_alerts=False)
    app_id = in_notice(engine, world)
    seen = apps.get_application(engine, world["worker1"], app_id).version
    # Two people act on what they both saw: the first wins, the second is told.
    apps.record_objection(
        engine, world["worker1"], app_id, content="邻居反映其有车", expected_version=seen, now=at(3)
    )
    with pytest.raises(Conflict) as exc:
        apps.extend_deadline(
            engine, world["checker1"], app_id, reason="需入户复查", expected_version=seen, now=at(3, 11)
        )
    assert exc.value.code == "conflict" and "刷新" in exc.value.message_zh
    view = apps.get_application(engine, world["worker1"], app_id)
    assert view.extended is False and view.version == seen + 1


def test_concurrent_sessions_one_conflicts(engine: Engine) -> None:
    """Two sessions update the same application at once: one commits, the other gets a conflict."""
    world = build_world(engine, with_alerts=False)
    app_id = in_notice(engine, world)
    version = apps.get_application(engine, world["worker1"], app_id).version
    first = engine.connect()
    second = engine.connect()
    try:
        t1 = first.begin()
        _row, v = apps.locked_row(first, app_id, version)
        ledger.update_versioned(
            first, apps.TABLE, "id", app_id, v, {"note": "会话一"}, case_type="application"
        )
        t1.commit()
        with second.begin(), pytest.raises(Conflict):
            ledger.update_versioned(
                second, apps.TABLE, "id", app_id, version, {"note": "会话二"}, case_type="application"
            )
    finally:
        first.close()
        second.close()
    assert apps.get_application(engine, world["worker1"], app_id).version == version + 1


def test_another_township_never_sees_the_application(engine: Engine) -> None:
    world = build_world(engine, with_alerts=False)
    app_id = in_notice(engine, world)
    objection = apps.record_objection(engine, world["worker1"], app_id, content="有异议", now=at(3))
    w2 = world["worker2"]
    calls = [
        lambda: apps.get_application(engine, w2, app_id),
        lambda: apps.application_detail(engine, w2, app_id),
        lambda: run_economic_check(engine, w2, app_id, now=at(3)),
        lambda: assess_application(engine, w2, app_id, now=at(3)),
        lambda: apps.record_objection(engine, w2, app_id, content="x", now=at(3)),
        lambda: apps.resolve_objection(engine, w2, objection, upheld=False, resolution="x", now=at(3)),
    ]
    for call in calls:
        with pytest.raises(NotFound):
            call()
    # Submitting for a household of another township: the household does not exist for them.
    with pytest.raises(NotFound):
        apps.submit_application(engine, w2, world.households["N003"], "dibao", now=at())
    with pytest.raises(NotFound):
        apps.find_household(engine, w2, "N003")
    # Reviewer/decider roles of another county.
    c2 = world["county2"]
    for call in [
        lambda: apps.review_application(engine, c2, app_id, "approve", now=at(3)),
        lambda: apps.decide_application(engine, c2, app_id, "approve", now=at(10)),
        lambda: apps.extend_deadline(engine, c2, app_id, reason="x", now=at(3)),
        lambda: apps.pay_first(engine, c2, app_id, Decimal("100"), now=at(3)),
        lambda: apps.complete_paperwork(engine, c2, app_id, note="x", now=at(3)),
    ]:
        with pytest.raises(NotFound):
            call()
    assert apps.list_applications(engine, w2).total == 0
    assert apps.list_applications(engine, c2).total == 0
    assert apps.overdue_applications(engine, w2, today=dt.date(2027, 6, 1)).total == 0
    assert apps.list_applications(engine, world["worker1"]).total == 1
    assert apps.list_applications(engine, world["county1"]).total == 1
    assert apps.list_applications(engine, world["analyst"]).total == 1
    refs = denied(engine, "worker2")
    assert ("application", str(app_id)) in refs and ("objection", str(objection)) in refs
    assert ("household", str(world.households["N003"])) in refs
    assert len(denied(engine, "county2")) == 5


def test_unmasked_detail_needs_a_reason_and_is_audited(engine: Engine) -> None:
    world = build_world(engine, with_alerts=False)
    app_id = submitted(engine, world, "N003")
    masked = apps.application_detail(engine, world["worker1"], app_id)
    assert masked.application.head_citizen_id != world.citizen_ids["N003"]
    with pytest.raises(CaseError):
        apps.application_detail(engine, world["worker1"], app_id, unmasked=True)
    full = apps.application_detail(
        engine, world["worker1"], app_id, unmasked=True, reason="入户核查需核对身份"
    )
    assert full.application.head_citizen_id == world.citizen_ids["N003"]
    assert full.application.head_name == "甲某"
    with engine.connect() as conn:
        audits = conn.execute(
            select(AuditEntry.action, AuditEntry.object_ref, AuditEntry.reason).where(
                AuditEntry.actor == "worker1"
            )
        ).all()
    assert [tuple(a) for a in audits] == [("view_unmasked", str(app_id), "入户核查需核对身份")]


def test_list_filters_and_pages(engine: Engine) -> None:
    world = build_world(engine, with_alerts=False)
    first = submitted(engine, world, "N003")
    second = submitted(engine, world, "N001", program="temporary_assistance")
    third = submitted(engine, world, "N002", program="marginal")
    page = apps.list_applications(engine, world["worker1"], page_size=2)
    assert page.total == 3 and [r.id for r in page.rows] == [first, second]
    assert [r.id for r in apps.list_applications(engine, world["worker1"], page=2, page_size=2).rows] == [
        third
    ]
    assert [r.id for r in apps.list_applications(engine, world["worker1"], program="marginal").rows] == [
        third
    ]
    run_economic_check(engine, world["worker1"], second, now=at(1))
    assert [r.id for r in apps.list_applications(engine, world["worker1"], status="checked").rows] == [second]
    with pytest.raises(CaseError):
        apps.list_applications(engine, world["worker1"], status="nonsense")


def _temporary_in_notice(engine: Engine, world: World, loss: str) -> int:
    app_id = submitted(engine, world, "N001", program="temporary_assistance")
    run_economic_check(engine, world["worker1"], app_id, now=at(1))
    assess_application(
        engine, world["worker1"], app_id, emergency_kind="fire", emergency_loss=loss, now=at(1)
    )
    apps.review_application(engine, world["checker1"], app_id, "approve", now=at(2))
    return app_id


def test_township_decides_temporary_assistance_within_its_limit(engine: Engine) -> None:
    world = build_world(engine, with_alerts=False)
    assert apps.temporary_township_limit("520102001001", dt.date(2026, 12, 1)) == Decimal(
        "2334.00"
    )  # 3 × 778
    app_id = _temporary_in_notice(engine, world, "3000")
    with pytest.raises(CaseError) as exc:  # 3,000 is above the township's limit
        apps.decide_application(engine, world["checker1"], app_id, "approve", now=at(9))
    assert exc.value.code == "county_decision_required"
    view = apps.decide_application(engine, world["checker1"], app_id, "approve", amount="2000", now=at(9))
    assert (view.status, view.amount, view.start_month) == ("approved", Decimal("2000.00"), "2026-12")
    assert view.recipient_id is not None
    paid = recipient(engine, view.recipient_id)
    assert (paid["start_month"], paid["end_month"]) == ("2026-12", "2026-12")  # one payment


def test_delegated_approval_level(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the county delegates 审核确认 to townships, a township reviewer decides — but not
    for a staff relative's household."""
    township = apps.case_parameters().model_copy(
        update={
            "approval_level": apps.case_parameters().approval_level.model_copy(update={"value": "township"})
        }
    )
    monkeypatch.setattr(apps, "case_parameters", lambda: township)
    world = build_world(engine, with_alerts=False)
    app_id = in_notice(engine, world, "N003")
    assert (
        apps.decide_application(engine, world["checker1"], app_id, "approve", now=at(9)).status == "approved"
    )
    declare_relative(engine, username="worker1b", citizen_id=world.citizen_ids["N001"], relation="配偶")
    other = assessed(engine, world, "N001")
    apps.review_application(engine, world["county1"], other, "approve", now=at(2))
    with pytest.raises(CaseError) as exc:
        apps.decide_application(engine, world["checker1"], other, "approve", now=at(9))
    assert exc.value.code == "county_decision_required"


def test_village_assistant_sees_only_the_village(engine: Engine) -> None:
    world = build_world(engine, with_alerts=False)
    own = submitted(engine, world, "N003", by="village1")  # village 520102001001
    other = submitted(engine, world, "N002", program="marginal")  # village 520102001002
    assert [r.id for r in apps.list_applications(engine, world["village1"]).rows] == [own]
    with pytest.raises(NotFound):
        apps.get_application(engine, world["village1"], other)
    with pytest.raises(NotFound):
        apps.submit_application(engine, world["village1"], world.households["N002"], "dibao", now=at())
    assert ("application", str(other)) in denied(engine, "village1")


def test_marginal_approval_without_cash_enrols_and_stays_off_the_roll(engine: Engine) -> None:
    """低保边缘 is a status first: approved with no amount (N002: 2,600 yuan for 3, between the
    standard and 1.5 times it), the household is enrolled with its category open, and the
    payment roll has nothing to pay it."""
    world = build_world(engine, with_alerts=False)
    app_id = submitted(engine, world, "N002", "marginal")
    run_economic_check(engine, world["worker1"], app_id, now=at(1))
    proposal = assess_application(engine, world["worker1"], app_id, now=at(1, 11))
    assert proposal.proposed_amount == 0
    apps.review_application(engine, world["checker1"], app_id, "approve", now=at(2))
    decided = apps.decide_application(
        engine, world["county1"], app_id, "approve", amount="0", start_month="2027-01", now=at(9)
    )
    assert decided.status == "approved" and decided.recipient_id is not None
    paid = recipient(engine, decided.recipient_id)
    assert paid["program"] == "marginal" and Decimal(str(paid["monthly_amount"])) == 0
    with engine.connect() as conn:
        cats = conn.execute(
            select(HouseholdCategory.category).where(
                HouseholdCategory.household_id == world.households["N002"],
                HouseholdCategory.end_date.is_(None),
            )
        ).scalars()
        assert list(cats) == ["marginal"]  # the registry's open category, not a second one
    roll = payroll.generate_roll(engine, world["county1"], "520102", "2027-01", now=at(20))
    lines = payroll.roll_lines(engine, world["county1"], roll.id, page_size=500)
    assert decided.recipient_id not in {line.recipient_id for line in lines.rows}
