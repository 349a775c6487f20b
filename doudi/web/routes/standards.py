"""标准: the program parameters (救助标准) in force for a county (or any division) on a date,
with where each value comes from and its policy reference."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from doudi.auth import Actor
from doudi.divisions import DivisionError, Level, level_of_code
from doudi.errors import UserFacingError
from doudi.programs.display import AREA_ZH, format_value
from doudi.programs.parameters import AREAS, Parameter, ParameterSet, Resolved, default_parameters
from doudi.web.deps import actor_with, csrf_protect
from doudi.web.render import page

router = APIRouter(dependencies=[Depends(csrf_protect)])
TOPICS = {
    "dibao": "最低生活保障",
    "tekun": "特困人员救助供养",
    "marginal": "低保边缘家庭",
    "rigid_spending": "刚性支出困难家庭",
    "temporary": "临时救助",
    "disability": "残疾人两项补贴",
}


@dataclass(frozen=True)
class StandardLine:
    param: Parameter
    area: str
    resolved: Resolved | None
    value: str
    source_name: str

    @property
    def topic(self) -> str:
        return self.param.name.split(".")[0]


def _division(params: ParameterSet, code: str) -> tuple[str, str]:
    """(the code parameters are looked up for, its name); a Chinese error for a bad code.
    Townships and villages take their county's parameters."""
    try:
        level = level_of_code(code)
        lookup = code[:6] if level >= Level.TOWNSHIP else code
        division = params.catalog.require(lookup)
    except DivisionError as exc:
        raise UserFacingError(
            "bad_division",
            f"bad division {code!r}: {exc}",
            f"区划代码“{code}”无效：{exc.reason}。请选择省、市（州）或县（市、区）。",
        ) from exc
    return division.code, division.name


def lines(params: ParameterSet, code: str, day: dt.date) -> list[StandardLine]:
    out = []
    for name in sorted(params.parameters):
        param = params[name]
        for area in AREAS if param.by_area else ("all",):
            try:
                resolved: Resolved | None = params.resolve(name, code, area, day)
            except LookupError:
                resolved = None
            out.append(
                StandardLine(
                    param,
                    area,
                    resolved,
                    format_value(resolved.value, resolved.unit) if resolved else "无",
                    params.catalog.require(resolved.division_code).name if resolved else "",
                )
            )
    return out


@router.get("/standards")
def standards_page(
    request: Request,
    actor: Actor = Depends(actor_with("case.view")),
    division: str | None = Query(None, max_length=12),
    on: dt.date | None = Query(None),
) -> Response:
    """Default: the actor's county (a township's or village's), or the province."""
    params = default_parameters()
    day = on or dt.date.today()
    code, name = _division(params, (division or actor.division_code).strip())
    catalog = params.catalog
    prefectures = [
        (p, [c for c in catalog.children(p.code) if c.level is Level.COUNTY])
        for p in catalog.children(catalog.province_code)
        if p.level is Level.PREFECTURE
    ]
    rows = lines(params, code, day)
    return page(
        request,
        "catalogue/standards.html",
        code=code,
        name=name,
        day=day,
        rows=rows,
        topics=TOPICS,
        areas=AREA_ZH,
        province=catalog.require(catalog.province_code),
        prefectures=prefectures,
        missing=sum(1 for r in rows if r.resolved is None),
    )
