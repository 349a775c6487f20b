"""``doudi cases`` commands of the alert loop: inbox, show, assign, assign-open, verify, decide,
escalate, overdue, chain, stats.

Every command acts as ``--user`` (default: the DOUDI_ACTOR setting) with that account's role
and division scope. ``--expected-version`` is the version of the alert the user last saw (the
inbox and ``show`` print it): when someone changed the alert since, the command is refused
with a conflict instead of overwriting their work.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import typer
from rich.table import Table
from sqlalchemy import Engine

from doudi.auth.actor import Actor
from doudi.auth.roles import require
from doudi.auth.scope import check
from doudi.cases import alert_work as aw
from doudi.cases.chain import find_household, household_chain
from doudi.cases.labels import ALERT_STATUSES, OUTCOMES
from doudi.cases.stats import FIGURES, StatsRow, closure_stats
from doudi.cli import common
from doudi.cli.common import USER, VERSION

OUTCOME_HELP = "处置结果，格式 类型:理由，可重复。类型：" + "、".join(
    f"{k}（{v}）" for k, v in OUTCOMES.items()
)


def _when(value: Any) -> str:
    return "" if value is None else str(value)[:16]


def _inbox_table(title: str, page: aw.Page[aw.InboxRow]) -> Table:
    t = Table(title=title)
    for col in (
        "编号",
        "级别",
        "预警",
        "户编号",
        "身份证号",
        "村（社区）",
        "状态",
        "经办人",
        "到期日",
        "剩余",
        "督办",
        "版本",
    ):
        t.add_column(col)
    for r in page.rows:
        left = "已办结" if r.closed_at else (f"逾期{-r.days_left}天" if r.overdue else f"{r.days_left}天")
        t.add_row(
            str(r.id),
            r.severity_label,
            r.title,
            r.household_no or "（未登记）",
            r.citizen_id,
            r.division_code,
            r.status_label,
            r.assignee or "",
            str(r.due_date),
            left,
            "已督办" if r.escalated_at else "",
            str(r.version),
        )
    return t


def _print_page(title: str, page: aw.Page[aw.InboxRow]) -> None:
    common.console.print(_inbox_table(title, page))
    common.console.print(f"共 {page.total} 条，第 {page.page}/{page.pages} 页。")


def register(app: typer.Typer) -> None:
    """Add the alert-loop commands to the ``cases`` group."""

    @app.command("inbox")
    def inbox_cmd(
        status: str = typer.Option(
            None, "--status", help="状态：" + "、".join(f"{k}（{v}）" for k, v in ALERT_STATUSES.items())
        ),
        rule: str = typer.Option(None, "--rule", help="规则编号"),
        severity: str = typer.Option(None, "--severity", help="级别：red、orange、yellow"),
        assignee: str = typer.Option(None, "--assignee", help="经办人用户名"),
        overdue: bool = typer.Option(False, "--overdue", help="只列逾期的"),
        escalated: bool = typer.Option(False, "--escalated", help="只列已提交县级督办的"),
        include_closed: bool = typer.Option(False, "--all", help="包括已办结的"),
        as_of: str = typer.Option(None, "--as-of", help="按哪天计算剩余天数和逾期（默认今天）"),
        page: int = typer.Option(1, "--page", min=1, help="页码"),
        page_size: int = typer.Option(50, "--page-size", min=1, max=500, help="每页条数"),
        user: str = USER,
    ) -> None:
        """预警待办：管辖范围内未办结的预警，按到期日排序。"""
        day = common.parse_day(as_of) if as_of else None
        result = common.run_as(
            user,
            lambda engine, actor: aw.inbox(
                engine,
                actor,
                status=status,
                rule_id=rule,
                severity=severity,
                assignee=assignee,
                overdue=True if overdue else None,
                escalated=True if escalated else None,
                include_closed=include_closed,
                page=page,
                page_size=page_size,
                today=day,
            ),
        )
        _print_page("预警待办", result)

    @app.command("overdue")
    def overdue_cmd(
        escalated: bool = typer.Option(False, "--escalated", help="只列已提交县级督办的"),
        as_of: str = typer.Option(None, "--as-of", help="按哪天判断逾期（默认今天）"),
        page: int = typer.Option(1, "--page", min=1, help="页码"),
        page_size: int = typer.Option(50, "--page-size", min=1, max=500, help="每页条数"),
        user: str = USER,
    ) -> None:
        """逾期未办结的预警（超过处置期限）。"""
        day = common.parse_day(as_of) if as_of else None
        result = common.run_as(
            user,
            lambda engine, actor: aw.overdue(
                engine,
                actor,
                escalated=True if escalated else None,
                page=page,
                page_size=page_size,
                today=day,
            ),
        )
        _print_page("逾期预警", result)

    @app.command("show")
    def show_cmd(
        alert_id: int = typer.Argument(..., help="预警编号"),
        unmasked: bool = typer.Option(False, "--unmasked", help="显示完整身份证号（须填写理由，记入审计）"),
        reason: str = typer.Option(None, "--reason", help="查看完整信息的理由"),
        user: str = USER,
    ) -> None:
        """预警详情：证据、分派、入户核查、处置决定、附件和办理记录。"""
        d = common.run_as(
            user,
            lambda engine, actor: aw.alert_detail(engine, actor, alert_id, unmasked=unmasked, reason=reason),
        )
        w = d.work
        out = common.console.print
        out(
            f"[bold]预警 {d.id}[/]：{d.severity_label}预警 · {d.title}（规则 {d.rule_id} 第{d.rule_version}版）"
        )
        out(f"对象：{d.household_no or '（未登记）'}，身份证号 {d.citizen_id}，区划 {d.division_code}")
        out(f"说明：{d.explanation}")
        out(f"发出 {_when(d.raised_at)}，处置期限 {d.due_date}；状态：{w.status_label}；版本 {w.version}")
        out(
            f"经办人：{w.assignee or '未分派'}"
            + (f"（{_when(w.assigned_at)} 分派）" if w.assigned_at else "")
            + (f"；已提交县级督办（{_when(w.escalated_at)}）" if w.escalated_at else "")
        )
        if d.closed_at:
            out(f"办结：{_when(d.closed_at)}，{d.closed_reason}")
        for e in d.evidence:
            out(
                f"证据：{e.department}（{e.feed_kind}，批次 {e.load_id} 第 {e.row_no} 行）{json.dumps(e.detail, ensure_ascii=False)}"
            )
        for v in d.verifications:
            files = "、".join(f"{a.file_name}（{a.sha256[:12]}）" for a in v.attachments)
            out(
                f"核查 {v.visited_on}：{v.visitors}；见到 {v.met}；{v.findings}"
                + (f"；附件 {files}" if files else "")
            )
        for c in d.decisions:
            extra = f"，金额 {c.amount} 元" if c.amount is not None else ""
            links = "".join(
                f"，{name} {value}"
                for name, value in (("申请", c.application_id), ("救助对象", c.recipient_id))
                if value is not None
            )
            out(f"决定：{c.outcome_label}（{c.reason}{extra}{links}）—— {c.decided_by} {_when(c.decided_at)}")
        for ev in d.events:
            out(
                f"记录：{_when(ev['at'])} {ev['actor']} {ev['label']}"
                + (f"（{ev['reason']}）" if ev["reason"] else "")
            )

    @app.command("assign")
    def assign_cmd(
        alert_id: int = typer.Argument(..., help="预警编号"),
        assignee: str = typer.Argument(..., help="经办人或村协理员的用户名"),
        reason: str = typer.Option(None, "--reason", help="改派理由"),
        expected_version: int = VERSION,
        user: str = USER,
    ) -> None:
        """分派（或改派）预警给乡镇经办人或村协理员。"""
        w = common.run_as(
            user,
            lambda engine, actor: aw.assign(
                engine, actor, alert_id, assignee, expected_version=expected_version, reason=reason
            ),
        )
        common.console.print(
            f"预警 {alert_id} 已分派给 {w.assignee}；状态：{w.status_label}；版本 {w.version}。"
        )

    @app.command("assign-open")
    def assign_open_cmd(
        township: str = typer.Option(None, "--township", help="乡镇（街道）代码（默认您所在的乡镇）"),
        strategy: str = typer.Option(
            "round_robin",
            "--strategy",
            help="分派方式：" + "、".join(f"{k}（{v}）" for k, v in aw.ASSIGN_STRATEGIES.items()),
        ),
        user: str = USER,
    ) -> None:
        """把本乡镇未分派的预警按到期先后分给在用的经办人。"""

        def act(engine: Engine, actor: Actor) -> dict[str, int]:
            town = township or (actor.division_code if len(actor.division_code) == 9 else "")
            if not town:
                common.fail("请用 --township 指明乡镇（街道）代码。")
            return aw.assign_open(engine, actor, town, strategy=strategy)

        given = common.run_as(user, act)
        total = sum(given.values())
        common.console.print(
            f"已分派 {total} 条预警"
            + ("：" + "，".join(f"{u} {n} 条" for u, n in given.items()) if total else "。")
        )

    @app.command("verify")
    def verify_cmd(
        alert_id: int = typer.Argument(..., help="预警编号"),
        visited_on: str = typer.Option(..., "--visited-on", help="核查日期，如 2026-12-03"),
        visitors: str = typer.Option(..., "--visitors", help="核查人员"),
        met: str = typer.Option(..., "--met", help="见到的人（如 户主本人、配偶）"),
        findings: str = typer.Option(..., "--findings", help="核查情况"),
        attach: list[Path] = typer.Option(None, "--attach", help="附件（照片、签字表），可重复"),
        expected_version: int = VERSION,
        user: str = USER,
    ) -> None:
        """登记入户核查（可附照片和签字表，按文件校验值保存）。"""
        day = common.parse_day(visited_on, "--visited-on")
        files = []
        for path in attach or []:
            if not path.is_file():
                common.fail(f"附件“{path}”不存在或不是文件。")
            files.append((path.name, path.read_bytes()))
        data_dir = common.settings().data_dir
        v = common.run_as(
            user,
            lambda engine, actor: aw.record_verification(
                engine,
                actor,
                alert_id,
                visited_on=day,
                visitors=visitors,
                met=met,
                findings=findings,
                attachments=files,
                data_dir=data_dir,
                expected_version=expected_version,
            ),
        )
        common.console.print(
            f"已登记预警 {alert_id} 的入户核查（{v.visited_on}），附件 {len(v.attachments)} 个；版本 {v.version}。"
        )

    @app.command("decide")
    def decide_cmd(
        alert_id: int = typer.Argument(..., help="预警编号"),
        outcome: list[str] = typer.Option(..., "--outcome", help=OUTCOME_HELP),
        amount: list[str] = typer.Option(
            None, "--amount", help="金额（元）：只有一项处置时直接写金额，多项时写 类型=金额，可重复"
        ),
        recipient: int = typer.Option(
            None, "--recipient", help="停发或调整哪个救助对象（编号，默认该户唯一在保的）"
        ),
        program: str = typer.Option(None, "--program", help="停发或调整哪个项目（如 dibao）"),
        from_month: str = typer.Option(None, "--from-month", help="停发或调整自哪月起（默认决定的下一个月）"),
        expected_version: int = VERSION,
        user: str = USER,
    ) -> None:
        """作出处置决定（每项写明理由），执行并办结预警。"""
        outcomes = _outcomes(outcome, amount or [], recipient, program, from_month)
        result = common.run_as(
            user,
            lambda engine, actor: aw.decide(
                engine, actor, alert_id, outcomes, expected_version=expected_version
            ),
        )
        common.console.print(f"预警 {alert_id} 已办结；版本 {result.version}。")
        for d in result.decisions:
            links = "".join(
                f"，{name} {value}"
                for name, value in (("已受理申请", d.application_id), ("救助对象", d.recipient_id))
                if value is not None
            )
            money = f"，金额 {d.amount} 元" if d.amount is not None else ""
            common.console.print(f"  {d.outcome_label}：{d.reason}{money}{links}")

    @app.command("escalate")
    def escalate_cmd(
        division: str = typer.Option(None, "--division", help="区划代码（默认您的管辖范围）"),
        user: str = USER,
    ) -> None:
        """把逾期未办结的预警提交县级督办（已督办的不重复）。"""

        def act(engine: Engine, actor: Actor) -> int:
            require(actor.role, "alert.escalate")
            scope = division or actor.division_code
            check(engine, actor, "division", scope, scope)
            return aw.escalate_overdue(engine, actor_name=actor.username, division=scope)

        n = common.run_as(user, act)
        common.console.print(f"已将 {n} 条逾期预警提交县级督办。" if n else "没有需要提交督办的逾期预警。")

    @app.command("chain")
    def chain_cmd(
        household: str = typer.Argument(..., help="户编号（或家庭编号）"),
        user: str = USER,
    ) -> None:
        """一户一条救助链：预警、核查、决定、转介、申请、待遇变更、发放和复核，按时间排列。"""

        def act(engine: Engine, actor: Actor) -> Any:
            household_id = find_household(engine, household)
            if household_id is None:
                common.fail(f"户编号“{household}”不存在。")
                raise AssertionError  # unreachable: fail() exits
            return household_chain(engine, actor, household_id)

        chain = common.run_as(user, act)
        t = Table(title=f"救助链：{chain.household_no}（{chain.division_code}）")
        for col in ("时间", "类别", "事项", "内容", "经办人"):
            t.add_column(col)
        for e in chain.entries:
            t.add_row(_when(e.at), e.kind_label, e.title, e.detail, e.actor or "")
        common.console.print(t)
        common.console.print(f"共 {len(chain.entries)} 条记录。")

    @app.command("stats")
    def stats_cmd(
        division: str = typer.Option(None, "--division", help="区划代码（默认您的管辖范围），列出下一级"),
        period: str = typer.Option(
            None, "--period", help="预警发出的期间：年-月（2026-12）或年（2026），默认全部"
        ),
        as_of: str = typer.Option(None, "--as-of", help="统计截至哪天（默认今天）"),
        as_json: bool = typer.Option(False, "--json", help="输出 JSON（供看板使用）"),
        user: str = USER,
    ) -> None:
        """动态清零统计：预警数、期限内核查、已帮扶、未办结、逾期、预警到帮扶天数中位数。"""
        day = common.parse_day(as_of) if as_of else None
        stats = common.run_as(
            user,
            lambda engine, actor: closure_stats(
                engine, actor, division_code=division, period=period, as_of=day
            ),
        )
        if as_json:
            typer.echo(json.dumps(stats.as_dicts(), ensure_ascii=False, default=str))
            return
        title = f"动态清零统计：{stats.name or stats.division_code}（{stats.period or '全部期间'}，截至 {stats.as_of}）"
        t = Table(title=title)
        t.add_column("区划代码")
        t.add_column("名称")
        for name in FIGURES.values():
            t.add_column(name, justify="right")
        for r in (*stats.rows, stats.total):
            t.add_row(*_stats_cells(r))
        common.console.print(t)


def _stats_cells(r: StatsRow) -> list[str]:
    median = "—" if r.median_days_to_help is None else f"{r.median_days_to_help:.1f}"
    return [
        r.division_code,
        r.name,
        str(r.raised),
        str(r.verified),
        str(r.verified_within_due),
        str(r.helped),
        str(r.closed),
        str(r.open),
        str(r.overdue),
        median,
    ]


def _outcomes(
    specs: list[str], amounts: list[str], recipient: int | None, program: str | None, from_month: str | None
) -> list[aw.Outcome]:
    """``KIND:理由`` options and ``--amount`` values (``金额`` for a single outcome, else
    ``KIND=金额``) as outcomes."""
    parsed: list[tuple[str, str]] = []
    for spec in specs:
        kind, sep, reason = spec.replace("：", ":").partition(":")
        if not sep or not reason.strip():
            common.fail(f"--outcome 应写成 类型:理由，如 refer_medical:住院费用高，收到“{spec}”。")
        parsed.append((kind.strip(), reason.strip()))
    money: dict[str, Decimal] = {}
    for value in amounts:
        kind, sep, number = value.rpartition("=")
        if not sep:
            if len(parsed) != 1:
                common.fail("有多项处置结果时，--amount 应写成 类型=金额，如 temporary_assistance=2000。")
            kind = parsed[0][0]
        try:
            money[kind.strip()] = Decimal(number.replace(",", "").replace("元", "").strip())
        except InvalidOperation:
            common.fail(f"--amount 应为金额（元），如 2000 或 temporary_assistance=2000，收到“{value}”。")
    unknown = sorted(set(money) - {k for k, _ in parsed})
    if unknown:
        common.fail(f"--amount 写的处置类型 {'、'.join(unknown)} 不在 --outcome 里。")
    return [
        aw.Outcome(
            kind,
            reason,
            amount=money.get(kind),
            program=program if kind in aw.PAYMENT_CHANGES else None,
            recipient_id=recipient if kind in aw.PAYMENT_CHANGES else None,
            from_month=from_month if kind in aw.PAYMENT_CHANGES else None,
        )
        for kind, reason in parsed
    ]
