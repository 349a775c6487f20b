"""Reading the alert loop: the inbox (open alerts of a scope by due date), overdue lists and
one alert's full record. The changes are in :mod:`doudi.cases.alert_work`, which re-exports
everything here.

The township inbox is the hot query (a year of alerts, first page < 50 ms): it filters on
``township_code`` by equality and ``closed_at IS NULL`` and sorts by ``due_date, id``, which
is the ``ix_alerts_inbox`` index; the count uses the same index.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Generic, TypeVar, cast

from sqlalchemy import Connection, Engine, Select, Table, and_, case, func, or_, select, text, true
from sqlalchemy.sql.elements import ColumnElement

from doudi import audit
from doudi.auth.actor import Actor
from doudi.auth.roles import require
from doudi.auth.scope import check, scope_sql
from doudi.cases import ledger
from doudi.cases.attachments import AttachmentInfo, attachments_of
from doudi.cases.errors import CaseError
from doudi.cases.labels import ALERT_STATUSES, OUTCOMES, label
from doudi.db.engine import reading
from doudi.db.models import Alert, AlertDecision, AlertEvidence, AlertWork, CaseEvent, Verification
from doudi.ids import mask_citizen_id
from doudi.monitor.rules import SEVERITIES

ALERTS = cast(Table, Alert.__table__)
WORK = cast(Table, AlertWork.__table__)
EVIDENCE = cast(Table, AlertEvidence.__table__)
VERIFICATIONS = cast(Table, Verification.__table__)
DECISIONS = cast(Table, AlertDecision.__table__)
EVENTS = cast(Table, CaseEvent.__table__)


# Alert events of the ledger and their labels (the lead merges these into doudi.cases.labels).
ALERT_EVENTS: dict[str, str] = {
    "assigned": "分派",
    "reassigned": "改派",
    "verified": "入户核查",
    "decided": "处置决定",
    "escalated": "逾期提交县级督办",
}
MAX_PAGE_SIZE = 500
# Orders of the inbox (code → label); the first is the default and the one the index serves.
SORTS: dict[str, str] = {
    "due": "到期日由近到远",
    "due_desc": "到期日由远到近",
    "raised": "最新发出在前",
    "severity": "红色预警在前",
}

T = TypeVar("T")


# --- views ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list, with the total number of rows the filters match."""

    rows: tuple[T, ...]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


@dataclass(frozen=True)
class InboxRow:
    """An alert as the inbox lists it (citizen ID masked)."""

    id: int
    rule_id: str
    severity: str
    title: str
    citizen_id: str
    household_id: int | None
    household_no: str | None
    registered: bool
    division_code: str
    status: str
    raised_at: dt.datetime
    due_date: dt.date
    closed_at: dt.datetime | None
    assignee: str | None
    verified_at: dt.datetime | None
    escalated_at: dt.datetime | None
    version: int
    days_left: int  # days until the due date as of the list's day (negative: overdue)

    @property
    def overdue(self) -> bool:
        return self.closed_at is None and self.days_left < 0

    @property
    def status_label(self) -> str:
        return label(ALERT_STATUSES, self.status)

    @property
    def severity_label(self) -> str:
        return label(SEVERITIES, self.severity)


@dataclass(frozen=True)
class WorkView:
    """The case work on one alert: who has it, when it was verified, decided, escalated."""

    alert_id: int
    status: str
    assignee: str | None
    assigned_at: dt.datetime | None
    verified_at: dt.datetime | None
    decided_at: dt.datetime | None
    helped_at: dt.datetime | None
    escalated_at: dt.datetime | None
    version: int

    @property
    def status_label(self) -> str:
        return label(ALERT_STATUSES, self.status)


@dataclass(frozen=True)
class EvidenceView:
    """A department's feed row behind an alert (citizen ID masked unless asked otherwise)."""

    alert_id: int
    feed_kind: str
    department: str
    load_id: int
    period: str
    row_no: int
    citizen_id: str
    event_date: dt.date | None
    detail: dict[str, Any]


def evidence_view(e: Any, *, unmasked: bool) -> EvidenceView:
    """An ``alert_evidence`` row (a mapping) as a view."""
    return EvidenceView(
        alert_id=int(e["alert_id"]),
        feed_kind=str(e["feed_kind"]),
        department=str(e["department"]),
        load_id=int(e["load_id"]),
        period=str(e["period"]),
        row_no=int(e["row_no"]),
        citizen_id=str(e["citizen_id"]) if unmasked else mask_citizen_id(str(e["citizen_id"])),
        event_date=e["event_date"],
        detail=json.loads(e["detail"]) if e["detail"] else {},
    )


@dataclass(frozen=True)
class VerificationView:
    id: int
    alert_id: int | None
    visited_on: dt.date
    visitors: str
    met: str
    findings: str
    recorded_by: str
    recorded_at: dt.datetime
    attachments: tuple[AttachmentInfo, ...] = ()
    version: int = 0  # the alert's lock version after the visit was recorded


@dataclass(frozen=True)
class DecisionView:
    id: int
    alert_id: int
    outcome: str
    reason: str
    amount: Decimal | None
    application_id: int | None
    recipient_id: int | None
    decided_by: str
    decided_at: dt.datetime

    @property
    def outcome_label(self) -> str:
        return label(OUTCOMES, self.outcome)


@dataclass(frozen=True)
class AlertDetail:
    """Everything about one alert: what was seen, by whom, and what was done about it."""

    id: int
    rule_id: str
    rule_version: int
    severity: str
    title: str
    explanation: str
    facts: dict[str, Any]
    actions: list[Any]
    policy: str | None
    citizen_id: str  # masked unless the view was asked unmasked (and audited)
    person_id: int | None
    household_id: int | None
    household_no: str | None
    registered: bool
    division_code: str
    township_code: str
    county_code: str
    period_first: str
    period_last: str
    raised_at: dt.datetime
    due_date: dt.date
    closed_at: dt.datetime | None
    closed_reason: str | None
    work: WorkView
    evidence: tuple[EvidenceView, ...]
    verifications: tuple[VerificationView, ...]
    decisions: tuple[DecisionView, ...]
    events: tuple[dict[str, Any], ...]
    unmasked: bool = False

    @property
    def status(self) -> str:
        return self.work.status

    @property
    def version(self) -> int:
        return self.work.version

    @property
    def attachments(self) -> tuple[AttachmentInfo, ...]:
        return tuple(a for v in self.verifications for a in v.attachments)

    @property
    def severity_label(self) -> str:
        return label(SEVERITIES, self.severity)


# --- reading ----------------------------------------------------------------------------------


def _today(today: dt.date | None) -> dt.date:
    return today or ledger.now().date()


def _alert_scope(actor: Actor, a: Any) -> ColumnElement[bool]:
    """The actor's scope over alerts ``a`` as a condition: equality on the township or county
    code where the scope is one (the inbox index starts with the township)."""
    cond, params = scope_sql(
        actor,
        division=f"{a.name}.division_code",
        township=f"{a.name}.township_code",
        county=f"{a.name}.county_code",
    )
    scope: ColumnElement[bool] = text(cond).bindparams(**params) if params else true()  # type: ignore[assignment]
    if len(actor.prefix) > 9:  # a village assistant: the township equality lets the index work
        scope = and_(a.c.township_code == actor.prefix[:9], scope)
    return scope


def inbox_query(
    actor: Actor,
    *,
    status: str | None = None,
    rule_id: str | None = None,
    severity: str | None = None,
    assignee: str | None = None,
    overdue: bool | None = None,
    escalated: bool | None = None,
    include_closed: bool = False,
    due_from: dt.date | None = None,
    due_to: dt.date | None = None,
    sort: str = "due",
    page: int = 1,
    page_size: int = 50,
    day: dt.date,
) -> tuple[Select[Any], Select[Any]]:
    """The inbox's page query and its count query (see :func:`inbox`; the benchmark and the
    query-plan test run them as they are)."""
    a = ALERTS.alias("a")
    w = WORK.alias("w")
    conds: list[ColumnElement[bool]] = [_alert_scope(actor, a)]
    if not include_closed and status != "closed":
        conds.append(a.c.closed_at.is_(None))
    if status is not None:
        conds.append(a.c.status == status)
    if rule_id is not None:
        conds.append(a.c.rule_id == rule_id)
    if severity is not None:
        conds.append(a.c.severity == severity)
    if assignee is not None:
        conds.append(w.c.assignee == assignee)
    if overdue is True:
        conds.append(and_(a.c.closed_at.is_(None), a.c.due_date < day))
    elif overdue is False:
        conds.append(or_(a.c.closed_at.is_not(None), a.c.due_date >= day))
    if escalated is True:
        conds.append(w.c.escalated_at.is_not(None))
    elif escalated is False:
        conds.append(w.c.escalated_at.is_(None))
    if due_from is not None:
        conds.append(a.c.due_date >= due_from)
    if due_to is not None:
        conds.append(a.c.due_date <= due_to)
    joined = a.outerjoin(w, w.c.alert_id == a.c.id)
    orders: dict[str, list[Any]] = {
        "due": [a.c.due_date, a.c.id],
        "due_desc": [a.c.due_date.desc(), a.c.id.desc()],
        "raised": [a.c.raised_at.desc(), a.c.id.desc()],
        "severity": [
            case({"red": 0, "orange": 1, "yellow": 2}, value=a.c.severity, else_=3),
            a.c.due_date,
            a.c.id,
        ],
    }
    query = (
        select(
            a.c.id,
            a.c.rule_id,
            a.c.severity,
            a.c.title,
            a.c.citizen_id,
            a.c.household_id,
            a.c.household_no,
            a.c.registered,
            a.c.division_code,
            a.c.status,
            a.c.raised_at,
            a.c.due_date,
            a.c.closed_at,
            w.c.assignee,
            w.c.verified_at,
            w.c.escalated_at,
            func.coalesce(w.c.version, 1).label("version"),
        )
        .select_from(joined)
        .where(*conds)
        .order_by(*orders[sort])
        .limit(page_size)
        .offset((page - 1) * page_size)
    )
    counting = select(func.count()).select_from(joined).where(*conds)
    return query, counting


def inbox(
    engine: Engine,
    actor: Actor,
    *,
    status: str | None = None,
    rule_id: str | None = None,
    severity: str | None = None,
    assignee: str | None = None,
    overdue: bool | None = None,
    escalated: bool | None = None,
    include_closed: bool = False,
    due_from: dt.date | None = None,
    due_to: dt.date | None = None,
    sort: str = "due",
    page: int = 1,
    page_size: int = 50,
    today: dt.date | None = None,
) -> Page[InboxRow]:
    """The alerts of the actor's scope, most urgent first (due date, then id), a page at a time.

    Open alerts only unless ``include_closed`` (or ``status='closed'``). ``overdue`` True: past
    the due date; False: not yet. ``escalated`` True: escalated to the county. ``due_from`` /
    ``due_to``: due dates in that range (both ends included). ``sort``: one of :data:`SORTS`."""
    require(actor.role, "case.view")
    if status is not None and status not in ALERT_STATUSES:
        raise CaseError(
            "bad_status",
            f"unknown alert status {status!r}",
            f"预警状态“{status}”不存在，可选：{'、'.join(f'{c}（{v}）' for c, v in ALERT_STATUSES.items())}。",
        )
    if sort not in SORTS:
        raise CaseError(
            "bad_sort",
            f"unknown inbox order {sort!r}",
            f"排序方式“{sort}”不存在，可选：{'、'.join(f'{c}（{v}）' for c, v in SORTS.items())}。",
        )
    page, page_size = _check_page(page, page_size)
    day = _today(today)
    query, counting = inbox_query(
        actor,
        status=status,
        rule_id=rule_id,
        severity=severity,
        assignee=assignee,
        overdue=overdue,
        escalated=escalated,
        include_closed=include_closed,
        due_from=due_from,
        due_to=due_to,
        sort=sort,
        page=page,
        page_size=page_size,
        day=day,
    )
    with reading(engine) as conn:
        rows = conn.execute(query).mappings().all()
        total = int(conn.execute(counting).scalar_one())
    return Page(
        tuple(
            InboxRow(
                id=int(r["id"]),
                rule_id=r["rule_id"],
                severity=r["severity"],
                title=r["title"],
                citizen_id=mask_citizen_id(r["citizen_id"]),
                household_id=r["household_id"],
                household_no=r["household_no"],
                registered=bool(r["registered"]),
                division_code=r["division_code"],
                status=r["status"],
                raised_at=r["raised_at"],
                due_date=r["due_date"],
                closed_at=r["closed_at"],
                assignee=r["assignee"],
                verified_at=r["verified_at"],
                escalated_at=r["escalated_at"],
                version=int(r["version"]),
                days_left=(r["due_date"] - day).days,
            )
            for r in rows
        ),
        total,
        page,
        page_size,
    )


def overdue(
    engine: Engine,
    actor: Actor,
    *,
    escalated: bool | None = None,
    assignee: str | None = None,
    page: int = 1,
    page_size: int = 50,
    today: dt.date | None = None,
) -> Page[InboxRow]:
    """Open alerts of the actor's scope past their due date, the longest overdue first."""
    return inbox(
        engine,
        actor,
        overdue=True,
        escalated=escalated,
        assignee=assignee,
        page=page,
        page_size=page_size,
        today=today,
    )


def _check_page(page: int, page_size: int) -> tuple[int, int]:
    if page < 1 or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise CaseError(
            "bad_page",
            f"page {page} / page size {page_size} out of range",
            f"页码应从1开始，每页条数应在1至{MAX_PAGE_SIZE}之间。",
        )
    return page, page_size


def _load(conn: Connection, alert_id: int) -> dict[str, Any] | None:
    """The alert with its work row (version 1 and no work when nobody has acted on it)."""
    row = (
        conn.execute(
            select(
                ALERTS,
                WORK.c.assignee,
                WORK.c.assigned_at,
                WORK.c.verified_at,
                WORK.c.decided_at,
                WORK.c.helped_at,
                WORK.c.escalated_at,
                func.coalesce(WORK.c.version, 1).label("version"),
            )
            .select_from(ALERTS.outerjoin(WORK, WORK.c.alert_id == ALERTS.c.id))
            .where(ALERTS.c.id == alert_id)
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


def _work_view(r: dict[str, Any]) -> WorkView:
    return WorkView(
        alert_id=int(r["id"]),
        status=r["status"],
        assignee=r["assignee"],
        assigned_at=r["assigned_at"],
        verified_at=r["verified_at"],
        decided_at=r["decided_at"],
        helped_at=r["helped_at"],
        escalated_at=r["escalated_at"],
        version=int(r["version"]),
    )


def _scoped(engine: Engine, actor: Actor, alert_id: int) -> dict[str, Any]:
    """The alert, after the scope check (NotFound, audited, when outside the actor's scope)."""
    with reading(engine) as conn:
        row = _load(conn, alert_id)
    check(engine, actor, "alert", alert_id, row["division_code"] if row else None)
    assert row is not None
    return row


def alert_detail(
    engine: Engine, actor: Actor, alert_id: int, *, unmasked: bool = False, reason: str | None = None
) -> AlertDetail:
    """One alert with its evidence, case work, visits, decisions, attachments and events.

    The citizen ID is masked unless ``unmasked`` with a ``reason``; that view is audited."""
    require(actor.role, "case.view")
    if unmasked and not (reason or "").strip():
        raise CaseError(
            "reason_required",
            "an unmasked view needs a reason",
            "查看完整身份证号需要填写理由（将记入审计日志）。",
        )
    row = _scoped(engine, actor, alert_id)
    with engine.begin() as conn:
        evidence = conn.execute(
            select(EVIDENCE).where(EVIDENCE.c.alert_id == alert_id).order_by(EVIDENCE.c.id)
        ).mappings()
        evidence_views = tuple(evidence_view(e, unmasked=unmasked) for e in evidence)
        verifications = _verifications(conn, alert_id)
        decisions = _decisions(conn, alert_id)
        events = tuple(ledger.events_of(conn, "alert", alert_id, ALERT_EVENTS))
        if unmasked:
            audit.record(
                conn,
                actor=actor.username,
                action="view_unmasked",
                object_type="alert",
                object_ref=str(alert_id),
                division_code=row["division_code"],
                reason=reason,
            )
    return AlertDetail(
        id=int(row["id"]),
        rule_id=row["rule_id"],
        rule_version=int(row["rule_version"]),
        severity=row["severity"],
        title=row["title"],
        explanation=row["explanation"],
        facts=json.loads(row["facts"]) if row["facts"] else {},
        actions=json.loads(row["actions"]) if row["actions"] else [],
        policy=row["policy"],
        citizen_id=row["citizen_id"] if unmasked else mask_citizen_id(row["citizen_id"]),
        person_id=row["person_id"],
        household_id=row["household_id"],
        household_no=row["household_no"],
        registered=bool(row["registered"]),
        division_code=row["division_code"],
        township_code=row["township_code"],
        county_code=row["county_code"],
        period_first=row["period_first"],
        period_last=row["period_last"],
        raised_at=row["raised_at"],
        due_date=row["due_date"],
        closed_at=row["closed_at"],
        closed_reason=row["closed_reason"],
        work=_work_view(row),
        evidence=evidence_views,
        verifications=verifications,
        decisions=decisions,
        events=events,
        unmasked=unmasked,
    )


def _verifications(conn: Connection, alert_id: int) -> tuple[VerificationView, ...]:
    rows = conn.execute(
        select(VERIFICATIONS).where(VERIFICATIONS.c.alert_id == alert_id).order_by(VERIFICATIONS.c.id)
    ).mappings()
    return tuple(
        VerificationView(
            id=int(v["id"]),
            alert_id=v["alert_id"],
            visited_on=v["visited_on"],
            visitors=v["visitors"],
            met=v["met"],
            findings=v["findings"],
            recorded_by=v["recorded_by"],
            recorded_at=v["recorded_at"],
            attachments=tuple(attachments_of(conn, "verification", int(v["id"]))),
        )
        for v in rows
    )


def _decisions(conn: Connection, alert_id: int) -> tuple[DecisionView, ...]:
    rows = conn.execute(
        select(DECISIONS).where(DECISIONS.c.alert_id == alert_id).order_by(DECISIONS.c.id)
    ).mappings()
    return tuple(
        DecisionView(
            id=int(d["id"]),
            alert_id=int(d["alert_id"]),
            outcome=d["outcome"],
            reason=d["reason"],
            amount=d["amount"],
            application_id=d["application_id"],
            recipient_id=d["recipient_id"],
            decided_by=d["decided_by"],
            decided_at=d["decided_at"],
        )
        for d in rows
    )
