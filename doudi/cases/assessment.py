"""The programs' proposal for an application (初审建议): eligibility, amount and why.

:func:`household_input` builds the programs' one-household input
(:class:`~doudi.programs.inputs.HouseholdInput`) from the registry as it stood on the
application day — members, incomes, property and categories in force — with the economic
check's findings counted where the programs' inputs take them: ``vehicles``,
``extra_housing`` and ``business_registered`` are the larger of the registry's and the feeds'
counts (the same vehicle may be in both), and members the death feed says died before the
application day are left out. What only a home visit can establish is given by the
caseworker: that no legal supporter is able to support (特困), rigid spending of the last 12
months (刚性支出) and the emergency (临时救助).

:func:`assess_application` runs :func:`doudi.programs.engine.assess` (the same formulas as
the whole-registry run) and stores the applied-for program's eligibility, monthly amount and
explanation (:func:`doudi.programs.explain.explain`) as the proposal. For the two disability
subsidies (per person) the amount is the applicant's own subsidy.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, text

from doudi.auth import Actor, require
from doudi.cases import ledger
from doudi.cases.applications import (
    CASE_TYPE,
    TABLE,
    ApplicationView,
    app_event,
    get_application,
    locked_row,
    program_label,
    require_status,
    scoped_row,
)
from doudi.cases.errors import CaseError
from doudi.programs.engine import ProgramResult, assess
from doudi.programs.explain import explain
from doudi.programs.inputs import (
    Disability,
    Emergency,
    HouseholdInput,
    Member,
    MonthlyIncome,
    Property,
    RigidSpending,
)
from doudi.programs.parameters import default_parameters
from doudi.registry.queries import IN_FORCE

ASSESSABLE = ("checked", "assessed")
EMERGENCY_KINDS: dict[str, str] = {
    "disaster": "自然灾害",
    "fire": "火灾",
    "accident": "意外事故",
    "illness": "突发重病",
    "other": "其他急难",
}
_CATEGORIES = ("dibao", "tekun", "marginal", "rigid_spending", "relapse_watch", "other")


def _money(value: Any) -> Decimal:
    return Decimal(str(value or 0)).quantize(Decimal("0.01"))


def household_input(
    conn: Connection,
    household_id: int,
    on: dt.date,
    *,
    feed_findings: dict[str, Any] | None = None,
    no_able_supporter: bool = False,
    rigid_spending: RigidSpending | None = None,
    emergency: Emergency | None = None,
) -> tuple[HouseholdInput, dict[int, int]]:
    """The programs' input for the household on ``on``, and member_no by person id."""
    params = {"h": household_id, "on": on}
    hv = conn.execute(
        text(
            f"SELECT division_code, area_type FROM household_versions hv WHERE hv.household_id = :h "
            f"AND {IN_FORCE.format(a='hv')} ORDER BY hv.id DESC"
        ),
        params,
    ).first()
    if hv is None:
        raise CaseError(
            "not_in_registry",
            f"household {household_id} is not in the registry on {on}",
            f"名册中没有该家庭在{on}的记录，无法评估。",
        )
    categories = [
        str(c)
        for (c,) in conn.execute(
            text(
                "SELECT DISTINCT category FROM household_categories WHERE household_id = :h "
                "AND start_date <= :on AND (end_date IS NULL OR :on < end_date)"
            ),
            params,
        )
        if c in _CATEGORIES
    ]
    found = feed_findings or {}
    deceased = set(found.get("deceased") or [])
    people = (
        conn.execute(
            text(
                f"""SELECT pv.person_id, pv.birth_date, pv.relation, pv.disability_kind, pv.disability_grade,
                           pv.self_care_failed_items, pv.serious_illness, pv.schooling
                    FROM person_versions pv WHERE pv.household_id = :h AND {IN_FORCE.format(a="pv")}
                    ORDER BY pv.relation <> 'head', pv.person_id"""
            ),
            params,
        )
        .mappings()
        .all()
    )
    incomes: dict[int, dict[str, Decimal]] = {}
    for person_id, kind, amount in conn.execute(
        text(
            f"SELECT i.person_id, i.kind, i.monthly_amount FROM income_items i "
            f"WHERE i.household_id = :h AND {IN_FORCE.format(a='i')}"
        ),
        params,
    ):
        key = "business" if kind == "unclassified" else str(kind)
        slot = incomes.setdefault(int(person_id), {})
        slot[key] = slot.get(key, Decimal(0)) + _money(amount)
    prop: dict[str, Decimal] = {}
    for kind, amount in conn.execute(
        text(
            f"SELECT pi.kind, pi.amount FROM property_items pi WHERE pi.household_id = :h "
            f"AND {IN_FORCE.format(a='pi')}"
        ),
        params,
    ):
        prop[str(kind)] = prop.get(str(kind), Decimal(0)) + _money(amount)
    in_tekun = "tekun" in categories
    members: list[Member] = []
    numbers: dict[int, int] = {}
    for p in people:
        pid = int(p["person_id"])
        if pid in deceased:
            continue
        inc = incomes.get(pid, {})
        grade = p["disability_grade"]
        numbers[pid] = len(members)
        members.append(
            Member(
                birth_date=p["birth_date"],
                relation=p["relation"],
                disability=Disability(kind=p["disability_kind"], grade=int(grade))
                if p["disability_kind"] and grade
                else None,
                self_care_failed_items=int(p["self_care_failed_items"] or 0),
                serious_illness=bool(p["serious_illness"]),
                schooling=p["schooling"] or "none",
                has_able_supporter=not (in_tekun or no_able_supporter),
                monthly_income=MonthlyIncome(
                    wage=inc.get("wage", Decimal(0)),
                    business=inc.get("business", Decimal(0)),
                    property=inc.get("property", Decimal(0)),
                    transfer=inc.get("transfer", Decimal(0)),
                ),
            )
        )
    if not members:
        raise CaseError(
            "no_members",
            f"household {household_id} has no living member on {on}",
            "该家庭在申请日没有在世的成员，无法评估。",
        )
    if not any(m.relation == "head" for m in members):
        # The head died: the eldest remaining member stands in for the calculation.
        eldest = min(range(len(members)), key=lambda i: members[i].birth_date or on)
        members[eldest] = members[eldest].model_copy(update={"relation": "head"})

    def count(kind: str) -> int:
        return max(int(prop.get(kind, 0)), int(found.get(kind, 0) or 0))

    household = HouseholdInput(
        date=on,
        division_code=str(hv[0]),
        area_type=hv[1],
        members=members,
        property=Property(
            vehicles=count("vehicles"),
            extra_housing=count("extra_housing"),
            business_registered=count("business_registered"),
            deposits=prop.get("deposits", Decimal(0)),
        ),
        rigid_spending_12m=rigid_spending or RigidSpending(),
        current_categories=categories,  # type: ignore[arg-type]
        emergency=emergency,
        household_id=str(household_id),
    )
    return household, numbers


def _person_amount(
    program: str, result: ProgramResult, household: HouseholdInput, member: Member | None
) -> tuple[bool, Decimal]:
    """The applicant's own subsidy for the per-person programs."""
    if member is None or member.disability is None or not result.eligible:
        return False, Decimal("0.00")
    params = default_parameters()
    grade = member.disability.grade
    if program == "disability_care_subsidy":
        if grade not in (1, 2):
            return False, Decimal("0.00")
        name = f"disability.care_subsidy.grade{grade}"
    else:
        name = "disability.living_subsidy"
    value = params.resolve(name, household.division_code, household.area_type, household.date).value
    return True, Decimal(str(value)).quantize(Decimal("0.01"))


def propose(
    conn: Connection,
    row: Any,
    *,
    no_able_supporter: bool = False,
    rigid_spending: RigidSpending | None = None,
    emergency: Emergency | None = None,
) -> dict[str, Any]:
    """The proposal (JSON-ready) for the application ``row``."""
    check = json.loads(row["economic_check"]) if row["economic_check"] else {}
    household, numbers = household_input(
        conn,
        int(row["household_id"]),
        row["applied_on"],
        feed_findings=check.get("findings"),
        no_able_supporter=no_able_supporter,
        rigid_spending=rigid_spending,
        emergency=emergency,
    )
    results = assess(household)
    program = row["program"]
    result = results[program]
    full = explain(household, results)
    eligible, amount, covered = result.eligible, result.monthly_amount, result.covered
    if row["person_id"] is not None and program in ("disability_care_subsidy", "disability_living_subsidy"):
        number = numbers.get(int(row["person_id"]))
        member = household.members[number] if number is not None else None
        eligible, amount = _person_amount(program, result, household, member)
        covered = 1 if eligible else 0
    block = full["programs"][program]
    return {
        "program": program,
        "program_label": program_label(program),
        "on": row["applied_on"].isoformat(),
        "eligible": eligible,
        "monthly_amount": str(amount),
        "covered": covered,
        "basis": result.basis,
        "summary": block["explanation"]["summary"],
        "explanation": block["explanation"],
        "other_programs": {
            p: {"eligible": r.eligible, "monthly_amount": str(r.monthly_amount)}
            for p, r in results.items()
            if p != program
        },
        "inputs": {
            "members": len(household.members),
            "vehicles": household.property.vehicles,
            "extra_housing": household.property.extra_housing,
            "business_registered": household.property.business_registered,
            "deposits": str(household.property.deposits),
            "categories": list(household.current_categories),
            "no_able_supporter": no_able_supporter,
            "rigid_spending_12m": {k: str(v) for k, v in household.rigid_spending_12m.model_dump().items()},
            "emergency": {"kind": emergency.kind, "loss": str(emergency.loss)} if emergency else None,
            "feed_findings_used": bool(check),
        },
    }


def assess_application(
    engine: Engine,
    actor: Actor,
    application_id: int,
    *,
    no_able_supporter: bool = False,
    rigid_medical: Decimal | str | None = None,
    rigid_education: Decimal | str | None = None,
    rigid_rehabilitation: Decimal | str | None = None,
    emergency_kind: str | None = None,
    emergency_loss: Decimal | str | None = None,
    expected_version: int | None = None,
    now: dt.datetime | None = None,
) -> ApplicationView:
    """Run the programs on the household as of the application day (after the economic
    check) and store the proposal: eligibility, monthly amount and explanation."""
    require(actor.role, "application.investigate")
    at = now or ledger.now()
    rigid = RigidSpending(
        medical=Decimal(str(rigid_medical or 0)),
        education=Decimal(str(rigid_education or 0)),
        rehabilitation=Decimal(str(rigid_rehabilitation or 0)),
    )
    emergency = None
    if emergency_kind is not None or emergency_loss is not None:
        if emergency_kind not in EMERGENCY_KINDS or emergency_loss is None:
            raise CaseError(
                "bad_emergency",
                f"emergency needs a kind in {sorted(EMERGENCY_KINDS)} and a loss",
                f"急难情形须填写类别（{'、'.join(f'{k}（{v}）' for k, v in EMERGENCY_KINDS.items())}）和损失金额。",
            )
        emergency = Emergency(kind=emergency_kind, loss=Decimal(str(emergency_loss)))  # type: ignore[arg-type]
    scoped_row(engine, actor, application_id)
    with engine.begin() as conn:
        row, version = locked_row(conn, application_id, expected_version)
        require_status(row, ASSESSABLE, "assess", "提出初审建议（须先完成家庭经济状况核对）")
        if row["program"] == "temporary_assistance" and emergency is None:
            raise CaseError(
                "emergency_required",
                "temporary assistance is assessed on the emergency and its loss",
                "临时救助须填写急难情形的类别和损失金额。",
            )
        proposal = propose(
            conn, row, no_able_supporter=no_able_supporter, rigid_spending=rigid, emergency=emergency
        )
        proposal.update(assessed_by=actor.username, assessed_at=at.isoformat(sep=" "))
        amount = Decimal(proposal["monthly_amount"])
        values = {
            "assessment": json.dumps(proposal, ensure_ascii=False, sort_keys=True, default=str),
            "proposed_amount": amount if proposal["eligible"] else None,
            "status": "assessed",
        }
        ledger.update_versioned(conn, TABLE, "id", application_id, version, values, case_type=CASE_TYPE)
        app_event(
            conn,
            row,
            "assessed",
            actor.username,
            at,
            from_status=row["status"],
            to_status="assessed",
            reason=proposal["summary"],
            data={"eligible": proposal["eligible"], "monthly_amount": amount, "basis": proposal["basis"]},
        )
    return get_application(engine, actor, application_id, today=at.date())
