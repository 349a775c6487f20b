"""Staff roles and what each may do.

A role's level says where its division scope sits (a township caseworker's scope is a
township); the permission table says which acts the role may perform. Division scoping is
separate (:mod:`doudi.auth.scope`): a county reviewer may act on any household of the county,
a township caseworker only on the township's.
"""

from __future__ import annotations

from dataclasses import dataclass

from doudi.errors import UserFacingError


@dataclass(frozen=True)
class Role:
    code: str
    label: str
    level: str  # the division level of the scope: village, township, county, province


ROLES: dict[str, Role] = {
    r.code: r
    for r in (
        Role("village_assistant", "村（社区）协理员", "village"),
        Role("township_caseworker", "乡镇（街道）经办人", "township"),
        Role("township_reviewer", "乡镇（街道）审核人", "township"),
        Role("county_reviewer", "县级审核确认人", "county"),
        Role("provincial_analyst", "省级分析人员", "province"),
        Role("admin", "系统管理员", "province"),
    )
}

# Permission → the roles that hold it, with the Chinese name of the act for messages.
PERMISSIONS: dict[str, tuple[str, frozenset[str]]] = {
    "case.view": ("查看预警、申请和救助对象", frozenset(ROLES)),
    "alert.assign": (
        "分派预警",
        frozenset({"township_caseworker", "township_reviewer", "county_reviewer"}),
    ),
    "alert.verify": (
        "登记入户核查",
        frozenset({"village_assistant", "township_caseworker", "township_reviewer", "county_reviewer"}),
    ),
    "alert.decide": (
        "作出预警处置决定",
        frozenset({"township_caseworker", "township_reviewer", "county_reviewer"}),
    ),
    "alert.escalate": ("督办逾期预警", frozenset({"county_reviewer", "admin"})),
    "application.submit": (
        "登记救助申请",
        frozenset({"village_assistant", "township_caseworker", "township_reviewer"}),
    ),
    "application.investigate": (
        "核对和调查申请",
        frozenset({"township_caseworker", "township_reviewer", "county_reviewer"}),
    ),
    "application.review": ("审核申请", frozenset({"township_reviewer", "county_reviewer"})),
    "application.notice": (
        "办理公示和异议",
        frozenset({"township_caseworker", "township_reviewer", "county_reviewer"}),
    ),
    "application.decide": ("审核确认（批准或不予批准）", frozenset({"township_reviewer", "county_reviewer"})),
    "recipient.change": (
        "变更救助对象待遇",
        frozenset({"township_caseworker", "township_reviewer", "county_reviewer"}),
    ),
    "review.record": (
        "登记定期复核",
        frozenset({"township_caseworker", "township_reviewer", "county_reviewer"}),
    ),
    "roll.generate": ("生成和核查发放名册", frozenset({"county_reviewer"})),
    "roll.confirm": ("确认发放名册", frozenset({"county_reviewer"})),
    "roll.export": ("导出发放名册", frozenset({"county_reviewer", "provincial_analyst"})),
    "feed.load": ("上传部门数据、下载未通过校验的数据", frozenset({"provincial_analyst", "admin"})),
    "simulation.run": ("运行政策调整测算", frozenset({"provincial_analyst", "admin"})),
    "user.manage": ("管理用户", frozenset({"admin"})),
    "audit.view": ("查看审计日志", frozenset({"admin"})),
}


class Forbidden(UserFacingError):
    """The actor's role does not allow the act."""

    def __init__(self, role: str, permission: str) -> None:
        label, _ = PERMISSIONS[permission]
        super().__init__(
            "forbidden",
            f"role {role} may not {permission}",
            f"您的角色（{ROLES[role].label if role in ROLES else role}）无权{label}。",
        )


def can(role: str, permission: str) -> bool:
    """Whether the role holds the permission (unknown permissions are a programming error)."""
    return role in PERMISSIONS[permission][1]


def require(role: str, permission: str) -> None:
    """Raise :class:`Forbidden` unless the role holds the permission."""
    if not can(role, permission):
        raise Forbidden(role, permission)
