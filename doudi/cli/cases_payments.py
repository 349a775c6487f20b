"""``doudi cases recipients|roll|reviews …``: recipients, monthly payment rolls, periodic reviews.

Every command acts as ``--user`` (default: the DOUDI_ACTOR setting) with that account's role
and division scope. ``--expected-version`` is the version the user last saw: when someone
changed the record since, the command is refused with a conflict instead of overwriting.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import typer
from rich.table import Table

from doudi.cases import payroll, reviews
from doudi.cases import recipients as rc
from doudi.cases.labels import PROGRAMS_SHORT, RECIPIENT_STATUSES
from doudi.cases.payroll_xlsx import export_roll_xlsx
from doudi.cli import common
from doudi.cli.common import USER, VERSION
from doudi.errors import UserFacingError

PROGRAM_HELP = "救助项目：" + "、".join(f"{k}（{v}）" for k, v in PROGRAMS_SHORT.items())

recipients_app = typer.Typer(
    help="救助对象：名单、详情、调整、停发、渐退期、系统上线迁移。", no_args_is_help=True
)
roll_app = typer.Typer(
    help="发放名册：按县按月生成、核查、处理问题、确认（冻结）、导出XLSX。", no_args_is_help=True
)
reviews_app = typer.Typer(help="定期复核：到期任务和复核结论。", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the recipients, payment-roll and review groups to the ``cases`` group."""
    app.add_typer(recipients_app, name="recipients")
    app.add_typer(roll_app, name="roll")
    app.add_typer(reviews_app, name="reviews")


def _yuan(value: Decimal | None) -> str:
    return "—" if value is None else f"{value:,.2f}"


# --- recipients ----------------------------------------------------------------------------


@recipients_app.command("enrol-registry")
def enrol_registry_cmd(
    on: str = typer.Option(
        None, "--on", help="上线日期：以该日在册的低保、特困、低保边缘家庭为救助对象（默认今天）"
    ),
    user: str = typer.Option(None, "--user", help="记入台账的操作人（默认 DOUDI_ACTOR）"),
) -> None:
    """系统上线：把名册中在册的低保、特困、低保边缘家庭（及两项补贴对象）批量转为救助对象（可重复执行，不会重复纳入）。"""
    s = common.settings()
    engine = common.engine(s)
    day = common.parse_day(on, "--on")
    try:
        counts = rc.enrol_from_registry(engine, on=day, actor=user or s.actor)
    except UserFacingError as exc:
        common.fail_on(exc)
    if not counts.total:
        common.console.print(
            f"没有新增救助对象（已是救助对象的 {counts.skipped_existing:,} 户不再重复纳入）。"
        )
        return
    parts = "，".join(f"{PROGRAMS_SHORT.get(k, k)} {v:,}" for k, v in counts.by_program.items())
    common.console.print(
        f"已新增救助对象 {counts.total:,} 个（{counts.households:,} 户）：{parts}；"
        f"已是救助对象而跳过 {counts.skipped_existing:,} 户。发放自 {day:%Y-%m} 起。"
    )


@recipients_app.command("list")
def list_cmd(
    program: str = typer.Option(None, "--program", help=PROGRAM_HELP),
    status: str = typer.Option(
        None, "--status", help="状态：" + "、".join(f"{k}（{v}）" for k, v in RECIPIENT_STATUSES.items())
    ),
    month: str = typer.Option(None, "--month", help="显示哪个月的金额（默认本月），如 2026-12"),
    page: int = typer.Option(1, "--page", min=1),
    user: str = USER,
) -> None:
    """列出管辖范围内的救助对象（姓名、身份证号已脱敏）。"""
    result: rc.Page = common.run_as(
        user,
        lambda engine, actor: rc.list_recipients(
            engine, actor, program=program, status=status, month=month, page=page
        ),
    )
    t = Table(title=f"救助对象（共 {result.total:,} 个，第 {result.page} 页）")
    for col in (
        "编号",
        "户编号",
        "户主",
        "项目",
        "状态",
        "起始",
        "截止",
        "月金额（元）",
        "保障人数",
        "下次复核",
        "版本",
    ):
        t.add_column(col)
    for r in result.rows:
        t.add_row(
            str(r.id),
            r.household_no,
            r.head_name,
            r.program_label,
            r.status_label,
            r.start_month,
            r.end_month or "",
            _yuan(r.monthly_amount),
            "" if r.covered_members is None else str(r.covered_members),
            str(r.next_review_due or ""),
            str(r.version),
        )
    common.console.print(t)


@recipients_app.command("show")
def show_cmd(
    recipient_id: int = typer.Argument(..., help="救助对象编号"),
    unmasked: bool = typer.Option(False, "--unmasked", help="显示完整姓名和身份证号（须填写理由，记入审计）"),
    reason: str = typer.Option(None, "--reason", help="查看完整信息的理由"),
    user: str = USER,
) -> None:
    """救助对象详情：待遇变更、复核和台账记录。"""
    d: rc.RecipientDetail = common.run_as(
        user,
        lambda engine, actor: rc.recipient_detail(
            engine, actor, recipient_id, unmasked=unmasked, reason=reason
        ),
    )
    r = d.recipient
    common.console.print(
        f"救助对象 {r.id}：{r.household_no}（户主 {r.head_name}，{r.head_citizen_id}），{r.program_label}，"
        f"{r.status_label}；{r.start_month} 起{f'至 {r.end_month}' if r.end_month else ''}；"
        f"本月 {_yuan(r.monthly_amount)} 元；复核周期 {r.review_cycle_months} 个月，下次复核 {r.next_review_due or '—'}；"
        f"版本 {r.version}。"
    )
    t = Table(title="待遇")
    for col in ("起始月", "截止月", "月金额（元）", "保障人数", "理由", "经办人"):
        t.add_column(col)
    for term in d.terms:
        t.add_row(
            term.from_month,
            term.to_month or "",
            _yuan(term.monthly_amount),
            str(term.covered_members),
            term.reason,
            term.created_by,
        )
    common.console.print(t)
    if d.reviews:
        rt = Table(title="定期复核")
        for col in ("应复核日", "复核日", "结论", "理由", "复核人"):
            rt.add_column(col)
        for v in d.reviews:
            rt.add_row(
                str(v.due_date),
                str(v.reviewed_on),
                reviews.OUTCOMES.get(v.outcome, v.outcome),
                v.reason,
                v.reviewed_by,
            )
        common.console.print(rt)
    et = Table(title="台账")
    for col in ("时间", "事项", "操作人", "理由"):
        et.add_column(col)
    for e in d.events:
        et.add_row(str(e.at), EVENT_LABELS.get(e.event, e.event), e.actor, e.reason or "")
    common.console.print(et)


EVENT_LABELS = {
    "enrolled": "纳入",
    "adjusted": "调整待遇",
    "stopped": "停发",
    "phase_out_started": "进入渐退期",
    "reviewed": "定期复核",
}


def _changed(recipient_id: int, version: int, what: str) -> None:
    common.console.print(f"救助对象 {recipient_id} 已{what}；版本 {version}。")


@recipients_app.command("change")
def change_cmd(
    recipient_id: int = typer.Argument(..., help="救助对象编号"),
    from_month: str = typer.Option(..., "--from-month", help="自哪个月起按新金额发放，如 2027-01"),
    reason: str = typer.Option(..., "--reason", help="调整理由"),
    amount: str = typer.Option(None, "--amount", help="新的月救助金额（元）"),
    members: int = typer.Option(None, "--members", help="新的保障人数"),
    expected_version: int = VERSION,
    user: str = USER,
) -> None:
    """调整待遇（增发或减发），自指定月份起生效。"""
    money = common.parse_money(amount, "--amount")
    v = common.run_as(
        user,
        lambda engine, actor: rc.change_recipient(
            engine,
            actor,
            recipient_id,
            from_month=from_month,
            reason=reason,
            monthly_amount=money,
            covered_members=members,
            expected_version=expected_version,
        ),
    )
    _changed(recipient_id, v, f"自 {from_month} 起调整待遇")


@recipients_app.command("stop")
def stop_cmd(
    recipient_id: int = typer.Argument(..., help="救助对象编号"),
    from_month: str = typer.Option(
        ..., "--from-month", help="自哪个月起停发，如 2027-01（上月为最后发放月）"
    ),
    reason: str = typer.Option(..., "--reason", help="停发理由"),
    expected_version: int = VERSION,
    user: str = USER,
) -> None:
    """停发救助金，自指定月份起不再发放。"""
    v = common.run_as(
        user,
        lambda engine, actor: rc.stop_recipient(
            engine,
            actor,
            recipient_id,
            from_month=from_month,
            reason=reason,
            expected_version=expected_version,
        ),
    )
    _changed(recipient_id, v, f"自 {from_month} 起停发")


@recipients_app.command("phase-out")
def phase_out_cmd(
    recipient_id: int = typer.Argument(..., help="救助对象编号"),
    from_month: str = typer.Option(..., "--from-month", help="渐退期第一个月，如 2027-01"),
    reason: str = typer.Option(..., "--reason", help="理由（如：家庭成员就业，收入超过低保标准）"),
    months: int = typer.Option(None, "--months", help="渐退期月数（默认按参数）"),
    amount: str = typer.Option(None, "--amount", help="渐退期月救助金额（默认不变）"),
    expected_version: int = VERSION,
    user: str = USER,
) -> None:
    """进入渐退期：继续发放若干个月后停发。"""
    money = common.parse_money(amount, "--amount")
    v = common.run_as(
        user,
        lambda engine, actor: rc.start_phase_out(
            engine,
            actor,
            recipient_id,
            from_month=from_month,
            reason=reason,
            months=months,
            monthly_amount=money,
            expected_version=expected_version,
        ),
    )
    _changed(recipient_id, v, f"自 {from_month} 起进入渐退期")


# --- payment rolls ----------------------------------------------------------------------------


def _summary_line(s: payroll.RollSummary) -> str:
    return (
        f"发放名册 {s.id}（{s.county_name} {s.period}）：{s.status_label}；{s.lines:,} 行，"
        f"发放合计 {_yuan(s.total)} 元；核查问题 {s.problems:,} 行（未处理 {s.unresolved:,}，剔除 {s.excluded:,}）；"
        f"版本 {s.version}。"
    )


def _print_summary(s: payroll.RollSummary) -> None:
    common.console.print(_summary_line(s))
    if s.by_program:
        t = Table(title="分类汇总")
        for col in ("救助类别", "户（人）次", "保障人数", "月救助金额（元）"):
            t.add_column(col)
        for p in s.by_program:
            t.add_row(p.program_label, f"{p.lines:,}", f"{p.persons:,}", _yuan(p.amount))
        common.console.print(t)
    if s.problem_counts:
        common.console.print(f"核查问题：{payroll.problems_text(s.problem_counts)}。")


@roll_app.command("generate")
def generate_cmd(
    county: str = typer.Option(..., "--county", help="县级区划代码（6位）"),
    period: str = typer.Option(..., "--period", help="发放月份，如 2026-12"),
    expected_version: int = VERSION,
    user: str = USER,
) -> None:
    """生成（或重新生成）某县某月的发放名册。"""
    s = common.run_as(
        user,
        lambda engine, actor: payroll.generate_roll(
            engine, actor, county, period, expected_version=expected_version
        ),
    )
    _print_summary(s)


@roll_app.command("check")
def check_cmd(roll_id: int = typer.Argument(..., help="发放名册编号"), user: str = USER) -> None:
    """核查发放名册：死亡、重复享受、不在本县、超标准、金额为0。"""
    s = common.run_as(user, lambda engine, actor: payroll.check_roll(engine, actor, roll_id))
    _print_summary(s)


@roll_app.command("show")
def show_roll_cmd(roll_id: int = typer.Argument(..., help="发放名册编号"), user: str = USER) -> None:
    """发放名册概况。"""
    _print_summary(common.run_as(user, lambda engine, actor: payroll.roll_summary(engine, actor, roll_id)))


@roll_app.command("problems")
def problems_cmd(
    roll_id: int = typer.Argument(..., help="发放名册编号"),
    page: int = typer.Option(1, "--page", min=1),
    user: str = USER,
) -> None:
    """列出核查发现问题的行（姓名、身份证号已脱敏）。"""
    result: rc.Page = common.run_as(
        user, lambda engine, actor: payroll.roll_lines(engine, actor, roll_id, problems_only=True, page=page)
    )
    t = Table(title=f"核查问题（共 {result.total:,} 行，第 {result.page} 页）")
    for col in ("行号", "乡镇（街道）", "户编号", "户主", "项目", "金额（元）", "问题", "说明", "处理"):
        t.add_column(col)
    for r in result.rows:
        handled = ("剔除：" if r.excluded else "保留：") + r.resolution if r.resolution else "未处理"
        t.add_row(
            str(r.id),
            r.township_name,
            r.household_no,
            r.payee_name,
            r.program_label,
            _yuan(r.amount),
            r.problem_label,
            r.problem_detail or "",
            handled,
        )
    common.console.print(t)


@roll_app.command("resolve")
def resolve_cmd(
    line_id: int = typer.Argument(..., help="行号（见 problems）"),
    exclude: bool = typer.Option(..., "--exclude/--keep", help="剔除出本月发放，或核实无误保留"),
    resolution: str = typer.Option(..., "--resolution", help="处理意见"),
    expected_version: int = VERSION,
    user: str = USER,
) -> None:
    """处理一行核查问题：剔除或保留（须写明意见）。"""
    s = common.run_as(
        user,
        lambda engine, actor: payroll.resolve_line(
            engine, actor, line_id, exclude=exclude, resolution=resolution, expected_version=expected_version
        ),
    )
    common.console.print(f"第 {line_id} 行已{'剔除' if exclude else '保留'}。")
    common.console.print(_summary_line(s))


@roll_app.command("confirm")
def confirm_cmd(
    roll_id: int = typer.Argument(..., help="发放名册编号"),
    expected_version: int = VERSION,
    user: str = USER,
) -> None:
    """确认发放名册（由生成人以外的县级审核确认人确认；确认后冻结）。"""
    s = common.run_as(
        user,
        lambda engine, actor: payroll.confirm_roll(engine, actor, roll_id, expected_version=expected_version),
    )
    _print_summary(s)


@roll_app.command("export")
def export_cmd(
    roll_id: int = typer.Argument(..., help="发放名册编号"),
    out: Path = typer.Option(..., "--out", help="导出的XLSX文件路径"),
    unmasked: bool = typer.Option(False, "--unmasked", help="导出完整姓名和身份证号（须填写理由，记入审计）"),
    reason: str = typer.Option(None, "--reason", help="导出完整信息的理由，如 报送代发银行"),
    user: str = USER,
) -> None:
    """导出发放名册XLSX（默认脱敏）。"""
    r = common.run_as(
        user,
        lambda engine, actor: export_roll_xlsx(engine, actor, roll_id, out, unmasked=unmasked, reason=reason),
    )
    common.console.print(
        f"已导出 {r.path}：{r.lines:,} 行，合计 {_yuan(r.total)} 元"
        f"{f'，剔除 {r.excluded:,} 行另列' if r.excluded else ''}；{'完整信息（已记入审计）' if r.unmasked else '已脱敏'}。"
    )


@roll_app.command("list")
def list_rolls_cmd(
    period: str = typer.Option(None, "--period", help="发放月份，如 2026-12"),
    user: str = USER,
) -> None:
    """列出管辖范围内的发放名册。"""
    rolls = common.run_as(user, lambda engine, actor: payroll.list_rolls(engine, actor, period=period))
    t = Table(title="发放名册")
    for col in (
        "编号",
        "县（区）",
        "月份",
        "状态",
        "行数",
        "合计（元）",
        "问题",
        "未处理",
        "生成人",
        "确认人",
        "版本",
    ):
        t.add_column(col)
    for s in rolls:
        t.add_row(
            str(s.id),
            s.county_name,
            s.period,
            s.status_label,
            f"{s.lines:,}",
            _yuan(s.total),
            f"{s.problems:,}",
            f"{s.unresolved:,}",
            s.generated_by,
            s.confirmed_by or "",
            str(s.version),
        )
    common.console.print(t)


# --- periodic reviews ---------------------------------------------------------------------------


@reviews_app.command("due")
def due_cmd(
    within_days: int = typer.Option(30, "--within-days", help="多少天内到期（含已逾期）"),
    today: str = typer.Option(None, "--today", help="以哪天为今天（默认今天）"),
    page: int = typer.Option(1, "--page", min=1),
    user: str = USER,
) -> None:
    """到期的定期复核任务（逾期在前）。"""
    day = common.parse_day(today, "--today")
    result: rc.Page = common.run_as(
        user,
        lambda engine, actor: reviews.reviews_due(
            engine, actor, within_days=within_days, today=day, page=page
        ),
    )
    t = Table(title=f"待复核（{within_days} 天内到期，共 {result.total:,} 个，第 {result.page} 页）")
    for col in ("救助对象", "户编号", "户主", "项目", "应复核日", "剩余天数", "周期（月）", "版本"):
        t.add_column(col)
    for r in result.rows:
        t.add_row(
            str(r.recipient_id),
            r.household_no,
            r.head_name,
            r.program_label,
            str(r.due_date),
            f"逾期 {-r.days_left} 天" if r.overdue else str(r.days_left),
            str(r.review_cycle_months),
            str(r.version),
        )
    common.console.print(t)


@reviews_app.command("record")
def record_cmd(
    recipient_id: int = typer.Argument(..., help="救助对象编号"),
    outcome: str = typer.Option(
        ..., "--outcome", help="结论：" + "、".join(f"{k}（{v}）" for k, v in reviews.OUTCOMES.items())
    ),
    reason: str = typer.Option(..., "--reason", help="复核情况和理由"),
    reviewed_on: str = typer.Option(None, "--reviewed-on", help="复核日期（默认今天）"),
    amount: str = typer.Option(None, "--amount", help="调整后的月救助金额（元）"),
    members: int = typer.Option(None, "--members", help="调整后的保障人数"),
    from_month: str = typer.Option(None, "--from-month", help="调整或停发自哪个月起（默认复核次月）"),
    expected_version: int = VERSION,
    user: str = USER,
) -> None:
    """登记定期复核结论：继续保障、调整待遇或停止保障。"""
    day = common.parse_day(reviewed_on, "--reviewed-on")
    money = common.parse_money(amount, "--amount")
    r = common.run_as(
        user,
        lambda engine, actor: reviews.record_review(
            engine,
            actor,
            recipient_id,
            outcome=outcome,
            reviewed_on=day,
            reason=reason,
            new_amount=money,
            covered_members=members,
            from_month=from_month,
            expected_version=expected_version,
        ),
    )
    nxt = f"下次复核 {r.next_review_due}" if r.next_review_due else "已停止保障，不再复核"
    common.console.print(
        f"救助对象 {recipient_id} 的定期复核已登记（{reviews.OUTCOMES[r.outcome]}）；{nxt}；版本 {r.version}。"
    )
