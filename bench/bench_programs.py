"""Benchmark of the programs (issue 3): the whole province, a policy change, OpenFisca, one household.

Each figure is a separate process, timed from spawn to exit (wall) with its peak RSS from wait4;
a child notes the time and memory of its steps, so the report shows where the time goes.

1. ``doudi demo --persons N`` builds the synthetic province (reference; its population files are
   the input of everything below). ``--province DIR`` reuses a data dir instead.
2. Baseline ("one-rule floor"): one DuckDB query over the province's Parquet files computing the
   simplified 低保 rule below for every household — the least a full pass over the data costs.
3. ``doudi programs run --source population --date D``: every program for every household, results
   written as Parquet, summaries printed (target: under 60 s and 4 GB for ≥ 2,000,000 households).
4. A simulation of one parameter change (every ``dibao.standard`` × ``--scale`` from D) over the
   same households: ``doudi programs simulate SCENARIO --source population`` (reports included)
   when the package has ``doudi.programs.simulate``; with ``--simulate-fallback``, or when it has
   not, also baseline and scenario as two ``evaluate`` calls with ``ParameterSet.with_change``
   (target: under 60 s). With ``--experiments``, ``doudi programs run`` again with a statement
   run on each connection the engine opens (``money_div`` in BIGINT instead of HUGEINT), and its
   results Parquet compared with the engine's (the package itself is not changed).
5. The simplified 低保 rule — eligible when counted income < standard × members (per-capita test),
   amount = standard × members − counted income; counted income = wage + business + property +
   transfer, no disregards, no property test; the standard of the household's area in force on D —
   on the first ``--households-openfisca`` households of the province: as an OpenFisca-core system
   (bench/openfisca_dibao.py, float32) and as DuckDB SQL on exact DECIMALs with the engine's
   ``money_div`` macro, from the same input files, each side in its own process; the compute is
   timed as the first in the process and, in another process, as the median of 5 more. Then a
   check that both agree on eligibility for every household and on amounts within float32
   rounding (target: ours at least 5× faster).
6. ``doudi.programs.engine.assess`` on examples/household-urban-dibao.json: median of
   ``--assess-calls`` calls after a warm-up (target: under 50 ms), against a minimal DuckDB query
   on the same household; and the whole ``doudi programs assess FILE`` process (reference).

    python bench/bench_programs.py --repeat 3 --source HEAD --simulate-fallback --experiments   # the docs' run
    python bench/bench_programs.py --quick                    # check run, < 1 min

OpenFisca-core is a benchmark-only dependency: ``pip install -e '.[bench]'``.
Prints Markdown tables and writes bench/results/programs-<date>[-<sizes>].json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import harness

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "household-urban-dibao.json"

# Targets of issue 3.
RUN_TARGET_S, RUN_TARGET_RSS_MB, RUN_TARGET_HOUSEHOLDS = 60.0, 4096.0, 2_000_000
SIMULATE_TARGET_S = 60.0
OPENFISCA_TARGET_SPEEDUP = 5.0
ASSESS_TARGET_MS = 50.0

# Experiments on `doudi programs run` (the package unchanged; statements run on each connection
# the engine opens): what a cheaper exact money_div would change.
ENGINE_SQL_ENV = "BENCH_ENGINE_SQL"
# (A memory_limit experiment is no longer needed: since commit 543bf60 the engine runs a large
# batch on a connection of its own with memory_limit = 1GB.)
EXPERIMENTS = {
    # money_div in BIGINT instead of HUGEINT: exact while |x| < 9.2e12 yuan.
    "money_div in BIGINT": "CREATE OR REPLACE MACRO money_div(x, d) AS "
    "CAST((CAST(CAST(x AS DECIMAL(18,6)) * 1000000 AS BIGINT) * 2 + 10000 * CAST(d AS BIGINT)) "
    "// (20000 * CAST(d AS BIGINT)) AS DECIMAL(18,0)) * 0.01",
}

PER_CAPITA = ", money_div(t.counted, t.n) AS per_capita_income"

FULL = {"persons": 6_100_000, "households_openfisca": 1_000_000, "assess_calls": 200}
QUICK = {"persons": 200_000, "households_openfisca": 50_000, "assess_calls": 100}

# The simplified 低保 rule in SQL: {h} has (key, area_type), {m} has (key, the four incomes),
# table p has (area_type, start_date, standard). Exact DECIMAL; money_div is the engine's macro.
# The test is on totals (counted < standard × n, what the per-capita test means exactly); {extra}
# may add the per-capita income rounded to the fen, as the engine's explanation shows it.
# No ORDER BY: OpenFisca's side returns its households in input order without sorting, so the
# comparison sorts both sides by household instead of charging a sort to one of them.
RULE_SQL = """
WITH s AS (
    SELECT area_type, arg_max(standard, start_date) AS s FROM p
    WHERE start_date <= DATE '{on}' GROUP BY area_type
), t AS (
    SELECT {key}, count(*) AS n,
           sum(wage_income + business_income + property_income + transfer_income) AS counted
    FROM {m} GROUP BY {key}
)
SELECT {key}, t.n, s.s AS standard, t.counted,
       t.counted < s.s * t.n AS eligible,
       CASE WHEN t.counted < s.s * t.n THEN money_div(s.s * t.n - t.counted, 1) ELSE 0.00 END AS amount
       {extra}
FROM {h} AS h JOIN s USING (area_type) JOIN t USING ({key})
"""


# --- child processes -----------------------------------------------------------------------------


class Steps:
    """Appends one JSON line per step to a file: time, label (the step that starts), current and
    peak RSS of the process so far (VmRSS, VmHWM), and anything else to record."""

    def __init__(self, path: str) -> None:
        self.fh = open(path, "a", encoding="utf-8")  # noqa: SIM115 - lives as long as the process

    def __call__(self, label: str, **extra: Any) -> None:
        mem = {}
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(("VmRSS:", "VmHWM:")):
                mem[line[:5].lower()] = int(line.split()[1]) // 1024
        row = {
            "t": time.time(),
            "label": label,
            "rss_mb": mem.get("vmrss"),
            "hwm_mb": mem.get("vmhwm"),
            **extra,
        }
        self.fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        self.fh.flush()


# Functions of the doudi package whose calls are steps in the report: (module, name, step).
# Missing ones are skipped, so the wrapper works on older and newer code alike.
CLI_STEPS = (
    ("doudi.cli.common", "engine", "database (migrations)"),
    ("doudi.cli.programs", "default_parameters", "parameters"),
    ("doudi.cli.programs", "load_scenario", "parameters"),
    ("doudi.cli.demo", "build_demo", "generate province, load registry"),
    ("doudi.cli.programs", "load_households", "load households"),
    ("doudi.programs.run", "load_households", "load households"),
    ("doudi.programs.run", "evaluate", "evaluate"),
    ("doudi.programs.run", "summarise", "summarise"),
    ("doudi.programs.simulate", "evaluate", "evaluate"),
    ("doudi.programs.simulate", "compare", "compare"),
    ("doudi.programs.simulate", "standard_ratio", "compare"),
    ("doudi.cli.programs", "print_run", "print"),
    ("doudi.cli.programs", "print_simulation", "print"),
    ("doudi.cli.programs", "write_reports", "write reports"),
    ("pyarrow.parquet", "write_table", "write Parquet"),
)


def _child_cli(steps_path: str, args: list[str]) -> None:
    """The ``doudi`` Typer app with ``args``; calls of CLI_STEPS are noted as steps (time spent
    outside them is "other"); a second ``evaluate`` in one process is "evaluate 2"."""
    import functools
    import importlib

    step = Steps(steps_path)
    step("imports")
    from doudi.cli.main import app

    stack: list[str] = []
    calls: dict[str, int] = {}

    def wrap(fn: Any, label: str) -> Any:
        @functools.wraps(fn)
        def timed(*a: Any, **kw: Any) -> Any:
            if stack and stack[-1] == label:  # the same step nested (a wrapper of a wrapper)
                return fn(*a, **kw)
            calls[label] = calls.get(label, 0) + 1
            name = label if calls[label] == 1 or label != "evaluate" else f"{label} {calls[label]}"
            stack.append(name)
            step(name)
            try:
                out = fn(*a, **kw)
            finally:
                stack.pop()
                extra = {}
                if label == "load households" and isinstance(out, tuple) and len(out) == 2:
                    extra = {"households": out[0].num_rows, "members": out[1].num_rows}
                step(stack[-1] if stack else "other (CLI, output)", **extra)
            return out

        return timed

    for module_name, attr, label in CLI_STEPS:
        module = importlib.import_module(module_name)
        if hasattr(module, attr):
            setattr(module, attr, wrap(getattr(module, attr), label))
    setup = os.environ.get(ENGINE_SQL_ENV)
    if setup:  # an experiment: statements run on every connection the engine opens
        import doudi.programs.engine as engine

        connect = engine.connect

        def connect_with_setup() -> Any:
            con = connect()
            for statement in setup.split(";\n"):
                con.execute(statement)
            return con

        engine.connect = connect_with_setup
    step("other (CLI, output)")
    app(args=args, prog_name="doudi")


def _child_simulate(steps_path: str, data_dir: str, on: str, scale: str) -> None:
    """Baseline and scenario as two ``evaluate`` calls over the same households (fallback while
    there is no ``doudi programs simulate``); prints what changed, as JSON."""
    from decimal import Decimal

    step = Steps(steps_path)
    step("imports")
    import duckdb

    from doudi.programs.engine import evaluate
    from doudi.programs.parameters import default_parameters
    from doudi.programs.run import load_households

    day = dt.date.fromisoformat(on)
    step("load households")
    h, m = load_households("population", on=day, data_dir=Path(data_dir))
    step("parameters and change", households=h.num_rows, members=m.num_rows)
    base = default_parameters()
    scenario = base.with_change("dibao.standard", start=day, scale=Decimal(scale))
    step("evaluate baseline")
    r0 = evaluate(h, m, base)
    step("evaluate scenario")
    r1 = evaluate(h, m, scenario)
    step("compare")
    con = duckdb.connect()
    con.register("r0", r0.select(["household_id", "dibao_eligible", "dibao_amount"]))
    con.register("r1", r1.select(["household_id", "dibao_eligible", "dibao_amount"]))
    row = con.execute(
        """SELECT count(*), count(*) FILTER (WHERE r0.dibao_eligible),
                  count(*) FILTER (WHERE r1.dibao_eligible),
                  count(*) FILTER (WHERE r1.dibao_eligible AND NOT r0.dibao_eligible),
                  count(*) FILTER (WHERE r1.dibao_amount <> r0.dibao_amount),
                  CAST(sum(r0.dibao_amount) AS VARCHAR), CAST(sum(r1.dibao_amount) AS VARCHAR)
           FROM r0 JOIN r1 USING (household_id)"""
    ).fetchone()
    assert row is not None
    step("exit")
    keys = ("households", "dibao_before", "dibao_after", "newly_eligible", "amount_changed")
    out: dict[str, Any] = dict(zip(keys, row[:5], strict=True))
    out.update(dibao_monthly_before=row[5], dibao_monthly_after=row[6], mode="two evaluate calls")
    print(json.dumps(out))


def _child_prepare(data_dir: str, n: int, out_dir: str, on: str) -> None:
    """Inputs of the side-by-side: the first ``n`` households of the province (by household
    number) as households.parquet (hh, area_type) and persons.parquet (hh, role, incomes), and
    the dated 低保 standard of the province by area as standard.json."""
    import duckdb

    from doudi.programs.parameters import default_parameters

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    param = default_parameters()["dibao.standard"]
    province = param.values["520000"]
    standard = {
        area: [[v.start.isoformat(), str(v.value)] for v in province[area]] for area in ("urban", "rural")
    }
    (out / "standard.json").write_text(json.dumps(standard), encoding="utf-8")
    pop = Path(data_dir) / "population"
    con = duckdb.connect()
    con.execute(
        f"""CREATE TEMP TABLE hh AS
            SELECT CAST(row_number() OVER (ORDER BY household_no) - 1 AS INTEGER) AS hh, household_no, area_type
            FROM read_parquet('{(pop / "households.parquet").as_posix()}')
            ORDER BY household_no LIMIT {int(n)}"""
    )
    con.execute(
        f"COPY (SELECT hh, area_type FROM hh ORDER BY hh) TO '{(out / 'households.parquet').as_posix()}'"
    )
    con.execute(
        f"""COPY (SELECT hh.hh, CAST(CASE WHEN p.relation = 'head' THEN 0 ELSE 1 END AS TINYINT) AS role,
                         coalesce(p.wage_income, 0) AS wage_income,
                         coalesce(p.business_income, 0) AS business_income,
                         coalesce(p.property_income, 0) AS property_income,
                         coalesce(p.transfer_income, 0) AS transfer_income
                  FROM read_parquet('{(pop / "persons.parquet").as_posix()}') AS p JOIN hh USING (household_no)
                  ORDER BY hh.hh, p.member_no)
            TO '{(out / "persons.parquet").as_posix()}'"""
    )
    row = con.execute(
        f"""SELECT (SELECT count(*) FROM hh), count(*), count(*) FILTER (WHERE role = 0),
                   (SELECT count(*) FROM hh WHERE area_type = 'rural')
            FROM read_parquet('{(out / "persons.parquet").as_posix()}')"""
    ).fetchone()
    assert row is not None
    keys = ("households", "persons", "heads", "rural_households")
    print(json.dumps({**dict(zip(keys, row, strict=True)), "standard": standard}))


def _standard_table(in_dir: Path) -> Any:
    import pyarrow as pa

    standard = json.loads((in_dir / "standard.json").read_text(encoding="utf-8"))
    rows = [
        (area, dt.date.fromisoformat(start), value)
        for area, dated in standard.items()
        for start, value in dated
    ]
    return pa.table(
        {
            "area_type": pa.array([r[0] for r in rows], pa.string()),
            "start_date": pa.array([r[1] for r in rows], pa.date32()),
            "standard": pa.array([r[2] for r in rows], pa.string()).cast(pa.decimal128(18, 2)),
        }
    )


def _child_floor(steps_path: str, data_dir: str, standard_dir: str, on: str) -> None:
    """Baseline: the simplified rule for every household in one query over the Parquet files."""
    step = Steps(steps_path)
    step("imports")
    import duckdb

    from doudi.programs.formulas import MACROS

    con = duckdb.connect()
    for macro in MACROS:
        con.execute(macro)
    con.register("p", _standard_table(Path(standard_dir)))
    pop = Path(data_dir) / "population"
    step("query")
    sql = RULE_SQL.format(
        on=on,
        key="household_no",
        h=f"read_parquet('{(pop / 'households.parquet').as_posix()}')",
        m=f"read_parquet('{(pop / 'persons.parquet').as_posix()}')",
        extra="",
    )
    result = con.sql(sql).to_arrow_table()
    step("exit")
    import pyarrow.compute as pc

    eligible = int(pc.sum(pc.cast(result.column("eligible"), "int64")).as_py() or 0)
    print(json.dumps({"households": result.num_rows, "eligible": eligible}))


WARM_REPEATS = 5


def _print_warm(times: list[float]) -> None:
    """The ``warm`` variant's output: every compute's seconds, the first (cold) one apart."""
    warm = times[1:]
    print(
        json.dumps(
            {
                "cold_s": round(times[0], 4),
                "warm_s": [round(t, 4) for t in warm],
                "warm_median_s": round(statistics.median(warm), 4),
            }
        )
    )


def _child_ours(steps_path: str, in_dir: str, out_path: str, on: str, variant: str = "") -> None:
    """Our side of the comparison: DuckDB SQL on exact DECIMALs, inputs read into Arrow first.
    ``variant``: "per-capita" also returns the per-capita income through money_div (reference);
    "warm" computes 1 + WARM_REPEATS times in the process and prints the times (nothing written)."""
    step = Steps(steps_path)
    step("imports")
    import duckdb
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from doudi.programs.formulas import MACROS

    src = Path(in_dir)
    step("read inputs")
    households = pq.read_table(src / "households.parquet")
    persons = pq.read_table(src / "persons.parquet")
    standard = _standard_table(src)
    step("compute")
    con = duckdb.connect()
    for macro in MACROS:
        con.execute(macro)
    con.register("p", standard)
    con.register("h_in", households)
    con.register("m_in", persons)
    extra = PER_CAPITA if variant == "per-capita" else ""
    sql = RULE_SQL.format(on=on, key="hh", h="h_in", m="m_in", extra=extra)
    result = con.sql(sql).to_arrow_table()
    if variant == "warm":
        times = [time.time() - json.loads(Path(steps_path).read_text().splitlines()[-1])["t"]]
        for _ in range(WARM_REPEATS):
            t0 = time.perf_counter()
            con.sql(sql).to_arrow_table()
            times.append(time.perf_counter() - t0)
        step("exit")
        _print_warm(times)
        return
    step("write results")
    pq.write_table(result, out_path)
    step("exit")
    eligible = int(pc.sum(pc.cast(result.column("eligible"), "int64")).as_py() or 0)
    print(json.dumps({"households": result.num_rows, "eligible": eligible}))


def _child_openfisca(steps_path: str, in_dir: str, out_path: str, on: str, variant: str = "") -> None:
    """OpenFisca's side: the system of openfisca_dibao.py on the same input files. ``variant``
    "warm": build and calculate 1 + WARM_REPEATS times, print the times (nothing written)."""
    step = Steps(steps_path)
    step("imports")
    import numpy as np
    import openfisca_dibao as of
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    src = Path(in_dir)
    step("build system")
    standard = json.loads((src / "standard.json").read_text(encoding="utf-8"))
    system = of.build_system({a: [(s, float(v)) for s, v in dated] for a, dated in standard.items()})
    period = on[:7]  # the month of the date
    step("read inputs")
    households = pq.read_table(src / "households.parquet")
    persons = pq.read_table(src / "persons.parquet")
    person_household = persons.column("hh").to_numpy()
    person_role = persons.column("role").to_numpy().astype(np.int64)
    incomes = {n: pc.cast(persons.column(n), pa.float32()).to_numpy() for n in of.INCOMES}
    area_rural = pc.equal(households.column("area_type"), "rural").to_numpy(zero_copy_only=False)

    def compute(mark: Any) -> tuple[Any, Any]:
        mark("build entities and set inputs")
        sim = of.simulation(
            system, period, person_household, person_role, households.num_rows, incomes, area_rural
        )
        mark("calculate")
        return sim.calculate("dibao_eligible", period), sim.calculate("dibao_amount", period)

    eligible, amount = compute(step)
    if variant == "warm":
        rows = [json.loads(line) for line in Path(steps_path).read_text().splitlines()]
        times = [time.time() - rows[-2]["t"]]
        for _ in range(WARM_REPEATS):
            t0 = time.perf_counter()
            compute(lambda _label: None)
            times.append(time.perf_counter() - t0)
        step("exit")
        _print_warm(times)
        return
    step("write results")
    pq.write_table(
        pa.table({"hh": households.column("hh"), "eligible": eligible, "amount": amount}), out_path
    )
    step("exit")
    print(
        json.dumps(
            {
                "households": households.num_rows,
                "eligible": int(eligible.sum()),
                "amount_dtype": str(amount.dtype),
                "openfisca_core": metadata.version("openfisca-core"),
                "numpy": np.__version__,
            }
        )
    )


def _child_compare(ours_path: str, of_path: str) -> None:
    """Eligibility equal for every household; amounts within float32 rounding of the exact ones.

    The bound per household: OpenFisca rounds each of the 4·n incomes, their sums and the final
    amount to float32, each rounding off by at most 2⁻²⁴ of a value no larger than
    M = standard × n + counted income, so |float32 − exact| ≤ (5n + 4) · 2⁻²⁴ · M."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    ours = pq.read_table(ours_path).sort_by("hh")
    theirs = pq.read_table(of_path).sort_by("hh")
    assert ours.column("hh").equals(theirs.column("hh")), "household order differs"
    n = ours.column("n").to_numpy().astype(np.float64)
    exact = pc.cast(ours.column("amount"), pa.float64()).to_numpy()
    counted = pc.cast(ours.column("counted"), pa.float64()).to_numpy()
    standard = pc.cast(ours.column("standard"), pa.float64()).to_numpy()
    amount = theirs.column("amount").to_numpy().astype(np.float64)
    e_ours = ours.column("eligible").to_numpy(zero_copy_only=False)
    e_theirs = theirs.column("eligible").to_numpy(zero_copy_only=False)
    differ = np.flatnonzero(e_ours != e_theirs)
    diff = np.abs(amount - exact)
    bound = (5 * n + 4) * 2.0**-24 * (standard * n + counted)
    worst = int(np.argmax(diff))
    # How close the data come to the threshold (where float32 could flip a decision).
    margin = standard * n - counted
    examples = [
        {
            "hh": int(i),
            "n": int(n[i]),
            "standard_x_n": round(standard[i] * n[i], 2),
            "counted": round(counted[i], 2),
        }
        for i in differ[:5]
    ]
    exact_total = pc.sum(ours.column("amount")).as_py()
    print(
        json.dumps(
            {
                "households": ours.num_rows,
                "eligible_ours": int(e_ours.sum()),
                "eligible_openfisca": int(e_theirs.sum()),
                "eligibility_disagreements": len(differ),
                "disagreement_examples": examples,
                "max_abs_diff": float(diff.max()),
                "max_abs_diff_household": {
                    "hh": worst,
                    "n": int(n[worst]),
                    "exact": str(ours.column("amount")[worst].as_py()),
                    "openfisca": float(amount[worst]),
                },
                "amounts_not_exact": int((diff > 0).sum()),
                "over_float32_bound": int((diff > bound).sum()),
                "within_1e-3_of_threshold": int((np.abs(margin) < 1e-3).sum()),
                "exact_ties": int((margin == 0).sum()),
                "total_exact": str(exact_total),
                "total_openfisca_float64_sum": round(float(amount.sum()), 4),
            }
        )
    )


def _child_assess(file: str, calls: int) -> None:
    """``assess`` on one household: start-up, first call, then ``calls`` timed calls; against a
    minimal query (the simplified rule's SQL) on the same household through DuckDB."""
    t0 = time.perf_counter()
    import pyarrow as pa

    from doudi.programs.engine import assess, connect
    from doudi.programs.inputs import HouseholdInput
    from doudi.programs.parameters import default_parameters

    t1 = time.perf_counter()
    household = HouseholdInput.model_validate(json.loads(Path(file).read_text(encoding="utf-8")))
    params = default_parameters()
    t2 = time.perf_counter()
    assess(household, params)
    t3 = time.perf_counter()
    for _ in range(10):
        assess(household, params)

    def timed(fn: Any) -> list[float]:
        out = []
        for _ in range(calls):
            a = time.perf_counter()
            fn()
            out.append((time.perf_counter() - a) * 1000)
        return out

    times = timed(lambda: assess(household, params))
    # The minimal query: one household, the simplified 低保 rule, the standard of its area.
    standard = params.resolve("dibao.standard", household.division_code, household.area_type, household.date)
    money = pa.decimal128(14, 2)
    h = pa.table({"key": ["h"], "area_type": [household.area_type]})
    m = pa.table(
        {
            "key": ["h"] * len(household.members),
            **{
                f"{k}_income": pa.array([getattr(x.monthly_income, k) for x in household.members], money)
                for k in ("wage", "business", "property", "transfer")
            },
        }
    )
    p = pa.table(
        {
            "area_type": [household.area_type],
            "start_date": pa.array([standard.start], pa.date32()),
            "standard": pa.array([standard.value], pa.decimal128(18, 2)),
        }
    )
    con = connect()
    sql = RULE_SQL.format(on=household.date.isoformat(), key="key", h="h", m="m", extra="")

    def minimal() -> None:
        con.register("h", h)
        con.register("m", m)
        con.register("p", p)
        con.sql(sql).to_arrow_table()

    for _ in range(10):
        minimal()
    base = timed(minimal)
    q = statistics.quantiles(times, n=10)
    print(
        json.dumps(
            {
                "calls": calls,
                "import_s": round(t1 - t0, 3),
                "validate_and_parameters_s": round(t2 - t1, 3),
                "first_call_ms": round((t3 - t2) * 1000, 1),
                "median_ms": round(statistics.median(times), 2),
                "p10_ms": round(q[0], 2),
                "p90_ms": round(q[-1], 2),
                "min_ms": round(min(times), 2),
                "max_ms": round(max(times), 2),
                "minimal_query_median_ms": round(statistics.median(base), 2),
            }
        )
    )


def _child_same(a: str, b: str) -> None:
    """Rows of one Parquet file missing from the other, both ways (0 and 0: identical)."""
    import duckdb

    con = duckdb.connect()
    row = con.execute(
        f"""SELECT (SELECT count(*) FROM (FROM read_parquet('{a}') EXCEPT ALL FROM read_parquet('{b}'))),
                   (SELECT count(*) FROM (FROM read_parquet('{b}') EXCEPT ALL FROM read_parquet('{a}'))),
                   (SELECT count(*) FROM read_parquet('{a}'))"""
    ).fetchone()
    assert row is not None
    print(json.dumps({"only_in_engine_run": row[0], "only_in_experiment": row[1], "rows": row[2]}))


def _child(argv: list[str]) -> None:
    kind, rest = argv[0], argv[1:]
    if kind == "cli":
        _child_cli(rest[0], rest[1:])
    elif kind == "simulate":
        _child_simulate(*rest)
    elif kind == "prepare":
        _child_prepare(rest[0], int(rest[1]), rest[2], rest[3])
    elif kind == "floor":
        _child_floor(*rest)
    elif kind == "ours":
        _child_ours(*rest)
    elif kind == "openfisca":
        _child_openfisca(*rest)
    elif kind == "compare":
        _child_compare(*rest)
    elif kind == "same":
        _child_same(*rest)
    elif kind == "assess":
        _child_assess(rest[0], int(rest[1]))
    else:
        raise SystemExit(f"unknown child {kind!r}")


# --- measuring ------------------------------------------------------------------------------------


@dataclass
class Run:
    """One measured process."""

    name: str
    wall_s: float
    peak_rss_mb: float
    round: int
    load_before: str
    load_after: str
    phases: dict[str, float] = field(default_factory=dict)
    phase_peak_mb: dict[str, float] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "round": self.round,
            "wall_s": round(self.wall_s, 3),
            "peak_rss_mb": round(self.peak_rss_mb),
            "load_before": self.load_before,
            "load_after": self.load_after,
            "phases_s": {k: round(v, 3) for k, v in self.phases.items()},
            "peak_rss_rise_mb_by_phase": self.phase_peak_mb,
            **self.info,
        }


def read_steps(path: Path, started: float, wall: float, peak_mb: float) -> tuple[dict, dict, dict]:
    """Phases (seconds from each step to the next; the first is interpreter start-up), by how
    much the process's peak RSS rose during each phase (MB), and the extra values the steps
    recorded. A label may recur (e.g. "other"): its phase is the sum of its stretches."""
    if not path.exists():
        return {}, {}, {}
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    points = [(started, "interpreter start", 0), *((r["t"], r["label"], r.get("hwm_mb")) for r in rows)]
    points.append((started + wall, "", peak_mb))
    phases: dict[str, float] = {}
    rises: dict[str, float] = {}
    for (t, label, hwm0), (t_next, _, hwm) in itertools.pairwise(points):
        phases[label] = phases.get(label, 0.0) + max(0.0, t_next - t)
        rises[label] = rises.get(label, 0.0) + max(0.0, (hwm or 0) - (hwm0 or 0))
    extra = {k: v for r in rows for k, v in r.items() if k not in ("t", "label", "rss_mb", "hwm_mb")}
    return phases, rises, extra


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

    def log(self, msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    def env(self, **doudi: str) -> dict[str, str]:
        env = harness.clean_env(self.source, **doudi)
        # bench/ first (openfisca_dibao), then the measured package source if any.
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(Path(__file__).parent), env.get("PYTHONPATH")) if p
        )
        return env

    def measure(self, name: str, cmd: Sequence[str], env: dict[str, str]) -> Run:
        stem = self.logs / f"{name.replace(' ', '-').replace('/', '-')}.{self.round}.{len(self.runs)}"
        steps_path = stem.with_name(stem.name + ".steps")
        steps_path.unlink(missing_ok=True)
        cmd = [str(steps_path) if c == "{steps}" else c for c in cmd]
        before = harness.loadavg()
        started = time.time()
        raw = harness.measure(name, cmd, env, stem, self.work)
        run = Run(name, raw.wall_s, raw.peak_rss_mb, self.round, before, harness.loadavg())
        run.phases, run.phase_peak_mb, extra = read_steps(steps_path, started, raw.wall_s, raw.peak_rss_mb)
        run.info.update(extra)
        try:
            run.info.update(harness.last_json(raw.stdout))
        except ValueError:
            run.info["stdout_tail"] = raw.stdout[-600:]
        self.runs.append(run)
        self.log(
            f"{name}: {run.wall_s:.2f} s, peak RSS {run.peak_rss_mb:,.0f} MB "
            f"(load {before} → {run.load_after})"
        )
        return run

    def child(self, kind: str, *args: str) -> list[str]:
        return [sys.executable, str(Path(__file__).resolve()), "--child", kind, *args]

    def doudi(self, *args: str) -> list[str]:
        return self.child("cli", "{steps}", *args)

    def has_simulate(self) -> bool:
        base = self.source if self.source is not None else ROOT
        return (base / "doudi" / "programs" / "simulate.py").exists()

    def province(self) -> Path:
        a = self.args
        if a.province:
            data = a.province.resolve()
            if not (data / "population" / "households.parquet").exists():
                raise SystemExit(f"{data} has no population/households.parquet")
            self.info["province"] = {"reused": str(data)}
        else:
            data = self.work / "demo"
            shutil.rmtree(data, ignore_errors=True)
            data.mkdir(parents=True)
            cmd = self.doudi("demo", "--persons", str(a.persons), "--seed", str(a.seed), "--as-of", a.date)
            run = self.measure("demo", cmd, self.env(data_dir=str(data)))
            run.info["persons"] = a.persons
        import pyarrow.parquet as pq

        pop = data / "population"
        counts = {
            "households": pq.ParquetFile(pop / "households.parquet").metadata.num_rows,
            "persons": pq.ParquetFile(pop / "persons.parquet").metadata.num_rows,
        }
        self.info.setdefault("province", {}).update(counts)
        self.log(f"province: {counts['persons']:,} persons, {counts['households']:,} households")
        if counts["households"] < RUN_TARGET_HOUSEHOLDS and not a.quick:
            self.log(f"note: fewer than {RUN_TARGET_HOUSEHOLDS:,} households; raise --persons")
        return data

    def run_dir(self, province: Path) -> Path:
        """A fresh data dir whose population/ is the province's (the run writes programs/ there)."""
        d = self.work / "run"
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
        (d / "population").symlink_to(province / "population", target_is_directory=True)
        return d

    def run(self) -> None:
        a = self.args
        self.info["machine"] = harness.machine()
        for dist in ("openfisca-core", "numpy", "duckdb"):
            try:
                self.info["machine"][dist] = metadata.version(dist)
            except metadata.PackageNotFoundError:
                self.info["machine"][dist] = None
        if a.source:
            self.source = self.work / "src"
            shutil.rmtree(self.source, ignore_errors=True)
            self.info["code"] = harness.snapshot_source(a.source, self.source)
        else:
            self.info["code"] = harness.working_tree_source()
        probe = subprocess.run(
            [sys.executable, "-c", "import doudi; print(doudi.__file__)"],
            env=self.env(),
            cwd=self.work,
            capture_output=True,
            text=True,
            check=True,
        )
        self.info["code"]["package_dir"] = str(Path(probe.stdout.strip()).parent)
        self.info["load_before"] = harness.loadavg()
        self.log(f"work dir {self.work}; code {self.info['code']}; load {self.info['load_before']}")
        province = self.province()
        of_dir = self.work / "side-by-side"
        run = self.measure(
            "prepare side-by-side inputs",
            self.child("prepare", str(province), str(a.households_openfisca), str(of_dir), a.date),
            self.env(),
        )
        self.info["side_by_side_inputs"] = {k: v for k, v in run.info.items() if k != "stdout_tail"}
        simulate = self.has_simulate()
        fallback = a.simulate_fallback or not simulate
        self.info["simulation_mode"] = "doudi programs simulate" if simulate else "two evaluate calls"
        scenario = self.work / "scenario.yaml"
        scenario.write_text(
            f"# Benchmark scenario: every dibao.standard × {a.scale} from {a.date}.\n"
            f"name: 低保标准调整（基准测试）\ndate: {a.date}\nchanges:\n"
            f"  - parameter: dibao.standard\n    from: {a.date}\n    scale: {a.scale}\n",
            encoding="utf-8",
        )
        self.info["scenario"] = scenario.read_text(encoding="utf-8")
        for self.round in range(1, a.repeat + 1):
            data = self.run_dir(province)
            env = self.env(data_dir=str(data))
            self.measure(
                "baseline: one-rule floor",
                self.child("floor", "{steps}", str(data), str(of_dir), a.date),
                env,
            )
            run_cmd = self.doudi("programs", "run", "--source", "population", "--date", a.date)
            self.measure("doudi programs run", run_cmd, env)
            if a.experiments:
                written = data / "programs" / f"results-population-{a.date}.parquet"
                reference = self.work / "results-engine.parquet"
                shutil.copyfile(written, reference)
                for label, sql in EXPERIMENTS.items():
                    self.measure(f"experiment: {label}", run_cmd, {**env, ENGINE_SQL_ENV: sql})
                    same = self.measure(
                        f"same results: {label}", self.child("same", str(reference), str(written)), env
                    )
                    self.info.setdefault("experiments", {})[label] = {
                        "sql": sql,
                        **{k: v for k, v in same.info.items() if k != "stdout_tail"},
                    }
            if simulate:
                out_dir = self.work / f"simulation-{self.round}"
                cmd = self.doudi(
                    "programs", "simulate", str(scenario), "--source", "population", "--out", str(out_dir)
                )
                self.measure("simulation", cmd, env)
            if fallback:
                cmd = self.child("simulate", "{steps}", str(data), a.date, a.scale)
                self.measure("simulation, two evaluate calls", cmd, env)
            sides = (
                ("ours", ""),
                ("openfisca", ""),
                ("ours", "per-capita"),
                ("ours", "warm"),
                ("openfisca", "warm"),
            )
            for side, variant in sides:
                out = of_dir / f"result-{side}{'-' + variant if variant else ''}.parquet"
                name = f"side-by-side: {side}{', ' + variant if variant else ''}"
                self.measure(name, self.child(side, "{steps}", str(of_dir), str(out), a.date, variant), env)
            if self.round == 1:
                cmp = self.measure(
                    "compare",
                    self.child(
                        "compare",
                        str(of_dir / "result-ours.parquet"),
                        str(of_dir / "result-openfisca.parquet"),
                    ),
                    env,
                )
                self.info["agreement"] = {k: v for k, v in cmp.info.items() if k != "stdout_tail"}
            self.measure("assess (in process)", self.child("assess", str(EXAMPLE), str(a.assess_calls)), env)
            for _ in range(a.assess_processes):
                self.measure("doudi programs assess FILE", self.cli_assess(), env)
        self.info["load_after"] = harness.loadavg()

    def cli_assess(self) -> list[str]:
        script = Path(sys.executable).parent / "doudi"
        if script.exists():
            return [str(script), "programs", "assess", str(EXAMPLE)]
        return [
            sys.executable,
            "-c",
            "from doudi.cli.main import app; app()",
            "programs",
            "assess",
            str(EXAMPLE),
        ]


# --- report ---------------------------------------------------------------------------------------


def _median(values: list[float]) -> float:
    return float(statistics.median(values))


@dataclass
class Figure:
    runs: list[Run]

    @property
    def name(self) -> str:
        return self.runs[0].name

    @property
    def wall_s(self) -> float:
        return _median([r.wall_s for r in self.runs])

    @property
    def peak_rss_mb(self) -> float:
        return max(r.peak_rss_mb for r in self.runs)

    @property
    def spread(self) -> str:
        walls = [r.wall_s for r in self.runs]
        return "" if len(walls) == 1 else f"{min(walls):.2f}–{max(walls):.2f}"

    @property
    def median_run(self) -> Run:
        return sorted(self.runs, key=lambda r: r.wall_s)[(len(self.runs) - 1) // 2]

    def phase(self, name: str) -> float:
        return _median([r.phases.get(name, 0.0) for r in self.runs])

    def info(self, key: str) -> Any:
        return _median([float(r.info[key]) for r in self.runs if key in r.info])

    @property
    def loads(self) -> str:
        firsts = sorted(
            {r.load_before.split()[0] for r in self.runs} | {r.load_after.split()[0] for r in self.runs}
        )
        return f"{firsts[0]}–{firsts[-1]}" if len(firsts) > 1 else firsts[0]


def report(bench: Bench) -> tuple[str, dict[str, Any]]:
    groups: dict[str, list[Run]] = {}
    for r in bench.runs:
        groups.setdefault(r.name, []).append(r)
    figs = {name: Figure(runs) for name, runs in groups.items()}
    households = bench.info.get("province", {}).get("households")
    lines = [
        "| figure | households | wall s (median) | range s | peak RSS MB | per household | baseline "
        "| ÷ baseline | target | met | load (1 min) |",
        "|---|---:|---:|---:|---:|---:|---|---:|---|---|---|",
    ]
    figures: list[dict[str, Any]] = []

    def row(
        fig: Figure | None,
        *,
        n: int | None,
        wall: float | None = None,
        base: tuple[str, float] | None = None,
        target: str = "",
        met: bool | None = None,
        unit: str = "s",
        name: str | None = None,
    ) -> None:
        if fig is None:
            return
        wall = fig.wall_s if wall is None else wall
        per = f"{wall / n * 1e6:.1f} µs" if n and n > 1 and unit == "s" else ""
        ratio = f"{wall / base[1]:.2f}×" if base and base[1] else ""
        shown = f"{wall:.2f}" if unit == "s" else f"{wall:.1f} ms"
        mark = "" if met is None else ("yes" if met else "**no**")
        lines.append(
            f"| {name or fig.name} | {'' if n is None else f'{n:,}'} | {shown} | {fig.spread if unit == 's' else ''} "
            f"| {fig.peak_rss_mb:,.0f} | {per} | {base[0] if base else ''} | {ratio} | {target} | {mark} "
            f"| {fig.loads} |"
        )
        figures.append(
            {
                "name": name or fig.name,
                "households": n,
                "value": round(wall, 3),
                "unit": unit,
                "peak_rss_mb_max": round(fig.peak_rss_mb),
                "baseline": base[0] if base else None,
                "ratio_vs_baseline": round(wall / base[1], 3) if base and base[1] else None,
                "target": target or None,
                "met": met,
                "runs": [r.as_dict() for r in fig.runs],
            }
        )

    demo = figs.get("demo")
    row(demo, n=households, name=f"`doudi demo --persons {bench.args.persons}` (reference)")
    floor = figs.get("baseline: one-rule floor")
    row(floor, n=households)
    run = figs.get("doudi programs run")
    if run:
        ok = run.wall_s < RUN_TARGET_S and run.peak_rss_mb < RUN_TARGET_RSS_MB
        row(
            run,
            n=households,
            base=("one-rule floor", floor.wall_s) if floor else None,
            target=f"< {RUN_TARGET_S:.0f} s, < 4 GB, ≥ 2M households",
            met=ok and (households or 0) >= RUN_TARGET_HOUSEHOLDS,
            name="`doudi programs run --source population` (all programs)",
        )
    for label in EXPERIMENTS:
        exp = figs.get(f"experiment: {label}")
        if exp and run:
            same = bench.info.get("experiments", {}).get(label, {})
            identical = same.get("only_in_engine_run") == 0 and same.get("only_in_experiment") == 0
            row(
                exp,
                n=households,
                base=("programs run", run.wall_s),
                name=f"experiment: programs run with {label} (results {'identical' if identical else 'DIFFER'})",
            )
    for key, label in (
        ("simulation", f"`doudi programs simulate`, dibao.standard × {bench.args.scale}"),
        (
            "simulation, two evaluate calls",
            f"two `evaluate` calls + compare, dibao.standard × {bench.args.scale}",
        ),
    ):
        sim = figs.get(key)
        if sim:
            row(
                sim,
                n=households,
                base=("programs run", run.wall_s) if run else None,
                target=f"< {SIMULATE_TARGET_S:.0f} s",
                met=sim.wall_s < SIMULATE_TARGET_S,
                name=label,
            )
    ours, theirs = figs.get("side-by-side: ours"), figs.get("side-by-side: openfisca")
    n_of = bench.info.get("side_by_side_inputs", {}).get("households")
    row(theirs, n=n_of, name="OpenFisca-core, simplified 低保 (whole process)")
    row(
        ours,
        n=n_of,
        base=("OpenFisca process", theirs.wall_s) if theirs else None,
        name="ours (DuckDB, exact), simplified 低保 (whole process)",
    )
    ours_pc = figs.get("side-by-side: ours, per-capita")
    row(
        ours_pc,
        n=n_of,
        base=("OpenFisca process", theirs.wall_s) if theirs else None,
        name="ours + per-capita income column via money_div (reference)",
    )
    compute: dict[str, Any] = {}
    side_lines: list[str] = []
    if ours and theirs:
        entities, calculate = theirs.phase("build entities and set inputs"), theirs.phase("calculate")
        c_theirs, c_ours = entities + calculate, ours.phase("compute")
        speedup = c_theirs / c_ours if c_ours else 0.0
        agree = bench.info.get("agreement", {})
        ok = (
            speedup >= OPENFISCA_TARGET_SPEEDUP
            and agree.get("eligibility_disagreements") == 0
            and agree.get("over_float32_bound") == 0
        )
        lines.append(
            f"| simplified 低保, compute (first in process): OpenFisca {c_theirs:.3f} s, ours {c_ours:.3f} s "
            f"| {n_of:,} | | | | {c_ours / n_of * 1e6:.2f} µs | OpenFisca | {c_ours / c_theirs:.2f}× "
            f"| ours ≥ {OPENFISCA_TARGET_SPEEDUP:.0f}× faster, same results | {'yes' if ok else '**no**'} | |"
        )
        warm_of, warm_ours = figs.get("side-by-side: openfisca, warm"), figs.get("side-by-side: ours, warm")
        w_theirs = warm_of.info("warm_median_s") if warm_of else None
        w_ours = warm_ours.info("warm_median_s") if warm_ours else None
        c_pc = ours_pc.phase("compute") if ours_pc else None

        def cells(label: str, a: float | None, b: float | None) -> str:
            if a is None or b is None:
                return f"| {label} | | | |"
            return f"| {label} | {a:.3f} | {b:.3f} | {a / b:.1f}× |"

        side_lines = [
            f"| {n_of:,} households | OpenFisca s | ours s | ours faster by |",
            "|---|---:|---:|---:|",
            cells("whole process (median wall)", theirs.wall_s, ours.wall_s),
            cells(
                "compute, first in the process (OpenFisca: entities + inputs + calculate)", c_theirs, c_ours
            ),
            f"| … OpenFisca's entities + inputs / calculate | {entities:.3f} / {calculate:.3f} | | |",
            cells(f"compute, warm (median of {WARM_REPEATS} more in the same process)", w_theirs, w_ours),
            cells("compute, ours with a per-capita column through money_div", c_theirs, c_pc),
        ]
        compute = {
            "openfisca_compute_s": round(c_theirs, 3),
            "openfisca_entities_s": round(entities, 3),
            "openfisca_calculate_s": round(calculate, 3),
            "ours_compute_s": round(c_ours, 3),
            "speedup_compute": round(speedup, 2),
            "speedup_whole_process": round(theirs.wall_s / ours.wall_s, 2),
            "openfisca_warm_median_s": w_theirs,
            "ours_warm_median_s": w_ours,
            "speedup_warm": round(w_theirs / w_ours, 2) if w_theirs and w_ours else None,
            "ours_per_capita_compute_s": None if c_pc is None else round(c_pc, 3),
            "speedup_compute_with_per_capita": round(c_theirs / c_pc, 2) if c_pc else None,
            "met": ok,
        }
    assess = figs.get("assess (in process)")
    if assess:
        med = assess.info("median_ms")
        row(
            assess,
            n=1,
            wall=med,
            unit="ms",
            base=("minimal query", assess.info("minimal_query_median_ms")),
            target=f"< {ASSESS_TARGET_MS:.0f} ms (median of {bench.args.assess_calls})",
            met=med < ASSESS_TARGET_MS,
            name="`engine.assess`, one household, median call",
        )
    row(figs.get("doudi programs assess FILE"), n=1, name="`doudi programs assess FILE` (whole process)")

    # Where the time goes: the phases of the median run of each stepped figure.
    stepped = [f for f in figs.values() if any(r.phases for r in f.runs) and "warm" not in f.name]
    phase_lines: list[str] = []
    for f in stepped:
        phase_lines += [
            f"**{f.name}** (median run: {f.median_run.wall_s:.2f} s)",
            "",
            "| phase | s | peak RSS rose by MB |",
            "|---|---:|---:|",
        ]
        med_run = f.median_run
        for p, s in med_run.phases.items():
            peak = med_run.phase_peak_mb.get(p)
            phase_lines.append(f"| {p} | {s:.2f} | {'' if peak is None else f'{peak:,.0f}'} |")
        phase_lines.append("")
    if assess:
        r = assess.median_run.info
        phase_lines.append(
            f"assess in process: import {r['import_s']} s, validate + parameters {r['validate_and_parameters_s']} s, "
            f"first call {r['first_call_ms']} ms; then median {r['median_ms']} ms (p10 {r['p10_ms']}, p90 {r['p90_ms']}); "
            f"minimal query {r['minimal_query_median_ms']} ms"
        )
    agree = bench.info.get("agreement")
    agree_lines = []
    if agree:
        agree_lines = [
            "| check | value |",
            "|---|---|",
            *(f"| {k} | {v} |" for k, v in agree.items()),
        ]
    text = "\n".join([*lines, "", *side_lines, "", *agree_lines, "", *phase_lines])
    result = {
        "date": dt.date.today().isoformat(),
        "command": " ".join(["python", "bench/bench_programs.py", *sys.argv[1:]]),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(bench.args).items()},
        **bench.info,
        "side_by_side_compute": compute,
        "figures": figures,
        "all_runs": [r.as_dict() for r in bench.runs],
    }
    return text, result


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--persons", type=int, default=None, help=f"province size (default {FULL['persons']:,})"
    )
    parser.add_argument(
        "--households-openfisca",
        type=int,
        default=None,
        help=f"households in the OpenFisca side-by-side (default {FULL['households_openfisca']:,})",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes for a check run (< 1 min)")
    parser.add_argument(
        "--province", type=Path, default=None, help="reuse this data dir's population/ (no demo)"
    )
    parser.add_argument("--seed", type=int, default=52)
    parser.add_argument("--date", default="2026-11-01", help="date of the demo and of the programs")
    parser.add_argument(
        "--scale", default="1.10", help="the simulated change: dibao.standard × SCALE from --date"
    )
    parser.add_argument(
        "--simulate-fallback",
        action="store_true",
        help="also time the simulation as two evaluate calls (always done if there is no "
        "`doudi programs simulate`)",
    )
    parser.add_argument(
        "--experiments",
        action="store_true",
        help="also time `doudi programs run` with each of EXPERIMENTS applied to the engine's connections "
        "(money_div in BIGINT) and check its results equal the engine's",
    )
    parser.add_argument("--assess-calls", type=int, default=None, help="timed assess calls (default 200)")
    parser.add_argument(
        "--assess-processes", type=int, default=3, help="`doudi programs assess` processes per round"
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="rounds; medians of wall time, highest peak RSS"
    )
    parser.add_argument(
        "--source", default=None, metavar="REV", help="measure the package as committed at git REV"
    )
    parser.add_argument(
        "--work-dir", type=Path, default=None, help="where the files go (default: a temp dir)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the work dir")
    parser.add_argument(
        "--results", type=Path, default=ROOT / "bench" / "results", help="where the JSON goes"
    )
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    for key, value in sizes.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    dt.date.fromisoformat(args.date)
    if args.repeat < 1 or args.assess_calls < 10:
        parser.error("--repeat must be ≥ 1 and --assess-calls ≥ 10")

    work = args.work_dir or Path(tempfile.mkdtemp(prefix="doudi-bench-programs-"))
    work.mkdir(parents=True, exist_ok=True)
    bench = Bench(args, work)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
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
        full = all(getattr(args, k) == v for k, v in FULL.items()) and not args.province
        suffix = "" if full else f"-{args.persons}-{args.households_openfisca}"
        if error is not None:
            suffix += "-incomplete"
            result["error"] = f"{type(error).__name__}: {error}"[:4000]
        out = args.results / f"programs-{result['date']}{suffix}.json"
        out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        bench.log(f"results: {out}")
        if not args.keep and args.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
