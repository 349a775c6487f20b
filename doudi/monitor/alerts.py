"""Alert write-back: a run's candidate alerts merged into ``alerts`` and ``alert_evidence``,
and the run itself recorded in ``monitor_runs``.

An alert is one event of one subject under one rule: ``(rule_id, subject_key, event_key)``
identifies it (see :class:`doudi.db.models.Alert`). For each candidate of a run, in one
set-based pass:

- **new** — no open alert with that identity and none closed within the rule's
  ``suppress_days`` before ``now``: inserted as ``open``, routed to the township of its
  division (the first 9 digits of a village code) and due ``due_days`` after ``now``;
- **updated** / **unchanged** — an open alert exists (open = ``closed_at`` is NULL, whatever
  workflow status a case worker has given it): it is kept, never duplicated. Its
  ``period_first``/``period_last`` widen to cover the run's period; when the run's period is
  not older than the alert's ``period_last``, its content (rule version, severity, title,
  explanation, facts, actions, policy) is replaced by the candidate's. It counts as
  ``updated`` when any of that changed or new evidence rows were attached (``updated_at`` is
  then set to ``now``), else ``unchanged``. The due date, the routing and ``raised_at`` never
  change: the deadline runs from when the alert was raised;
- **suppressed** — no open alert but one closed within the suppression window: nothing is
  written (not even evidence).

``last_run_id`` moves to every run that raises the alert, changed or not, so that
``alerts.last_run_id = R`` lists exactly the alerts run ``R`` raised; a rerun of a period with
the same inputs changes nothing else. Evidence rows attach to their alert; one already there
(same alert, feed kind, load and row) is not added again.

The existing alerts are read once as Arrow, the decisions taken in DuckDB, new rows written
with :func:`doudi.db.bulk.insert_arrow` and existing ones changed by one ``UPDATE … FROM`` a
staging table (SQLite ≥ 3.33 and PostgreSQL). Nothing loops over rows in Python.

The queries behind the CLI and the reports are here too: :func:`alert_summary` and
:func:`list_alerts` over the alerts of a month (:func:`in_period`), with IDs masked.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, DateTime, Engine, bindparam, insert, text, update

from doudi.db import bulk
from doudi.db.models import MonitorRun
from doudi.monitor.parameters import monitor_parameters
from doudi.periods import Period

CANDIDATE_SCHEMA = pa.schema(
    [
        ("rule_id", pa.string()),
        ("rule_version", pa.int32()),
        ("severity", pa.string()),
        ("grain", pa.string()),
        ("subject_key", pa.string()),
        ("event_key", pa.string()),
        ("citizen_id", pa.string()),
        ("person_id", pa.int64()),
        ("household_no", pa.string()),
        ("registered", pa.bool_()),
        ("division_code", pa.string()),
        ("title", pa.string()),
        ("explanation", pa.string()),
        ("facts", pa.string()),
        ("actions", pa.string()),
        ("policy", pa.string()),
        ("suppress_days", pa.int32()),
    ]
)
"""The candidate alerts of a run, as :func:`merge_alerts` takes them."""

EVIDENCE_SCHEMA = pa.schema(
    [
        ("rule_id", pa.string()),
        ("subject_key", pa.string()),
        ("event_key", pa.string()),
        ("feed_kind", pa.string()),
        ("department", pa.string()),
        ("load_id", pa.int64()),
        ("period", pa.string()),
        ("row_no", pa.int64()),
        ("citizen_id", pa.string()),
        ("event_date", pa.date32()),
        ("detail", pa.string()),
    ]
)
"""The evidence rows of a run's candidates (joined to them by identity)."""

IDENTITY = ("rule_id", "subject_key", "event_key")

# The columns an update may overwrite with the candidate's values.
_CONTENT = ("rule_version", "severity", "title", "explanation", "facts", "actions", "policy")

_EXISTING_SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("rule_id", pa.string()),
        ("subject_key", pa.string()),
        ("event_key", pa.string()),
        ("closed_at", pa.string()),
        ("period_first", pa.string()),
        ("period_last", pa.string()),
        ("rule_version", pa.int32()),
        ("severity", pa.string()),
        ("title", pa.string()),
        ("explanation", pa.string()),
        ("facts", pa.string()),
        ("actions", pa.string()),
        ("policy", pa.string()),
    ]
)
_EXISTING_EVIDENCE_SCHEMA = pa.schema(
    [("alert_id", pa.int64()), ("feed_kind", pa.string()), ("load_id", pa.int64()), ("row_no", pa.int64())]
)

# Staging tables: TEXT for strings so that SQLite never turns '0123' into a number.
_NEW_STAGE = "doudi_alerts_new_stage"
_NEW_STAGE_COLUMNS = (
    ("id", "BIGINT"),
    ("rule_id", "TEXT"),
    ("rule_version", "INTEGER"),
    ("severity", "TEXT"),
    ("grain", "TEXT"),
    ("subject_key", "TEXT"),
    ("event_key", "TEXT"),
    ("citizen_id", "TEXT"),
    ("person_id", "BIGINT"),
    ("household_no", "TEXT"),
    ("registered", "BOOLEAN"),
    ("division_code", "TEXT"),
    ("township_code", "TEXT"),
    ("county_code", "TEXT"),
    ("period_first", "TEXT"),
    ("period_last", "TEXT"),
    ("status", "TEXT"),
    ("raised_at", "TIMESTAMP"),
    ("updated_at", "TIMESTAMP"),
    ("due_date", "DATE"),
    ("first_run_id", "INTEGER"),
    ("last_run_id", "INTEGER"),
    ("title", "TEXT"),
    ("explanation", "TEXT"),
    ("facts", "TEXT"),
    ("actions", "TEXT"),
    ("policy", "TEXT"),
)
_UPDATE_STAGE = "doudi_alerts_update_stage"
_UPDATE_STAGE_COLUMNS = (
    ("id", "BIGINT"),
    ("period_first", "TEXT"),
    ("period_last", "TEXT"),
    ("changed", "BOOLEAN"),
    ("set_content", "BOOLEAN"),
    ("rule_version", "INTEGER"),
    ("severity", "TEXT"),
    ("title", "TEXT"),
    ("explanation", "TEXT"),
    ("facts", "TEXT"),
    ("actions", "TEXT"),
    ("policy", "TEXT"),
)


@dataclass(frozen=True)
class MergeCounts:
    """What a merge did with a run's candidates (they add up to the candidates)."""

    new: int = 0
    updated: int = 0
    unchanged: int = 0
    suppressed: int = 0

    @property
    def total(self) -> int:
        return self.new + self.updated + self.unchanged + self.suppressed


# --- run records ------------------------------------------------------------------------------


def start_run(
    db_engine: Engine,
    *,
    period: str,
    engine_name: str,
    actor: str,
    rules: Sequence[tuple[str, int]],
    feed_loads: Sequence[int],
) -> int:
    """Record the start of a monitoring run (status ``running``); returns its id.

    ``rules`` are the ``(rule_id, version)`` pairs evaluated, ``feed_loads`` the ids of the
    ``feed_loads`` rows read; both are kept as JSON.
    """
    check_period(period)
    rules_json = json.dumps([{"id": r, "version": int(v)} for r, v in rules], ensure_ascii=False)
    with db_engine.begin() as conn:
        result = conn.execute(
            insert(MonitorRun).values(
                period=period,
                engine=engine_name,
                status="running",
                actor=actor,
                started_at=dt.datetime.now(),
                rules=rules_json,
                feed_loads=json.dumps(sorted(int(i) for i in feed_loads)),
                subjects=0,
                candidates=0,
                alerts_new=0,
                alerts_updated=0,
                alerts_unchanged=0,
                alerts_suppressed=0,
            )
        )
        pk = result.inserted_primary_key
        assert pk is not None
        return int(pk[0])


def finish_run(
    db_engine: Engine,
    run_id: int,
    *,
    status: str,
    duration_s: float,
    counts: Mapping[str, Any],
    subjects: int,
    candidates: int,
    merge: MergeCounts | None,
    error: str | None = None,
) -> None:
    """Record how a run ended: ``status`` (``done``/``failed``), its duration, ``counts``
    (e.g. alerts by rule and severity, kept as JSON), the number of subjects and candidates,
    what the merge did (``None`` when it did not get that far) and the error, if any."""
    m = merge or MergeCounts()
    with db_engine.begin() as conn:
        result = conn.execute(
            update(MonitorRun)
            .where(MonitorRun.id == run_id)
            .values(
                status=status,
                finished_at=dt.datetime.now(),
                duration_s=float(duration_s),
                counts=json.dumps(counts, ensure_ascii=False, sort_keys=True, default=str),
                subjects=int(subjects),
                candidates=int(candidates),
                alerts_new=m.new,
                alerts_updated=m.updated,
                alerts_unchanged=m.unchanged,
                alerts_suppressed=m.suppressed,
                error=error,
            )
        )
        if result.rowcount != 1:
            raise ValueError(f"no monitor run with id {run_id}")


# --- merge ------------------------------------------------------------------------------------


def merge_alerts(
    db_engine: Engine,
    *,
    run_id: int,
    period: str,
    candidates: pa.Table,
    evidence: pa.Table,
    now: dt.datetime,
    due_days: int,
) -> MergeCounts:
    """Merge a run's candidates (:data:`CANDIDATE_SCHEMA`) and their evidence
    (:data:`EVIDENCE_SCHEMA`) into the alerts, in one transaction; see the module docstring.

    Raises ``ValueError`` when a candidate identity appears twice (the rule compiler makes
    them unique) or the period is not ``YYYY-MM``. Evidence whose identity is not among the
    candidates is ignored.
    """
    check_period(period)
    if now.tzinfo is not None:  # the columns hold local time without a zone, like func.now()
        now = now.astimezone().replace(tzinfo=None)
    cand = _conform(candidates, CANDIDATE_SCHEMA, "candidates")
    ev = _conform(evidence, EVIDENCE_SCHEMA, "evidence")
    if cand.num_rows == 0:
        return MergeCounts()
    cand = cand.set_column(
        cand.schema.get_field_index("suppress_days"),
        "suppress_days",
        pc.fill_null(cand.column("suppress_days"), monitor_parameters().suppress_days.value),
    )
    cutoff = now - dt.timedelta(days=max(int(pc.max(cand.column("suppress_days")).as_py()), 0))
    rules = _sql_list(pc.unique(cand.column("rule_id")).to_pylist())

    con = duckdb.connect()
    try:
        con.register("cand_in", cand)
        con.register("ev_in", ev)
        _check_unique(con)
        with db_engine.begin() as conn:
            bulk.lock_for_write(conn, ["alerts", "alert_evidence"])
            existing = bulk.fetch_arrow(
                conn,
                f"SELECT {', '.join(_EXISTING_SCHEMA.names)} FROM alerts WHERE rule_id IN ({rules}) "
                f"AND (closed_at IS NULL OR closed_at >= '{cutoff:%Y-%m-%d %H:%M:%S}')",
                _EXISTING_SCHEMA,
            )
            con.register("existing_in", existing)
            new_base = int(bulk.next_ids(conn, "alerts", 1)[0])
            _decide(con, run_id=run_id, period=period, now=now, due_days=due_days, new_base=new_base)
            con.register("old_evidence_in", _existing_evidence(con, conn, rules))
            counts = _plan_updates(con, period=period)
            _write_new(con, conn)
            _write_updates(con, conn, now=now, run_id=run_id)
            _write_evidence(con, conn, run_id=run_id)
            bulk.reset_sequences(conn, ["alerts", "alert_evidence"])
        return counts
    finally:
        con.close()


def _decide(
    con: duckdb.DuckDBPyConnection,
    *,
    run_id: int,
    period: str,
    now: dt.datetime,
    due_days: int,
    new_base: int,
) -> None:
    """DuckDB tables ``decided`` (each candidate with its decision and alert id),
    ``new_alerts`` (rows to insert) and ``evidence_all`` (the evidence of the candidates
    that are not suppressed, one row per alert, feed kind, load and row)."""
    con.execute(
        "CREATE TABLE existing AS "
        "SELECT * REPLACE (TRY_CAST(closed_at AS TIMESTAMP) AS closed_at) FROM existing_in"
    )
    # At most one open alert per identity is expected; were there more, the oldest wins.
    con.execute(
        """
        CREATE TABLE open_alerts AS
        SELECT * FROM existing WHERE closed_at IS NULL
        QUALIFY row_number() OVER (PARTITION BY rule_id, subject_key, event_key ORDER BY id) = 1
        """
    )
    con.execute(
        """
        CREATE TABLE last_closed AS
        SELECT rule_id, subject_key, event_key, max(closed_at) AS closed_at
        FROM existing WHERE closed_at IS NOT NULL GROUP BY ALL
        """
    )
    previous = ", ".join(f"o.{c} AS o_{c}" for c in ("period_first", "period_last", *_CONTENT))
    con.execute(
        f"""
        CREATE TABLE decided AS
        WITH d AS (
            SELECT c.*, o.id AS open_id, {previous},
                   CASE WHEN o.id IS NOT NULL THEN 'open'
                        WHEN k.closed_at >= $now - to_days(c.suppress_days) THEN 'suppressed'
                        ELSE 'new' END AS decision
            FROM cand_in c
            LEFT JOIN open_alerts o
              ON o.rule_id = c.rule_id AND o.subject_key = c.subject_key AND o.event_key = c.event_key
            LEFT JOIN last_closed k
              ON k.rule_id = c.rule_id AND k.subject_key = c.subject_key AND k.event_key = c.event_key
        )
        SELECT *,
               CASE decision
                   WHEN 'open' THEN open_id
                   WHEN 'new' THEN $base - 1 + row_number() OVER (
                       PARTITION BY decision ORDER BY rule_id, subject_key, event_key)
               END AS alert_id
        FROM d
        """,
        {"now": now, "base": new_base},
    )
    con.execute(
        """
        CREATE TABLE new_alerts AS
        SELECT alert_id AS id, rule_id, rule_version, severity, grain, subject_key, event_key,
               citizen_id, person_id, household_no, registered, division_code,
               CASE WHEN length(division_code) >= 9 THEN substr(division_code, 1, 9)
                    ELSE division_code END AS township_code,
               substr(division_code, 1, 6) AS county_code,
               $period AS period_first, $period AS period_last, 'open' AS status,
               $now AS raised_at, $now AS updated_at, $due AS due_date,
               $run::INTEGER AS first_run_id, $run::INTEGER AS last_run_id,
               title, explanation, facts, actions, policy
        FROM decided WHERE decision = 'new' ORDER BY id
        """,
        {
            "period": period,
            "now": now,
            "due": now.date() + dt.timedelta(days=due_days),
            "run": run_id,
        },
    )
    con.execute(
        """
        CREATE TABLE evidence_all AS
        SELECT d.alert_id, d.decision = 'new' AS is_new, e.feed_kind, e.department, e.load_id,
               e.period, e.row_no, e.citizen_id, e.event_date, e.detail
        FROM ev_in e
        JOIN decided d
          ON d.rule_id = e.rule_id AND d.subject_key = e.subject_key AND d.event_key = e.event_key
        WHERE d.decision <> 'suppressed'
        QUALIFY row_number() OVER (
            PARTITION BY d.alert_id, e.feed_kind, e.load_id, e.row_no ORDER BY e.period, e.detail) = 1
        """
    )


def _existing_evidence(con: duckdb.DuckDBPyConnection, conn: Connection, rules: str) -> pa.Table:
    """The evidence keys already attached to the open alerts, for the loads this run cites."""
    loads = [
        int(r[0]) for r in con.sql("SELECT DISTINCT load_id FROM evidence_all WHERE NOT is_new").fetchall()
    ]
    if not loads:
        return _EXISTING_EVIDENCE_SCHEMA.empty_table()
    return bulk.fetch_arrow(
        conn,
        "SELECT e.alert_id, e.feed_kind, e.load_id, e.row_no FROM alert_evidence e "
        "JOIN alerts a ON a.id = e.alert_id "
        f"WHERE a.closed_at IS NULL AND a.rule_id IN ({rules}) "
        f"AND e.load_id IN ({', '.join(map(str, loads))})",
        _EXISTING_EVIDENCE_SCHEMA,
    )


def _plan_updates(con: duckdb.DuckDBPyConnection, *, period: str) -> MergeCounts:
    """DuckDB tables ``evidence_new`` (evidence not yet in the database) and ``updates`` (one
    row per open alert the run raised again); returns the counts."""
    con.execute(
        """
        CREATE TABLE evidence_new AS
        SELECT e.* FROM evidence_all e
        ANTI JOIN old_evidence_in o
          ON o.alert_id = e.alert_id AND o.feed_kind = e.feed_kind
         AND o.load_id = e.load_id AND o.row_no = e.row_no
        """
    )
    differs = " OR ".join(f"{c} IS DISTINCT FROM o_{c}" for c in _CONTENT)
    content = ", ".join(f"CASE WHEN set_content THEN {c} END AS {c}" for c in _CONTENT)
    con.execute(
        f"""
        CREATE TABLE updates AS
        WITH u AS (
            SELECT d.*, ($period >= o_period_last AND ({differs})) AS set_content
            FROM decided d WHERE decision = 'open'
        )
        SELECT u.alert_id AS id,
               least(o_period_first, $period) AS period_first,
               greatest(o_period_last, $period) AS period_last,
               (set_content OR $period > o_period_last OR $period < o_period_first
                OR n.alert_id IS NOT NULL) AS changed,
               set_content, {content}
        FROM u
        LEFT JOIN (SELECT DISTINCT alert_id FROM evidence_new WHERE NOT is_new) n
          ON n.alert_id = u.alert_id
        ORDER BY id
        """,
        {"period": period},
    )
    row = con.sql(
        """
        SELECT (SELECT count(*) FROM decided WHERE decision = 'new'),
               (SELECT count(*) FROM updates WHERE changed),
               (SELECT count(*) FROM updates WHERE NOT changed),
               (SELECT count(*) FROM decided WHERE decision = 'suppressed')
        """
    ).fetchall()[0]
    return MergeCounts(*(int(v) for v in row))


def _write_new(con: duckdb.DuckDBPyConnection, conn: Connection) -> None:
    """Insert the new alerts, their household ids looked up by household number in the DB."""
    rows = con.sql("SELECT * FROM new_alerts").to_arrow_table()
    if rows.num_rows == 0:
        return
    cols = [c for c, _ in _NEW_STAGE_COLUMNS]
    _stage(conn, _NEW_STAGE, _NEW_STAGE_COLUMNS, rows.select(cols))
    conn.execute(
        text(
            f"INSERT INTO alerts ({', '.join(cols)}, household_id) "
            f"SELECT {', '.join('s.' + c for c in cols)}, h.id FROM {_NEW_STAGE} s "
            "LEFT JOIN households h ON h.household_no = s.household_no"
        )
    )
    _drop_stage(conn, _NEW_STAGE)


def _write_updates(
    con: duckdb.DuckDBPyConnection, conn: Connection, *, now: dt.datetime, run_id: int
) -> None:
    """One ``UPDATE … FROM`` the staged rows: every open alert raised again gets this run as
    ``last_run_id``; only changed ones get ``updated_at``; content only where ``set_content``."""
    rows = con.sql("SELECT * FROM updates").to_arrow_table()
    if rows.num_rows == 0:
        return
    _stage(conn, _UPDATE_STAGE, _UPDATE_STAGE_COLUMNS, rows.select([c for c, _ in _UPDATE_STAGE_COLUMNS]))
    content = ", ".join(f"{c} = CASE WHEN s.set_content THEN s.{c} ELSE alerts.{c} END" for c in _CONTENT)
    conn.execute(
        text(
            f"UPDATE alerts SET period_first = s.period_first, period_last = s.period_last, "
            f"last_run_id = :run, {content}, "
            f"updated_at = CASE WHEN s.changed THEN :now ELSE alerts.updated_at END "
            f"FROM {_UPDATE_STAGE} s WHERE alerts.id = s.id"
        ).bindparams(bindparam("now", type_=DateTime())),  # stored as SQLAlchemy stores it
        {"run": run_id, "now": now},
    )
    _drop_stage(conn, _UPDATE_STAGE)


def _write_evidence(con: duckdb.DuckDBPyConnection, conn: Connection, *, run_id: int) -> None:
    rows = con.sql(
        """
        SELECT alert_id, $run::INTEGER AS run_id, feed_kind, department, load_id, period, row_no,
               citizen_id, event_date, detail
        FROM evidence_new ORDER BY alert_id, feed_kind, load_id, row_no
        """,
        params={"run": run_id},
    ).to_arrow_table()
    if rows.num_rows == 0:
        return
    rows = rows.add_column(0, "id", pa.array(bulk.next_ids(conn, "alert_evidence", rows.num_rows)))
    bulk.insert_arrow(conn, "alert_evidence", rows)


def _stage(conn: Connection, name: str, columns: Sequence[tuple[str, str]], data: pa.Table) -> None:
    """A temporary table of ``columns`` holding ``data`` (dropped at commit on PostgreSQL)."""
    ddl = ", ".join(f"{c} {t}" for c, t in columns)
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"CREATE TEMPORARY TABLE {name} ({ddl}) ON COMMIT DROP"))
    else:
        conn.execute(text(f"DROP TABLE IF EXISTS temp.{name}"))
        conn.execute(text(f"CREATE TEMPORARY TABLE {name} ({ddl})"))
    bulk.insert_arrow(conn, name, data)
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"ANALYZE {name}"))


def _drop_stage(conn: Connection, name: str) -> None:
    conn.execute(text(f"DROP TABLE {name}"))


# --- helpers ----------------------------------------------------------------------------------


def check_period(period: str) -> None:
    """``period`` exactly as ``YYYY-MM`` (it is written into SQL): ValueError otherwise."""
    if str(Period.parse(period)) != period:
        raise ValueError(f"period must be YYYY-MM, got {period!r}")


def _conform(table: pa.Table, schema: pa.Schema, what: str) -> pa.Table:
    missing = [n for n in schema.names if n not in table.column_names]
    if missing:
        raise ValueError(f"{what} lack columns: {', '.join(missing)}")
    return table.select(schema.names).cast(schema)


def _check_unique(con: duckdb.DuckDBPyConnection) -> None:
    dup = con.sql(
        "SELECT rule_id, subject_key, event_key, count(*) AS n FROM cand_in GROUP BY ALL HAVING n > 1 LIMIT 3"
    ).fetchall()
    if dup:
        raise ValueError(f"candidate identities repeated (rule_id, subject_key, event_key, n): {dup}")


def _sql_list(values: Sequence[str]) -> str:
    return ", ".join("'" + str(v).replace("'", "''") + "'" for v in values)


# --- queries ----------------------------------------------------------------------------------

SEVERITIES = ("red", "orange", "yellow")


def in_period(period: str, alias: str = "a") -> str:
    """SQL condition: the alert belongs to the month ``period`` — raised or raised again by
    that month's run (``period_first <= period <= period_last``), or raised earlier and still
    open (not closed). ``period`` must be ``YYYY-MM`` (checked, so it can be a literal)."""
    check_period(period)
    return (
        f"({alias}.period_first <= '{period}' "
        f"AND ({alias}.period_last >= '{period}' OR {alias}.closed_at IS NULL))"
    )


ALERT_SUMMARY_SCHEMA = pa.schema(
    [
        ("rule_id", pa.string()),
        ("title", pa.string()),
        ("severity", pa.string()),
        ("county_code", pa.string()),
        ("alerts", pa.int64()),
        ("new", pa.int64()),
        ("continuing", pa.int64()),
        ("outstanding", pa.int64()),
        ("open", pa.int64()),
        ("discovery", pa.int64()),
    ]
)


def alert_summary(db_engine: Engine, *, period: str) -> pa.Table:
    """Alerts of the month by rule, severity and county (:data:`ALERT_SUMMARY_SCHEMA`).

    ``alerts`` counts every alert of the month (:func:`in_period`): ``new`` ones first raised
    that month, ``continuing`` ones raised earlier and again that month, ``outstanding`` ones
    raised earlier, not again, and still open; ``open`` those not closed; ``discovery`` those
    for people not in the registry.
    """
    check_period(period)
    sql = f"""
        SELECT a.rule_id, MAX(a.title), a.severity, a.county_code, COUNT(*),
               SUM(CASE WHEN a.period_first = '{period}' THEN 1 ELSE 0 END),
               SUM(CASE WHEN a.period_first < '{period}' AND a.period_last >= '{period}' THEN 1 ELSE 0 END),
               SUM(CASE WHEN a.period_last < '{period}' THEN 1 ELSE 0 END),
               SUM(CASE WHEN a.closed_at IS NULL THEN 1 ELSE 0 END),
               SUM(CASE WHEN a.registered THEN 0 ELSE 1 END)
        FROM alerts a WHERE {in_period(period)}
        GROUP BY a.rule_id, a.severity, a.county_code
        ORDER BY a.rule_id, a.severity, a.county_code
    """
    with db_engine.connect() as conn:
        return bulk.fetch_arrow(conn, sql, ALERT_SUMMARY_SCHEMA)


LIST_SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("rule_id", pa.string()),
        ("rule_version", pa.int32()),
        ("severity", pa.string()),
        ("title", pa.string()),
        ("grain", pa.string()),
        ("citizen_id", pa.string()),
        ("household_no", pa.string()),
        ("registered", pa.bool_()),
        ("division_code", pa.string()),
        ("township_code", pa.string()),
        ("county_code", pa.string()),
        ("period_first", pa.string()),
        ("period_last", pa.string()),
        ("status", pa.string()),
        ("raised_at", pa.timestamp("us")),
        ("due_date", pa.date32()),
        ("closed_at", pa.timestamp("us")),
        ("explanation", pa.string()),
        ("actions", pa.string()),
    ]
)
# Timestamps are read as text (SQLite keeps them so) and parsed by Arrow.
_LIST_READ_SCHEMA = pa.schema(
    [pa.field(f.name, pa.string()) if pa.types.is_timestamp(f.type) else f for f in LIST_SCHEMA]
)


def list_alerts(
    db_engine: Engine,
    *,
    period: str | None = None,
    county: str | None = None,
    township: str | None = None,
    status: str | None = None,
    masked: bool = True,
) -> pa.Table:
    """Alerts (:data:`LIST_SCHEMA`), most severe and most urgent first: of the month
    ``period`` (:func:`in_period`), a county (6-digit code), a township (9 digits), a
    status (``open``, ``closed`` …). Citizen IDs are masked unless ``masked`` is false
    (the caller then answers for the audit log)."""
    where = ["1 = 1"]
    params: dict[str, Any] = {}
    if period is not None:
        where.append(in_period(period))
    if county is not None:
        where.append("a.county_code = :county")
        params["county"] = county
    if township is not None:
        where.append("a.township_code = :township")
        params["township"] = township
    if status is not None:
        where.append("a.status = :status")
        params["status"] = status
    sql = (
        f"SELECT {', '.join(f'a.{f.name}' for f in LIST_SCHEMA)} FROM alerts a WHERE {' AND '.join(where)} "
        f"ORDER BY {SEVERITY_ORDER.format(a='a')}, a.due_date, a.id"
    )
    with db_engine.connect() as conn:
        table = bulk.fetch_arrow(conn, sql, _LIST_READ_SCHEMA, params or None).cast(LIST_SCHEMA)
    if masked:
        i = table.schema.get_field_index("citizen_id")
        table = table.set_column(i, "citizen_id", mask_citizen_ids(table.column(i)))
    return table


SEVERITY_ORDER = "CASE {a}.severity WHEN 'red' THEN 0 WHEN 'orange' THEN 1 WHEN 'yellow' THEN 2 ELSE 3 END"


def mask_citizen_ids(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """:func:`doudi.ids.mask_citizen_id` for a whole column (first 4 and last 4 kept)."""
    return _mask(values, head=4, tail=4)


def mask_names(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """:func:`doudi.ids.mask_name` for a whole column (the family name kept)."""
    return _mask(values, head=1, tail=0)


def _mask(values: pa.Array | pa.ChunkedArray, *, head: int, tail: int) -> pa.Array:
    """Keep ``head`` leading and ``tail`` trailing characters and star the rest; a value too
    short to keep anything (``len <= head + tail``; a one-character name) is all stars.
    Vectorised by length: the values take few distinct lengths (IDs 18, names 2–4)."""
    arr = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    arr = pc.cast(arr, pa.string())
    lengths = pc.utf8_length(arr)
    out = pc.cast(pa.nulls(len(arr)), pa.string())
    for n in pc.unique(pc.drop_null(lengths)).to_pylist():
        n = int(n)
        if n > head + tail:
            parts = [pc.utf8_slice_codeunits(arr, 0, head), pa.scalar("*" * (n - head - tail))]
            if tail:
                parts.append(pc.utf8_slice_codeunits(arr, n - tail, n))
            masked = pc.binary_join_element_wise(*parts, "")
        else:
            masked = pc.cast(pa.repeat(pa.scalar("*" * n), len(arr)), pa.string())
        out = pc.if_else(pc.equal(lengths, n), masked, out)
    return out
