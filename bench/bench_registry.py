"""Benchmark of the registry (issue 2): ``doudi demo`` and roster imports on SQLite and PostgreSQL.

Steps, each timed as a separate process (wall time and peak RSS of that process, from wait4):

1. ``doudi demo --persons N`` in a fresh data dir (SQLite).
2. A roster of ``--roster-persons`` persons cut from that province with ``registry_roster``
   and written as a UTF-8 CSV and a GBK CSV with a title row (not a target; timed for reference).
3. SQLite, each in a fresh data dir after ``doudi db upgrade``: ``doudi registry import`` of the
   UTF-8 file, the same file again (idempotent: all rows unchanged), the GBK file (fresh dir).
   Baseline: the same CSV read by pyarrow as all-string columns and inserted with one
   ``executemany`` transaction into a plain table of the same width (same pragmas as Doudi's engine).
4. PostgreSQL, the same three imports (fresh databases for the first and the GBK import).
   Baseline: ``COPY ... FROM STDIN (FORMAT csv, HEADER true)`` of the file into a plain text table.
   Without ``--postgres-url`` a throw-away cluster with default settings (fsync, full
   synchronous_commit) is started on 127.0.0.1 and removed at the end. A ``CHECKPOINT`` precedes
   every timed PostgreSQL run, so that no run pays for the previous one's dirty pages.

The Doudi commands run through a thin wrapper around the ``doudi`` Typer app (what the console
script calls) that only notes the time of each progress step, so the report can show where
the time goes (read file, validate, compare, write).

    python bench/bench_registry.py                                  # full size: 5M persons, 1M roster
    python bench/bench_registry.py --repeat 3 --source HEAD         # as in docs/benchmarks.md
    python bench/bench_registry.py --persons 200000 --roster-persons 50000   # quick check, < 1 min

``--repeat N`` runs the SQLite and PostgreSQL blocks N times (fresh databases each time) and
reports the median wall time and the highest peak RSS: the machine may be shared. ``--source
REV`` measures the package as committed at REV (exported with git archive and put first on
PYTHONPATH), so that others' uncommitted edits in the tree cannot change or break a run; the
commit measured is recorded either way.

Prints Markdown tables and writes bench/results/registry-<date>[-<sizes>].json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import (
    ROOT,
    Run,
    clean_env,
    conninfo,
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

# Targets of issue 2.
DEMO_TARGET_S, DEMO_TARGET_RSS_MB = 180.0, 4096.0
IMPORT_TARGET_S, IMPORT_TARGET_RSS_MB = 30.0, 2048.0

# Progress steps reported by the CLI (Chinese, as shown to users) → phase names in the report.
STEP_NAMES = {
    "生成人口": "generate population",
    "整理名册": "cut registry roster",
    "读取文件": "read file",
    "校验": "validate",
    "比对": "compare",
    "写入": "write",
}


# --- child processes -----------------------------------------------------------------------


class _Marks:
    """Appends ``<epoch seconds>\\t<label>`` lines to a file, flushed at once."""

    def __init__(self, path: str) -> None:
        self.fh = open(path, "a", encoding="utf-8")  # noqa: SIM115 - lives as long as the process

    def __call__(self, label: str) -> None:
        self.fh.write(f"{time.time():.6f}\t{label}\n")
        self.fh.flush()


def _child_cli(marks_path: str, args: list[str]) -> None:
    """Run the ``doudi`` app with ``args``, noting the time of each progress step."""
    mark = _Marks(marks_path)
    mark("started")
    import doudi.cli.demo as demo_cli
    import doudi.cli.registry as registry_cli
    from doudi.cli.main import app

    mark("imported")
    import_roster_file = registry_cli.import_roster_file
    build_demo = demo_cli.build_demo

    def timed_import(*a: Any, progress: Any = None, **kw: Any) -> Any:
        def step(name: str) -> None:
            mark(name)
            if progress is not None:
                progress(name)

        try:
            return import_roster_file(*a, progress=step, **kw)
        finally:
            mark("returned")

    def timed_demo(*a: Any, step: Any = None, **kw: Any) -> Any:
        def on_step(name: str) -> None:
            mark(name)
            if step is not None:
                step(name)

        try:
            return build_demo(*a, step=on_step, **kw)
        finally:
            mark("returned")

    registry_cli.import_roster_file = timed_import
    demo_cli.build_demo = timed_demo
    app(args=args, prog_name="doudi")


def _child_roster(data_dir: str, limit: int, utf8: str, gbk: str) -> None:
    """Cut the roster from the demo's province and write both CSV files; print JSON timings."""
    import resource

    import pyarrow.compute as pc

    from doudi.registry.synthetic import registry_roster, write_roster

    t0 = time.perf_counter()
    table = registry_roster(Path(data_dir), limit_persons=limit)
    t1 = time.perf_counter()
    write_roster(table, Path(utf8), encoding="utf-8-sig")
    t2 = time.perf_counter()
    write_roster(table, Path(gbk), encoding="gbk", with_title=True)
    t3 = time.perf_counter()
    counts = pc.value_counts(table.column("category")).to_pylist()
    print(
        json.dumps(
            {
                "rows": table.num_rows,
                "households": pc.count_distinct(table.column("household_no")).as_py(),
                "categories": {str(c["values"]): int(c["counts"]) for c in counts},
                "cut_s": round(t1 - t0, 2),
                "write_utf8_s": round(t2 - t1, 2),
                "write_gbk_s": round(t3 - t2, 2),
                "utf8_mb": round(Path(utf8).stat().st_size / 2**20, 1),
                "gbk_mb": round(Path(gbk).stat().st_size / 2**20, 1),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            },
            ensure_ascii=False,
        )
    )


def _read_all_strings(path: str) -> Any:
    """The CSV as an Arrow table of strings, columns c0…cN (no checks, no type conversion)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    with open(path, encoding="utf-8-sig") as fh:
        ncols = len(fh.readline().rstrip("\r\n").split(","))
    names = [f"c{i}" for i in range(ncols)]
    return pacsv.read_csv(
        path,
        read_options=pacsv.ReadOptions(skip_rows=1, column_names=names),
        convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string())),
    )


def _child_baseline_sqlite(csv_path: str, db_path: str) -> None:
    """Baseline: read the CSV as strings, ``executemany`` into a plain table, one transaction."""
    import sqlite3

    t0 = time.perf_counter()
    table = _read_all_strings(csv_path)
    t1 = time.perf_counter()
    con = sqlite3.connect(db_path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "cache_size=-200000"):  # as doudi.db.engine
        con.execute(f"PRAGMA {pragma}")
    cols = table.column_names
    con.execute(f"CREATE TABLE roster ({', '.join(f'{c} TEXT' for c in cols)})")
    sql = f"INSERT INTO roster VALUES ({', '.join('?' for _ in cols)})"
    con.execute("BEGIN")
    for batch in table.to_batches(max_chunksize=100_000):
        con.executemany(sql, zip(*(batch.column(i).to_pylist() for i in range(len(cols))), strict=True))
    con.execute("COMMIT")
    t2 = time.perf_counter()
    rows = con.execute("SELECT count(*) FROM roster").fetchone()[0]
    con.close()
    print(json.dumps({"rows": rows, "read_s": round(t1 - t0, 2), "insert_s": round(t2 - t1, 2)}))


def _child_baseline_postgres(csv_path: str, conninfo: str) -> None:
    """Baseline: ``COPY FROM STDIN`` of the file's bytes into a plain text table."""
    import psycopg

    with open(csv_path, encoding="utf-8-sig") as fh:
        ncols = len(fh.readline().rstrip("\r\n").split(","))
    t0 = time.perf_counter()
    with psycopg.connect(conninfo) as con, con.cursor() as cur:
        cur.execute(f"CREATE TABLE roster ({', '.join(f'c{i} text' for i in range(ncols))})")
        with cur.copy("COPY roster FROM STDIN (FORMAT csv, HEADER true)") as copy, open(csv_path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                copy.write(chunk)
        con.commit()
        t1 = time.perf_counter()
        row = cur.execute("SELECT count(*) FROM roster").fetchone()
    print(json.dumps({"rows": row[0] if row else 0, "copy_s": round(t1 - t0, 2)}))


def _child(argv: list[str]) -> None:
    kind, rest = argv[0], argv[1:]
    if kind == "cli":
        _child_cli(rest[0], rest[1:])
    elif kind == "roster":
        _child_roster(rest[0], int(rest[1]), rest[2], rest[3])
    elif kind == "baseline-sqlite":
        _child_baseline_sqlite(rest[0], rest[1])
    elif kind == "baseline-postgres":
        _child_baseline_postgres(rest[0], rest[1])
    else:
        raise SystemExit(f"unknown child {kind!r}")


# --- measuring ------------------------------------------------------------------------------


def _phases(started: float, ended: float, marks_path: Path) -> dict[str, float]:
    marks: list[tuple[float, str]] = []
    for line in marks_path.read_text(encoding="utf-8").splitlines():
        stamp, label = line.split("\t", 1)
        marks.append((float(stamp), label))
    points = [(started, "start"), *marks, (ended, "exit")]
    names = {
        "start": "interpreter start",
        "started": "imports",
        "imported": "settings, migrations, catalogue",
        "returned": "report and exit",
    }
    phases: dict[str, float] = {}
    for (t, label), (t_next, _) in itertools.pairwise(points):
        key = STEP_NAMES.get(label, names.get(label, label))
        phases[key] = phases.get(key, 0.0) + max(0.0, t_next - t)
    return phases


def doudi_cmd(log_stem: Path, *args: str) -> list[str]:
    """``doudi ARGS`` through the step-timing wrapper, marks to ``<log_stem>.marks``."""
    marks = log_stem.with_name(log_stem.name + ".marks")
    marks.unlink(missing_ok=True)
    return [sys.executable, str(Path(__file__).resolve()), "--child", "cli", str(marks), *args]


def child_cmd(kind: str, *args: str) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--child", kind, *args]


# --- the benchmark ------------------------------------------------------------------------------


def import_counts(url: str) -> list[dict[str, Any]]:
    """The imports table of a Doudi database: one dict per import, oldest first."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT id, rows_read, rows_new, rows_updated, rows_unchanged, rows_rejected "
                    "FROM imports ORDER BY id"
                )
            ).mappings()
            return [dict(r) for r in rows]
    finally:
        engine.dispose()


class Bench:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.work = work
        self.logs = work / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.runs: list[Run] = []
        self.info: dict[str, Any] = {}
        self.round = 0
        self.source: Path | None = None

    def env(self, **doudi: str) -> dict[str, str]:
        return clean_env(self.source, **doudi)

    def stem(self, name: str) -> Path:
        return self.logs / f"{name.replace(' ', '-')}.{self.round}"

    def measure(self, name: str, cmd: Sequence[str], env: dict[str, str]) -> Run:
        run = measure(name, cmd, env, self.stem(name), self.work, _phases)
        run.extra["round"] = self.round
        return run

    def log(self, msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    def add(self, run: Run) -> Run:
        self.runs.append(run)
        rows = run.counts.get("rows_read") or run.extra.get("rows")
        self.log(
            f"{run.name}: {run.wall_s:.1f} s, peak RSS {run.peak_rss_mb:,.0f} MB"
            + (f", {rows:,} rows" if rows else "")
            + f" (load {loadavg()})"
        )
        return run

    def fresh_dir(self, name: str) -> Path:
        d = self.work / name
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
        return d

    def demo(self) -> Path:
        a = self.args
        data = self.fresh_dir("demo")
        env = self.env(data_dir=str(data))
        cmd = doudi_cmd(self.stem("demo"), "demo", "--persons", str(a.persons), "--seed", str(a.seed))
        run = self.add(self.measure("demo", [*cmd, "--as-of", a.as_of], env))
        counts = import_counts(f"sqlite:///{data / 'doudi.sqlite3'}")
        run.counts = {k: v for k, v in counts[-1].items() if k != "id"}
        run.extra["persons"] = a.persons
        return data

    def roster(self, demo_dir: Path) -> tuple[Path, Path]:
        utf8, gbk = self.work / "roster-utf8.csv", self.work / "roster-gbk.csv"
        cmd = child_cmd("roster", str(demo_dir), str(self.args.roster_persons), str(utf8), str(gbk))
        run = self.measure("roster", cmd, self.env())
        run.extra.update(last_json(run.stdout))
        self.add(run)
        return utf8, gbk

    def doudi_import(self, name: str, env: dict[str, str], csv: Path, url: str) -> Run:
        cmd = doudi_cmd(self.stem(name), "registry", "import", str(csv), "--as-of", self.args.as_of)
        run = self.measure(name, cmd, env)
        run.counts = {k: v for k, v in import_counts(url)[-1].items() if k != "id"}
        run.extra["file"] = csv.name
        return self.add(run)

    def upgrade(self, env: dict[str, str]) -> None:
        done = subprocess.run(
            doudi_cmd(self.stem("upgrade"), "db", "upgrade"),
            env=env,
            cwd=self.work,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise RuntimeError(f"doudi db upgrade exited with {done.returncode}:\n{done.stdout}{done.stderr}")

    def sqlite(self, utf8: Path, gbk: Path) -> None:
        base = self.fresh_dir("baseline-sqlite")
        run = self.measure(
            "sqlite baseline", child_cmd("baseline-sqlite", str(utf8), str(base / "b.sqlite3")), self.env()
        )
        run.extra.update(last_json(run.stdout))
        self.add(run)

        data = self.fresh_dir("sqlite")
        env = self.env(data_dir=str(data))
        url = f"sqlite:///{data / 'doudi.sqlite3'}"
        self.upgrade(env)
        self.doudi_import("sqlite import", env, utf8, url)
        self.doudi_import("sqlite re-import", env, utf8, url)
        db_bytes = sum(f.stat().st_size for f in data.glob("doudi.sqlite3*"))
        self.info["sqlite"] = {"doudi_sqlite3_mb": round(db_bytes / 2**20)}

        data = self.fresh_dir("sqlite-gbk")
        env = self.env(data_dir=str(data))
        self.upgrade(env)
        self.doudi_import("sqlite import gbk", env, gbk, f"sqlite:///{data / 'doudi.sqlite3'}")

    def postgres(self, server: str, utf8: Path, gbk: Path) -> None:
        settings = (
            "server_version", "shared_buffers", "fsync", "synchronous_commit", "wal_level",
            "max_wal_size", "checkpoint_timeout", "full_page_writes",
        )  # fmt: skip
        shown = pg_admin(server, *(f"SHOW {s}" for s in settings))
        self.info["postgres"] = {s: r[0][0] for s, r in zip(settings, shown, strict=True)}

        def checkpoint() -> None:
            pg_admin(server, "CHECKPOINT")

        url = pg_fresh_db(server, "doudi_bench_baseline")
        checkpoint()
        run = self.measure(
            "postgres baseline", child_cmd("baseline-postgres", str(utf8), conninfo(url)), self.env()
        )
        run.extra.update(last_json(run.stdout))
        self.add(run)
        pg_admin(server, "DROP DATABASE doudi_bench_baseline")

        url = pg_fresh_db(server, "doudi_bench")
        env = self.env(data_dir=str(self.fresh_dir("postgres")), database_url=url)
        self.upgrade(env)
        checkpoint()
        self.doudi_import("postgres import", env, utf8, url)
        checkpoint()
        self.doudi_import("postgres re-import", env, utf8, url)
        sizes = pg_admin(server, "SELECT pg_size_pretty(pg_database_size('doudi_bench'))")
        self.info["postgres"]["doudi_bench_size"] = sizes[0][0][0]

        url = pg_fresh_db(server, "doudi_bench_gbk")
        env = self.env(data_dir=str(self.fresh_dir("postgres-gbk")), database_url=url)
        self.upgrade(env)
        checkpoint()
        self.doudi_import("postgres import gbk", env, gbk, url)
        pg_admin(server, "DROP DATABASE doudi_bench", "DROP DATABASE doudi_bench_gbk")

    def run(self) -> None:
        a = self.args
        self.info["machine"] = machine()
        if a.source:
            self.source = self.work / "src"
            shutil.rmtree(self.source, ignore_errors=True)
            self.info["code"] = snapshot_source(a.source, self.source)
        else:
            self.info["code"] = working_tree_source()
        probe = subprocess.run(
            [sys.executable, "-c", "import doudi; print(doudi.__file__)"],
            env=self.env(),
            cwd=self.work,
            capture_output=True,
            text=True,
            check=True,
        )
        self.info["code"]["package_dir"] = str(Path(probe.stdout.strip()).parent)
        self.info["load_before"] = loadavg()
        self.log(f"work dir {self.work}; code {self.info['code']}; load {self.info['load_before']}")
        demo_dir = self.demo()
        utf8, gbk = self.roster(demo_dir)
        if not a.keep:
            shutil.rmtree(demo_dir, ignore_errors=True)  # the province is no longer needed
        for self.round in range(1, a.repeat + 1):
            if not a.no_sqlite:
                self.sqlite(utf8, gbk)
        if not a.no_postgres:
            if a.postgres_url:
                for self.round in range(1, a.repeat + 1):
                    self.postgres(server_url(a.postgres_url), utf8, gbk)
            else:
                with throwaway_cluster(self.log) as server:
                    for self.round in range(1, a.repeat + 1):
                        self.postgres(server, utf8, gbk)
        self.info["load_after"] = loadavg()


# --- report ---------------------------------------------------------------------------------------


def _fmt_int(v: float | None) -> str:
    return "" if v is None else f"{v:,.0f}"


@dataclass
class Figure:
    """The runs of one name (one per round): median wall time, highest peak RSS."""

    runs: list[Run]

    @property
    def name(self) -> str:
        return self.runs[0].name

    @property
    def median_run(self) -> Run:
        return sorted(self.runs, key=lambda r: r.wall_s)[(len(self.runs) - 1) // 2]

    @property
    def wall_s(self) -> float:
        walls = sorted(r.wall_s for r in self.runs)
        mid = len(walls) // 2
        return walls[mid] if len(walls) % 2 else (walls[mid - 1] + walls[mid]) / 2

    @property
    def peak_rss_mb(self) -> float:
        return max(r.peak_rss_mb for r in self.runs)

    @property
    def spread(self) -> str:
        if len(self.runs) == 1:
            return ""
        walls = [r.wall_s for r in self.runs]
        return f"{min(walls):.1f}–{max(walls):.1f}"

    @property
    def rows(self) -> int | None:
        run = self.runs[0]
        if "persons" in run.extra:  # the demo: persons generated
            return int(run.extra["persons"])
        if "rows_read" in run.counts:
            return int(run.counts["rows_read"])
        if "rows" in run.extra:
            return int(run.extra["rows"])
        return None


def report(bench: Bench) -> tuple[str, dict[str, Any]]:
    groups: dict[str, list[Run]] = {}
    for r in bench.runs:
        groups.setdefault(r.name, []).append(r)
    figs = {name: Figure(runs) for name, runs in groups.items()}
    repeats = max((len(f.runs) for f in figs.values()), default=1)
    wall_head = "wall s (median)" if repeats > 1 else "wall s"
    lines = [
        f"| run | rows | {wall_head} | range s | peak RSS MB | rows/s | baseline rows/s "
        "| time ÷ baseline | target | met |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    figures: list[dict[str, Any]] = []

    def row(fig: Figure, base: Figure | None, target: tuple[float, float] | None) -> None:
        rows = fig.rows
        rate = rows / fig.wall_s if rows else None
        base_rate = ratio = None
        if base is not None and base.rows:
            base_rate = base.rows / base.wall_s
            ratio = fig.wall_s / base.wall_s
        met = tgt = ""
        if target is not None:
            tgt = f"< {target[0]:.0f} s, < {target[1] / 1024:.0f} GB"
            met = "yes" if fig.wall_s < target[0] and fig.peak_rss_mb < target[1] else "**no**"
        lines.append(
            f"| {fig.name} | {_fmt_int(rows)} | {fig.wall_s:.1f} | {fig.spread} | {fig.peak_rss_mb:,.0f} "
            f"| {_fmt_int(rate)} | {_fmt_int(base_rate)} | {'' if ratio is None else f'{ratio:.1f}×'} "
            f"| {tgt} | {met} |"
        )
        figures.append(
            {
                "name": fig.name,
                "rows": rows,
                "wall_s_median": round(fig.wall_s, 2),
                "peak_rss_mb_max": round(fig.peak_rss_mb),
                "rows_per_s": None if rate is None else round(rate),
                "baseline": base.name if base else None,
                "baseline_rows_per_s": None if base_rate is None else round(base_rate),
                "ratio_time_vs_baseline": None if ratio is None else round(ratio, 2),
                "target": tgt or None,
                "met": None if not met else met == "yes",
                "runs": [r.as_dict() for r in fig.runs],
            }
        )

    if "demo" in figs:
        row(figs["demo"], None, (DEMO_TARGET_S, DEMO_TARGET_RSS_MB))
    if "roster" in figs:
        row(figs["roster"], None, None)
    for db in ("sqlite", "postgres"):
        base = figs.get(f"{db} baseline")
        if base is not None:
            row(base, None, None)
        for suffix in ("import", "re-import", "import gbk"):
            fig = figs.get(f"{db} {suffix}")
            if fig is not None:
                row(fig, base, (IMPORT_TARGET_S, IMPORT_TARGET_RSS_MB))

    # Phases of the median run of each name.
    order = ["interpreter start", "imports", "settings, migrations, catalogue", *STEP_NAMES.values()]
    order.append("report and exit")
    medians = [f.median_run for f in figs.values() if f.median_run.phases]
    seen = {p for r in medians for p in r.phases}
    phase_names = [p for p in order if p in seen] + sorted(seen - set(order))
    phase_lines = [
        "| phase (s) | " + " | ".join(r.name for r in medians) + " |",
        "|---|" + "---:|" * len(medians),
    ]
    for p in phase_names:
        cells = [f"{r.phases[p]:.1f}" if p in r.phases else "" for r in medians]
        phase_lines.append(f"| {p} | " + " | ".join(cells) + " |")

    count_lines = ["| run | read | new | updated | unchanged | rejected |", "|---|---:|---:|---:|---:|---:|"]
    for f in figs.values():
        c = f.runs[0].counts
        if c:
            count_lines.append(
                f"| {f.name} | {c['rows_read']:,} | {c['rows_new']:,} | {c['rows_updated']:,} "
                f"| {c['rows_unchanged']:,} | {c['rows_rejected']:,} |"
            )
    text = "\n".join([*lines, "", *phase_lines, "", *count_lines])
    result = {
        "date": dt.date.today().isoformat(),
        "command": " ".join(["python", "bench/bench_registry.py", *sys.argv[1:]]),
        "persons": bench.args.persons,
        "roster_persons": bench.args.roster_persons,
        "seed": bench.args.seed,
        "as_of": bench.args.as_of,
        "repeat": bench.args.repeat,
        **bench.info,
        "figures": figures,
    }
    return text, result


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--persons", type=int, default=5_000_000, help="province size for doudi demo")
    parser.add_argument(
        "--roster-persons", type=int, default=1_000_000, help="persons in the imported roster"
    )
    parser.add_argument("--seed", type=int, default=52)
    parser.add_argument("--as-of", default="2026-11-01", help="date of the demo and of the imports")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run the SQLite and PostgreSQL blocks this many times; the report shows the median wall "
        "time and the highest peak RSS",
    )
    parser.add_argument(
        "--source",
        default=None,
        metavar="REV",
        help="measure the package as committed at git REV (e.g. HEAD), exported to the work dir, "
        "instead of the working tree",
    )
    parser.add_argument(
        "--postgres-url",
        default=None,
        help="postgresql+psycopg://user@host:port — a server where the role may create and drop "
        "databases doudi_bench*; without it a throw-away cluster is started",
    )
    parser.add_argument("--no-sqlite", action="store_true", help="skip the SQLite imports")
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL imports")
    parser.add_argument(
        "--work-dir", type=Path, default=None, help="where the files go (default: a temp dir)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the work dir (and the demo's province)")
    parser.add_argument(
        "--results", type=Path, default=ROOT / "bench" / "results", help="where the JSON goes"
    )
    args = parser.parse_args()
    dt.date.fromisoformat(args.as_of)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    work = args.work_dir or Path(tempfile.mkdtemp(prefix="doudi-bench-registry-"))
    work.mkdir(parents=True, exist_ok=True)
    bench = Bench(args, work)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks on kill
    error: BaseException | None = None
    try:
        bench.run()
    except BaseException as exc:
        error = exc
        raise
    finally:
        text, result = report(bench)
        print(text, flush=True)
        args.results.mkdir(parents=True, exist_ok=True)
        full = (args.persons, args.roster_persons) == (5_000_000, 1_000_000)
        suffix = "" if full else f"-{args.persons}-{args.roster_persons}"
        if error is not None:
            suffix += "-incomplete"  # never overwrite a complete result with a failed run
            result["error"] = f"{type(error).__name__}: {error}"[:4000]
        out = args.results / f"registry-{result['date']}{suffix}.json"
        out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        bench.log(f"results: {out}")
        if not args.keep and args.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
