"""Simulations run from the browser (测算): a scenario from a form, its results kept for the
results page, its Excel report downloaded (audited).

A run is :func:`doudi.programs.simulate.simulate` exactly as ``doudi programs simulate`` runs
it, on the demo population when there is one and on the registry otherwise (or the source
the scenario names). Each run gets a random id and a folder
``<data_dir>/simulations/web-<id>/`` holding ``simulation.xlsx`` (概要, 按市州, 按县) and
``run.json`` (what the results page shows). The figures are sums over counties: no person
appears in them. Running one needs ``simulation.run`` (the province's analysts and the
administrator: a simulation covers the whole province).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
from sqlalchemy import Engine

from doudi import audit
from doudi.auth import Actor, require
from doudi.errors import UserFacingError
from doudi.programs.explain import PROGRAM_NAMES
from doudi.programs.parameters import ParameterSet, default_parameters
from doudi.programs.run import Source, load_households
from doudi.programs.simulate import (
    AREA_NAMES,
    SOURCES,
    ScenarioError,
    SimulationResult,
    parse_scenario,
    prefecture_costs,
    short_prefecture,
    simulate,
    write_xlsx,
)
from doudi.settings import Settings

_RUN_ID = re.compile(r"^[0-9a-f]{16}$")
KEEP = 50  # runs listed on the page


class SimulationError(UserFacingError):
    pass


class ScenarioProblems(UserFacingError):
    """A scenario that cannot be simulated: every problem at once, in Chinese."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(
            "bad_scenario",
            "invalid scenario: " + "; ".join(problems),
            "测算方案有误，请修改后重试：",
            details=problems,
        )


@dataclass(frozen=True)
class SimulationRun:
    run_id: str
    actor: str
    created_at: str
    name: str
    date: str
    source: str
    description: str | None
    changes: list[str]
    households: int
    persons: int
    ratio: dict[str, str]
    by_program: list[dict[str, Any]]
    by_prefecture: list[dict[str, Any]]
    prefecture_costs: list[dict[str, str]]

    @property
    def source_label(self) -> str:
        return SOURCES.get(self.source, self.source)

    @staticmethod
    def money(row: dict[str, Any], key: str) -> Decimal | None:
        """A money figure of a result row (kept as exact decimal text)."""
        value = row.get(key)
        return None if value is None else Decimal(str(value))

    def chart_data(self) -> dict[str, Any]:
        """Monthly cost by prefecture before and after (万元), and the change by program."""
        wan = Decimal(10000)
        return {
            "prefectures": [c["prefecture"] for c in self.prefecture_costs],
            "before": [
                str((Decimal(c["before"]) / wan).quantize(Decimal("0.01"))) for c in self.prefecture_costs
            ],
            "after": [
                str((Decimal(c["after"]) / wan).quantize(Decimal("0.01"))) for c in self.prefecture_costs
            ],
            "programs": [p["program_label"] for p in self.by_program],
            "monthly_change": [p["monthly_change"] for p in self.by_program],
        }


def _folder(settings: Settings, run_id: str) -> Path:
    if not _RUN_ID.match(run_id):
        raise SimulationError("not_found", f"bad simulation id {run_id!r}", "测算结果不存在。")
    return Path(settings.data_dir) / "simulations" / f"web-{run_id}"


def _plain(table: pa.Table) -> list[dict[str, Any]]:
    rows = []
    for row in table.to_pylist():
        out = {k: str(v) if isinstance(v, Decimal) else v for k, v in row.items()}
        if "program" in out:
            out["program_label"] = PROGRAM_NAMES[out["program"]]
        if "prefecture" in out:
            out["prefecture_short"] = short_prefecture(out["prefecture"])
        rows.append(out)
    return rows


def _source(settings: Settings, chosen: str | None) -> Source:
    if chosen == "registry":
        return "registry"
    if chosen == "population":
        return "population"
    has_population = (Path(settings.data_dir) / "population" / "households.parquet").exists()
    return "population" if has_population else "registry"


def scenario_from_form(form: dict[str, Any], rows: int) -> dict[str, Any]:
    """The scenario mapping (every scalar as text, as YAML would give it) from the form's
    fields: ``name``, ``date``, ``source``, ``description`` and, per change row ``i``,
    ``parameter_i``, ``from_i``, ``area_i``, ``how_i`` (scale/set), ``value_i``,
    ``divisions_i`` (codes separated by spaces or commas). Rows without a parameter are
    left out."""

    def field(key: str) -> str | None:
        value = form.get(key)
        return value.strip() or None if isinstance(value, str) else None

    changes = []
    for i in range(rows):
        if not field(f"parameter_{i}"):
            continue
        change: dict[str, Any] = {"parameter": field(f"parameter_{i}"), "from": field(f"from_{i}")}
        if field(f"area_{i}"):
            change["area"] = field(f"area_{i}")
        change["set" if field(f"how_{i}") == "set" else "scale"] = field(f"value_{i}")
        divisions = re.split(r"[\s,，、]+", field(f"divisions_{i}") or "")
        if any(divisions):
            change["divisions"] = [d for d in divisions if d]
        changes.append(change)
    data: dict[str, Any] = {"name": field("name"), "date": field("date"), "changes": changes}
    for key in ("source", "description"):
        if field(key):
            data[key] = field(key)
    return data


def run_simulation(
    engine: Engine,
    settings: Settings,
    actor: Actor,
    data: dict[str, Any],
    *,
    params: ParameterSet | None = None,
) -> SimulationRun:
    """Check the scenario (:class:`ScenarioProblems` listing every problem), simulate it, write
    the Excel report and the results; the run."""
    require(actor.role, "simulation.run")
    params = params or default_parameters()
    try:
        scenario = parse_scenario(data, params)
    except ScenarioError as exc:
        raise ScenarioProblems(exc.problems) from exc
    src = _source(settings, scenario.source)
    try:
        households, members = load_households(
            src, on=scenario.date, engine=engine, data_dir=Path(settings.data_dir)
        )
    except FileNotFoundError as exc:
        raise SimulationError(
            "no_population", "no population files", "没有模拟省份的人口文件，请改用名册作为数据来源。"
        ) from exc
    if households.num_rows == 0:
        raise SimulationError(
            "no_households",
            f"no households in {src} on {scenario.date}",
            f"{SOURCES[src]}中没有可测算的家庭（{scenario.date.isoformat()}），请先导入名册。",
        )
    try:
        result = simulate(scenario, households=households, members=members, params=params, source=src)
    except LookupError as exc:
        raise SimulationError(
            "no_parameters",
            str(exc),
            f"测算日期 {scenario.date.isoformat()} 没有生效的参数，请改用更晚的日期。",
        ) from exc
    run = _run(result, secrets.token_hex(8), actor)
    folder = _folder(settings, run.run_id)
    folder.mkdir(parents=True, exist_ok=True)
    write_xlsx(result, folder / "simulation.xlsx")
    (folder / "run.json").write_text(json.dumps(asdict(run), ensure_ascii=False), encoding="utf-8")
    return run


def _run(result: SimulationResult, run_id: str, actor: Actor) -> SimulationRun:
    s = result.scenario
    r = result.ratio
    changes = []
    for c in s.changes:
        text = c.describe(result.params_before)
        if c.area is None and result.params_before[c.parameter].by_area:
            text += f"（{AREA_NAMES['urban']}和{AREA_NAMES['rural']}）"
        changes.append(text)
    return SimulationRun(
        run_id=run_id,
        actor=actor.username,
        created_at=dt.datetime.now().replace(microsecond=0).isoformat(sep=" "),
        name=s.name,
        date=s.date.isoformat(),
        source=result.source or "",
        description=s.description,
        changes=changes,
        households=result.households,
        persons=result.persons,
        ratio={
            "province_before": str(r.province_before),
            "province_after": str(r.province_after),
            "weighted_before": str(r.weighted_before),
            "weighted_after": str(r.weighted_after),
        },
        by_program=_plain(result.by_program),
        by_prefecture=_plain(result.by_prefecture),
        prefecture_costs=[
            {"prefecture": short_prefecture(name), "before": str(b), "after": str(a)}
            for name, b, a in prefecture_costs(result)
        ],
    )


def get_run(settings: Settings, actor: Actor, run_id: str) -> SimulationRun:
    require(actor.role, "simulation.run")
    path = _folder(settings, run_id) / "run.json"
    if not path.is_file():
        raise SimulationError("not_found", f"no simulation {run_id}", "测算结果不存在。")
    return SimulationRun(**json.loads(path.read_text(encoding="utf-8")))


def recent_runs(settings: Settings, actor: Actor) -> list[SimulationRun]:
    """The latest runs, newest first."""
    require(actor.role, "simulation.run")
    folder = Path(settings.data_dir) / "simulations"
    runs = []
    for path in folder.glob("web-*/run.json"):
        try:
            runs.append(SimulationRun(**json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError, TypeError):
            continue
    return sorted(runs, key=lambda r: r.created_at, reverse=True)[:KEEP]


def run_xlsx(engine: Engine, settings: Settings, actor: Actor, run_id: str) -> Path:
    """The run's Excel report, for download (audited as an export)."""
    run = get_run(settings, actor, run_id)
    path = _folder(settings, run_id) / "simulation.xlsx"
    if not path.is_file():
        raise SimulationError("not_found", f"no report for simulation {run_id}", "测算报表不存在。")
    with engine.begin() as conn:
        audit.record(
            conn,
            actor=actor.username,
            action="export",
            object_type="simulation",
            object_ref=run_id,
            detail={"name": run.name, "date": run.date, "source": run.source, "file": path.name},
        )
    return path
