"""Arrow field lists of the registry's person and household attributes, shared by the
synthetic population, the roster, and registry reads, so each column has one type."""

from __future__ import annotations

import pyarrow as pa

MONEY = pa.decimal128(14, 2)
"""Money in the registry's Arrow tables: exact, two decimals (yuan.fen)."""

PERSON_ATTRIBUTES: list[pa.Field] = [
    pa.field("relation", pa.string()),
    pa.field("disability_kind", pa.string()),
    pa.field("disability_grade", pa.int8()),
    pa.field("self_care_failed_items", pa.int8()),
    pa.field("serious_illness", pa.bool_()),
    pa.field("schooling", pa.string()),
    pa.field("employment", pa.string()),
]
"""What a roster says about a person besides name and ID (codes as in codes.py)."""

IDENTITY = [pa.field("name", pa.string()), pa.field("citizen_id", pa.string())]
FROM_ID = [pa.field("sex", pa.string()), pa.field("birth_date", pa.date32())]
"""Derived from the citizen ID, never typed in."""


def income_fields(money: pa.DataType = MONEY) -> list[pa.Field]:
    """Monthly income of a person by kind."""
    return [pa.field(f"{kind}_income", money) for kind in ("wage", "business", "property", "transfer")]


def property_fields(money: pa.DataType = MONEY) -> list[pa.Field]:
    """A household's property: counts, and deposits in yuan."""
    return [
        pa.field("vehicles", pa.int32()),
        pa.field("extra_housing", pa.int32()),
        pa.field("business_registered", pa.int32()),
        pa.field("deposits", money),
    ]
