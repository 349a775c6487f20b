"""SQLAlchemy 2 models of the operational store.

Provenance columns (``import_id`` and friends) name an ``imports`` row but carry no
foreign key: imports are append-only and never deleted, and on PostgreSQL a per-row key
check on every registry row doubled the time of a million-row import (docs/benchmarks.md).

History is kept by versioning: a change closes the current row (``valid_to`` set to the
date the change takes effect) and adds a new one, so any past date can be asked about.
A row is current while ``valid_to`` is NULL; it is in force on day D when
``valid_from <= D`` and (``valid_to`` is NULL or ``D < valid_to``).

Money is exact everywhere (never float): see :class:`Money`.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from doudi.db.types import Money

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class DivisionRow(Base):
    """A division: MCA codes to township level, villages from the synthetic province or rosters."""

    __tablename__ = "divisions"
    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[int] = mapped_column(SmallInteger)
    parent_code: Mapped[str | None] = mapped_column(String(12), index=True)
    area_type: Mapped[str] = mapped_column(String(5))
    source: Mapped[str] = mapped_column(String(20), default="mca")


class ImportRun(Base):
    """One roster import (or synthetic load): what came in and what happened to it."""

    __tablename__ = "imports"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    file_name: Mapped[str] = mapped_column(String(500))
    file_sha256: Mapped[str] = mapped_column(String(64), index=True)
    as_of: Mapped[dt.date] = mapped_column(Date)
    actor: Mapped[str] = mapped_column(String(100))
    started_at: Mapped[dt.datetime] = mapped_column(DateTime, server_default=func.now())
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(String(20), default="running")
    rows_read: Mapped[int] = mapped_column(Integer, default=0)
    rows_new: Mapped[int] = mapped_column(Integer, default=0)
    rows_updated: Mapped[int] = mapped_column(Integer, default=0)
    rows_unchanged: Mapped[int] = mapped_column(Integer, default=0)
    rows_rejected: Mapped[int] = mapped_column(Integer, default=0)
    rejects_path: Mapped[str | None] = mapped_column(String(500))
    summary: Mapped[str | None] = mapped_column(Text)


class Household(Base):
    """A household's lasting identity; what it looks like over time is in its versions."""

    __tablename__ = "households"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    household_no: Mapped[str] = mapped_column(String(40), unique=True)
    created_import_id: Mapped[int | None] = mapped_column(Integer)


class HouseholdVersion(Base):
    __tablename__ = "household_versions"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"))
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    division_code: Mapped[str] = mapped_column(String(12))
    address: Mapped[str | None] = mapped_column(String(300))
    area_type: Mapped[str] = mapped_column(String(5))
    head_citizen_id: Mapped[str] = mapped_column(String(18))
    member_count: Mapped[int] = mapped_column(SmallInteger)
    content_hash: Mapped[str] = mapped_column(String(32))
    import_id: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (
        Index("ix_household_versions_household", "household_id", "valid_to"),
        Index("ix_household_versions_division", "division_code", "valid_to"),
    )


class Person(Base):
    """A person's lasting identity: the citizen ID is unique and lifelong."""

    __tablename__ = "persons"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    citizen_id: Mapped[str] = mapped_column(String(18), unique=True)


class PersonVersion(Base):
    __tablename__ = "person_versions"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"))
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    name: Mapped[str] = mapped_column(String(100))
    sex: Mapped[str] = mapped_column(String(6))
    birth_date: Mapped[dt.date] = mapped_column(Date)
    relation: Mapped[str] = mapped_column(String(12))
    disability_kind: Mapped[str | None] = mapped_column(String(12))
    disability_grade: Mapped[int | None] = mapped_column(SmallInteger)
    self_care_failed_items: Mapped[int] = mapped_column(SmallInteger, default=0)
    serious_illness: Mapped[bool] = mapped_column(Boolean, default=False)
    schooling: Mapped[str] = mapped_column(String(12), default="none")
    employment: Mapped[str | None] = mapped_column(String(12))
    content_hash: Mapped[str] = mapped_column(String(32))
    import_id: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (
        Index("ix_person_versions_person", "person_id", "valid_to"),
        Index("ix_person_versions_household", "household_id", "valid_to"),
        # Household search by name (web): text_pattern_ops serves = and a LIKE prefix in any collation.
        Index("ix_person_versions_name", "name", postgresql_ops={"name": "text_pattern_ops"}),
    )


class IncomeItem(Base):
    """A person's monthly income of one kind (wage, business, property, transfer, unclassified)."""

    __tablename__ = "income_items"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"))
    kind: Mapped[str] = mapped_column(String(14))
    monthly_amount: Mapped[Decimal] = mapped_column(Money())
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    import_id: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (
        Index("ix_income_items_person", "person_id", "valid_to"),
        Index("ix_income_items_household", "household_id"),
    )


class PropertyItem(Base):
    """A household's property of one kind (vehicles, extra_housing, business_registered, deposits)."""

    __tablename__ = "property_items"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"))
    kind: Mapped[str] = mapped_column(String(24))
    amount: Mapped[Decimal] = mapped_column(Money())
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    import_id: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (Index("ix_property_items_household", "household_id", "valid_to"),)


class HouseholdCategory(Base):
    """Membership of a household in a category (低保, 特困, …) from start_date until end_date."""

    __tablename__ = "household_categories"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"))
    category: Mapped[str] = mapped_column(String(20))
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date | None] = mapped_column(Date)
    import_id: Mapped[int | None] = mapped_column(Integer)
    closed_import_id: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (
        Index("ix_household_categories_household", "household_id", "end_date"),
        Index("ix_household_categories_category", "category", "start_date"),
    )


class AuditEntry(Base):
    """Append-only audit log: who saw or exported unmasked personal data, and why."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, server_default=func.now())
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(40))
    object_type: Mapped[str] = mapped_column(String(40))
    object_ref: Mapped[str | None] = mapped_column(String(200))
    division_code: Mapped[str | None] = mapped_column(String(12))
    reason: Mapped[str | None] = mapped_column(String(500))
    detail: Mapped[str | None] = mapped_column(Text)

    # The administrators' audit-log search: by actor, and by time.
    __table_args__ = (Index("ix_audit_log_actor", "actor", "id"), Index("ix_audit_log_at", "at"))


# --- feeds and monitoring -------------------------------------------------------------------


class FeedLoad(Base):
    """The feed manifest: one row per file loaded for a kind and period.

    At most one load per (kind, period) is ``active``; a corrected resubmission makes the
    earlier one ``superseded`` (``superseded_by`` points at its successor, ``replaces_load_id``
    back) and records the change in ``change``. Loading a file whose content was already loaded
    for the same kind and period changes nothing.
    """

    __tablename__ = "feed_loads"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))
    period: Mapped[str] = mapped_column(String(7))
    file_name: Mapped[str] = mapped_column(String(500))
    file_sha256: Mapped[str] = mapped_column(String(64))
    file_format: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(20), default="running")
    replaces_load_id: Mapped[int | None] = mapped_column(Integer)
    superseded_by: Mapped[int | None] = mapped_column(Integer)
    rows_read: Mapped[int] = mapped_column(Integer, default=0)
    rows_good: Mapped[int] = mapped_column(Integer, default=0)
    rows_rejected: Mapped[int] = mapped_column(Integer, default=0)
    rows_duplicate: Mapped[int] = mapped_column(Integer, default=0)
    rows_matched: Mapped[int] = mapped_column(Integer, default=0)
    parquet_path: Mapped[str | None] = mapped_column(String(500))
    quarantine_path: Mapped[str | None] = mapped_column(String(500))
    quality: Mapped[str | None] = mapped_column(Text)
    change: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(100))
    started_at: Mapped[dt.datetime] = mapped_column(DateTime, server_default=func.now())
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    __table_args__ = (
        Index("ix_feed_loads_kind_period", "kind", "period", "status"),
        Index("ix_feed_loads_sha", "file_sha256"),
    )


class MonitorRun(Base):
    """One monthly monitoring run: what went in, what came out, how long it took."""

    __tablename__ = "monitor_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    period: Mapped[str] = mapped_column(String(7))
    engine: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(20), default="running")
    actor: Mapped[str] = mapped_column(String(100))
    started_at: Mapped[dt.datetime] = mapped_column(DateTime, server_default=func.now())
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    duration_s: Mapped[float | None] = mapped_column()
    rules: Mapped[str | None] = mapped_column(Text)
    feed_loads: Mapped[str | None] = mapped_column(Text)
    counts: Mapped[str | None] = mapped_column(Text)
    subjects: Mapped[int] = mapped_column(Integer, default=0)
    candidates: Mapped[int] = mapped_column(Integer, default=0)
    alerts_new: Mapped[int] = mapped_column(Integer, default=0)
    alerts_updated: Mapped[int] = mapped_column(Integer, default=0)
    alerts_unchanged: Mapped[int] = mapped_column(Integer, default=0)
    alerts_suppressed: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_monitor_runs_period", "period"),)


class Alert(Base):
    """An early warning (预警) raised by a rule for a person or household, routed to a township.

    One alert per event: ``(rule_id, subject_key, event_key)`` identifies it. While it is open,
    later runs update it (``period_last``, facts, evidence) instead of adding another; once
    closed it is not raised again for the same event within the rule's suppression window.
    ``citizen_id`` is kept so that an unregistered person (discovery) can be found; every view
    masks it.
    """

    __tablename__ = "alerts"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(60))
    rule_version: Mapped[int] = mapped_column(Integer)
    severity: Mapped[str] = mapped_column(String(6))
    grain: Mapped[str] = mapped_column(String(10))
    subject_key: Mapped[str] = mapped_column(String(40))
    event_key: Mapped[str] = mapped_column(String(100), default="")
    citizen_id: Mapped[str] = mapped_column(String(18))
    person_id: Mapped[int | None] = mapped_column(BigInteger)
    household_id: Mapped[int | None] = mapped_column(BigInteger)
    household_no: Mapped[str | None] = mapped_column(String(40))
    registered: Mapped[bool] = mapped_column(Boolean)
    division_code: Mapped[str] = mapped_column(String(12))
    township_code: Mapped[str] = mapped_column(String(12))
    county_code: Mapped[str] = mapped_column(String(6))
    period_first: Mapped[str] = mapped_column(String(7))
    period_last: Mapped[str] = mapped_column(String(7))
    status: Mapped[str] = mapped_column(String(20), default="open")
    raised_at: Mapped[dt.datetime] = mapped_column(DateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime)
    due_date: Mapped[dt.date] = mapped_column(Date)
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    closed_reason: Mapped[str | None] = mapped_column(String(200))
    first_run_id: Mapped[int] = mapped_column(Integer)
    last_run_id: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    explanation: Mapped[str] = mapped_column(Text)
    facts: Mapped[str] = mapped_column(Text)
    actions: Mapped[str] = mapped_column(Text)
    policy: Mapped[str | None] = mapped_column(String(500))

    __table_args__ = (
        Index("ix_alerts_identity", "rule_id", "subject_key", "event_key"),
        Index("ix_alerts_township", "township_code", "status"),
        Index("ix_alerts_county", "county_code", "status"),
        # The township inbox: open alerts (closed_at IS NULL) by due date.
        Index("ix_alerts_inbox", "township_code", "closed_at", "due_date"),
        # A household's alerts (household file and assistance chain).
        Index("ix_alerts_household", "household_id"),
    )


class AlertEvidence(Base):
    """A feed row behind an alert, with its source department and load."""

    __tablename__ = "alert_evidence"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    alert_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    run_id: Mapped[int] = mapped_column(Integer)
    feed_kind: Mapped[str] = mapped_column(String(30))
    department: Mapped[str] = mapped_column(String(60))
    load_id: Mapped[int] = mapped_column(Integer)
    period: Mapped[str] = mapped_column(String(7))
    row_no: Mapped[int] = mapped_column(BigInteger)
    citizen_id: Mapped[str] = mapped_column(String(18))
    event_date: Mapped[dt.date | None] = mapped_column(Date)
    detail: Mapped[str] = mapped_column(Text)

    __table_args__ = (
        Index("ix_alert_evidence_alert", "alert_id", "feed_kind", "load_id", "row_no", unique=True),
    )


# --- users and case work ---------------------------------------------------------------------


class User(Base):
    """A member of staff: a role and the division their work is scoped to.

    ``password_hash`` (argon2) is empty for accounts that only act from the command line.
    Users are never deleted; ``active`` false ends an account.
    """

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(60), unique=True)
    display_name: Mapped[str] = mapped_column(String(60))
    role: Mapped[str] = mapped_column(String(30))
    division_code: Mapped[str] = mapped_column(String(12))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, server_default=func.now())
    created_by: Mapped[str] = mapped_column(String(60))


class StaffRelative(Base):
    """A relative of a member of staff, declared for the record (近亲属备案): applications from
    a household with this person in it go to the county for review."""

    __tablename__ = "staff_relatives"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(60), index=True)
    citizen_id: Mapped[str] = mapped_column(String(18), index=True)
    relation: Mapped[str] = mapped_column(String(20))
    declared_at: Mapped[dt.datetime] = mapped_column(DateTime, server_default=func.now())


class CaseEvent(Base):
    """The case ledger: one append-only row per state change of any case (alert, application,
    recipient, payment roll, review). Current state lives in the case tables and is changed in
    the same transaction as its event; the database refuses UPDATE and DELETE here."""

    __tablename__ = "case_events"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    case_type: Mapped[str] = mapped_column(String(20))
    case_id: Mapped[int] = mapped_column(BigInteger)
    household_id: Mapped[int | None] = mapped_column(BigInteger)
    township_code: Mapped[str | None] = mapped_column(String(12))
    county_code: Mapped[str | None] = mapped_column(String(6))
    event: Mapped[str] = mapped_column(String(30))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str | None] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(60))
    at: Mapped[dt.datetime] = mapped_column(DateTime)
    reason: Mapped[str | None] = mapped_column(Text)
    data: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_case_events_case", "case_type", "case_id", "id"),
        Index("ix_case_events_household", "household_id", "at"),
    )


class Attachment(Base):
    """A file attached to a case (visit photo, signed form), stored on disk by its SHA-256."""

    __tablename__ = "attachments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_type: Mapped[str] = mapped_column(String(20))
    case_id: Mapped[int] = mapped_column(BigInteger)
    file_name: Mapped[str] = mapped_column(String(300))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    media_type: Mapped[str] = mapped_column(String(100))
    uploaded_by: Mapped[str] = mapped_column(String(60))
    uploaded_at: Mapped[dt.datetime] = mapped_column(DateTime)

    __table_args__ = (Index("ix_attachments_case", "case_type", "case_id"),)


class AlertWork(Base):
    """The case work on one alert (1:1 with ``alerts``, created when the alert is first worked
    on): who has it, when it was verified, decided and escalated, and its lock version.

    The monitoring run owns ``alerts``; case work owns this row and ``alerts.status`` /
    ``closed_at`` (closing the alert ends the monitoring's updates to it)."""

    __tablename__ = "alert_work"
    alert_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    assignee: Mapped[str | None] = mapped_column(String(60))
    assigned_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    verified_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    helped_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    escalated_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __table_args__ = (Index("ix_alert_work_assignee", "assignee"),)


class Verification(Base):
    """A home visit (入户核查) for an alert or an application."""

    __tablename__ = "verifications"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    application_id: Mapped[int | None] = mapped_column(Integer, index=True)
    household_id: Mapped[int | None] = mapped_column(BigInteger)
    visited_on: Mapped[dt.date] = mapped_column(Date)
    visitors: Mapped[str] = mapped_column(String(200))
    met: Mapped[str] = mapped_column(String(200))
    findings: Mapped[str] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(String(60))
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime)

    __table_args__ = (Index("ix_verifications_household", "household_id"),)


class AlertDecision(Base):
    """One outcome of the decision on an alert (an alert may lead to several: a referral and
    temporary assistance, say), each with its reason."""

    __tablename__ = "alert_decisions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(BigInteger, index=True)
    household_id: Mapped[int | None] = mapped_column(BigInteger)
    outcome: Mapped[str] = mapped_column(String(30))
    reason: Mapped[str] = mapped_column(Text)
    amount: Mapped[Decimal | None] = mapped_column(Money())
    application_id: Mapped[int | None] = mapped_column(Integer)
    recipient_id: Mapped[int | None] = mapped_column(BigInteger)
    decided_by: Mapped[str] = mapped_column(String(60))
    decided_at: Mapped[dt.datetime] = mapped_column(DateTime)

    __table_args__ = (Index("ix_alert_decisions_household", "household_id"),)


class Application(Base):
    """An application for assistance (申请), from intake to the decision."""

    __tablename__ = "applications"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    household_id: Mapped[int] = mapped_column(BigInteger, index=True)
    person_id: Mapped[int | None] = mapped_column(BigInteger)
    program: Mapped[str] = mapped_column(String(30))
    channel: Mapped[str] = mapped_column(String(20))
    alert_id: Mapped[int | None] = mapped_column(BigInteger)
    division_code: Mapped[str] = mapped_column(String(12))
    township_code: Mapped[str] = mapped_column(String(12))
    county_code: Mapped[str] = mapped_column(String(6))
    status: Mapped[str] = mapped_column(String(20))
    applied_on: Mapped[dt.date] = mapped_column(Date)
    deadline: Mapped[dt.date] = mapped_column(Date)
    extended: Mapped[bool] = mapped_column(Boolean, default=False)
    recorded_by: Mapped[str] = mapped_column(String(60))
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime)
    relative_flag: Mapped[bool] = mapped_column(Boolean, default=False)
    emergency: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str | None] = mapped_column(Text)
    economic_check: Mapped[str | None] = mapped_column(Text)
    assessment: Mapped[str | None] = mapped_column(Text)
    proposed_amount: Mapped[Decimal | None] = mapped_column(Money())
    reviewed_by: Mapped[str | None] = mapped_column(String(60))
    review_opinion: Mapped[str | None] = mapped_column(String(10))
    notice_start: Mapped[dt.date | None] = mapped_column(Date)
    notice_end: Mapped[dt.date | None] = mapped_column(Date)
    decision: Mapped[str | None] = mapped_column(String(10))
    amount: Mapped[Decimal | None] = mapped_column(Money())
    start_month: Mapped[str | None] = mapped_column(String(7))
    decision_reason: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str | None] = mapped_column(String(60))
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    paid_first_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    paperwork_due: Mapped[dt.date | None] = mapped_column(Date)
    recipient_id: Mapped[int | None] = mapped_column(BigInteger)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __table_args__ = (
        Index("ix_applications_township", "township_code", "status"),
        Index("ix_applications_county", "county_code", "status"),
    )


class NoticeObjection(Base):
    """An objection raised during an application's public notice (公示), and how it was resolved."""

    __tablename__ = "notice_objections"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    application_id: Mapped[int] = mapped_column(Integer, index=True)
    received_on: Mapped[dt.date] = mapped_column(Date)
    objector: Mapped[str | None] = mapped_column(String(100))
    content: Mapped[str] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(String(60))
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(String(10), default="open")
    upheld: Mapped[bool | None] = mapped_column(Boolean)
    resolution: Mapped[str | None] = mapped_column(Text)
    resolved_by: Mapped[str | None] = mapped_column(String(60))
    resolved_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class Recipient(Base):
    """A household (or, for individual programs, a person) receiving a program's assistance.

    The amount over time is in ``recipient_terms``. Months are ``YYYY-MM``; ``end_month`` is the
    last month paid (NULL while open)."""

    __tablename__ = "recipients"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    household_id: Mapped[int] = mapped_column(BigInteger)
    person_id: Mapped[int | None] = mapped_column(BigInteger)
    program: Mapped[str] = mapped_column(String(30))
    division_code: Mapped[str] = mapped_column(String(12))
    township_code: Mapped[str] = mapped_column(String(12))
    county_code: Mapped[str] = mapped_column(String(6))
    source: Mapped[str] = mapped_column(String(20))
    application_id: Mapped[int | None] = mapped_column(Integer)
    start_month: Mapped[str] = mapped_column(String(7))
    end_month: Mapped[str | None] = mapped_column(String(7))
    status: Mapped[str] = mapped_column(String(20))
    phase_out_end: Mapped[str | None] = mapped_column(String(7))
    review_cycle_months: Mapped[int] = mapped_column(SmallInteger)
    next_review_due: Mapped[dt.date | None] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __table_args__ = (
        Index("ix_recipients_county", "county_code", "program"),
        Index("ix_recipients_household", "household_id"),
        Index("ix_recipients_review", "township_code", "next_review_due"),
    )


class RecipientTerm(Base):
    """The amount a recipient is paid from ``from_month`` through ``to_month`` (NULL: open)."""

    __tablename__ = "recipient_terms"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    recipient_id: Mapped[int] = mapped_column(BigInteger)
    from_month: Mapped[str] = mapped_column(String(7))
    to_month: Mapped[str | None] = mapped_column(String(7))
    monthly_amount: Mapped[Decimal] = mapped_column(Money())
    covered_members: Mapped[int] = mapped_column(SmallInteger)
    reason: Mapped[str] = mapped_column(String(200))
    created_by: Mapped[str] = mapped_column(String(60))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)

    __table_args__ = (Index("ix_recipient_terms_recipient", "recipient_id", "from_month"),)


class PaymentRoll(Base):
    """A county's monthly payment roll (发放名册): draft → checked → confirmed (frozen)."""

    __tablename__ = "payment_rolls"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    county_code: Mapped[str] = mapped_column(String(6))
    period: Mapped[str] = mapped_column(String(7))
    status: Mapped[str] = mapped_column(String(12))
    lines: Mapped[int] = mapped_column(Integer, default=0)
    problems: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0"))
    totals: Mapped[str | None] = mapped_column(Text)
    generated_by: Mapped[str] = mapped_column(String(60))
    generated_at: Mapped[dt.datetime] = mapped_column(DateTime)
    checked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    confirmed_by: Mapped[str | None] = mapped_column(String(60))
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __table_args__ = (Index("ix_payment_rolls_county_period", "county_code", "period", unique=True),)


class PaymentRollLine(Base):
    """One payment of a roll; ``problem`` is what the check found, ``excluded`` takes it out."""

    __tablename__ = "payment_roll_lines"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    roll_id: Mapped[int] = mapped_column(Integer)
    recipient_id: Mapped[int] = mapped_column(BigInteger)
    household_id: Mapped[int] = mapped_column(BigInteger)
    person_id: Mapped[int | None] = mapped_column(BigInteger)
    program: Mapped[str] = mapped_column(String(30))
    division_code: Mapped[str] = mapped_column(String(12))
    township_code: Mapped[str] = mapped_column(String(12))
    covered_members: Mapped[int] = mapped_column(SmallInteger)
    amount: Mapped[Decimal] = mapped_column(Money())
    problem: Mapped[str | None] = mapped_column(String(30))
    problem_detail: Mapped[str | None] = mapped_column(String(300))
    excluded: Mapped[bool] = mapped_column(Boolean, default=False)
    resolution: Mapped[str | None] = mapped_column(String(300))

    __table_args__ = (
        Index("ix_payment_roll_lines_roll", "roll_id", "problem"),
        Index("ix_payment_roll_lines_household", "household_id"),
    )


class PeriodicReview(Base):
    """A periodic review (定期复核) of a recipient and what it concluded."""

    __tablename__ = "periodic_reviews"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recipient_id: Mapped[int] = mapped_column(BigInteger, index=True)
    household_id: Mapped[int] = mapped_column(BigInteger)
    due_date: Mapped[dt.date] = mapped_column(Date)
    reviewed_on: Mapped[dt.date] = mapped_column(Date)
    outcome: Mapped[str] = mapped_column(String(10))
    new_amount: Mapped[Decimal | None] = mapped_column(Money())
    reason: Mapped[str] = mapped_column(Text)
    reviewed_by: Mapped[str] = mapped_column(String(60))
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime)

    __table_args__ = (Index("ix_periodic_reviews_household", "household_id"),)


# --- web sessions and API tokens -------------------------------------------------------------


class WebSession(Base):
    """A signed-in browser: the cookie holds a random token, the table only its SHA-256."""

    __tablename__ = "web_sessions"
    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(String(60), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class LoginAttempt(Base):
    """Every sign-in attempt, for throttling and lockout (and the administrators' review)."""

    __tablename__ = "login_attempts"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    username: Mapped[str] = mapped_column(String(60))
    client: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(DateTime)
    ok: Mapped[bool] = mapped_column(Boolean)

    __table_args__ = (
        Index("ix_login_attempts_username", "username", "at"),
        Index("ix_login_attempts_client", "client", "at"),
    )


class ApiToken(Base):
    """A department system's API token: which feed kinds it may push (and read the status of).

    Only the SHA-256 of the token is kept; the token itself is shown once when created."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    feed_kinds: Mapped[str] = mapped_column(Text)
    username: Mapped[str | None] = mapped_column(String(60))
    created_by: Mapped[str] = mapped_column(String(60))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
