"""Monitoring parameters (``parameters.yaml``): the alert deadline, the suppression window,
the feature window. Each value carries its label and source."""

from __future__ import annotations

import functools
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict

PARAMETERS_PATH = Path(__file__).with_name("parameters.yaml")


class Parameter(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    value: int
    label: str
    source: str


class MonitorParameters(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    due_days: Parameter
    suppress_days: Parameter
    window_months: Parameter
    discovery_oop_floor: Parameter


@functools.cache
def monitor_parameters(path: Path = PARAMETERS_PATH) -> MonitorParameters:
    with open(path, encoding="utf-8") as fh:
        return MonitorParameters.model_validate(yaml.safe_load(fh))
