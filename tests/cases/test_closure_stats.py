"""动态清零 figures on a hand-checked example, as of different days, per period, at each
level of the drill-down, and scoped.

The example (alerts raised 2026-12-01 09:30, due 2026-12-16):

=====  ============  =================  =================================  ==================
no     village       visit recorded     decision                           days to help
=====  ============  =================  =================================  ==================
N001   520102001001  12-03 15:00        12-05 10:00 refer_medical (help)   4 d 30 min = 4.02
N002   520102001002  12-17 10:00 (late) 12-18 09:30 no_help_needed         —
N003   520102001001  12-10 09:30        12-11 09:30 services (help)        10.00
X001   520102002001  —                  —  (open, overdue after 12-16)     —
Y001   520103001001  —                  —  (other county)                  —
=====  ============  =================  =================================  ==================

Township 520102001 as of 12-20: raised 3, verified 3, within due 2 (N002 late), helped 2,
closed 3, open 0, overdue 0, median days to help (4.02 + 10.00) / 2 = 7.01 → 7.0.
As of 12-10: N003's visit (12-10 09:30) counts, its help (12-11) not yet: verified 2,
within due 2, helped 1, closed 1, open 2, median 4.0.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest
from case_world import World, build_world, candidate
from sqlalchemy import Engine, select

from doudi.auth.scope import NotFound
from doudi.cases import alert_work as aw
from doudi.cases.alert_work import Outcome
from doudi.cases.errors import CaseError
from doudi.cases.stats import ClosureStats, StatsRow, closure_stats
from doudi.db.models import AuditEntry
from doudi.monitor.alerts import CANDIDATE_SCHEMA, EVIDENCE_SCHEMA, merge_alerts, start_run


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 12, day, hour, minute)


def work(
    engine: Engine, world: World, no: str, visit: dt.datetime, decided: dt.datetime, kind: str, tmp: Path
) -> None:
    aw.record_verification(
        engine,
        world["worker1"],
        world.alerts[no],
        visited_on=visit.date(),
        visitors="张三",
        met="户主",
        findings="已核实",
        data_dir=tmp,
        now=visit,
    )
    aw.decide(engine, world["worker1"], world.alerts[no], [Outcome(kind, "核查后决定")], now=decided)


@pytest.fixture
def example(engine: Engine, tmp_path: Path) -> World:
    world = build_world(engine)
    work(engine, world, "N001", at(3, 15), at(5, 10), "refer_medical", tmp_path)
    work(engine, world, "N002", at(17, 10), at(18, 9, 30), "no_help_needed", tmp_path)
    work(engine, world, "N003", at(10, 9, 30), at(11, 9, 30), "services", tmp_path)
    return world


def figures(row: StatsRow) -> tuple[object, ...]:
    return (
        row.raised,
        row.verified,
        row.verified_within_due,
        row.helped,
        row.closed,
        row.open,
        row.overdue,
        row.median_days_to_help,
    )


def by_code(stats: ClosureStats) -> dict[str, StatsRow]:
    return {r.division_code: r for r in stats.rows}


def test_county_figures_per_township(engine: Engine, example: World) -> None:
    stats = closure_stats(engine, example["county1"], period="2026-12", as_of=dt.date(2026, 12, 20))
    assert (stats.division_code, stats.name, stats.as_of) == ("520102", "南明区", dt.date(2026, 12, 20))
    rows = by_code(stats)
    assert figures(rows["520102001"]) == (3, 3, 2, 2, 3, 0, 0, 7.0)
    assert figures(rows["520102002"]) == (1, 0, 0, 0, 0, 1, 1, None)
    assert figures(stats.total) == (4, 3, 2, 2, 3, 1, 1, 7.0)
    assert rows["520102001"].name == "五里冲街道" and rows["520102001"].verified_within_due_rate == 2 / 3
    # every township of the county is listed, those without alerts with zeros
    quiet = [r for r in stats.rows if r.raised == 0]
    assert quiet and all(figures(r) == (0, 0, 0, 0, 0, 0, 0, None) for r in quiet)
    assert all(len(r.division_code) == 9 and r.division_code.startswith("520102") for r in stats.rows)
    assert stats.as_dicts()[-1]["name"] == "合计"


def test_figures_as_they_stood_on_an_earlier_day(engine: Engine, example: World) -> None:
    stats = closure_stats(engine, example["county1"], as_of=dt.date(2026, 12, 10))
    assert figures(by_code(stats)["520102001"]) == (3, 2, 2, 1, 1, 2, 0, 4.0)
    before = closure_stats(engine, example["county1"], as_of=dt.date(2026, 11, 30))
    assert figures(before.total) == (0, 0, 0, 0, 0, 0, 0, None)


def test_township_drills_down_to_villages(engine: Engine, example: World) -> None:
    stats = closure_stats(engine, example["worker1"], as_of=dt.date(2026, 12, 20))
    assert stats.division_code == "520102001"
    rows = by_code(stats)
    assert figures(rows["520102001001"]) == (2, 2, 2, 2, 2, 0, 0, 7.0)
    assert figures(rows["520102001002"]) == (1, 1, 0, 0, 1, 0, 0, None)
    assert figures(stats.total) == (3, 3, 2, 2, 3, 0, 0, 7.0)


def test_province_rows_are_prefectures(engine: Engine, example: World) -> None:
    stats = closure_stats(engine, example["analyst"], as_of=dt.date(2026, 12, 20))
    rows = by_code(stats)
    assert figures(rows["520100"]) == (5, 3, 2, 2, 3, 2, 2, 7.0)  # 南明区 and 云岩区 are in 贵阳市
    assert all(len(c) == 6 and c.endswith("00") for c in rows)
    assert sum(r.raised for r in stats.rows) == stats.total.raised == 5


def test_periods_month_year_and_all(engine: Engine, example: World) -> None:
    # a January alert for X001 (another event), raised 2027-01-05
    run = start_run(
        engine,
        period="2026-12",
        engine_name="duckdb",
        actor="t",
        rules=[("medical_catastrophic", 1)],
        feed_loads=[],
    )
    cand = candidate("X001", "520102002001", example.citizen_ids["X001"], event_key="2027-01")
    merge_alerts(
        engine,
        run_id=run,
        period="2026-12",
        candidates=pa.Table.from_pylist([cand], schema=CANDIDATE_SCHEMA),
        evidence=EVIDENCE_SCHEMA.empty_table(),
        now=dt.datetime(2027, 1, 5, 8, 0),
        due_days=15,
    )
    county = example["county1"]
    day = dt.date(2027, 1, 10)
    assert by_code(closure_stats(engine, county, as_of=day))["520102002"].raised == 2
    assert by_code(closure_stats(engine, county, period="2027-01", as_of=day))["520102002"].raised == 1
    assert closure_stats(engine, county, period="2026", as_of=day).total.raised == 4
    assert closure_stats(engine, county, period="2027", as_of=day).total.raised == 1
    with pytest.raises(CaseError) as bad:
        closure_stats(engine, county, period="2027-13")
    assert bad.value.code == "bad_period"
    with pytest.raises(CaseError):
        closure_stats(engine, county, division_code="52010")


def test_stats_are_scoped(engine: Engine, example: World) -> None:
    with pytest.raises(NotFound):
        closure_stats(engine, example["worker2"], division_code="520102001")
    with pytest.raises(NotFound):
        closure_stats(engine, example["county2"], division_code="520102")
    with pytest.raises(NotFound):
        closure_stats(engine, example["county1"], division_code="520000")
    with engine.connect() as conn:
        denied = conn.execute(
            select(AuditEntry.actor, AuditEntry.object_ref).where(AuditEntry.action == "access_denied")
        ).all()
    assert sorted(denied) == [("county1", "520000"), ("county2", "520102"), ("worker2", "520102001")]
    # worker2 sees their own township only: X001 raised and overdue
    own = closure_stats(engine, example["worker2"], as_of=dt.date(2026, 12, 20))
    assert figures(own.total) == (1, 0, 0, 0, 0, 1, 1, None)
