"""The load generator of bench/bench_web.py: signed-in clients of a running Doudi server.

Run as its own process (the "second process" of the figure), it reads a plan written by
bench_web.py (one account per client, with the households of its township and search terms),
signs every client in through the login form (each its own cookie jar, session and CSRF token,
and its own keep-alive connection, as a browser tab has), runs ``--warmup`` untimed cycles, then
lets every client cycle through ``--pages`` (alert inbox, household search, household page and
the two parts it loads, …) until ``--duration`` seconds have passed or ``--max-requests`` requests have been sent,
whichever comes first. Closed loop: a client sends its next request when the previous one has
been answered (after ``--think-ms``, ±50 %, when given). Each request is timed from send to the
last byte of the body. Prints one JSON line: per page count, errors, p50/p95/p99/max; the
throughput; the CPU used by this process, by the server's processes (``--server-pid`` and its
children) and by the whole machine during the timed window.

Only loopback servers: the base URL must be http://127.0.0.1 or http://localhost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import re
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

try:  # the test extra installs httpx2 (Starlette's TestClient prefers it); httpx has the same API
    import httpx2 as httpx
except ImportError:  # pragma: no cover
    import httpx  # type: ignore[no-redef]

CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
HIDDEN_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PAGES = ("alerts", "search", "detail", "assessment", "feeds", "alert", "dashboard", "healthz")


# --- CPU accounting from /proc ---------------------------------------------------------------

TICK = os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            text = Path(f"/proc/{pid}/task/{tid}/children").read_text()
            out.extend(int(c) for c in text.split())
    except OSError:
        pass
    return out


def tree_cpu_s(pid: int | None) -> float:
    """CPU seconds (user + system) of ``pid`` and every live descendant."""
    if pid is None:
        return 0.0
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / TICK  # utime, stime
        todo.extend(_children(p))
    return total


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    total = sum(values[:8])  # guest time is already counted in user
    return (total - idle) / TICK, total / TICK


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def own_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


# --- the clients -----------------------------------------------------------------------------


@dataclass
class Sample:
    page: str
    ms: float
    status: int
    error: str | None
    end: float = 0.0


@dataclass
class Budget:
    """The shared bounds of the timed run: a deadline and a number of requests."""

    deadline: float
    left: int

    def take(self) -> bool:
        if self.left <= 0 or time.perf_counter() >= self.deadline:
            return False
        self.left -= 1
        return True


@dataclass
class Client:
    no: int
    spec: dict[str, Any]
    http: httpx.AsyncClient
    rng: random.Random
    csrf: str = ""
    current: dict[str, Any] | None = None
    samples: list[Sample] = field(default_factory=list)

    async def sign_in(self, password: str) -> None:
        form = await self.http.get("/login")
        token = HIDDEN_CSRF.search(form.text)
        if form.status_code != 200 or not token:
            raise RuntimeError(f"client {self.no}: login form answered {form.status_code}")
        r = await self.http.post(
            "/login",
            data={
                "username": self.spec["username"],
                "password": password,
                "csrf_token": token.group(1),
                "next": "/",
            },
        )
        if r.status_code != 303:
            raise RuntimeError(
                f"client {self.no}: sign-in of {self.spec['username']} answered {r.status_code}"
            )
        home = await self.http.get("/")
        meta = CSRF_META.search(home.text)
        if home.status_code != 200 or not meta:
            raise RuntimeError(f"client {self.no}: dashboard after sign-in answered {home.status_code}")
        self.csrf = meta.group(1)

    def _household(self) -> dict[str, Any]:
        households: list[dict[str, Any]] = self.spec["households"]
        return households[self.rng.randrange(len(households))]

    async def _get(self, page: str) -> tuple[httpx.Response, str | None]:
        """One page as a signed-in user's browser asks for it; (answer, text it must contain)."""
        htmx = {"HX-Request": "true", "X-CSRF-Token": self.csrf}
        if page == "alerts":
            return await self.http.get("/alerts"), None
        if page == "alert":
            alerts: list[int] = self.spec["alerts"]
            return await self.http.get(f"/alerts/{alerts[self.rng.randrange(len(alerts))]}"), None
        if page == "dashboard":
            return await self.http.get("/"), None
        if page == "healthz":  # the floor: app and middlewares, no session, no database
            return await self.http.get("/healthz"), None
        if page == "search":  # as the page's form sends it (hx-post, results swapped in)
            h = self._household()
            form = search_form(h, self.rng)
            return await self.http.post(
                "/households/search",
                data={"csrf_token": self.csrf, **form},
                headers={**htmx, "HX-Target": "results"},
            ), f'/households/{h["id"]}"'
        if page == "detail":
            self.current = self._household()
            return await self.http.get(f"/households/{self.current['id']}"), self.current["household_no"]
        if page in ("assessment", "feeds"):  # loaded by the household page (hx-trigger="load")
            h = self.current or self._household()
            return await self.http.get(f"/households/{h['id']}/{page}", headers=htmx), None
        raise ValueError(page)

    async def request(self, page: str) -> Sample:
        """One page; a 200 with a body (holding what it must) is the only success."""
        start = time.perf_counter()
        status = 0
        error: str | None = None
        try:
            r, expect = await self._get(page)
            status = r.status_code
            if status != 200:
                error = f"HTTP {status}"
            elif not r.content:
                error = "empty body"
            elif expect is not None and expect not in r.text:
                error = "not found in the answer"
        except httpx.HTTPError as exc:
            error = type(exc).__name__
        end = time.perf_counter()
        return Sample(page, (end - start) * 1000, status, error, end)

    async def cycle(self, pages: list[str], think_s: float, budget: Budget | None) -> bool:
        """One pass over the pages; False once the budget is spent (timed run only)."""
        for page in pages:
            if budget is not None and not budget.take():
                return False
            sample = await self.request(page)
            if budget is not None:
                self.samples.append(sample)
            if think_s > 0:
                await asyncio.sleep(think_s * self.rng.uniform(0.5, 1.5))
            else:
                await asyncio.sleep(0)
        return True


def search_form(household: dict[str, Any], rng: random.Random) -> dict[str, str]:
    """The household search form (/households) as a caseworker fills it, within their own
    scope: the last four characters of the head's citizen ID (what the masked ID shows), the
    head's whole name, or the household number."""
    empty = {"id_tail": "", "name": "", "household_no": "", "division": ""}
    x = rng.random()
    if x < 0.4:
        return {**empty, "id_tail": household["head_citizen_id"][-4:]}
    if x < 0.8:
        return {**empty, "name": household["head_name"]}
    return {**empty, "household_no": household["household_no"]}


# --- statistics ------------------------------------------------------------------------------


def percentile(sorted_ms: list[float], q: float) -> float:
    """Nearest rank."""
    if not sorted_ms:
        return math.nan
    return sorted_ms[max(0, math.ceil(q * len(sorted_ms)) - 1)]


def summary(samples: list[Sample], wall_s: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for page in dict.fromkeys(s.page for s in samples):
        mine = [s for s in samples if s.page == page]
        ms = sorted(s.ms for s in mine)
        errors: dict[str, int] = {}
        for s in mine:
            if s.error:
                errors[s.error] = errors.get(s.error, 0) + 1
        out[page] = {
            "requests": len(mine),
            "errors": sum(errors.values()),
            "error_kinds": errors,
            "per_s": round(len(mine) / wall_s, 1) if wall_s else None,
            "p50_ms": round(percentile(ms, 0.50), 1),
            "p95_ms": round(percentile(ms, 0.95), 1),
            "p99_ms": round(percentile(ms, 0.99), 1),
            "max_ms": round(ms[-1], 1) if ms else None,
            "mean_ms": round(sum(ms) / len(ms), 1) if ms else None,
        }
    return out


# --- the run ---------------------------------------------------------------------------------


async def run(args: argparse.Namespace, plan: dict[str, Any]) -> dict[str, Any]:
    specs: list[dict[str, Any]] = plan["clients"]
    if len(specs) < args.clients:
        raise SystemExit(f"the plan has {len(specs)} accounts, {args.clients} clients asked for")
    pages = args.pages.split(",")
    unknown = set(pages) - set(PAGES)
    if unknown:
        raise SystemExit(f"unknown pages {sorted(unknown)}; known: {', '.join(PAGES)}")
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    timeout = httpx.Timeout(args.timeout_s)
    clients = [
        Client(
            i,
            specs[i],
            httpx.AsyncClient(base_url=args.url, follow_redirects=False, limits=limits, timeout=timeout),
            random.Random(args.seed * 1000 + i),
        )
        for i in range(args.clients)
    ]
    try:
        t = time.perf_counter()
        signing = asyncio.Semaphore(8)  # argon2 on the server: don't queue 50 hashes at once

        async def sign_in(c: Client) -> None:
            async with signing:
                await c.sign_in(plan["password"])

        await asyncio.gather(*(sign_in(c) for c in clients))
        sign_in_s = time.perf_counter() - t
        t = time.perf_counter()
        for _ in range(args.warmup):
            await asyncio.gather(*(c.cycle(pages, 0.0, None) for c in clients))
        warmup_s = time.perf_counter() - t

        think_s = args.think_ms / 1000
        load_before = loadavg()
        cpu_own, cpu_server, (busy, total) = own_cpu_s(), tree_cpu_s(args.server_pid), machine_cpu()
        started = time.perf_counter()
        budget = Budget(started + args.duration, args.max_requests)

        async def loop(c: Client) -> None:
            # Start the clients spread over one cycle's worth of think time (no thundering herd).
            if think_s > 0:
                await asyncio.sleep(c.rng.uniform(0, think_s))
            while await c.cycle(pages, think_s, budget):
                pass

        await asyncio.gather(*(loop(c) for c in clients))
        # Up to the last answer (not the last client's pause after it).
        wall = max((s.end for c in clients for s in c.samples), default=started) - started
        busy2, total2 = machine_cpu()
        cpu = {
            "load_generator_s": round(own_cpu_s() - cpu_own, 2),
            "server_s": round(tree_cpu_s(args.server_pid) - cpu_server, 2),
            "machine_busy_s": round(busy2 - busy, 2),
            "machine_busy_pct": round(100 * (busy2 - busy) / (total2 - total), 1) if total2 > total else None,
        }
    finally:
        await asyncio.gather(*(c.http.aclose() for c in clients))
    samples = [s for c in clients for s in c.samples]
    return {
        "url": args.url,
        "clients": args.clients,
        "pages": pages,
        "think_ms": args.think_ms,
        "duration_limit_s": args.duration,
        "max_requests": args.max_requests,
        "sign_in_s": round(sign_in_s, 2),
        "warmup_cycles": args.warmup,
        "warmup_s": round(warmup_s, 2),
        "timed_s": round(wall, 2),
        "requests": len(samples),
        "errors": sum(1 for s in samples if s.error),
        "per_s": round(len(samples) / wall, 1) if wall else None,
        "cpu": cpu,
        "load_before": load_before,
        "load_after": loadavg(),
        "by_page": summary(samples, wall),
        "all": summary([Sample("all", s.ms, s.status, s.error) for s in samples], wall)["all"]
        if samples
        else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("plan", type=Path, help="the plan JSON written by bench_web.py")
    parser.add_argument("--url", required=True, help="the server, http://127.0.0.1:<port>")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument(
        "--pages", default="alerts,search,detail,assessment,feeds", help=f"cycle of pages: {','.join(PAGES)}"
    )
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of timed load at most")
    parser.add_argument("--max-requests", type=int, default=100_000, help="timed requests at most")
    parser.add_argument("--think-ms", type=float, default=0.0, help="pause between a client's requests")
    parser.add_argument("--warmup", type=int, default=1, help="untimed cycles per client first")
    parser.add_argument("--timeout-s", type=float, default=30.0)
    parser.add_argument("--server-pid", type=int, default=None, help="count this process tree's CPU")
    parser.add_argument("--seed", type=int, default=52)
    args = parser.parse_args()
    host = urlsplit(args.url).hostname
    if urlsplit(args.url).scheme != "http" or host not in ("127.0.0.1", "localhost"):
        raise SystemExit(f"loopback only: {args.url}")
    plan = json.loads(args.plan.read_text(encoding="utf-8"))
    print(json.dumps(asyncio.run(run(args, plan)), ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
