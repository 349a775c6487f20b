"""The alert loop (预警处置): inbox → assignment → home visit → decision → closure, with due
dates, overdue lists and escalation to the county.

An alert is raised by the monthly monitoring run (:mod:`doudi.monitor.alerts`), routed to the
township of its division and due ``due_days`` (15) after it was raised. Case work on it lives
in ``alert_work`` (one row per alert, created the first time someone acts on it) and in the
case ledger. Its workflow status is ``alerts.status``:

======== ======== ==========================================================================
status   标签      how it gets there
======== ======== ==========================================================================
open     待分派    raised by the monitoring run, nobody has it yet
assigned 已分派    :func:`assign` / :func:`assign_open` gave it to a caseworker or assistant
verified 已核查    :func:`record_verification` recorded a home visit (入户核查); more may follow
closed   已办结    :func:`decide` recorded the outcomes; ``closed_at`` is set, and the monitoring
                  run then leaves the alert alone and suppresses the same event for a while
======== ======== ==========================================================================

Decisions taken here:

- **Every decision needs a verification first**, ``no_help_needed`` included: "动态清零" is
  the promise that every warning was looked at, and a warning closed as "no help needed"
  without anyone checking is exactly what it forbids. A telephone check or a desk check
  against the registry is recorded as a verification too (its findings say so).
- A decision is final: it closes the alert. A later change of mind is a new act on the
  application or recipient it led to, never an edit of the decision.
- Verification does not require an assignment (a village assistant who happens to pass by
  may record a visit); it does not change the assignee.
- **Escalation is not a change of the case**: :func:`escalate_overdue` sets
  ``alert_work.escalated_at`` and writes an ``escalated`` event but leaves the lock version
  alone, so the county's nightly escalation never makes a caseworker's save fail.
- Overdue means open after its due date (``today > due_date``); escalation happens when an
  alert is still open ``escalate_after_days`` (case parameter, default 0) after that.

Optimistic locking: ``alert_work.version`` (1 for an alert nobody has touched yet). Every
change takes ``expected_version``, the version the user saw (None: the current one); a stale
one raises :class:`doudi.cases.errors.Conflict`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, cast

from sqlalchemy import (
    Connection,
    Date,
    DateTime,
    Engine,
    String,
    Table,
    bindparam,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from doudi.auth.actor import Actor, scope_prefix
from doudi.auth.roles import ROLES, require
from doudi.auth.scope import NotFound, check
from doudi.cases import ledger
from doudi.cases.alert_views import (
    ALERT_EVENTS,
    ALERTS,
    DECISIONS,
    SEVERITIES,
    VERIFICATIONS,
    WORK,
    AlertDetail,
    DecisionView,
    EvidenceView,
    InboxRow,
    Page,
    VerificationView,
    WorkView,
    _load,
    _scoped,
    _work_view,
    alert_detail,
    inbox,
    overdue,
)
from doudi.cases.applications import open_application, pay_first_in
from doudi.cases.attachments import attach
from doudi.cases.errors import CaseError, InvalidState
from doudi.cases.labels import OUTCOMES, label
from doudi.cases.parameters import case_parameters
from doudi.cases.recipients import ChangeKind, apply_change
from doudi.db import bulk
from doudi.db.models import CaseEvent, Recipient, User
from doudi.periods import Period, PeriodError

__all__ = [
    "ALERT_EVENTS",
    "SEVERITIES",
    "AlertDetail",
    "DecisionResult",
    "DecisionView",
    "EvidenceView",
    "InboxRow",
    "Outcome",
    "Page",
    "VerificationView",
    "WorkView",
    "alert_detail",
    "assign",
    "assign_open",
    "decide",
    "escalate_overdue",
    "inbox",
    "overdue",
    "record_verification",
]

EVENTS = cast(Table, CaseEvent.__table__)
RECIPIENTS = cast(Table, Recipient.__table__)
USERS = cast(Table, User.__table__)

# Outcomes that open an application (H2) for a program, and that change a payment (H3).
ENROL_PROGRAMS: dict[str, str] = {
    "enrol_dibao": "dibao",
    "enrol_tekun": "tekun",
    "enrol_marginal": "marginal",
    "enrol_rigid_spending": "rigid_spending",
}
PAYMENT_CHANGES: dict[str, ChangeKind] = {"stop_payment": "stop", "adjust_payment": "adjust"}
# Outcomes that need the household to be in the registry (they act on its cases).
NEEDS_HOUSEHOLD = frozenset({*ENROL_PROGRAMS, "temporary_assistance", *PAYMENT_CHANGES})
ASSIGNABLE_ROLES = frozenset({"township_caseworker", "village_assistant"})


@dataclass(frozen=True)
class Outcome:
    """One outcome of a decision on an alert, with its reason.

    ``amount``: temporary assistance paid at once (先行救助), the new monthly amount of
    ``adjust_payment``, the value of ``services`` (optional). ``recipient_id``: the recipient
    whose payment ``stop_payment``/``adjust_payment`` changes (default: the household's only
    recipient in pay, of ``program`` when given). ``from_month``: when that change takes effect
    (default: the month after the decision)."""

    kind: str
    reason: str
    amount: Decimal | None = None
    program: str | None = None
    recipient_id: int | None = None
    from_month: str | None = None


@dataclass(frozen=True)
class DecisionResult:
    alert_id: int
    version: int
    decisions: tuple[DecisionView, ...] = ()


# --- changing ---------------------------------------------------------------------------------


def _ensure_work(conn: Connection, alert_id: int) -> None:
    """Create the alert's work row (version 1) unless it exists; safe under concurrency."""
    if conn.dialect.name == "postgresql":
        conn.execute(pg_insert(WORK).values(alert_id=alert_id, version=1).on_conflict_do_nothing())
    else:
        conn.execute(sqlite_insert(WORK).values(alert_id=alert_id, version=1).on_conflict_do_nothing())


def _change(
    conn: Connection,
    row: dict[str, Any],
    expected_version: int | None,
    values: dict[str, Any],
) -> int:
    """Apply ``values`` to the alert's work row under the lock version; the new version."""
    alert_id = int(row["id"])
    _ensure_work(conn, alert_id)
    expected = int(row["version"]) if expected_version is None else int(expected_version)
    return ledger.update_versioned(conn, WORK, "alert_id", alert_id, expected, values, case_type="alert")


def _current(conn: Connection, alert_id: int) -> dict[str, Any]:
    """The alert re-read in the writing transaction (it existed a moment ago: never deleted)."""
    row = _load(conn, alert_id)
    if row is None:
        raise NotFound("alert", alert_id)
    return row


def _set_alert(conn: Connection, alert_id: int, **values: Any) -> None:
    conn.execute(update(ALERTS).where(ALERTS.c.id == alert_id).values(**values))


def _event(
    conn: Connection,
    row: dict[str, Any],
    event: str,
    actor: Actor,
    at: dt.datetime,
    *,
    to_status: str | None = None,
    reason: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    ledger.record_event(
        conn,
        case_type="alert",
        case_id=int(row["id"]),
        event=event,
        actor=actor.username,
        at=at,
        from_status=row["status"],
        to_status=to_status or row["status"],
        household_id=row["household_id"],
        township_code=row["township_code"],
        county_code=row["county_code"],
        reason=reason,
        data=data,
    )


def _open_for_work(row: dict[str, Any], what: str) -> None:
    if row["closed_at"] is not None or row["status"] == "closed":
        raise InvalidState(what, row["status"], f"预警（编号 {row['id']}）已办结，不能再{_WHAT_ZH[what]}。")


_WHAT_ZH = {"assign": "分派", "verify": "登记核查", "decide": "作出处置决定"}


def _check_assignee(conn: Connection, assignee: str, division_code: str) -> None:
    user = conn.execute(
        select(USERS.c.role, USERS.c.division_code, USERS.c.active).where(USERS.c.username == assignee)
    ).first()
    if user is None or not user.active:
        raise CaseError(
            "bad_assignee", f"no active user {assignee!r}", f"用户“{assignee}”不存在或已停用，不能分派给他。"
        )
    if user.role not in ASSIGNABLE_ROLES:
        raise CaseError(
            "bad_assignee",
            f"user {assignee} has role {user.role}, not a caseworker or village assistant",
            f"用户“{assignee}”的角色是{ROLES[user.role].label}，预警只能分派给乡镇（街道）经办人或村（社区）协理员。",
        )
    if not division_code.startswith(user.division_code):
        raise CaseError(
            "bad_assignee",
            f"user {assignee} (scope {user.division_code}) does not cover division {division_code}",
            f"用户“{assignee}”的管辖范围（{user.division_code}）不包括该预警所在的 {division_code}，不能分派给他。",
        )


def assign(
    engine: Engine,
    actor: Actor,
    alert_id: int,
    assignee: str,
    *,
    expected_version: int | None = None,
    reason: str | None = None,
    now: dt.datetime | None = None,
) -> WorkView:
    """Give the alert to a caseworker or village assistant whose scope covers it; giving it to
    someone else later is a reassignment (event ``reassigned``, the previous assignee kept in
    the event)."""
    require(actor.role, "alert.assign")
    at = now or ledger.now()
    _scoped(engine, actor, alert_id)
    with engine.begin() as conn:
        row = _current(conn, alert_id)
        _open_for_work(row, "assign")
        _check_assignee(conn, assignee, row["division_code"])
        previous = row["assignee"]
        if previous == assignee:
            raise CaseError(
                "same_assignee",
                f"alert {alert_id} is already assigned to {assignee}",
                f"预警（编号 {alert_id}）已分派给“{assignee}”。",
            )
        status = "assigned" if row["status"] == "open" else row["status"]
        version = _change(conn, row, expected_version, {"assignee": assignee, "assigned_at": at})
        if status != row["status"]:
            _set_alert(conn, alert_id, status=status)
        _event(
            conn,
            row,
            "reassigned" if previous else "assigned",
            actor,
            at,
            to_status=status,
            reason=reason,
            data={"assignee": assignee, "previous": previous} if previous else {"assignee": assignee},
        )
        row.update(status=status, assignee=assignee, assigned_at=at, version=version)
    return _work_view(row)


ASSIGN_STRATEGIES = {"round_robin": "轮流分派", "least_loaded": "优先分给在办最少的经办人"}


def assign_open(
    engine: Engine,
    actor: Actor,
    township: str,
    *,
    strategy: str = "round_robin",
    now: dt.datetime | None = None,
) -> dict[str, int]:
    """Share the township's open, unassigned alerts (most urgent first) among its active
    caseworkers: ``round_robin`` in user-name order, or ``least_loaded`` (each alert to whoever
    has the fewest open alerts at that moment). Returns the number given to each caseworker.

    One transaction, a few statements whatever the number of alerts; an alert someone assigned
    meanwhile makes the whole call fail with a conflict (nothing is half-done)."""
    require(actor.role, "alert.assign")
    if strategy not in ASSIGN_STRATEGIES:
        raise CaseError(
            "bad_strategy",
            f"unknown assignment strategy {strategy!r}",
            f"分派方式“{strategy}”不存在，可选：{'、'.join(f'{k}（{v}）' for k, v in ASSIGN_STRATEGIES.items())}。",
        )
    if len(township) != 9 or not township.isdigit():
        raise CaseError(
            "bad_division", f"{township!r} is not a township code", f"“{township}”不是9位乡镇（街道）代码。"
        )
    check(engine, actor, "division", township, township)
    at = now or ledger.now()
    with engine.begin() as conn:
        workers = [
            r[0]
            for r in conn.execute(
                select(USERS.c.username)
                .where(
                    USERS.c.role == "township_caseworker",
                    USERS.c.division_code == township,
                    USERS.c.active.is_(True),
                )
                .order_by(USERS.c.username)
            )
        ]
        if not workers:
            raise CaseError(
                "no_caseworkers",
                f"township {township} has no active caseworker",
                f"乡镇（街道）{township} 没有在用的经办人账号，无法分派。",
            )
        open_alerts = (
            conn.execute(
                select(
                    ALERTS.c.id,
                    ALERTS.c.status,
                    ALERTS.c.household_id,
                    ALERTS.c.township_code,
                    ALERTS.c.county_code,
                    WORK.c.version,
                )
                .select_from(ALERTS.outerjoin(WORK, WORK.c.alert_id == ALERTS.c.id))
                .where(
                    ALERTS.c.township_code == township,
                    ALERTS.c.closed_at.is_(None),
                    WORK.c.assignee.is_(None),
                )
                .order_by(ALERTS.c.due_date, ALERTS.c.id)
            )
            .mappings()
            .all()
        )
        load = dict.fromkeys(workers, 0)
        if strategy == "least_loaded":
            for name, n in conn.execute(
                select(WORK.c.assignee, func.count())
                .select_from(WORK.join(ALERTS, ALERTS.c.id == WORK.c.alert_id))
                .where(ALERTS.c.closed_at.is_(None), WORK.c.assignee.in_(workers))
                .group_by(WORK.c.assignee)
            ):
                load[name] = int(n)
        plan: list[tuple[dict[str, Any], str]] = []
        for i, r in enumerate(open_alerts):
            if strategy == "round_robin":
                who = workers[i % len(workers)]
            else:
                who = min(workers, key=lambda u: (load[u], u))
            load[who] += 1
            plan.append((dict(r), who))
        given = dict.fromkeys(workers, 0)
        if not plan:
            return given
        fresh = [
            {"alert_id": int(r["id"]), "assignee": who, "assigned_at": at, "version": 2}
            for r, who in plan
            if r["version"] is None
        ]
        if fresh:
            try:
                conn.execute(insert(WORK), fresh)
            except IntegrityError as exc:  # someone acted on one of them meanwhile
                raise _bulk_conflict(township) from exc
        existing = [{"k": int(r["id"]), "who": who, "at": at} for r, who in plan if r["version"] is not None]
        if existing:
            result = conn.execute(
                update(WORK)
                .where(WORK.c.alert_id == bindparam("k"), WORK.c.assignee.is_(None))
                .values(
                    assignee=bindparam("who"),
                    assigned_at=bindparam("at", type_=DateTime),
                    version=WORK.c.version + 1,
                ),
                existing,
            )
            if result.rowcount != len(existing):
                raise _bulk_conflict(township)
        conn.execute(
            update(ALERTS)
            .where(ALERTS.c.id.in_([int(r["id"]) for r, _ in plan]), ALERTS.c.status == "open")
            .values(status="assigned")
        )
        conn.execute(
            insert(EVENTS),
            [
                {
                    "case_type": "alert",
                    "case_id": int(r["id"]),
                    "household_id": r["household_id"],
                    "township_code": r["township_code"],
                    "county_code": r["county_code"],
                    "event": "assigned",
                    "from_status": r["status"],
                    "to_status": "assigned" if r["status"] == "open" else r["status"],
                    "actor": actor.username,
                    "at": at,
                    "reason": ASSIGN_STRATEGIES[strategy],
                    "data": json.dumps({"assignee": who, "strategy": strategy}, ensure_ascii=False),
                }
                for r, who in plan
            ],
        )
        for _, who in plan:
            given[who] += 1
    return given


def _bulk_conflict(township: str) -> CaseError:
    return CaseError(
        "conflict",
        f"some alerts of township {township} were assigned meanwhile",
        "部分预警刚被他人分派，本次批量分派未保存。请刷新后重试。",
    )


def record_verification(
    engine: Engine,
    actor: Actor,
    alert_id: int,
    *,
    visited_on: dt.date,
    visitors: str,
    met: str,
    findings: str,
    attachments: Sequence[tuple[str, bytes]] = (),
    data_dir: Path,
    expected_version: int | None = None,
    now: dt.datetime | None = None,
) -> VerificationView:
    """Record a home visit (入户核查): when, who went, who was met, what was found, and the
    photos or signed forms (stored under ``data_dir`` by their hash). The first visit sets
    ``verified_at`` (what the 15-day figure counts); later visits add to the record."""
    require(actor.role, "alert.verify")
    at = now or ledger.now()
    texts = {"visitors": visitors, "met": met, "findings": findings}
    missing = [k for k, v in texts.items() if not (v or "").strip()]
    if missing:
        names = {"visitors": "核查人员", "met": "见到的人", "findings": "核查情况"}
        raise CaseError(
            "missing_field",
            f"verification lacks {', '.join(missing)}",
            f"请填写{'、'.join(names[k] for k in missing)}。",
        )
    row = _scoped(engine, actor, alert_id)
    if visited_on > at.date():
        raise CaseError(
            "bad_date", f"visit date {visited_on} is in the future", f"核查日期 {visited_on} 晚于今天。"
        )
    if visited_on < row["raised_at"].date():
        raise CaseError(
            "bad_date",
            f"visit date {visited_on} is before the alert was raised",
            f"核查日期 {visited_on} 早于预警发出日期 {row['raised_at'].date()}。",
        )
    with engine.begin() as conn:
        row = _current(conn, alert_id)
        _open_for_work(row, "verify")
        values: dict[str, Any] = {} if row["verified_at"] else {"verified_at": at}
        version = _change(conn, row, expected_version, values)
        verification_id = conn.execute(
            insert(VERIFICATIONS)
            .values(
                alert_id=alert_id,
                household_id=row["household_id"],
                visited_on=visited_on,
                visitors=visitors.strip(),
                met=met.strip(),
                findings=findings.strip(),
                recorded_by=actor.username,
                recorded_at=at,
            )
            .returning(VERIFICATIONS.c.id)
        ).scalar_one()
        files = tuple(
            attach(
                conn,
                data_dir,
                case_type="verification",
                case_id=int(verification_id),
                file_name=name,
                content=content,
                actor=actor.username,
                at=at,
            )
            for name, content in attachments
        )
        if row["status"] != "verified":
            _set_alert(conn, alert_id, status="verified")
        _event(
            conn,
            row,
            "verified",
            actor,
            at,
            to_status="verified",
            data={
                "verification_id": int(verification_id),
                "visited_on": visited_on.isoformat(),
                "met": met.strip(),
                "attachments": [f.sha256 for f in files],
            },
        )
    return VerificationView(
        id=int(verification_id),
        alert_id=alert_id,
        visited_on=visited_on,
        visitors=visitors.strip(),
        met=met.strip(),
        findings=findings.strip(),
        recorded_by=actor.username,
        recorded_at=at,
        attachments=files,
        version=version,
    )


# --- deciding ---------------------------------------------------------------------------------


def _amount(value: Any, kind: str) -> Decimal | None:
    if value is None:
        return None
    try:
        amount = Decimal(str(value)).quantize(Decimal("0.01"))
    except InvalidOperation:
        amount = Decimal(-1)
    if amount <= 0:
        raise CaseError(
            "bad_amount",
            f"amount {value!r} of {kind} is not a positive number",
            f"“{label(OUTCOMES, kind)}”的金额应为大于0的数字，收到“{value}”。",
        )
    return amount


def _check_outcomes(outcomes: Sequence[Outcome], row: dict[str, Any]) -> list[Outcome]:
    if not outcomes:
        raise CaseError("no_outcome", "a decision needs at least one outcome", "请至少选择一项处置结果。")
    checked = []
    for o in outcomes:
        if o.kind not in OUTCOMES:
            raise CaseError(
                "bad_outcome",
                f"unknown outcome {o.kind!r}",
                f"处置结果“{o.kind}”不存在，可选：{'、'.join(f'{k}（{v}）' for k, v in OUTCOMES.items())}。",
            )
        if not (o.reason or "").strip():
            raise CaseError(
                "reason_required",
                f"outcome {o.kind} has no reason",
                f"“{OUTCOMES[o.kind]}”需要写明理由。",
            )
        if o.kind in NEEDS_HOUSEHOLD and row["household_id"] is None:
            raise CaseError(
                "unregistered",
                f"outcome {o.kind} needs a registered household, alert {row['id']} has none",
                f"该预警对象尚未登记为家庭，不能“{OUTCOMES[o.kind]}”；请先登记家庭，或选择转介、服务类救助。",
            )
        if o.kind == "adjust_payment" and o.amount is None:
            raise CaseError(
                "amount_required",
                "adjust_payment needs the new monthly amount",
                "调整救助金额需要填写新的月救助金额。",
            )
        if o.from_month is not None:
            try:
                Period.parse(o.from_month)
            except PeriodError as exc:
                raise CaseError("bad_month", f"bad month {o.from_month!r}", str(exc)) from exc
        checked.append(
            Outcome(
                o.kind, o.reason.strip(), _amount(o.amount, o.kind), o.program, o.recipient_id, o.from_month
            )
        )
    kinds = [o.kind for o in checked]
    if "no_help_needed" in kinds and len(kinds) > 1:
        raise CaseError(
            "contradictory_outcomes",
            "no_help_needed cannot go with other outcomes",
            "“经核查无需救助”不能与其他处置结果同时选择。",
        )
    repeated = sorted({k for k in kinds if kinds.count(k) > 1 and k not in PAYMENT_CHANGES})
    if repeated:
        raise CaseError(
            "repeated_outcome",
            f"outcomes repeated: {repeated}",
            f"处置结果重复：{'、'.join(OUTCOMES[k] for k in repeated)}。",
        )
    return checked


def _recipient_for(conn: Connection, row: dict[str, Any], o: Outcome) -> int:
    """The recipient a payment change acts on: the one named (it must be the household's), or
    the household's only recipient in pay (of ``o.program`` when given)."""
    household = int(row["household_id"])
    if o.recipient_id is not None:
        owner = conn.execute(
            select(RECIPIENTS.c.household_id).where(RECIPIENTS.c.id == o.recipient_id)
        ).scalar_one_or_none()
        if owner is None or int(owner) != household:
            raise CaseError(
                "bad_recipient",
                f"recipient {o.recipient_id} is not of household {household}",
                f"救助对象（编号 {o.recipient_id}）不是该预警家庭的救助对象。",
            )
        return int(o.recipient_id)
    conds = [RECIPIENTS.c.household_id == household, RECIPIENTS.c.status.in_(("active", "phase_out"))]
    if o.program:
        conds.append(RECIPIENTS.c.program == o.program)
    found = [int(r[0]) for r in conn.execute(select(RECIPIENTS.c.id).where(*conds).order_by(RECIPIENTS.c.id))]
    if len(found) != 1:
        raise CaseError(
            "which_recipient",
            f"household {household} has {len(found)} recipients in pay for {o.kind}",
            "该家庭没有正在发放的救助待遇，无法停发或调整。"
            if not found
            else f"该家庭有 {len(found)} 项正在发放的救助待遇，请指明救助对象编号或项目。",
        )
    return found[0]


def _carry_out(
    conn: Connection, row: dict[str, Any], o: Outcome, actor: Actor, at: dt.datetime
) -> tuple[int | None, int | None, dict[str, Any]]:
    """Open the application or change the payment an outcome calls for, in the decision's
    transaction; returns (application id, recipient id, event data)."""
    household = row["household_id"]
    data: dict[str, Any] = {"kind": o.kind}
    if o.kind in ENROL_PROGRAMS or o.kind == "temporary_assistance":
        program = ENROL_PROGRAMS.get(o.kind, "temporary_assistance")
        application_id = open_application(
            conn,
            household_id=int(household),
            program=program,
            channel="alert",
            actor=actor.username,
            at=at,
            applied_on=at.date(),
            alert_id=int(row["id"]),
            note=o.reason,
            emergency=o.kind == "temporary_assistance",
        )
        recipient_id = None
        if o.kind == "temporary_assistance" and o.amount is not None:
            recipient_id = pay_first_in(conn, application_id, amount=o.amount, actor=actor.username, at=at)
        data.update(program=program, application_id=application_id, recipient_id=recipient_id)
        return application_id, recipient_id, data
    if o.kind in PAYMENT_CHANGES:
        recipient_id = _recipient_for(conn, row, o)
        from_month = o.from_month or str(Period.of(at.date()).shift(1))
        apply_change(
            conn,
            recipient_id,
            kind=PAYMENT_CHANGES[o.kind],
            from_month=from_month,
            actor=actor.username,
            at=at,
            reason=o.reason,
            monthly_amount=o.amount,
        )
        data.update(recipient_id=recipient_id, from_month=from_month)
        return None, recipient_id, data
    return None, None, data


def decide(
    engine: Engine,
    actor: Actor,
    alert_id: int,
    outcomes: Sequence[Outcome],
    *,
    expected_version: int | None = None,
    now: dt.datetime | None = None,
) -> DecisionResult:
    """Decide what the household gets (each outcome with its reason), carry it out and close the
    alert — all in one transaction. Enrolment outcomes open an application (channel ``alert``),
    temporary assistance opens an emergency application and pays at once when an amount is
    given, payment changes act on the household's recipient; referrals and services are
    recorded. The alert needs a recorded verification first (see the module docstring)."""
    require(actor.role, "alert.decide")
    at = now or ledger.now()
    _scoped(engine, actor, alert_id)
    with engine.begin() as conn:
        row = _current(conn, alert_id)
        _open_for_work(row, "decide")
        if row["verified_at"] is None:
            raise InvalidState(
                "decide",
                row["status"],
                f"预警（编号 {alert_id}）尚未登记入户核查，请先核查再作处置决定。",
            )
        checked = _check_outcomes(outcomes, row)
        helped = any(o.kind != "no_help_needed" for o in checked)
        values: dict[str, Any] = {"decided_at": at}
        if helped:
            values["helped_at"] = at
        version = _change(conn, row, expected_version, values)
        done = []
        views = []
        for o in checked:
            application_id, recipient_id, data = _carry_out(conn, row, o, actor, at)
            decision_id = conn.execute(
                insert(DECISIONS)
                .values(
                    alert_id=alert_id,
                    household_id=row["household_id"],
                    outcome=o.kind,
                    reason=o.reason,
                    amount=o.amount,
                    application_id=application_id,
                    recipient_id=recipient_id,
                    decided_by=actor.username,
                    decided_at=at,
                )
                .returning(DECISIONS.c.id)
            ).scalar_one()
            done.append({**data, "reason": o.reason, "amount": o.amount, "decision_id": int(decision_id)})
            views.append(
                DecisionView(
                    int(decision_id),
                    alert_id,
                    o.kind,
                    o.reason,
                    o.amount,
                    application_id,
                    recipient_id,
                    actor.username,
                    at,
                )
            )
        summary = "；".join(OUTCOMES[o.kind] for o in checked)
        _set_alert(conn, alert_id, status="closed", closed_at=at, closed_reason=summary[:200])
        _event(
            conn,
            row,
            "decided",
            actor,
            at,
            to_status="closed",
            reason=summary,
            data={"outcomes": done, "helped": helped},
        )
    return DecisionResult(alert_id, version, tuple(views))


# --- escalation -------------------------------------------------------------------------------


def escalate_overdue(
    engine: Engine,
    *,
    now: dt.datetime | None = None,
    actor_name: str = "system",
    division: str | None = None,
) -> int:
    """Escalate to the county every open alert still open ``escalate_after_days`` after its due
    date and not escalated yet (within ``division`` when given); returns how many.

    Set-based: three statements whatever the number (the events, the missing work rows, the
    flag). The county sees them with ``inbox(..., escalated=True)``. Running it twice escalates
    nothing the second time."""
    at = now or ledger.now()
    cutoff = at.date() - dt.timedelta(days=case_parameters().escalate_after_days.value)
    a = ALERTS
    due = [a.c.closed_at.is_(None), a.c.due_date < literal(cutoff, Date)]
    if division:
        due.append(a.c.division_code.like(scope_prefix(division) + "%"))
    reason = "逾期未办结，提交县级督办"
    with engine.begin() as conn:
        bulk.lock_for_write(conn, ["alert_work"])
        events = (
            select(
                literal("alert"),
                a.c.id,
                a.c.household_id,
                a.c.township_code,
                a.c.county_code,
                literal("escalated"),
                a.c.status,
                a.c.status,
                literal(actor_name),
                literal(at, DateTime),
                literal(reason),
                literal('{"due_date": "') + sql_cast(a.c.due_date, String) + literal('"}'),
            )
            .select_from(a.outerjoin(WORK, WORK.c.alert_id == a.c.id))
            .where(*due, WORK.c.escalated_at.is_(None))
        )
        escalated = conn.execute(
            insert(EVENTS)
            .from_select(
                [
                    "case_type",
                    "case_id",
                    "household_id",
                    "township_code",
                    "county_code",
                    "event",
                    "from_status",
                    "to_status",
                    "actor",
                    "at",
                    "reason",
                    "data",
                ],
                events,
            )
            .returning(EVENTS.c.case_id)
        ).all()
        missing = select(a.c.id, literal(1), literal(at, DateTime)).where(
            *due, ~select(WORK.c.alert_id).where(WORK.c.alert_id == a.c.id).exists()
        )
        conn.execute(insert(WORK).from_select(["alert_id", "version", "escalated_at"], missing))
        conn.execute(
            update(WORK)
            .where(WORK.c.escalated_at.is_(None), WORK.c.alert_id.in_(select(a.c.id).where(*due)))
            .values(escalated_at=at)
        )
    return len(escalated)
