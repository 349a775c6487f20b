"""Benchmark of the web application (issue 6) on PostgreSQL: signed-in clients under load.

1. ``prepare``, ``enrol``, ``alerts`` (not targets): the province of ``--persons`` persons and its
   registry in a fresh PostgreSQL database, its 12 months of feeds with the death feeds loaded,
   the go-live enrolment of recipients and a year of alerts — bench/bench_cases.py's own steps
   (its child processes, run as they are), so both benchmarks measure the same database; and
   ``feeds``: the other generated feed files (vehicles, real estate, pensions, …; 12 months)
   loaded through the loader, so that the household page's feed matches read what a
   province's would (``--deaths-only`` skips it).
2. ``accounts`` (not a target): one township caseworker with a password per client, each in
   its own township (the township with the most open alerts first, the rest drawn at random
   among the townships with open alerts), and for each township a sample of its households
   (half with an open alert, the rest any of its households) and their search terms, written
   to a plan file for the load generator.
3. The server, exactly as an operator starts it: ``doudi serve --workers 2`` (uvicorn, two worker
   processes) on a free 127.0.0.1 port, against that database.
4. ``load`` — the target (p95 < 200 ms per page, no errors): bench/web_load.py, a second process,
   signs ``--clients`` clients in (each its own session) and lets each cycle through its
   township's pages as a browser asks for them: the alert inbox (GET /alerts), the household
   search (POST /households/search as the page's HTMX form sends it, by the last four
   characters of a head's ID, a head's name or a household number), the household page
   (GET /households/<id>) and the two parts that page loads as soon as it arrives (the
   programs' assessment and the feeds' matches: GET /households/<id>/assessment and /feeds,
   held to the same target), for ``--duration`` seconds or ``--max-requests`` requests, whichever
   comes first. One timed run per ``--think-ms`` value on the same server: ``0`` is a closed loop
   with every client's next request sent as soon as the previous one is answered (``--clients``
   requests always in flight: the hardest reading of "50 concurrent clients"); ``1000`` gives
   each client a pause of 0.5–1.5 s between pages (people reading a page before the next click).
   Before them, on the same server, the baseline: the same clients on GET /healthz with no pause
   (the app, its middlewares and uvicorn; no session, no database, no template) — the floor any
   page stands on, on this machine (``--no-baseline`` skips it); and one client alone on the
   pages, no pause: each page's own time, without queueing (``--no-single`` skips it).

Why an asyncio client of our own rather than locust: no new dependency (httpx2 is in the test
extra); each request is timed exactly (locust rounds response times above 100 ms to two
significant digits before its percentiles); the bounds on run time and request count are hard;
each client has its own cookie jar, session, CSRF token and keep-alive connection, and signs in
through the real login form in a few lines; no gevent monkey-patching. One asyncio process drives
the 50 clients with a fraction of a core at the rates this server reaches; the report gives the
CPU the load generator, the server and the whole machine used, so a saturated client would show.

    python bench/bench_web.py                        # 5M persons (the lead runs this)
    python bench/bench_web.py --persons 200000       # quick check, ~7 min (4 timed runs of 60 s)

Prints a Markdown table and writes bench/results/web-<date>[-<persons>].json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import bench_cases
from harness import (
    ROOT,
    Run,
    clean_env,
    free_port,
    git,
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

P95_TARGET_MS = 200.0
TARGET_PAGES = ("alerts", "search", "detail")  # the three pages
DETAIL_PARTS = ("assessment", "feeds")  # the household page loads them as soon as it arrives
PAGES = (*TARGET_PAGES, *DETAIL_PARTS)  # each held to the target
PASSWORD = "bench-Passw0rd-web"
DB_NAME = "doudi_bench_web"
HOUSEHOLDS_PER_TOWNSHIP = 40
SERVER_START_TIMEOUT_S = 120


# --- child: accounts and the plan of the load ------------------------------------------------


def _child_accounts(clients: int, seed: int, plan_path: str) -> None:
    import random

    from sqlalchemy import bindparam, text

    from doudi.auth.users import create_user

    engine = bench_cases._engine()
    rng = random.Random(seed)
    t = time.perf_counter()
    with engine.connect() as conn:
        open_by_town = {
            str(town): int(n)
            for town, n in conn.execute(
                text(
                    """SELECT township_code, count(*) FROM alerts WHERE closed_at IS NULL
                       GROUP BY township_code ORDER BY 2 DESC, 1"""
                )
            )
        }
    ranked = list(open_by_town)
    towns = ranked[:1] + rng.sample(ranked[1:], min(clients - 1, len(ranked) - 1))
    towns = (towns * (clients // len(towns) + 1))[:clients]  # fewer townships than clients: share
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                """SELECT h.id, h.household_no, hv.division_code, hv.head_citizen_id, pv.name,
                          EXISTS (SELECT 1 FROM alerts a WHERE a.household_id = h.id
                                  AND a.closed_at IS NULL) AS open_alert
                   FROM households h
                   JOIN household_versions hv ON hv.household_id = h.id AND hv.valid_to IS NULL
                   JOIN persons p ON p.citizen_id = hv.head_citizen_id
                   JOIN person_versions pv ON pv.person_id = p.id AND pv.valid_to IS NULL
                   WHERE substr(hv.division_code, 1, 9) IN :towns
                   ORDER BY h.id"""
            ).bindparams(bindparam("towns", expanding=True)),
            {"towns": sorted(set(towns))},
        ).all()
        alert_rows = conn.execute(
            text(
                """SELECT township_code, id FROM alerts WHERE closed_at IS NULL
                   AND township_code IN :towns ORDER BY id"""
            ).bindparams(bindparam("towns", expanding=True)),
            {"towns": sorted(set(towns))},
        ).all()
    open_alerts: dict[str, list[int]] = {}
    for town, alert_id in alert_rows:
        open_alerts.setdefault(str(town), []).append(int(alert_id))
    by_town: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_town.setdefault(r.division_code[:9], []).append(
            {
                "id": int(r.id),
                "household_no": r.household_no,
                "division_code": r.division_code,
                "head_citizen_id": r.head_citizen_id,
                "head_name": r.name,
                "open_alert": bool(r.open_alert),
            }
        )
    plan_clients = []
    for i, town in enumerate(towns):
        username = f"bench_web_{i:03d}"
        create_user(
            engine,
            username=username,
            display_name=f"压测用户{i}",
            role="township_caseworker",
            division_code=town,
            password=PASSWORD,
            created_by="bench",
        )
        mine = by_town.get(town, [])
        alerted = [h for h in mine if h["open_alert"]]
        others = [h for h in mine if not h["open_alert"]]
        half = HOUSEHOLDS_PER_TOWNSHIP // 2
        pick = rng.sample(alerted, min(half, len(alerted)))
        pick += rng.sample(others, min(HOUSEHOLDS_PER_TOWNSHIP - len(pick), len(others)))
        if not pick:
            raise SystemExit(f"township {town} has no household")
        plan_clients.append(
            {
                "username": username,
                "township": town,
                "open_alerts": open_by_town[town],
                "households_in_township": len(mine),
                "households": pick,
                "alerts": rng.sample(open_alerts[town], min(20, len(open_alerts[town]))),
            }
        )
    Path(plan_path).write_text(
        json.dumps({"password": PASSWORD, "clients": plan_clients}, ensure_ascii=False), encoding="utf-8"
    )
    open_counts = sorted(c["open_alerts"] for c in plan_clients)
    print(
        json.dumps(
            {
                "accounts": len(plan_clients),
                "townships": len(set(towns)),
                "townships_with_open_alerts": len(ranked),
                "open_alerts_busiest": open_counts[-1],
                "open_alerts_median": open_counts[len(open_counts) // 2],
                "households_sampled": sum(len(c["households"]) for c in plan_clients),
                "write_s": round(time.perf_counter() - t, 2),
            }
        )
    )


def _child_feeds() -> None:
    """Load every feed file the prepare step generated but did not load (all but the deaths),
    through the loader, as the departments' uploads would have: the household page shows the
    rows of the loads in force that name a member."""
    from doudi.feeds.service import load_feed
    from doudi.settings import get_settings

    s = get_settings()
    engine = bench_cases._engine()
    t = time.perf_counter()
    files = rows = 0
    by_kind: dict[str, int] = {}
    for path in sorted((s.data_dir / "incoming").glob("*/*.parquet")):
        kind, period = path.stem, path.parent.name
        if kind == "death":  # loaded by bench_cases' prepare
            continue
        good = load_feed(engine, s, kind, path, period, actor="bench").rows_good
        files += 1
        rows += good
        by_kind[kind] = by_kind.get(kind, 0) + good
    print(
        json.dumps(
            {"files": files, "rows": rows, "by_kind": by_kind, "load_s": round(time.perf_counter() - t, 2)}
        )
    )


def _child(argv: list[str]) -> None:
    kind, rest = argv[0], argv[1:]
    if kind == "feeds":
        _child_feeds()
    elif kind == "accounts":
        _child_accounts(int(rest[0]), int(rest[1]), rest[2])
    else:
        raise SystemExit(f"unknown child {kind!r}")


def child_cmd(kind: str, *args: str) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--child", kind, *args]


# --- the server ------------------------------------------------------------------------------


class Server:
    """``doudi serve --workers N`` on a free loopback port; stopped (SIGINT, then SIGKILL) on exit."""

    def __init__(self, env: dict[str, str], workers: int, log_path: Path, cwd: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        doudi = Path(sys.executable).with_name("doudi")
        self.cmd = [str(doudi), "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        self.cmd += ["--workers", str(workers)]
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(self.cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env, cwd=cwd)

    def wait_ready(self) -> float:
        t = time.perf_counter()
        while time.perf_counter() - t < SERVER_START_TIMEOUT_S:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as r:
                    if r.status == 200 and self._workers_up():
                        return time.perf_counter() - t
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"server not ready in {SERVER_START_TIMEOUT_S} s:\n{self.tail()}")

    def _workers_up(self) -> bool:
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return text.count("Application startup complete") >= self.workers

    @property
    def workers(self) -> int:
        return int(self.cmd[self.cmd.index("--workers") + 1])

    def tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

    def server_errors(self) -> int:
        """Lines of the server's log that report an exception or a 5xx answer (the latter only
        with ``--access-log``; the load generator counts every non-200 answer itself)."""
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return sum(
            1
            for line in text.splitlines()
            if "Traceback" in line or "Exception in ASGI" in line or '" 50' in line
        )


# --- the benchmark ---------------------------------------------------------------------------


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

    def prepare(self, server: str) -> str:
        """The province, recipients and a year of alerts (bench_cases' steps); the database URL."""
        a = self.args
        if a.reuse_db:
            url = f"{server}/{DB_NAME}"
            self.log(f"reusing {url} (--reuse-db: no prepare, accounts from the earlier run)")
            return url
        url = pg_fresh_db(server, DB_NAME)
        env = clean_env(self.source, data_dir=str(self.work / "data"), database_url=url)
        window = [_shift(a.period, -k) for k in range(11, -1, -1)]
        cases = bench_cases.child_cmd
        self.measure("prepare", cases("prepare", str(a.persons), str(a.seed), ",".join(window)), env)
        pg_admin(server, "CHECKPOINT")
        self.measure("enrol", cases("enrol", a.period), env)
        if a.all_feeds:
            self.measure("feeds", child_cmd("feeds"), env)
        self.measure("alerts", cases("alerts", str(a.persons), str(a.seed), a.period), env)
        self.measure("accounts", child_cmd("accounts", str(a.clients), str(a.seed), str(self.plan)), env)
        pg_admin(server, "ANALYZE", database=DB_NAME)
        pg_admin(server, "CHECKPOINT")
        return url

    @property
    def plan(self) -> Path:
        return self.work / "plan.json"

    def load(self, url: str) -> None:
        a = self.args
        env = clean_env(self.source, data_dir=str(self.work / "data"), database_url=url)
        server = Server(env, a.workers, self.logs / "server.out", self.work)
        self.info["server_command"] = " ".join([Path(server.cmd[0]).name, *server.cmd[1:]])
        try:
            ready = server.wait_ready()
            self.log(f"server {server.url} ({a.workers} workers) ready in {ready:.1f} s")
            runs = [(f"load think {t:g} ms", a.pages, t, a.clients) for t in a.think_ms]
            if a.single:
                runs.insert(0, ("single client", a.pages, 0.0, 1))
            if a.baseline:
                runs.insert(0, ("baseline healthz", "healthz", 0.0, a.clients))
            for name, pages, think, clients in runs:
                cmd = [sys.executable, str(Path(__file__).with_name("web_load.py")), str(self.plan)]
                cmd += ["--url", server.url, "--clients", str(clients), "--pages", pages]
                cmd += ["--duration", str(a.duration), "--max-requests", str(a.max_requests)]
                cmd += ["--think-ms", str(think), "--seed", str(a.seed), "--server-pid", str(server.proc.pid)]
                run = self.measure(name, cmd, clean_env(None))
                run.extra["command"] = " ".join(["python", "bench/web_load.py", *cmd[3:]])
        finally:
            server.stop()
            self.info["server_log_errors"] = server.server_errors()
            self.info["server_log_tail"] = server.tail(1500)

    def run(self) -> None:
        a = self.args
        self.info["machine"] = machine()
        if a.source:
            self.source = self.work / "src"
            self.info["code"] = snapshot_source(a.source, self.source)
        elif a.source_dir:
            self.source = a.source_dir.resolve()
            self.info["code"] = {
                "commit": "unknown",
                "source": f"directory {self.source}",
                "head_at_run": git("rev-parse", "HEAD"),
            }
        else:
            self.info["code"] = working_tree_source()
        self.info["args"] = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items()}
        self.info["command"] = " ".join(["python", "bench/bench_web.py", *sys.argv[1:]])
        self.info["load_before"] = loadavg()
        if a.postgres_url:
            self._on(server_url(a.postgres_url))
        else:
            with throwaway_cluster(self.log) as server:
                self._on(server)
        self.info["load_after"] = loadavg()

    def _on(self, server: str) -> None:
        url = self.prepare(server)
        self.load(url)
        if not self.args.keep:
            pg_admin(server, f"DROP DATABASE {DB_NAME}")


def _shift(period: str, months: int) -> str:
    from doudi.periods import Period

    return str(Period.parse(period).shift(months))


def _default_period() -> str:
    """Last month: its alerts are raised in the first days of this month (open ones overdue,
    as the server's clock sees them)."""
    first = dt.date.today().replace(day=1)
    return (first - dt.timedelta(days=1)).strftime("%Y-%m")


def report(bench: Bench) -> tuple[str, dict[str, Any]]:
    lines = [
        "| step | wall s | peak RSS MB | detail |",
        "|---|---:|---:|---|",
    ]
    out: dict[str, Any] = {"runs": [r.as_dict() for r in bench.runs]}
    loads = []
    for r in bench.runs:
        e = r.extra
        if r.name == "prepare":
            detail = (
                f"{e['persons']:,} persons, registry {e['registry_persons']:,} persons in "
                f"{e['registry_households']:,} households; phases {e['phases_s']}"
            )
        elif r.name == "enrol":
            detail = f"{e['recipients']:,} recipients in {e['households']:,} households"
        elif r.name == "feeds":
            detail = f"{e['files']} more feed files loaded, {e['rows']:,} rows: {e['by_kind']}"
        elif r.name == "alerts":
            detail = (
                f"{e['alerts']:,} alerts ({e['per_month']:,}/month × 12), {e['open']:,} open, "
                f"{e['townships']:,} townships"
            )
        elif r.name == "accounts":
            detail = (
                f"{e['accounts']} caseworkers in {e['townships']} townships (open alerts: busiest "
                f"{e['open_alerts_busiest']}, median {e['open_alerts_median']}); "
                f"{e['households_sampled']:,} households sampled"
            )
        else:
            loads.append(r)
            detail = (
                f"{e['clients']} clients, think {e['think_ms']:g} ms: {e['requests']:,} requests in "
                f"{e['timed_s']} s ({e['per_s']}/s), {e['errors']} errors; CPU s: {e['cpu']}"
            )
        lines.append(f"| {r.name} | {r.wall_s:.1f} | {r.peak_rss_mb:,.0f} | {detail} |")
    figures = [
        "| clients | think ms | page | requests | errors | p50 ms | p95 ms | p99 ms | max ms | target | met |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    met_all = bool(loads)
    for r in loads:
        e = r.extra
        for page, s in e["by_page"].items():
            target = page in PAGES and e["clients"] == bench.args.clients
            ok = s["errors"] == 0 and s["p95_ms"] < P95_TARGET_MS
            met_all = met_all and (ok or not target)
            figures.append(
                f"| {e['clients']} | {e['think_ms']:g} | {page} | {s['requests']:,} | {s['errors']} | "
                f"{s['p50_ms']} | {s['p95_ms']} | {s['p99_ms']} | {s['max_ms']} | "
                f"{f'p95 < {P95_TARGET_MS:.0f} ms, no errors' if target else ''} | "
                f"{('yes' if ok else '**no**') if target else ''} |"
            )
        out.setdefault("p95_ms", {})[f"think {e['think_ms']:g} ms"] = {
            page: s["p95_ms"] for page, s in e["by_page"].items()
        }
    missing = [p for p in TARGET_PAGES if p not in bench.args.pages.split(",")]
    out["target_met"] = met_all and not missing
    m = bench.info["machine"]
    header = (
        f"Machine: {m['nproc']} vCPU {m['cpu']}, {m.get('mem_gib')} GiB; code {bench.info['code']['commit'][:7]} "
        f"({bench.info['code']['source']}); load {bench.info.get('load_before')} → {bench.info.get('load_after')}; "
        f"server: {bench.info.get('server_command')}; server log errors: {bench.info.get('server_log_errors')}"
    )
    if missing:
        header += f"\n\n**Pages not measured: {', '.join(missing)}** (target not checked)."
    out.update(bench.info)
    return header + "\n\n" + "\n".join(lines) + "\n\n" + "\n".join(figures), out


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
        "--period",
        default=_default_period(),
        help="the last of the 12 months of alerts (default: last month, so they are due by now)",
    )
    parser.add_argument("--clients", type=int, default=50, help="concurrent signed-in clients")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument(
        "--pages",
        default=",".join(PAGES),
        help="the cycle of each client, of alerts,search,detail,assessment,feeds,alert,dashboard",
    )
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of each timed run at most")
    parser.add_argument("--max-requests", type=int, default=50_000, help="requests of each timed run at most")
    parser.add_argument(
        "--think-ms",
        type=lambda v: [float(x) for x in v.split(",")],
        default=[0.0, 1000.0],
        help="pause between a client's requests, one timed run per value (default 0,1000)",
    )
    parser.add_argument(
        "--deaths-only",
        dest="all_feeds",
        action="store_false",
        help="load only the death feeds (as bench_cases does), not every generated feed",
    )
    parser.add_argument(
        "--no-baseline",
        dest="baseline",
        action="store_false",
        help="skip the baseline run (GET /healthz, think 0: the app's floor without session or database)",
    )
    parser.add_argument(
        "--no-single",
        dest="single",
        action="store_false",
        help="skip the single-client run (one client, no pause: each page's own time without queueing)",
    )
    parser.add_argument(
        "--source", default=None, metavar="REV", help="measure the package as committed at REV"
    )
    parser.add_argument(
        "--source-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="measure the package in DIR/doudi (a patched export, to compare with --source HEAD)",
    )
    parser.add_argument(
        "--postgres-url", default=None, help="a server to use instead of a throw-away cluster"
    )
    parser.add_argument(
        "--reuse-db",
        action="store_true",
        help=f"with --postgres-url and --work-dir of a --keep run: load only, on its {DB_NAME}",
    )
    parser.add_argument("--work-dir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the database and the work dir")
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    if args.reuse_db and not (args.postgres_url and args.work_dir):
        parser.error("--reuse-db needs --postgres-url and the --work-dir of a --keep run")
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="doudi-bench-web-"))
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
        path = args.results / f"web-{dt.date.today().isoformat()}{suffix}.json"
        path.write_text(json.dumps(result, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
        print(f"results: {path}")
        if not args.keep and args.work_dir is None:
            import shutil

            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
