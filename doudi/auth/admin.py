"""Administration as the 系统 pages do it: staff accounts (create, disable, enable) and the
audit log search. Every function takes the acting administrator and checks the permission
(``user.manage``, ``audit.view``); every change to an account is written to the audit log.

The audit log itself is append-only (the database refuses UPDATE and DELETE on it): the
search only reads it.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import DateTime, Engine, bindparam, text, update

from doudi import audit
from doudi.auth.actor import Actor
from doudi.auth.roles import ROLES, require
from doudi.auth.scope import OBJECT_LABELS
from doudi.auth.users import UserError, UserInfo, create_user, get_user, list_users, set_active
from doudi.db.models import WebSession
from doudi.errors import UserFacingError

PASSWORD_MIN = 10
PAGE_SIZE = 100
#: What the audit log's actions mean (the search offers these; others are shown as written).
ACTIONS: dict[str, str] = {
    "view_unmasked": "查看完整信息",
    "export": "导出（脱敏）",
    "export_unmasked": "导出完整信息",
    "access_denied": "越权访问被拒",
    "feed_load": "载入部门数据",
    "feed_load_failed": "部门数据载入失败",
    "user_created": "新增用户",
    "user_disabled": "停用用户",
    "user_enabled": "启用用户",
    "api_token_created": "发放接口令牌",
    "api_token_revoked": "吊销接口令牌",
}
# Keys of an entry's detail as the audit page names them.
DETAIL_KEYS: dict[str, str] = {"role": "角色", "scope": "管辖范围"}


def accounts(engine: Engine, by: Actor) -> list[UserInfo]:
    """Every account, by division then username."""
    require(by.role, "user.manage")
    return list_users(engine)


def add_account(
    engine: Engine,
    by: Actor,
    *,
    username: str,
    display_name: str,
    role: str,
    division_code: str,
    password: str,
    password_again: str,
) -> UserInfo:
    """Create an account that can sign in; the role's level must match the division (a
    township caseworker's scope is a 9-digit township …), checked by :func:`create_user`."""
    require(by.role, "user.manage")
    if len(password) < PASSWORD_MIN:
        raise UserError(
            "weak_password",
            f"password shorter than {PASSWORD_MIN}",
            f"初始密码至少{PASSWORD_MIN}个字符。",
        )
    if password != password_again:
        raise UserError("password_mismatch", "passwords differ", "两次输入的密码不一致。")
    info = create_user(
        engine,
        username=username.strip(),
        display_name=display_name.strip() or username.strip(),
        role=role,
        division_code=division_code.strip(),
        password=password,
        created_by=by.username,
        by=by,
    )
    with engine.begin() as conn:
        audit.record(
            conn,
            actor=by.username,
            action="user_created",
            object_type="user",
            object_ref=info.username,
            division_code=info.division_code,
            detail={"role": info.role, "division": info.division_code},
        )
    return info


def set_account_active(engine: Engine, by: Actor, username: str, active: bool) -> UserInfo:
    """Disable (or enable again) an account. Disabling ends its sessions at once; an
    administrator cannot disable their own account (there would be nobody left to undo it)."""
    require(by.role, "user.manage")
    info = get_user(engine, username)
    if info is None:
        raise UserFacingError("not_found", f"no user {username!r}", f"用户“{username}”不存在。")
    if not active and username == by.username:
        raise UserError("self_disable", "an administrator cannot disable themselves", "不能停用自己的账号。")
    if info.active == active:
        return info
    set_active(engine, username, active)
    with engine.begin() as conn:
        if not active:
            conn.execute(
                update(WebSession)
                .where(WebSession.username == username, WebSession.ended_at.is_(None))
                .values(ended_at=dt.datetime.now().replace(microsecond=0))
            )
        audit.record(
            conn,
            actor=by.username,
            action="user_enabled" if active else "user_disabled",
            object_type="user",
            object_ref=username,
            division_code=info.division_code,
            detail={"role": info.role},
        )
    found = get_user(engine, username)
    assert found is not None
    return found


@dataclass(frozen=True)
class AuditRow:
    id: int
    at: dt.datetime
    actor: str
    action: str
    object_type: str
    object_ref: str | None
    division_code: str | None
    reason: str | None
    detail: dict[str, Any] | str | None

    @property
    def action_label(self) -> str:
        return ACTIONS.get(self.action, self.action)

    @property
    def object_label(self) -> str:
        return OBJECT_LABELS.get(self.object_type, self.object_type)

    @property
    def detail_labelled(self) -> list[tuple[str, str]] | str | None:
        """The detail for people: known keys and role codes in Chinese, the rest as stored."""
        if not isinstance(self.detail, dict):
            return self.detail
        out = []
        for key, value in self.detail.items():
            shown = ROLES[value].label if key == "role" and value in ROLES else value
            out.append((DETAIL_KEYS.get(key, key), str(shown)))
        return out


@dataclass(frozen=True)
class AuditPage:
    rows: list[AuditRow]
    next_before: int | None  # pass as ``before_id`` for the next (older) page


def _detail(value: str | None) -> dict[str, Any] | str | None:
    if not value:
        return None
    try:
        parsed = json.loads(value)
    except ValueError:
        return value
    return parsed if isinstance(parsed, dict) else value


def search_audit(
    engine: Engine,
    by: Actor,
    *,
    actor: str | None = None,
    action: str | None = None,
    object_type: str | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    before_id: int | None = None,
    limit: int = PAGE_SIZE,
) -> AuditPage:
    """Entries newest first, filtered by who (exact username), what (action, object type) and
    when (``start`` … ``end``, both days inclusive); ``before_id`` pages back."""
    require(by.role, "audit.view")
    if start and end and end < start:
        raise UserFacingError(
            "bad_range", "end before start", f"结束日期 {end} 早于开始日期 {start}，请调换后再查。"
        )
    where = ["1 = 1"]
    params: dict[str, Any] = {"limit": limit + 1}
    if actor:
        where.append("actor = :actor")
        params["actor"] = actor
    if action:
        where.append("action = :action")
        params["action"] = action
    if object_type:
        where.append("object_type = :object_type")
        params["object_type"] = object_type
    if start:
        where.append("at >= :start")
        params["start"] = dt.datetime.combine(start, dt.time())
    if end:
        where.append("at < :end")
        params["end"] = dt.datetime.combine(end + dt.timedelta(days=1), dt.time())
    if before_id:
        where.append("id < :before")
        params["before"] = before_id
    sql = text(
        "SELECT id, at, actor, action, object_type, object_ref, division_code, reason, detail "
        f"FROM audit_log WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT :limit"
    ).bindparams(*(bindparam(k, type_=DateTime()) for k in ("start", "end") if k in params))
    with engine.connect() as conn:
        found = conn.execute(sql, params).all()
    rows = [
        AuditRow(
            int(r.id),
            r.at if isinstance(r.at, dt.datetime) else dt.datetime.fromisoformat(str(r.at)),
            r.actor,
            r.action,
            r.object_type,
            r.object_ref,
            r.division_code,
            r.reason,
            _detail(r.detail),
        )
        for r in found[:limit]
    ]
    return AuditPage(rows, rows[-1].id if len(found) > limit else None)


def role_choices() -> list[tuple[str, str, str]]:
    """(code, label, the scope it needs) for the account form."""
    scope = {
        "village": "12位村（社区）代码",
        "township": "9位乡镇（街道）代码",
        "county": "6位县（市、区）代码",
        "province": "6位省级代码",
    }
    return [(code, r.label, scope[r.level]) for code, r in ROLES.items()]


__all__ = [
    "ACTIONS",
    "AuditPage",
    "AuditRow",
    "accounts",
    "add_account",
    "role_choices",
    "search_audit",
    "set_account_active",
]
