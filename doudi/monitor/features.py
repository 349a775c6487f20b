"""The feature pipeline of the monthly run: named SQL steps over the registry snapshot and the
feeds, each materialised as a table, the last being ``features`` (one row per subject person,
exactly the columns of :mod:`doudi.monitor.catalogue`).

Inputs, registered by :func:`register_inputs`:

``registry_persons``, ``registry_households``
    The snapshot (:mod:`doudi.monitor.snapshot`).
``feed_<kind>``
    For every contract kind, the stored rows of its loads for the periods of the window (the
    ``window_months`` months ending with the run's); empty, with the stored schema, when there
    are none.
``run_period``
    One row: ``period`` ('YYYY-MM'), ``period_start``, ``period_end`` and ``window_start`` (the
    first day of the window's first month). Steps read dates from here, never from templated SQL.

The steps are the files ``steps/NN_name.sql``, run in order: each is one SELECT in DuckDB's
dialect that starts with a ``--`` comment saying what it computes; the table it makes is
called ``name``. :func:`build_features` runs them on any engine; with ``debug`` it shows each
step's SQL as the engine runs it and the rows it made.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Protocol

import pyarrow as pa

from doudi.feeds.contract import default_contracts
from doudi.monitor.engines.base import MonitorEngine
from doudi.monitor.snapshot import HOUSEHOLDS_SCHEMA, PERSONS_SCHEMA, Snapshot
from doudi.periods import Period

STEPS_DIR = Path(__file__).with_name("steps")
_STEP_FILE = re.compile(r"^(\d\d)_([a-z][a-z0-9_]*)\.sql$")

RUN_PERIOD_SCHEMA = pa.schema(
    [
        ("period", pa.string()),
        ("period_start", pa.date32()),
        ("period_end", pa.date32()),
        ("window_start", pa.date32()),
        ("discovery_oop_floor", pa.decimal128(18, 2)),
    ]
)


@dataclass(frozen=True)
class Step:
    number: int
    name: str
    sql: str
    path: Path

    @property
    def summary(self) -> str:
        """The leading comment: what the step computes."""
        lines = []
        for line in self.sql.splitlines():
            if not line.startswith("--"):
                break
            lines.append(line[2:].strip())
        return " ".join(lines)


def load_steps(directory: Path = STEPS_DIR) -> tuple[Step, ...]:
    """The steps of ``directory`` in order; each file must start with its ``--`` comment."""
    steps = []
    for path in sorted(directory.glob("*.sql")):
        m = _STEP_FILE.match(path.name)
        if not m:
            raise ValueError(f"{path.name}: a step file is named NN_name.sql")
        sql = path.read_text(encoding="utf-8").strip()
        if not sql.startswith("--"):
            raise ValueError(f"{path.name}: a step starts with a -- comment saying what it computes")
        steps.append(Step(int(m.group(1)), m.group(2), sql, path))
    numbers = [s.number for s in steps]
    if len(set(numbers)) != len(numbers):
        raise ValueError(f"two steps share a number in {directory}")
    if not steps or steps[-1].name != "features":
        raise ValueError("the last step must be 'features'")
    return tuple(steps)


STEPS: tuple[Step, ...] = load_steps()


class LoadLike(Protocol):
    """What the pipeline needs of an active feed load (``feed_loads`` row)."""

    @property
    def load_id(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def period(self) -> str: ...
    @property
    def path(self) -> Path: ...


def run_period_table(period: str, window_months: int, discovery_oop_floor: Decimal = Decimal(0)) -> pa.Table:
    """The one-row ``run_period`` table (``discovery_oop_floor``: see parameters.yaml).

    >>> run_period_table("2026-11", 12).to_pylist()[0]["window_start"]
    datetime.date(2025, 12, 1)
    """
    if window_months < 1:
        raise ValueError("window_months must be at least 1")
    p = Period.parse(period)
    first = p.shift(-(window_months - 1))
    return pa.table(
        {
            "period": [str(p)],
            "period_start": [p.start],
            "period_end": [p.end],
            "window_start": [first.start],
            "discovery_oop_floor": [Decimal(discovery_oop_floor)],
        },
        schema=RUN_PERIOD_SCHEMA,
    )


def window_loads(
    loads: Mapping[str, Sequence[LoadLike]], *, period: str, window_months: int
) -> dict[str, list[LoadLike]]:
    """The loads of every contract kind whose period is in the window (one per kind and period)."""
    contracts = default_contracts()
    unknown = sorted(set(loads) - set(contracts))
    if unknown:
        raise ValueError(f"loads of unknown feed kinds: {', '.join(unknown)}")
    window = {str(x) for x in Period.parse(period).window(window_months)}
    out: dict[str, list[LoadLike]] = {}
    for kind in contracts:
        chosen = sorted((ld for ld in loads.get(kind, ()) if ld.period in window), key=lambda ld: ld.period)
        periods = [ld.period for ld in chosen]
        if len(set(periods)) != len(periods):
            raise ValueError(f"more than one active load of {kind} for a period: {periods}")
        out[kind] = chosen
    return out


def register_inputs(
    engine: MonitorEngine,
    *,
    snapshot: Snapshot,
    loads: Mapping[str, Sequence[LoadLike]],
    period: str,
    window_months: int,
    discovery_oop_floor: Decimal = Decimal(0),
) -> None:
    """Register the snapshot, one ``feed_<kind>`` per contract kind and ``run_period``."""
    engine.register_parquet("registry_persons", [snapshot.persons_path], PERSONS_SCHEMA)
    engine.register_parquet("registry_households", [snapshot.households_path], HOUSEHOLDS_SCHEMA)
    contracts = default_contracts()
    for kind, chosen in window_loads(loads, period=period, window_months=window_months).items():
        engine.register_parquet(
            f"feed_{kind}", [Path(ld.path) for ld in chosen], contracts[kind].stored_schema()
        )
    engine.register_arrow("run_period", run_period_table(period, window_months, discovery_oop_floor))


def build_features(
    engine: MonitorEngine,
    *,
    debug: Callable[[str], None] | None = None,
    keep_steps: bool = False,
    steps: Sequence[Step] = STEPS,
) -> int:
    """Materialise every step in order; the number of rows (subjects) of the last, ``features``.

    With ``debug``, each step's SQL (as the engine runs it) goes to ``debug`` before it runs,
    and its row count and time after. The tables of the steps before ``features`` are dropped
    at the end (their memory goes to the rules) unless ``keep_steps`` (or ``debug``) is given."""
    rows = 0
    for step in steps:
        started = time.perf_counter()
        if debug is not None:
            debug(f"-- step {step.number:02d} {step.name} on {engine.name}\n{engine.translate(step.sql)}")
        rows = engine.materialize(step.name, step.sql)
        if debug is not None:
            debug(
                f"-- step {step.number:02d} {step.name}: {rows} rows in {time.perf_counter() - started:.2f} s"
            )
    return rows
