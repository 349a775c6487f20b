"""Households for integrations reading as a staff account: ``/api/v1/households``.

The same services as the household pages (:mod:`doudi.registry.households`), scoped like the
token's user: a search (POSTed: a name or ID digits never go in a URL or a log line), the
household's file, what the programs say it is entitled to, and what the departments' feeds in
force say about its members. Names and citizen IDs are always masked here (the unmasked view
with a stated reason is for signed-in staff in the browser); a household outside the scope
does not exist (404), and the attempt is written to the audit log.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from doudi.auth import Actor
from doudi.registry.households import (
    MAX_PAGE_SIZE,
    PAGE_SIZE,
    household_assessment,
    household_detail,
    household_feed_matches,
    search_households,
)
from doudi.web.deps import engine_of
from doudi.web.routes.api_alerts import EvidenceOut
from doudi.web.routes.api_common import ERRORS, MAX_BIGINT, MAX_PAGE, PREFIX, ApiOut, Timestamp
from doudi.web.tokens import api_reader

api = APIRouter(prefix=f"{PREFIX}/households", tags=["家庭"], responses=ERRORS)

_reader = api_reader("case.view")

# Free text may not carry control characters (PostgreSQL refuses NUL in a string).
_TEXT = r"^[^\x00-\x1f\x7f]*$"


class SearchIn(BaseModel):
    """What to look for: any of a citizen ID's tail, a whole name, a household number, within
    the user's scope or a division inside it. Without a criterion: the division's households
    (a county or below)."""

    model_config = ConfigDict(extra="forbid")

    id_tail: str | None = Field(
        None,
        pattern=r"^[0-9]{3,17}[0-9Xx]$",
        description="身份证号后4位至完整18位（末位可为X）",
        json_schema_extra={"examples": ["123X"]},
    )
    name: str | None = Field(None, max_length=100, pattern=_TEXT, description="姓名（全名）")
    household_no: str | None = Field(None, max_length=40, pattern=_TEXT, description="户编号")
    division: str | None = Field(
        None,
        pattern=r"^([0-9]{2}|[0-9]{4}|[0-9]{6}|[0-9]{9}|[0-9]{12})$",
        description="区划代码（县6位、乡镇9位、村12位），须在令牌用户的管辖范围内",
    )
    page: int = Field(1, ge=1, le=MAX_PAGE)
    page_size: int = Field(PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)


class HouseholdHitOut(ApiOut):
    household_id: int
    household_no: str
    division_code: str
    division_name: str
    area_type: str
    area_label: str
    head_name: str = Field(description="户主姓名（脱敏）")
    head_citizen_id: str = Field(description="户主公民身份号码（脱敏）")
    member_count: int
    categories: list[str]
    category_labels: str


class HouseholdPageOut(BaseModel):
    items: list[HouseholdHitOut]
    total: int
    page: int
    page_size: int
    pages: int


class DivisionOut(BaseModel):
    code: str
    name: str


class MemberOut(ApiOut):
    person_id: int
    name: str = Field(description="姓名（脱敏）")
    citizen_id: str = Field(description="公民身份号码（脱敏）")
    sex: str
    sex_label: str
    age: int
    relation: str
    relation_label: str
    disability_kind: str | None
    disability_grade: int | None
    disability_label: str
    self_care_failed_items: int
    serious_illness: bool
    schooling: str
    schooling_label: str
    employment: str | None
    employment_label: str
    monthly_income: Decimal
    valid_from: dt.date
    valid_to: dt.date | None


class CategoryOut(ApiOut):
    category: str
    label: str
    start_date: dt.date
    end_date: dt.date | None
    current: bool


class IncomeOut(ApiOut):
    person_id: int
    member: str = Field(description="成员姓名（脱敏）")
    relation: str
    relation_label: str
    kind: str
    kind_label: str
    monthly_amount: Decimal
    valid_from: dt.date
    valid_to: dt.date | None


class AssetOut(ApiOut):
    kind: str
    kind_label: str
    amount: Decimal
    valid_from: dt.date
    valid_to: dt.date | None


class VersionOut(ApiOut):
    valid_from: dt.date
    valid_to: dt.date | None
    division_code: str
    division_name: str
    address: str | None
    area_type: str
    area_label: str
    member_count: int


class RecipientOut(ApiOut):
    id: int
    program: str
    program_label: str
    status: str
    status_label: str
    start_month: str
    end_month: str | None
    monthly_amount: Decimal | None
    covered_members: int | None
    next_review_due: dt.date | None


class AlertRefOut(ApiOut):
    id: int
    rule_id: str
    severity: str
    severity_label: str
    title: str
    status: str
    status_label: str
    raised_at: Timestamp
    due_date: dt.date
    closed_at: Timestamp | None


class EvidenceRefOut(EvidenceOut):
    """A feed row behind one of the household's alerts, with its source department."""

    alert_id: int


class HouseholdOut(ApiOut):
    """The household's file."""

    household_id: int
    household_no: str
    division_code: str
    place: str
    divisions: list[DivisionOut]
    address: str | None
    area_type: str
    area_label: str
    on: dt.date
    monthly_income: Decimal
    members: list[MemberOut]
    former_members: list[MemberOut]
    categories: list[CategoryOut]
    incomes: list[IncomeOut]
    assets: list[AssetOut]
    versions: list[VersionOut]
    recipients: list[RecipientOut]
    alerts: list[AlertRefOut]
    evidence: list[EvidenceRefOut]


class ProgramOut(ApiOut):
    program: str
    name: str
    eligible: bool
    monthly_amount: Decimal
    covered: int
    basis: str | None
    summary: str = Field(description="一句话说明")
    values: dict[str, Any]
    parameters: dict[str, Any]


class AssessmentOut(ApiOut):
    household_id: int
    on: dt.date
    members: int
    categories: list[str]
    programs: list[ProgramOut]


class FeedMatchOut(ApiOut):
    kind: str
    title: str
    department: str
    load_id: int
    period: str
    row_no: int
    member: str = Field(description="成员姓名（脱敏）")
    citizen_id: str = Field(description="公民身份号码（脱敏）")
    relation: str
    relation_label: str
    fields: dict[str, Any]


class FeedMatchesOut(ApiOut):
    household_id: int
    on: dt.date
    sources: list[dict[str, Any]]
    matches: list[FeedMatchOut]
    findings: dict[str, Any]
    rules: dict[str, str]


HOUSEHOLD_ID = Path(ge=1, le=MAX_BIGINT, description="家庭的内部编号（household_id）")


@api.post("/search", response_model=HouseholdPageOut, summary="家庭查询")
def search(
    request: Request,
    criteria: SearchIn,
    actor: Actor = Depends(_reader),
) -> HouseholdPageOut:
    """Households of the token user's scope matching the criteria, by division and household
    number, a page at a time (names and IDs masked)."""
    found = search_households(
        engine_of(request),
        actor,
        id_tail=criteria.id_tail,
        name=criteria.name,
        division=criteria.division,
        household_no=criteria.household_no,
        page=criteria.page,
        page_size=criteria.page_size,
    )
    return HouseholdPageOut(
        items=[HouseholdHitOut.model_validate(h) for h in found.rows],
        total=found.total,
        page=found.page,
        page_size=found.page_size,
        pages=found.pages,
    )


@api.get("/{household_id:int}", response_model=HouseholdOut, summary="家庭档案")
def household(
    request: Request, household_id: int = HOUSEHOLD_ID, actor: Actor = Depends(_reader)
) -> HouseholdOut:
    """Members now and before, categories with their history, incomes, property, where the
    household lived, the assistance it receives, its alerts and the feed rows behind them.
    Outside the user's scope: 404 (audited)."""
    detail = household_detail(engine_of(request), actor, household_id)
    return HouseholdOut.model_validate(
        {
            **{f: getattr(detail, f) for f in HouseholdOut.model_fields if f != "divisions"},
            "divisions": [DivisionOut(code=c, name=n) for c, n in detail.divisions],
        }
    )


@api.get("/{household_id:int}/assessment", response_model=AssessmentOut, summary="救助测算")
def assessment(
    request: Request, household_id: int = HOUSEHOLD_ID, actor: Actor = Depends(_reader)
) -> AssessmentOut:
    """What each program says the household is entitled to today, with its explanation (the
    values used and the parameters with their source)."""
    return AssessmentOut.model_validate(household_assessment(engine_of(request), actor, household_id))


@api.get("/{household_id:int}/feed-matches", response_model=FeedMatchesOut, summary="部门数据比对")
def feed_matches(
    request: Request, household_id: int = HOUSEHOLD_ID, actor: Actor = Depends(_reader)
) -> FeedMatchesOut:
    """The rows of the departments' feeds in force that name a current member (vehicles, real
    estate, market entities, public employment, pensions, deaths), each with its department,
    load and row."""
    return FeedMatchesOut.model_validate(household_feed_matches(engine_of(request), actor, household_id))
