"""Division scoping of every service call: an object outside the actor's scope does not exist
for them (``not_found``, never a hint that it exists), and the attempt is written to the audit
log in a transaction of its own, so that it survives the caller's rollback."""

from __future__ import annotations

from sqlalchemy import Engine

from doudi import audit
from doudi.auth.actor import Actor
from doudi.errors import UserFacingError

OBJECT_LABELS = {
    "alert": "预警",
    "application": "申请",
    "household": "家庭",
    "recipient": "救助对象",
    "payment_roll": "发放名册",
    "objection": "公示异议",
    "attachment": "附件",
    "user": "用户",
    "division": "区划",
    "household_feeds": "家庭的部门比对数据",
    "feed_load": "部门数据批次",
    "feed_quarantine": "隔离数据",
    "monitor_report": "监测报告",
    "registry": "名册",
    "simulation": "测算",
    "api_token": "接口令牌",
}


class NotFound(UserFacingError):
    """No such object — or none the actor may see (the two are not told apart)."""

    def __init__(self, object_type: str, ref: object) -> None:
        label = OBJECT_LABELS.get(object_type, object_type)
        super().__init__(
            "not_found",
            f"{object_type} {ref} not found or outside the actor's division",
            f"{label}（编号 {ref}）不存在，或不在您的管辖范围内。",
        )
        self.object_type = object_type
        self.ref = ref


def deny(engine: Engine, actor: Actor, object_type: str, ref: object, division_code: str | None) -> NotFound:
    """Record an out-of-scope attempt in the audit log and return the error to raise."""
    with engine.begin() as conn:
        audit.record(
            conn,
            actor=actor.username,
            action="access_denied",
            object_type=object_type,
            object_ref=str(ref),
            division_code=division_code,
            detail={"role": actor.role, "scope": actor.division_code},
        )
    return NotFound(object_type, ref)


def check(engine: Engine, actor: Actor, object_type: str, ref: object, division_code: str | None) -> None:
    """Raise :class:`NotFound` (audited) when the object's division is outside the scope.

    ``division_code`` None means the object does not exist: not found, nothing audited."""
    if division_code is None:
        raise NotFound(object_type, ref)
    if not actor.covers(division_code):
        raise deny(engine, actor, object_type, ref, division_code)


def scope_sql(
    actor: Actor,
    *,
    division: str,
    township: str | None = None,
    county: str | None = None,
    param: str = "scope",
) -> tuple[str, dict[str, str]]:
    """A SQL condition limiting rows to the actor's scope, and its parameters.

    ``division`` names the column with the object's full division code (a village);
    ``township``/``county`` name columns holding its 9- and 6-digit codes, when the table has
    them: an equality on those uses their indexes where a ``LIKE`` might not. A province-wide
    scope gives ``1 = 1``.

    >>> scope_sql(Actor("w", "township_caseworker", "520102001"), division="a.division_code",
    ...           township="a.township_code")
    ('a.township_code = :scope', {'scope': '520102001'})
    >>> scope_sql(Actor("c", "county_reviewer", "520102"), division="r.division_code")
    ('r.division_code LIKE :scope', {'scope': '520102%'})
    >>> scope_sql(Actor("p", "provincial_analyst", "520000"), division="a.division_code")
    ('1 = 1', {})
    """
    prefix = actor.prefix
    if len(prefix) <= 2:
        return "1 = 1", {}
    if len(prefix) == 9 and township:
        return f"{township} = :{param}", {param: prefix}
    if len(prefix) == 6 and county:
        return f"{county} = :{param}", {param: prefix}
    return f"{division} LIKE :{param}", {param: prefix + "%"}
