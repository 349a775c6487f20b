"""动态清零 figures: what became of the alerts of a division and period, per child division.

For the alerts raised in ``period`` (a month ``YYYY-MM``, a year ``YYYY``, or all) up to
``as_of``, counted as things stood at the end of ``as_of``:

================== =================================================================
raised             alerts raised (预警数)
verified           alerts with a recorded home visit (已核查)
verified_within_due visited by the due date: ``verified_at`` on or before ``due_date``
                   (the date the alert was raised + ``due_days``, 15)
helped             alerts whose decision gave help (anything but "no help needed")
closed             alerts decided (closed)
open               alerts still open (not closed by the end of ``as_of``)
overdue            open alerts past their due date on ``as_of``
median_days_to_help median days from raising to the decision that gave help (helped ones)
================== =================================================================

Rows drill down one level: province → prefectures → counties → townships → villages; a
child with no alert is listed with zeros (a township with nothing raised is a figure too).
Alerts routed above the child level (a discovery routed to the county, say) form a row of
their own under the division's own code. Set-based: the alerts are read once as Arrow and
counted in DuckDB.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

import duckdb
import pyarrow as pa
from sqlalchemy import Connection, Engine, text

from doudi.auth.actor import Actor, scope_prefix
from doudi.auth.roles import require
from doudi.auth.scope import check
from doudi.cases import ledger
from doudi.cases.errors import CaseError
from doudi.db import bulk
from doudi.divisions.catalog import DivisionError, level_of_code
from doudi.periods import Period, PeriodError

_READ = pa.schema(
    [
        ("division_code", pa.string()),
        ("raised_at", pa.string()),
        ("due_date", pa.date32()),
        ("closed_at", pa.string()),
        ("verified_at", pa.string()),
        ("helped_at", pa.string()),
    ]
)
_TIMES = ("raised_at", "closed_at", "verified_at", "helped_at")
FIGURES: dict[str, str] = {
    "raised": "预警数",
    "verified": "已核查",
    "verified_within_due": "期限内核查",
    "helped": "已帮扶",
    "closed": "已办结",
    "open": "未办结",
    "overdue": "逾期未办结",
    "median_days_to_help": "预警到帮扶天数（中位数）",
}


@dataclass(frozen=True)
class StatsRow:
    division_code: str
    name: str
    raised: int
    verified: int
    verified_within_due: int
    helped: int
    closed: int
    open: int
    overdue: int
    median_days_to_help: float | None

    @property
    def verified_within_due_rate(self) -> float | None:
        """Share of the raised alerts visited by their due date (None when none was raised)."""
        return self.verified_within_due / self.raised if self.raised else None


@dataclass(frozen=True)
class ClosureStats:
    division_code: str
    name: str
    period: str | None
    as_of: dt.date
    rows: tuple[StatsRow, ...]
    total: StatsRow

    def as_dicts(self) -> list[dict[str, Any]]:
        """The rows then the total, as plain dicts (for the dashboard and JSON output)."""
        return [asdict(r) for r in (*self.rows, self.total)]


def _period_range(period: str | None) -> tuple[dt.date | None, dt.date | None]:
    """[start, end) of the raising dates of a month ``YYYY-MM`` or a year ``YYYY``."""
    if period is None:
        return None, None
    p = period.strip()
    if len(p) == 4 and p.isdigit():
        return dt.date(int(p), 1, 1), dt.date(int(p) + 1, 1, 1)
    try:
        month = Period.parse(p)
    except PeriodError as exc:
        raise CaseError(
            "bad_period",
            f"bad period {period!r}",
            f"统计期间“{period}”格式不对，应为 年-月（如 2026-12）或 年（如 2026）。",
        ) from exc
    return month.start, month.end + dt.timedelta(days=1)


def _child_length(prefix: str) -> int | None:
    """The prefix length of the next level down (None below a village)."""
    return {2: 4, 4: 6, 6: 9, 9: 12}.get(len(prefix))


def closure_stats(
    engine: Engine,
    actor: Actor,
    *,
    division_code: str | None = None,
    period: str | None = None,
    as_of: dt.date | None = None,
) -> ClosureStats:
    """The 动态清零 figures of ``division_code`` (default: the actor's own division) per child
    division and in total; see the module docstring. The division must be in the actor's
    scope (NotFound, audited, otherwise)."""
    require(actor.role, "case.view")
    division = (division_code or actor.division_code).strip()
    try:
        level_of_code(division)
    except DivisionError as exc:
        raise CaseError("bad_division", str(exc), f"区划代码“{division}”无效：{exc.reason}。") from exc
    check(engine, actor, "division", division, division)
    day = as_of or ledger.now().date()
    start, end = _period_range(period)
    prefix = scope_prefix(division)
    child = _child_length(prefix)

    # Times bound as text: SQLite keeps them as text; PostgreSQL needs the cast (COPY binds
    # parameters on the client, as typed varchar).
    ts = "CAST(:{} AS TIMESTAMP)" if engine.dialect.name == "postgresql" else ":{}"
    where = [f"a.raised_at < {ts.format('cutoff')}"]
    params: dict[str, Any] = {"cutoff": f"{day + dt.timedelta(days=1):%Y-%m-%d} 00:00:00"}
    column = {9: "a.township_code = :prefix", 6: "a.county_code = :prefix", 12: "a.division_code = :prefix"}
    if len(prefix) in column:
        where.append(column[len(prefix)])
        params["prefix"] = prefix
    elif len(prefix) == 4:
        where.append("a.division_code LIKE :prefix")
        params["prefix"] = prefix + "%"
    if start is not None and end is not None:
        where.append(f"a.raised_at >= {ts.format('start')} AND a.raised_at < {ts.format('end')}")
        params.update(start=f"{start:%Y-%m-%d} 00:00:00", end=f"{end:%Y-%m-%d} 00:00:00")
    sql = (
        "SELECT a.division_code, a.raised_at, a.due_date, a.closed_at, w.verified_at, w.helped_at "
        "FROM alerts a LEFT JOIN alert_work w ON w.alert_id = a.id WHERE " + " AND ".join(where)
    )
    with engine.connect() as conn:
        alerts = bulk.fetch_arrow(conn, sql, _READ, params)
        names = _names(conn, division, child)
    alerts = alerts.cast(
        pa.schema([pa.field(f.name, pa.timestamp("us")) if f.name in _TIMES else f for f in _READ])
    )
    rows = _count(alerts, prefix, child, day)
    by_code = {r["code"]: r for r in rows if r["code"] is not None}
    total = next(r for r in rows if r["code"] is None)
    codes = sorted(set(by_code) | (set(names) - {division} if child else set()))
    own = names.get(division, "")

    def name_of(code: str) -> str:
        if code == division and child is not None:
            return f"{own}（本级，未落到下级区划）"
        return names.get(code, "")

    return ClosureStats(
        division_code=division,
        name=own,
        period=period,
        as_of=day,
        rows=tuple(_row(c, name_of(c), by_code.get(c)) for c in codes),
        total=_row(division, "合计", total),
    )


def _names(conn: Connection, division: str, child: int | None) -> dict[str, str]:
    """Names of the division and of its children (from the division table)."""
    found = {
        str(code): str(name)
        for code, name in conn.execute(
            text("SELECT code, name FROM divisions WHERE code = :d OR parent_code = :d"), {"d": division}
        )
    }
    if child is None:
        return {division: found.get(division, "")}
    return found


def _count(alerts: pa.Table, prefix: str, child: int | None, day: dt.date) -> list[dict[str, Any]]:
    if child is None:
        code = "division_code"
    elif child == 4:  # prefectures are six digits: PPCC00
        code = (
            "CASE WHEN substr(division_code, 3, 2) <> '00' THEN substr(division_code, 1, 4) || '00' "
            "ELSE division_code END"
        )
    else:
        code = (
            f"CASE WHEN length(division_code) >= {child} THEN substr(division_code, 1, {child}) "
            "ELSE division_code END"
        )
    con = duckdb.connect()
    try:
        con.register("alerts", alerts)
        result = con.execute(
            f"""
            WITH t AS (
                SELECT {code} AS code, raised_at, due_date,
                       verified_at IS NOT NULL AND verified_at < $cutoff AS verified,
                       verified_at IS NOT NULL AND verified_at < $cutoff
                           AND CAST(verified_at AS DATE) <= due_date AS in_time,
                       helped_at IS NOT NULL AND helped_at < $cutoff AS helped,
                       helped_at,
                       closed_at IS NOT NULL AND closed_at < $cutoff AS closed
                FROM alerts
            )
            SELECT CASE WHEN grouping(code) = 1 THEN NULL ELSE code END AS code,
                   count(*) AS raised,
                   count(*) FILTER (WHERE verified) AS verified,
                   count(*) FILTER (WHERE in_time) AS verified_within_due,
                   count(*) FILTER (WHERE helped) AS helped,
                   count(*) FILTER (WHERE closed) AS closed,
                   count(*) FILTER (WHERE NOT closed) AS open,
                   count(*) FILTER (WHERE NOT closed AND due_date < $day) AS overdue,
                   round(median(epoch(helped_at - raised_at) / 86400.0) FILTER (WHERE helped), 1)
                       AS median_days_to_help
            FROM t GROUP BY GROUPING SETS ((code), ())
            """,
            {"cutoff": dt.datetime.combine(day + dt.timedelta(days=1), dt.time()), "day": day},
        )
        columns = [d[0] for d in result.description]
        rows = [dict(zip(columns, r, strict=True)) for r in result.fetchall()]
    finally:
        con.close()
    if not any(r["code"] is None for r in rows):  # no alert at all: the total is zeros
        rows.append({"code": None})
    return rows


def _row(code: str, name: str, r: dict[str, Any] | None) -> StatsRow:
    r = r or {}
    median = r.get("median_days_to_help")
    return StatsRow(
        division_code=code,
        name=name,
        raised=int(r.get("raised") or 0),
        verified=int(r.get("verified") or 0),
        verified_within_due=int(r.get("verified_within_due") or 0),
        helped=int(r.get("helped") or 0),
        closed=int(r.get("closed") or 0),
        open=int(r.get("open") or 0),
        overdue=int(r.get("overdue") or 0),
        median_days_to_help=float(median) if median is not None else None,
    )
