"""Case-work parameters (``parameters.yaml``): deadlines, review cycles, the approval level and
the programs a household may not hold together. Each value carries its label and source."""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path
from typing import Generic, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict

from doudi.monitor.parameters import monitor_parameters

PARAMETERS_PATH = Path(__file__).with_name("parameters.yaml")
T = TypeVar("T")


class Parameter(BaseModel, Generic[T]):
    model_config = ConfigDict(extra="forbid", frozen=True)

    value: T
    label: str
    source: str


class CaseParameters(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    escalate_after_days: Parameter[int]
    notice_days: Parameter[int]
    decision_working_days: Parameter[int]
    extension_working_days: Parameter[int]
    refusal_notice_working_days: Parameter[int]
    emergency_paperwork_working_days: Parameter[int]
    review_months_stable: Parameter[int]
    review_months_irregular: Parameter[int]
    phase_out_months: Parameter[int]
    approval_level: Parameter[Literal["county", "township"]]
    exclusive_programs: Parameter[list[tuple[str, str]]]
    holidays: Parameter[list[dt.date]]
    workdays: Parameter[list[dt.date]]

    @property
    def alert_due_days(self) -> int:
        """The alert deadline in days (the monitoring's ``due_days``: one value, one place)."""
        return monitor_parameters().due_days.value

    def exclusive_pairs(self) -> set[frozenset[str]]:
        return {frozenset(p) for p in self.exclusive_programs.value}


@functools.cache
def case_parameters(path: Path = PARAMETERS_PATH) -> CaseParameters:
    with open(path, encoding="utf-8") as fh:
        return CaseParameters.model_validate(yaml.safe_load(fh))
