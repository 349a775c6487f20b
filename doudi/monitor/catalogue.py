"""The feature catalogue (``features.yaml``): names, types and meanings of the columns of the
``features`` table that alert rules are written over. The SQL that computes them is in
``steps/``; a test keeps the two in agreement."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

import pyarrow as pa
import yaml
from pydantic import BaseModel, ConfigDict, Field

CATALOGUE_PATH = Path(__file__).with_name("features.yaml")

FeatureType = Literal["boolean", "integer", "money", "date", "string"]

MONEY_SQL = "DECIMAL(18,2)"
SQL_TYPES: dict[str, str] = {
    "boolean": "BOOLEAN",
    "integer": "BIGINT",
    "money": MONEY_SQL,
    "date": "DATE",
    "string": "VARCHAR",
}
ARROW_TYPES: dict[str, pa.DataType] = {
    "boolean": pa.bool_(),
    "integer": pa.int64(),
    "money": pa.decimal128(18, 2),
    "date": pa.date32(),
    "string": pa.string(),
}


class Feature(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    type: FeatureType
    role: Literal["key", "feature"] = "feature"
    label: str
    description: str = ""

    @property
    def sql_type(self) -> str:
        return SQL_TYPES[self.type]


class Catalogue(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    features: tuple[Feature, ...]

    def by_name(self) -> dict[str, Feature]:
        return {f.name: f for f in self.features}

    def usable(self) -> dict[str, Feature]:
        """Features a rule condition may use (keys excluded)."""
        return {f.name: f for f in self.features if f.role == "feature"}

    def sql_schema(self) -> dict[str, str]:
        """``{name: SQL type}`` of every column, as sqlglot's schema wants it."""
        return {f.name: f.sql_type for f in self.features}

    def arrow_schema(self) -> pa.Schema:
        return pa.schema([pa.field(f.name, ARROW_TYPES[f.type]) for f in self.features])


@functools.cache
def get_catalogue(path: Path = CATALOGUE_PATH) -> Catalogue:
    with open(path, encoding="utf-8") as fh:
        return Catalogue.model_validate(yaml.safe_load(fh))
