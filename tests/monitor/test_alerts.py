"""Alert write-back on SQLite and PostgreSQL: new, updated, unchanged, suppressed; evidence
deduplicated; run records. Candidates and evidence are built by hand as Arrow tables."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pyarrow as pa
import pytest
from factories import citizen_id
from sqlalchemy import DateTime, Engine, bindparam, select, text

from doudi.db.models import Alert, AlertEvidence, MonitorRun
from doudi.monitor.alerts import (
    CANDIDATE_SCHEMA,
    EVIDENCE_SCHEMA,
    MergeCounts,
    finish_run,
    merge_alerts,
    start_run,
)

NOW = dt.datetime(2026, 12, 1, 9, 30)
LATER = dt.datetime(2027, 1, 3, 10, 0)
ID_A = citizen_id("1960-05-01", 11)
ID_B = citizen_id("1990-02-03", 22, address=522601)


def candidate(**fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "rule_id": "medical_catastrophic",
        "rule_version": 1,
        "severity": "red",
        "grain": "household",
        "subject_key": "H001",
        "event_key": "",
        "citizen_id": ID_A,
        "person_id": 1,
        "household_no": "H001",
        "registered": True,
        "division_code": "520102001001",
        "title": "医疗支出型困难",
        "explanation": "近12个月自付医疗费用 25000.00 元，超过家庭年收入。",
        "facts": json.dumps({"medical_oop_12m": "25000.00"}),
        "actions": json.dumps(["assess_temporary_assistance"]),
        "policy": "黔民发〔2021〕1号",
        "suppress_days": 90,
    }
    row.update(fields)
    return row


def discovery(**fields: Any) -> dict[str, Any]:
    defaults: dict[str, Any] = {
        "rule_id": "discovery_disability",
        "severity": "orange",
        "grain": "person",
        "subject_key": ID_B,
        "event_key": "2026-11",
        "citizen_id": ID_B,
        "person_id": None,
        "household_no": None,
        "registered": False,
        "division_code": "522601",
        "title": "未在册重度残疾人",
        "explanation": "新办一级残疾证，尚未纳入救助。",
        "facts": json.dumps({"disability_grade": 1}),
        "actions": json.dumps(["assess_single_person_dibao"]),
    }
    return candidate(**{**defaults, **fields})


def evidence(
    cand: dict[str, Any], *rows: int, load_id: int = 5, period: str = "2026-11"
) -> list[dict[str, Any]]:
    return [
        {
            "rule_id": cand["rule_id"],
            "subject_key": cand["subject_key"],
            "event_key": cand["event_key"],
            "feed_kind": "medical",
            "department": "医疗保障局",
            "load_id": load_id,
            "period": period,
            "row_no": r,
            "citizen_id": cand["citizen_id"],
            "event_date": dt.date(2026, 11, r % 28 + 1),
            "detail": json.dumps({"row": r}),
        }
        for r in rows
    ]


def table(rows: list[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=schema)


def merge(
    engine: Engine,
    cands: list[dict[str, Any]],
    evs: list[dict[str, Any]] | None = None,
    *,
    period: str = "2026-11",
    now: dt.datetime = NOW,
    run_id: int | None = None,
) -> MergeCounts:
    run = run_id if run_id is not None else new_run(engine, period)
    return merge_alerts(
        engine,
        run_id=run,
        period=period,
        candidates=table(cands, CANDIDATE_SCHEMA),
        evidence=table(evs or [], EVIDENCE_SCHEMA),
        now=now,
        due_days=15,
    )


def new_run(engine: Engine, period: str = "2026-11") -> int:
    return start_run(
        engine,
        period=period,
        engine_name="duckdb",
        actor="tester",
        rules=[("medical_catastrophic", 1), ("discovery_disability", 1)],
        feed_loads=[5],
    )


def alerts(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(select(Alert.__table__).order_by(Alert.id)).mappings().all()
    return [dict(r) for r in rows]


def evidence_rows(engine: Engine) -> list[tuple[int, str, int, int]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                AlertEvidence.alert_id, AlertEvidence.feed_kind, AlertEvidence.load_id, AlertEvidence.row_no
            ).order_by(AlertEvidence.alert_id, AlertEvidence.row_no)
        ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def close(engine: Engine, alert_id: int, at: dt.datetime) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE alerts SET status = 'closed', closed_at = :at, closed_reason = '核实不符' WHERE id = :id"
            ).bindparams(bindparam("at", type_=DateTime())),
            {"at": at, "id": alert_id},
        )


def add_household(engine: Engine, household_id: int, household_no: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO households (id, household_no) VALUES (:id, :no)"),
            {"id": household_id, "no": household_no},
        )


def test_new_alerts_are_routed_and_due_in_15_days(engine: Engine) -> None:
    add_household(engine, 7, "H001")
    a, b = candidate(), discovery()
    run = new_run(engine)
    counts = merge(engine, [a, b], evidence(a, 2, 3) + evidence(b, 4), run_id=run)
    assert counts == MergeCounts(new=2, updated=0, unchanged=0, suppressed=0)
    rows = {r["rule_id"]: r for r in alerts(engine)}
    reg, disc = rows["medical_catastrophic"], rows["discovery_disability"]
    assert (reg["township_code"], reg["county_code"], reg["household_id"]) == ("520102001", "520102", 7)
    assert (disc["township_code"], disc["county_code"], disc["household_id"]) == ("522601", "522601", None)
    for r in (reg, disc):
        assert r["status"] == "open"
        assert r["due_date"] == dt.date(2026, 12, 16)
        assert r["raised_at"] == NOW and r["updated_at"] == NOW
        assert (r["period_first"], r["period_last"]) == ("2026-11", "2026-11")
        assert (r["first_run_id"], r["last_run_id"]) == (run, run)
        assert r["closed_at"] is None
    assert reg["registered"] is True and disc["registered"] is False
    assert reg["event_key"] == "" and disc["subject_key"] == ID_B and disc["person_id"] is None
    assert reg["facts"] == a["facts"] and reg["explanation"] == a["explanation"]
    assert reg["actions"] == a["actions"] and reg["policy"] == a["policy"]
    assert sorted(evidence_rows(engine)) == sorted(
        [(reg["id"], "medical", 5, 2), (reg["id"], "medical", 5, 3), (disc["id"], "medical", 5, 4)]
    )
    with engine.connect() as conn:
        ev = conn.execute(select(AlertEvidence.__table__).where(AlertEvidence.row_no == 4)).mappings().one()
    assert (ev["run_id"], ev["department"], ev["period"], ev["citizen_id"]) == (
        run,
        "医疗保障局",
        "2026-11",
        ID_B,
    )
    assert ev["event_date"] == dt.date(2026, 11, 5)
    # Ids were written explicitly; the database's own sequence must still hand out fresh ones.
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO alert_evidence (alert_id, run_id, feed_kind, department, load_id, period, "
                "row_no, citizen_id, detail) VALUES (1, 1, 'death', '公安局', 9, '2026-11', 1, 'x', '{}')"
            )
        )


def test_rerun_of_the_same_period_changes_nothing_but_last_run_id(engine: Engine) -> None:
    a, b = candidate(), discovery()
    evs = evidence(a, 2, 3) + evidence(b, 4)
    merge(engine, [a, b], evs)
    before, ev_before = alerts(engine), evidence_rows(engine)
    second = new_run(engine)
    counts = merge(engine, [b, a], list(reversed(evs)), run_id=second)
    assert counts == MergeCounts(new=0, updated=0, unchanged=2, suppressed=0)
    after = alerts(engine)
    assert len(after) == 2 and evidence_rows(engine) == ev_before
    assert [r["last_run_id"] for r in after] == [second, second]
    strip = lambda rows: [{k: v for k, v in r.items() if k != "last_run_id"} for r in rows]  # noqa: E731
    assert strip(after) == strip(before)


def test_open_alert_raised_again_next_month_is_updated_not_duplicated(engine: Engine) -> None:
    a = candidate(facts=json.dumps({"medical_oop_12m": "25000.00"}))
    merge(engine, [a], evidence(a, 2), period="2026-11")
    next_month = candidate(
        facts=json.dumps({"medical_oop_12m": "31000.00"}), explanation="近12个月自付 31000.00 元。"
    )
    counts = merge(
        engine,
        [next_month],
        evidence(next_month, 2, 7, load_id=6, period="2026-12"),
        period="2026-12",
        now=LATER,
    )
    assert counts == MergeCounts(new=0, updated=1, unchanged=0, suppressed=0)
    (row,) = alerts(engine)
    assert (row["period_first"], row["period_last"]) == ("2026-11", "2026-12")
    assert row["due_date"] == dt.date(2026, 12, 16) and row["raised_at"] == NOW
    assert row["updated_at"] == LATER
    assert row["facts"] == next_month["facts"] and row["explanation"] == next_month["explanation"]
    assert [(r[2], r[3]) for r in evidence_rows(engine)] == [(5, 2), (6, 2), (6, 7)]


def test_same_facts_next_month_still_counts_as_updated(engine: Engine) -> None:
    merge(engine, [candidate()], period="2026-11")
    counts = merge(engine, [candidate()], period="2026-12", now=LATER)
    assert counts == MergeCounts(updated=1)
    (row,) = alerts(engine)
    assert row["period_last"] == "2026-12" and row["updated_at"] == LATER


def test_changed_facts_in_the_same_period_update_the_alert(engine: Engine) -> None:
    merge(engine, [candidate(), discovery()])
    changed = candidate(rule_version=2, severity="orange", facts=json.dumps({"medical_oop_12m": "26000.00"}))
    counts = merge(engine, [changed, discovery()], now=LATER)
    assert counts == MergeCounts(updated=1, unchanged=1)
    rows = {r["rule_id"]: r for r in alerts(engine)}
    reg = rows["medical_catastrophic"]
    assert (reg["rule_version"], reg["severity"], reg["facts"]) == (2, "orange", changed["facts"])
    assert reg["updated_at"] == LATER and reg["due_date"] == dt.date(2026, 12, 16)
    assert rows["discovery_disability"]["updated_at"] == NOW


def test_a_rerun_of_an_older_period_keeps_the_newer_content(engine: Engine) -> None:
    newer = candidate(facts=json.dumps({"medical_oop_12m": "31000.00"}))
    merge(engine, [newer], period="2026-12")
    counts = merge(engine, [candidate()], period="2026-11", now=LATER)
    assert counts == MergeCounts(updated=1)  # the alert now also covers 2026-11
    (row,) = alerts(engine)
    assert (row["period_first"], row["period_last"], row["facts"]) == ("2026-11", "2026-12", newer["facts"])


def test_new_evidence_on_an_open_alert_is_added_once(engine: Engine) -> None:
    a = candidate()
    merge(engine, [a], evidence(a, 2, 3))
    doubled = evidence(a, 2, 3, 4) + evidence(a, 4)  # row 4 twice in the input
    counts = merge(engine, [a], doubled, now=LATER)
    assert counts == MergeCounts(updated=1)
    assert [r[3] for r in evidence_rows(engine)] == [2, 3, 4]
    assert merge(engine, [a], doubled, now=LATER) == MergeCounts(unchanged=1)
    assert [r[3] for r in evidence_rows(engine)] == [2, 3, 4]


def test_closed_alert_is_not_raised_again_within_the_window(engine: Engine) -> None:
    a = candidate()
    merge(engine, [a], evidence(a, 2))
    (row,) = alerts(engine)
    close(engine, row["id"], NOW + dt.timedelta(days=3))
    counts = merge(engine, [a], evidence(a, 2, 3), period="2026-12", now=LATER)
    assert counts == MergeCounts(suppressed=1)
    (after,) = alerts(engine)
    assert after["status"] == "closed" and after["period_last"] == "2026-11"
    assert [r[3] for r in evidence_rows(engine)] == [2]


def test_closed_alert_beyond_the_window_is_raised_as_a_new_one(engine: Engine) -> None:
    a = candidate(suppress_days=30)
    b = discovery(suppress_days=None)  # the default window: 90 days (parameters.yaml)
    merge(engine, [a, b])
    first = {r["rule_id"]: r["id"] for r in alerts(engine)}
    close(engine, first["medical_catastrophic"], NOW)  # 33 days before LATER
    close(engine, first["discovery_disability"], NOW)
    counts = merge(engine, [a, b], evidence(a, 9), period="2026-12", now=LATER)
    assert counts == MergeCounts(new=1, suppressed=1)
    rows = alerts(engine)
    assert len(rows) == 3
    fresh = rows[-1]
    assert fresh["rule_id"] == "medical_catastrophic" and fresh["status"] == "open"
    assert fresh["id"] not in first.values()
    assert (fresh["period_first"], fresh["due_date"]) == ("2026-12", dt.date(2027, 1, 18))
    assert evidence_rows(engine) == [(fresh["id"], "medical", 5, 9)]


def test_repeated_identity_in_the_candidates_is_refused(engine: Engine) -> None:
    with pytest.raises(ValueError, match="repeated"):
        merge(engine, [candidate(), candidate(facts="{}")])
    assert alerts(engine) == []


def test_no_candidates_write_nothing(engine: Engine) -> None:
    assert merge(engine, []) == MergeCounts()
    assert alerts(engine) == []


def test_run_is_recorded_from_start_to_finish(engine: Engine) -> None:
    run = start_run(
        engine,
        period="2026-11",
        engine_name="spark",
        actor="县民政局",
        rules=[("medical_catastrophic", 2), ("death_recipient", 1)],
        feed_loads=[12, 3],
    )
    with engine.connect() as conn:
        started = conn.execute(select(MonitorRun.__table__).where(MonitorRun.id == run)).mappings().one()
    assert (started["status"], started["engine"], started["period"], started["actor"]) == (
        "running",
        "spark",
        "2026-11",
        "县民政局",
    )
    assert json.loads(started["rules"]) == [
        {"id": "medical_catastrophic", "version": 2},
        {"id": "death_recipient", "version": 1},
    ]
    assert json.loads(started["feed_loads"]) == [3, 12]
    merged = merge(engine, [candidate(), discovery()], run_id=run)
    counts = {"by_rule": {"medical_catastrophic": {"red": 1}}, "by_severity": {"red": 1, "orange": 1}}
    finish_run(
        engine, run, status="done", duration_s=4.25, counts=counts, subjects=1000, candidates=2, merge=merged
    )
    with engine.connect() as conn:
        done = conn.execute(select(MonitorRun.__table__).where(MonitorRun.id == run)).mappings().one()
    assert (done["status"], done["duration_s"], done["subjects"], done["candidates"]) == (
        "done",
        4.25,
        1000,
        2,
    )
    assert (
        done["alerts_new"],
        done["alerts_updated"],
        done["alerts_unchanged"],
        done["alerts_suppressed"],
    ) == (
        2,
        0,
        0,
        0,
    )
    assert json.loads(done["counts"]) == counts and done["error"] is None
    assert done["finished_at"] >= done["started_at"]

    failed = new_run(engine)
    finish_run(
        engine,
        failed,
        status="failed",
        duration_s=0.5,
        counts={},
        subjects=0,
        candidates=0,
        merge=None,
        error="engine crashed",
    )
    with engine.connect() as conn:
        row = conn.execute(select(MonitorRun.__table__).where(MonitorRun.id == failed)).mappings().one()
    assert (row["status"], row["error"], row["alerts_new"]) == ("failed", "engine crashed", 0)
    with pytest.raises(ValueError, match="no monitor run"):
        finish_run(engine, 9999, status="done", duration_s=0, counts={}, subjects=0, candidates=0, merge=None)
