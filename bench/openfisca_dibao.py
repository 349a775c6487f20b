"""The simplified 低保 rule as an OpenFisca-core tax-benefit system (benchmark only).

Rule, the same on both sides of ``bench_programs.py``'s comparison: counted income = Σ over members
of wage + business + property + transfer income (no disregards, no property test); the household is
eligible when its per-capita income is below the standard of its area (urban/rural), and then gets
standard × members − counted income a month. One dated parameter, ``dibao.standard.{urban,rural}``.

OpenFisca-core is an optional dependency (``pip install -e '.[bench]'``); Doudi itself never imports it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from openfisca_core.entities import build_entity
from openfisca_core.indexed_enums import Enum
from openfisca_core.parameters import ParameterNode
from openfisca_core.periods import DateUnit
from openfisca_core.simulations import Simulation, SimulationBuilder
from openfisca_core.taxbenefitsystems import TaxBenefitSystem
from openfisca_core.variables import Variable

MONTH = DateUnit.MONTH
INCOMES = ("wage_income", "business_income", "property_income", "transfer_income")

Person = build_entity(key="person", plural="persons", label="家庭成员", is_person=True)
Household = build_entity(
    key="household",
    plural="households",
    label="家庭",
    roles=[
        {"key": "head", "max": 1, "label": "户主"},
        {"key": "member", "plural": "members", "label": "其他成员"},
    ],
)
ROLE_HEAD, ROLE_MEMBER = 0, 1  # indices into Household.flattened_roles


class AreaType(Enum):
    urban = "城市"
    rural = "农村"


def _income_input(name: str) -> type[Variable]:
    # OpenFisca reads a variable's attributes from its own class __dict__, so no shared base class.
    attrs = {"value_type": float, "entity": Person, "definition_period": MONTH, "label": name}
    return type(name, (Variable,), attrs)


class income(Variable):
    value_type = float
    entity = Person
    definition_period = MONTH
    label = "月收入（工资性、经营性、财产性、转移性）"

    def formula(person, period):
        return sum(person(name, period) for name in INCOMES)


class area_type(Variable):
    value_type = Enum
    possible_values = AreaType
    default_value = AreaType.urban
    entity = Household
    definition_period = MONTH
    label = "城乡类别"


class dibao_standard(Variable):
    value_type = float
    entity = Household
    definition_period = MONTH
    label = "低保标准（按月）"

    def formula(household, period, parameters):
        return parameters(period).dibao.standard[household("area_type", period)]


class counted_income(Variable):
    value_type = float
    entity = Household
    definition_period = MONTH
    label = "家庭月收入（计入部分）"

    def formula(household, period):
        return household.sum(household.members("income", period))


class per_capita_income(Variable):
    value_type = float
    entity = Household
    definition_period = MONTH
    label = "家庭月人均收入"

    def formula(household, period):
        return household("counted_income", period) / household.nb_persons()


class dibao_eligible(Variable):
    value_type = bool
    entity = Household
    definition_period = MONTH
    label = "符合低保条件"

    def formula(household, period):
        return household("per_capita_income", period) < household("dibao_standard", period)


class dibao_amount(Variable):
    value_type = float
    entity = Household
    definition_period = MONTH
    label = "低保金（按月）"

    def formula(household, period):
        standard = household("dibao_standard", period)
        gap = standard * household.nb_persons() - household("counted_income", period)
        return np.where(household("dibao_eligible", period), gap, 0)


def build_system(standard: Mapping[str, Sequence[tuple[str, float]]]) -> TaxBenefitSystem:
    """The system; ``standard``: area → [(start date ISO, yuan a month), ...]."""
    system = TaxBenefitSystem([Person, Household])
    system.add_variables(
        *(_income_input(n) for n in INCOMES),
        income,
        area_type,
        dibao_standard,
        counted_income,
        per_capita_income,
        dibao_eligible,
        dibao_amount,
    )
    values = {
        area: {"values": {start: {"value": v} for start, v in dated}} for area, dated in standard.items()
    }
    system.parameters = ParameterNode("", data={"dibao": {"standard": values}})
    return system


def simulation(
    system: TaxBenefitSystem,
    period: str,
    person_household: np.ndarray,
    person_role: np.ndarray,
    households: int,
    incomes: Mapping[str, np.ndarray],
    area_rural: np.ndarray,
) -> Simulation:
    """A simulation of ``households`` households (ids 0…n−1) and their persons: each person's
    household index and role (``ROLE_HEAD``/``ROLE_MEMBER``), monthly incomes per person."""
    builder = SimulationBuilder()
    builder.create_entities(system)
    builder.declare_person_entity("person", np.arange(len(person_household)))
    group = builder.declare_entity("household", np.arange(households))
    builder.join_with_persons(group, person_household, person_role)
    sim = builder.build(system)
    for name in INCOMES:
        sim.set_input(name, period, incomes[name])
    sim.set_input("area_type", period, np.where(area_rural, "rural", "urban"))
    return sim
