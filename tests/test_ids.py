"""Citizen IDs: the standard's examples, spreadsheet damage, and scalar/vector agreement."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from doudi import ids

STANDARD_EXAMPLES = ["11010519491231002X", "440524188001010014"]


@pytest.mark.parametrize("value", STANDARD_EXAMPLES)
def test_standard_examples_are_valid(value: str) -> None:
    parsed = ids.parse_citizen_id(value)
    assert parsed.value == value
    assert ids.check_character(value[:17]) == value[17]


def test_derived_fields() -> None:
    a = ids.parse_citizen_id("11010519491231002X")
    assert (a.address_code, a.birth_date, a.sex) == ("110105", dt.date(1949, 12, 31), "female")
    b = ids.parse_citizen_id("440524188001010014")
    assert (b.birth_date, b.sex) == (dt.date(1880, 1, 1), "male")
    assert a.age_on(dt.date(2025, 12, 30)) == 75
    assert a.age_on(dt.date(2025, 12, 31)) == 76


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("11010519491231002x", "11010519491231002X"),
        (" 11010519491231002X\t", "11010519491231002X"),
        ("１１０１０５１９４９１２３１００２Ｘ", "11010519491231002X"),
        ("1101 0519 4912 3100 2X", "11010519491231002X"),
    ],
)
def test_spreadsheet_forms_are_normalised(raw: str, expected: str) -> None:
    assert ids.parse_citizen_id(raw).value == expected


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("5.20102E+17", ids.SCIENTIFIC),
        ("5.20102198001012E+17", ids.SCIENTIFIC),
        ("520102198001011000.0", ids.FLOAT_REMNANT),
        ("520102800101123", ids.FIFTEEN_DIGITS),
        ("", ids.EMPTY),
        ("52010219800101123", ids.BAD_LENGTH),
        ("52010219800101123Y", ids.BAD_CHARACTERS),
        ("990102198001011235", ids.BAD_PROVINCE),
        ("520000198001011235", ids.BAD_ADDRESS),
        ("520102198002301237", ids.BAD_BIRTH_DATE),
        ("520102198001011231", ids.BAD_CHECK),
    ],
)
def test_bad_values_name_their_reason(raw: str, code: int) -> None:
    with pytest.raises(ids.CitizenIdError) as info:
        ids.parse_citizen_id(raw)
    assert info.value.code == code
    assert info.value.reason == ids.REASONS[code]
    _, reasons = ids.validate_citizen_ids([raw])
    assert int(reasons[0]) == code


def test_excel_damage_is_never_repaired() -> None:
    """Digits lost to scientific notation must not be guessed back."""
    normalised, reasons = ids.validate_citizen_ids(["5.20102E+17"])
    assert reasons[0] == ids.SCIENTIFIC
    assert "E" in str(normalised[0])


def test_masking() -> None:
    assert ids.mask_citizen_id("52010219800101123X") == "5201**********123X"
    assert ids.mask_name("欧阳小明") == "欧***"


birth_dates = st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2024, 12, 31))
addresses = st.sampled_from([110105, 440524, 520102, 520103, 522701, 520602])
sequences = st.integers(min_value=0, max_value=999)


@settings(max_examples=200, deadline=None)
@given(address=addresses, birth=birth_dates, seq=sequences)
def test_generated_ids_pass_and_every_single_change_fails(address: int, birth: dt.date, seq: int) -> None:
    value = str(
        ids.make_citizen_ids(np.array([address]), np.array([birth], dtype="datetime64[D]"), np.array([seq]))[
            0
        ]
    )
    parsed = ids.parse_citizen_id(value)
    assert parsed.birth_date == birth
    assert parsed.sex == ("male" if seq % 2 else "female")
    mutants = []
    for pos in range(18):
        alphabet = "0123456789X" if pos == 17 else "0123456789"
        for ch in alphabet:
            if ch != value[pos]:
                mutants.append(value[:pos] + ch + value[pos + 1 :])
    assert not any(ids.is_valid_citizen_id(m) for m in mutants)
    _, reasons = ids.validate_citizen_ids(mutants)
    assert (reasons != ids.OK).all()


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789Xx .E+-", max_size=20))
def test_vectorised_check_agrees_with_scalar(raw: str) -> None:
    _, reasons = ids.validate_citizen_ids([raw])
    try:
        ids.parse_citizen_id(raw)
        scalar = ids.OK
    except ids.CitizenIdError as exc:
        scalar = exc.code
    assert int(reasons[0]) == scalar


def test_vectorised_derivations_match_scalar() -> None:
    values = np.array(STANDARD_EXAMPLES)
    assert list(ids.birth_dates_of(values).astype(str)) == ["1949-12-31", "1880-01-01"]
    assert list(ids.sexes_of(values)) == ["female", "male"]
