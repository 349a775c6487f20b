"""Applications for assistance (救助申请), from intake to the decision.

A household (or the village assistant on its behalf, or a caseworker after an alert) applies
for 低保, 特困, 低保边缘, 刚性支出困难, 临时救助 or one of the two disability subsidies (两项补贴,
per person). The application then runs through:

==================  ======================  ===============================================
status              label                   how it is reached
==================  ======================  ===============================================
``submitted``       已受理                    :func:`submit_application` / :func:`open_application`
``checked``         已核对                    :func:`run_economic_check` (家庭经济状况核对)
``assessed``        已提出初审建议              :func:`assess_application` (programs' proposal)
``notice``          公示中                    :func:`review_application` approve: 7-day 公示
``investigating``   重新调查                   an objection upheld (:func:`resolve_objection`)
``to_decide``       待审核确认                 :func:`review_application` refuse (no 公示)
``approved``        已批准                    :func:`decide_application` approve (or an emergency
                                            临时救助's :func:`complete_paperwork`)
``refused``         不予批准                   :func:`decide_application` refuse, with a written reason
==================  ======================  ===============================================

Rules the functions enforce:

* **Maker-checker** (审核): the township review is by a reviewer who neither recorded the
  application nor proposed its assessment. An application from a household with a declared
  relative of a member of staff (近亲属备案, ``relative_flag``) is reviewed and decided only by
  a county reviewer.
* **公示**: approval at review starts a notice of ``notice_days`` (7) full days:
  ``notice_start`` is the review day and ``notice_end`` = ``notice_start + notice_days``, the
  first day after the notice, from which the decision may be taken. Objections are recorded
  while the application is in notice; the decision waits until every objection is resolved;
  an upheld objection sends the application back to investigation (check, assessment and
  review again, and a new notice).
* **Decision** (审核确认): by the level of ``approval_level`` (county: a county reviewer;
  township: a township or county reviewer), never by the recorder. Approval gives the amount
  and the start month (default: the month after the decision) and enrols the household (or
  person) as a recipient; refusal needs a written reason, and the refusal must be notified
  in writing within ``refusal_notice_working_days`` working days (shown with the decision).
* **Deadlines**: the decision is due ``decision_working_days`` (30) working days after the
  application day; it may be extended once by ``extension_working_days`` (15) with a reason.
  An application is overdue when today is after its deadline and it is not decided — or,
  for an emergency 临时救助 paid first, when its paperwork is not complete by ``paperwork_due``.
* **Emergency 临时救助** (急难型, 先行救助): :func:`pay_first_in` pays first (a one-month
  temporary-assistance recipient) and sets ``paperwork_due``; :func:`complete_paperwork`
  records the completed file and the approval afterwards.

Every change is one transaction: the row under optimistic locking (``version``) and its
``case_events`` entry.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Connection, Table, insert, select, text

from doudi.cases import ledger
from doudi.cases.errors import CaseError, InvalidState
from doudi.cases.households import household_place
from doudi.cases.labels import PROGRAMS, label
from doudi.cases.parameters import case_parameters
from doudi.cases.workdays import add_working_days
from doudi.db.models import Application

CASE_TYPE = "application"
TABLE = cast(Table, Application.__table__)

STATUSES: dict[str, str] = {
    "submitted": "已受理",
    "checked": "已核对",
    "assessed": "已提出初审建议",
    "notice": "公示中",
    "investigating": "重新调查",
    "to_decide": "待审核确认",
    "approved": "已批准",
    "refused": "不予批准",
}
OPEN_STATUSES = ("submitted", "checked", "assessed", "notice", "investigating", "to_decide")
DECIDED_STATUSES = ("approved", "refused")
CHANNELS: dict[str, str] = {
    "self": "本人申请",
    "entrusted": "村（社区）代为申请",
    "alert": "预警核查后主动纳入",
}
# Programs a household applies for, and those a person applies for (两项补贴).
HOUSEHOLD_PROGRAMS = ("dibao", "tekun", "marginal", "rigid_spending", "temporary_assistance")
PERSON_PROGRAMS = ("disability_living_subsidy", "disability_care_subsidy")
APPLICATION_PROGRAMS = HOUSEHOLD_PROGRAMS + PERSON_PROGRAMS
EVENTS: dict[str, str] = {
    "submitted": "受理申请",
    "economic_check": "家庭经济状况核对",
    "assessed": "提出初审建议",
    "reviewed": "乡镇审核",
    "objection_recorded": "登记公示异议",
    "objection_resolved": "处理公示异议",
    "decided": "审核确认",
    "deadline_extended": "延长办理时限",
    "paid_first": "先行救助",
    "paperwork_completed": "补齐手续",
}


def program_label(program: str) -> str:
    return label(PROGRAMS, program)


def _bad(code: str, message: str, message_zh: str) -> CaseError:
    return CaseError(code, message, message_zh)


def relative_flag(conn: Connection, household_id: int) -> bool:
    """Whether a current member of the household is a declared relative of a member of staff."""
    row = conn.execute(
        text(
            "SELECT 1 FROM person_versions pv JOIN persons p ON p.id = pv.person_id "
            "JOIN staff_relatives sr ON sr.citizen_id = p.citizen_id "
            "WHERE pv.household_id = :h AND pv.valid_to IS NULL"
        ),
        {"h": household_id},
    ).first()
    return row is not None


def current_member_count(conn: Connection, household_id: int) -> int:
    return int(
        conn.execute(
            text("SELECT count(*) FROM person_versions WHERE household_id = :h AND valid_to IS NULL"),
            {"h": household_id},
        ).scalar_one()
    )


def _is_member(conn: Connection, household_id: int, person_id: int) -> bool:
    return (
        conn.execute(
            text(
                "SELECT 1 FROM person_versions WHERE household_id = :h AND person_id = :p AND valid_to IS NULL"
            ),
            {"h": household_id, "p": person_id},
        ).first()
        is not None
    )


def decision_deadline(applied_on: dt.date) -> dt.date:
    """The day the decision is due: ``decision_working_days`` working days after applying."""
    p = case_parameters()
    return add_working_days(applied_on, p.decision_working_days.value, p.holidays.value, p.workdays.value)


def open_application(
    conn: Connection,
    *,
    household_id: int,
    program: str,
    channel: str,
    actor: str,
    at: dt.datetime,
    applied_on: dt.date | None = None,
    person_id: int | None = None,
    alert_id: int | None = None,
    note: str | None = None,
    emergency: bool = False,
) -> int:
    """Record an application in the caller's transaction and return its id.

    The caller has checked the actor's permission and scope. Division codes come from the
    household's current version; the deadline is ``decision_working_days`` working days
    after ``applied_on`` (default: the day of ``at``); ``relative_flag`` is set when a member
    is a declared relative of staff. A second open application of the household (or person)
    for the same program is refused (``application_exists``)."""
    if program not in APPLICATION_PROGRAMS:
        raise _bad(
            "bad_program",
            f"unknown program {program!r} for an application",
            f"救助项目“{program}”不能申请，可选：{'、'.join(f'{p}（{program_label(p)}）' for p in APPLICATION_PROGRAMS)}。",
        )
    if channel not in CHANNELS:
        raise _bad(
            "bad_channel",
            f"unknown channel {channel!r}",
            f"申请渠道“{channel}”无效，可选：{'、'.join(f'{c}（{v}）' for c, v in CHANNELS.items())}。",
        )
    if emergency and program != "temporary_assistance":
        raise _bad(
            "bad_emergency",
            "only temporary assistance may be an emergency application",
            "只有临时救助可以按急难型（先行救助）办理。",
        )
    place = household_place(conn, household_id)
    if place is None:
        raise _bad(
            "unknown_household", f"household {household_id} not found", f"家庭（编号 {household_id}）不存在。"
        )
    if program in PERSON_PROGRAMS:
        if person_id is None:
            raise _bad(
                "person_required",
                f"{program} is applied for by a person: person_id is required",
                f"{program_label(program)}按人申请，请指定申请人（家庭成员）。",
            )
        if not _is_member(conn, household_id, person_id):
            raise _bad(
                "not_a_member",
                f"person {person_id} is not a current member of household {household_id}",
                f"申请人（人员编号 {person_id}）不是该家庭的现有成员。",
            )
    elif person_id is not None and not _is_member(conn, household_id, person_id):
        raise _bad(
            "not_a_member",
            f"person {person_id} is not a current member of household {household_id}",
            f"申请人（人员编号 {person_id}）不是该家庭的现有成员。",
        )
    same = select(TABLE.c.id).where(
        TABLE.c.household_id == household_id,
        TABLE.c.program == program,
        TABLE.c.status.in_(OPEN_STATUSES),
    )
    if program in PERSON_PROGRAMS:
        same = same.where(TABLE.c.person_id == person_id)
    existing = conn.execute(same).scalar()
    if existing is not None:
        raise _bad(
            "application_exists",
            f"household {household_id} already has open application {existing} for {program}",
            f"该{'成员' if program in PERSON_PROGRAMS else '家庭'}已有一件正在办理的{program_label(program)}申请（编号 {existing}），不能重复申请。",
        )
    day = applied_on or at.date()
    if day > at.date():
        raise _bad("bad_date", f"application day {day} is in the future", f"申请日期 {day} 晚于今天。")
    deadline = decision_deadline(day)
    flagged = relative_flag(conn, household_id)
    new_id = int(
        conn.execute(
            insert(Application)
            .values(
                household_id=household_id,
                person_id=person_id,
                program=program,
                channel=channel,
                alert_id=alert_id,
                division_code=place.division_code,
                township_code=place.township_code,
                county_code=place.county_code,
                status="submitted",
                applied_on=day,
                deadline=deadline,
                extended=False,
                recorded_by=actor,
                recorded_at=at,
                relative_flag=flagged,
                emergency=emergency,
                note=note,
                version=1,
            )
            .returning(Application.id)
        ).scalar_one()
    )
    ledger.record_event(
        conn,
        case_type=CASE_TYPE,
        case_id=new_id,
        event="submitted",
        actor=actor,
        at=at,
        to_status="submitted",
        household_id=household_id,
        township_code=place.township_code,
        county_code=place.county_code,
        reason=note,
        data={
            "program": program,
            "channel": channel,
            "applied_on": day,
            "deadline": deadline,
            "person_id": person_id,
            "alert_id": alert_id,
            "emergency": emergency,
            "relative_flag": flagged,
        },
    )
    return new_id


def _row(conn: Connection, application_id: int, *, lock: bool = False) -> Any:
    query = select(TABLE).where(TABLE.c.id == application_id)
    if lock:
        query = query.with_for_update()
    return conn.execute(query).mappings().first()


def _event(conn: Connection, row: Any, event: str, actor: str, at: dt.datetime, **kw: Any) -> None:
    ledger.record_event(
        conn,
        case_type=CASE_TYPE,
        case_id=int(row["id"]),
        event=event,
        actor=actor,
        at=at,
        household_id=int(row["household_id"]),
        township_code=row["township_code"],
        county_code=row["county_code"],
        **kw,
    )


def month_of(day: dt.date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def pay_first_in(
    conn: Connection,
    application_id: int,
    *,
    amount: Decimal,
    actor: str,
    at: dt.datetime,
    expected_version: int | None = None,
) -> int:
    """先行救助 for an emergency 临时救助 application, in the caller's transaction: a one-month
    temporary-assistance recipient (paid in the month of ``at``) via
    :func:`doudi.cases.recipients.enrol`; ``paid_first_at`` and ``paperwork_due`` are set and the
    application stays in its flow until :func:`complete_paperwork`. Returns the recipient id."""
    from doudi.cases.recipients import enrol  # H3's module; imported late to keep import order simple

    row = _row(conn, application_id, lock=True)
    if row is None:
        raise _bad(
            "unknown_application",
            f"application {application_id} not found",
            f"申请（编号 {application_id}）不存在。",
        )
    if not row["emergency"] or row["program"] != "temporary_assistance":
        raise _bad(
            "not_emergency",
            f"application {application_id} is not an emergency temporary assistance",
            "只有急难型临时救助申请可以先行救助。",
        )
    if row["paid_first_at"] is not None:
        raise InvalidState("pay first twice", row["status"], "该申请已经先行救助过，不能重复发放。")
    if row["status"] not in OPEN_STATUSES:
        raise InvalidState("pay first", row["status"], f"申请已{STATUSES[row['status']]}，不能再先行救助。")
    amount = Decimal(amount)
    if amount <= 0:
        raise _bad("bad_amount", f"amount {amount} must be positive", "先行救助金额应大于0。")
    p = case_parameters()
    month = month_of(at.date())
    covered = (
        1 if row["person_id"] is not None else max(current_member_count(conn, int(row["household_id"])), 1)
    )
    recipient_id = enrol(
        conn,
        household_id=int(row["household_id"]),
        program="temporary_assistance",
        monthly_amount=amount,
        covered_members=covered,
        start_month=month,
        end_month=month,
        source="application",
        actor=actor,
        at=at,
        person_id=row["person_id"],
        application_id=application_id,
        reason="急难型临时救助先行救助",
    )
    due = add_working_days(
        at.date(), p.emergency_paperwork_working_days.value, p.holidays.value, p.workdays.value
    )
    ledger.update_versioned(
        conn,
        TABLE,
        "id",
        application_id,
        row["version"] if expected_version is None else expected_version,
        {"paid_first_at": at, "paperwork_due": due, "recipient_id": recipient_id, "amount": amount},
        case_type=CASE_TYPE,
    )
    _event(
        conn,
        row,
        "paid_first",
        actor,
        at,
        from_status=row["status"],
        to_status=row["status"],
        reason="急难型临时救助先行救助，事后补齐手续",
        data={"amount": amount, "recipient_id": recipient_id, "month": month, "paperwork_due": due},
    )
    return recipient_id
