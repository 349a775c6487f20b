"""What the benchmarks share: measuring a child process (wall time and peak RSS from wait4),
the code and machine measured, and a throw-away PostgreSQL cluster."""

from __future__ import annotations

import json
import os
import platform
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PG_BIN = Path("/usr/lib/postgresql/15/bin")
CHILD_TIMEOUT_S = 3600


@dataclass
class Run:
    """One measured process."""

    name: str
    wall_s: float
    peak_rss_mb: float
    stdout: str
    phases: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "wall_s": round(self.wall_s, 2),
            "peak_rss_mb": round(self.peak_rss_mb),
            "phases_s": {k: round(v, 2) for k, v in self.phases.items()},
            "counts": self.counts,
            **self.extra,
        }


def clean_env(source: Path | None, **doudi: str) -> dict[str, str]:
    """The environment without the caller's DOUDI_* settings; ``source``: import doudi from there."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOUDI_")}
    env.update({f"DOUDI_{k.upper()}": v for k, v in doudi.items()})
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("COLUMNS", "120")
    if source is not None:
        env["PYTHONPATH"] = str(source)  # ahead of the editable install in the venv
    else:
        env.pop("PYTHONPATH", None)
    return env


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip()


def snapshot_source(rev: str, target: Path) -> dict[str, Any]:
    """Export the package as committed at ``rev`` to ``target`` (others may be editing the tree)."""
    commit = git("rev-parse", "--verify", f"{rev}^{{commit}}")
    target.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "archive", commit, "doudi"], cwd=ROOT, check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return {"commit": commit, "subject": git("log", "-1", "--format=%s", commit), "source": f"git {rev}"}


def working_tree_source() -> dict[str, Any]:
    commit = git("rev-parse", "HEAD")
    dirty = [line[3:] for line in git("status", "--porcelain", "--", "doudi").splitlines()]
    return {
        "commit": commit,
        "subject": git("log", "-1", "--format=%s", commit),
        "source": "working tree",
        "uncommitted_in_doudi": dirty,
    }


def measure(
    name: str,
    cmd: Sequence[str],
    env: dict[str, str],
    log_stem: Path,
    cwd: Path,
    phases: Callable[[float, float, Path], dict[str, float]] | None = None,
) -> Run:
    """Run ``cmd``; wall time from spawn to exit, peak RSS of the process (and anything it
    waited for) from ``wait4``. Output goes to ``<log_stem>.out``, step marks (if the child
    writes them) are read from ``<log_stem>.marks``. Fails with the child's output if it
    exits non-zero. ``phases`` turns the marks into named durations."""
    out_path = log_stem.with_name(log_stem.name + ".out")
    with out_path.open("wb") as out:
        started = time.time()
        t0 = time.perf_counter()
        proc = subprocess.Popen(list(cmd), stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        deadline = t0 + CHILD_TIMEOUT_S
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                _, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.01)
        wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    text = out_path.read_text(encoding="utf-8", errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"{name}: {' '.join(cmd)} exited with {proc.returncode}:\n{text[-4000:]}")
    run = Run(name, wall, usage.ru_maxrss / 1024, text)
    marks_path = log_stem.with_name(log_stem.name + ".marks")
    if phases is not None and marks_path.exists():
        run.phases = phases(started, started + wall, marks_path)
    return run


def last_json(text: str) -> dict[str, Any]:
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            return dict(json.loads(line))
    raise ValueError(f"no JSON line in output:\n{text[-2000:]}")


# --- PostgreSQL -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def throwaway_cluster(log: Any) -> Iterator[str]:
    """A private PostgreSQL 15 cluster with default settings on 127.0.0.1; yields its server URL."""
    as_root = os.geteuid() == 0
    base = Path(tempfile.mkdtemp(prefix="doudi-bench-pg-"))
    data = base / "data"
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    if as_root:
        shutil.chown(base, "postgres", "postgres")
    port = free_port()
    started = False
    initdb_opts = ["-E", "UTF8", "--locale=C.UTF-8"]
    start_opts = ["-o", f"-p {port} -k {base} -c listen_addresses=127.0.0.1", "-w", "start"]
    try:
        subprocess.run(
            [*prefix, str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", *initdb_opts],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [*prefix, str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(base / "server.log"), *start_opts],
            check=True,
            capture_output=True,
        )
        started = True
        log(f"PostgreSQL cluster in {data}, port {port}")
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}"
    finally:
        if started:
            subprocess.run(
                [*prefix, str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                check=False,
                capture_output=True,
            )
        shutil.rmtree(base, ignore_errors=True)


def server_url(url: str) -> str:
    """``postgresql+psycopg://user@host:port[/db]`` → the same without the database."""
    head, sep, rest = url.partition("://")
    return head + sep + rest.split("/", 1)[0]


def conninfo(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def pg_admin(server_url: str, *statements: str, database: str = "postgres") -> list[Any]:
    import psycopg

    out: list[Any] = []
    with psycopg.connect(conninfo(f"{server_url}/{database}"), autocommit=True) as con:
        for sql in statements:
            cur = con.execute(sql)
            out.append(cur.fetchall() if cur.description else None)
    return out


def pg_fresh_db(server_url: str, name: str) -> str:
    pg_admin(server_url, f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}")
    return f"{server_url}/{name}"


def machine() -> dict[str, Any]:
    import sqlite3

    info: dict[str, Any] = {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": "unknown",
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
    }
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            info["cpu"] = line.split(":", 1)[1].strip()
            break
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            info["mem_gib"] = round(int(line.split()[1]) / 2**20, 1)
    for dist in ("duckdb", "pyarrow", "SQLAlchemy", "psycopg", "pyspark", "sqlglot"):
        try:
            info[dist.lower()] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            info[dist.lower()] = None
    return info


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])
