"""Golden cases for the assistance programs (tests/programs/cases/*.yaml), written from docs/programs.md.

Each case file is a list of cases: ``name`` (Chinese), ``input`` (a ``HouseholdInput``, with its own
``household_id``) and ``expect`` (program → the fields to check; only the keys given are checked).
A YAML comment above ``expect`` shows the arithmetic with the parameter values in force.

Every case is assessed on its own (``assess``) and all cases together as one batch (``assess_many``):
the batch must give the same answers, to the fen, as the households one by one.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from doudi.programs.engine import PROGRAMS, ProgramResult, assess, assess_many
from doudi.programs.inputs import HouseholdInput

CASES_DIR = Path(__file__).parent / "cases"
FIELDS = ("eligible", "monthly_amount", "covered", "basis", "details")
CASE_KEYS = {"name", "input", "expect"}


class _CaseLoader(yaml.SafeLoader):
    """YAML numbers with a fraction become exact decimals (never binary floats)."""


def _decimal(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Decimal:
    return Decimal(loader.construct_scalar(node).replace("_", ""))


_CaseLoader.add_constructor("tag:yaml.org,2002:float", _decimal)


@dataclass(frozen=True)
class Case:
    file: str
    line: int
    name: str
    input: dict[str, Any]
    expect: dict[str, dict[str, Any]]

    @property
    def household_id(self) -> str:
        return str(self.input["household_id"])

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line} “{self.name}” ({self.household_id})"


def _lines_of_cases(text: str) -> list[int]:
    """1-based line of each top-level ``- name:`` item, for messages."""
    return [i for i, line in enumerate(text.splitlines(), 1) if line.startswith("- ")]


def load_cases() -> list[Case]:
    cases = []
    for path in sorted(CASES_DIR.glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        items = yaml.load(text, Loader=_CaseLoader)  # a SafeLoader subclass: no arbitrary objects
        assert isinstance(items, list), f"{path.name}: a case file is a list of cases"
        lines = _lines_of_cases(text)
        assert len(lines) == len(items), f"{path.name}: every case starts with '- ' at column 1"
        for line, item in zip(lines, items, strict=True):
            assert isinstance(item, dict) and set(item) == CASE_KEYS, (
                f"{path.name}:{line}: a case has exactly the keys {sorted(CASE_KEYS)}, got {sorted(item)}"
            )
            cases.append(Case(path.name, line, item["name"], item["input"], item["expect"]))
    return cases


CASES = load_cases()
BY_ID = {c.household_id: c for c in CASES}


@cache
def household(household_id: str) -> HouseholdInput:
    return HouseholdInput.model_validate(BY_ID[household_id].input)


@cache
def single(household_id: str) -> dict[str, ProgramResult]:
    return assess(household(household_id))


def _plain(value: object) -> object:
    """A comparable form of an expected or actual detail: dates as ISO text, numbers as Decimal."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float | Decimal):
        return Decimal(str(value))
    if isinstance(value, str):
        try:
            return Decimal(value)
        except ArithmeticError:
            return value
    return value


def mismatches(case: Case, results: Mapping[str, ProgramResult]) -> list[str]:
    """Every expected field that the results do not match, as readable lines."""
    out = []
    for program, fields in case.expect.items():
        got = results[program]
        for field, expected in fields.items():
            if field == "details":
                for key, value in expected.items():
                    if key not in got.details:
                        out.append(
                            f"{program}.details[{key!r}]: expected {value!r}, missing (has {sorted(got.details)})"
                        )
                    elif _plain(got.details[key]) != _plain(value):
                        out.append(
                            f"{program}.details[{key!r}]: expected {value!r}, got {got.details[key]!r}"
                        )
                continue
            actual = getattr(got, field)
            if field == "monthly_amount":
                ok = isinstance(actual, Decimal) and actual == Decimal(expected) and str(actual) == expected
            else:
                ok = actual == expected and type(actual) is type(expected)
            if not ok:
                out.append(f"{program}.{field}: expected {expected!r}, got {actual!r}")
    return out


def test_case_files_are_well_formed() -> None:
    """Unique names and ids, known programs and fields, money as quoted fen amounts, arithmetic shown."""
    assert len(CASES) >= 45
    names = [c.name for c in CASES]
    assert len(set(names)) == len(names), "case names must be unique"
    assert len(BY_ID) == len(CASES), "household_id must be unique across all case files"
    for case in CASES:
        assert case.expect, f"{case.where}: nothing expected"
        for program, fields in case.expect.items():
            assert program in PROGRAMS, f"{case.where}: unknown program {program!r}"
            assert fields and set(fields) <= set(FIELDS), f"{case.where}: {program}: fields {sorted(fields)}"
            amount = fields.get("monthly_amount")
            if amount is not None:
                assert isinstance(amount, str) and re.fullmatch(r"\d+\.\d\d", amount), (
                    f"{case.where}: {program}.monthly_amount is a quoted amount in yuan and fen, like '222.00'"
                )
        household(case.household_id)  # the input is a valid HouseholdInput
    for path in sorted(CASES_DIR.glob("*.yaml")):
        lines = path.read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(lines):
            if line.strip() == "expect:":
                previous = next(p for p in reversed(lines[:i]) if p.strip())
                assert previous.strip().startswith("#"), (
                    f"{path.name}:{i + 1}: show the arithmetic in a comment above expect"
                )


@pytest.mark.parametrize("case", CASES, ids=[c.household_id for c in CASES])
def test_golden_case(case: Case) -> None:
    problems = mismatches(case, single(case.household_id))
    assert not problems, f"{case.where}:\n  " + "\n  ".join(problems)


def _same(a: ProgramResult, b: ProgramResult) -> list[str]:
    out = []
    for field in FIELDS:
        x, y = getattr(a, field), getattr(b, field)
        if field == "monthly_amount":
            same = str(x) == str(y)
        elif field == "details":
            same = {k: _plain(v) for k, v in x.items()} == {k: _plain(v) for k, v in y.items()}
        else:
            same = x == y
        if not same:
            out.append(f"{a.program}.{field}: alone {x!r}, in the batch {y!r}")
    return out


def test_batch_equals_single() -> None:
    """All cases as ONE batch give the same results as each household alone, field by field."""
    batch = assess_many([household(c.household_id) for c in CASES])
    assert set(batch) == set(BY_ID)
    problems = []
    for case in CASES:
        alone = single(case.household_id)
        together = batch[case.household_id]
        assert set(together) == set(PROGRAMS) == set(alone), f"{case.where}: programs {sorted(together)}"
        for program in PROGRAMS:
            problems += [f"{case.where}: {p}" for p in _same(alone[program], together[program])]
    assert not problems, "\n".join(problems)


def test_batch_matches_the_golden_expectations() -> None:
    """The batch results also meet every case's expectations (not only agree with assess)."""
    batch = assess_many([household(c.household_id) for c in CASES])
    problems = [f"{c.where}: {p}" for c in CASES for p in mismatches(c, batch[c.household_id])]
    assert not problems, "\n".join(problems)
