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
  Approval needs the 公示; a refusal may be decided at any open step (the household withdraws,
  or is found ineligible before the notice). 临时救助 within the township's limit (a multiple
  of the urban 低保 standard) is decided by a township reviewer.
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
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import (
    BindParameter,
    Connection,
    Date,
    Engine,
    Select,
    Table,
    bindparam,
    func,
    insert,
    select,
    text,
    update,
)

from doudi import audit
from doudi.auth import Actor, require, scope
from doudi.auth.scope import scope_sql
from doudi.cases import ledger
from doudi.cases.errors import CaseError, InvalidState
from doudi.cases.households import household_place
from doudi.cases.labels import PROGRAMS, label
from doudi.cases.parameters import case_parameters
from doudi.cases.workdays import add_working_days
from doudi.db.models import (
    Application,
    CaseEvent,
    Household,
    HouseholdVersion,
    NoticeObjection,
    PersonVersion,
)
from doudi.ids import mask_citizen_id, mask_name
from doudi.periods import Period, PeriodError
from doudi.programs.parameters import default_parameters

CASE_TYPE = "application"
TABLE = cast(Table, Application.__table__)
OBJECTIONS = cast(Table, NoticeObjection.__table__)
EVENTS_TABLE = cast(Table, CaseEvent.__table__)

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
REVIEW_OPINIONS: dict[str, str] = {"approve": "同意", "refuse": "不同意"}
DECISIONS: dict[str, str] = {"approve": "批准", "refuse": "不予批准"}
OBJECTION_STATUSES: dict[str, str] = {"open": "待处理", "resolved": "已处理"}
CHANNELS: dict[str, str] = {
    "self": "本人申请",
    "entrusted": "村（社区）代为申请",
    "alert": "预警核查后主动纳入",
}
# Programs a household applies for, and those a person applies for (两项补贴).
HOUSEHOLD_PROGRAMS = ("dibao", "tekun", "marginal", "rigid_spending", "temporary_assistance")
PERSON_PROGRAMS = ("disability_living_subsidy", "disability_care_subsidy")
APPLICATION_PROGRAMS = HOUSEHOLD_PROGRAMS + PERSON_PROGRAMS
# Programs that are a status (认定) without a monthly cash amount of their own in the formulas.
NO_CASH_PROGRAMS = ("marginal", "rigid_spending")
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


def app_event(conn: Connection, row: Any, event: str, actor: str, at: dt.datetime, **kw: Any) -> None:
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
    app_event(
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


# --- views --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ObjectionView:
    id: int
    application_id: int
    received_on: dt.date
    objector: str  # masked unless unmasked
    content: str
    recorded_by: str
    recorded_at: dt.datetime
    status: str
    status_label: str
    upheld: bool | None
    resolution: str | None
    resolved_by: str | None
    resolved_at: dt.datetime | None


@dataclass(frozen=True)
class ApplicationView:
    """One application as a list or a detail page shows it (names and IDs masked)."""

    id: int
    household_id: int
    household_no: str
    head_name: str
    head_citizen_id: str
    person_id: int | None
    applicant_name: str | None
    program: str
    program_label: str
    channel: str
    channel_label: str
    status: str
    status_label: str
    division_code: str
    township_code: str
    applied_on: dt.date
    deadline: dt.date
    extended: bool
    overdue: bool
    recorded_by: str
    recorded_at: dt.datetime
    relative_flag: bool
    emergency: bool
    proposed_amount: Decimal | None
    reviewed_by: str | None
    review_opinion: str | None
    notice_start: dt.date | None
    notice_end: dt.date | None
    decision: str | None
    amount: Decimal | None
    start_month: str | None
    decision_reason: str | None
    decided_by: str | None
    decided_at: dt.datetime | None
    refusal_notice_due: dt.date | None
    paid_first_at: dt.datetime | None
    paperwork_due: dt.date | None
    recipient_id: int | None
    alert_id: int | None
    version: int

    @property
    def notice_last_day(self) -> dt.date | None:
        """The last day of the 公示 (``notice_end`` is the first day after it)."""
        return self.notice_end - dt.timedelta(days=1) if self.notice_end else None


@dataclass(frozen=True)
class ApplicationDetail:
    application: ApplicationView
    economic_check: dict[str, Any] | None
    assessment: dict[str, Any] | None
    objections: list[ObjectionView]
    events: list[dict[str, Any]]
    unmasked: bool = False


@dataclass(frozen=True)
class Page:
    rows: list[ApplicationView]
    total: int
    page: int
    page_size: int


def refusal_notice_due(decided_on: dt.date) -> dt.date:
    """The day a refusal must have been notified in writing by."""
    p = case_parameters()
    return add_working_days(
        decided_on, p.refusal_notice_working_days.value, p.holidays.value, p.workdays.value
    )


def is_overdue(row: Any, today: dt.date) -> bool:
    if row["status"] not in OPEN_STATUSES:
        return False
    if today > row["deadline"]:
        return True
    return (
        row["paid_first_at"] is not None and row["paperwork_due"] is not None and today > row["paperwork_due"]
    )


_A = TABLE.alias("a")
_PV = cast(Table, PersonVersion.__table__)
_HV = cast(Table, HouseholdVersion.__table__)
_H = cast(Table, Household.__table__)


def _view_query(where: str, params: dict[str, Any]) -> Select[Any]:
    """Applications (alias ``a``) with their household number, head and applicant; ``where``
    is SQL over ``a`` with ``params`` bound."""
    head = _PV.alias("head")
    hv = _HV.alias("hv")
    who = _PV.alias("who")
    return (
        select(
            _A,
            _H.c.household_no,
            select(head.c.name)
            .where(
                head.c.household_id == _A.c.household_id, head.c.valid_to.is_(None), head.c.relation == "head"
            )
            .order_by(head.c.id)
            .limit(1)
            .scalar_subquery()
            .label("head_name"),
            select(hv.c.head_citizen_id)
            .where(hv.c.household_id == _A.c.household_id, hv.c.valid_to.is_(None))
            .order_by(hv.c.id)
            .limit(1)
            .scalar_subquery()
            .label("head_citizen_id"),
            select(who.c.name)
            .where(who.c.person_id == _A.c.person_id, who.c.valid_to.is_(None))
            .order_by(who.c.id)
            .limit(1)
            .scalar_subquery()
            .label("applicant_name"),
        )
        .select_from(_A.join(_H, _H.c.id == _A.c.household_id))
        .where(text(where).bindparams(*_binds(params)))
    )


def _binds(params: dict[str, Any]) -> list[BindParameter[Any]]:
    """Typed bound parameters (dates bound as dates on every engine)."""
    return [
        bindparam(k, v, type_=Date) if isinstance(v, dt.date) else bindparam(k, v) for k, v in params.items()
    ]


def _view(row: Any, today: dt.date, *, unmasked: bool = False) -> ApplicationView:
    def name(value: str | None) -> str:
        return (value if unmasked else mask_name(value)) if value else ""

    decided_at = row["decided_at"]
    return ApplicationView(
        id=int(row["id"]),
        household_id=int(row["household_id"]),
        household_no=str(row["household_no"]),
        head_name=name(row["head_name"]),
        head_citizen_id=(
            row["head_citizen_id"] if unmasked else mask_citizen_id(row["head_citizen_id"] or "")
        ),
        person_id=int(row["person_id"]) if row["person_id"] is not None else None,
        applicant_name=name(row["applicant_name"]) if row["person_id"] is not None else None,
        program=row["program"],
        program_label=program_label(row["program"]),
        channel=row["channel"],
        channel_label=label(CHANNELS, row["channel"]),
        status=row["status"],
        status_label=label(STATUSES, row["status"]),
        division_code=row["division_code"],
        township_code=row["township_code"],
        applied_on=row["applied_on"],
        deadline=row["deadline"],
        extended=bool(row["extended"]),
        overdue=is_overdue(row, today),
        recorded_by=row["recorded_by"],
        recorded_at=row["recorded_at"],
        relative_flag=bool(row["relative_flag"]),
        emergency=bool(row["emergency"]),
        proposed_amount=_money(row["proposed_amount"]),
        reviewed_by=row["reviewed_by"],
        review_opinion=row["review_opinion"],
        notice_start=row["notice_start"],
        notice_end=row["notice_end"],
        decision=row["decision"],
        amount=_money(row["amount"]),
        start_month=row["start_month"],
        decision_reason=row["decision_reason"],
        decided_by=row["decided_by"],
        decided_at=decided_at,
        refusal_notice_due=refusal_notice_due(decided_at.date())
        if row["decision"] == "refuse" and decided_at
        else None,
        paid_first_at=row["paid_first_at"],
        paperwork_due=row["paperwork_due"],
        recipient_id=int(row["recipient_id"]) if row["recipient_id"] is not None else None,
        alert_id=int(row["alert_id"]) if row["alert_id"] is not None else None,
        version=int(row["version"]),
    )


def _money(value: Any) -> Decimal | None:
    return Decimal(value).quantize(Decimal("0.01")) if value is not None else None


# --- scoping helpers ----------------------------------------------------------------------


def scoped_row(engine: Engine, actor: Actor, application_id: int) -> Any:
    """The application row, or :class:`NotFound` (audited when outside the actor's scope)."""
    with engine.connect() as conn:
        row = _row(conn, application_id)
    scope.check(engine, actor, "application", application_id, row["division_code"] if row else None)
    return row


def locked_row(conn: Connection, application_id: int, expected_version: int | None) -> tuple[Any, int]:
    """The row locked for update in the caller's transaction, and the version to update from."""
    row = _row(conn, application_id, lock=True)
    if row is None:  # pragma: no cover - it was there a moment ago; applications are never deleted
        raise scope.NotFound("application", application_id)
    return row, int(row["version"]) if expected_version is None else expected_version


def require_status(row: Any, allowed: tuple[str, ...], what: str, what_zh: str) -> None:
    if row["status"] not in allowed:
        wanted = "、".join(STATUSES[s] for s in allowed)
        raise InvalidState(
            what,
            row["status"],
            f"申请当前为“{label(STATUSES, row['status'])}”，不能{what_zh}（须为：{wanted}）。",
        )


def _text_required(value: str | None, code: str, what: str, what_zh: str) -> str:
    cleaned = (value or "").strip()
    if not cleaned:
        raise _bad(code, f"{what} is required", f"请填写{what_zh}。")
    return cleaned


def find_household(engine: Engine, actor: Actor, household_no: str) -> int:
    """The id of the household numbered ``household_no`` within the actor's scope (CLI lookups)."""
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT h.id, hv.division_code FROM households h JOIN household_versions hv "
                "ON hv.household_id = h.id AND hv.valid_to IS NULL WHERE h.household_no = :no"
            ),
            {"no": household_no},
        ).first()
    scope.check(engine, actor, "household", household_no, str(row[1]) if row else None)
    assert row is not None
    return int(row[0])


def find_person(engine: Engine, household_id: int, citizen_id: str) -> int:
    """The person id of a current member of the household by citizen ID."""
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT pv.person_id FROM person_versions pv JOIN persons p ON p.id = pv.person_id "
                "WHERE pv.household_id = :h AND pv.valid_to IS NULL AND p.citizen_id = :c"
            ),
            {"h": household_id, "c": citizen_id.strip().upper()},
        ).first()
    if row is None:
        raise _bad(
            "not_a_member",
            "no current member of the household has that citizen id",
            "该家庭的现有成员中没有这个公民身份号码。",
        )
    return int(row[0])


# --- services -----------------------------------------------------------------------------


def submit_application(
    engine: Engine,
    actor: Actor,
    household_id: int,
    program: str,
    *,
    channel: str | None = None,
    applied_on: dt.date | None = None,
    person_id: int | None = None,
    note: str | None = None,
    emergency: bool = False,
    now: dt.datetime | None = None,
) -> ApplicationView:
    """Record an application (受理). A village assistant records it on the household's behalf
    (channel ``entrusted``); township staff default to ``self`` (the household at the window)."""
    require(actor.role, "application.submit")
    at = now or ledger.now()
    with engine.connect() as conn:
        place = household_place(conn, household_id)
    scope.check(engine, actor, "household", household_id, place.division_code if place else None)
    if channel is None:
        channel = "entrusted" if actor.role == "village_assistant" else "self"
    with engine.begin() as conn:
        new_id = open_application(
            conn,
            household_id=household_id,
            program=program,
            channel=channel,
            actor=actor.username,
            at=at,
            applied_on=applied_on,
            person_id=person_id,
            note=note,
            emergency=emergency,
        )
    return get_application(engine, actor, new_id, today=at.date())


def get_application(
    engine: Engine, actor: Actor, application_id: int, *, today: dt.date | None = None
) -> ApplicationView:
    """One application (masked), scoped."""
    require(actor.role, "case.view")
    scoped_row(engine, actor, application_id)
    with engine.connect() as conn:
        row = conn.execute(_view_query("a.id = :id", {"id": application_id})).mappings().one()
    return _view(row, today or ledger.now().date())


def pay_first(
    engine: Engine,
    actor: Actor,
    application_id: int,
    amount: Decimal,
    *,
    expected_version: int | None = None,
    now: dt.datetime | None = None,
) -> ApplicationView:
    """先行救助 of an emergency 临时救助 (approved by a township or county reviewer)."""
    require(actor.role, "application.decide")
    at = now or ledger.now()
    scoped_row(engine, actor, application_id)
    with engine.begin() as conn:
        pay_first_in(
            conn,
            application_id,
            amount=amount,
            actor=actor.username,
            at=at,
            expected_version=expected_version,
        )
    return get_application(engine, actor, application_id, today=at.date())


def assessor_of(row: Any) -> str | None:
    if not row["assessment"]:
        return None
    found = json.loads(row["assessment"]).get("assessed_by")
    return str(found) if found else None


def review_application(
    engine: Engine,
    actor: Actor,
    application_id: int,
    opinion: str,
    *,
    reason: str | None = None,
    expected_version: int | None = None,
    now: dt.datetime | None = None,
) -> ApplicationView:
    """The township review (初审), maker-checker: ``approve`` starts the 7-day 公示, ``refuse``
    sends the application to the decision without one (a reason is required)."""
    require(actor.role, "application.review")
    if opinion not in REVIEW_OPINIONS:
        raise _bad(
            "bad_opinion", f"unknown opinion {opinion!r}", "审核意见应为 approve（同意）或 refuse（不同意）。"
        )
    at = now or ledger.now()
    scoped_row(engine, actor, application_id)
    with engine.begin() as conn:
        row, version = locked_row(conn, application_id, expected_version)
        require_status(row, ("assessed",), "review", "审核")
        if actor.username == row["recorded_by"]:
            raise _bad(
                "maker_checker",
                f"{actor.username} recorded application {application_id} and may not review it",
                "审核人不能是申请的登记人（审核与登记须由不同人员办理）。",
            )
        if actor.username == assessor_of(row):
            raise _bad(
                "maker_checker",
                f"{actor.username} proposed the assessment of application {application_id} and may not review it",
                "审核人不能是提出初审建议（调查核对）的人员。",
            )
        flagged = bool(row["relative_flag"]) or relative_flag(conn, int(row["household_id"]))
        if flagged and actor.role != "county_reviewer":
            raise _bad(
                "county_review_required",
                f"application {application_id} is from a staff relative's household: county review required",
                "该申请家庭有工作人员近亲属（已备案），须由县级民政部门审核。",
            )
        assessment = json.loads(row["assessment"]) if row["assessment"] else {}
        if opinion == "refuse" or (opinion == "approve" and not assessment.get("eligible", False)):
            why = "不同意的理由" if opinion == "refuse" else "与初审建议（不符合条件）不一致时的理由"
            reason = _text_required(reason, "reason_required", "a reason", why)
        p = case_parameters()
        values: dict[str, Any] = {
            "reviewed_by": actor.username,
            "review_opinion": opinion,
            "relative_flag": flagged,
        }
        if opinion == "approve":
            start = at.date()
            values.update(
                status="notice", notice_start=start, notice_end=start + dt.timedelta(days=p.notice_days.value)
            )
        else:
            values.update(status="to_decide", notice_start=None, notice_end=None)
        ledger.update_versioned(conn, TABLE, "id", application_id, version, values, case_type=CASE_TYPE)
        app_event(
            conn,
            row,
            "reviewed",
            actor.username,
            at,
            from_status=row["status"],
            to_status=values["status"],
            reason=reason,
            data={
                "opinion": opinion,
                "notice_start": values.get("notice_start"),
                "notice_end": values.get("notice_end"),
                "relative_flag": flagged,
            },
        )
    return get_application(engine, actor, application_id, today=at.date())


def _objection_row(conn: Connection, objection_id: int) -> Any:
    return conn.execute(select(OBJECTIONS).where(OBJECTIONS.c.id == objection_id)).mappings().first()


def record_objection(
    engine: Engine,
    actor: Actor,
    application_id: int,
    *,
    content: str,
    objector: str | None = None,
    received_on: dt.date | None = None,
    expected_version: int | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Record an objection raised during the 公示; the decision waits until it is resolved."""
    require(actor.role, "application.notice")
    at = now or ledger.now()
    content = _text_required(content, "content_required", "the objection's content", "异议内容")
    scoped_row(engine, actor, application_id)
    with engine.begin() as conn:
        row, version = locked_row(conn, application_id, expected_version)
        require_status(row, ("notice",), "record an objection", "登记公示异议")
        day = received_on or at.date()
        if day < row["notice_start"] or day > at.date():
            raise _bad(
                "bad_date",
                f"objection received on {day}, outside {row['notice_start']}..{at.date()}",
                f"异议收到日期 {day} 应在公示开始（{row['notice_start']}）之后、不晚于今天。",
            )
        ledger.update_versioned(conn, TABLE, "id", application_id, version, {}, case_type=CASE_TYPE)
        objection_id = int(
            conn.execute(
                insert(NoticeObjection)
                .values(
                    application_id=application_id,
                    received_on=day,
                    objector=(objector or "").strip() or None,
                    content=content,
                    recorded_by=actor.username,
                    recorded_at=at,
                    status="open",
                )
                .returning(NoticeObjection.id)
            ).scalar_one()
        )
        app_event(
            conn,
            row,
            "objection_recorded",
            actor.username,
            at,
            from_status=row["status"],
            to_status=row["status"],
            reason=content,
            data={"objection_id": objection_id, "received_on": day, "late": day >= row["notice_end"]},
        )
    return objection_id


def resolve_objection(
    engine: Engine,
    actor: Actor,
    objection_id: int,
    *,
    upheld: bool,
    resolution: str,
    expected_version: int | None = None,
    now: dt.datetime | None = None,
) -> ApplicationView:
    """Resolve an objection (after checking it). Upheld: the application goes back to
    investigation (check, assessment, review and a new 公示); not upheld: the 公示 goes on.
    ``expected_version`` is the application's."""
    require(actor.role, "application.notice")
    at = now or ledger.now()
    resolution = _text_required(resolution, "resolution_required", "a resolution", "异议的核实和处理结果")
    with engine.connect() as conn:
        objection = _objection_row(conn, objection_id)
        app = _row(conn, int(objection["application_id"])) if objection else None
    if objection is None or app is None:
        raise scope.NotFound("objection", objection_id)
    scope.check(engine, actor, "objection", objection_id, app["division_code"])
    application_id = int(app["id"])
    with engine.begin() as conn:
        row, version = locked_row(conn, application_id, expected_version)
        objection = _objection_row(conn, objection_id)
        if objection["status"] != "open":
            raise InvalidState("resolve a resolved objection", str(objection["status"]), "该异议已经处理过。")
        values: dict[str, Any] = {}
        if upheld:
            values = {"status": "investigating", "notice_start": None, "notice_end": None}
        ledger.update_versioned(conn, TABLE, "id", application_id, version, values, case_type=CASE_TYPE)
        conn.execute(
            update(NoticeObjection)
            .where(NoticeObjection.id == objection_id)
            .values(
                status="resolved",
                upheld=upheld,
                resolution=resolution,
                resolved_by=actor.username,
                resolved_at=at,
            )
        )
        app_event(
            conn,
            row,
            "objection_resolved",
            actor.username,
            at,
            from_status=row["status"],
            to_status=values.get("status", row["status"]),
            reason=resolution,
            data={"objection_id": objection_id, "upheld": upheld},
        )
    return get_application(engine, actor, application_id, today=at.date())


def temporary_township_limit(division_code: str, on: dt.date) -> Decimal:
    """The most a township may grant as 临时救助 on its own (a multiple of the urban 低保
    standard, programs parameter ``temporary.township_limit_multiple``)."""
    params = default_parameters()
    multiple = params.resolve("temporary.township_limit_multiple", division_code, "urban", on).value
    standard = params.resolve("dibao.standard", division_code, "urban", on).value
    return (Decimal(str(multiple)) * Decimal(str(standard))).quantize(Decimal("0.01"))


def _decider_check(actor: Actor, row: Any, amount: Decimal | None = None) -> None:
    """Who may decide: the approval level's reviewers (a county reviewer for staff relatives),
    never the recorder. 临时救助 within the township's limit is decided by the township."""
    level = case_parameters().approval_level.value
    if (
        level == "county"
        and row["program"] == "temporary_assistance"
        and amount is not None
        and amount <= temporary_township_limit(row["division_code"], row["applied_on"])
    ):
        level = "township"
    if (level == "county" or row["relative_flag"]) and actor.role != "county_reviewer":
        why = "工作人员近亲属的申请" if row["relative_flag"] else "本地审核确认权限在县级"
        raise _bad(
            "county_decision_required",
            f"application {row['id']} is decided by a county reviewer",
            f"{why}，须由县级审核确认人作出决定。",
        )
    if actor.username == row["recorded_by"]:
        raise _bad(
            "maker_checker",
            f"{actor.username} recorded application {row['id']} and may not decide it",
            "审核确认人不能是申请的登记人。",
        )


def _next_month(day: dt.date) -> str:
    return str(Period.of(day).shift(1))


def _covered(conn: Connection, row: Any) -> int:
    if row["person_id"] is not None:
        return 1
    assessment = json.loads(row["assessment"]) if row["assessment"] else {}
    covered = int(assessment.get("covered") or 0)
    return covered if covered > 0 else max(current_member_count(conn, int(row["household_id"])), 1)


def decide_application(
    engine: Engine,
    actor: Actor,
    application_id: int,
    decision: str,
    *,
    amount: Decimal | str | None = None,
    start_month: str | None = None,
    reason: str | None = None,
    expected_version: int | None = None,
    now: dt.datetime | None = None,
) -> ApplicationView:
    """审核确认. ``approve`` (after the 公示 has ended with every objection resolved): the
    amount (default: the proposed one) from ``start_month`` (default: the month after the
    decision; 临时救助 is one payment in the decision month) and the household or person
    becomes a recipient. ``refuse``: a written reason is required; the refusal is to be
    notified within ``refusal_notice_working_days`` working days."""
    require(actor.role, "application.decide")
    if decision not in DECISIONS:
        raise _bad(
            "bad_decision",
            f"unknown decision {decision!r}",
            "决定应为 approve（批准）或 refuse（不予批准）。",
        )
    at = now or ledger.now()
    scoped_row(engine, actor, application_id)
    from doudi.cases.recipients import enrol

    with engine.begin() as conn:
        row, version = locked_row(conn, application_id, expected_version)
        today = at.date()
        if decision == "approve":
            require_status(row, ("notice",), "approve", "批准（须经公示）")
        else:
            require_status(row, OPEN_STATUSES, "refuse", "作出不予批准决定")
            _decider_check(actor, row)
        values: dict[str, Any] = {"decided_by": actor.username, "decided_at": at, "decision": decision}
        data: dict[str, Any] = {"decision": decision}
        if decision == "approve":
            if row["paid_first_at"] is not None:
                raise InvalidState(
                    "approve a paid-first application",
                    row["status"],
                    "该申请已先行救助，请用“补齐手续”（complete-paperwork）办结。",
                )
            if today < row["notice_end"]:
                raise _bad(
                    "notice_running",
                    f"the notice of application {application_id} runs until {row['notice_end']}",
                    f"公示期至 {row['notice_end'] - dt.timedelta(days=1)} 结束，公示期满前不能作出批准决定。",
                )
            open_count = conn.execute(
                select(func.count())
                .select_from(OBJECTIONS)
                .where(OBJECTIONS.c.application_id == application_id, OBJECTIONS.c.status == "open")
            ).scalar_one()
            if open_count:
                raise _bad(
                    "open_objections",
                    f"application {application_id} has {open_count} unresolved objection(s)",
                    f"公示异议尚有{open_count}件未处理，处理完毕后才能作出决定。",
                )
            if amount is None:
                amount = row["proposed_amount"]
            if amount is None:
                raise _bad("amount_required", "no amount given and none proposed", "请填写批准的月救助金额。")
            money = Decimal(str(amount)).quantize(Decimal("0.01"))
            if money < 0 or (money == 0 and row["program"] not in NO_CASH_PROGRAMS):
                raise _bad("bad_amount", f"amount {money} must be positive", "批准金额应大于0。")
            _decider_check(actor, row, money)
            one_off = row["program"] == "temporary_assistance"
            month = start_month or (month_of(today) if one_off else _next_month(today))
            try:
                Period.parse(month)
            except PeriodError as exc:
                raise _bad("bad_month", f"bad start month {month!r}", str(exc)) from exc
            recipient_id = enrol(
                conn,
                household_id=int(row["household_id"]),
                program=row["program"],
                monthly_amount=money,
                covered_members=_covered(conn, row),
                start_month=month,
                end_month=month if one_off else None,
                source="application",
                actor=actor.username,
                at=at,
                person_id=row["person_id"],
                application_id=application_id,
                reason=(reason or "申请审核确认批准")[:200],
            )
            values.update(
                status="approved",
                amount=money,
                start_month=month,
                decision_reason=(reason or "").strip() or None,
                recipient_id=recipient_id,
            )
            data.update(
                amount=money, start_month=month, recipient_id=recipient_id, proposed=row["proposed_amount"]
            )
        else:
            reason = _text_required(
                reason, "reason_required", "a written reason for the refusal", "不予批准的书面理由"
            )
            values.update(status="refused", decision_reason=reason)
            data["refusal_notice_due"] = refusal_notice_due(today)
        ledger.update_versioned(conn, TABLE, "id", application_id, version, values, case_type=CASE_TYPE)
        app_event(
            conn,
            row,
            "decided",
            actor.username,
            at,
            from_status=row["status"],
            to_status=values["status"],
            reason=values.get("decision_reason"),
            data=data,
        )
    return get_application(engine, actor, application_id, today=at.date())


def extend_deadline(
    engine: Engine,
    actor: Actor,
    application_id: int,
    *,
    reason: str,
    expected_version: int | None = None,
    now: dt.datetime | None = None,
) -> ApplicationView:
    """Extend the decision deadline once by ``extension_working_days`` working days (特殊情况)."""
    require(actor.role, "application.review")
    at = now or ledger.now()
    reason = _text_required(reason, "reason_required", "a reason for the extension", "延长办理时限的理由")
    scoped_row(engine, actor, application_id)
    with engine.begin() as conn:
        row, version = locked_row(conn, application_id, expected_version)
        require_status(row, OPEN_STATUSES, "extend the deadline", "延长办理时限")
        if row["extended"]:
            raise _bad(
                "already_extended",
                f"the deadline of application {application_id} was already extended",
                "办理时限只能延长一次，该申请已经延长过。",
            )
        p = case_parameters()
        new_deadline = add_working_days(
            row["deadline"], p.extension_working_days.value, p.holidays.value, p.workdays.value
        )
        ledger.update_versioned(
            conn,
            TABLE,
            "id",
            application_id,
            version,
            {"deadline": new_deadline, "extended": True},
            case_type=CASE_TYPE,
        )
        app_event(
            conn,
            row,
            "deadline_extended",
            actor.username,
            at,
            from_status=row["status"],
            to_status=row["status"],
            reason=reason,
            data={"from": row["deadline"], "to": new_deadline},
        )
    return get_application(engine, actor, application_id, today=at.date())


def complete_paperwork(
    engine: Engine,
    actor: Actor,
    application_id: int,
    *,
    note: str,
    expected_version: int | None = None,
    now: dt.datetime | None = None,
) -> ApplicationView:
    """补齐手续 of an emergency 临时救助 paid first: the economic check must have been run; the
    application is then approved with the amount paid (decided by the approval level)."""
    require(actor.role, "application.decide")
    at = now or ledger.now()
    note = _text_required(note, "note_required", "a note on the completed paperwork", "补齐手续的说明")
    scoped_row(engine, actor, application_id)
    with engine.begin() as conn:
        row, version = locked_row(conn, application_id, expected_version)
        if row["paid_first_at"] is None:
            raise InvalidState("complete paperwork", row["status"], "该申请没有先行救助，不需要补齐手续。")
        require_status(row, OPEN_STATUSES, "complete paperwork", "补齐手续")
        if not row["economic_check"]:
            raise _bad(
                "check_required",
                f"application {application_id} has no economic check yet",
                "补齐手续须先完成家庭经济状况核对。",
            )
        _decider_check(actor, row, Decimal(row["amount"]))
        values = {
            "status": "approved",
            "decision": "approve",
            "decided_by": actor.username,
            "decided_at": at,
            "decision_reason": note,
            "start_month": month_of(row["paid_first_at"].date()),
        }
        ledger.update_versioned(conn, TABLE, "id", application_id, version, values, case_type=CASE_TYPE)
        app_event(
            conn,
            row,
            "paperwork_completed",
            actor.username,
            at,
            from_status=row["status"],
            to_status="approved",
            reason=note,
            data={
                "amount": row["amount"],
                "paid_first_at": row["paid_first_at"],
                "paperwork_due": row["paperwork_due"],
                "late": at.date() > row["paperwork_due"],
            },
        )
    return get_application(engine, actor, application_id, today=at.date())


def list_applications(
    engine: Engine,
    actor: Actor,
    *,
    status: str | None = None,
    program: str | None = None,
    overdue: bool | None = None,
    include_decided: bool = True,
    today: dt.date | None = None,
    page: int = 1,
    page_size: int = 50,
) -> Page:
    """Applications of the actor's scope, by deadline (then id), masked; the filter is SQL."""
    require(actor.role, "case.view")
    today = today or ledger.now().date()
    where, scope_params = scope_sql(
        actor, division="a.division_code", township="a.township_code", county="a.county_code"
    )
    params: dict[str, Any] = dict(scope_params)
    conditions = [where]
    if status is not None:
        if status not in STATUSES:
            raise _bad(
                "bad_status",
                f"unknown status {status!r}",
                f"状态“{status}”无效，可选：{'、'.join(f'{k}（{v}）' for k, v in STATUSES.items())}。",
            )
        conditions.append("a.status = :status")
        params["status"] = status
    elif not include_decided:
        conditions.append("a.status NOT IN ('approved', 'refused')")
    if program is not None:
        conditions.append("a.program = :program")
        params["program"] = program
    late = (
        "(a.status NOT IN ('approved', 'refused') AND (a.deadline < :today"
        " OR (a.paid_first_at IS NOT NULL AND a.paperwork_due < :today)))"
    )
    if overdue is True:
        conditions.append(late)
        params["today"] = today
    elif overdue is False:
        conditions.append(f"NOT {late}")
        params["today"] = today
    cond = " AND ".join(conditions)
    page = max(page, 1)
    with engine.connect() as conn:
        total = int(
            conn.execute(
                select(func.count()).select_from(_A).where(text(cond).bindparams(*_binds(params)))
            ).scalar_one()
        )
        query = _view_query(cond, params).order_by(_A.c.deadline, _A.c.id)
        rows = conn.execute(query.limit(page_size).offset((page - 1) * page_size)).mappings().all()
    return Page([_view(r, today) for r in rows], total, page, page_size)


def overdue_applications(
    engine: Engine, actor: Actor, *, today: dt.date | None = None, page: int = 1, page_size: int = 50
) -> Page:
    """Open applications past their deadline (or an emergency's paperwork past due)."""
    return list_applications(engine, actor, overdue=True, today=today, page=page, page_size=page_size)


def application_detail(
    engine: Engine,
    actor: Actor,
    application_id: int,
    *,
    unmasked: bool = False,
    reason: str | None = None,
    today: dt.date | None = None,
) -> ApplicationDetail:
    """The application with its economic check, assessment, objections and events. Unmasked
    (names and citizen IDs in full) only with a reason, and then audited."""
    require(actor.role, "case.view")
    if unmasked:
        reason = _text_required(
            reason, "reason_required", "a reason to view unmasked data", "查看完整个人信息的理由"
        )
    row = scoped_row(engine, actor, application_id)
    today = today or ledger.now().date()
    with engine.begin() as conn:
        full = conn.execute(_view_query("a.id = :id", {"id": application_id})).mappings().one()
        objections = (
            conn.execute(
                select(OBJECTIONS)
                .where(OBJECTIONS.c.application_id == application_id)
                .order_by(OBJECTIONS.c.id)
            )
            .mappings()
            .all()
        )
        events = ledger.events_of(conn, CASE_TYPE, application_id, EVENTS)
        if unmasked:
            audit.record(
                conn,
                actor=actor.username,
                action="view_unmasked",
                object_type="application",
                object_ref=str(application_id),
                division_code=row["division_code"],
                reason=reason,
            )
    check = json.loads(full["economic_check"]) if full["economic_check"] else None
    if check is not None and not unmasked:
        for match in check.get("matches", []):
            match["citizen_id"] = mask_citizen_id(match.get("citizen_id") or "")
            if match.get("name"):
                match["name"] = mask_name(match["name"])
    return ApplicationDetail(
        application=_view(full, today, unmasked=unmasked),
        economic_check=check,
        assessment=json.loads(full["assessment"]) if full["assessment"] else None,
        objections=[
            ObjectionView(
                id=int(o["id"]),
                application_id=int(o["application_id"]),
                received_on=o["received_on"],
                objector=(o["objector"] if unmasked else mask_name(o["objector"])) if o["objector"] else "",
                content=o["content"],
                recorded_by=o["recorded_by"],
                recorded_at=o["recorded_at"],
                status=o["status"],
                status_label=label(OBJECTION_STATUSES, o["status"]),
                upheld=None if o["upheld"] is None else bool(o["upheld"]),
                resolution=o["resolution"],
                resolved_by=o["resolved_by"],
                resolved_at=o["resolved_at"],
            )
            for o in objections
        ],
        events=events,
        unmasked=unmasked,
    )
