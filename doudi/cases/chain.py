"""A household's assistance chain (一户一条救助链): every alert, assignment, visit, decision,
referral, application step, change of payment, payment made and periodic review, in the order
they happened.

The case ledger (``case_events`` by ``household_id``) gives the steps; the detail tables give
what a step recorded: a visit's findings (``verifications``), each outcome of a decision with
its reason (``alert_decisions``; referrals are outcomes), the months actually paid (lines of
*confirmed* payment rolls, not excluded) and reviews (``periodic_reviews``). The ledger events
those tables stand for (an alert's ``verified`` and ``decided``, a recipient's ``reviewed``)
are not listed twice. Alerts themselves come from ``alerts`` (the monitoring run writes no
ledger event). Entries at the same moment keep the order cause → effect: the alert, the
visit, the decision, then what the decision set off (application, recipient).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Engine, Table, and_, select

from doudi.auth.actor import Actor
from doudi.auth.roles import require
from doudi.auth.scope import check
from doudi.cases.alert_views import ALERT_EVENTS, SEVERITIES
from doudi.cases.applications import EVENTS as APPLICATION_EVENTS
from doudi.cases.households import household_place
from doudi.cases.labels import CASE_TYPES, OUTCOMES, PROGRAMS_SHORT, label
from doudi.cases.reviews import OUTCOMES as REVIEW_OUTCOMES
from doudi.db.engine import reading
from doudi.db.models import (
    Alert,
    AlertDecision,
    CaseEvent,
    Household,
    PaymentRoll,
    PaymentRollLine,
    PeriodicReview,
    Verification,
)

ALERTS = cast(Table, Alert.__table__)
EVENTS = cast(Table, CaseEvent.__table__)
VERIFICATIONS = cast(Table, Verification.__table__)
DECISIONS = cast(Table, AlertDecision.__table__)
ROLLS = cast(Table, PaymentRoll.__table__)
LINES = cast(Table, PaymentRollLine.__table__)
REVIEWS = cast(Table, PeriodicReview.__table__)
HOUSEHOLDS = cast(Table, Household.__table__)

RECIPIENT_EVENTS: dict[str, str] = {
    "enrolled": "纳入救助",
    "adjusted": "调整待遇",
    "stopped": "停发",
    "phase_out_started": "进入渐退期",
    "reviewed": "定期复核",
}
EVENT_LABELS: dict[str, dict[str, str]] = {
    "alert": ALERT_EVENTS,
    "application": APPLICATION_EVENTS,
    "recipient": RECIPIENT_EVENTS,
}
# Ledger events shown from their detail table instead.
_FROM_DETAIL = {("alert", "verified"), ("alert", "decided"), ("recipient", "reviewed")}

KINDS: dict[str, str] = {
    "alert": "预警",
    "visit": "入户核查",
    "decision": "处置决定",
    "referral": "转介",
    "event": "办理",
    "payment": "发放",
    "review": "定期复核",
}
# Order of entries at the same moment: cause before effect.
_RANK = {"alert": 0, "visit": 1, "decision": 2, "referral": 2, "event": 3, "review": 4, "payment": 5}


@dataclass(frozen=True)
class ChainEntry:
    at: dt.datetime
    kind: str  # one of KINDS
    case_type: str  # alert, application, recipient, verification, payment_roll, review
    case_id: int
    title: str  # Chinese, for the user
    detail: str  # Chinese, for the user
    actor: str | None
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def kind_label(self) -> str:
        return KINDS[self.kind]


@dataclass(frozen=True)
class HouseholdChain:
    household_id: int
    household_no: str
    division_code: str
    entries: tuple[ChainEntry, ...]

    def of_kind(self, kind: str) -> tuple[ChainEntry, ...]:
        return tuple(e for e in self.entries if e.kind == kind)


def find_household(engine: Engine, ref: str) -> int | None:
    """A household id from its number (户编号) or, failing that, its numeric id."""
    with reading(engine) as conn:
        found = conn.execute(select(HOUSEHOLDS.c.id).where(HOUSEHOLDS.c.household_no == ref)).scalar()
        if found is None and ref.isdigit():
            found = conn.execute(select(HOUSEHOLDS.c.id).where(HOUSEHOLDS.c.id == int(ref))).scalar()
    return int(found) if found is not None else None


def household_chain(engine: Engine, actor: Actor, household_id: int) -> HouseholdChain:
    """The household's assistance chain, oldest first. The household must be in the actor's
    scope where it lives now (NotFound, audited, otherwise); its whole history is shown."""
    require(actor.role, "case.view")
    with reading(engine) as conn:
        place = household_place(conn, household_id)
    check(engine, actor, "household", household_id, place.division_code if place else None)
    assert place is not None
    entries: list[ChainEntry] = []
    with reading(engine) as conn:
        for a in conn.execute(select(ALERTS).where(ALERTS.c.household_id == household_id)).mappings():
            entries.append(
                ChainEntry(
                    a["raised_at"],
                    "alert",
                    "alert",
                    int(a["id"]),
                    f"{label(SEVERITIES, a['severity'])}预警：{a['title']}",
                    f"{a['explanation']}（处置期限 {a['due_date']}）",
                    None,
                    {"rule_id": a["rule_id"], "due_date": a["due_date"]},
                )
            )
        for v in conn.execute(
            select(VERIFICATIONS).where(VERIFICATIONS.c.household_id == household_id)
        ).mappings():
            entries.append(
                ChainEntry(
                    v["recorded_at"],
                    "visit",
                    "verification",
                    int(v["id"]),
                    f"入户核查（{v['visited_on']}）",
                    f"核查人员：{v['visitors']}；见到：{v['met']}；情况：{v['findings']}",
                    v["recorded_by"],
                    {"alert_id": v["alert_id"], "application_id": v["application_id"]},
                )
            )
        for d in conn.execute(select(DECISIONS).where(DECISIONS.c.household_id == household_id)).mappings():
            amount = f"，金额 {d['amount']} 元" if d["amount"] is not None else ""
            entries.append(
                ChainEntry(
                    d["decided_at"],
                    "referral" if str(d["outcome"]).startswith("refer_") else "decision",
                    "alert",
                    int(d["alert_id"]),
                    label(OUTCOMES, d["outcome"]),
                    f"理由：{d['reason']}{amount}",
                    d["decided_by"],
                    {
                        "outcome": d["outcome"],
                        "application_id": d["application_id"],
                        "recipient_id": d["recipient_id"],
                    },
                )
            )
        for e in conn.execute(
            select(EVENTS).where(EVENTS.c.household_id == household_id).order_by(EVENTS.c.id)
        ).mappings():
            if (e["case_type"], e["event"]) in _FROM_DETAIL:
                continue
            data = json.loads(e["data"]) if e["data"] else {}
            entries.append(
                ChainEntry(
                    e["at"],
                    "event",
                    e["case_type"],
                    int(e["case_id"]),
                    f"{label(CASE_TYPES, e['case_type'])}：{label(EVENT_LABELS.get(e['case_type'], {}), e['event'])}",
                    _event_detail(e["case_type"], e["event"], data, e["reason"]),
                    e["actor"],
                    data,
                )
            )
        paid = conn.execute(
            select(
                LINES.c.id,
                LINES.c.program,
                LINES.c.amount,
                LINES.c.covered_members,
                LINES.c.recipient_id,
                ROLLS.c.id.label("roll_id"),
                ROLLS.c.period,
                ROLLS.c.confirmed_at,
                ROLLS.c.confirmed_by,
            )
            .select_from(LINES.join(ROLLS, ROLLS.c.id == LINES.c.roll_id))
            .where(
                and_(
                    LINES.c.household_id == household_id,
                    ROLLS.c.status == "confirmed",
                    LINES.c.excluded.is_(False),
                )
            )
        ).mappings()
        for p in paid:
            entries.append(
                ChainEntry(
                    p["confirmed_at"],
                    "payment",
                    "payment_roll",
                    int(p["roll_id"]),
                    f"{p['period']} 发放{label(PROGRAMS_SHORT, p['program'])}",
                    f"{p['amount']} 元，保障 {p['covered_members']} 人",
                    p["confirmed_by"],
                    {
                        "period": p["period"],
                        "amount": Decimal(p["amount"]),
                        "recipient_id": p["recipient_id"],
                    },
                )
            )
        for r in conn.execute(select(REVIEWS).where(REVIEWS.c.household_id == household_id)).mappings():
            amount = f"，新金额 {r['new_amount']} 元" if r["new_amount"] is not None else ""
            entries.append(
                ChainEntry(
                    r["recorded_at"],
                    "review",
                    "review",
                    int(r["id"]),
                    f"定期复核：{label(REVIEW_OUTCOMES, r['outcome'])}",
                    f"复核日期 {r['reviewed_on']}（应复核 {r['due_date']}）；理由：{r['reason']}{amount}",
                    r["reviewed_by"],
                    {"recipient_id": r["recipient_id"], "outcome": r["outcome"]},
                )
            )
    entries.sort(key=lambda x: (x.at, _RANK[x.kind]))  # stable: each source is in id order
    return HouseholdChain(place.household_id, place.household_no, place.division_code, tuple(entries))


def _event_detail(case_type: str, event: str, data: dict[str, Any], reason: str | None) -> str:
    """One Chinese line on what a ledger event did."""
    parts: list[str] = []
    if case_type == "alert" and event == "assigned":
        parts.append(f"分派给 {data.get('assignee')}")
    elif case_type == "alert" and event == "reassigned":
        parts.append(f"由 {data.get('previous')} 改派给 {data.get('assignee')}")
    elif case_type == "alert" and event == "escalated":
        parts.append(f"处置期限 {data.get('due_date')} 已过")
    if data.get("program"):
        parts.append(f"项目：{label(PROGRAMS_SHORT, str(data['program']))}")
    if data.get("monthly_amount") is not None:
        parts.append(f"月救助金额 {data['monthly_amount']} 元")
    if data.get("amount") is not None:
        parts.append(f"金额 {data['amount']} 元")
    for key, name in (("start_month", "起始月份"), ("from_month", "生效月份"), ("deadline", "办结期限")):
        if data.get(key):
            parts.append(f"{name} {data[key]}")
    if reason:
        parts.append(f"理由：{reason}")
    return "；".join(parts)
