"""工作台: what a division's dashboard shows, one child division per row.

:func:`dashboard` gathers, for a division in the actor's scope (default: the actor's own):

* the 动态清零 figures per child division (:func:`doudi.cases.stats.closure_stats`);
* the alerts by severity per child division — raised, and still open at the end of
  ``as_of`` — counted over exactly the alerts the 动态清零 figures count (same period, same
  cutoff, same child of each alert), so the two tables add up to the same totals;
* recipients, persons covered and the monthly amount due, by program and month, for the
  twelve months up to ``as_of`` (the recipients whose months contain the month, at the term
  in force that month: what a payment roll of that month would hold, 低保边缘 and 刚性支出困难
  households included with their zero amounts);
* the urban and rural 低保 standards in force on ``as_of`` and their ratio, for the division
  (its county, below county level) and for each child prefecture or county.

Rows drill down province → prefectures → counties → townships → villages. Every count is
one grouped query in the database (or DuckDB over one Arrow read); nothing loops over alerts
or recipients in Python.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import DateTime, Engine, bindparam, text

from doudi.auth.actor import Actor, scope_prefix
from doudi.cases import ledger
from doudi.cases.labels import PROGRAMS_SHORT
from doudi.cases.stats import ClosureStats, _period_range, closure_stats
from doudi.divisions import Level, level_of_code
from doudi.periods import Period
from doudi.programs.parameters import ParameterSet, default_parameters

SEVERITIES = ("red", "orange", "yellow")
LEVEL_NAMES = {
    Level.PROVINCE: "省",
    Level.PREFECTURE: "市（州）",
    Level.COUNTY: "县（市、区）",
    Level.TOWNSHIP: "乡镇（街道）",
    Level.VILLAGE: "村（社区）",
}
CHILD_NAMES = {
    Level.PROVINCE: "市（州）",
    Level.PREFECTURE: "县（市、区）",
    Level.COUNTY: "乡镇（街道）",
    Level.TOWNSHIP: "村（社区）",
}
MONTHS = 12
RATIO_PLACES = Decimal("0.01")


@dataclass(frozen=True)
class Crumb:
    code: str
    name: str
    linked: bool  # inside the actor's scope (a link back up)


@dataclass(frozen=True)
class SeverityRow:
    division_code: str
    name: str
    raised: dict[str, int]  # severity → alerts raised
    open: dict[str, int]  # severity → alerts still open

    @property
    def raised_total(self) -> int:
        return sum(self.raised.values())

    @property
    def open_total(self) -> int:
        return sum(self.open.values())


@dataclass(frozen=True)
class ProgramMonth:
    period: str
    program: str
    recipients: int
    persons: int
    amount: Decimal


@dataclass(frozen=True)
class StandardRow:
    division_code: str
    name: str
    urban: Decimal
    rural: Decimal
    set_in: str  # the division whose value is in force (inherited from above when not its own)
    set_in_name: str
    placeholder: bool

    @property
    def ratio(self) -> Decimal:
        """Urban ÷ rural, two decimals."""
        return (self.urban / self.rural).quantize(RATIO_PLACES, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Dashboard:
    division_code: str
    name: str
    level: Level
    period: str | None
    as_of: dt.date
    breadcrumb: tuple[Crumb, ...]
    child_label: str | None  # what the rows are (乡镇（街道）…), None at a village
    closure: ClosureStats
    severity: tuple[SeverityRow, ...]
    severity_total: SeverityRow
    months: tuple[str, ...]
    spending: tuple[ProgramMonth, ...]
    standards: tuple[StandardRow, ...]

    @property
    def level_name(self) -> str:
        return LEVEL_NAMES[self.level]

    def drillable(self, code: str) -> bool:
        """Whether a row's division has a dashboard of its own (not the 本级 row)."""
        return code != self.division_code and self.level < Level.VILLAGE

    def programs(self) -> list[str]:
        """The programs with any recipient in the window, in the labels' order."""
        present = {s.program for s in self.spending}
        return [p for p in PROGRAMS_SHORT if p in present]

    def spending_of(self, period: str) -> list[ProgramMonth]:
        return [s for s in self.spending if s.period == period]

    def amount_of(self, period: str, program: str) -> Decimal:
        """The amount due for a program in a month (0.00 when none)."""
        found = [s.amount for s in self.spending if s.period == period and s.program == program]
        return found[0] if found else Decimal("0.00")

    def spending_total(self, period: str) -> ProgramMonth:
        rows = self.spending_of(period)
        return ProgramMonth(
            period,
            "total",
            sum(r.recipients for r in rows),
            sum(r.persons for r in rows),
            sum((r.amount for r in rows), Decimal("0.00")),
        )

    def chart_data(self) -> dict[str, Any]:
        """Plain data for the charts (drawn in the browser from JSON, no inline script)."""
        programs = self.programs()
        by_key = {(s.period, s.program): s for s in self.spending}
        return {
            "severity": {
                "divisions": [r.name or r.division_code for r in self.severity],
                "series": [{"severity": s, "open": [r.open[s] for r in self.severity]} for s in SEVERITIES],
            },
            "closure": {
                "divisions": [r.name or r.division_code for r in self.closure.rows],
                "verified_within_due": [r.verified_within_due for r in self.closure.rows],
                "helped": [r.helped for r in self.closure.rows],
                "overdue": [r.overdue for r in self.closure.rows],
            },
            "spending": {
                "months": list(self.months),
                "programs": [PROGRAMS_SHORT[p] for p in programs],
                "amount": [
                    [str(by_key[(m, p)].amount) if (m, p) in by_key else "0" for m in self.months]
                    for p in programs
                ],
                "recipients": [self.spending_total(m).recipients for m in self.months],
            },
            "standards": {
                "divisions": [r.name for r in self.standards],
                "urban": [str(r.urban) for r in self.standards],
                "rural": [str(r.rural) for r in self.standards],
                "ratio": [str(r.ratio) for r in self.standards],
            },
        }


def _child_code(prefix: str) -> str:
    """SQL for the child division of an alert's ``a.division_code`` (as closure_stats counts it)."""
    if len(prefix) == 2:  # prefectures are six digits: PPCC00
        return (
            "CASE WHEN substr(a.division_code, 3, 2) <> '00' THEN substr(a.division_code, 1, 4) || '00' "
            "ELSE a.division_code END"
        )
    child = {4: 6, 6: 9, 9: 12}.get(len(prefix))
    if child is None:
        return "a.division_code"
    return (
        f"CASE WHEN length(a.division_code) >= {child} THEN substr(a.division_code, 1, {child}) "
        "ELSE a.division_code END"
    )


def _scope_condition(prefix: str, columns: dict[int, str], like: str) -> tuple[str, dict[str, str]]:
    """The division's rows: equality on the column of the prefix's length, else ``LIKE``."""
    if len(prefix) <= 2:
        return "1 = 1", {}
    if len(prefix) in columns:
        return f"{columns[len(prefix)]} = :prefix", {"prefix": prefix}
    return f"{like} LIKE :prefix", {"prefix": prefix + "%"}


def _severity(
    engine: Engine, closure: ClosureStats, prefix: str, period: str | None
) -> tuple[tuple[SeverityRow, ...], SeverityRow]:
    cutoff = dt.datetime.combine(closure.as_of + dt.timedelta(days=1), dt.time())
    where, params = _scope_condition(
        prefix, {9: "a.township_code", 6: "a.county_code", 12: "a.division_code"}, "a.division_code"
    )
    conditions = [where, "a.raised_at < :cutoff"]
    binds: dict[str, Any] = {**params, "cutoff": cutoff}
    start, end = _period_range(period)
    if start is not None and end is not None:
        conditions.append("a.raised_at >= :start AND a.raised_at < :end")
        binds.update(start=dt.datetime.combine(start, dt.time()), end=dt.datetime.combine(end, dt.time()))
    sql = text(
        f"""SELECT {_child_code(prefix)} AS code, a.severity, count(*) AS raised,
                   sum(CASE WHEN a.closed_at IS NULL OR a.closed_at >= :cutoff THEN 1 ELSE 0 END) AS still_open
            FROM alerts a WHERE {" AND ".join(conditions)}
            GROUP BY 1, 2"""
    ).bindparams(*(bindparam(k, type_=DateTime()) for k in ("cutoff", "start", "end") if k in binds))
    with engine.connect() as conn:
        found = conn.execute(sql, binds).all()
    counts: dict[str, tuple[dict[str, int], dict[str, int]]] = {}
    for code, severity, raised, still_open in found:
        raised_by, open_by = counts.setdefault(str(code), ({}, {}))
        raised_by[severity] = raised_by.get(severity, 0) + int(raised)
        open_by[severity] = open_by.get(severity, 0) + int(still_open or 0)

    def row(code: str, name: str, pair: tuple[dict[str, int], dict[str, int]] | None) -> SeverityRow:
        raised_by, open_by = pair or ({}, {})
        return SeverityRow(
            code,
            name,
            {s: raised_by.get(s, 0) for s in SEVERITIES},
            {s: open_by.get(s, 0) for s in SEVERITIES},
        )

    rows = tuple(row(r.division_code, r.name, counts.get(r.division_code)) for r in closure.rows)
    total = SeverityRow(
        closure.division_code,
        "合计",
        {s: sum(v[0].get(s, 0) for v in counts.values()) for s in SEVERITIES},
        {s: sum(v[1].get(s, 0) for v in counts.values()) for s in SEVERITIES},
    )
    return rows, total


def _spending(engine: Engine, prefix: str, months: list[str]) -> tuple[ProgramMonth, ...]:
    where, params = _scope_condition(
        prefix, {9: "r.township_code", 6: "r.county_code", 12: "r.division_code"}, "r.division_code"
    )
    values = ", ".join(f"(:m{i})" for i in range(len(months)))
    cents = "CAST(round(CAST(t.monthly_amount AS NUMERIC) * 100) AS BIGINT)"
    # Each recipient's term is paid from the later of the two starts to the earlier of the two
    # ends: the terms are first summed per (program, first month, last month) in one pass, and
    # only those few groups are spread over the months.
    first = "CASE WHEN t.from_month > r.start_month THEN t.from_month ELSE r.start_month END"
    end_r, end_t = "coalesce(r.end_month, '9999-12')", "coalesce(t.to_month, '9999-12')"
    last = f"CASE WHEN {end_t} < {end_r} THEN {end_t} ELSE {end_r} END"
    sql = text(
        f"""WITH m(p) AS (VALUES {values}),
            g AS (
                SELECT r.program, {first} AS first_month, {last} AS last_month, count(*) AS n,
                       sum(t.covered_members) AS persons, sum({cents}) AS cents
                FROM recipients r JOIN recipient_terms t ON t.recipient_id = r.id
                WHERE {where} AND {first} <= :last AND {last} >= :first
                GROUP BY r.program, {first}, {last}
            )
            SELECT m.p, g.program, sum(g.n), sum(g.persons), sum(g.cents)
            FROM m JOIN g ON g.first_month <= m.p AND g.last_month >= m.p
            GROUP BY m.p, g.program
            ORDER BY m.p, g.program"""
    )
    binds = {**params, "first": months[0], "last": months[-1], **{f"m{i}": m for i, m in enumerate(months)}}
    with engine.connect() as conn:
        rows = conn.execute(sql, binds).all()
    return tuple(
        ProgramMonth(
            str(p),
            str(program),
            int(n),
            int(persons or 0),
            (Decimal(int(c or 0)) / 100).quantize(Decimal("0.01")),
        )
        for p, program, n, persons, c in rows
    )


def _standards(params: ParameterSet, division: str, level: Level, on: dt.date) -> tuple[StandardRow, ...]:
    catalog = params.catalog
    if level >= Level.COUNTY:
        codes = [division[:6]]
    else:
        codes = [division] + [
            d.code for d in catalog.children(division) if d.level in (Level.PREFECTURE, Level.COUNTY)
        ]
    rows = []
    for code in codes:
        try:
            urban = params.resolve("dibao.standard", code, "urban", on)
            rural = params.resolve("dibao.standard", code, "rural", on)
        except (LookupError, KeyError):
            continue
        if not isinstance(urban.value, Decimal) or not isinstance(rural.value, Decimal) or not rural.value:
            continue
        rows.append(
            StandardRow(
                code,
                catalog.require(code).name,
                urban.value,
                rural.value,
                urban.division_code,
                catalog.require(urban.division_code).name,
                urban.placeholder or rural.placeholder,
            )
        )
    return tuple(rows)


def _breadcrumb(engine: Engine, actor: Actor, division: str) -> tuple[Crumb, ...]:
    """From the province down to ``division``; the levels inside the actor's scope are links."""
    level = level_of_code(division)
    codes = [division[:2] + "0000"]
    for at_least, code in (
        (Level.PREFECTURE, division[:4] + "00"),
        (Level.COUNTY, division[:6]),
        (Level.TOWNSHIP, division[:9]),
        (Level.VILLAGE, division),
    ):
        if level >= at_least:
            codes.append(code)
    codes = list(dict.fromkeys(codes))
    with engine.connect() as conn:
        names = {
            str(c): str(n)
            for c, n in conn.execute(
                text("SELECT code, name FROM divisions WHERE code IN :codes").bindparams(
                    bindparam("codes", expanding=True)
                ),
                {"codes": codes},
            )
        }
    return tuple(Crumb(c, names.get(c, c), actor.covers(c)) for c in codes if c in names or c == division)


def dashboard(
    engine: Engine,
    actor: Actor,
    *,
    division_code: str | None = None,
    period: str | None = None,
    as_of: dt.date | None = None,
    params: ParameterSet | None = None,
) -> Dashboard:
    """The dashboard of ``division_code`` (default: the actor's division), which must be in the
    actor's scope (NotFound, audited, otherwise); ``period`` (``YYYY-MM`` or ``YYYY``) limits
    the alerts counted, as for :func:`closure_stats`. See the module docstring."""
    day = as_of or ledger.now().date()
    closure = closure_stats(engine, actor, division_code=division_code, period=period, as_of=day)
    division = closure.division_code
    level = level_of_code(division)
    prefix = scope_prefix(division)
    severity, severity_total = _severity(engine, closure, prefix, period)
    last = Period.of(day)
    _, period_end = _period_range(period)
    if period_end is not None and period_end <= day:
        last = Period.of(period_end - dt.timedelta(days=1))
    months = [str(p) for p in last.window(MONTHS)]
    params = params or default_parameters()
    return Dashboard(
        division_code=division,
        name=closure.name,
        level=level,
        period=period,
        as_of=day,
        breadcrumb=_breadcrumb(engine, actor, division),
        child_label=CHILD_NAMES.get(level),
        closure=closure,
        severity=severity,
        severity_total=severity_total,
        months=tuple(months),
        spending=_spending(engine, prefix, months),
        standards=_standards(params, division, level, day),
    )


__all__ = ["Dashboard", "ProgramMonth", "SeverityRow", "StandardRow", "dashboard"]
