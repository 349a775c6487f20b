"""``doudi tokens``: API tokens for department systems (feed kinds) and integrations (a user)."""

from __future__ import annotations

import typer
from rich.table import Table

from doudi.cli import common
from doudi.errors import UserFacingError
from doudi.web.tokens import create_token, list_tokens, revoke_token

app = typer.Typer(
    help="API 令牌：部门系统报送数据（限定数据类别），或以某个用户的身份查询（范围同该用户）。",
    no_args_is_help=True,
)


@app.command("create")
def create_cmd(
    name: str = typer.Argument(..., help="令牌名称，如 “市医保局-结算数据”"),
    kinds: str = typer.Option(
        None, "--kinds", help="可报送的数据类别，逗号分隔，如 medical,death（doudi feeds contracts 列出全部）"
    ),
    user: str = typer.Option(None, "--user", help="绑定的用户：令牌查询预警和家庭的范围与该用户相同"),
) -> None:
    """发放一个 API 令牌。令牌只显示这一次，请立即交给对方妥善保存。"""
    s = common.settings()
    engine = common.engine(s)
    try:
        info, secret = create_token(engine, name=name, feed_kinds=kinds, username=user, created_by=s.actor)
    except UserFacingError as exc:
        common.fail_on(exc)
    common.console.print(f"已发放令牌 {info.id}（{info.name}）。")
    if info.feed_kinds:
        common.console.print(f"可报送的数据类别：{'、'.join(info.feed_kinds)}")
    if info.username:
        common.console.print(f"绑定用户：{info.username}（查询范围与该用户相同）")
    common.console.print("令牌（只显示这一次，系统不保存原文）：")
    # Plain print: no markup or wrapping that would break the token when copied.
    print(secret)
    common.console.print("调用方式：请求头 Authorization: Bearer <令牌>；接口说明见 /api/v1/openapi.json。")


@app.command("list")
def list_cmd() -> None:
    """列出全部令牌（不显示令牌原文）。"""
    t = Table(title="API 令牌")
    for col in ("编号", "名称", "数据类别", "绑定用户", "发放人", "发放时间", "状态"):
        t.add_column(col)
    for tok in list_tokens(common.engine()):
        t.add_row(
            str(tok.id),
            tok.name,
            "、".join(tok.feed_kinds) or "—",
            tok.username or "—",
            tok.created_by,
            f"{tok.created_at:%Y-%m-%d %H:%M}",
            "在用" if tok.active else f"已吊销（{tok.revoked_at:%Y-%m-%d %H:%M}）",
        )
    common.console.print(t)


@app.command("revoke")
def revoke_cmd(token_id: int = typer.Argument(..., help="令牌编号（doudi tokens list 查看）")) -> None:
    """吊销令牌：此后用它调用接口一律被拒绝（401）。"""
    s = common.settings()
    try:
        info = revoke_token(common.engine(s), token_id, revoked_by=s.actor)
    except UserFacingError as exc:
        common.fail_on(exc)
    common.console.print(f"令牌 {info.id}（{info.name}）已吊销。")
