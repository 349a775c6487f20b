"""Benchmark of case work (issue 5), on PostgreSQL as the operational store.

Each step is a separate process, timed from spawn to exit (wall) with its peak RSS from wait4;
inside, each child also times its own work (``in-run s``: without interpreter start and imports).

1. ``prepare`` (not a target): a synthetic province of ``--persons`` persons and its registry
   imported into a fresh PostgreSQL database; 12 months of clean department feeds generated,
   of which the **death** feeds are loaded through the real loader (``load_feed``) — the
   payment roll's ``dead`` check reads them.
2. ``enrol`` (go-live): ``enrol_from_registry`` on the first day of ``--period``: every
   household in 低保/特困/低保边缘 (and the disability subsidies' persons) becomes a recipient
   at the amount of the programs' whole-registry evaluation.
3. ``rolls`` — the target (< 30 s for ~300,000 recipients at 5,000,000 persons): for every
   county, ``generate_roll`` then ``check_roll`` for ``--period``, exactly as a county reviewer
   runs them (one service call each, one county at a time).
4. ``alerts`` (not a target): a year of alerts — 12 monthly batches of the size the monitoring
   raises at this population (bench_monitor: ~75,000 a month at 5M persons), on registry
   households, most of them closed (earlier months ~97 %, the last ~30 %), each with its
   ``alert_work`` row — written set-based (Arrow → COPY), then ``ANALYZE``.
5. ``inbox`` — the target (< 50 ms): the township inbox (``doudi.cases.alert_views.inbox``:
   open alerts by due date, first page of 50, with the total) for ``--townships`` townships
   drawn at random (each queried once after a warm-up), p50 / p95 / max; and the plan of
   the inbox query (it must use ``ix_alerts_inbox``).

    python bench/bench_cases.py                       # 5M persons (the lead runs this)
    python bench/bench_cases.py --persons 200000      # quick check, ~1 min

Prints a Markdown table and writes bench/results/cases-<date>[-<persons>].json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import (
    ROOT,
    Run,
    clean_env,
    last_json,
    loadavg,
    machine,
    measure,
    pg_admin,
    pg_fresh_db,
    server_url,
    snapshot_source,
    throwaway_cluster,
    working_tree_source,
)

ROLLS_TARGET_S = 30.0
INBOX_TARGET_MS = 50.0
ALERTS_PER_MONTH_AT_5M = 75_000
AS_OF = dt.date(2026, 11, 1)


# --- child processes -----------------------------------------------------------------------


def _engine() -> Any:
    from doudi.db.engine import make_engine
    from doudi.settings import get_settings

    return make_engine(get_settings().sqlalchemy_url)


def _child_prepare(persons: int, seed: int, periods: list[str]) -> None:
    from doudi.db.migrate import upgrade
    from doudi.feeds.service import load_feed
    from doudi.feeds.synthetic import generate_feeds
    from doudi.registry.demo import build_demo
    from doudi.settings import get_settings

    s = get_settings()
    s.ensure_dirs()
    upgrade(s.sqlalchemy_url)
    engine = _engine()
    phases: dict[str, float] = {}
    t = time.perf_counter()
    demo = build_demo(engine, settings=s, persons=persons, seed=seed, as_of=AS_OF, actor="bench")
    phases["province and registry"] = time.perf_counter() - t
    t = time.perf_counter()
    files = generate_feeds(
        s.data_dir / "population", periods, s.data_dir / "incoming", seed=seed, style="clean"
    )
    phases["generate feeds"] = time.perf_counter() - t
    t = time.perf_counter()
    deaths = 0
    for f in files:
        if f.kind == "death":
            deaths += load_feed(engine, s, f.kind, f.path, f.period, actor="bench").rows_good
    phases["load death feeds"] = time.perf_counter() - t
    print(
        json.dumps(
            {
                "persons": persons,
                "registry_persons": demo.province.registry_persons,
                "registry_households": demo.province.registry_households,
                "death_rows": deaths,
                "phases_s": {k: round(v, 2) for k, v in phases.items()},
            }
        )
    )


def _child_enrol(period: str) -> None:
    from doudi.cases.recipients import enrol_from_registry
    from doudi.periods import Period
    from doudi.programs import sources
    from doudi.programs.engine import evaluate

    engine = _engine()
    on = Period.parse(period).start
    t = time.perf_counter()
    households, members = sources.from_registry(engine, on)
    results = evaluate(households, members)
    evaluation = time.perf_counter() - t
    t = time.perf_counter()
    counts = enrol_from_registry(engine, on=on, actor="bench", results=results)
    enrol = time.perf_counter() - t
    print(
        json.dumps(
            {
                "recipients": counts.total,
                "households": counts.households,
                "by_program": counts.by_program,
                "evaluation_s": round(evaluation, 2),
                "enrol_s": round(enrol, 2),
            }
        )
    )


def _child_rolls(period: str) -> None:
    from sqlalchemy import text

    from doudi.auth import Actor
    from doudi.cases.payroll import check_roll, generate_roll
    from doudi.programs.parameters import default_parameters

    engine = _engine()
    with engine.connect() as conn:
        counties = [
            str(c) for (c,) in conn.execute(text("SELECT DISTINCT county_code FROM recipients ORDER BY 1"))
        ]
        recipients = conn.execute(text("SELECT count(*) FROM recipients")).scalar_one()
    params = default_parameters()  # loaded once, as a running server holds it
    gen_s = check_s = 0.0
    slowest = (0.0, "")
    lines = problems = 0
    by_problem: dict[str, int] = {}
    total = 0.0
    t_all = time.perf_counter()
    for county in counties:
        actor = Actor(f"bench_{county}", "county_reviewer", county)
        t = time.perf_counter()
        roll = generate_roll(engine, actor, county, period)
        g = time.perf_counter() - t
        t = time.perf_counter()
        roll = check_roll(engine, actor, roll.id, params=params)
        c = time.perf_counter() - t
        gen_s += g
        check_s += c
        slowest = max(slowest, (g + c, county))
        lines += roll.lines
        problems += roll.problems
        total += float(roll.total)
        for k, v in roll.problem_counts.items():
            by_problem[k] = by_problem.get(k, 0) + v
    elapsed = time.perf_counter() - t_all
    print(
        json.dumps(
            {
                "counties": len(counties),
                "recipients": recipients,
                "lines": lines,
                "problems": problems,
                "by_problem": by_problem,
                "total_yuan": round(total, 2),
                "generate_s": round(gen_s, 2),
                "check_s": round(check_s, 2),
                "generate_and_check_s": round(elapsed, 2),
                "slowest_county": {"county": slowest[1], "s": round(slowest[0], 3)},
            }
        )
    )


def _child_alerts(persons: int, seed: int, period: str) -> None:
    """A year of alerts on registry households, written set-based."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    from sqlalchemy import text

    from doudi.db import bulk
    from doudi.periods import Period

    engine = _engine()
    rng = np.random.default_rng(seed)
    per_month = max(1, ALERTS_PER_MONTH_AT_5M * persons // 5_000_000)
    months = Period.parse(period).window(12)
    t = time.perf_counter()
    with engine.begin() as conn:
        hh = bulk.fetch_arrow(
            conn,
            """SELECT h.id, h.household_no, hv.division_code, hv.head_citizen_id FROM households h
               JOIN household_versions hv ON hv.household_id = h.id AND hv.valid_to IS NULL""",
            pa.schema(
                [
                    ("id", pa.int64()),
                    ("household_no", pa.string()),
                    ("division_code", pa.string()),
                    ("citizen_id", pa.string()),
                ]
            ),
        )
        n = per_month * len(months)
        pick = rng.integers(0, hh.num_rows, n)
        sample = hh.take(pa.array(pick))
        ids = bulk.next_ids(conn, "alerts", n)
        month_no = np.repeat(np.arange(len(months)), per_month)
        raised = np.array(
            [np.datetime64(m.shift(1).start.isoformat()) for m in months], dtype="datetime64[s]"
        )[month_no] + rng.integers(0, 3 * 86400, n).astype("timedelta64[s]")
        due = raised.astype("datetime64[D]") + np.timedelta64(15, "D")
        last = month_no == len(months) - 1
        closed_share = np.where(last, 0.30, 0.97)
        closed = rng.random(n) < closed_share
        closed_at = raised + (rng.integers(2, 40, n) * 86400).astype("timedelta64[s]")
        rules = np.array(["medical_catastrophic", "death_still_paid", "unemployment_new", "disaster_loss"])
        rule = rules[rng.integers(0, len(rules), n)]
        division = sample["division_code"]
        periods = np.array([str(m) for m in months])[month_no]
        status = np.where(closed, "closed", "open")
        alerts = pa.table(
            {
                "id": pa.array(ids),
                "rule_id": pa.array(rule),
                "rule_version": pa.array(np.ones(n, dtype=np.int32)),
                "severity": pa.array(np.where(rng.random(n) < 0.3, "red", "orange")),
                "grain": pa.array(["household"] * n),
                "subject_key": sample["household_no"],
                "event_key": pa.array([f"e{i}" for i in ids]),
                "citizen_id": sample["citizen_id"],
                "household_id": sample["id"],
                "household_no": sample["household_no"],
                "registered": pa.array(np.ones(n, dtype=bool)),
                "division_code": division,
                "township_code": pc.utf8_slice_codeunits(division, 0, 9),
                "county_code": pc.utf8_slice_codeunits(division, 0, 6),
                "period_first": pa.array(periods),
                "period_last": pa.array(periods),
                "status": pa.array(status),
                "raised_at": pa.array(raised, pa.timestamp("s")),
                "updated_at": pa.array(raised, pa.timestamp("s")),
                "due_date": pa.array(due, pa.date32()),
                "closed_at": pa.array(closed_at, pa.timestamp("s"), mask=~closed),
                "closed_reason": pa.array(np.full(n, "no_help_needed"), pa.string(), mask=~closed),
                "first_run_id": pa.array(np.zeros(n, dtype=np.int32)),
                "last_run_id": pa.array(np.zeros(n, dtype=np.int32)),
                "title": pa.array(["医疗支出型困难"] * n),
                "explanation": pa.array(["近12个月自付医疗费用超过家庭年收入。"] * n),
                "facts": pa.array(["{}"] * n),
                "actions": pa.array(["[]"] * n),
            }
        )
        bulk.insert_arrow(conn, "alerts", alerts)
        assigned = closed | (rng.random(n) < 0.5)
        work = pa.table(
            {
                "alert_id": pa.array(ids),
                "assignee": pa.array(np.full(n, "caseworker"), pa.string(), mask=~assigned),
                "assigned_at": pa.array(raised, pa.timestamp("s"), mask=~assigned),
                "verified_at": pa.array(closed_at, pa.timestamp("s"), mask=~closed),
                "decided_at": pa.array(closed_at, pa.timestamp("s"), mask=~closed),
                "version": pa.array(np.ones(n, dtype=np.int32)),
            }
        )
        bulk.insert_arrow(conn, "alert_work", work)
        bulk.reset_sequences(conn, ["alerts"])
    written = time.perf_counter() - t
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE alerts"))
        conn.execute(text("ANALYZE alert_work"))
    print(
        json.dumps(
            {
                "alerts": n,
                "per_month": per_month,
                "open": int((~closed).sum()),
                "townships": len(set(alerts["township_code"].to_pylist())),
                "write_s": round(written, 2),
            }
        )
    )


def _child_inbox(townships: int, seed: int, period: str) -> None:
    import math
    import random
    import statistics

    from sqlalchemy import text

    from doudi.auth import Actor
    from doudi.cases.alert_views import inbox
    from doudi.periods import Period

    engine = _engine()
    today = Period.parse(period).shift(1).start + dt.timedelta(days=9)
    with engine.connect() as conn:
        towns = [
            str(t) for (t,) in conn.execute(text("SELECT DISTINCT township_code FROM alerts ORDER BY 1"))
        ]
        busiest = conn.execute(
            text(
                """SELECT township_code, count(*) FROM alerts WHERE closed_at IS NULL
                   GROUP BY township_code ORDER BY 2 DESC LIMIT 1"""
            )
        ).one()
        plan = [
            str(r[0])
            for r in conn.execute(
                text(
                    """EXPLAIN SELECT a.id FROM alerts a LEFT OUTER JOIN alert_work w ON w.alert_id = a.id
                       WHERE a.township_code = :t AND a.closed_at IS NULL
                       ORDER BY a.due_date, a.id LIMIT 50 OFFSET 0"""
                ),
                {"t": busiest[0]},
            )
        ]
    sample = random.Random(seed).sample(towns, min(townships, len(towns)))
    for t in sample[:20]:  # warm-up: connections and caches, as a running server has them
        inbox(engine, Actor("bench", "township_caseworker", t), today=today)
    times = []
    sizes = []
    for t in sample:
        start = time.perf_counter()
        page = inbox(engine, Actor("bench", "township_caseworker", t), today=today)
        times.append((time.perf_counter() - start) * 1000)
        sizes.append(page.total)
    start = time.perf_counter()
    page = inbox(engine, Actor("bench", "township_caseworker", str(busiest[0])), today=today)
    busiest_ms = (time.perf_counter() - start) * 1000
    times.sort()
    print(
        json.dumps(
            {
                "townships": len(sample),
                "p50_ms": round(statistics.median(times), 2),
                "p95_ms": round(times[max(0, math.ceil(0.95 * len(times)) - 1)], 2),
                "max_ms": round(times[-1], 2),
                "open_per_township_median": statistics.median(sizes),
                "busiest_township": {"code": busiest[0], "open": int(busiest[1]), "ms": round(busiest_ms, 2)},
                "uses_inbox_index": any("ix_alerts_inbox" in line for line in plan),
                "plan": plan,
            }
        )
    )


def _child(argv: list[str]) -> None:
    kind, rest = argv[0], argv[1:]
    if kind == "prepare":
        _child_prepare(int(rest[0]), int(rest[1]), rest[2].split(","))
    elif kind == "enrol":
        _child_enrol(rest[0])
    elif kind == "rolls":
        _child_rolls(rest[0])
    elif kind == "alerts":
        _child_alerts(int(rest[0]), int(rest[1]), rest[2])
    elif kind == "inbox":
        _child_inbox(int(rest[0]), int(rest[1]), rest[2])
    else:
        raise SystemExit(f"unknown child {kind!r}")


def child_cmd(kind: str, *args: str) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--child", kind, *args]


# --- the benchmark ------------------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.work = work
        self.logs = work / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.runs: list[Run] = []
        self.info: dict[str, Any] = {}
        self.source: Path | None = None

    def log(self, message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)

    def measure(self, name: str, cmd: list[str], env: dict[str, str]) -> Run:
        self.log(f"{name} … (load {loadavg()})")
        run = measure(name, cmd, env, self.logs / name.replace(" ", "-"), self.work)
        run.extra.update(last_json(run.stdout))
        self.log(f"{name}: {run.wall_s:.1f} s, {run.peak_rss_mb:,.0f} MB")
        self.runs.append(run)
        return run

    def province(self, server: str) -> None:
        a = self.args
        url = pg_fresh_db(server, "doudi_bench_cases")
        env = clean_env(self.source, data_dir=str(self.work / "data"), database_url=url)
        window = [_shift(a.period, -k) for k in range(11, -1, -1)]
        self.measure("prepare", child_cmd("prepare", str(a.persons), str(a.seed), ",".join(window)), env)
        pg_admin(server, "CHECKPOINT")
        self.measure("enrol", child_cmd("enrol", a.period), env)
        pg_admin(server, "CHECKPOINT")
        self.measure("rolls", child_cmd("rolls", a.period), env)
        self.measure("alerts", child_cmd("alerts", str(a.persons), str(a.seed), a.period), env)
        pg_admin(server, "CHECKPOINT")
        self.measure("inbox", child_cmd("inbox", str(a.townships), str(a.seed), a.period), env)
        if not a.keep:
            pg_admin(server, "DROP DATABASE doudi_bench_cases")

    def run(self) -> None:
        a = self.args
        self.info["machine"] = machine()
        if a.source:
            self.source = self.work / "src"
            self.info["code"] = snapshot_source(a.source, self.source)
        else:
            self.info["code"] = working_tree_source()
        self.info["args"] = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items()}
        self.info["load_before"] = loadavg()
        if a.postgres_url:
            self.province(server_url(a.postgres_url))
        else:
            with throwaway_cluster(self.log) as server:
                self.province(server)
        self.info["load_after"] = loadavg()


def _shift(period: str, months: int) -> str:
    from doudi.periods import Period

    return str(Period.parse(period).shift(months))


def report(bench: Bench) -> tuple[str, dict[str, Any]]:
    by = {r.name: r for r in bench.runs}
    lines = [
        "| step | wall s | peak RSS MB | in-run | detail | target | met |",
        "|---|---:|---:|---|---|---|---|",
    ]
    out: dict[str, Any] = {"runs": [r.as_dict() for r in bench.runs]}

    def add(name: str, inrun: str, detail: str, target: str = "", met: str = "") -> None:
        r = by[name]
        lines.append(
            f"| {name} | {r.wall_s:.1f} | {r.peak_rss_mb:,.0f} | {inrun} | {detail} | {target} | {met} |"
        )

    if "prepare" in by:
        e = by["prepare"].extra
        add(
            "prepare",
            "",
            f"{e['persons']:,} persons, registry {e['registry_persons']:,} persons in "
            f"{e['registry_households']:,} households; {e['death_rows']:,} death rows loaded; phases {e['phases_s']}",
        )
    if "enrol" in by:
        e = by["enrol"].extra
        add(
            "enrol",
            f"{e['enrol_s']:.1f} s (+ evaluation {e['evaluation_s']:.1f} s)",
            f"{e['recipients']:,} recipients in {e['households']:,} households: {e['by_program']}",
        )
    if "rolls" in by:
        e = by["rolls"].extra
        ok = e["generate_and_check_s"] < ROLLS_TARGET_S
        out["rolls_s"] = e["generate_and_check_s"]
        add(
            "rolls",
            f"**{e['generate_and_check_s']:.1f} s** (generate {e['generate_s']:.1f}, check {e['check_s']:.1f})",
            f"{e['counties']} counties, {e['recipients']:,} recipients → {e['lines']:,} lines, "
            f"{e['problems']:,} flagged {e['by_problem']}; slowest county {e['slowest_county']}",
            f"< {ROLLS_TARGET_S:.0f} s",
            "yes" if ok else "**no**",
        )
    if "alerts" in by:
        e = by["alerts"].extra
        add(
            "alerts",
            f"{e['write_s']:.1f} s",
            f"{e['alerts']:,} alerts ({e['per_month']:,}/month × 12), {e['open']:,} open, "
            f"{e['townships']:,} townships",
        )
    if "inbox" in by:
        e = by["inbox"].extra
        ok = e["p95_ms"] < INBOX_TARGET_MS and e["uses_inbox_index"]
        out["inbox_p95_ms"] = e["p95_ms"]
        add(
            "inbox",
            f"p50 **{e['p50_ms']} ms**, p95 **{e['p95_ms']} ms**, max {e['max_ms']} ms",
            f"{e['townships']} townships, first page of 50 with the total; median "
            f"{e['open_per_township_median']} open per township; busiest {e['busiest_township']}; "
            f"ix_alerts_inbox used: {e['uses_inbox_index']}",
            f"< {INBOX_TARGET_MS:.0f} ms",
            "yes" if ok else "**no**",
        )
    m = bench.info["machine"]
    header = (
        f"Machine: {m['nproc']} vCPU {m['cpu']}, {m.get('mem_gib')} GiB; code {bench.info['code']['commit'][:7]} "
        f"({bench.info['code']['source']}); load {bench.info.get('load_before')} → {bench.info.get('load_after')}"
    )
    out.update(bench.info)
    return header + "\n\n" + "\n".join(lines), out


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--persons", type=int, default=5_000_000)
    parser.add_argument("--seed", type=int, default=52)
    parser.add_argument(
        "--period", default="2026-11", help="the month of the rolls (12 months of feeds end with it)"
    )
    parser.add_argument("--townships", type=int, default=300, help="townships whose inbox is timed")
    parser.add_argument(
        "--source", default=None, metavar="REV", help="measure the package as committed at REV"
    )
    parser.add_argument(
        "--postgres-url", default=None, help="a server to use instead of a throw-away cluster"
    )
    parser.add_argument("--work-dir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="doudi-bench-cases-"))
    work.mkdir(parents=True, exist_ok=True)
    bench = Bench(args, work)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        bench.run()
    finally:
        text, result = report(bench)
        print(text, flush=True)
        args.results.mkdir(parents=True, exist_ok=True)
        suffix = "" if args.persons == 5_000_000 else f"-{args.persons}"
        path = args.results / f"cases-{dt.date.today().isoformat()}{suffix}.json"
        path.write_text(json.dumps(result, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
        print(f"results: {path}")
        if not args.keep and args.work_dir is None:
            import shutil

            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
