"""Run the program formulas on one household, many, or the whole registry.

:func:`evaluate` is the one place the formulas run: Arrow tables in (households, members,
parameters), one Arrow row per household out. :func:`assess` and :func:`assess_many` wrap it for
validated inputs and turn rows into :class:`ProgramResult` objects with their explanation.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from doudi.programs.formulas import MACROS, STEPS
from doudi.programs.inputs import HouseholdInput, to_tables
from doudi.programs.parameters import ParameterSet, default_parameters

log = logging.getLogger(__name__)

PROGRAMS = (
    "dibao",
    "tekun",
    "marginal",
    "rigid_spending",
    "temporary_assistance",
    "disability_care_subsidy",
    "disability_living_subsidy",
)
# Result-table column prefix of each program.
PREFIX = {
    "dibao": "dibao",
    "tekun": "tekun",
    "marginal": "marginal",
    "rigid_spending": "rigid_spending",
    "temporary_assistance": "temporary",
    "disability_care_subsidy": "care_subsidy",
    "disability_living_subsidy": "living_subsidy",
}
SHARED_DETAILS = (
    "n",
    "standard",
    "standard_urban",
    "total_income",
    "counted_income",
    "per_capita_income",
    "employment_disregard",
    "rigid_disregard",
    "rigid_spending_12m",
    "gap",
    "marginal_line",
    "disposable_income_monthly",
    "property_ok",
    "employed_count",
    "individual_count",
    "dibao_members",
)


@dataclass(frozen=True)
class ProgramResult:
    """One program's outcome for one household."""

    program: str
    eligible: bool
    monthly_amount: Decimal
    covered: int
    basis: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


def parameter_table(households: pa.Table, params: ParameterSet) -> pa.Table:
    """Parameters in force for every (county, date) the households need, both areas."""
    pairs = (
        households.select(["county_code", "on_date"])
        .group_by(["county_code", "on_date"])
        .aggregate([])
        .to_pylist()
    )
    by_date: dict[dt.date, list[str]] = {}
    for row in pairs:
        by_date.setdefault(row["on_date"], []).append(row["county_code"])
    parts = []
    for on, counties in sorted(by_date.items()):
        t = params.table(on, counties)
        parts.append(t.append_column("on_date", pa.array([on] * t.num_rows, pa.date32())))
    return pa.concat_tables(parts)


def connect() -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the formulas' macros."""
    con = duckdb.connect()
    for macro in MACROS:
        con.execute(macro)
    return con


# Idle connections for small batches (opening one costs more than a household), taken by one
# thread at a time. Not thread-local: a thread's own connection is destroyed when the thread
# ends, and a daemon thread (a web server's worker) ending while the interpreter shuts down
# aborts the process inside DuckDB's destructor ("FATAL: exception not rethrown").
_idle: queue.SimpleQueue[duckdb.DuckDBPyConnection] = queue.SimpleQueue()


@contextmanager
def shared_connection() -> Iterator[duckdb.DuckDBPyConnection]:
    """An idle pooled connection for a small query (returned to the pool afterwards)."""
    try:
        con = _idle.get_nowait()
    except queue.Empty:
        con = connect()
    try:
        yield con
    finally:
        _idle.put(con)


# Households evaluated per DuckDB query in a large batch, and DuckDB's memory for it (it
# spills beyond; a chunk needs far less).
CHUNK_HOUSEHOLDS = 250_000
BATCH_MEMORY_LIMIT = "1GB"
# Up to this many households a batch is planned once (see _evaluate_chunk).
SMALL_BATCH = 1000

PIPELINE = (
    "WITH "
    + ",\n".join(f"{name} AS NOT MATERIALIZED ({sql})" for name, sql in STEPS)
    + "\nSELECT * FROM results ORDER BY household_id"
)


def evaluate(
    households: pa.Table,
    members: pa.Table,
    params: ParameterSet | None = None,
    *,
    con: duckdb.DuckDBPyConnection | None = None,
    debug: bool = False,
    chunk_households: int = CHUNK_HOUSEHOLDS,
) -> pa.Table:
    """Every program for every household: one row per household, ordered by household_id
    (see formulas.py). A large batch runs in chunks of whole households, so that memory is
    bounded by a chunk and the result, whatever the size of the registry.

    With ``debug`` each step runs on its own and its SQL and row count are logged.
    """
    params = params or default_parameters()
    if households.num_rows <= chunk_households:
        if con is None:
            with shared_connection() as shared:
                return _evaluate_chunk(shared, households, members, params, debug)
        return _evaluate_chunk(con, households, members, params, debug)
    if con is None:
        # A big batch gets its own connection, closed afterwards: DuckDB keeps the memory it
        # used until its connection closes, and the thread's shared one lives on.
        with connect() as own:
            own.execute(f"SET memory_limit = '{BATCH_MEMORY_LIMIT}'")
            return _evaluate_chunks(own, households, members, params, debug, chunk_households)
    return _evaluate_chunks(con, households, members, params, debug, chunk_households)


def _evaluate_chunks(
    con: duckdb.DuckDBPyConnection,
    households: pa.Table,
    members: pa.Table,
    params: ParameterSet,
    debug: bool,
    chunk_households: int,
) -> pa.Table:
    households = _sorted(households, ["household_id"])
    members = _sorted(members, ["household_id", "member_no"])
    # Members of each household, in household order: the offsets of the chunks in ``members``.
    con.register("hh_keys", households.select(["household_id"]))
    con.register("mm_keys", members.select(["household_id"]))
    counts = con.sql(
        """SELECT coalesce(c.k, 0) AS k FROM hh_keys LEFT JOIN
               (SELECT household_id, count(*) AS k FROM mm_keys GROUP BY household_id) AS c USING (household_id)
           ORDER BY hh_keys.household_id"""
    ).to_arrow_table()
    con.unregister("hh_keys")
    con.unregister("mm_keys")
    offsets = np.concatenate([[0], np.cumsum(counts.column("k").to_numpy())])
    if offsets[-1] != members.num_rows:
        raise ValueError("every member must belong to one of the households")
    parts = []
    for start in range(0, households.num_rows, chunk_households):
        stop = min(start + chunk_households, households.num_rows)
        m_start, m_stop = int(offsets[start]), int(offsets[stop])
        parts.append(
            _evaluate_chunk(
                con,
                households.slice(start, stop - start),
                members.slice(m_start, m_stop - m_start),
                params,
                debug,
            )
        )
    return pa.concat_tables(parts)


def _sorted(table: pa.Table, keys: list[str]) -> pa.Table:
    """``table`` sorted by ``keys`` (ascending), without sorting when it already is."""
    col = table.column(keys[0])
    if table.num_rows < 2 or (
        len(keys) == 1 and not pc.any(pc.less(col.slice(1), col.slice(0, table.num_rows - 1))).as_py()
    ):
        return table
    return table.sort_by([(k, "ascending") for k in keys])


def _evaluate_chunk(
    con: duckdb.DuckDBPyConnection, households: pa.Table, members: pa.Table, params: ParameterSet, debug: bool
) -> pa.Table:
    con.register("h", households)
    con.register("m", members)
    con.register("p", parameter_table(households, params))
    try:
        if not debug and households.num_rows > SMALL_BATCH:
            return con.sql(PIPELINE).to_arrow_table()
        if not debug:
            # A relation (con.sql) plans the query twice; for a handful of households planning is
            # most of the work, and the extra copy DuckDB warns about is a few rows.
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Arrow output on a DB-API result")
                return con.execute(PIPELINE).to_arrow_table()
        for name, sql in STEPS:
            con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}")
            found = con.execute(f"SELECT count(*) FROM {name}").fetchone()
            log.warning("step %s: %s rows\n%s", name, found[0] if found else "?", sql)
        result = con.sql("SELECT * FROM results ORDER BY household_id").to_arrow_table()
        for name, _sql in STEPS:
            con.execute(f"DROP TABLE IF EXISTS {name}")
        return result
    finally:
        for view in ("h", "m", "p"):
            con.unregister(view)


def _results_of(row: dict[str, Any]) -> dict[str, ProgramResult]:
    shared = {k: row[k] for k in SHARED_DETAILS}
    out: dict[str, ProgramResult] = {}
    for program in PROGRAMS:
        prefix = PREFIX[program]
        details = dict(shared)
        basis = None
        if program == "dibao":
            basis = row["dibao_basis"]
        elif program == "temporary_assistance":
            basis = row["temporary_approval"]
            details.update(
                advance_payment=row["temporary_advance_payment"],
                cap=row["temporary_cap"],
                township_limit=row["temporary_township_limit"],
            )
        elif program == "rigid_spending":
            details["valid_until"] = row["rigid_spending_valid_until"]
        amount = row.get(f"{prefix}_amount")
        out[program] = ProgramResult(
            program=program,
            eligible=bool(row[f"{prefix}_eligible"]),
            monthly_amount=Decimal(amount).quantize(Decimal("0.01"))
            if amount is not None
            else Decimal("0.00"),
            covered=int(row.get(f"{prefix}_covered") or 0),
            basis=basis,
            details=details,
        )
    return out


def assess_many(
    households: list[HouseholdInput], params: ParameterSet | None = None
) -> dict[str, dict[str, ProgramResult]]:
    """Assess many households in one columnar batch; results by household_id."""
    ids = [h.household_id for h in households]
    if len(set(ids)) != len(ids):
        raise ValueError("household_id must be unique within a batch")
    h, m = to_tables(households)
    table = evaluate(h, m, params)
    return {row["household_id"]: _results_of(row) for row in table.to_pylist()}


def assess(household: HouseholdInput, params: ParameterSet | None = None) -> dict[str, ProgramResult]:
    """Assess one household (the same formulas as the batch, on a batch of one)."""
    return assess_many([household], params)[household.household_id]
