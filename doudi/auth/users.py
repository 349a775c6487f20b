"""Staff accounts: create, find, list; passwords hashed with argon2; declared relatives."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError
from sqlalchemy import Engine, insert, select, update

from doudi.auth.actor import Actor
from doudi.auth.roles import ROLES, require
from doudi.db.models import DivisionRow, StaffRelative, User
from doudi.divisions import get_catalog
from doudi.errors import UserFacingError
from doudi.ids import is_valid_citizen_id

_hasher = PasswordHasher()
USERNAME = re.compile(r"^[a-z0-9_.-]{2,60}$")


class UserError(UserFacingError):
    pass


@dataclass(frozen=True)
class UserInfo:
    username: str
    display_name: str
    role: str
    division_code: str
    active: bool
    has_password: bool

    def actor(self) -> Actor:
        return Actor(self.username, self.role, self.division_code, self.display_name)


def _expected_length(level: str) -> tuple[int, ...]:
    return {"village": (12,), "township": (9,), "county": (6,), "province": (6,)}[level]


def create_user(
    engine: Engine,
    *,
    username: str,
    display_name: str,
    role: str,
    division_code: str,
    password: str | None = None,
    created_by: str,
    by: Actor | None = None,
) -> UserInfo:
    """Add an account. ``by`` (when given) must be an administrator; the CLI passes none (the
    operator of the server is trusted). The division must exist and match the role's level."""
    if by is not None:
        require(by.role, "user.manage")
    if not USERNAME.match(username):
        raise UserError(
            "bad_username",
            f"username {username!r} must be 2-60 of a-z 0-9 _ . -",
            f"用户名“{username}”应为2至60位小写字母、数字或 _ . -。",
        )
    if role not in ROLES:
        raise UserError(
            "bad_role",
            f"unknown role {role!r}",
            f"角色“{role}”不存在，可选：{'、'.join(f'{c}（{r.label}）' for c, r in ROLES.items())}。",
        )
    level = ROLES[role].level
    if len(division_code) not in _expected_length(level) or (
        level == "county" and division_code.endswith("00")
    ):
        raise UserError(
            "bad_scope",
            f"role {role} needs a {level} division code, got {division_code!r}",
            f"角色“{ROLES[role].label}”的管辖区划应为{ {'village': '12位村（社区）', 'township': '9位乡镇（街道）', 'county': '6位县级', 'province': '6位省级'}[level] }代码，收到“{division_code}”。",
        )
    with engine.begin() as conn:
        known = division_code in get_catalog() or (
            conn.execute(select(DivisionRow.code).where(DivisionRow.code == division_code)).first()
            is not None
        )
        if not known:
            raise UserError(
                "unknown_division",
                f"division {division_code} is not in the division table",
                f"区划代码“{division_code}”不存在（请先载入区划或名册）。",
            )
        if conn.execute(select(User.id).where(User.username == username)).first() is not None:
            raise UserError("user_exists", f"user {username} exists", f"用户“{username}”已存在。")
        conn.execute(
            insert(User).values(
                username=username,
                display_name=display_name,
                role=role,
                division_code=division_code,
                password_hash=_hasher.hash(password) if password else None,
                active=True,
                created_by=created_by,
            )
        )
    return UserInfo(username, display_name, role, division_code, True, bool(password))


_USERS = User.__table__


def _info(row: Any) -> UserInfo:
    return UserInfo(
        row["username"],
        row["display_name"],
        row["role"],
        row["division_code"],
        bool(row["active"]),
        row["password_hash"] is not None,
    )


def get_user(engine: Engine, username: str) -> UserInfo | None:
    with engine.connect() as conn:
        row = conn.execute(select(_USERS).where(_USERS.c.username == username)).mappings().first()
    return _info(row) if row else None


def get_actor(engine: Engine, username: str) -> Actor:
    """The active user of that name as an :class:`Actor`, or a clear error."""
    info = get_user(engine, username)
    if info is None or not info.active:
        raise UserError(
            "unknown_user",
            f"no active user {username!r}",
            f"用户“{username}”不存在或已停用（可用 doudi users add 创建）。",
        )
    return info.actor()


def list_users(engine: Engine) -> list[UserInfo]:
    with engine.connect() as conn:
        rows = conn.execute(select(_USERS).order_by(_USERS.c.division_code, _USERS.c.username)).mappings()
        return [_info(r) for r in rows]


def set_active(engine: Engine, username: str, active: bool) -> None:
    with engine.begin() as conn:
        conn.execute(update(User).where(User.username == username).values(active=active))


def verify_password(engine: Engine, username: str, password: str) -> Actor | None:
    """The actor when the password matches an active account, else None."""
    with engine.connect() as conn:
        row = (
            conn.execute(select(_USERS).where(_USERS.c.username == username, _USERS.c.active.is_(True)))
            .mappings()
            .first()
        )
    if row is None or row["password_hash"] is None:
        return None
    try:
        _hasher.verify(row["password_hash"], password)
    except VerificationError:
        return None
    return _info(row).actor()


def declare_relative(engine: Engine, *, username: str, citizen_id: str, relation: str) -> None:
    """Record a relative of a member of staff (近亲属备案)."""
    if not is_valid_citizen_id(citizen_id):
        raise UserError(
            "bad_citizen_id",
            "invalid citizen id for a relative",
            "近亲属的公民身份号码无效（校验位不符或格式错误）。",
        )
    with engine.begin() as conn:
        conn.execute(
            insert(StaffRelative).values(username=username, citizen_id=citizen_id, relation=relation)
        )
