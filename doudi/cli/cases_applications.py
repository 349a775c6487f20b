"""``doudi cases application …``: applications from intake to decision.

Every command acts as ``--user`` (default: the DOUDI_ACTOR setting) with that account's role
and division scope. ``--version`` is the version of the application the user last saw: when
someone changed it since, the command is refused with a conflict instead of overwriting.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import typer
from rich.table import Table

from doudi.cases import applications as apps
from doudi.cases.assessment import EMERGENCY_KINDS, assess_application
from doudi.cases.economic_check import run_economic_check
from doudi.cases.labels import PROGRAMS
from doudi.cli import common
from doudi.cli.common import USER, VERSION
from doudi.registry.codes import RELATIONS

app = typer.Typer(help="救助申请：登记、核对、审核、公示、审核确认。", no_args_is_help=True)

PROGRAM_HELP = "救助项目：" + "、".join(f"{p}（{PROGRAMS[p]}）" for p in apps.APPLICATION_PROGRAMS)


def _day(value: str | None, option: str) -> dt.date | None:
    return common.parse_day(value, option) if value else None


def _yuan(value: Decimal | None) -> str:
    return f"{value:,.2f}元" if value is not None else "—"


def _line(view: apps.ApplicationView) -> str:
    return (
        f"申请 {view.id}（{view.household_no}，{view.program_label}）：{view.status_label}；"
        f"办结时限 {view.deadline}{'（已延长）' if view.extended else ''}；版本 {view.version}。"
    )


@app.command("submit")
def submit_cmd(
    household: str = typer.Option(..., "--household", help="户编号"),
    program: str = typer.Option(..., "--program", help=PROGRAM_HELP),
    person: str = typer.Option(None, "--person", help="申请人公民身份号码（两项补贴按人申请时必填）"),
    channel: str = typer.Option(
        None, "--channel", help="申请渠道：" + "、".join(f"{k}（{v}）" for k, v in apps.CHANNELS.items())
    ),
    applied_on: str = typer.Option(None, "--applied-on", help="申请日期（默认今天）"),
    note: str = typer.Option(None, "--note", help="申请事由"),
    emergency: bool = typer.Option(False, "--emergency", help="急难型临时救助（可先行救助、事后补齐手续）"),
    user: str = USER,
) -> None:
    """受理救助申请（村协理员代为申请时渠道为 entrusted）。"""

    def act(engine: Any, actor: Any) -> apps.ApplicationView:
        household_id = apps.find_household(engine, actor, household)
        person_id = apps.find_person(engine, household_id, person) if person else None
        return apps.submit_application(
            engine,
            actor,
            household_id,
            program,
            channel=channel,
            applied_on=_day(applied_on, "--applied-on"),
            person_id=person_id,
            note=note,
            emergency=emergency,
        )

    view = common.run_as(user, act)
    common.console.print(_line(view))
    if view.relative_flag:
        common.console.print("注意：该家庭有工作人员近亲属（已备案），须由县级审核。")


def _table(title: str, rows: list[apps.ApplicationView]) -> Table:
    t = Table(title=title)
    for col in ("编号", "户编号", "户主", "项目", "状态", "申请日期", "办结时限", "逾期", "建议金额", "版本"):
        t.add_column(col)
    for r in rows:
        t.add_row(
            str(r.id),
            r.household_no,
            r.head_name,
            r.program_label + (f"（{r.applicant_name}）" if r.applicant_name else ""),
            r.status_label + ("·近亲属" if r.relative_flag else "") + ("·急难" if r.emergency else ""),
            str(r.applied_on),
            str(r.deadline),
            "逾期" if r.overdue else "",
            _yuan(r.proposed_amount) if r.proposed_amount is not None else "",
            str(r.version),
        )
    return t


@app.command("list")
def list_cmd(
    status: str = typer.Option(
        None, "--status", help="状态：" + "、".join(f"{k}（{v}）" for k, v in apps.STATUSES.items())
    ),
    program: str = typer.Option(None, "--program", help=PROGRAM_HELP),
    overdue: bool = typer.Option(False, "--overdue", help="只列逾期未办结的"),
    open_only: bool = typer.Option(False, "--open", help="只列未办结的"),
    as_of: str = typer.Option(None, "--as-of", help="按哪天判断逾期（默认今天）"),
    page: int = typer.Option(1, "--page", min=1, help="页码"),
    page_size: int = typer.Option(50, "--page-size", min=1, max=500, help="每页条数"),
    user: str = USER,
) -> None:
    """列出管辖范围内的申请（按办结时限排序，姓名和身份号码已脱敏）。"""
    result: apps.Page = common.run_as(
        user,
        lambda engine, actor: apps.list_applications(
            engine,
            actor,
            status=status,
            program=program,
            overdue=True if overdue else None,
            include_decided=not open_only,
            today=_day(as_of, "--as-of"),
            page=page,
            page_size=page_size,
        ),
    )
    common.console.print(_table("救助申请", result.rows))
    common.console.print(f"共 {result.total} 件，第 {result.page} 页。")


@app.command("overdue")
def overdue_cmd(
    as_of: str = typer.Option(None, "--as-of", help="按哪天判断逾期（默认今天）"),
    page: int = typer.Option(1, "--page", min=1, help="页码"),
    user: str = USER,
) -> None:
    """逾期未办结的申请（超过办结时限，或先行救助后逾期未补齐手续）。"""
    result: apps.Page = common.run_as(
        user,
        lambda engine, actor: apps.overdue_applications(
            engine, actor, today=_day(as_of, "--as-of"), page=page
        ),
    )
    common.console.print(_table("逾期申请", result.rows))
    common.console.print(f"共 {result.total} 件逾期。")


@app.command("show")
def show_cmd(
    application_id: int = typer.Argument(..., help="申请编号"),
    unmasked: bool = typer.Option(
        False, "--unmasked", help="显示完整姓名和身份号码（须填写理由，记入审计日志）"
    ),
    reason: str = typer.Option(None, "--reason", help="查看完整信息的理由"),
    user: str = USER,
) -> None:
    """申请详情：核对报告、初审建议、公示异议和办理记录。"""
    d: apps.ApplicationDetail = common.run_as(
        user,
        lambda engine, actor: apps.application_detail(
            engine, actor, application_id, unmasked=unmasked, reason=reason
        ),
    )
    a = d.application
    out = common.console.print
    out(_line(a))
    out(f"户主：{a.head_name}（{a.head_citizen_id}）  区划：{a.division_code}  渠道：{a.channel_label}")
    if a.applicant_name:
        out(f"申请人：{a.applicant_name}")
    out(f"受理：{a.recorded_by} {a.recorded_at:%Y-%m-%d %H:%M}  申请日期：{a.applied_on}")
    if a.relative_flag:
        out("工作人员近亲属申请：由县级审核和审核确认。")
    if a.paid_first_at:
        out(
            f"先行救助：{a.paid_first_at:%Y-%m-%d %H:%M} 发放{_yuan(a.amount)}，补齐手续期限 {a.paperwork_due}"
        )
    if d.economic_check:
        _print_check(d.economic_check)
    if d.assessment:
        p = d.assessment
        out(
            f"初审建议（{p.get('assessed_by', '')}）：{'符合' if p['eligible'] else '不符合'}{p['program_label']}条件，"
            f"月救助金额 {p['monthly_amount']}元，保障 {p['covered']} 人。"
        )
        out(f"  理由：{p['summary']}")
    if a.reviewed_by:
        out(f"乡镇审核：{a.reviewed_by} {apps.REVIEW_OPINIONS.get(a.review_opinion or '', '')}")
    if a.notice_start and a.notice_last_day:
        out(f"公示期：{a.notice_start} 至 {a.notice_last_day}")
    for o in d.objections:
        result = (
            f"{'异议成立' if o.upheld else '异议不成立'}：{o.resolution}（{o.resolved_by}）"
            if o.status == "resolved"
            else "待处理"
        )
        out(f"公示异议 {o.id}（{o.received_on}，{o.objector or '匿名'}）：{o.content} — {result}")
    if a.decision:
        out(
            f"审核确认：{apps.DECISIONS[a.decision]}（{a.decided_by} {a.decided_at:%Y-%m-%d}）"
            + (f"，{_yuan(a.amount)}/月，自 {a.start_month} 起" if a.decision == "approve" else "")
            + (f"。理由：{a.decision_reason}" if a.decision_reason else "")
        )
        if a.refusal_notice_due:
            out(f"须于 {a.refusal_notice_due} 前书面告知申请人不予批准的理由。")
    t = Table(title="办理记录")
    for col in ("时间", "环节", "办理人", "状态", "说明"):
        t.add_column(col)
    for e in d.events:
        t.add_row(
            f"{e['at']:%Y-%m-%d %H:%M}",
            e["label"],
            e["actor"],
            apps.STATUSES.get(e["to_status"] or "", ""),
            e["reason"] or "",
        )
    out(t)


def _print_check(report: dict[str, Any]) -> None:
    f = report["findings"]
    common.console.print(
        f"经济状况核对（截至 {report['as_of']}，{report.get('checked_by', '')}）：机动车 {f['vehicles']} 辆，"
        f"唯一住房外房产 {f['extra_housing']} 套，存续市场主体 {f['business_registered']} 个，"
        f"财政供养人员 {f['public_employees']} 人，月养老金合计 {f['pension_monthly']}元"
        + (f"，已死亡成员 {len(f['deceased'])} 人" if f["deceased"] else "")
        + "。"
    )
    missing = [s["title"] for s in report["sources"] if s["load_id"] is None]
    if missing:
        common.console.print(f"  尚无数据：{'、'.join(missing)}")
    if report["matches"]:
        t = Table(title="比对结果（来源可追溯到部门、批次和行号）")
        for col in ("来源部门", "数据", "批次", "期间", "行号", "成员", "内容"):
            t.add_column(col)
        for m in report["matches"]:
            t.add_row(
                m["department"],
                m["title"],
                str(m["load_id"]),
                m["period"],
                str(m["row_no"]),
                f"{m['name']}（{RELATIONS.get(m['relation'], m['relation'])}）",
                "；".join(f"{k}：{v}" for k, v in m["fields"].items() if v not in (None, "")),
            )
        common.console.print(t)


@app.command("check")
def check_cmd(
    application_id: int = typer.Argument(..., help="申请编号"), version: int = VERSION, user: str = USER
) -> None:
    """家庭经济状况核对：从各部门数据中比对家庭成员的车辆、房产、市场主体、财政供养、养老金和死亡信息。"""
    view = common.run_as(
        user,
        lambda engine, actor: run_economic_check(engine, actor, application_id, expected_version=version),
    )
    common.console.print(_line(view))
    d: apps.ApplicationDetail = common.run_as(
        user, lambda engine, actor: apps.application_detail(engine, actor, application_id)
    )
    if d.economic_check:
        _print_check(d.economic_check)


@app.command("assess")
def assess_cmd(
    application_id: int = typer.Argument(..., help="申请编号"),
    no_supporter: bool = typer.Option(
        False, "--no-supporter", help="经调查无法定赡养抚养扶养人或其无履行能力（特困）"
    ),
    rigid_medical: str = typer.Option(None, "--rigid-medical", help="近12个月自付医疗支出（元）"),
    rigid_education: str = typer.Option(None, "--rigid-education", help="近12个月教育支出（元）"),
    rigid_rehabilitation: str = typer.Option(None, "--rigid-rehabilitation", help="近12个月康复支出（元）"),
    emergency_kind: str = typer.Option(
        None,
        "--emergency-kind",
        help="急难情形：" + "、".join(f"{k}（{v}）" for k, v in EMERGENCY_KINDS.items()),
    ),
    emergency_loss: str = typer.Option(None, "--emergency-loss", help="急难损失金额（元）"),
    version: int = VERSION,
    user: str = USER,
) -> None:
    """按申请日的名册数据和核对结果计算是否符合条件及金额，作为初审建议。"""
    view = common.run_as(
        user,
        lambda engine, actor: assess_application(
            engine,
            actor,
            application_id,
            no_able_supporter=no_supporter,
            rigid_medical=common.parse_money(rigid_medical, "--rigid-medical"),
            rigid_education=common.parse_money(rigid_education, "--rigid-education"),
            rigid_rehabilitation=common.parse_money(rigid_rehabilitation, "--rigid-rehabilitation"),
            emergency_kind=emergency_kind,
            emergency_loss=common.parse_money(emergency_loss, "--emergency-loss"),
            expected_version=version,
        ),
    )
    common.console.print(_line(view))
    d: apps.ApplicationDetail = common.run_as(
        user, lambda engine, actor: apps.application_detail(engine, actor, application_id)
    )
    if d.assessment:
        p = d.assessment
        common.console.print(
            f"初审建议：{'符合' if p['eligible'] else '不符合'}{p['program_label']}条件，"
            f"月救助金额 {p['monthly_amount']}元。{p['summary']}"
        )


@app.command("review")
def review_cmd(
    application_id: int = typer.Argument(..., help="申请编号"),
    opinion: str = typer.Option(
        ..., "--opinion", help="审核意见：approve（同意，进入公示）或 refuse（不同意）"
    ),
    reason: str = typer.Option(None, "--reason", help="意见和理由（不同意时必填）"),
    version: int = VERSION,
    user: str = USER,
) -> None:
    """乡镇审核（审核人不能是登记人或调查核对人；近亲属申请须县级审核）。同意即开始7天公示。"""
    view = common.run_as(
        user,
        lambda engine, actor: apps.review_application(
            engine, actor, application_id, opinion, reason=reason, expected_version=version
        ),
    )
    common.console.print(_line(view))
    if view.status == "notice" and view.notice_start and view.notice_last_day:
        common.console.print(f"公示期：{view.notice_start} 至 {view.notice_last_day}，期满后方可审核确认。")


@app.command("objection")
def objection_cmd(
    application_id: int = typer.Argument(..., help="申请编号"),
    content: str = typer.Option(..., "--content", help="异议内容"),
    objector: str = typer.Option(None, "--objector", help="异议人（可匿名）"),
    received_on: str = typer.Option(None, "--received-on", help="收到日期（默认今天）"),
    version: int = VERSION,
    user: str = USER,
) -> None:
    """登记公示期间收到的异议（处理完毕前不能作出决定）。"""
    objection_id = common.run_as(
        user,
        lambda engine, actor: apps.record_objection(
            engine,
            actor,
            application_id,
            content=content,
            objector=objector,
            received_on=_day(received_on, "--received-on"),
            expected_version=version,
        ),
    )
    common.console.print(f"已登记公示异议 {objection_id}（申请 {application_id}），请核实后处理。")


@app.command("resolve")
def resolve_cmd(
    objection_id: int = typer.Argument(..., help="异议编号"),
    upheld: bool = typer.Option(..., "--upheld/--not-upheld", help="异议是否成立（成立则退回重新调查）"),
    resolution: str = typer.Option(..., "--resolution", help="核实情况和处理结果"),
    version: int = VERSION,
    user: str = USER,
) -> None:
    """处理公示异议：成立的退回重新调查核对，不成立的继续公示。"""
    view = common.run_as(
        user,
        lambda engine, actor: apps.resolve_objection(
            engine, actor, objection_id, upheld=upheld, resolution=resolution, expected_version=version
        ),
    )
    common.console.print(f"异议 {objection_id} 已处理（{'成立' if upheld else '不成立'}）。" + _line(view))


@app.command("decide")
def decide_cmd(
    application_id: int = typer.Argument(..., help="申请编号"),
    decision: str = typer.Option(..., "--decision", help="approve（批准）或 refuse（不予批准）"),
    amount: str = typer.Option(None, "--amount", help="批准的月救助金额（元，默认初审建议金额）"),
    start_month: str = typer.Option(None, "--start-month", help="起始发放月份 YYYY-MM（默认决定次月）"),
    reason: str = typer.Option(None, "--reason", help="理由（不予批准时必填，将书面告知申请人）"),
    version: int = VERSION,
    user: str = USER,
) -> None:
    """审核确认：公示期满且异议处理完毕后批准（纳入救助对象），或书面说明理由不予批准。"""
    view = common.run_as(
        user,
        lambda engine, actor: apps.decide_application(
            engine,
            actor,
            application_id,
            decision,
            amount=common.parse_money(amount, "--amount"),
            start_month=start_month,
            reason=reason,
            expected_version=version,
        ),
    )
    common.console.print(_line(view))
    if view.decision == "approve":
        common.console.print(
            f"已批准：{_yuan(view.amount)}/月，自 {view.start_month} 起发放（救助对象编号 {view.recipient_id}）。"
        )
    else:
        common.console.print(f"不予批准，须于 {view.refusal_notice_due} 前书面告知申请人理由。")


@app.command("extend")
def extend_cmd(
    application_id: int = typer.Argument(..., help="申请编号"),
    reason: str = typer.Option(..., "--reason", help="延长理由（特殊情况）"),
    version: int = VERSION,
    user: str = USER,
) -> None:
    """延长办结时限（只能延长一次）。"""
    view = common.run_as(
        user,
        lambda engine, actor: apps.extend_deadline(
            engine, actor, application_id, reason=reason, expected_version=version
        ),
    )
    common.console.print(_line(view))


@app.command("pay-first")
def pay_first_cmd(
    application_id: int = typer.Argument(..., help="申请编号"),
    amount: str = typer.Option(..., "--amount", help="先行救助金额（元）"),
    version: int = VERSION,
    user: str = USER,
) -> None:
    """急难型临时救助先行救助（本月发放一次），事后补齐手续。"""
    money = common.parse_money(amount, "--amount")
    assert money is not None
    view = common.run_as(
        user,
        lambda engine, actor: apps.pay_first(engine, actor, application_id, money, expected_version=version),
    )
    common.console.print(_line(view))
    common.console.print(f"已先行救助 {_yuan(view.amount)}，请于 {view.paperwork_due} 前补齐手续。")


@app.command("paperwork")
def paperwork_cmd(
    application_id: int = typer.Argument(..., help="申请编号"),
    note: str = typer.Option(..., "--note", help="补齐的手续和核查情况"),
    version: int = VERSION,
    user: str = USER,
) -> None:
    """先行救助后补齐手续并审核确认。"""
    view = common.run_as(
        user,
        lambda engine, actor: apps.complete_paperwork(
            engine, actor, application_id, note=note, expected_version=version
        ),
    )
    common.console.print(_line(view))
