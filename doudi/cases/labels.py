"""Chinese labels of the codes case work stores (programs, outcomes, statuses, events)."""

from __future__ import annotations

PROGRAMS: dict[str, str] = {
    "dibao": "最低生活保障（低保）",
    "tekun": "特困人员救助供养",
    "marginal": "低保边缘家庭",
    "rigid_spending": "刚性支出困难家庭",
    "temporary_assistance": "临时救助",
    "disability_living_subsidy": "困难残疾人生活补贴",
    "disability_care_subsidy": "重度残疾人护理补贴",
}
PROGRAMS_SHORT: dict[str, str] = {
    "dibao": "低保",
    "tekun": "特困",
    "marginal": "低保边缘",
    "rigid_spending": "刚性支出困难",
    "temporary_assistance": "临时救助",
    "disability_living_subsidy": "残疾人生活补贴",
    "disability_care_subsidy": "重度残疾人护理补贴",
}

ALERT_STATUSES: dict[str, str] = {
    "open": "待分派",
    "assigned": "已分派",
    "verified": "已核查",
    "closed": "已办结",
}

OUTCOMES: dict[str, str] = {
    "enrol_dibao": "纳入低保",
    "enrol_tekun": "纳入特困供养",
    "enrol_marginal": "认定为低保边缘家庭",
    "enrol_rigid_spending": "认定为刚性支出困难家庭",
    "temporary_assistance": "给予临时救助",
    "refer_medical": "转介医疗救助",
    "refer_education": "转介教育救助",
    "refer_housing": "转介住房救助",
    "refer_employment": "转介就业救助",
    "services": "提供物质和服务类救助",
    "stop_payment": "停发救助金",
    "adjust_payment": "调整救助金额",
    "no_help_needed": "经核查无需救助",
}

RECIPIENT_STATUSES: dict[str, str] = {
    "active": "在保",
    "phase_out": "渐退期",
    "stopped": "已停发",
}

ROLL_STATUSES: dict[str, str] = {
    "draft": "草稿",
    "checked": "已核查",
    "confirmed": "已确认（冻结）",
}

CASE_TYPES: dict[str, str] = {
    "alert": "预警",
    "application": "申请",
    "recipient": "救助对象",
    "payment_roll": "发放名册",
    "review": "定期复核",
}


def label(mapping: dict[str, str], code: str | None) -> str:
    """The label of a code, or the code itself when it has none (never an empty cell)."""
    if code is None:
        return ""
    return mapping.get(code, code)
