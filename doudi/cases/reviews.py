"""Periodic review (定期复核) of recipients.

Each recipient has a review cycle — 12 months when the household's income is stable, 6 when
a working-age member able to work has no fixed income (灵活就业、无业、务农) — and the date of
its next review. :func:`reviews_due` is the task list of the reviews falling due within a
number of days (overdue ones first); :func:`record_review` records what a review found:

* ``continue`` 继续保障 — nothing changes;
* ``adjust`` 调整待遇 — a new amount (or members covered) from ``from_month``;
* ``stop`` 停止保障 — no payment from ``from_month``.

``from_month`` defaults to the month after the review. The next review is due one cycle after
the review (the cycle itself is worked out again from the household as it is now); a stopped
recipient has none. Temporary assistance (a one-off payment) is not reviewed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, insert, text

from doudi.auth import Actor, require
from doudi.auth.scope import scope_sql
from doudi.cases import ledger
from doudi.cases.errors import CaseError, InvalidState
from doudi.cases.labels import PROGRAMS_SHORT, label
from doudi.cases.recipients import (
    _RECIPIENTS,
    REPEATABLE_PROGRAMS,
    Page,
    _add_months,
    _date,
    _scope_recipient,
    apply_change,
    check_version,
    month,
    review_cycle,
)
from doudi.db.models import PeriodicReview
from doudi.ids import mask_name
from doudi.periods import Period

OUTCOMES: dict[str, str] = {"continue": "继续保障", "adjust": "调整待遇", "stop": "停止保障"}


@dataclass(frozen=True)
class ReviewDue:
    recipient_id: int
    household_id: int
    household_no: str
    program: str
    program_label: str
    township_code: str
    division_code: str
    head_name: str
    due_date: dt.date
    days_left: int  # negative: overdue
    review_cycle_months: int
    version: int

    @property
    def overdue(self) -> bool:
        return self.days_left < 0


@dataclass(frozen=True)
class ReviewResult:
    review_id: int
    recipient_id: int
    outcome: str
    version: int
    next_review_due: dt.date | None


def reviews_due(
    engine: Engine,
    actor: Actor,
    *,
    within_days: int = 30,
    today: dt.date | None = None,
    page: int = 1,
    page_size: int = 50,
) -> Page:
    """Recipients of the scope whose review is due by ``today + within_days`` (overdue
    included), earliest first; names masked."""
    require(actor.role, "case.view")
    day = today or dt.date.today()
    cond, scope_params = scope_sql(
        actor, division="r.division_code", township="r.township_code", county="r.county_code"
    )
    params: dict[str, Any] = {
        **scope_params,
        "until": day + dt.timedelta(days=within_days),
        "month": str(Period.of(day)),
    }
    where = f"""{cond} AND r.next_review_due IS NOT NULL AND r.next_review_due <= :until
                AND r.status <> 'stopped' AND (r.end_month IS NULL OR r.end_month >= :month)"""
    with engine.connect() as conn:
        total = conn.execute(text(f"SELECT count(*) FROM recipients r WHERE {where}"), params).scalar_one()
        rows = conn.execute(
            text(
                f"""SELECT r.id, r.household_id, h.household_no, r.program, r.township_code, r.division_code,
                           coalesce((SELECT min(pv.name) FROM person_versions pv
                                     WHERE pv.household_id = r.household_id AND pv.relation = 'head'
                                       AND pv.valid_to IS NULL), '') AS head_name,
                           r.next_review_due, r.review_cycle_months, r.version
                    FROM recipients r JOIN households h ON h.id = r.household_id
                    WHERE {where}
                    ORDER BY r.next_review_due, r.id LIMIT :limit OFFSET :offset"""
            ),
            {**params, "limit": page_size, "offset": (max(page, 1) - 1) * page_size},
        ).all()
    out = []
    for r in rows:
        due = _date(r.next_review_due)
        assert due is not None
        out.append(
            ReviewDue(
                recipient_id=int(r.id),
                household_id=int(r.household_id),
                household_no=str(r.household_no),
                program=r.program,
                program_label=label(PROGRAMS_SHORT, r.program),
                township_code=r.township_code,
                division_code=r.division_code,
                head_name=mask_name(r.head_name),
                due_date=due,
                days_left=(due - day).days,
                review_cycle_months=int(r.review_cycle_months),
                version=int(r.version),
            )
        )
    return Page(tuple(out), int(total), page, page_size)


def record_review(
    engine: Engine,
    actor: Actor,
    recipient_id: int,
    *,
    outcome: str,
    reviewed_on: dt.date,
    reason: str,
    new_amount: Decimal | str | int | float | None = None,
    covered_members: int | None = None,
    from_month: str | None = None,
    expected_version: int | None = None,
    now: dt.datetime | None = None,
) -> ReviewResult:
    """Record a periodic review and apply what it decided (see the module docstring)."""
    require(actor.role, "review.record")
    if outcome not in OUTCOMES:
        raise CaseError(
            "bad_outcome",
            f"unknown review outcome {outcome!r}",
            f"复核结论“{outcome}”不存在，应为 continue（继续保障）、adjust（调整待遇）或 stop（停止保障）。",
        )
    if not reason or not reason.strip():
        raise CaseError("reason_required", "a review needs a reason", "请填写复核情况和结论理由。")
    row = _scope_recipient(engine, actor, recipient_id)
    check_version("recipient", recipient_id, row.version, expected_version)
    if row.status == "stopped":
        raise InvalidState("review", row.status, "该救助对象已停发，无需复核。")
    if row.program in REPEATABLE_PROGRAMS:
        raise InvalidState("review temporary assistance", row.status, "临时救助为一次性救助，不做定期复核。")
    if outcome == "adjust" and new_amount is None and covered_members is None:
        raise CaseError(
            "bad_change", "adjust needs an amount", "复核调整待遇须给出新的月救助金额或保障人数。"
        )
    at = now or ledger.now()
    effective = str(month(from_month, "from_month")) if from_month else str(Period.of(reviewed_on).shift(1))
    with engine.begin() as conn:
        version = row.version if expected_version is None else expected_version
        if outcome in ("adjust", "stop"):
            version = apply_change(
                conn,
                recipient_id,
                kind="adjust" if outcome == "adjust" else "stop",
                from_month=effective,
                actor=actor.username,
                at=at,
                reason=f"定期复核：{reason}",
                monthly_amount=new_amount,
                covered_members=covered_members,
                expected_version=version,
            )
        cycle = review_cycle(conn, int(row.household_id), reviewed_on)
        next_due = None if outcome == "stop" else _add_months(reviewed_on, cycle)
        version = ledger.update_versioned(
            conn,
            _RECIPIENTS,
            "id",
            recipient_id,
            version,
            {"next_review_due": next_due, "review_cycle_months": cycle},
            case_type="recipient",
        )
        due = _date(row.next_review_due) or reviewed_on
        review_id = int(
            conn.execute(
                insert(PeriodicReview)
                .values(
                    recipient_id=recipient_id,
                    household_id=int(row.household_id),
                    due_date=due,
                    reviewed_on=reviewed_on,
                    outcome=outcome,
                    new_amount=Decimal(str(new_amount)) if new_amount is not None else None,
                    reason=reason,
                    reviewed_by=actor.username,
                    recorded_at=at,
                )
                .returning(PeriodicReview.id)
            ).scalar_one()
        )
        ledger.record_event(
            conn,
            case_type="recipient",
            case_id=recipient_id,
            event="reviewed",
            actor=actor.username,
            at=at,
            from_status=row.status,
            to_status="stopped" if outcome == "stop" else row.status,
            household_id=int(row.household_id),
            township_code=row.township_code,
            county_code=row.county_code,
            reason=reason,
            data={
                "review_id": review_id,
                "outcome": outcome,
                "due_date": due,
                "reviewed_on": reviewed_on,
                "from_month": effective if outcome != "continue" else None,
                "new_amount": str(new_amount) if new_amount is not None else None,
                "next_review_due": next_due,
                "review_cycle_months": cycle,
            },
        )
    return ReviewResult(review_id, recipient_id, outcome, version, next_due)
