"""Explanations of program results, for people: the values behind a decision, the parameters
used with where each comes from, and one Chinese sentence."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from doudi.programs.engine import ProgramResult
from doudi.programs.inputs import HouseholdInput
from doudi.programs.parameters import ParameterSet, default_parameters

PROGRAM_NAMES = {
    "dibao": "最低生活保障（低保）",
    "tekun": "特困人员救助供养",
    "marginal": "低保边缘家庭",
    "rigid_spending": "刚性支出困难家庭",
    "temporary_assistance": "临时救助",
    "disability_care_subsidy": "重度残疾人护理补贴",
    "disability_living_subsidy": "困难残疾人生活补贴",
}
PARAMETERS_USED = {
    "dibao": [
        "dibao.standard",
        "dibao.employment_disregard_ratio",
        "dibao.vehicle_limit",
        "dibao.extra_housing_limit",
        "dibao.business_limit",
        "dibao.deposit_limit_months",
        "dibao.supplement.elderly",
        "dibao.supplement.minor",
        "dibao.supplement.severe_disability",
        "dibao.supplement.serious_illness",
        "dibao.phase_out_months",
        "dibao.phase_out_ratio",
        "dibao.individual_inclusion_ratio",
        "marginal.multiplier",
    ],
    "tekun": [
        "dibao.standard",
        "tekun.basic_multiplier",
        "tekun.basic_base_area",
        "tekun.care.self_care",
        "tekun.care.partly_lost",
        "tekun.care.fully_lost",
        "tekun.student_age_limit",
    ],
    "marginal": ["dibao.standard", "marginal.multiplier"],
    "rigid_spending": [
        "rigid_spending.ratio",
        "rigid_spending.disposable_income_prev_year",
        "rigid_spending.validity_months",
    ],
    "temporary_assistance": ["dibao.standard", "temporary.township_limit_multiple", "temporary.cap_multiple"],
    "disability_care_subsidy": ["disability.care_subsidy.grade1", "disability.care_subsidy.grade2"],
    "disability_living_subsidy": ["disability.living_subsidy"],
}
BASIS_NAMES = {
    "household": "按户保障",
    "phase_out": "渐退期",
    "individual": "单人保",
    "township": "乡镇审批",
    "county": "县级审批",
}


def _yuan(value: Any) -> str:
    return f"{Decimal(value):,.2f}元"


def summary(program: str, r: ProgramResult) -> str:
    """One Chinese sentence saying why."""
    d = r.details
    pci, std = d["per_capita_income"], d["standard"]
    if program == "dibao":
        if r.basis == "household":
            return (
                f"家庭月人均收入{_yuan(pci)}（计入收入{_yuan(d['counted_income'])}，已扣除就业成本"
                f"{_yuan(d['employment_disregard'])}和刚性支出{_yuan(d['rigid_disregard'])}），低于低保标准{_yuan(std)}，"
                f"按{r.covered}人补差，每月{_yuan(r.monthly_amount)}。"
            )
        if r.basis == "phase_out":
            return f"家庭收入已超过低保标准，但处于就业渐退期内，继续发放每月{_yuan(r.monthly_amount)}。"
        if r.basis == "individual":
            return f"家庭属低保边缘，{r.covered}名重残或重病成员单人纳入低保，每月{_yuan(r.monthly_amount)}。"
        if not d["property_ok"]:
            return "家庭财产（机动车、住房、经营主体或存款）超过规定，不符合低保条件。"
        return f"家庭月人均收入{_yuan(pci)}，不低于低保标准{_yuan(std)}，不符合低保条件。"
    if program == "tekun":
        if r.eligible:
            return f"{r.covered}名成员同时符合无劳动能力、无生活来源、无法定赡养抚养扶养能力的条件，每月供养{_yuan(r.monthly_amount)}。"
        return "没有成员同时符合特困人员的三项条件。"
    if program == "marginal":
        if r.eligible:
            return (
                f"家庭月人均收入{_yuan(pci)}，低于低保边缘线{_yuan(d['marginal_line'])}，属于低保边缘家庭。"
            )
        return f"不属于低保边缘家庭（月人均收入{_yuan(pci)}，边缘线{_yuan(d['marginal_line'])}）。"
    if program == "rigid_spending":
        if r.eligible:
            return (
                f"近12个月刚性支出{_yuan(d['rigid_spending_12m'])}，超过家庭收入的规定比例，认定为刚性支出困难家庭，"
                f"有效期至{d['valid_until']}。"
            )
        return "不符合刚性支出困难家庭的认定条件。"
    if program == "temporary_assistance":
        if r.eligible:
            advance = "，可先行救助、事后补办手续" if d["advance_payment"] else ""
            level = BASIS_NAMES.get(r.basis or "", "")
            return f"临时救助{_yuan(r.monthly_amount)}（上限{_yuan(d['cap'])}），由{level}{advance}。"
        return "未报告突发困难，不涉及临时救助。"
    if program == "disability_care_subsidy":
        if r.eligible:
            return (
                f"{r.covered}名一、二级重度残疾人（非特困供养）享受护理补贴，每月{_yuan(r.monthly_amount)}。"
            )
        return "没有符合护理补贴条件的成员（一、二级残疾且非特困供养）。"
    if r.eligible:
        return f"低保家庭中{r.covered}名残疾人享受生活补贴，每月{_yuan(r.monthly_amount)}。"
    return "不符合困难残疾人生活补贴条件（须为低保家庭中的残疾人且非特困供养）。"


def explain(
    household: HouseholdInput, results: dict[str, ProgramResult], params: ParameterSet | None = None
) -> dict[str, Any]:
    """The ``assess`` output: every program's result with its explanation (JSON-ready)."""
    params = params or default_parameters()
    out: dict[str, Any] = {
        "household_id": household.household_id,
        "date": household.date.isoformat(),
        "programs": {},
    }
    for program, r in results.items():
        used = {}
        for name in PARAMETERS_USED[program]:
            resolved = params.resolve(name, household.division_code, household.area_type, household.date)
            used[name] = resolved.as_dict()
        out["programs"][program] = {
            "name": PROGRAM_NAMES[program],
            "eligible": r.eligible,
            "monthly_amount": str(r.monthly_amount),
            "covered": r.covered,
            "basis": r.basis,
            "explanation": {
                "summary": summary(program, r),
                "values": {k: (str(v) if isinstance(v, Decimal) else v) for k, v in r.details.items()},
                "parameters": used,
            },
        }
    return out


# The explanation values of a result (engine SHARED_DETAILS and the 临时救助 ones) by name.
DETAIL_LABELS: dict[str, str] = {
    "n": "家庭人口",
    "standard": "适用低保标准（元/月）",
    "standard_urban": "城市低保标准（元/月）",
    "total_income": "家庭月收入（元）",
    "counted_income": "计入收入（元）",
    "per_capita_income": "月人均收入（元）",
    "employment_disregard": "扣除就业成本（元）",
    "rigid_disregard": "扣除刚性支出（元）",
    "rigid_spending_12m": "近12个月刚性支出（元）",
    "gap": "补差金额（元/月）",
    "marginal_line": "低保边缘线（元/月）",
    "disposable_income_monthly": "上年人均可支配收入（元/月）",
    "property_ok": "财产状况符合规定",
    "employed_count": "就业人数",
    "individual_count": "单人保人数",
    "dibao_members": "纳入低保人数",
    "advance_payment": "可先行救助",
    "cap": "临时救助上限（元）",
    "township_limit": "乡镇审批限额（元）",
    "valid_until": "认定有效期至",
}

# What the department feeds found for one household (economic check), counted as the inputs say.
FINDING_LABELS: dict[str, str] = {
    "vehicles": "计入的机动车（辆）",
    "extra_housing": "计入的其他房产（套）",
    "business_registered": "存续的市场主体（个）",
    "public_employees": "财政供养人员（人）",
    "pension_monthly": "月领取养老金合计（元）",
    "deceased": "已死亡的成员",
}
