"""Finding a household and reading everything about it, for staff (家庭查询与家庭档案).

Every function takes ``engine, actor`` first and keeps to the actor's division scope in SQL:
a search only ever reads households whose current version lies in the scope, and a household
outside it does not exist for the actor (:class:`doudi.auth.scope.NotFound`, written to the
audit log as ``access_denied``). Names and citizen IDs come back masked; a view with them in
full needs a reason and is written to the audit log (``view_unmasked``).

Search criteria (a masked ID's tail, a name) are personal data: the web pages POST them, they
never appear in a URL or a log line.

Speed on a 5-million-person registry (PostgreSQL): a search is driven either by the scope's
division range (``ix_household_versions_division``: a township holds a few thousand persons)
or by the name (``ix_person_versions_name``); a partial ID without a name must therefore come
with a scope of a county or below (a four-digit tail matches about one person in ten thousand
— five hundred in a province — and no index can find a tail). The detail reads by household
id through the household indexes of each table (``ix_alerts_household`` and friends). The
program assessment and the feed matches (which read the departments' Parquet files) are
separate calls, so that a page can show the household first and fill them in after.

This module sits in the registry but reads case work (recipients, alerts) and runs the
programs on one household through :mod:`doudi.cases.assessment`: the household's file is
where those meet.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Connection, Engine, Table, and_, func, select
from sqlalchemy.sql.elements import ColumnElement

from doudi import audit
from doudi.auth.actor import Actor, scope_prefix
from doudi.auth.roles import require
from doudi.auth.scope import check, deny
from doudi.cases.alert_views import EvidenceView, Page, evidence_view
from doudi.cases.errors import CaseError
from doudi.cases.households import household_place
from doudi.cases.labels import ALERT_STATUSES, PROGRAMS_SHORT, RECIPIENT_STATUSES, label
from doudi.db.engine import reading
from doudi.db.models import (
    Alert,
    AlertEvidence,
    DivisionRow,
    Household,
    HouseholdCategory,
    HouseholdVersion,
    IncomeItem,
    Person,
    PersonVersion,
    PropertyItem,
    Recipient,
    RecipientTerm,
)
from doudi.ids import mask_citizen_id, mask_name, normalise_citizen_id
from doudi.monitor.rules import SEVERITIES
from doudi.registry import codes

HOUSEHOLDS = cast(Table, Household.__table__)
HV = cast(Table, HouseholdVersion.__table__)
PERSONS = cast(Table, Person.__table__)
PV = cast(Table, PersonVersion.__table__)
INCOMES = cast(Table, IncomeItem.__table__)
PROPERTY = cast(Table, PropertyItem.__table__)
CATEGORIES = cast(Table, HouseholdCategory.__table__)
DIVISIONS = cast(Table, DivisionRow.__table__)
RECIPIENTS = cast(Table, Recipient.__table__)
TERMS = cast(Table, RecipientTerm.__table__)
ALERTS = cast(Table, Alert.__table__)
EVIDENCE = cast(Table, AlertEvidence.__table__)

PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
MIN_TAIL = 4
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
INCOME_KINDS: dict[str, str] = {
    "wage": "工资性收入",
    "business": "经营净收入",
    "property": "财产净收入",
    "transfer": "转移净收入",
    "unclassified": "未分类收入",
}
PROPERTY_KINDS: dict[str, str] = {
    "vehicles": "机动车（辆）",
    "extra_housing": "其他住房（套）",
    "business_registered": "工商登记（个）",
    "deposits": "存款（元）",
}
SEXES: dict[str, str] = {"male": "男", "female": "女"}
GRADES: dict[int, str] = {1: "一级", 2: "二级", 3: "三级", 4: "四级"}


class SearchError(CaseError):
    """A search that cannot run as asked (bad criteria, or too wide to answer quickly)."""


# --- views ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HouseholdHit:
    """A household as the search lists it (the head's name and ID masked)."""

    household_id: int
    household_no: str
    division_code: str
    division_name: str
    area_type: str
    head_name: str
    head_citizen_id: str
    member_count: int
    categories: tuple[str, ...]

    @property
    def category_labels(self) -> str:
        return "、".join(label(codes.CATEGORIES, c) for c in self.categories) or "—"

    @property
    def area_label(self) -> str:
        return label(codes.AREA_TYPES, self.area_type)


SearchResult = Page[HouseholdHit]  # one page of a household search


@dataclass(frozen=True)
class MemberView:
    person_id: int
    name: str
    citizen_id: str
    sex: str
    birth_date: dt.date
    age: int
    relation: str
    disability_kind: str | None
    disability_grade: int | None
    self_care_failed_items: int
    serious_illness: bool
    schooling: str
    employment: str | None
    monthly_income: Decimal
    valid_from: dt.date
    valid_to: dt.date | None = None

    @property
    def relation_label(self) -> str:
        return label(codes.RELATIONS, self.relation)

    @property
    def sex_label(self) -> str:
        return label(SEXES, self.sex)

    @property
    def disability_label(self) -> str:
        if not self.disability_kind:
            return "无"
        grade = GRADES.get(self.disability_grade or 0, "")
        return f"{label(codes.DISABILITY_KINDS, self.disability_kind)}{grade}"

    @property
    def schooling_label(self) -> str:
        return label(codes.SCHOOLING, self.schooling)

    @property
    def employment_label(self) -> str:
        return label(codes.EMPLOYMENT, self.employment) or "—"


@dataclass(frozen=True)
class CategorySpan:
    category: str
    start_date: dt.date
    end_date: dt.date | None

    @property
    def label(self) -> str:
        return label(codes.CATEGORIES, self.category)

    @property
    def current(self) -> bool:
        return self.end_date is None


@dataclass(frozen=True)
class IncomeView:
    person_id: int
    member: str  # masked unless the view is unmasked
    relation: str
    kind: str
    monthly_amount: Decimal
    valid_from: dt.date
    valid_to: dt.date | None

    @property
    def kind_label(self) -> str:
        return label(INCOME_KINDS, self.kind)

    @property
    def relation_label(self) -> str:
        return label(codes.RELATIONS, self.relation)


@dataclass(frozen=True)
class PropertyView:
    kind: str
    amount: Decimal
    valid_from: dt.date
    valid_to: dt.date | None

    @property
    def kind_label(self) -> str:
        return label(PROPERTY_KINDS, self.kind)


@dataclass(frozen=True)
class VersionView:
    """The household as it stood from ``valid_from`` (address, village, size)."""

    valid_from: dt.date
    valid_to: dt.date | None
    division_code: str
    division_name: str
    address: str | None
    area_type: str
    member_count: int

    @property
    def area_label(self) -> str:
        return label(codes.AREA_TYPES, self.area_type)


@dataclass(frozen=True)
class RecipientRef:
    id: int
    program: str
    status: str
    start_month: str
    end_month: str | None
    monthly_amount: Decimal | None
    covered_members: int | None
    next_review_due: dt.date | None

    @property
    def program_label(self) -> str:
        return label(PROGRAMS_SHORT, self.program)

    @property
    def status_label(self) -> str:
        return label(RECIPIENT_STATUSES, self.status)


@dataclass(frozen=True)
class AlertRef:
    id: int
    rule_id: str
    severity: str
    title: str
    status: str
    raised_at: dt.datetime
    due_date: dt.date
    closed_at: dt.datetime | None

    @property
    def status_label(self) -> str:
        return label(ALERT_STATUSES, self.status)

    @property
    def severity_label(self) -> str:
        return label(SEVERITIES, self.severity)


@dataclass(frozen=True)
class HouseholdDetail:
    household_id: int
    household_no: str
    division_code: str
    divisions: tuple[tuple[str, str], ...]  # (code, name) from the county down to the village
    address: str | None
    area_type: str
    on: dt.date
    members: tuple[MemberView, ...]
    former_members: tuple[MemberView, ...]
    categories: tuple[CategorySpan, ...]
    incomes: tuple[IncomeView, ...]
    assets: tuple[PropertyView, ...]
    versions: tuple[VersionView, ...]
    recipients: tuple[RecipientRef, ...]
    alerts: tuple[AlertRef, ...]
    evidence: tuple[EvidenceView, ...]  # the feed rows behind its alerts
    unmasked: bool = False

    @property
    def area_label(self) -> str:
        return label(codes.AREA_TYPES, self.area_type)

    @property
    def current_categories(self) -> tuple[CategorySpan, ...]:
        return tuple(c for c in self.categories if c.current)

    @property
    def monthly_income(self) -> Decimal:
        return sum((m.monthly_income for m in self.members), Decimal("0.00"))

    @property
    def place(self) -> str:
        shown: list[str] = []
        for _, name in self.divisions:  # a village's name may repeat its township's
            shown = [*shown[:-1], name] if shown and name.startswith(shown[-1]) else [*shown, name]
        return "".join(shown)


@dataclass(frozen=True)
class Division:
    code: str
    name: str


# --- scope ------------------------------------------------------------------------------------


def within(column: Any, prefix: str) -> ColumnElement[bool]:
    """Division codes starting with ``prefix``, as a range an index can scan in any collation
    (codes are digits: those starting with 520102001 lie in [520102001, 520102002)), with the
    ``LIKE`` kept as the exact test.

    >>> str(within(HV.c.division_code, "520102001").compile(compile_kwargs={"literal_binds": True}))
    "household_versions.division_code >= '520102001' AND household_versions.division_code < '520102002' AND household_versions.division_code LIKE '520102001%'"
    """
    like = column.like(prefix + "%")
    if not prefix.isdigit() or set(prefix) == {"9"}:
        return cast(ColumnElement[bool], like)
    upper = str(int(prefix) + 1).zfill(len(prefix))
    return and_(column >= prefix, column < upper, like)


def _search_prefix(engine: Engine, actor: Actor, division: str | None) -> str:
    """The division prefix a search covers: the one asked for (inside the scope) or the scope."""
    if not division:
        return actor.prefix
    code = division.strip()
    if not code.isdigit() or len(code) not in (2, 4, 6, 9, 12):
        raise SearchError(
            "bad_division",
            f"{code!r} is not a division code",
            f"“{code}”不是有效的区划代码（6位县级、9位乡镇或12位村（社区）代码）。",
        )
    prefix = scope_prefix(code)
    if prefix.startswith(actor.prefix):
        return prefix
    if actor.prefix.startswith(prefix):  # wider than the scope: the scope itself
        return actor.prefix
    raise deny(engine, actor, "division", code, code)


def _scoped_place(engine: Engine, actor: Actor, household_id: int) -> tuple[str, str]:
    """(household_no, division) of a household in the actor's scope; NotFound (audited) else."""
    with reading(engine) as conn:
        place = household_place(conn, household_id)
    check(engine, actor, "household", household_id, place.division_code if place else None)
    assert place is not None
    return place.household_no, place.division_code


def in_scope(engine: Engine, actor: Actor, household_id: int) -> bool:
    """Whether the household exists and lies in the actor's scope now (nothing audited: for
    pages deciding whether to offer a link)."""
    with reading(engine) as conn:
        place = household_place(conn, household_id)
    return place is not None and actor.covers(place.division_code)


def divisions_in_scope(engine: Engine, actor: Actor, *, limit: int = 400) -> list[Division]:
    """The divisions a search may be narrowed to: the scope's own and those below it, down to
    villages for a township or a county (counties and townships above that), by code."""
    require(actor.role, "case.view")
    prefix = actor.prefix
    levels = 12 if len(prefix) >= 6 else 9
    with reading(engine) as conn:
        rows = _all(
            conn,
            select(DIVISIONS.c.code, DIVISIONS.c.name)
            .where(within(DIVISIONS.c.code, prefix), func.length(DIVISIONS.c.code) <= levels)
            .order_by(DIVISIONS.c.code)
            .limit(limit),
        )
    return [Division(str(r["code"]), str(r["name"])) for r in rows]


def division_names(engine: Engine, codes_: set[str]) -> dict[str, str]:
    """Names of divisions for a page's rows (division names are not personal data)."""
    with reading(engine) as conn:
        return _division_names(conn, set(codes_))


# Division names change only when the divisions are imported again: a page's names come from
# this process's memory, read again after NAMES_TTL_S (a few villages per page, on every page).
NAMES_TTL_S = 300.0
_names: dict[tuple[str, str], str] = {}
_names_since = [time.monotonic()]


def _division_names(conn: Connection, codes_: set[str]) -> dict[str, str]:
    """Each village's name with its township's (``五里冲街道大坪村``)."""
    wanted = set(codes_) | {c[:9] for c in codes_ if len(c) > 9}
    if not wanted:
        return {}
    db = conn.engine.url.render_as_string(hide_password=True)
    if time.monotonic() - _names_since[0] > NAMES_TTL_S:
        _names.clear()
        _names_since[0] = time.monotonic()
    missing = sorted(c for c in wanted if (db, c) not in _names)
    if missing:
        for c, n in conn.execute(
            select(DIVISIONS.c.code, DIVISIONS.c.name).where(DIVISIONS.c.code.in_(missing))
        ):
            _names[(db, str(c))] = str(n)
    names = {c: _names[(db, c)] for c in wanted if (db, c) in _names}
    out = {}
    for c in codes_:
        own, township = names.get(c, c), names.get(c[:9], "") if len(c) > 9 else ""
        out[c] = own if own.startswith(township) else township + own
    return out


# --- search -----------------------------------------------------------------------------------


def _tail(raw: str | None) -> str | None:
    """The typed end of a citizen ID (4–18 characters, digits and a final X), normalised."""
    value = normalise_citizen_id(raw)
    if not value:
        return None
    if not (MIN_TAIL <= len(value) <= 18) or not (
        value[:-1].isdigit() and (value[-1].isdigit() or value[-1] == "X")
    ):
        raise SearchError(
            "bad_id_tail",
            f"ID tail of {len(value)} characters is not 4-18 digits",
            f"身份证号请输入后 {MIN_TAIL} 位至完整 18 位（数字，末位可为 X），如脱敏显示的“5201**********123X”可输入“123X”。",
        )
    return value


def search_households(
    engine: Engine,
    actor: Actor,
    *,
    id_tail: str | None = None,
    name: str | None = None,
    division: str | None = None,
    household_no: str | None = None,
    page: int = 1,
    page_size: int = PAGE_SIZE,
) -> SearchResult:
    """Households of the actor's scope (narrowed to ``division``) with a current member whose
    citizen ID ends with ``id_tail`` and/or who is called ``name`` (the whole name), or the
    household numbered ``household_no``; by division and household number, a page at a time.

    Without criteria it lists the households of the division (a county or below). A partial
    ID alone needs a county or below, a name or a household number does not (see the module
    documentation)."""
    require(actor.role, "case.view")
    if page < 1 or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise SearchError(
            "bad_page",
            f"page {page} / page size {page_size} out of range",
            f"页码应从1开始，每页条数应在1至{MAX_PAGE_SIZE}之间。",
        )
    for what, value in (("姓名", name), ("户编号", household_no), ("身份证号", id_tail)):
        if value and _CONTROL.search(value):
            raise SearchError(
                "bad_text", f"{what}: control characters", f"{what}中有不可见的控制字符，请删除后重试。"
            )
    tail = _tail(id_tail)
    name = (name or "").strip() or None
    household_no = (household_no or "").strip() or None
    if name is not None and len(name) > 100:
        raise SearchError("bad_name", "name over 100 characters", "姓名过长（最多100个字）。")
    prefix = _search_prefix(engine, actor, division)
    exact_id = tail is not None and len(tail) == 18
    if len(prefix) < 6 and not (name or household_no or exact_id):
        raise SearchError(
            "too_wide",
            f"search over division {prefix} needs a name, a household number or a full ID",
            "查询范围太大：请输入姓名、户编号或完整的18位身份证号，或选择县（市、区）及以下的区划后再查。",
        )
    hv, h = HV.alias("hv"), HOUSEHOLDS.alias("h")
    conds: list[ColumnElement[bool]] = [hv.c.valid_to.is_(None), within(hv.c.division_code, prefix)]
    if household_no:
        conds.append(h.c.household_no == household_no)
    if tail or name:
        pv, p = PV.alias("pv"), PERSONS.alias("p")
        person: list[ColumnElement[bool]] = [pv.c.valid_to.is_(None)]
        if name:
            person.append(pv.c.name == name)
        if exact_id:
            person.append(p.c.citizen_id == tail)
        elif tail:
            person.append(p.c.citizen_id.like("%" + tail))
        members = select(pv.c.household_id).select_from(pv.join(p, p.c.id == pv.c.person_id)).where(*person)
        conds.append(hv.c.household_id.in_(members))
    joined = hv.join(h, h.c.id == hv.c.household_id)
    query = (
        select(hv.c.household_id, h.c.household_no, hv.c.division_code, hv.c.area_type, hv.c.member_count)
        .select_from(joined)
        .where(*conds)
        .order_by(hv.c.division_code, h.c.household_no)
        .limit(page_size)
        .offset((page - 1) * page_size)
    )
    counting = select(func.count()).select_from(joined).where(*conds)
    with reading(engine) as conn:
        rows = conn.execute(query).all()
        total = int(conn.execute(counting).scalar_one())
        ids = [int(r[0]) for r in rows]
        heads = _heads(conn, ids)
        cats = _current_categories(conn, ids)
        names = _division_names(conn, {str(r[2]) for r in rows})
    hits = tuple(
        HouseholdHit(
            household_id=int(r[0]),
            household_no=str(r[1]),
            division_code=str(r[2]),
            division_name=names.get(str(r[2]), str(r[2])),
            area_type=str(r[3]),
            head_name=mask_name(heads.get(int(r[0]), ("", ""))[0]),
            head_citizen_id=mask_citizen_id(heads.get(int(r[0]), ("", ""))[1]),
            member_count=int(r[4]),
            categories=tuple(cats.get(int(r[0]), ())),
        )
        for r in rows
    )
    return SearchResult(hits, total, page, page_size)


def _heads(conn: Connection, household_ids: Sequence[int]) -> dict[int, tuple[str, str]]:
    if not household_ids:
        return {}
    rows = conn.execute(
        select(PV.c.household_id, PV.c.name, PERSONS.c.citizen_id)
        .select_from(PV.join(PERSONS, PERSONS.c.id == PV.c.person_id))
        .where(PV.c.household_id.in_(household_ids), PV.c.valid_to.is_(None), PV.c.relation == "head")
    ).all()
    return {int(h): (str(n), str(c)) for h, n, c in rows}


def _current_categories(conn: Connection, household_ids: Sequence[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    if not household_ids:
        return out
    for hid, cat in conn.execute(
        select(CATEGORIES.c.household_id, CATEGORIES.c.category)
        .where(CATEGORIES.c.household_id.in_(household_ids), CATEGORIES.c.end_date.is_(None))
        .order_by(CATEGORIES.c.household_id, CATEGORIES.c.start_date)
    ):
        if cat not in out.setdefault(int(hid), []):
            out[int(hid)].append(str(cat))
    return out


# --- detail -----------------------------------------------------------------------------------


def _age(birth: dt.date, on: dt.date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def _member(r: Any, income: Decimal, on: dt.date, unmasked: bool) -> MemberView:
    return MemberView(
        person_id=int(r["person_id"]),
        name=str(r["name"]) if unmasked else mask_name(str(r["name"])),
        citizen_id=str(r["citizen_id"]) if unmasked else mask_citizen_id(str(r["citizen_id"])),
        sex=str(r["sex"]),
        birth_date=r["birth_date"],
        age=_age(r["birth_date"], on),
        relation=str(r["relation"]),
        disability_kind=r["disability_kind"],
        disability_grade=r["disability_grade"],
        self_care_failed_items=int(r["self_care_failed_items"] or 0),
        serious_illness=bool(r["serious_illness"]),
        schooling=str(r["schooling"] or "none"),
        employment=r["employment"],
        monthly_income=income,
        valid_from=r["valid_from"],
        valid_to=r["valid_to"],
    )


def household_detail(
    engine: Engine,
    actor: Actor,
    household_id: int,
    *,
    unmasked: bool = False,
    reason: str | None = None,
    today: dt.date | None = None,
) -> HouseholdDetail:
    """The household's file: where it lives and lived, its members now and before, its
    categories with their history, incomes and property, the assistance it receives, its
    alerts and the feed rows behind them.

    Names and IDs masked unless ``unmasked`` with a ``reason`` (audited ``view_unmasked``)."""
    require(actor.role, "case.view")
    if unmasked and not (reason or "").strip():
        raise CaseError(
            "reason_required",
            "an unmasked view needs a reason",
            "查看完整的姓名和身份证号需要填写理由（将记入审计日志）。",
        )
    household_no, division_code = _scoped_place(engine, actor, household_id)
    on = today or dt.date.today()
    with engine.begin() if unmasked else reading(engine) as conn:  # a write only to audit
        versions = _all(
            conn, select(HV).where(HV.c.household_id == household_id).order_by(HV.c.valid_from, HV.c.id)
        )
        people = _all(
            conn,
            select(PV, PERSONS.c.citizen_id)
            .select_from(PV.join(PERSONS, PERSONS.c.id == PV.c.person_id))
            .where(PV.c.household_id == household_id)
            .order_by(PV.c.valid_from, PV.c.id),
        )
        person_ids = sorted({int(p["person_id"]) for p in people})
        incomes = (
            _all(
                conn,
                select(INCOMES)
                .where(INCOMES.c.person_id.in_(person_ids), INCOMES.c.household_id == household_id)
                .order_by(INCOMES.c.valid_from, INCOMES.c.id),
            )
            if person_ids
            else []
        )
        prop = _all(
            conn,
            select(PROPERTY)
            .where(PROPERTY.c.household_id == household_id)
            .order_by(PROPERTY.c.valid_from, PROPERTY.c.id),
        )
        cats = _all(
            conn,
            select(CATEGORIES)
            .where(CATEGORIES.c.household_id == household_id)
            .order_by(CATEGORIES.c.start_date, CATEGORIES.c.id),
        )
        recipients = _recipients(conn, household_id)
        alerts = _all(
            conn,
            select(ALERTS)
            .where(ALERTS.c.household_id == household_id)
            .order_by(ALERTS.c.raised_at.desc(), ALERTS.c.id.desc()),
        )
        evidence = (
            _all(
                conn,
                select(EVIDENCE)
                .where(EVIDENCE.c.alert_id.in_([int(a["id"]) for a in alerts]))
                .order_by(EVIDENCE.c.alert_id.desc(), EVIDENCE.c.id),
            )
            if alerts
            else []
        )
        names = _division_names(conn, {str(v["division_code"]) for v in versions} | {division_code})
        chain_names = _chain_names(conn, division_code)
        if unmasked:
            audit.record(
                conn,
                actor=actor.username,
                action="view_unmasked",
                object_type="household",
                object_ref=str(household_id),
                division_code=division_code,
                reason=reason,
            )
    current = [v for v in versions if v["valid_to"] is None]
    now_v = current[-1] if current else versions[-1]
    # Income in force on the day, per person (the same rule as the registry's snapshot).
    in_force: dict[int, Decimal] = {}
    for i in incomes:
        if i["valid_from"] <= on and (i["valid_to"] is None or on < i["valid_to"]):
            pid = int(i["person_id"])
            in_force[pid] = in_force.get(pid, Decimal("0.00")) + Decimal(str(i["monthly_amount"]))
    current_people = [p for p in people if p["valid_to"] is None]
    current_ids = {int(p["person_id"]) for p in current_people}
    members = sorted(
        (
            _member(p, in_force.get(int(p["person_id"]), Decimal("0.00")), on, unmasked)
            for p in current_people
        ),
        key=lambda m: (m.relation != "head", m.birth_date, m.person_id),
    )
    last_of: dict[int, Any] = {}
    for p in people:
        if int(p["person_id"]) not in current_ids:
            last_of[int(p["person_id"])] = p  # the latest closed version of someone who left
    former = tuple(_member(p, Decimal("0.00"), on, unmasked) for p in last_of.values())
    who = {int(p["person_id"]): p for p in people}
    income_views = tuple(
        IncomeView(
            person_id=int(i["person_id"]),
            member=_shown_name(who.get(int(i["person_id"])), unmasked),
            relation=str(who[int(i["person_id"])]["relation"]) if int(i["person_id"]) in who else "",
            kind=str(i["kind"]),
            monthly_amount=Decimal(str(i["monthly_amount"])),
            valid_from=i["valid_from"],
            valid_to=i["valid_to"],
        )
        for i in sorted(
            incomes, key=lambda i: (i["valid_to"] is not None, i["person_id"], i["kind"], i["valid_from"])
        )
    )
    return HouseholdDetail(
        household_id=household_id,
        household_no=household_no,
        division_code=division_code,
        divisions=tuple((c, n) for c, n in chain_names),
        address=now_v["address"],
        area_type=str(now_v["area_type"]),
        on=on,
        members=tuple(members),
        former_members=former,
        categories=tuple(CategorySpan(str(c["category"]), c["start_date"], c["end_date"]) for c in cats),
        incomes=income_views,
        assets=tuple(
            PropertyView(str(p["kind"]), Decimal(str(p["amount"])), p["valid_from"], p["valid_to"])
            for p in sorted(prop, key=lambda p: (p["valid_to"] is not None, p["kind"], p["valid_from"]))
        ),
        versions=tuple(
            VersionView(
                valid_from=v["valid_from"],
                valid_to=v["valid_to"],
                division_code=str(v["division_code"]),
                division_name=names.get(str(v["division_code"]), str(v["division_code"])),
                address=v["address"],
                area_type=str(v["area_type"]),
                member_count=int(v["member_count"]),
            )
            for v in versions
        ),
        recipients=recipients,
        alerts=tuple(
            AlertRef(
                id=int(a["id"]),
                rule_id=str(a["rule_id"]),
                severity=str(a["severity"]),
                title=str(a["title"]),
                status=str(a["status"]),
                raised_at=a["raised_at"],
                due_date=a["due_date"],
                closed_at=a["closed_at"],
            )
            for a in alerts
        ),
        evidence=tuple(evidence_view(e, unmasked=unmasked) for e in evidence),
        unmasked=unmasked,
    )


def _all(conn: Connection, query: Any) -> list[Any]:
    return list(conn.execute(query).mappings())


def _shown_name(row: Any, unmasked: bool) -> str:
    if row is None:
        return ""
    return str(row["name"]) if unmasked else mask_name(str(row["name"]))


def _chain_names(conn: Connection, division_code: str) -> list[tuple[str, str]]:
    """(code, name) of the county, township and village of a village code."""
    codes_ = list(dict.fromkeys((division_code[:6], division_code[:9], division_code)))
    found = {
        str(c): str(n)
        for c, n in conn.execute(
            select(DIVISIONS.c.code, DIVISIONS.c.name).where(DIVISIONS.c.code.in_(codes_))
        ).all()
    }
    return [(c, found.get(c, c)) for c in codes_]


def _recipients(conn: Connection, household_id: int) -> tuple[RecipientRef, ...]:
    rows = _all(
        conn, select(RECIPIENTS).where(RECIPIENTS.c.household_id == household_id).order_by(RECIPIENTS.c.id)
    )
    if not rows:
        return ()
    terms: dict[int, Any] = {}
    for t in conn.execute(
        select(TERMS)
        .where(TERMS.c.recipient_id.in_([int(r["id"]) for r in rows]))
        .order_by(TERMS.c.recipient_id, TERMS.c.from_month, TERMS.c.id)
    ).mappings():
        terms[int(t["recipient_id"])] = t  # the latest term
    out = []
    for r in rows:
        term = terms.get(int(r["id"]))
        out.append(
            RecipientRef(
                id=int(r["id"]),
                program=str(r["program"]),
                status=str(r["status"]),
                start_month=str(r["start_month"]),
                end_month=r["end_month"],
                monthly_amount=Decimal(str(term["monthly_amount"])) if term is not None else None,
                covered_members=int(term["covered_members"]) if term is not None else None,
                next_review_due=r["next_review_due"],
            )
        )
    return tuple(out)


# --- assessment and feed matches --------------------------------------------------------------


@dataclass(frozen=True)
class ProgramView:
    program: str
    name: str
    eligible: bool
    monthly_amount: Decimal
    covered: int
    basis: str | None
    summary: str
    values: dict[str, Any] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Assessment:
    """What the programs say the household is entitled to on ``on``, and why."""

    household_id: int
    on: dt.date
    programs: tuple[ProgramView, ...]
    members: int
    categories: tuple[str, ...]

    @property
    def eligible(self) -> tuple[ProgramView, ...]:
        return tuple(p for p in self.programs if p.eligible)


def household_assessment(
    engine: Engine, actor: Actor, household_id: int, *, on: dt.date | None = None
) -> Assessment:
    """Run every program on the household as the registry holds it on ``on`` (today): the same
    formulas as the whole-registry run and an application's assessment, with each result's
    explanation (values used, parameters with their source, one Chinese sentence). What only
    a home visit establishes (no able supporter, rigid spending, an emergency) is taken as not
    reported; the feeds' findings are not applied (an application's economic check does that)."""
    from doudi.cases.assessment import household_input
    from doudi.programs.engine import assess
    from doudi.programs.explain import explain

    require(actor.role, "case.view")
    _scoped_place(engine, actor, household_id)
    day = on or dt.date.today()
    with reading(engine) as conn:
        household, _ = household_input(conn, household_id, day)
    results = assess(household)
    full = explain(household, results)
    programs = []
    for program, block in full["programs"].items():
        programs.append(
            ProgramView(
                program=program,
                name=str(block["name"]),
                eligible=bool(block["eligible"]),
                monthly_amount=Decimal(str(block["monthly_amount"])),
                covered=int(block["covered"] or 0),
                basis=block["basis"],
                summary=str(block["explanation"]["summary"]),
                values=dict(block["explanation"]["values"]),
                parameters=dict(block["explanation"]["parameters"]),
            )
        )
    return Assessment(
        household_id=household_id,
        on=day,
        programs=tuple(programs),
        members=len(household.members),
        categories=tuple(household.current_categories),
    )


@dataclass(frozen=True)
class FeedMatch:
    kind: str
    title: str
    department: str
    load_id: int
    period: str
    row_no: int
    member: str  # masked unless unmasked
    citizen_id: str
    relation: str
    fields: dict[str, Any]

    @property
    def relation_label(self) -> str:
        return label(codes.RELATIONS, self.relation)


@dataclass(frozen=True)
class FeedMatches:
    """What the departments' feeds in force say about the household's members (the economic
    check's reading, without storing anything)."""

    household_id: int
    on: dt.date
    sources: tuple[dict[str, Any], ...]
    matches: tuple[FeedMatch, ...]
    findings: dict[str, Any]
    rules: dict[str, str]


def household_feed_matches(
    engine: Engine,
    actor: Actor,
    household_id: int,
    *,
    on: dt.date | None = None,
    unmasked: bool = False,
    reason: str | None = None,
) -> FeedMatches:
    """The feed rows of the loads in force on ``on`` (today) that name a current member:
    vehicles, real estate, market entities, public employment, pensions and deaths, each with
    its department, load and row (:func:`doudi.cases.economic_check.check_household`)."""
    from doudi.cases.economic_check import check_household

    require(actor.role, "case.view")
    if unmasked and not (reason or "").strip():
        raise CaseError(
            "reason_required",
            "an unmasked view needs a reason",
            "查看完整的姓名和身份证号需要填写理由（将记入审计日志）。",
        )
    _, division_code = _scoped_place(engine, actor, household_id)
    day = on or dt.date.today()
    with engine.begin() if unmasked else reading(engine) as conn:  # a write only to audit
        report = check_household(conn, household_id, day)
        if unmasked:
            audit.record(
                conn,
                actor=actor.username,
                action="view_unmasked",
                object_type="household_feeds",
                object_ref=str(household_id),
                division_code=division_code,
                reason=reason,
            )
    matches = tuple(
        FeedMatch(
            kind=str(m["kind"]),
            title=str(m["title"]),
            department=str(m["department"]),
            load_id=int(m["load_id"]),
            period=str(m["period"]),
            row_no=int(m["row_no"]),
            member=str(m["name"]) if unmasked else mask_name(str(m["name"])),
            citizen_id=str(m["citizen_id"]) if unmasked else mask_citizen_id(str(m["citizen_id"])),
            relation=str(m["relation"]),
            fields=dict(m["fields"]),
        )
        for m in report["matches"]
    )
    return FeedMatches(
        household_id=household_id,
        on=day,
        sources=tuple(report["sources"]),
        matches=matches,
        findings=dict(report["findings"]),
        rules=dict(report["rules"]),
    )


__all__ = [
    "Assessment",
    "Division",
    "FeedMatches",
    "HouseholdDetail",
    "HouseholdHit",
    "SearchError",
    "SearchResult",
    "division_names",
    "divisions_in_scope",
    "household_assessment",
    "household_detail",
    "household_feed_matches",
    "in_scope",
    "search_households",
    "within",
]
