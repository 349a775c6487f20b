"""The ``assess`` input contract (doudi/programs/inputs.py): invalid households are refused with an
error that names the field (pydantic ``loc``) and says what is wrong."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from doudi import ids
from doudi.programs.inputs import HouseholdInput

# A synthetic citizen ID (南明区, born 1980-03-01) and the same with a wrong check character.
GOOD_ID = str(
    ids.make_citizen_ids(np.array([520102]), np.array(["1980-03-01"], dtype="datetime64[D]"), np.array([41]))[
        0
    ]
)
BAD_CHECK_ID = GOOD_ID[:17] + ("0" if GOOD_ID[17] != "0" else "1")
HEAD = {"relation": "head", "birth_date": "1980-03-01"}


def household(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "household_id": "h1",
        "date": "2025-06-15",
        "division_code": "520102001001",
        "area_type": "urban",
        "members": [dict(HEAD)],
    }
    data.update(changes)
    return data


def only_error(data: dict[str, Any]) -> dict[str, Any]:
    with pytest.raises(ValidationError) as info:
        HouseholdInput.model_validate(data)
    errors = info.value.errors()
    assert len(errors) == 1, errors
    return errors[0]


INVALID = [
    pytest.param(
        household(division_code="520199001001"),
        ("division_code",),
        "value_error",
        "unknown division: division code '520199001': unknown code",
        id="unknown-division",
    ),
    pytest.param(
        household(division_code="52010200100"),
        ("division_code",),
        "value_error",
        "expected 12 digits",
        id="division-11-digits",
    ),
    pytest.param(
        household(division_code="520000"),
        ("division_code",),
        "value_error",
        "must be a county or below",
        id="division-province",
    ),
    pytest.param(
        household(members=[{"relation": "head", "citizen_id": BAD_CHECK_ID}]),
        ("members", 0, "citizen_id"),
        "value_error",
        f"invalid citizen ID: {ids.REASONS[ids.BAD_CHECK]}",
        id="bad-check-digit",
    ),
    pytest.param(
        household(members=[{**HEAD, "monthly_income": {"wage": "-1.00"}}]),
        ("members", 0, "monthly_income", "wage"),
        "greater_than_equal",
        "greater than or equal to 0",
        id="negative-wage",
    ),
    pytest.param(
        household(members=[{**HEAD, "monthly_income": {"wage": "100.001"}}]),
        ("members", 0, "monthly_income", "wage"),
        "decimal_max_places",
        "no more than 2 decimal places",
        id="wage-below-one-fen",
    ),
    pytest.param(
        # A model-level rule: pydantic reports it at the household (empty loc); the message names the field.
        household(members=[dict(HEAD), {"relation": "head", "birth_date": "1982-05-01"}]),
        (),
        "value_error",
        "exactly one member with relation 'head', found 2",
        id="two-heads",
    ),
    pytest.param(
        household(members=[{"relation": "spouse", "birth_date": "1982-05-01"}]),
        (),
        "value_error",
        "exactly one member with relation 'head', found 0",
        id="no-head",
    ),
    pytest.param(
        household(members=[]),
        ("members",),
        "too_short",
        "at least 1 item",
        id="no-members",
    ),
    pytest.param(
        household(members=[{"relation": "head", "citizen_id": GOOD_ID, "birth_date": "1980-03-02"}]),
        ("members", 0),
        "value_error",
        "birth_date 1980-03-02 differs from the citizen ID's 1980-03-01",
        id="birth-date-contradicts-id",
    ),
    pytest.param(
        household(members=[{"relation": "head"}]),
        ("members", 0),
        "value_error",
        "give citizen_id or birth_date",
        id="no-id-no-birth-date",
    ),
    pytest.param(
        household(members=[dict(HEAD), {"relation": "grandparent", "birth_date": "1950-01-01"}]),
        ("members", 1, "relation"),
        "literal_error",
        "'head', 'spouse', 'child', 'parent', 'grandchild', 'sibling' or 'other'",
        id="unknown-relation",
    ),
    pytest.param(
        household(members=[{**HEAD, "name": "张三"}]),
        ("members", 0, "name"),
        "extra_forbidden",
        "Extra inputs are not permitted",
        id="unknown-member-field",
    ),
    pytest.param(
        household(members=[{**HEAD, "disability": {"kind": "physical", "grade": 5}}]),
        ("members", 0, "disability", "grade"),
        "less_than_equal",
        "less than or equal to 4",
        id="disability-grade-5",
    ),
    pytest.param(
        household(members=[{**HEAD, "self_care_failed_items": 7}]),
        ("members", 0, "self_care_failed_items"),
        "less_than_equal",
        "less than or equal to 6",
        id="seven-self-care-items",
    ),
    pytest.param(
        household(area_type="town"),
        ("area_type",),
        "literal_error",
        "'urban' or 'rural'",
        id="unknown-area",
    ),
    pytest.param(
        household(months_above_standard=-1),
        ("months_above_standard",),
        "greater_than_equal",
        "greater than or equal to 0",
        id="negative-months-above-standard",
    ),
    pytest.param(
        household(emergency={"kind": "flood", "loss": "100.00"}),
        ("emergency", "kind"),
        "literal_error",
        "'disaster', 'fire', 'accident', 'illness' or 'other'",
        id="unknown-emergency-kind",
    ),
    pytest.param(
        household(property={"deposits": "-0.01"}),
        ("property", "deposits"),
        "greater_than_equal",
        "greater than or equal to 0",
        id="negative-deposits",
    ),
]


@pytest.mark.parametrize(("data", "loc", "kind", "message"), INVALID)
def test_invalid_input_names_the_field(
    data: dict[str, Any], loc: tuple[Any, ...], kind: str, message: str
) -> None:
    error = only_error(data)
    assert error["loc"] == loc
    assert error["type"] == kind
    assert message in error["msg"], error["msg"]


def test_valid_household_from_json() -> None:
    """The JSON form validates; the birth date comes from the citizen ID; amounts stay exact."""
    data = household(
        members=[
            {"relation": "head", "citizen_id": GOOD_ID, "monthly_income": {"wage": "1011.39"}},
            {"relation": "child", "birth_date": "2015-01-01", "schooling": "compulsory"},
        ],
        property={"business_registered": True, "deposits": "18672.00"},
        current_categories=["dibao"],
        emergency={"kind": "fire", "loss": "2334.01"},
    )
    h = HouseholdInput.model_validate_json(json.dumps(data))
    assert h.members[0].birth_date == dt.date(1980, 3, 1)
    assert h.members[0].monthly_income.wage == Decimal("1011.39")
    assert h.property.business_registered == 1  # a flag counts as one registration
    assert h.emergency is not None and h.emergency.loss == Decimal("2334.01")


def test_birth_date_agreeing_with_the_id_is_accepted() -> None:
    h = HouseholdInput.model_validate(
        household(members=[{"relation": "head", "citizen_id": GOOD_ID, "birth_date": "1980-03-01"}])
    )
    assert h.members[0].birth_date == dt.date(1980, 3, 1)


def test_every_problem_is_reported_at_once() -> None:
    """Several mistakes in one household come back together, each with its own location."""
    data = household(
        division_code="520199001001",
        members=[{**HEAD, "relation": "grandparent", "monthly_income": {"wage": "-5.00"}}],
    )
    with pytest.raises(ValidationError) as info:
        HouseholdInput.model_validate(data)
    locs = {e["loc"] for e in info.value.errors()}
    assert {("division_code",), ("members", 0, "relation"), ("members", 0, "monthly_income", "wage")} <= locs
