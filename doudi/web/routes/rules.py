"""规则: the alert-rule catalogue, read-only — each rule's condition, thresholds, explanation
and policy reference, as the monitoring run applies them."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from doudi.auth import Actor
from doudi.errors import UserFacingError
from doudi.feeds.contract import default_contracts
from doudi.monitor.catalogue import get_catalogue
from doudi.monitor.rules import (
    GRAINS,
    ID_PATTERN,
    PARAM_UNITS,
    SEVERITIES,
    Rule,
    format_param,
    load_rules,
)
from doudi.web.deps import actor_with, csrf_protect
from doudi.web.render import page

router = APIRouter(dependencies=[Depends(csrf_protect)])
_PLACEHOLDER = re.compile(r"\{([a-z][a-z0-9_]*)\}")


@dataclass(frozen=True)
class Piece:
    """A piece of an explanation: text, a fact filled in per alert, or a threshold."""

    text: str
    kind: str  # "text", "fact" or "param"


@dataclass(frozen=True)
class Threshold:
    name: str
    value: str
    unit: str
    source: str
    unconfirmed: bool


def explanation_pieces(rule: Rule) -> list[Piece]:
    """The explanation template with each ``{fact}`` named by its label and each threshold
    given its value, for reading without an alert at hand."""
    features = get_catalogue().by_name()
    out: list[Piece] = []
    pos = 0
    for m in _PLACEHOLDER.finditer(rule.explanation):
        if m.start() > pos:
            out.append(Piece(rule.explanation[pos : m.start()], "text"))
        name = m.group(1)
        if name in rule.params:
            p = rule.params[name]
            out.append(Piece(format_param(p.value, p.unit), "param"))
        else:
            feature = features.get(name)
            out.append(Piece(feature.label if feature else name, "fact"))
        pos = m.end()
    if pos < len(rule.explanation):
        out.append(Piece(rule.explanation[pos:], "text"))
    return out


def thresholds(rule: Rule) -> list[Threshold]:
    return [
        Threshold(
            name,
            format_param(p.value, p.unit),
            PARAM_UNITS[p.unit].split("（")[0],
            p.source.removeprefix("[UNCONFIRMED]").strip(),
            p.source.startswith("[UNCONFIRMED]"),
        )
        for name, p in rule.params.items()
    ]


@router.get("/rules")
def rules_page(
    request: Request,
    actor: Actor = Depends(actor_with("case.view")),
    on: dt.date | None = Query(None),
) -> Response:
    rules = load_rules()
    day = on or dt.date.today()
    return page(
        request,
        "catalogue/rules.html",
        rules=rules,
        day=day,
        severities=SEVERITIES,
        grains=GRAINS,
    )


@router.get("/rules/{rule_id}")
def rule_page(
    request: Request,
    rule_id: str = Path(..., max_length=60, pattern=ID_PATTERN),
    actor: Actor = Depends(actor_with("case.view")),
) -> Response:
    found = [r for r in load_rules() if r.id == rule_id]
    if not found:
        raise UserFacingError("not_found", f"no rule {rule_id}", f"预警规则“{rule_id}”不存在。")
    features = get_catalogue().by_name()
    contracts = default_contracts()
    return page(
        request,
        "catalogue/rule.html",
        rules=[
            {
                "rule": r,
                "pieces": explanation_pieces(r),
                "thresholds": thresholds(r),
                "features": [features[f] for f in r.facts_columns if f in features],
                "feeds": [
                    (contracts[f.kind].title if f.kind in contracts else f.kind, f.months)
                    for f in r.evidence.feeds
                ],
            }
            for r in found
        ],
        severities=SEVERITIES,
        grains=GRAINS,
        today=dt.date.today(),
    )
