"""The household as programs see it: the ``assess`` input contract and its Arrow form.

The same two Arrow tables (households, members) come from a JSON file (one household), the
registry or the population files (all households), so one set of formulas serves all three.
See docs/programs-io.md for the JSON format.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Literal

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from doudi import ids
from doudi.divisions import DivisionError, Level, get_catalog
from doudi.registry.schema import MONEY, income_fields

Money = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2)]
Relation = Literal["head", "spouse", "child", "parent", "grandchild", "sibling", "other"]
Schooling = Literal["none", "preschool", "compulsory", "high_school", "vocational", "college"]
DisabilityKind = Literal["visual", "hearing", "speech", "physical", "intellectual", "mental", "multiple"]
Category = Literal["dibao", "tekun", "marginal", "rigid_spending", "relapse_watch", "other"]
EmergencyKind = Literal["disaster", "fire", "accident", "illness", "other"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Disability(_Strict):
    kind: DisabilityKind
    grade: int = Field(ge=1, le=4)


class MonthlyIncome(_Strict):
    wage: Money = Decimal(0)
    business: Money = Decimal(0)
    property: Money = Decimal(0)
    transfer: Money = Decimal(0)


class Member(_Strict):
    citizen_id: str | None = None
    birth_date: dt.date | None = None
    relation: Relation
    disability: Disability | None = None
    self_care_failed_items: int = Field(default=0, ge=0, le=6)
    serious_illness: bool = False
    schooling: Schooling = "none"
    able_to_work: bool | None = None
    has_able_supporter: bool = True
    monthly_income: MonthlyIncome = MonthlyIncome()

    @field_validator("citizen_id")
    @classmethod
    def _valid_id(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return ids.parse_citizen_id(value).value
        except ids.CitizenIdError as exc:
            raise ValueError(f"invalid citizen ID: {exc.reason}") from None

    @model_validator(mode="after")
    def _birth_date(self) -> Member:
        if self.citizen_id is None and self.birth_date is None:
            raise ValueError("give citizen_id or birth_date")
        if self.citizen_id is not None:
            from_id = ids.parse_citizen_id(self.citizen_id).birth_date
            if self.birth_date is not None and self.birth_date != from_id:
                raise ValueError(f"birth_date {self.birth_date} differs from the citizen ID's {from_id}")
            object.__setattr__(self, "birth_date", from_id)
        return self


class Property(_Strict):
    vehicles: int = Field(default=0, ge=0)
    extra_housing: int = Field(default=0, ge=0)
    business_registered: int = Field(default=0, ge=0)
    deposits: Money = Decimal(0)

    @field_validator("business_registered", mode="before")
    @classmethod
    def _bool_is_count(cls, value: object) -> object:
        return int(value) if isinstance(value, bool) else value


class RigidSpending(_Strict):
    medical: Money = Decimal(0)
    education: Money = Decimal(0)
    rehabilitation: Money = Decimal(0)


class Emergency(_Strict):
    kind: EmergencyKind
    loss: Money


class HouseholdInput(_Strict):
    """One household to assess (the ``assess`` JSON)."""

    date: dt.date
    division_code: str
    area_type: Literal["urban", "rural"]
    members: list[Member] = Field(min_length=1, max_length=30)
    property: Property = Property()
    rigid_spending_12m: RigidSpending = RigidSpending()
    months_above_standard: int = Field(default=0, ge=0)
    current_categories: list[Category] = []
    current_dibao_monthly: Money | None = None
    emergency: Emergency | None = None
    household_id: str = "household"

    @field_validator("division_code")
    @classmethod
    def _known_division(cls, value: str) -> str:
        catalog = get_catalog()
        try:
            level = catalog.require(value).level if value in catalog else None
            if level is None:
                # Villages are not in the Ministry list: the township must be.
                if len(value) != 12 or not value.isdigit():
                    raise DivisionError(value, "expected 12 digits", "应为12位村（社区）代码")
                catalog.require(value[:9])
            elif level < Level.COUNTY:
                raise DivisionError(value, "must be a county or below", "应为县级及以下区划代码")
        except DivisionError as exc:
            raise ValueError(f"unknown division: {exc}") from None
        return value

    @model_validator(mode="after")
    def _one_head(self) -> HouseholdInput:
        heads = sum(1 for m in self.members if m.relation == "head")
        if heads != 1:
            raise ValueError(f"a household has exactly one member with relation 'head', found {heads}")
        return self


HOUSEHOLD_SCHEMA = pa.schema(
    [
        ("household_id", pa.string()),
        ("on_date", pa.date32()),
        ("county_code", pa.string()),
        ("division_code", pa.string()),
        ("area_type", pa.string()),
        ("vehicles", pa.int32()),
        ("extra_housing", pa.int32()),
        ("business_registered", pa.int32()),
        ("deposits", MONEY),
        ("rigid_medical", MONEY),
        ("rigid_education", MONEY),
        ("rigid_rehabilitation", MONEY),
        ("months_above_standard", pa.int32()),
        ("in_dibao", pa.bool_()),
        ("current_dibao_monthly", MONEY),
        ("emergency_kind", pa.string()),
        ("emergency_loss", MONEY),
    ]
)
MEMBER_SCHEMA = pa.schema(
    [
        ("household_id", pa.string()),
        ("member_no", pa.int16()),
        ("birth_date", pa.date32()),
        ("relation", pa.string()),
        ("disability_kind", pa.string()),
        ("disability_grade", pa.int8()),
        ("self_care_failed_items", pa.int8()),
        ("serious_illness", pa.bool_()),
        ("schooling", pa.string()),
        ("able_to_work", pa.bool_()),
        ("has_able_supporter", pa.bool_()),
        *income_fields(MONEY),
    ]
)


def to_tables(households: list[HouseholdInput]) -> tuple[pa.Table, pa.Table]:
    """The Arrow form of validated inputs: (households, members)."""
    h_rows = []
    m_rows = []
    for h in households:
        h_rows.append(
            {
                "household_id": h.household_id,
                "on_date": h.date,
                "county_code": h.division_code[:6],
                "division_code": h.division_code,
                "area_type": h.area_type,
                "vehicles": h.property.vehicles,
                "extra_housing": h.property.extra_housing,
                "business_registered": h.property.business_registered,
                "deposits": h.property.deposits,
                "rigid_medical": h.rigid_spending_12m.medical,
                "rigid_education": h.rigid_spending_12m.education,
                "rigid_rehabilitation": h.rigid_spending_12m.rehabilitation,
                "months_above_standard": h.months_above_standard,
                "in_dibao": "dibao" in h.current_categories,
                "current_dibao_monthly": h.current_dibao_monthly,
                "emergency_kind": h.emergency.kind if h.emergency else None,
                "emergency_loss": h.emergency.loss if h.emergency else None,
            }
        )
        for i, m in enumerate(h.members):
            m_rows.append(
                {
                    "household_id": h.household_id,
                    "member_no": i,
                    "birth_date": m.birth_date,
                    "relation": m.relation,
                    "disability_kind": m.disability.kind if m.disability else None,
                    "disability_grade": m.disability.grade if m.disability else None,
                    "self_care_failed_items": m.self_care_failed_items,
                    "serious_illness": m.serious_illness,
                    "schooling": m.schooling,
                    "able_to_work": m.able_to_work,
                    "has_able_supporter": m.has_able_supporter,
                    "wage_income": m.monthly_income.wage,
                    "business_income": m.monthly_income.business,
                    "property_income": m.monthly_income.property,
                    "transfer_income": m.monthly_income.transfer,
                }
            )
    return pa.Table.from_pylist(h_rows, HOUSEHOLD_SCHEMA), pa.Table.from_pylist(m_rows, MEMBER_SCHEMA)
