"""Monthly payment rolls (发放名册) per county: generate, check, resolve, confirm.

A roll holds one line per recipient paid in the month: every recipient of the county whose
months (``start_month`` … ``end_month``, the 渐退期 included) contain the period, at the
amount and members of the term in force that month. 低保边缘 and 刚性支出困难 households are
on the roll only when a cash amount is set for them (elsewhere they are a status, not a
payment). A line's ``person_id`` is the person paid: the subsidised person for the
disability subsidies, else the household's head in the registry at the end of the month.

Status: ``draft`` (generated) → ``checked`` (checks run) → ``confirmed`` (frozen: nothing on
it changes any more, and recipients' changes may no longer reach back into its month).
Generating again replaces a draft or checked roll's lines; the same recipients and terms
give the same lines.

The checks (:func:`check_roll`), each set-based over the whole roll, flag a line with the
first problem found, in this order:

* ``dead`` — the person paid, or a covered member, died on or before the end of the month
  according to the death feed (every active load of the ``death`` kind up to the period);
* ``outside_division`` — the household now lives outside the county (registry);
* ``duplicate`` — the household (person) also receives, that month and in any county, the
  same program or one it may not hold together with this one (case parameters
  ``exclusive_programs``);
* ``over_standard`` — the amount is above what the standards in force allow for the members
  covered (programs parameters for the county, the household's area and the month):
  低保 standard × (1 + every supplement ratio) per member; 特困 basic standard + the highest
  care standard per member; the subsidies' monthly amounts per person; 临时救助 its cap;
* ``zero_amount`` — nothing to pay.

A flagged line must be resolved before the roll is confirmed: kept (with the reason it is
right) or excluded from the payment. Confirming is maker-checker: the county reviewer who
confirms is not the one who generated the roll.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy import Connection, Engine, Table, insert, select, text

from doudi.auth import Actor, require
from doudi.auth import scope as scope_mod
from doudi.auth.scope import scope_sql
from doudi.cases import ledger
from doudi.cases.errors import CaseError, InvalidState
from doudi.cases.labels import PROGRAMS_SHORT, ROLL_STATUSES, label
from doudi.cases.parameters import case_parameters
from doudi.cases.recipients import (
    ALL_PROGRAMS,
    NON_CASH_PROGRAMS,
    REPEATABLE_PROGRAMS,
    Page,
    check_version,
    month,
)
from doudi.db import bulk
from doudi.db.models import PaymentRoll
from doudi.feeds.service import active_loads
from doudi.ids import mask_citizen_id, mask_name
from doudi.periods import Period
from doudi.programs.parameters import ParameterSet, default_parameters
from doudi.registry.codes import RELATIONS
from doudi.registry.queries import IN_FORCE

_ROLLS = cast(Table, PaymentRoll.__table__)

PROBLEMS: dict[str, str] = {
    "dead": "领取人或保障成员已死亡",
    "outside_division": "家庭已不在本县",
    "duplicate": "重复享受或互斥项目",
    "over_standard": "金额超过标准",
    "zero_amount": "金额为0元",
}
PROBLEM_RANK = {code: n for n, code in enumerate(PROBLEMS, start=1)}


def problems_text(counts: dict[str, int]) -> str:
    """A roll's problem counts for people, by name in the checks' order.

    >>> problems_text({"zero_amount": 4, "dead": 1})
    '领取人或保障成员已死亡 1 行，金额为0元 4 行'
    >>> problems_text({})
    '无'
    """
    ordered = sorted(counts.items(), key=lambda kv: PROBLEM_RANK.get(kv[0], len(PROBLEMS) + 1))
    return "，".join(f"{PROBLEMS.get(k, k)} {v:,} 行" for k, v in ordered) or "无"


# Money as whole cents, the same on PostgreSQL (NUMERIC) and SQLite (decimal text).
CENTS = "CAST(round(CAST({} AS NUMERIC) * 100) AS BIGINT)"


@dataclass(frozen=True)
class ProgramTotal:
    program: str
    program_label: str
    lines: int
    persons: int
    amount: Decimal


@dataclass(frozen=True)
class RollSummary:
    id: int
    county_code: str
    county_name: str
    period: str
    status: str
    status_label: str
    lines: int
    problems: int
    unresolved: int
    excluded: int
    total: Decimal
    by_program: tuple[ProgramTotal, ...]
    problem_counts: dict[str, int]
    generated_by: str
    generated_at: dt.datetime
    checked_at: dt.datetime | None
    confirmed_by: str | None
    confirmed_at: dt.datetime | None
    version: int


@dataclass(frozen=True)
class RollLine:
    id: int
    roll_id: int
    recipient_id: int
    household_id: int
    household_no: str
    program: str
    program_label: str
    township_code: str
    township_name: str
    division_code: str
    village_name: str
    payee_name: str
    payee_citizen_id: str
    covered_members: int
    amount: Decimal
    problem: str | None
    problem_label: str
    problem_detail: str | None
    excluded: bool
    resolution: str | None


# --- loading and scoping -----------------------------------------------------------------


def _roll_row(conn: Connection, roll_id: int) -> Any:
    return conn.execute(select(_ROLLS).where(_ROLLS.c.id == roll_id)).first()


def _scoped_roll(engine: Engine, actor: Actor, roll_id: int) -> Any:
    with engine.connect() as conn:
        row = _roll_row(conn, roll_id)
    scope_mod.check(engine, actor, "payment_roll", roll_id, row.county_code if row else None)
    return row


def _county_name(conn: Connection, code: str) -> str:
    name = conn.execute(text("SELECT name FROM divisions WHERE code = :c"), {"c": code}).scalar()
    return str(name) if name else code


def _summary(conn: Connection, row: Any) -> RollSummary:
    totals = json.loads(row.totals) if row.totals else {}
    by_program = tuple(
        ProgramTotal(
            p,
            label(PROGRAMS_SHORT, p),
            int(v["lines"]),
            int(v["persons"]),
            Decimal(v["amount"]),
        )
        for p, v in totals.get("by_program", {}).items()
    )
    return RollSummary(
        id=int(row.id),
        county_code=row.county_code,
        county_name=_county_name(conn, row.county_code),
        period=row.period,
        status=row.status,
        status_label=label(ROLL_STATUSES, row.status),
        lines=int(row.lines),
        problems=int(row.problems),
        unresolved=int(totals.get("unresolved", 0)),
        excluded=int(totals.get("excluded", 0)),
        total=Decimal(str(row.total)),
        by_program=by_program,
        problem_counts={k: int(v) for k, v in totals.get("problems", {}).items()},
        generated_by=row.generated_by,
        generated_at=row.generated_at,
        checked_at=row.checked_at,
        confirmed_by=row.confirmed_by,
        confirmed_at=row.confirmed_at,
        version=int(row.version),
    )


def _totals(conn: Connection, roll_id: int) -> dict[str, Any]:
    """Lines, problems, total paid (excluded lines left out) and per-program figures."""
    cents = CENTS.format("amount")
    rows = conn.execute(
        text(
            f"""SELECT program, count(*) AS lines,
                       sum(CASE WHEN excluded THEN 0 ELSE covered_members END) AS persons,
                       sum(CASE WHEN excluded THEN 0 ELSE {cents} END) AS cents,
                       sum(CASE WHEN excluded THEN 1 ELSE 0 END) AS excluded,
                       sum(CASE WHEN problem IS NOT NULL THEN 1 ELSE 0 END) AS problems,
                       sum(CASE WHEN problem IS NOT NULL AND resolution IS NULL THEN 1 ELSE 0 END)
                           AS unresolved
                FROM payment_roll_lines WHERE roll_id = :r GROUP BY program ORDER BY program"""
        ),
        {"r": roll_id},
    ).all()
    problem_counts: dict[Any, Any] = dict(
        conn.execute(
            text(
                """SELECT problem, count(*) FROM payment_roll_lines
                   WHERE roll_id = :r AND problem IS NOT NULL GROUP BY problem"""
            ),
            {"r": roll_id},
        ).all()
    )
    order = list(PROGRAMS_SHORT)
    rows = sorted(rows, key=lambda r: order.index(r.program) if r.program in order else len(order))
    total_cents = sum(int(r.cents or 0) for r in rows)
    return {
        "lines": sum(int(r.lines) for r in rows),
        "problems": sum(int(r.problems or 0) for r in rows),
        "total": Decimal(total_cents) / 100,
        "totals": {
            "by_program": {
                r.program: {
                    "lines": int(r.lines) - int(r.excluded or 0),
                    "persons": int(r.persons or 0),
                    "amount": str(Decimal(int(r.cents or 0)) / 100),
                }
                for r in rows
            },
            "excluded": sum(int(r.excluded or 0) for r in rows),
            "unresolved": sum(int(r.unresolved or 0) for r in rows),
            "problems": {str(k): int(v) for k, v in sorted(problem_counts.items())},
        },
    }


def _write_totals(conn: Connection, roll_id: int, version: int, **values: Any) -> int:
    t = _totals(conn, roll_id)
    return ledger.update_versioned(
        conn,
        _ROLLS,
        "id",
        roll_id,
        version,
        {
            "lines": t["lines"],
            "problems": t["problems"],
            "total": t["total"],
            "totals": json.dumps(t["totals"], ensure_ascii=False, sort_keys=True),
            **values,
        },
        case_type="payment_roll",
    )


def _event(conn: Connection, row: Any, event: str, actor: Actor, at: dt.datetime, **kw: Any) -> None:
    ledger.record_event(
        conn,
        case_type="payment_roll",
        case_id=int(row.id),
        event=event,
        actor=actor.username,
        at=at,
        county_code=row.county_code,
        **kw,
    )


# --- generate ------------------------------------------------------------------------------


def _insert_lines(conn: Connection, roll_id: int, county_code: str, period: Period) -> None:
    """Every recipient of the county paid in ``period``, at the term in force, in one statement."""
    non_cash = ", ".join(f"'{p}'" for p in NON_CASH_PROGRAMS)
    conn.execute(
        text(
            f"""INSERT INTO payment_roll_lines
                   (roll_id, recipient_id, household_id, person_id, program, division_code, township_code,
                    covered_members, amount, excluded)
                SELECT :roll, r.id, r.household_id,
                       coalesce(r.person_id,
                                (SELECT min(h.person_id) FROM person_versions h
                                 WHERE h.household_id = r.household_id AND h.relation = 'head'
                                   AND {IN_FORCE.format(a="h")})),
                       r.program, r.division_code, r.township_code, t.covered_members, t.monthly_amount, :false
                FROM recipients r
                JOIN recipient_terms t ON t.recipient_id = r.id AND t.from_month <= :p
                     AND (t.to_month IS NULL OR t.to_month >= :p)
                WHERE r.county_code = :county AND r.start_month <= :p
                  AND (r.end_month IS NULL OR r.end_month >= :p)
                  AND (r.program NOT IN ({non_cash}) OR {CENTS.format("t.monthly_amount")} > 0)
                ORDER BY r.township_code, r.division_code, r.household_id, r.program, r.id"""
        ),
        {"roll": roll_id, "county": county_code, "p": str(period), "on": period.end, "false": False},
    )


def generate_roll(
    engine: Engine,
    actor: Actor,
    county_code: str,
    period: str,
    *,
    expected_version: int | None = None,
    now: dt.datetime | None = None,
) -> RollSummary:
    """Generate (or regenerate) the county's roll for ``period``; a confirmed roll is frozen."""
    require(actor.role, "roll.generate")
    p = month(period, "period")
    with engine.connect() as conn:
        exists = conn.execute(
            text("SELECT 1 FROM divisions WHERE code = :c AND level = 3"), {"c": county_code}
        ).first()
    if exists is None:
        raise CaseError(
            "unknown_county",
            f"{county_code} is not a county",
            f"“{county_code}”不是县级区划代码（发放名册按县生成）。",
        )
    scope_mod.check(engine, actor, "payment_roll", f"{county_code} {p}", county_code)
    at = now or ledger.now()
    with engine.begin() as conn:
        row = conn.execute(
            select(_ROLLS).where(_ROLLS.c.county_code == county_code, _ROLLS.c.period == str(p))
        ).first()
        if row is None:
            roll_id = int(
                conn.execute(
                    insert(PaymentRoll)
                    .values(
                        county_code=county_code,
                        period=str(p),
                        status="draft",
                        lines=0,
                        problems=0,
                        total=Decimal("0"),
                        generated_by=actor.username,
                        generated_at=at,
                        version=1,
                    )
                    .returning(PaymentRoll.id)
                ).scalar_one()
            )
            version = 1
            event, from_status = "generated", None
        else:
            check_version("payment_roll", int(row.id), row.version, expected_version)
            if row.status == "confirmed":
                raise InvalidState(
                    "regenerate a confirmed roll", row.status, f"{p} 的发放名册已确认（冻结），不能重新生成。"
                )
            roll_id = int(row.id)
            version = row.version
            conn.execute(text("DELETE FROM payment_roll_lines WHERE roll_id = :r"), {"r": roll_id})
            event, from_status = "regenerated", row.status
        _insert_lines(conn, roll_id, county_code, p)
        _write_totals(
            conn,
            roll_id,
            version,
            status="draft",
            generated_by=actor.username,
            generated_at=at,
            checked_at=None,
        )
        row = _roll_row(conn, roll_id)
        _event(
            conn,
            row,
            event,
            actor,
            at,
            from_status=from_status,
            to_status="draft",
            data={"period": str(p), "lines": row.lines, "total": str(row.total)},
        )
        return _summary(conn, row)


# --- check ---------------------------------------------------------------------------------


def _temp_table(conn: Connection, name: str, columns: str) -> None:
    conn.execute(text(f"DROP TABLE IF EXISTS {name}"))
    suffix = " ON COMMIT DROP" if conn.dialect.name == "postgresql" else ""
    conn.execute(text(f"CREATE TEMPORARY TABLE {name} ({columns}){suffix}"))


@functools.lru_cache(maxsize=8)
def _deaths(paths: tuple[str, ...], end: dt.date) -> pa.Table:
    """Citizen ID → first death date on or before ``end`` in the stored death loads. A load's
    Parquet never changes (a correction is a new load), so the table is kept for the next
    county's check."""
    table = pq.read_table(list(paths), columns=["citizen_id", "death_date"])
    table = table.filter(pc.less_equal(table["death_date"], pa.scalar(end, pa.date32())))
    return (
        table.group_by("citizen_id")
        .aggregate([("death_date", "min")])
        .rename_columns(["citizen_id", "death_date"])
    )


_MEMBERS = pa.schema(
    [("line_id", pa.int64()), ("citizen_id", pa.string()), ("relation", pa.string()), ("payee", pa.bool_())]
)


def _flag_dead(conn: Connection, roll: Any, period: Period) -> None:
    """``dead``: the person paid or a covered member died by the end of the month (every
    active load of the death feed up to the period), matched on the roll's own members."""
    periods = [
        str(x)
        for (x,) in conn.execute(
            text("SELECT DISTINCT period FROM feed_loads WHERE kind = 'death' AND period <= :p"),
            {"p": str(period)},
        )
    ]
    paths = tuple(
        sorted(str(ld.path) for ld in active_loads(conn, periods=periods, kinds=["death"])["death"])
    )
    if not paths:
        return
    deaths = _deaths(paths, period.end)
    members = bulk.fetch_arrow(
        conn,
        f"""SELECT l.id, p.citizen_id, pv.relation, CASE WHEN pv.person_id = l.person_id THEN 1 ELSE 0 END = 1
            FROM payment_roll_lines l
            JOIN person_versions pv ON pv.household_id = l.household_id AND {IN_FORCE.format(a="pv")}
            JOIN persons p ON p.id = pv.person_id
            WHERE l.roll_id = :r
              AND (pv.person_id = l.person_id
                   OR l.program NOT IN ('disability_care_subsidy', 'disability_living_subsidy'))""",
        _MEMBERS,
        {"r": int(roll.id), "on": period.start},
    )
    hits = members.join(deaths, "citizen_id", join_type="inner").sort_by(
        [("line_id", "ascending"), ("payee", "descending")]
    )
    flags: dict[int, str] = {}
    for h in hits.to_pylist():
        if h["line_id"] in flags:
            continue
        day = h["death_date"].isoformat()
        flags[h["line_id"]] = (
            f"领取人于 {day} 死亡（死亡信息），应停发"
            if h["payee"]
            else f"保障成员（{RELATIONS.get(h['relation'], h['relation'])}）于 {day} 死亡（死亡信息），应核减保障人数或停发"
        )
    if flags:
        conn.execute(
            text("INSERT INTO roll_flags (line_id, problem, rnk, detail) VALUES (:l, 'dead', :k, :d)"),
            [{"l": line, "k": PROBLEM_RANK["dead"], "d": detail} for line, detail in flags.items()],
        )


def ceilings(params: ParameterSet, county_code: str, on: dt.date) -> list[tuple[str, str, str, int, int]]:
    """(county, area, program, cents per member, cents per line) for the over-standard check."""
    out = []

    def value(name: str, area: str) -> Decimal:
        return Decimal(str(params.resolve(name, county_code, area, on).value))

    for area in ("urban", "rural"):
        s = value("dibao.standard", area)
        supplements = sum(
            (
                value(f"dibao.supplement.{k}", area)
                for k in ("elderly", "minor", "severe_disability", "serious_illness")
            ),
            Decimal(0),
        )
        base_area = str(params.resolve("tekun.basic_base_area", county_code, area, on).value)
        s_base = value("dibao.standard", base_area)
        s_urban = value("dibao.standard", "urban")
        care = max(value(f"tekun.care.{k}", area) for k in ("fully_lost", "partly_lost", "self_care"))
        per_member = {
            "dibao": s * (1 + supplements),
            "tekun": value("tekun.basic_multiplier", area) * s_base + care,
            "disability_care_subsidy": max(
                value("disability.care_subsidy.grade1", area), value("disability.care_subsidy.grade2", area)
            ),
            "disability_living_subsidy": value("disability.living_subsidy", area),
        }
        for program, v in per_member.items():
            out.append((county_code, area, program, _cents_up(v), 0))
        out.append(
            (
                county_code,
                area,
                "temporary_assistance",
                0,
                _cents_up(value("temporary.cap_multiple", area) * s_urban),
            )
        )
    return out


def _cents_up(v: Decimal) -> int:
    return int((v * 100).to_integral_value(rounding="ROUND_CEILING"))


def _exclusive_sql(a: str, b: str) -> str:
    """SQL: programs ``a`` and ``b`` may not be held together (or are the same, not repeatable)."""
    pairs = sorted(tuple(sorted(p)) for p in case_parameters().exclusive_pairs())
    terms = []
    for x, y in pairs:
        if x not in ALL_PROGRAMS or y not in ALL_PROGRAMS:
            continue
        terms.append(f"({a} = '{x}' AND {b} = '{y}')")
        terms.append(f"({a} = '{y}' AND {b} = '{x}')")
    repeatable = ", ".join(f"'{p}'" for p in sorted(REPEATABLE_PROGRAMS))
    terms.append(f"({a} = {b} AND {a} NOT IN ({repeatable}))")
    return "(" + " OR ".join(terms) + ")"


def _program_label_sql(column: str) -> str:
    whens = " ".join(f"WHEN '{code}' THEN '{name}'" for code, name in PROGRAMS_SHORT.items())
    return f"CASE {column} {whens} ELSE {column} END"


def _yuan_sql(cents: str) -> str:
    """SQL text of an integer number of cents as yuan with two decimals (both databases)."""
    return (
        f"CAST({cents} / 100 AS VARCHAR(20)) || '.' || CASE WHEN {cents} % 100 < 10 THEN '0' ELSE '' END"
        f" || CAST({cents} % 100 AS VARCHAR(2))"
    )


def _flag_lines(conn: Connection, roll: Any, params: ParameterSet) -> None:
    """Every check as one INSERT … SELECT into the temporary ``roll_flags``."""
    p = Period.parse(roll.period)
    args = {"r": int(roll.id), "p": str(p), "start": p.start, "end": p.end, "county": roll.county_code}
    _temp_table(
        conn,
        "roll_flags",
        "line_id BIGINT NOT NULL, problem VARCHAR(30) NOT NULL, rnk INTEGER NOT NULL, detail VARCHAR(300)",
    )
    _temp_table(
        conn,
        "roll_ceilings",
        "county_code VARCHAR(6), area_type VARCHAR(5), program VARCHAR(30), per_member BIGINT, per_line BIGINT",
    )
    conn.execute(
        text("INSERT INTO roll_ceilings VALUES (:c, :a, :p, :m, :l)"),
        [
            {"c": c, "a": a, "p": prog, "m": m, "l": line}
            for c, a, prog, m, line in ceilings(params, roll.county_code, p.end)
        ],
    )
    _flag_dead(conn, roll, p)
    conn.execute(
        text(
            f"""INSERT INTO roll_flags (line_id, problem, rnk, detail)
                SELECT l.id, 'outside_division', {PROBLEM_RANK["outside_division"]},
                       '家庭现居住地区划为 ' || hv.division_code || '，不在本县'
                FROM payment_roll_lines l
                JOIN household_versions hv ON hv.household_id = l.household_id AND hv.valid_to IS NULL
                WHERE l.roll_id = :r AND substr(hv.division_code, 1, 6) <> :county"""
        ),
        args,
    )
    conn.execute(
        text(
            f"""INSERT INTO roll_flags (line_id, problem, rnk, detail)
                SELECT l.id, 'duplicate', {PROBLEM_RANK["duplicate"]},
                       '同时享受' || min({_program_label_sql("o.program")}) || '（救助对象编号 '
                       || CAST(min(o.id) AS VARCHAR(20))
                       || '，' || min(o.county_code) || '）'
                FROM payment_roll_lines l
                JOIN recipients r ON r.id = l.recipient_id
                JOIN recipients o ON o.household_id = l.household_id AND o.id <> l.recipient_id
                     AND o.start_month <= :p AND (o.end_month IS NULL OR o.end_month >= :p)
                     AND (o.person_id IS NULL OR r.person_id IS NULL OR o.person_id = r.person_id)
                WHERE l.roll_id = :r AND {_exclusive_sql("o.program", "l.program")}
                GROUP BY l.id"""
        ),
        args,
    )
    conn.execute(
        text(
            f"""INSERT INTO roll_flags (line_id, problem, rnk, detail)
                SELECT l.id, 'over_standard', {PROBLEM_RANK["over_standard"]},
                       '月救助金额超过按标准核算的上限 '
                       || {_yuan_sql("(c.per_member * l.covered_members + c.per_line)")} || ' 元'
                FROM payment_roll_lines l
                JOIN household_versions hv ON hv.household_id = l.household_id AND {IN_FORCE.format(a="hv")}
                JOIN roll_ceilings c ON c.county_code = :county AND c.area_type = hv.area_type
                     AND c.program = l.program
                WHERE l.roll_id = :r
                  AND {CENTS.format("l.amount")} > c.per_member * l.covered_members + c.per_line"""
        ),
        {**args, "on": p.end},
    )
    conn.execute(
        text(
            f"""INSERT INTO roll_flags (line_id, problem, rnk, detail)
                SELECT l.id, 'zero_amount', {PROBLEM_RANK["zero_amount"]}, '月救助金额为0元，请核定待遇'
                FROM payment_roll_lines l WHERE l.roll_id = :r AND {CENTS.format("l.amount")} <= 0"""
        ),
        args,
    )


def _apply_flags(conn: Connection, roll_id: int) -> None:
    """Each line gets its first problem; a line whose problem is unchanged keeps its resolution."""
    _temp_table(
        conn, "roll_top", "line_id BIGINT PRIMARY KEY, problem VARCHAR(30) NOT NULL, detail VARCHAR(300)"
    )
    conn.execute(
        text(
            """INSERT INTO roll_top (line_id, problem, detail)
               SELECT f.line_id, f.problem, min(f.detail) FROM roll_flags f
               JOIN (SELECT line_id, min(rnk) AS rnk FROM roll_flags GROUP BY line_id) m
                    ON m.line_id = f.line_id AND m.rnk = f.rnk
               GROUP BY f.line_id, f.problem"""
        )
    )
    conn.execute(
        text(
            """UPDATE payment_roll_lines
               SET problem = NULL, problem_detail = NULL, excluded = :false, resolution = NULL
               WHERE roll_id = :r AND problem IS NOT NULL
                 AND NOT EXISTS (SELECT 1 FROM roll_top t
                                 WHERE t.line_id = payment_roll_lines.id
                                   AND t.problem = payment_roll_lines.problem)"""
        ),
        {"r": roll_id, "false": False},
    )
    conn.execute(
        text(
            """UPDATE payment_roll_lines
               SET problem = (SELECT t.problem FROM roll_top t WHERE t.line_id = payment_roll_lines.id),
                   problem_detail = (SELECT substr(t.detail, 1, 300) FROM roll_top t
                                     WHERE t.line_id = payment_roll_lines.id)
               WHERE roll_id = :r AND problem IS NULL
                 AND id IN (SELECT line_id FROM roll_top)"""
        ),
        {"r": roll_id},
    )
    for name in ("roll_top", "roll_flags", "roll_ceilings"):
        conn.execute(text(f"DROP TABLE IF EXISTS {name}"))


def check_roll(
    engine: Engine,
    actor: Actor,
    roll_id: int,
    *,
    expected_version: int | None = None,
    params: ParameterSet | None = None,
    now: dt.datetime | None = None,
) -> RollSummary:
    """Run every check on the roll (see the module docstring); status ``checked``."""
    require(actor.role, "roll.generate")
    row = _scoped_roll(engine, actor, roll_id)
    check_version("payment_roll", roll_id, row.version, expected_version)
    if row.status == "confirmed":
        raise InvalidState("check a confirmed roll", row.status, "发放名册已确认（冻结），无需再核查。")
    at = now or ledger.now()
    params = params or default_parameters()
    with engine.begin() as conn:
        version = row.version if expected_version is None else expected_version
        _flag_lines(conn, row, params)
        _apply_flags(conn, roll_id)
        _write_totals(conn, roll_id, version, status="checked", checked_at=at)
        new = _roll_row(conn, roll_id)
        _event(
            conn,
            new,
            "checked",
            actor,
            at,
            from_status=row.status,
            to_status="checked",
            data={"problems": new.problems, "by_problem": json.loads(new.totals or "{}").get("problems", {})},
        )
        return _summary(conn, new)


# --- resolve and confirm ---------------------------------------------------------------------


def resolve_line(
    engine: Engine,
    actor: Actor,
    line_id: int,
    *,
    exclude: bool,
    resolution: str,
    expected_version: int | None = None,
    now: dt.datetime | None = None,
) -> RollSummary:
    """Settle a flagged line: keep it (``exclude`` False, the reason it is right) or take it
    off this month's payment. ``expected_version`` is the roll's."""
    require(actor.role, "roll.generate")
    with engine.connect() as conn:
        line = conn.execute(
            text("SELECT id, roll_id, problem, recipient_id FROM payment_roll_lines WHERE id = :i"),
            {"i": line_id},
        ).first()
        roll = _roll_row(conn, int(line.roll_id)) if line else None
    scope_mod.check(engine, actor, "payment_roll", f"line {line_id}", roll.county_code if roll else None)
    assert line is not None and roll is not None
    check_version("payment_roll", int(roll.id), roll.version, expected_version)
    if roll.status == "confirmed":
        raise InvalidState(
            "resolve a line of a confirmed roll", roll.status, "发放名册已确认（冻结），不能再修改。"
        )
    if line.problem is None:
        raise CaseError("no_problem", f"line {line_id} has no problem", "该行核查未发现问题，无需处理。")
    if not resolution or not resolution.strip():
        raise CaseError(
            "reason_required", "a resolution needs a reason", "请写明处理意见（核实情况或剔除理由）。"
        )
    at = now or ledger.now()
    with engine.begin() as conn:
        version = roll.version if expected_version is None else expected_version
        conn.execute(
            text("UPDATE payment_roll_lines SET excluded = :x, resolution = :res WHERE id = :i"),
            {"x": exclude, "res": resolution.strip()[:300], "i": line_id},
        )
        _write_totals(conn, int(roll.id), version)
        new = _roll_row(conn, int(roll.id))
        _event(
            conn,
            new,
            "line_excluded" if exclude else "line_kept",
            actor,
            at,
            reason=resolution,
            data={"line_id": line_id, "recipient_id": int(line.recipient_id), "problem": line.problem},
        )
        return _summary(conn, new)


def confirm_roll(
    engine: Engine,
    actor: Actor,
    roll_id: int,
    *,
    expected_version: int | None = None,
    now: dt.datetime | None = None,
) -> RollSummary:
    """Confirm (freeze) a checked roll with every problem resolved; not by its generator."""
    require(actor.role, "roll.confirm")
    row = _scoped_roll(engine, actor, roll_id)
    check_version("payment_roll", roll_id, row.version, expected_version)
    if row.status != "checked":
        raise InvalidState(
            "confirm",
            row.status,
            "发放名册已确认。"
            if row.status == "confirmed"
            else "请先核查发放名册（doudi cases roll check）再确认。",
        )
    if row.generated_by == actor.username:
        raise CaseError(
            "maker_checker",
            f"{actor.username} generated roll {roll_id} and may not confirm it",
            "发放名册须由生成人以外的县级审核确认人确认（审核与确认分离）。",
        )
    at = now or ledger.now()
    with engine.begin() as conn:
        unresolved = conn.execute(
            text(
                """SELECT count(*) FROM payment_roll_lines
                   WHERE roll_id = :r AND problem IS NOT NULL AND resolution IS NULL"""
            ),
            {"r": roll_id},
        ).scalar_one()
        if unresolved:
            raise CaseError(
                "unresolved_problems",
                f"roll {roll_id} has {unresolved} unresolved problem lines",
                f"发放名册还有 {unresolved} 行核查问题未处理，处理后才能确认。",
            )
        version = row.version if expected_version is None else expected_version
        _write_totals(
            conn, roll_id, version, status="confirmed", confirmed_by=actor.username, confirmed_at=at
        )
        new = _roll_row(conn, roll_id)
        _event(
            conn,
            new,
            "confirmed",
            actor,
            at,
            from_status="checked",
            to_status="confirmed",
            data={"lines": new.lines, "total": str(new.total)},
        )
        return _summary(conn, new)


# --- reading ---------------------------------------------------------------------------------


def roll_summary(engine: Engine, actor: Actor, roll_id: int) -> RollSummary:
    require(actor.role, "case.view")
    row = _scoped_roll(engine, actor, roll_id)
    with engine.connect() as conn:
        return _summary(conn, row)


def find_roll(engine: Engine, actor: Actor, county_code: str, period: str) -> RollSummary:
    """The county's roll of a month."""
    require(actor.role, "case.view")
    p = month(period, "period")
    with engine.connect() as conn:
        row = conn.execute(
            select(_ROLLS).where(_ROLLS.c.county_code == county_code, _ROLLS.c.period == str(p))
        ).first()
    scope_mod.check(engine, actor, "payment_roll", f"{county_code} {p}", row.county_code if row else None)
    with engine.connect() as conn:
        return _summary(conn, row)


def list_rolls(
    engine: Engine, actor: Actor, *, period: str | None = None, status: str | None = None
) -> list[RollSummary]:
    """The rolls of the actor's scope, newest month first."""
    require(actor.role, "case.view")
    cond, params = scope_sql(actor, division="county_code", county="county_code")
    where = [cond]
    if period:
        where.append("period = :period")
        params["period"] = str(month(period, "period"))
    if status:
        where.append("status = :status")
        params["status"] = status
    with engine.connect() as conn:
        ids = [
            int(i)
            for (i,) in conn.execute(
                text(
                    f"SELECT id FROM payment_rolls WHERE {' AND '.join(where)} ORDER BY period DESC, county_code"
                ),
                params,
            )
        ]
        return [_summary(conn, _roll_row(conn, i)) for i in ids]


LINE_SQL = f"""
    SELECT l.id, l.roll_id, l.recipient_id, l.household_id, h.household_no, l.program, l.township_code,
           coalesce(td.name, l.township_code) AS township_name, l.division_code,
           coalesce(vd.name, l.division_code) AS village_name,
           coalesce(pv.name, '') AS payee_name, coalesce(p.citizen_id, '') AS payee_citizen_id,
           l.covered_members, l.amount, l.problem, l.problem_detail, l.excluded, l.resolution
    FROM payment_roll_lines l
    JOIN households h ON h.id = l.household_id
    LEFT JOIN persons p ON p.id = l.person_id
    LEFT JOIN person_versions pv ON pv.person_id = l.person_id AND {IN_FORCE.format(a="pv")}
    LEFT JOIN divisions td ON td.code = l.township_code
    LEFT JOIN divisions vd ON vd.code = l.division_code
"""


def line_view(r: Any, *, unmasked: bool) -> RollLine:
    return RollLine(
        id=int(r.id),
        roll_id=int(r.roll_id),
        recipient_id=int(r.recipient_id),
        household_id=int(r.household_id),
        household_no=str(r.household_no),
        program=r.program,
        program_label=label(PROGRAMS_SHORT, r.program),
        township_code=r.township_code,
        township_name=r.township_name,
        division_code=r.division_code,
        village_name=r.village_name,
        payee_name=r.payee_name if unmasked else mask_name(r.payee_name),
        payee_citizen_id=r.payee_citizen_id if unmasked else mask_citizen_id(r.payee_citizen_id),
        covered_members=int(r.covered_members),
        amount=Decimal(str(r.amount)).quantize(Decimal("0.01")),
        problem=r.problem,
        problem_label=label(PROBLEMS, r.problem),
        problem_detail=r.problem_detail,
        excluded=bool(r.excluded),
        resolution=r.resolution,
    )


def require_reason(unmasked: bool, reason: str | None) -> None:
    if unmasked and not (reason and reason.strip()):
        raise CaseError(
            "reason_required",
            "an unmasked view needs a reason",
            "查看或导出完整姓名和身份证号须填写理由（将记入审计日志）。",
        )


def roll_lines(
    engine: Engine,
    actor: Actor,
    roll_id: int,
    *,
    problems_only: bool = False,
    page: int = 1,
    page_size: int = 50,
    unmasked: bool = False,
    reason: str | None = None,
) -> Page:
    """A page of the roll's lines (problem lines only when asked), names and IDs masked
    unless ``unmasked`` with a ``reason`` (audited)."""
    require(actor.role, "case.view")
    require_reason(unmasked, reason)
    row = _scoped_roll(engine, actor, roll_id)
    p = Period.parse(row.period)
    where = "l.roll_id = :r" + (" AND l.problem IS NOT NULL" if problems_only else "")
    with engine.begin() as conn:
        total = conn.execute(
            text(f"SELECT count(*) FROM payment_roll_lines l WHERE {where}"), {"r": roll_id}
        ).scalar_one()
        rows = conn.execute(
            text(f"{LINE_SQL} WHERE {where} ORDER BY l.id LIMIT :limit OFFSET :offset"),
            {"r": roll_id, "on": p.end, "limit": page_size, "offset": (max(page, 1) - 1) * page_size},
        ).all()
        if unmasked:
            from doudi import audit

            audit.record(
                conn,
                actor=actor.username,
                action="view_unmasked",
                object_type="payment_roll",
                object_ref=str(roll_id),
                division_code=row.county_code,
                reason=reason,
                detail={"page": page, "problems_only": problems_only, "lines": len(rows)},
            )
    return Page(tuple(line_view(r, unmasked=unmasked) for r in rows), int(total), page, page_size)


def fetch_lines_arrow(conn: Connection, roll: Any) -> pa.Table:
    """Every line of a roll with names, for export (unmasked: the caller masks)."""
    schema = pa.schema(
        [
            ("id", pa.int64()),
            ("township_name", pa.string()),
            ("village_name", pa.string()),
            ("payee_name", pa.string()),
            ("payee_citizen_id", pa.string()),
            ("program", pa.string()),
            ("covered_members", pa.int64()),
            ("amount", pa.string()),
            ("excluded", pa.bool_()),
            ("problem", pa.string()),
            ("resolution", pa.string()),
        ]
    )
    p = Period.parse(roll.period)
    sql = f"""SELECT l.id, coalesce(td.name, l.township_code), coalesce(vd.name, l.division_code),
                     coalesce(pv.name, ''), coalesce(p.citizen_id, ''), l.program, l.covered_members,
                     CAST(l.amount AS VARCHAR(20)), l.excluded, l.problem, l.resolution
              FROM payment_roll_lines l
              LEFT JOIN persons p ON p.id = l.person_id
              LEFT JOIN person_versions pv ON pv.person_id = l.person_id AND {IN_FORCE.format(a="pv")}
              LEFT JOIN divisions td ON td.code = l.township_code
              LEFT JOIN divisions vd ON vd.code = l.division_code
              WHERE l.roll_id = :r
              ORDER BY l.township_code, l.division_code, l.household_id, l.program, l.id"""
    return bulk.fetch_arrow(conn, sql, schema, {"r": int(roll.id), "on": p.end})
