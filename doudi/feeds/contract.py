"""Feed contracts: what each department sends, one YAML file per kind (``contracts/*.yaml``).

A contract names the source department, the columns with their types and Chinese labels
(and the header aliases seen in real files), the column holding the citizen ID, whether a
load is a list of *events* of the period or a full *snapshot* as of the period, the key that
makes a row unique, and row checks written as SQL boolean expressions over the columns.

Loaded feeds are stored with the contract's typed columns plus ``period`` (``YYYY-MM``),
``load_id`` (the manifest row) and ``row_no`` (the row in the file as delivered), see
:func:`FeedContract.stored_schema`.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

import pyarrow as pa
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

CONTRACTS_DIR = Path(__file__).with_name("contracts")

ColumnType = Literal["string", "citizen_id", "division", "date", "money", "integer", "boolean", "enum"]

FEED_MONEY = pa.decimal128(18, 2)
"""Money in feeds: exact, DECIMAL(18,2) in every engine (never binary floating point)."""

_ARROW: dict[str, pa.DataType] = {
    "string": pa.string(),
    "citizen_id": pa.string(),
    "division": pa.string(),
    "date": pa.date32(),
    "money": FEED_MONEY,
    "integer": pa.int32(),
    "boolean": pa.bool_(),
    "enum": pa.string(),
}

#: How each column type is named to users (CLI, docs/feeds.md).
TYPE_LABELS: dict[str, str] = {
    "string": "文本",
    "citizen_id": "身份证号",
    "division": "区划代码",
    "date": "日期",
    "money": "金额",
    "integer": "整数",
    "boolean": "是/否",
    "enum": "代码",
}

#: Columns every stored feed row carries besides the contract's own.
STORED_EXTRA: list[pa.Field] = [
    pa.field("period", pa.string()),
    pa.field("load_id", pa.int64()),
    pa.field("row_no", pa.int64()),
]


class Column(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str
    type: ColumnType
    required: bool = False
    aliases: tuple[str, ...] = ()
    values: dict[str, str] | None = None
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _enum_values(self) -> Column:
        if (self.type == "enum") != (self.values is not None):
            raise ValueError("values: 枚举列（type: enum）必须且只能由枚举列列出取值")
        return self

    @property
    def arrow_type(self) -> pa.DataType:
        return _ARROW[self.type]

    def headers(self) -> tuple[str, ...]:
        """Every header this column is recognised by: name, label and aliases."""
        return (self.name, self.label, *self.aliases)


class Check(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    when: str
    message: str


class FeedContract(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str
    department: str
    mode: Literal["events", "snapshot"]
    person: str
    event_date: str | None = None
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    checks: tuple[Check, ...] = ()

    @model_validator(mode="after")
    def _references(self) -> FeedContract:
        names = [c.name for c in self.columns]
        problems = []
        if len(set(names)) != len(names):
            problems.append("columns: 列名重复")
        if self.person not in names or self.column(self.person).type != "citizen_id":
            problems.append(f"person: {self.person} 不是 citizen_id 类型的列")
        if self.mode == "events":
            if self.event_date is None:
                problems.append("event_date: 事件型数据（mode: events）须指明事件日期列")
            elif self.event_date not in names or self.column(self.event_date).type != "date":
                problems.append(f"event_date: {self.event_date} 不是日期列")
        for k in self.key:
            if k not in names:
                problems.append(f"key: 没有列 {k}")
        if problems:
            raise ValueError("；".join(problems))
        return self

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def arrow_schema(self) -> pa.Schema:
        """The contract's typed columns, in order."""
        return pa.schema([pa.field(c.name, c.arrow_type) for c in self.columns])

    def stored_schema(self) -> pa.Schema:
        """Columns of the stored Parquet: the contract's, then ``period``, ``load_id``, ``row_no``."""
        return pa.schema([*self.arrow_schema(), *STORED_EXTRA])


class ContractError(ValueError):
    """One or more contract files are invalid; ``problems`` lists (file, message)."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("\n".join(f"{f}: {m}" for f, m in problems))


def load_contract(path: Path) -> FeedContract:
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    return FeedContract.model_validate(data)


def load_contracts(directory: Path | None = None) -> dict[str, FeedContract]:
    """Every contract in ``directory`` (the packaged ones by default), by kind.

    All files are read before anything is raised, so one error lists every bad file."""
    directory = directory or CONTRACTS_DIR
    out: dict[str, FeedContract] = {}
    problems: list[tuple[str, str]] = []
    for path in sorted(directory.glob("*.yaml")):
        try:
            contract = load_contract(path)
        except ValidationError as err:
            for e in err.errors():
                loc = ".".join(str(p) for p in e["loc"])
                problems.append((path.name, f"{loc}: {e['msg']}" if loc else e["msg"]))
            continue
        except yaml.YAMLError as err:
            problems.append((path.name, f"YAML 格式错误：{err}"))
            continue
        if contract.kind != path.stem:
            problems.append((path.name, f"kind: {contract.kind} 应与文件名 {path.stem} 一致"))
        out[contract.kind] = contract
    if problems:
        raise ContractError(problems)
    return out


@functools.cache
def default_contracts() -> dict[str, FeedContract]:
    """The packaged contracts, by kind (read once)."""
    return load_contracts()


def get_contract(kind: str) -> FeedContract:
    contracts = default_contracts()
    if kind not in contracts:
        raise KeyError(f"unknown feed kind {kind!r}; known: {', '.join(sorted(contracts))}")
    return contracts[kind]
