"""Recipients (救助对象) and the terms of their payments.

A recipient is one household (or, for the disability subsidies, one person) receiving one
program from ``start_month``. What it is paid is kept as *terms* (``recipient_terms``): each
term says the monthly amount and the members covered from one month (``from_month``) through
another (``to_month``, open when None). Nothing is ever rewritten in place: a change closes the
term in force the month before it takes effect and opens a new one, so any past month's
amount can still be read, and the payment roll of a month takes the term in force that month.

Changes and the month they take effect from (``from_month``):

* ``adjust`` (increase or decrease): the new amount is paid from ``from_month``;
* ``stop``: nothing is paid from ``from_month`` (``end_month`` = the month before), status
  ``stopped``; the household's category (低保 …) ends on the first day of ``from_month``;
* ``phase_out`` (渐退期): payment goes on for ``months`` months starting with ``from_month``
  (at the current amount, or at ``monthly_amount`` when given), then stops; status
  ``phase_out``.

A change may not reach back into a month whose payment roll is already confirmed (the money
is paid): such corrections are a recovery (追回) outside the roll.

Statuses: ``active`` 在保, ``phase_out`` 渐退期, ``stopped`` 已停发 (labels in
:mod:`doudi.cases.labels`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal, cast

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, Engine, Table, insert, select, text, update

from doudi import audit
from doudi.auth import Actor, require
from doudi.auth import scope as scope_mod
from doudi.auth.scope import scope_sql
from doudi.cases import ledger
from doudi.cases.errors import CaseError, Conflict, InvalidState
from doudi.cases.households import household_place
from doudi.cases.labels import PROGRAMS_SHORT, RECIPIENT_STATUSES, label
from doudi.cases.parameters import case_parameters
from doudi.db import bulk
from doudi.db.models import HouseholdCategory, PeriodicReview, Recipient, RecipientTerm
from doudi.ids import mask_citizen_id, mask_name
from doudi.periods import Period, PeriodError
from doudi.programs import sources
from doudi.programs.engine import evaluate
from doudi.programs.parameters import ParameterSet, default_parameters
from doudi.registry.queries import IN_FORCE

_RECIPIENTS = cast(Table, Recipient.__table__)
_TERMS = cast(Table, RecipientTerm.__table__)

# Programs that make the household a registry category (household_categories.category).
CATEGORY_PROGRAMS = frozenset({"dibao", "tekun", "marginal", "rigid_spending"})
# Programs paid to one person rather than to the household.
PERSON_PROGRAMS = frozenset({"disability_living_subsidy", "disability_care_subsidy"})
# Programs a household may receive more than once (each a one-off payment).
REPEATABLE_PROGRAMS = frozenset({"temporary_assistance"})
ALL_PROGRAMS = frozenset(PROGRAMS_SHORT)
# Category programs with no monthly cash payment unless an amount is set.
NON_CASH_PROGRAMS = ("marginal", "rigid_spending")

# Employment codes of a working-age member able to work whose income is not fixed
# (灵活就业, 无业, 务农 — seasonal): such a household is reviewed every 6 months.
IRREGULAR_EMPLOYMENT = ("flexible", "unemployed", "farming")
WORKING_AGE = (16, 60)  # from the 16th birthday up to the 60th

ChangeKind = Literal["adjust", "stop", "phase_out"]
CHANGE_KINDS: dict[str, str] = {"adjust": "调整待遇", "stop": "停发", "phase_out": "进入渐退期"}
CHANGE_EVENTS: dict[str, str] = {"adjust": "adjusted", "stop": "stopped", "phase_out": "phase_out_started"}


def month(value: str | Period, what: str = "month") -> Period:
    """A ``YYYY-MM`` month, or a clear error."""
    if isinstance(value, Period):
        return value
    try:
        return Period.parse(value)
    except PeriodError as exc:
        raise CaseError("bad_month", f"{what} {value!r} is not YYYY-MM", str(exc)) from exc


def _amount(value: Decimal | str | int | float, *, positive: bool = True) -> Decimal:
    amount = Decimal(str(value)).quantize(Decimal("0.01"))
    if amount < 0 or (positive and amount == 0):
        raise CaseError(
            "bad_amount",
            f"monthly amount {amount} must be above zero",
            f"月救助金额应大于0元，收到 {amount} 元（停发请用停发操作）。",
        )
    return amount


def _add_months(day: dt.date, months: int) -> dt.date:
    p = Period.of(day).shift(months)
    return min(dt.date(p.year, p.month, day.day) if day.day <= 28 else p.end, p.end)


def review_cycle(conn: Connection, household_id: int, on: dt.date) -> int:
    """Months between periodic reviews: 6 when a working-age member able to work has no fixed
    income (灵活就业、无业、务农), else 12 (the case parameters)."""
    params = case_parameters()
    young, old = WORKING_AGE
    irregular = conn.execute(
        text(
            f"""SELECT count(*) FROM person_versions pv
                WHERE pv.household_id = :h AND pv.valid_to IS NULL
                  AND pv.employment IN ({", ".join(f"'{e}'" for e in IRREGULAR_EMPLOYMENT)})
                  AND pv.birth_date <= :young AND pv.birth_date > :old
                  AND coalesce(pv.disability_grade, 9) > 2 AND pv.serious_illness = :false"""
        ),
        {
            "h": household_id,
            "young": _years_before(on, young),
            "old": _years_before(on, old),
            "false": False,
        },
    ).scalar_one()
    return params.review_months_irregular.value if irregular else params.review_months_stable.value


def _years_before(on: dt.date, years: int) -> dt.date:
    try:
        return on.replace(year=on.year - years)
    except ValueError:  # 29 February
        return on.replace(year=on.year - years, day=28)


def _last_month(row: Any) -> Period | None:
    """The last month a recipient row is paid, None when open-ended."""
    return Period.parse(row.end_month) if row.end_month else None


def _exclusivity(
    conn: Connection,
    *,
    household_id: int,
    person_id: int | None,
    program: str,
    start: Period,
    end: Period | None,
) -> None:
    """Refuse a second program the household (person) may not hold at the same time."""
    pairs = case_parameters().exclusive_pairs()
    rows = conn.execute(select(_RECIPIENTS).where(_RECIPIENTS.c.household_id == household_id)).fetchall()
    for r in rows:
        first = Period.parse(r.start_month)
        last = _last_month(r)
        if last is not None and last < first:
            continue  # stopped before it started
        overlaps = (end is None or first <= end) and (last is None or last >= start)
        if not overlaps:
            continue
        same_subject = r.person_id is None or person_id is None or r.person_id == person_id
        if not same_subject:
            continue
        if r.program == program and program not in REPEATABLE_PROGRAMS:
            raise CaseError(
                "already_recipient",
                f"household {household_id} already receives {program} (recipient {r.id})",
                f"该{'成员' if person_id else '家庭'}已在享受{label(PROGRAMS_SHORT, program)}"
                f"（救助对象编号 {r.id}），不能重复纳入。",
                details=[f"救助对象编号 {r.id}，自 {r.start_month} 起"],
            )
        if frozenset((r.program, program)) in pairs:
            raise CaseError(
                "exclusive_programs",
                f"{program} cannot be held with {r.program} (recipient {r.id})",
                f"{label(PROGRAMS_SHORT, program)}与{label(PROGRAMS_SHORT, r.program)}不能同时享受："
                f"该{'成员' if person_id and r.person_id else '家庭'}已是{label(PROGRAMS_SHORT, r.program)}"
                f"对象（救助对象编号 {r.id}）。请先停发原待遇，或改为其他救助。",
                details=[f"救助对象编号 {r.id}：{label(PROGRAMS_SHORT, r.program)}，自 {r.start_month} 起"],
            )


def enrol(
    conn: Connection,
    *,
    household_id: int,
    program: str,
    monthly_amount: Decimal | str | int | float,
    covered_members: int,
    start_month: str,
    source: str,
    actor: str,
    at: dt.datetime,
    person_id: int | None = None,
    application_id: int | None = None,
    end_month: str | None = None,
    reason: str = "",
    review_cycle_months: int | None = None,
) -> int:
    """Make the household (person) a recipient of ``program`` from ``start_month``, in the
    caller's transaction; returns the recipient id.

    The division comes from the household's current version. A program it may not hold with
    one it already receives (case parameters ``exclusive_programs``), or the same program
    twice, is refused (``exclusive_programs`` / ``already_recipient``). Category programs
    open the household's registry category from the first day of ``start_month`` unless one
    is open already. The review cycle is 6 or 12 months (:func:`review_cycle`) unless given."""
    if program not in ALL_PROGRAMS:
        raise CaseError("bad_program", f"unknown program {program!r}", f"救助项目“{program}”不存在。")
    if program in PERSON_PROGRAMS and person_id is None:
        raise CaseError(
            "person_required",
            f"{program} is paid to a person: person_id is required",
            f"{label(PROGRAMS_SHORT, program)}按人发放，须指明享受的家庭成员。",
        )
    place = household_place(conn, household_id)
    if place is None:
        raise CaseError(
            "unknown_household", f"household {household_id} not found", f"家庭（编号 {household_id}）不存在。"
        )
    start = month(start_month, "start_month")
    end = month(end_month, "end_month") if end_month else None
    if end is not None and end < start:
        raise CaseError(
            "bad_month",
            f"end month {end} before start month {start}",
            f"截止月份 {end} 早于起始月份 {start}。",
        )
    # 低保边缘 and 刚性支出困难 are a status first: no cash amount is a valid enrolment.
    amount = _amount(monthly_amount, positive=program not in NON_CASH_PROGRAMS)
    if covered_members < 1:
        raise CaseError("bad_covered", "covered members must be at least 1", "保障人数至少为1人。")
    _exclusivity(conn, household_id=household_id, person_id=person_id, program=program, start=start, end=end)
    cycle = review_cycle_months or review_cycle(conn, household_id, start.start)
    next_review = _add_months(start.start, cycle) if program not in REPEATABLE_PROGRAMS else None
    recipient_id = int(
        conn.execute(
            insert(Recipient)
            .values(
                household_id=household_id,
                person_id=person_id,
                program=program,
                division_code=place.division_code,
                township_code=place.township_code,
                county_code=place.county_code,
                source=source,
                application_id=application_id,
                start_month=str(start),
                end_month=str(end) if end else None,
                status="active",
                phase_out_end=None,
                review_cycle_months=cycle,
                next_review_due=next_review,
                created_at=at,
                version=1,
            )
            .returning(Recipient.id)
        ).scalar_one()
    )
    conn.execute(
        insert(RecipientTerm).values(
            recipient_id=recipient_id,
            from_month=str(start),
            to_month=str(end) if end else None,
            monthly_amount=amount,
            covered_members=covered_members,
            reason=(reason or "纳入")[:200],
            created_by=actor,
            created_at=at,
        )
    )
    if program in CATEGORY_PROGRAMS:
        open_category = conn.execute(
            select(HouseholdCategory.id).where(
                HouseholdCategory.household_id == household_id,
                HouseholdCategory.category == program,
                (HouseholdCategory.end_date.is_(None)) | (HouseholdCategory.end_date > start.start),
            )
        ).first()
        if open_category is None:
            conn.execute(
                insert(HouseholdCategory).values(
                    household_id=household_id, category=program, start_date=start.start, end_date=None
                )
            )
    ledger.record_event(
        conn,
        case_type="recipient",
        case_id=recipient_id,
        event="enrolled",
        actor=actor,
        at=at,
        to_status="active",
        household_id=household_id,
        township_code=place.township_code,
        county_code=place.county_code,
        reason=reason or None,
        data={
            "program": program,
            "monthly_amount": str(amount),
            "covered_members": covered_members,
            "start_month": str(start),
            "end_month": str(end) if end else None,
            "person_id": person_id,
            "application_id": application_id,
            "source": source,
            "review_cycle_months": cycle,
        },
    )
    return recipient_id


def check_version(case_type: str, key: int, current: int, expected: int | None) -> None:
    """A stale version is a conflict before anything else: the user decided on what they saw,
    and someone has changed it since (whatever its state is now)."""
    if expected is not None and int(expected) != int(current):
        raise Conflict(case_type, key, expected)


def term_in_force(conn: Connection, recipient_id: int, period: str | Period) -> Any | None:
    """The term paying ``period``, or None."""
    p = str(month(period))
    return conn.execute(
        select(_TERMS)
        .where(
            _TERMS.c.recipient_id == recipient_id,
            _TERMS.c.from_month <= p,
            (_TERMS.c.to_month.is_(None)) | (_TERMS.c.to_month >= p),
        )
        .order_by(_TERMS.c.from_month.desc(), _TERMS.c.id.desc())
    ).first()


def _last_term(conn: Connection, recipient_id: int, before: Period) -> Any | None:
    """The term in force in the month before ``before`` — or the latest one when that month
    has none (a change effective from the start month)."""
    t = term_in_force(conn, recipient_id, before.shift(-1))
    if t is not None:
        return t
    return conn.execute(
        select(_TERMS)
        .where(_TERMS.c.recipient_id == recipient_id)
        .order_by(_TERMS.c.from_month.desc(), _TERMS.c.id.desc())
    ).first()


def last_confirmed_month(conn: Connection, recipient_id: int) -> str | None:
    """The latest month this recipient was on a confirmed (paid) payment roll."""
    value = conn.execute(
        text(
            """SELECT max(r.period) FROM payment_roll_lines l JOIN payment_rolls r ON r.id = l.roll_id
               WHERE l.recipient_id = :id AND r.status = 'confirmed'"""
        ),
        {"id": recipient_id},
    ).scalar_one()
    return str(value) if value else None


def apply_change(
    conn: Connection,
    recipient_id: int,
    *,
    kind: ChangeKind,
    from_month: str,
    actor: str,
    at: dt.datetime,
    reason: str,
    monthly_amount: Decimal | str | int | float | None = None,
    covered_members: int | None = None,
    months: int | None = None,
    expected_version: int | None = None,
) -> int:
    """Change what a recipient is paid from ``from_month`` (see the module docstring), in the
    caller's transaction; returns the recipient's new version.

    ``expected_version`` None means the current one (the caller read and writes in this
    transaction); a stale version raises :class:`~doudi.cases.errors.Conflict`."""
    if kind not in CHANGE_KINDS:
        raise CaseError(
            "bad_change",
            f"unknown change {kind!r}",
            f"变更类型“{kind}”不存在，应为 adjust、stop 或 phase_out。",
        )
    if not reason or not reason.strip():
        raise CaseError("reason_required", "a change needs a reason", f"{CHANGE_KINDS[kind]}须写明理由。")
    row = conn.execute(select(_RECIPIENTS).where(_RECIPIENTS.c.id == recipient_id)).first()
    if row is None:
        raise CaseError(
            "unknown_recipient",
            f"recipient {recipient_id} not found",
            f"救助对象（编号 {recipient_id}）不存在。",
        )
    version = row.version if expected_version is None else expected_version
    check_version("recipient", recipient_id, row.version, expected_version)
    start = month(from_month, "from_month")
    if row.status == "stopped":
        raise InvalidState(
            f"{kind} recipient {recipient_id}",
            row.status,
            "该救助对象已停发，不能再变更；如需恢复请重新申请纳入。",
        )
    if kind == "phase_out" and row.status == "phase_out":
        raise InvalidState("phase out", row.status, "该救助对象已在渐退期。")
    if kind != "adjust" and row.program in REPEATABLE_PROGRAMS:
        raise InvalidState(
            f"{kind} temporary assistance", row.status, "临时救助为一次性救助，不能停发或渐退。"
        )
    first = Period.parse(row.start_month)
    if start < first:
        raise CaseError(
            "bad_month",
            f"change from {start} before the start month {first}",
            f"生效月份 {start} 早于该救助对象的起始月份 {first}。",
        )
    last = _last_month(row)
    if last is not None and start > last and kind != "stop":
        raise CaseError(
            "bad_month",
            f"change from {start} after the last paid month {last}",
            f"生效月份 {start} 晚于该救助对象的最后发放月份 {last}。",
        )
    paid = last_confirmed_month(conn, recipient_id)
    if paid is not None and str(start) <= paid:
        raise CaseError(
            "month_paid",
            f"recipient {recipient_id} is paid through {paid}; cannot change from {start}",
            f"{paid} 的发放名册已确认，{start} 起的变更会改动已发放的月份。请从 {Period.parse(paid).shift(1)} "
            "起变更，多发的款项另行追回。",
        )
    current = _last_term(conn, recipient_id, start)
    values: dict[str, Any] = {}
    new_end: Period | None = last
    data: dict[str, Any] = {"kind": kind, "from_month": str(start)}
    new_amount = _amount(monthly_amount) if monthly_amount is not None else None
    if kind == "adjust":
        if new_amount is None and covered_members is None:
            raise CaseError(
                "bad_change",
                "adjust needs an amount or covered members",
                "调整待遇须给出新的月救助金额或保障人数。",
            )
    elif kind == "stop":
        new_end = start.shift(-1)
        if last is not None and last < new_end:
            new_end = last
        values.update(status="stopped", end_month=str(new_end))
    else:  # phase_out
        n = months if months is not None else case_parameters().phase_out_months.value
        if n < 1:
            raise CaseError("bad_months", "phase-out months must be at least 1", "渐退期月数至少为1个月。")
        new_end = start.shift(n - 1)
        if last is not None and last < new_end:
            new_end = last
        values.update(status="phase_out", end_month=str(new_end), phase_out_end=str(new_end))
        data["months"] = n
    # Close every term reaching into from_month (a term wholly after it is left empty: superseded).
    cut = str(start.shift(-1))
    conn.execute(
        update(RecipientTerm)
        .where(
            RecipientTerm.recipient_id == recipient_id,
            (RecipientTerm.to_month.is_(None)) | (RecipientTerm.to_month > cut),
        )
        .values(to_month=cut)
    )
    if kind != "stop":
        amount = new_amount if new_amount is not None else (current.monthly_amount if current else None)
        covered = (
            covered_members if covered_members is not None else (current.covered_members if current else 1)
        )
        if amount is None:
            raise CaseError(
                "bad_change", "no term to carry the amount from", "缺少原待遇，请给出月救助金额。"
            )
        if covered < 1:
            raise CaseError("bad_covered", "covered members must be at least 1", "保障人数至少为1人。")
        conn.execute(
            insert(RecipientTerm).values(
                recipient_id=recipient_id,
                from_month=str(start),
                to_month=str(new_end) if new_end else None,
                monthly_amount=amount,
                covered_members=covered,
                reason=reason[:200],
                created_by=actor,
                created_at=at,
            )
        )
        data.update(
            monthly_amount=str(amount),
            covered_members=covered,
            previous_amount=str(current.monthly_amount) if current else None,
            previous_covered=current.covered_members if current else None,
        )
    if kind == "stop" and current is not None:
        data.update(previous_amount=str(current.monthly_amount))
    new_version = ledger.update_versioned(
        conn, _RECIPIENTS, "id", recipient_id, version, values, case_type="recipient"
    )
    if kind in ("stop", "phase_out") and row.program in CATEGORY_PROGRAMS and new_end is not None:
        _end_category(conn, row, end=new_end.shift(1).start)
    data["end_month"] = str(new_end) if new_end else None
    ledger.record_event(
        conn,
        case_type="recipient",
        case_id=recipient_id,
        event=CHANGE_EVENTS[kind],
        actor=actor,
        at=at,
        from_status=row.status,
        to_status=values.get("status", row.status),
        household_id=row.household_id,
        township_code=row.township_code,
        county_code=row.county_code,
        reason=reason,
        data=data,
    )
    return new_version


def _end_category(conn: Connection, row: Any, *, end: dt.date) -> None:
    """End the household's registry category of the program on ``end`` (exclusive), unless
    another recipient of that program in the household goes on paying."""
    others = conn.execute(
        select(_RECIPIENTS.c.id).where(
            _RECIPIENTS.c.household_id == row.household_id,
            _RECIPIENTS.c.program == row.program,
            _RECIPIENTS.c.id != row.id,
            _RECIPIENTS.c.status != "stopped",
        )
    ).first()
    if others is not None:
        return
    conn.execute(
        update(HouseholdCategory)
        .where(
            HouseholdCategory.household_id == row.household_id,
            HouseholdCategory.category == row.program,
            (HouseholdCategory.end_date.is_(None)) | (HouseholdCategory.end_date > end),
            HouseholdCategory.start_date <= end,
        )
        .values(end_date=end)
    )


# --- Actor-level services ---------------------------------------------------------------


@dataclass(frozen=True)
class TermView:
    from_month: str
    to_month: str | None
    monthly_amount: Decimal
    covered_members: int
    reason: str
    created_by: str
    created_at: dt.datetime


@dataclass(frozen=True)
class RecipientView:
    id: int
    household_id: int
    household_no: str
    person_id: int | None
    program: str
    program_label: str
    division_code: str
    township_code: str
    county_code: str
    head_name: str
    head_citizen_id: str
    status: str
    status_label: str
    start_month: str
    end_month: str | None
    phase_out_end: str | None
    monthly_amount: Decimal | None  # in force in the month asked for (None: not paid then)
    covered_members: int | None
    review_cycle_months: int
    next_review_due: dt.date | None
    source: str
    version: int


def _scope_recipient(engine: Engine, actor: Actor, recipient_id: int) -> Any:
    with engine.connect() as conn:
        row = conn.execute(select(_RECIPIENTS).where(_RECIPIENTS.c.id == recipient_id)).first()
    scope_mod.check(engine, actor, "recipient", recipient_id, row.division_code if row else None)
    return row


def _change(
    engine: Engine,
    actor: Actor,
    recipient_id: int,
    *,
    kind: ChangeKind,
    from_month: str,
    reason: str,
    monthly_amount: Decimal | str | int | float | None = None,
    covered_members: int | None = None,
    months: int | None = None,
    expected_version: int | None = None,
    now: dt.datetime | None = None,
) -> int:
    require(actor.role, "recipient.change")
    _scope_recipient(engine, actor, recipient_id)
    at = now or ledger.now()
    with engine.begin() as conn:
        return apply_change(
            conn,
            recipient_id,
            kind=kind,
            from_month=from_month,
            actor=actor.username,
            at=at,
            reason=reason,
            monthly_amount=monthly_amount,
            covered_members=covered_members,
            months=months,
            expected_version=expected_version,
        )


def change_recipient(
    engine: Engine,
    actor: Actor,
    recipient_id: int,
    *,
    from_month: str,
    reason: str,
    monthly_amount: Decimal | str | int | float | None = None,
    covered_members: int | None = None,
    expected_version: int | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Increase or decrease the amount (or the members covered) from ``from_month``."""
    return _change(
        engine,
        actor,
        recipient_id,
        kind="adjust",
        from_month=from_month,
        reason=reason,
        monthly_amount=monthly_amount,
        covered_members=covered_members,
        expected_version=expected_version,
        now=now,
    )


def stop_recipient(
    engine: Engine,
    actor: Actor,
    recipient_id: int,
    *,
    from_month: str,
    reason: str,
    expected_version: int | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Stop paying from ``from_month`` (the last payment is the month before)."""
    return _change(
        engine,
        actor,
        recipient_id,
        kind="stop",
        from_month=from_month,
        reason=reason,
        expected_version=expected_version,
        now=now,
    )


def start_phase_out(
    engine: Engine,
    actor: Actor,
    recipient_id: int,
    *,
    from_month: str,
    reason: str,
    months: int | None = None,
    monthly_amount: Decimal | str | int | float | None = None,
    expected_version: int | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Start a 渐退期 of ``months`` months (default: the case parameter) from ``from_month``."""
    return _change(
        engine,
        actor,
        recipient_id,
        kind="phase_out",
        from_month=from_month,
        reason=reason,
        months=months,
        monthly_amount=monthly_amount,
        expected_version=expected_version,
        now=now,
    )


# --- Views ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    """One page of a scoped list; ``total`` counts every row of the query."""

    rows: tuple[Any, ...]
    total: int
    page: int
    page_size: int


@dataclass(frozen=True)
class EventView:
    at: dt.datetime
    event: str
    actor: str
    from_status: str | None
    to_status: str | None
    reason: str | None
    data: dict[str, Any]


@dataclass(frozen=True)
class ReviewView:
    id: int
    due_date: dt.date
    reviewed_on: dt.date
    outcome: str
    new_amount: Decimal | None
    reason: str
    reviewed_by: str


@dataclass(frozen=True)
class RecipientDetail:
    recipient: RecipientView
    terms: tuple[TermView, ...]
    reviews: tuple[ReviewView, ...]
    events: tuple[EventView, ...]


RECIPIENT_SQL = """
    SELECT r.id, r.household_id, h.household_no, r.person_id, r.program, r.division_code, r.township_code,
           r.county_code, coalesce(pv.name, '') AS head_name, coalesce(p.citizen_id, '') AS head_citizen_id,
           r.status, r.start_month, r.end_month, r.phase_out_end, t.monthly_amount, t.covered_members,
           r.review_cycle_months, r.next_review_due, r.source, r.version
    FROM recipients r
    JOIN households h ON h.id = r.household_id
    LEFT JOIN recipient_terms t ON t.recipient_id = r.id AND t.from_month <= :month
         AND (t.to_month IS NULL OR t.to_month >= :month)
         AND r.start_month <= :month AND (r.end_month IS NULL OR r.end_month >= :month)
    LEFT JOIN person_versions pv ON pv.valid_to IS NULL AND pv.person_id = coalesce(
         r.person_id,
         (SELECT min(hd.person_id) FROM person_versions hd
          WHERE hd.household_id = r.household_id AND hd.relation = 'head' AND hd.valid_to IS NULL))
    LEFT JOIN persons p ON p.id = pv.person_id
"""


def _view(r: Any, *, unmasked: bool) -> RecipientView:
    return RecipientView(
        id=int(r.id),
        household_id=int(r.household_id),
        household_no=str(r.household_no),
        person_id=None if r.person_id is None else int(r.person_id),
        program=r.program,
        program_label=label(PROGRAMS_SHORT, r.program),
        division_code=r.division_code,
        township_code=r.township_code,
        county_code=r.county_code,
        head_name=r.head_name if unmasked else mask_name(r.head_name),
        head_citizen_id=r.head_citizen_id if unmasked else mask_citizen_id(r.head_citizen_id),
        status=r.status,
        status_label=label(RECIPIENT_STATUSES, r.status),
        start_month=r.start_month,
        end_month=r.end_month,
        phase_out_end=r.phase_out_end,
        monthly_amount=None
        if r.monthly_amount is None
        else Decimal(str(r.monthly_amount)).quantize(Decimal("0.01")),
        covered_members=None if r.covered_members is None else int(r.covered_members),
        review_cycle_months=int(r.review_cycle_months),
        next_review_due=_date(r.next_review_due),
        source=r.source,
        version=int(r.version),
    )


def _date(value: Any) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def list_recipients(
    engine: Engine,
    actor: Actor,
    *,
    program: str | None = None,
    status: str | None = None,
    household_id: int | None = None,
    month: str | None = None,
    page: int = 1,
    page_size: int = 50,
    today: dt.date | None = None,
) -> Page:
    """Recipients of the actor's scope (masked), with the amount in force in ``month``
    (default: this month), ordered by township, village and household."""
    require(actor.role, "case.view")
    m = str(_month_or_today(month, today))
    cond, scope_params = scope_sql(
        actor, division="r.division_code", township="r.township_code", county="r.county_code"
    )
    params: dict[str, Any] = dict(scope_params)
    where = [cond]
    if program:
        where.append("r.program = :program")
        params["program"] = program
    if status:
        where.append("r.status = :status")
        params["status"] = status
    if household_id is not None:
        where.append("r.household_id = :household")
        params["household"] = household_id
    sql_where = " AND ".join(where)
    with engine.connect() as conn:
        total = conn.execute(
            text(f"SELECT count(*) FROM recipients r WHERE {sql_where}"), params
        ).scalar_one()
        rows = conn.execute(
            text(
                f"""{RECIPIENT_SQL} WHERE {sql_where}
                    ORDER BY r.township_code, r.division_code, r.household_id, r.id
                    LIMIT :limit OFFSET :offset"""
            ),
            {**params, "month": m, "limit": page_size, "offset": (max(page, 1) - 1) * page_size},
        ).all()
    return Page(tuple(_view(r, unmasked=False) for r in rows), int(total), page, page_size)


def _month_or_today(value: str | None, today: dt.date | None) -> Period:
    return month(value, "month") if value else Period.of(today or dt.date.today())


def recipient_detail(
    engine: Engine,
    actor: Actor,
    recipient_id: int,
    *,
    month: str | None = None,
    unmasked: bool = False,
    reason: str | None = None,
    today: dt.date | None = None,
) -> RecipientDetail:
    """One recipient with every term, review and event; unmasked only with a reason (audited)."""
    require(actor.role, "case.view")
    if unmasked and not (reason and reason.strip()):
        raise CaseError(
            "reason_required",
            "an unmasked view needs a reason",
            "查看完整姓名和身份证号须填写理由（将记入审计日志）。",
        )
    row = _scope_recipient(engine, actor, recipient_id)
    m = str(_month_or_today(month, today))
    with engine.begin() as conn:
        r = conn.execute(text(f"{RECIPIENT_SQL} WHERE r.id = :id"), {"id": recipient_id, "month": m}).one()
        terms = conn.execute(
            select(_TERMS)
            .where(_TERMS.c.recipient_id == recipient_id)
            .order_by(_TERMS.c.from_month, _TERMS.c.id)
        ).all()
        pr = cast(Table, PeriodicReview.__table__)
        reviews = conn.execute(
            select(pr).where(pr.c.recipient_id == recipient_id).order_by(pr.c.reviewed_on, pr.c.id)
        ).all()
        review_views = tuple(
            ReviewView(
                int(v.id),
                _date(v.due_date) or v.due_date,
                _date(v.reviewed_on) or v.reviewed_on,
                v.outcome,
                v.new_amount,
                v.reason,
                v.reviewed_by,
            )
            for v in reviews
        )
        events = ledger.events_of(conn, "recipient", recipient_id)
        if unmasked:
            audit.record(
                conn,
                actor=actor.username,
                action="view_unmasked",
                object_type="recipient",
                object_ref=str(recipient_id),
                division_code=row.division_code,
                reason=reason,
            )
    return RecipientDetail(
        _view(r, unmasked=unmasked),
        tuple(
            TermView(
                t.from_month,
                t.to_month,
                Decimal(str(t.monthly_amount)),
                int(t.covered_members),
                t.reason,
                t.created_by,
                t.created_at,
            )
            for t in terms
            if t.to_month is None or t.to_month >= t.from_month  # superseded terms are empty
        ),
        review_views,
        tuple(
            EventView(
                e["at"] if isinstance(e["at"], dt.datetime) else dt.datetime.fromisoformat(str(e["at"])),
                e["event"],
                e["actor"],
                e["from_status"],
                e["to_status"],
                e["reason"],
                e["data"],
            )
            for e in events
        ),
    )


# --- Go-live: the existing caseload from the registry --------------------------------------


@dataclass(frozen=True)
class EnrolCounts:
    by_program: dict[str, int]
    skipped_existing: int
    households: int

    @property
    def total(self) -> int:
        return sum(self.by_program.values())


_CATS = pa.schema(
    [
        ("household_id", pa.int64()),
        ("household_no", pa.string()),
        ("division_code", pa.string()),
        ("category", pa.string()),
        ("since", pa.date32()),
        ("members", pa.int64()),
    ]
)
_EXISTING = pa.schema([("household_id", pa.int64()), ("program", pa.string()), ("person_id", pa.int64())])
_MEMBERS = pa.schema(
    [
        ("household_id", pa.int64()),
        ("person_id", pa.int64()),
        ("birth_date", pa.date32()),
        ("employment", pa.string()),
        ("disability_grade", pa.int64()),
        ("serious_illness", pa.bool_()),
    ]
)
REGISTRY_PROGRAMS = ("dibao", "tekun", "marginal")


def enrol_from_registry(
    engine: Engine,
    *,
    on: dt.date,
    actor: str,
    results: pa.Table | None = None,
    params: ParameterSet | None = None,
    now: dt.datetime | None = None,
) -> EnrolCounts:
    """Make the registry's caseload recipients at go-live, set-based and idempotent.

    Every household in the category 低保, 特困 or 低保边缘 on ``on`` becomes a recipient of
    that program from the month of ``on``, at the amount and members of the programs'
    evaluation of the whole registry on that date (``results``: the table of
    :func:`doudi.programs.engine.evaluate` keyed by household number; computed when not
    given) — an amount the evaluation puts at 0 stays 0, for the payment roll's check to
    flag. In households the evaluation finds eligible for the disability subsidies, the
    members with the disability (most severe first, as many as it covers) become recipients
    of them, one per person. The review is due at the next anniversary of the category's
    start by the household's review cycle (6 or 12 months). Households (persons) already
    recipients of the program are left alone, so a second call adds nothing."""
    params = params or default_parameters()
    at = now or ledger.now()
    start = Period.of(on)
    if results is None:
        households, members = sources.from_registry(engine, on)
        results = evaluate(households, members, params)
    young, old = WORKING_AGE
    with engine.begin() as conn:
        bulk.lock_for_write(conn, ["recipients"])
        args = {"on": on}
        in_force = "hc.start_date <= :on AND (hc.end_date IS NULL OR :on < hc.end_date)"
        program_list = ", ".join(f"'{p}'" for p in REGISTRY_PROGRAMS)
        cats = bulk.fetch_arrow(
            conn,
            f"""SELECT h.id, h.household_no, hv.division_code, hc.category, min(hc.start_date), hv.member_count
                FROM household_categories hc
                JOIN households h ON h.id = hc.household_id
                JOIN household_versions hv ON hv.household_id = hc.household_id AND {IN_FORCE.format(a="hv")}
                WHERE hc.category IN ({program_list}) AND {in_force}
                GROUP BY h.id, h.household_no, hv.division_code, hc.category, hv.member_count""",
            _CATS,
            args,
        )
        existing = bulk.fetch_arrow(
            conn, "SELECT household_id, program, person_id FROM recipients", _EXISTING
        )
        # One pass over the members of the households in a category (a semi-join, as the
        # programs' registry source reads them), then the review cycle and the disabled in Arrow.
        members = bulk.fetch_arrow(
            conn,
            f"""SELECT pv.household_id, pv.person_id, pv.birth_date, pv.employment, pv.disability_grade,
                       pv.serious_illness
                FROM person_versions pv
                WHERE {IN_FORCE.format(a="pv")} AND pv.household_id IN (
                    SELECT hc.household_id FROM household_categories hc
                    WHERE hc.category IN ({program_list}) AND {in_force})""",
            _MEMBERS,
            args,
        )
        able = pc.and_(
            pc.and_(
                pc.is_in(members["employment"], pa.array(IRREGULAR_EMPLOYMENT, pa.string())),
                pc.and_(
                    pc.less_equal(members["birth_date"], pa.scalar(_years_before(on, young), pa.date32())),
                    pc.greater(members["birth_date"], pa.scalar(_years_before(on, old), pa.date32())),
                ),
            ),
            pc.and_(
                pc.greater(pc.fill_null(members["disability_grade"], 9), 2),
                pc.invert(pc.fill_null(members["serious_illness"], False)),
            ),
        )
        irregular = members.filter(pc.fill_null(able, False)).select(["household_id"])
        disabled = members.filter(pc.is_valid(members["disability_grade"])).select(
            ["household_id", "person_id", "disability_grade"]
        )
        counties = sorted(set(pc.utf8_slice_codeunits(cats["division_code"], 0, 6).to_pylist()))
        subsidy = _subsidy_amounts(params, counties, on)
        new = _new_recipients(cats, results, existing, irregular, disabled, subsidy, start, on)
        if new.num_rows == 0:
            return EnrolCounts({}, _skipped(cats, existing), 0)
        ids = bulk.next_ids(conn, "recipients", new.num_rows)
        new = new.append_column("id", pa.array(ids, pa.int64()))
        n = new.num_rows
        recipients = pa.table(
            {
                "id": new["id"],
                "household_id": new["household_id"],
                "person_id": new["person_id"],
                "program": new["program"],
                "division_code": new["division_code"],
                "township_code": pc.utf8_slice_codeunits(new["division_code"], 0, 9),
                "county_code": pc.utf8_slice_codeunits(new["division_code"], 0, 6),
                "source": pa.array(["registry"] * n, pa.string()),
                "start_month": pa.array([str(start)] * n, pa.string()),
                "status": pa.array(["active"] * n, pa.string()),
                "review_cycle_months": new["cycle"],
                "next_review_due": new["next_review_due"],
                "created_at": pa.array([at] * n, pa.timestamp("us")),
                "version": pa.array([1] * n, pa.int32()),
            }
        )
        bulk.insert_arrow(conn, "recipients", recipients)
        bulk.reset_sequences(conn, ["recipients"])
        terms = pa.table(
            {
                "recipient_id": new["id"],
                "from_month": pa.array([str(start)] * n, pa.string()),
                "monthly_amount": new["amount"],
                "covered_members": new["covered"],
                "reason": pa.array(["系统上线：由低保信息系统在册对象迁移"] * n, pa.string()),
                "created_by": pa.array([actor] * n, pa.string()),
                "created_at": pa.array([at] * n, pa.timestamp("us")),
            }
        )
        bulk.insert_arrow(conn, "recipient_terms", terms)
        events = pa.table(
            {
                "case_type": pa.array(["recipient"] * n, pa.string()),
                "case_id": new["id"],
                "household_id": new["household_id"],
                "township_code": recipients["township_code"],
                "county_code": recipients["county_code"],
                "event": pa.array(["enrolled"] * n, pa.string()),
                "to_status": pa.array(["active"] * n, pa.string()),
                "actor": pa.array([actor] * n, pa.string()),
                "at": pa.array([at] * n, pa.timestamp("us")),
                "reason": pa.array(["系统上线迁移在册对象"] * n, pa.string()),
                "data": new["data"],
            }
        )
        bulk.insert_arrow(conn, "case_events", events)
        by_program = dict(
            zip(
                *new.group_by("program")
                .aggregate([("id", "count")])
                .select(["program", "id_count"])
                .to_pydict()
                .values(),
                strict=True,
            )
        )
        households = len(pc.unique(new["household_id"]))
        return EnrolCounts(
            {str(k): int(v) for k, v in by_program.items()}, _skipped(cats, existing), households
        )


def _skipped(cats: pa.Table, existing: pa.Table) -> int:
    con = duckdb.connect()
    try:
        con.register("c", cats)
        con.register("e", existing)
        row = con.execute(
            """SELECT count(*) FROM c WHERE EXISTS
               (SELECT 1 FROM e WHERE e.household_id = c.household_id AND e.program = c.category
                AND e.person_id IS NULL)"""
        ).fetchone()
    finally:
        con.close()
    return int(row[0]) if row else 0


def _subsidy_amounts(params: ParameterSet, counties: list[str], on: dt.date) -> pa.Table:
    rows = []
    for county in counties:
        for area in ("all",):
            del area
            rows.append(
                {
                    "county_code": county,
                    "care1": params.resolve("disability.care_subsidy.grade1", county, "urban", on).value,
                    "care2": params.resolve("disability.care_subsidy.grade2", county, "urban", on).value,
                    "living": params.resolve("disability.living_subsidy", county, "urban", on).value,
                }
            )
    money = pa.decimal128(14, 2)
    return pa.table(
        {
            "county_code": pa.array([r["county_code"] for r in rows], pa.string()),
            "care1": pa.array([Decimal(str(r["care1"])) for r in rows], money),
            "care2": pa.array([Decimal(str(r["care2"])) for r in rows], money),
            "living": pa.array([Decimal(str(r["living"])) for r in rows], money),
        }
    )


def _new_recipients(
    cats: pa.Table,
    results: pa.Table,
    existing: pa.Table,
    irregular: pa.Table,
    disabled: pa.Table,
    subsidy: pa.Table,
    start: Period,
    on: dt.date,
) -> pa.Table:
    """The recipients to add, one row each, computed in DuckDB."""
    params = case_parameters()
    stable, irregular_months = params.review_months_stable.value, params.review_months_irregular.value
    con = duckdb.connect()
    try:
        for name, table in (
            ("cats", cats),
            ("res", results),
            ("existing", existing),
            ("irregular", irregular),
            ("disabled", disabled),
            ("subsidy", subsidy),
        ):
            con.register(name, table)
        sql = f"""
            WITH hh AS (
                SELECT c.*, substr(c.division_code, 1, 6) AS county_code,
                       CASE WHEN i.household_id IS NULL THEN {stable} ELSE {irregular_months} END AS cycle
                FROM cats c LEFT JOIN (SELECT DISTINCT household_id FROM irregular) i USING (household_id)
            ),
            household_programs AS (
                SELECT hh.household_id, CAST(NULL AS BIGINT) AS person_id, hh.category AS program, hh.division_code,
                       hh.cycle, hh.since,
                       CAST(coalesce(CASE hh.category WHEN 'dibao' THEN r.dibao_amount
                                                      WHEN 'tekun' THEN r.tekun_amount END, 0) AS DECIMAL(14,2))
                           AS amount,
                       CAST(CASE WHEN coalesce(CASE hh.category WHEN 'dibao' THEN r.dibao_covered
                                                                WHEN 'tekun' THEN r.tekun_covered
                                                                ELSE r.marginal_covered END, 0) > 0
                                 THEN CASE hh.category WHEN 'dibao' THEN r.dibao_covered
                                                       WHEN 'tekun' THEN r.tekun_covered
                                                       ELSE r.marginal_covered END
                                 ELSE greatest(coalesce(r.n, hh.members), 1) END AS SMALLINT) AS covered
                FROM hh LEFT JOIN res r ON r.household_id = hh.household_no
            ),
            subsidised AS (  -- households the evaluation finds eligible, not in 特困
                SELECT hh.household_id, hh.division_code, hh.cycle, hh.since, hh.county_code,
                       r.care_subsidy_eligible, r.care_subsidy_covered, r.living_subsidy_eligible,
                       r.living_subsidy_covered
                FROM (SELECT * FROM hh QUALIFY row_number() OVER (PARTITION BY household_id ORDER BY category) = 1) hh
                JOIN res r ON r.household_id = hh.household_no
                WHERE (r.care_subsidy_eligible OR r.living_subsidy_eligible)
                  AND NOT EXISTS (SELECT 1 FROM cats t WHERE t.household_id = hh.household_id AND t.category = 'tekun')
            ),
            ranked AS (
                SELECT s.*, d.person_id, d.disability_grade,
                       row_number() OVER (PARTITION BY s.household_id ORDER BY d.disability_grade, d.person_id) AS k,
                       row_number() OVER (PARTITION BY s.household_id, d.disability_grade IN (1, 2)
                                          ORDER BY d.disability_grade, d.person_id) AS k_severe
                FROM subsidised s JOIN disabled d USING (household_id)
            ),
            person_programs AS (
                SELECT household_id, person_id, 'disability_care_subsidy' AS program, division_code, cycle, since,
                       CAST(CASE disability_grade WHEN 1 THEN sub.care1 ELSE sub.care2 END AS DECIMAL(14,2)) AS amount,
                       CAST(1 AS SMALLINT) AS covered
                FROM ranked JOIN subsidy sub USING (county_code)
                WHERE care_subsidy_eligible AND disability_grade IN (1, 2) AND k_severe <= care_subsidy_covered
                UNION ALL
                SELECT household_id, person_id, 'disability_living_subsidy', division_code, cycle, since,
                       CAST(sub.living AS DECIMAL(14,2)), CAST(1 AS SMALLINT)
                FROM ranked JOIN subsidy sub USING (county_code)
                WHERE living_subsidy_eligible AND k <= living_subsidy_covered
            ),
            candidates AS (
                SELECT * FROM household_programs UNION ALL SELECT * FROM person_programs
            )
            SELECT c.household_id, c.person_id, c.program, c.division_code, CAST(c.cycle AS SMALLINT) AS cycle,
                   CAST(c.since + to_months(CAST(c.cycle * (floor(datediff('month', c.since, DATE '{on.isoformat()}')
                        / c.cycle) + 1) AS INTEGER)) AS DATE) AS next_review_due,
                   c.amount, c.covered,
                   to_json({{'program': c.program, 'monthly_amount': CAST(c.amount AS VARCHAR),
                            'covered_members': c.covered, 'start_month': '{start}', 'person_id': c.person_id,
                            'source': 'registry', 'category_since': CAST(c.since AS VARCHAR),
                            'review_cycle_months': c.cycle}})::VARCHAR AS data
            FROM candidates c
            WHERE NOT EXISTS (SELECT 1 FROM existing e WHERE e.household_id = c.household_id
                              AND e.program = c.program
                              AND (e.person_id = c.person_id OR (e.person_id IS NULL AND c.person_id IS NULL)))
            ORDER BY c.division_code, c.household_id, c.program, c.person_id NULLS FIRST
        """
        return con.sql(sql).to_arrow_table()
    finally:
        con.close()
