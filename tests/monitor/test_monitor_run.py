"""The monthly run end to end: a synthetic province in the registry, two months of feeds
loaded through the real loader, ``run_monitor`` on DuckDB and on Spark.

Spark is checked against DuckDB through the write-back itself: after the DuckDB run, the same
month on Spark must find every alert unchanged — same rules, subjects, events, facts,
explanations and evidence — and raise nothing new.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from sqlalchemy import Engine, text

from doudi.feeds.service import load_feed
from doudi.feeds.synthetic import generate_feeds
from doudi.monitor.run import MonitorError, run_monitor
from doudi.registry.demo import build_demo
from doudi.settings import Settings

AS_OF = dt.date(2026, 11, 1)
PERIODS = ["2026-10", "2026-11"]
PERSONS = 20_000
NOW = dt.datetime(2026, 12, 2, 9, 0)


@pytest.fixture
def province(engine: Engine, settings: Settings) -> Engine:
    build_demo(engine, settings=settings, persons=PERSONS, seed=7, as_of=AS_OF, actor="tester")
    incoming = settings.data_dir / "incoming"
    for f in generate_feeds(settings.data_dir / "population", PERIODS, incoming, seed=7, style="clean"):
        load_feed(engine, settings, f.kind, f.path, f.period, actor="tester")
    return engine


def alerts(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT rule_id, subject_key, event_key, severity, citizen_id, household_no, township_code, "
                "period_first, period_last, status, due_date, facts, explanation, "
                "(SELECT count(*) FROM alert_evidence e WHERE e.alert_id = a.id) AS evidence "
                "FROM alerts a ORDER BY rule_id, subject_key, event_key"
            )
        ).mappings()
        return [dict(r) for r in rows]


def run_row(engine: Engine, run_id: int) -> dict[str, Any]:
    with engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM monitor_runs WHERE id = :id"), {"id": run_id}).mappings().one()
        return dict(row)


def test_a_month_raises_explained_alerts_once(province: Engine, settings: Settings) -> None:
    first = run_monitor(province, settings, period="2026-11", actor="tester", now=NOW)
    got = alerts(province)
    assert first.merge.new == len(got) == first.candidates > 50
    rules = {a["rule_id"] for a in got}
    # The synthetic month carries deaths, ineligibility signs, reviews and discovery.
    assert {
        "recipient_died",
        "ineligible_vehicle",
        "dibao_review_6m",
        "discovery_catastrophic_medical",
    } <= rules
    for a in got:
        assert a["status"] == "open" and a["period_first"] == a["period_last"] == "2026-11"
        assert str(a["due_date"]) == "2026-12-17"  # 15 days from the run
        assert a["explanation"] and "{" not in a["explanation"]
        json.loads(a["facts"])
        assert len(a["township_code"]) in (6, 9) and a["township_code"].startswith("52")
    died = [a for a in got if a["rule_id"] == "recipient_died"]
    assert all(a["event_key"] and a["evidence"] >= 1 for a in died)
    record = run_row(province, first.run_id)
    assert record["status"] == "done" and record["alerts_new"] == len(got)
    assert json.loads(record["rules"]) and json.loads(record["feed_loads"])

    # The same month again: nothing new, nothing changed.
    again = run_monitor(province, settings, period="2026-11", actor="tester", now=NOW + dt.timedelta(hours=1))
    assert (again.merge.new, again.merge.updated, again.merge.unchanged) == (0, 0, len(got))
    assert alerts(province) == got

    # A closed alert is not raised again for the same event within its window.
    with province.begin() as conn:
        conn.execute(
            text("UPDATE alerts SET status = 'closed', closed_at = :t WHERE rule_id = 'recipient_died'"),
            {"t": NOW},
        )
    third = run_monitor(province, settings, period="2026-11", actor="tester", now=NOW + dt.timedelta(days=1))
    assert third.merge.suppressed == len(died) and third.merge.new == 0


def test_the_previous_month_then_this_one_updates_open_alerts(province: Engine, settings: Settings) -> None:
    october = run_monitor(
        province, settings, period="2026-10", actor="tester", now=NOW - dt.timedelta(days=30)
    )
    before = {(a["rule_id"], a["subject_key"], a["event_key"]): a for a in alerts(province)}
    november = run_monitor(province, settings, period="2026-11", actor="tester", now=NOW)
    after = {(a["rule_id"], a["subject_key"], a["event_key"]): a for a in alerts(province)}
    assert october.merge.new == len(before) > 0
    continuing = set(before) & set(after)
    # Ineligibility signs persist from one month to the next: the same alert, carried forward.
    assert any(k[0] == "ineligible_vehicle" for k in continuing)
    for key in continuing:
        if after[key]["period_last"] == "2026-11":
            assert after[key]["period_first"] == "2026-10"
            assert after[key]["due_date"] == before[key]["due_date"]  # the deadline does not move
    assert november.merge.new + november.merge.updated + november.merge.unchanged == november.candidates
    assert len(after) == len(before) + november.merge.new


@pytest.mark.spark
def test_spark_finds_exactly_what_duckdb_found(
    province: Engine, settings: Settings, spark_session: Any
) -> None:
    duck = run_monitor(province, settings, period="2026-11", actor="tester", now=NOW)
    got = alerts(province)
    spark = run_monitor(province, settings, period="2026-11", engine="spark", actor="tester", now=NOW)
    assert spark.subjects == duck.subjects and spark.candidates == duck.candidates
    assert (spark.merge.new, spark.merge.updated, spark.merge.unchanged) == (0, 0, len(got))
    assert alerts(province) == got
    assert run_row(province, spark.run_id)["engine"] == "spark"


def test_a_failed_run_is_recorded_and_writes_no_alert(province: Engine, settings: Settings) -> None:
    # A stored feed file gone missing (disk trouble) fails the run half way through.
    for path in (settings.data_dir / "feeds" / "medical" / "2026-11").glob("load-*.parquet"):
        path.unlink()
    with pytest.raises(MonitorError, match="missing") as err:
        run_monitor(province, settings, period="2026-11", actor="tester", now=NOW)
    assert "部门数据文件不见了" in err.value.message_zh and "medical 2026-11" in err.value.message_zh
    assert alerts(province) == []
    with province.connect() as conn:
        status, error = conn.execute(text("SELECT status, error FROM monitor_runs")).one()
    assert status == "failed" and error


def test_rule_files_with_errors_stop_the_run_before_it_starts(
    province: Engine, settings: Settings, tmp_path: Path
) -> None:
    from doudi.monitor.rules import RuleError

    broken = tmp_path / "rules"
    broken.mkdir()
    (broken / "bad.yaml").write_text("id: [\n", encoding="utf-8")
    with pytest.raises(RuleError):
        run_monitor(province, settings, period="2026-11", rules_dir=broken, actor="tester", now=NOW)
    with province.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM monitor_runs")).scalar() == 0


def test_alerts_about_people_known_only_outside_the_province_go_to_the_province() -> None:
    from doudi.monitor.alerts import CANDIDATE_SCHEMA
    from doudi.monitor.run import _route_in_province

    rows = [
        {name: None for name in CANDIDATE_SCHEMA.names} | {"division_code": code}
        for code in ("520102001", "110105", "522301")
    ]
    table = pa.Table.from_pylist(rows, schema=CANDIDATE_SCHEMA)
    routed = _route_in_province(table, "520000").column("division_code").to_pylist()
    assert routed == ["520102001", "520000", "522301"]
    inside = pa.Table.from_pylist(rows[:1], schema=CANDIDATE_SCHEMA)
    assert _route_in_province(inside, "520000") is inside
