"""The synthetic province's monthly department feeds.

:func:`generate_feeds` reads the synthetic population (``population/{households,persons,
villages}.parquet`` written by :func:`doudi.registry.synthetic.generate_province`) and writes,
for every feed kind of the contracts (12) and every period, one file of what that department
would send for that month, about the same people: deaths, medical settlements, disability
certificates, hukou moves, unemployment registrations, pensions, disaster victims, school
enrolments, and the vehicles, market entities, real estate and public-payroll lists. Rates
and their sources are module constants of :mod:`doudi.feeds.synthetic_events` and
:mod:`doudi.feeds.synthetic_holdings`.

Two styles:

``clean``
    Typed Parquet with exactly :meth:`FeedContract.arrow_schema` (contract column names, enum
    codes, DECIMAL(18,2) money) and nothing wrong in it: the fast path of the benchmarks
    (5 million persons × 12 months, about 25 million rows, in well under a minute).
``delivered``
    What departments really send (:mod:`doudi.feeds.synthetic_mess`): a mix of formats by kind
    (Parquet or UTF-8 CSV for medical, XLSX for disability and disasters, GBK CSV for deaths and
    hukou moves, UTF-8 CSV with BOM for unemployment and pensions, JSON lines for schools, CSV
    for the rest), Chinese headers (the contract's label, sometimes an alias), Chinese enum
    labels, and the messes of real feeds at small rates — each planted row recorded.

Snapshot kinds (pension, vehicle, business, real_estate, public_employee) list, by default,
what the departments return for the civil-affairs check list (``snapshot_scope="registry"``:
members of registered households, as 信息核对 works); ``snapshot_scope="population"`` lists
everyone on record in the province (about 30 million more rows for 5 million persons over
12 months).

Files go to ``out_dir/<period>/<kind>.<ext>``; ``out_dir/manifest.json`` describes every file
(format, encoding, headers, rows, planted messes with their row numbers, rows of people from
other provinces); :func:`plant_summary` reads it back. Deterministic: the same population,
periods, seed, style, scope and part size give byte-identical Parquet, CSV and JSON-lines
files (XLSX files hold the same cells; their zip entries carry the time of writing).

Memory stays bounded: persons are processed in parts of whole households
(:data:`doudi.feeds.synthetic_people.PART_PERSONS`), and every part's rows are written out
before the next part is read.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from doudi.feeds.contract import get_contract
from doudi.feeds.synthetic_base import KINDS, Month, Scope, build_names
from doudi.feeds.synthetic_events import PartFeeds, plan_disasters
from doudi.feeds.synthetic_mess import Planter, delivery_of, open_sink
from doudi.feeds.synthetic_people import PART_PERSONS, iter_parts, load_places

__all__ = ["KINDS", "MANIFEST_NAME", "FeedFile", "generate_feeds", "plant_summary", "read_manifest"]

MANIFEST_NAME = "manifest.json"

Style = Literal["delivered", "clean"]


@dataclass(frozen=True)
class FeedFile:
    """One generated file.

    ``rows`` counts the data rows in the file (planted duplicates and rows of people from
    other provinces included). ``planted`` counts the planted messes by kind (see
    :data:`doudi.feeds.synthetic_mess.MESSES`); ``expected_rejects`` is how many rows a loader
    must quarantine (the messes that cannot be repaired, one per row); ``other_province``
    counts rows about people whose hukou is in another province (valid IDs that match nobody
    in the population).
    """

    kind: str
    period: str
    path: Path
    rows: int
    format: str
    encoding: str | None = None
    planted: dict[str, int] = field(default_factory=dict)
    expected_rejects: int = 0
    other_province: int = 0


def _months(periods: Sequence[str]) -> list[Month]:
    if isinstance(periods, str):
        raise TypeError("periods must be a sequence of 'YYYY-MM' strings, not one string")
    ordered = sorted(set(periods))
    if not ordered:
        raise ValueError("at least one period is needed")
    return [Month.parse(i, p) for i, p in enumerate(ordered)]


def generate_feeds(
    population_dir: Path,
    periods: Sequence[str],
    out_dir: Path,
    *,
    seed: int,
    style: Style = "delivered",
    progress: Callable[[int], None] | None = None,
    snapshot_scope: Scope = "registry",
    part_persons: int = PART_PERSONS,
) -> list[FeedFile]:
    """Write the monthly feeds of every kind for ``periods`` (``YYYY-MM``, processed in order).

    ``population_dir`` is the directory holding ``persons.parquet`` (or its parent, the
    province's ``out_dir``). ``progress`` is called with the number of persons done after each
    part. Returns the files in period, then kind order; the same list is in
    ``out_dir/manifest.json``.
    """
    if style not in ("delivered", "clean"):
        raise ValueError(f"style must be 'delivered' or 'clean', not {style!r}")
    population_dir = Path(population_dir)
    if not (population_dir / "persons.parquet").exists() and (population_dir / "population").is_dir():
        population_dir = population_dir / "population"
    months = _months(periods)
    out_dir = Path(out_dir)
    places = load_places(population_dir)
    names = build_names(places)
    disasters = {m.index: plan_disasters(places, m, seed) for m in months}
    sinks = {}
    planters = {}
    for m in months:
        for kind in KINDS:
            contract = get_contract(kind)
            delivery = delivery_of(kind, m, style, seed)
            path = out_dir / m.period / f"{kind}.{delivery.extension}"
            sinks[m.index, kind] = open_sink(path, contract, delivery)
            planters[m.index, kind] = Planter(contract, m, delivery, seed) if style == "delivered" else None
    done = 0
    try:
        for part in iter_parts(population_dir, places, part_persons):
            feeds = PartFeeds(part, places, names, months, seed, snapshot_scope, disasters)
            for m in months:
                for kind, (table, other) in feeds.month(m.index).items():
                    planter = planters[m.index, kind]
                    sink = sinks[m.index, kind]
                    if planter is not None:
                        table = planter.plant(table, part.no, first_row=sink.rows_written + sink.first_row)
                    sink.write(table, other_province=other)
            done += part.n
            if progress is not None:
                progress(done)
    finally:
        for sink in sinks.values():
            sink.close()
    files: list[FeedFile] = []
    for m in months:
        for kind in KINDS:
            sink = sinks[m.index, kind]
            planter = planters[m.index, kind]
            files.append(
                FeedFile(
                    kind=kind,
                    period=m.period,
                    path=sink.path,
                    rows=sink.rows_written,
                    format=sink.delivery.format,
                    encoding=sink.delivery.encoding,
                    planted=dict(planter.counts) if planter is not None else {},
                    expected_rejects=planter.expected_rejects if planter is not None else 0,
                    other_province=sink.other_province,
                )
            )
    _write_manifest(out_dir, files, planters, sinks, seed=seed, style=style, scope=snapshot_scope)
    return files


def _write_manifest(
    out_dir: Path,
    files: list[FeedFile],
    planters: dict[tuple[int, str], Planter | None],
    sinks: dict[tuple[int, str], Any],
    *,
    seed: int,
    style: str,
    scope: str,
) -> None:
    entries = []
    by_key = {(f.period, f.kind): f for f in files}
    for (m_index, kind), sink in sinks.items():
        planter = planters[m_index, kind]
        f = by_key[(sink.period, kind)]
        entries.append(
            {
                "kind": kind,
                "period": f.period,
                "path": f.path.relative_to(out_dir).as_posix(),
                "format": f.format,
                "encoding": f.encoding,
                "headers": sink.headers,
                "rows": f.rows,
                "planted": f.planted,
                "planted_rows": {k: list(v) for k, v in planter.rows.items()} if planter is not None else {},
                "expected_rejects": f.expected_rejects,
                "other_province": f.other_province,
            }
        )
    entries.sort(key=lambda e: (e["period"], KINDS.index(e["kind"])))
    manifest = {"seed": seed, "style": style, "snapshot_scope": scope, "files": entries}
    (out_dir / MANIFEST_NAME).write_text(
        json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8"
    )


def read_manifest(out_dir: Path) -> dict[str, Any]:
    """The manifest written by :func:`generate_feeds` in ``out_dir``."""
    with (Path(out_dir) / MANIFEST_NAME).open(encoding="utf-8") as fh:
        data: dict[str, Any] = json.load(fh)
    return data


def plant_summary(out_dir: Path) -> dict[str, Any]:
    """What was planted in the feeds of ``out_dir``: totals by mess, and per file
    (``"<period>/<kind>"``) the counts, the expected rejects and the rows of other provinces."""
    manifest = read_manifest(out_dir)
    totals: dict[str, int] = {}
    per_file: dict[str, dict[str, Any]] = {}
    for entry in manifest["files"]:
        for mess, count in entry["planted"].items():
            totals[mess] = totals.get(mess, 0) + count
        per_file[f"{entry['period']}/{entry['kind']}"] = {
            "rows": entry["rows"],
            "planted": entry["planted"],
            "expected_rejects": entry["expected_rejects"],
            "other_province": entry["other_province"],
        }
    return {
        "style": manifest["style"],
        "totals": dict(sorted(totals.items())),
        "expected_rejects": sum(e["expected_rejects"] for e in manifest["files"]),
        "files": per_file,
    }
