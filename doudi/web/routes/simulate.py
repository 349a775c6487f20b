"""测算: the simulation form (a scenario of parameter changes), its results with a chart, and
the Excel report."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from doudi.auth import Actor, can
from doudi.programs import simulation_runs as runs
from doudi.programs.parameters import AREAS, default_parameters
from doudi.programs.simulate import AREA_NAMES, SOURCES
from doudi.web.deps import actor_with, csrf_protect, engine_of, settings_of
from doudi.web.render import page

router = APIRouter(dependencies=[Depends(csrf_protect)])
CHANGE_ROWS = 3
RUN_ID = r"^[0-9a-f]{16}$"


def _defaults() -> dict[str, Any]:
    today = dt.date.today().isoformat()
    return {
        "name": "农村低保标准提高8%",
        "date": today,
        "source": "",
        "description": "",
        "parameter_0": "dibao.standard",
        "area_0": "rural",
        "from_0": today,
        "how_0": "scale",
        "value_0": "1.08",
    }


def _form_page(
    request: Request, actor: Actor, form: dict[str, Any], error: Exception | None = None
) -> Response:
    params = default_parameters()
    allowed = can(actor.role, "simulation.run")
    return page(
        request,
        "simulate/form.html",
        status_code=400 if error else 200,
        allowed=allowed,
        form=form,
        error=error,
        rows=range(CHANGE_ROWS),
        parameters=[p for _, p in sorted(params.parameters.items()) if p.unit != "area"],
        areas=[(a, AREA_NAMES[a]) for a in AREAS],
        sources=SOURCES,
        recent=runs.recent_runs(settings_of(request), actor) if allowed else [],
    )


@router.get("/simulate")
def simulate_form(request: Request, actor: Actor = Depends(actor_with("case.view"))) -> Response:
    return _form_page(request, actor, _defaults())


@router.post("/simulate")
async def simulate_run(request: Request, actor: Actor = Depends(actor_with("simulation.run"))) -> Response:
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str) and len(v) <= 500}
    data = runs.scenario_from_form(form, CHANGE_ROWS)
    try:
        run = await run_in_threadpool(
            runs.run_simulation, engine_of(request), settings_of(request), actor, data
        )
    except (runs.ScenarioProblems, runs.SimulationError) as exc:
        return _form_page(request, actor, form, exc)
    return RedirectResponse(f"/simulate/{run.run_id}", status_code=303)


@router.get("/simulate/{run_id}")
def simulation_result(
    request: Request,
    run_id: str = Path(..., pattern=RUN_ID),
    actor: Actor = Depends(actor_with("simulation.run")),
) -> Response:
    run = runs.get_run(settings_of(request), actor, run_id)
    return page(request, "simulate/result.html", run=run)


@router.post("/simulate/{run_id}/xlsx")
def simulation_xlsx(
    request: Request,
    run_id: str = Path(..., pattern=RUN_ID),
    actor: Actor = Depends(actor_with("simulation.run")),
) -> Response:
    path = runs.run_xlsx(engine_of(request), settings_of(request), actor, run_id)
    return FileResponse(
        path,
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        filename=f"测算-{run_id}.xlsx",
    )
