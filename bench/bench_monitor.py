"""Benchmark of the monthly monitoring run (issue 4), on PostgreSQL as the operational store.

Each step is a separate process, timed from spawn to exit (wall) with its peak RSS from wait4:

1. ``prepare`` (not a target): a synthetic province of ``--persons`` persons, its registry
   imported into a fresh PostgreSQL database, 12 months of clean department feeds (Parquet,
   ``generate_feeds(style="clean")``) each loaded through the real loader (``load_feed``).
   Its phases are timed inside the child.
2. ``previous month``: ``doudi monitor run`` for the month before — its alerts are the existing
   open alerts the timed run writes back against (dedupe, update, evidence).
3. ``monthly run (duckdb)``: ``doudi monitor run --period M`` — the target: < 60 s, < 4 GB at
   5,000,000 persons; snapshot, features, rules, evidence and PostgreSQL write-back included.
4. ``baseline``: ``bench/monitor_baseline.sql``, one hand-written DuckDB query computing the
   same alerts from the same Parquet files (snapshot + active loads), same memory limit and
   threads. The child checks that its (rule, subject, event) set equals the run's candidates.
   The ratio compares it with the run's own features + rules time (the rule engine: same
   inputs, same outputs); the whole run's wall time is shown beside it.
5. ``monthly run (spark)``: the same month on Spark local mode (``--no-spark`` skips it);
   it must find every alert unchanged (identical alerts).
6. With ``--big-persons N`` (e.g. 20000000): steps 1–3 again at N persons with
   ``DOUDI_DUCKDB_MEMORY_LIMIT=--big-memory-limit``: bounded memory, spilling, no crash.

    python bench/bench_monitor.py                            # 5M persons, duckdb + spark
    python bench/bench_monitor.py --persons 200000           # quick check, ~1 min
    python bench/bench_monitor.py --no-spark --big-persons 20000000

Prints Markdown tables and writes bench/results/monitor-<date>[-<persons>].json.
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

RUN_TARGET_S, RUN_TARGET_RSS_MB = 60.0, 4096.0
RATIO_TARGET = 2.0
AS_OF = dt.date(2026, 11, 1)


# --- child processes -----------------------------------------------------------------------


def _child_prepare(persons: int, seed: int, periods: list[str]) -> None:
    """Province, registry (DOUDI_DATABASE_URL), 12 months of clean feeds loaded."""
    from doudi.db.engine import make_engine
    from doudi.db.migrate import upgrade
    from doudi.feeds.service import load_feed
    from doudi.feeds.synthetic import generate_feeds
    from doudi.registry.demo import build_demo
    from doudi.settings import get_settings

    s = get_settings()
    s.ensure_dirs()
    upgrade(s.sqlalchemy_url)
    engine = make_engine(s.sqlalchemy_url)
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
    rows = rejected = 0
    for f in files:
        r = load_feed(engine, s, f.kind, f.path, f.period, actor="bench")
        rows += r.rows_good
        rejected += r.rows_rejected
    phases["load feeds"] = time.perf_counter() - t
    by_kind: dict[str, int] = {}
    for f in files:
        by_kind[f.kind] = by_kind.get(f.kind, 0) + f.rows
    print(
        json.dumps(
            {
                "persons": persons,
                "registry_persons": demo.province.registry_persons,
                "registry_households": demo.province.registry_households,
                "feed_files": len(files),
                "feed_rows": rows,
                "feed_rejected": rejected,
                "feed_rows_by_kind": by_kind,
                "phases_s": {k: round(v, 2) for k, v in phases.items()},
            }
        )
    )


def _child_baseline(period: str, run_id: int) -> None:
    """The hand-written query on the run's inputs; checks it equals the run's candidates."""
    import duckdb
    from sqlalchemy import text

    from doudi.db.duck import connect
    from doudi.db.engine import make_engine
    from doudi.feeds.service import active_loads
    from doudi.monitor.parameters import monitor_parameters
    from doudi.monitor.snapshot import snapshot_dir
    from doudi.periods import Period
    from doudi.settings import get_settings

    s = get_settings()
    engine = make_engine(s.sqlalchemy_url)
    p = Period.parse(period)
    window = p.window(monitor_parameters().window_months.value)
    with engine.connect() as conn:
        loads = active_loads(conn, periods=[str(x) for x in window])
        raised = {
            tuple(r)
            for r in conn.execute(
                text("SELECT rule_id, subject_key, event_key FROM alerts WHERE last_run_id = :r"),
                {"r": run_id},
            )
        }
        candidates = conn.execute(
            text("SELECT candidates FROM monitor_runs WHERE id = :r"), {"r": run_id}
        ).scalar()
    snap = snapshot_dir(s.data_dir, p.end)
    params: dict[str, Any] = {k: [str(ld.path) for ld in v] for k, v in loads.items()}
    params.update(
        persons=str(snap / "registry_persons.parquet"),
        households=str(snap / "registry_households.parquet"),
        period=str(p),
        period_start=p.start.isoformat(),
        period_end=p.end.isoformat(),
        window_start=window[0].start.isoformat(),
    )
    sql = (ROOT / "bench" / "monitor_baseline.sql").read_text(encoding="utf-8")
    con: duckdb.DuckDBPyConnection = connect(s)
    t = time.perf_counter()
    rows = con.execute(sql, params).fetchall()
    seconds = time.perf_counter() - t
    got = {tuple(r) for r in rows}
    # Suppressed candidates are not raised again, so compare with what the run raised, plus
    # the count of candidates (the engine's own output, before write-back).
    same = got == raised and len(rows) == candidates
    print(
        json.dumps(
            {
                "rows": len(rows),
                "query_s": round(seconds, 3),
                "same_alerts": same,
                "only_baseline": len(got - raised),
                "only_engine": len(raised - got),
            }
        )
    )
    if not same:
        raise SystemExit("the baseline and the engine disagree")


def _child(argv: list[str]) -> None:
    kind, rest = argv[0], argv[1:]
    if kind == "prepare":
        _child_prepare(int(rest[0]), int(rest[1]), rest[2].split(","))
    elif kind == "baseline":
        _child_baseline(rest[0], int(rest[1]))
    else:
        raise SystemExit(f"unknown child {kind!r}")


def child_cmd(kind: str, *args: str) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--child", kind, *args]


def run_record(url: str, period: str) -> dict[str, Any]:
    """The latest monitor_runs row of ``period``, counts decoded."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            row = dict(
                conn.execute(
                    text("SELECT * FROM monitor_runs WHERE period = :p ORDER BY id DESC LIMIT 1"),
                    {"p": period},
                )
                .mappings()
                .one()
            )
    finally:
        engine.dispose()
    row["counts"] = json.loads(row["counts"] or "{}")
    for key in ("started_at", "finished_at"):
        row[key] = str(row[key])
    return row


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
        self.log(f"{name}: {run.wall_s:.1f} s, {run.peak_rss_mb:,.0f} MB")
        self.runs.append(run)
        return run

    def doudi(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "doudi", *args]

    def province(self, server: str, persons: int, tag: str, memory_limit: str | None) -> None:
        a = self.args
        url = pg_fresh_db(server, f"doudi_bench_{tag}")
        data = self.work / f"data-{tag}"
        settings = {"data_dir": str(data), "database_url": url}
        if memory_limit:
            settings["duckdb_memory_limit"] = memory_limit
        env = clean_env(self.source, **settings)
        period = a.period
        previous = str(_shift(period, -1))
        window = [str(_shift(period, -k)) for k in range(11, -1, -1)]
        prep = self.measure(
            f"prepare {tag}", child_cmd("prepare", str(persons), str(a.seed), ",".join(window)), env
        )
        prep.extra.update(last_json(prep.stdout))
        pg_admin(server, "CHECKPOINT")
        prev = self.measure(f"previous month {tag}", self.doudi("monitor", "run", "--period", previous), env)
        prev.extra["record"] = run_record(url, previous)
        pg_admin(server, "CHECKPOINT")
        run = self.measure(
            f"monthly run (duckdb) {tag}", self.doudi("monitor", "run", "--period", period), env
        )
        run.extra["record"] = run_record(url, period)
        run.extra["persons"] = persons
        if tag != "main":
            return
        base = self.measure("baseline", child_cmd("baseline", period, str(run.extra["record"]["id"])), env)
        base.extra.update(last_json(base.stdout))
        if not a.no_spark:
            spark = self.measure(
                "monthly run (spark)",
                self.doudi("monitor", "run", "--period", period, "--engine", "spark"),
                env,
            )
            rec = run_record(url, period)
            spark.extra["record"] = rec
            if rec["alerts_new"] or rec["alerts_updated"] or rec["alerts_unchanged"] != rec["candidates"]:
                raise RuntimeError(f"spark did not reproduce the duckdb alerts: {rec}")
        if not a.keep:
            pg_admin(server, f"DROP DATABASE doudi_bench_{tag}")

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
            self.province(server_url(a.postgres_url), a.persons, "main", None)
            if a.big_persons:
                self.province(server_url(a.postgres_url), a.big_persons, "big", a.big_memory_limit)
        else:
            with throwaway_cluster(self.log) as server:
                self.province(server, a.persons, "main", None)
                if a.big_persons:
                    self.province(server, a.big_persons, "big", a.big_memory_limit)
        self.info["load_after"] = loadavg()


def _shift(period: str, months: int) -> str:
    from doudi.periods import Period

    return str(Period.parse(period).shift(months))


def report(bench: Bench) -> tuple[str, dict[str, Any]]:
    by = {r.name: r for r in bench.runs}
    lines = ["| step | wall s | peak RSS MB | detail | target | met |", "|---|---:|---:|---|---|---|"]
    out: dict[str, Any] = {"runs": [r.as_dict() for r in bench.runs]}

    def add(name: str, detail: str = "", target: str = "", met: str = "") -> None:
        r = by[name]
        lines.append(f"| {name} | {r.wall_s:.1f} | {r.peak_rss_mb:,.0f} | {detail} | {target} | {met} |")

    for tag in ("main", "big"):
        prep = by.get(f"prepare {tag}")
        if prep is None:
            continue
        e = prep.extra
        add(
            f"prepare {tag}",
            f"{e.get('persons', 0):,} persons, registry {e.get('registry_persons', 0):,}; "
            f"{e.get('feed_files', 0)} feed files, {e.get('feed_rows', 0):,} rows; phases {e.get('phases_s')}",
        )
        if f"previous month {tag}" in by:
            rec = by[f"previous month {tag}"].extra["record"]
            add(f"previous month {tag}", f"{rec['candidates']:,} alerts raised")
        name = f"monthly run (duckdb) {tag}"
        if name in by:
            r = by[name]
            rec = r.extra["record"]
            secs = rec["counts"].get("seconds", {})
            ok = r.wall_s < RUN_TARGET_S and r.peak_rss_mb < RUN_TARGET_RSS_MB
            add(
                name,
                f"{rec['subjects']:,} subjects, {rec['candidates']:,} candidates: new {rec['alerts_new']:,}, "
                f"updated {rec['alerts_updated']:,}, unchanged {rec['alerts_unchanged']:,}, suppressed "
                f"{rec['alerts_suppressed']:,}; in-run seconds {secs}",
                "< 60 s, < 4 GB" if tag == "main" else "bounded memory",
                ("yes" if ok else "**no**") if tag == "main" else "",
            )
    if "baseline" in by:
        base = by["baseline"]
        rec = by["monthly run (duckdb) main"].extra["record"]
        secs = rec["counts"].get("seconds", {})
        engine_s = float(secs.get("features", 0)) + float(secs.get("rules", 0))
        ratio = engine_s / base.extra["query_s"] if base.extra.get("query_s") else None
        out["ratio_engine_vs_baseline"] = None if ratio is None else round(ratio, 2)
        add(
            "baseline",
            f"query {base.extra['query_s']:.1f} s, {base.extra['rows']:,} alerts, same as the engine: "
            f"{base.extra['same_alerts']}; engine features + rules {engine_s:.1f} s → "
            f"**{'' if ratio is None else f'{ratio:.2f}×'}** the hand-written query",
            "engine ≤ 2× baseline",
            "yes" if ratio is not None and ratio <= RATIO_TARGET else "**no**",
        )
    if "monthly run (spark)" in by:
        r = by["monthly run (spark)"]
        rec = r.extra["record"]
        duck = by["monthly run (duckdb) main"]
        add(
            "monthly run (spark)",
            f"{rec['candidates']:,} candidates, all unchanged (identical alerts); "
            f"{r.wall_s / duck.wall_s:.1f}× the DuckDB run; in-run seconds {rec['counts'].get('seconds')}",
            "completes, same alerts",
            "yes",
        )
    header = (
        f"Machine: {bench.info['machine']['nproc']} vCPU {bench.info['machine']['cpu']}, "
        f"{bench.info['machine'].get('mem_gib')} GiB; code {bench.info['code']['commit'][:7]} "
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
        "--period", default="2026-11", help="the month timed (12 months of feeds end with it)"
    )
    parser.add_argument("--no-spark", action="store_true")
    parser.add_argument("--big-persons", type=int, default=0, help="also run this size with a memory limit")
    parser.add_argument("--big-memory-limit", default="4GB")
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
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="doudi-bench-monitor-"))
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
        path = args.results / f"monitor-{dt.date.today().isoformat()}{suffix}.json"
        path.write_text(json.dumps(result, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
        print(f"results: {path}")
        if not args.keep and args.work_dir is None:
            import shutil

            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
