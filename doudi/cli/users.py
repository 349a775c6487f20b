"""``doudi users``: staff accounts, their roles and division scopes."""

from __future__ import annotations

import typer
from rich.table import Table

from doudi.auth.roles import ROLES
from doudi.auth.users import create_user, declare_relative, list_users, set_active
from doudi.cli import common
from doudi.errors import UserFacingError

app = typer.Typer(help="用户：角色与管辖区划。", no_args_is_help=True)


@app.command("add")
def add_cmd(
    username: str = typer.Argument(..., help="用户名（小写字母、数字、_ . -）"),
    role: str = typer.Option(
        ..., "--role", help="角色：" + "、".join(f"{c}（{r.label}）" for c, r in ROLES.items())
    ),
    division: str = typer.Option(..., "--division", help="管辖区划代码（村12位、乡镇9位、县6位、省6位）"),
    name: str = typer.Option(None, "--name", help="显示名称，默认同用户名"),
    password: str = typer.Option(None, "--password", help="登录密码（可不设：仅命令行使用的账号）"),
) -> None:
    """新增用户。"""
    s = common.settings()
    engine = common.engine(s)
    try:
        info = create_user(
            engine,
            username=username,
            display_name=name or username,
            role=role,
            division_code=division,
            password=password,
            created_by=s.actor,
        )
    except UserFacingError as exc:
        common.fail_on(exc)
    common.console.print(
        f"已新增用户 {info.username}（{ROLES[info.role].label}，管辖 {info.division_code}）。"
    )


@app.command("list")
def list_cmd() -> None:
    """列出全部用户。"""
    engine = common.engine()
    t = Table(title="用户")
    for col in ("用户名", "名称", "角色", "管辖区划", "状态", "可登录"):
        t.add_column(col)
    for u in list_users(engine):
        t.add_row(
            u.username,
            u.display_name,
            ROLES[u.role].label,
            u.division_code,
            "在用" if u.active else "停用",
            "是" if u.has_password else "否",
        )
    common.console.print(t)


@app.command("disable")
def disable_cmd(username: str = typer.Argument(..., help="用户名")) -> None:
    """停用用户（不删除，历史记录保留）。"""
    set_active(common.engine(), username, False)
    common.console.print(f"已停用用户 {username}。")


@app.command("relative")
def relative_cmd(
    username: str = typer.Argument(..., help="工作人员用户名"),
    citizen_id: str = typer.Option(..., "--citizen-id", help="近亲属公民身份号码"),
    relation: str = typer.Option(..., "--relation", help="关系，如 配偶、子女、父母"),
) -> None:
    """工作人员近亲属备案：其家庭的救助申请将提交县级审核。"""
    try:
        declare_relative(common.engine(), username=username, citizen_id=citizen_id, relation=relation)
    except UserFacingError as exc:
        common.fail_on(exc)
    common.console.print(f"已备案 {username} 的近亲属（{relation}）。")
