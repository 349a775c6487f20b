"""The monthly monitoring run: registry snapshot → features → rules → alerts written back.

One function, :func:`run_monitor`, whatever the engine: the feature steps and the rule SQL are
generated once (DuckDB dialect) and run on DuckDB or, transpiled by sqlglot, on Spark. What
comes back from the engine is small (candidates, their facts and evidence keys); explanations,
evidence details and the write-back to the operational database happen here, on the host.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Engine

from doudi.feeds.contract import default_contracts
from doudi.feeds.service import active_loads
from doudi.monitor import alerts as alert_store
from doudi.monitor.alerts import CANDIDATE_SCHEMA, EVIDENCE_SCHEMA
from doudi.monitor.catalogue import get_catalogue
from doudi.monitor.compiler import CompiledRule, candidates_sql, compile_rules, evidence_sql
from doudi.monitor.engines import make_engine
from doudi.monitor.features import build_features, register_inputs
from doudi.monitor.parameters import monitor_parameters
from doudi.monitor.rules import load_rules
from doudi.monitor.snapshot import registry_snapshot
from doudi.periods import Period
from doudi.settings import Settings

log = logging.getLogger(__name__)

# Columns of a feed row that an evidence detail leaves out: who it is (already on the alert)
# and where it came from (columns of the evidence row itself).
_NOT_IN_DETAIL = {"citizen_id", "name", "period", "load_id", "row_no"}


class MonitorError(RuntimeError):
    """A run that cannot go on; ``message_zh`` says why to the user."""

    def __init__(self, message: str, message_zh: str) -> None:
        super().__init__(message)
        self.message_zh = message_zh


@dataclass
class MonitorResult:
    run_id: int
    period: str
    engine: str
    duration_s: float
    subjects: int
    candidates: int
    merge: alert_store.MergeCounts
    by_rule: pa.Table
    step_seconds: dict[str, float] = field(default_factory=dict)


def run_monitor(
    db_engine: Engine,
    settings: Settings,
    *,
    period: str,
    engine: str = "duckdb",
    spark_master: str | None = None,
    rules_dir: Path | None = None,
    actor: str | None = None,
    now: dt.datetime | None = None,
    debug: Callable[[str], None] | None = None,
    step: Callable[[str], None] | None = None,
) -> MonitorResult:
    """Run the month ``period`` (``YYYY-MM``) on ``engine`` and write its alerts back."""
    say = step or (lambda _m: None)
    started = time.perf_counter()
    timings: dict[str, float] = {}
    mark = [started]

    def lap(name: str) -> None:
        t = time.perf_counter()
        timings[name] = round(t - mark[0], 3)
        mark[0] = t

    p = Period.parse(period)
    params = monitor_parameters()
    actor = actor or settings.actor
    now = now or dt.datetime.now().replace(microsecond=0)
    rules = load_rules(rules_dir)
    compiled = compile_rules(rules, on=p.end)
    window = [str(x) for x in p.window(params.window_months.value)]
    with db_engine.connect() as conn:
        loads = active_loads(conn, periods=window)
    load_ids = sorted(ld.load_id for kind_loads in loads.values() for ld in kind_loads)
    run_id = alert_store.start_run(
        db_engine,
        period=str(p),
        engine_name=engine,
        actor=actor,
        rules=[(c.rule.id, c.rule.version) for c in compiled],
        feed_loads=load_ids,
    )
    try:
        _check_files(loads)
        say("名册快照")
        snapshot = registry_snapshot(db_engine, on=p.end, data_dir=settings.data_dir, settings=settings)
        lap("snapshot")
        say("计算特征")
        eng = make_engine(engine, settings, master=spark_master)
        try:
            register_inputs(
                eng,
                snapshot=snapshot,
                loads=loads,
                period=str(p),
                window_months=params.window_months.value,
                discovery_oop_floor=Decimal(params.discovery_oop_floor.value),
            )
            subjects = build_features(eng, debug=debug)
            lap("features")
            say("执行规则")
            n_candidates = eng.materialize("candidates", candidates_sql(compiled))
            facts_table = eng.to_arrow(_facts_sql(compiled))
            ev_sql = evidence_sql(compiled)
            evidence_keys = eng.to_arrow(ev_sql) if ev_sql else None
            lap("rules")
        finally:
            eng.close()
        say("整理预警")
        candidates = _route_in_province(_render(facts_table, compiled), settings.province_code)
        evidence = _evidence_details(evidence_keys, loads)
        lap("explain")
        say("写入预警")
        merge = alert_store.merge_alerts(
            db_engine,
            run_id=run_id,
            period=str(p),
            candidates=candidates,
            evidence=evidence,
            now=now,
            due_days=params.due_days.value,
        )
        lap("write-back")
        by_rule = _by_rule(candidates)
        duration = time.perf_counter() - started
        alert_store.finish_run(
            db_engine,
            run_id,
            status="done",
            duration_s=duration,
            counts={"by_rule": by_rule.to_pylist(), "seconds": timings},
            subjects=subjects,
            candidates=n_candidates,
            merge=merge,
        )
    except Exception as err:
        alert_store.finish_run(
            db_engine,
            run_id,
            status="failed",
            duration_s=time.perf_counter() - started,
            counts={},
            subjects=0,
            candidates=0,
            merge=None,
            error=f"{type(err).__name__}: {err}",
        )
        raise
    log.info("monitor run %s period %s on %s: %s in %.1f s", run_id, p, engine, merge, duration)
    return MonitorResult(run_id, str(p), engine, duration, subjects, n_candidates, merge, by_rule, timings)


def _check_files(loads: dict[str, list[Any]]) -> None:
    missing = [ld for kind_loads in loads.values() for ld in kind_loads if not Path(ld.path).exists()]
    if missing:
        first = missing[0]
        raise MonitorError(
            f"{len(missing)} stored feed file(s) missing, e.g. load {first.load_id}: {first.path}",
            f"有 {len(missing)} 个已载入的部门数据文件不见了（如第 {first.load_id} 次载入，{first.kind} {first.period}："
            f"{first.path}）。请重新载入该期数据后再运行。",
        )


def _fact_columns(compiled: list[CompiledRule]) -> list[str]:
    """Every feature some rule shows as a fact or needs for its explanation, in catalogue order."""
    wanted = {name for c in compiled for name in c.rule.facts_columns}
    return [f.name for f in get_catalogue().features if f.name in wanted]


def _facts_sql(compiled: list[CompiledRule]) -> str:
    cols = ", ".join(f"f.{name}" for name in _fact_columns(compiled))
    extra = f", {cols}" if cols else ""
    return (
        "SELECT c.rule_id, c.rule_version, c.severity, c.grain, c.subject_key, c.event_key, c.citizen_id, "
        "c.person_id, c.household_no, c.registered, c.division_code"
        f"{extra} FROM candidates c JOIN features f ON f.citizen_id = c.citizen_id"
    )


def _plain(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    if hasattr(value, "as_tuple"):  # Decimal: keep it exact, as text
        return str(value)
    return value


def _render(facts: pa.Table, compiled: list[CompiledRule]) -> pa.Table:
    """Candidates with their facts (JSON), Chinese explanation, actions and policy; one rule at
    a time, converting only the columns that rule shows."""
    parts = []
    rule_ids = facts.column("rule_id")
    keys = CANDIDATE_SCHEMA.names[:11]
    for c in compiled:
        rule = c.rule
        rows = facts.filter(pc.equal(rule_ids, rule.id))
        n = rows.num_rows
        if n == 0:
            continue
        values = rows.select([name for name in rule.facts_columns if name in rows.column_names]).to_pylist()
        constant = {
            "title": rule.title,
            "actions": json.dumps(list(rule.actions), ensure_ascii=False),
            "policy": rule.policy,
            "suppress_days": rule.suppress_days_in_force,
        }
        columns = {name: rows.column(name) for name in keys}
        columns["explanation"] = pa.array([rule.render(v) for v in values], pa.string())
        columns["facts"] = pa.array(
            [json.dumps({k: _plain(x) for k, x in v.items()}, ensure_ascii=False) for v in values],
            pa.string(),
        )
        for name, value in constant.items():
            columns[name] = pa.array([value] * n, CANDIDATE_SCHEMA.field(name).type)
        parts.append(
            pa.table({name: columns[name] for name in CANDIDATE_SCHEMA.names}).cast(CANDIDATE_SCHEMA)
        )
    return pa.concat_tables(parts) if parts else CANDIDATE_SCHEMA.empty_table()


def _route_in_province(candidates: pa.Table, province_code: str) -> pa.Table:
    """Alerts about people whose only known division is outside the province (an ID from
    elsewhere in a discovery) go to the province's own queue, to be passed on."""
    division = candidates.column("division_code")
    inside = pc.starts_with(division, province_code[:2])
    if pc.all(inside).as_py() is not False:
        return candidates
    routed = pc.if_else(inside, division, pa.scalar(province_code))
    return candidates.set_column(candidates.schema.get_field_index("division_code"), "division_code", routed)


def _evidence_details(keys: pa.Table | None, loads: dict[str, list[Any]]) -> pa.Table:
    """Evidence keys joined back to their feed rows: each row's fields as JSON, with its department."""
    if keys is None or keys.num_rows == 0:
        return EVIDENCE_SCHEMA.empty_table()
    contracts = default_contracts()
    con = duckdb.connect()
    try:
        con.register("k", keys)
        con.register(
            "departments",
            pa.table({"kind": list(contracts), "department": [c.department for c in contracts.values()]}),
        )
        parts = []
        for kind in sorted(set(keys.column("feed_kind").to_pylist())):
            paths = [str(ld.path) for ld in loads.get(kind, [])]
            if not paths:
                continue
            fields = [n for n in contracts[kind].names if n not in _NOT_IN_DETAIL]
            con.read_parquet(paths).create_view(f"feed_{kind}")
            struct = ", ".join(f"{n} := f.{n}" for n in fields)
            parts.append(
                f"""SELECT k.rule_id, k.subject_key, k.event_key, k.feed_kind, d.department, k.load_id,
                           k.period, k.row_no, k.citizen_id, k.event_date,
                           CAST(to_json(struct_pack({struct})) AS VARCHAR) AS detail
                    FROM k JOIN feed_{kind} f ON f.load_id = k.load_id AND f.row_no = k.row_no
                    JOIN departments d ON d.kind = k.feed_kind
                    WHERE k.feed_kind = '{kind}'"""
            )
        if not parts:
            return EVIDENCE_SCHEMA.empty_table()
        return con.sql(" UNION ALL ".join(parts)).to_arrow_table().cast(EVIDENCE_SCHEMA)
    finally:
        con.close()


def _by_rule(candidates: pa.Table) -> pa.Table:
    con = duckdb.connect()
    try:
        con.register("c", candidates)
        return con.sql(
            """SELECT rule_id, any_value(title) AS title, severity, count(*) AS alerts,
                      count(*) FILTER (WHERE NOT registered) AS discovery
               FROM c GROUP BY rule_id, severity ORDER BY rule_id"""
        ).to_arrow_table()
    finally:
        con.close()
