"""Alerts for integrations reading as a staff account: ``/api/v1/alerts``.

A user token reads exactly what its user reads in the browser, through the same services
(:mod:`doudi.cases.alert_views`): the inbox of the user's division scope, and one alert with
its evidence, visits, decisions and events. Citizen IDs are always masked here; an alert
outside the scope does not exist (404), and the attempt is written to the audit log.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field

from doudi.auth import Actor
from doudi.cases.alert_views import MAX_PAGE_SIZE, alert_detail, inbox
from doudi.monitor.rules import ID_PATTERN
from doudi.web.deps import engine_of
from doudi.web.routes.api_common import ERRORS, MAX_BIGINT, MAX_PAGE, PREFIX, ApiOut, Timestamp
from doudi.web.tokens import api_reader

api = APIRouter(prefix=f"{PREFIX}/alerts", tags=["预警"], responses=ERRORS)

_reader = api_reader("case.view")


class AlertOut(ApiOut):
    """An alert as the inbox lists it."""

    id: int
    rule_id: str
    severity: str = Field(description="red 红色、orange 橙色、yellow 黄色")
    severity_label: str
    title: str
    citizen_id: str = Field(description="公民身份号码（脱敏）")
    household_id: int | None
    household_no: str | None
    registered: bool = Field(description="是否在册（否：比对发现的未在册人员）")
    division_code: str
    status: str = Field(description="open 待分派、assigned 已分派、verified 已核查、closed 已办结")
    status_label: str
    raised_at: Timestamp
    due_date: dt.date = Field(description="核查期限")
    closed_at: Timestamp | None
    assignee: str | None
    verified_at: Timestamp | None
    escalated_at: Timestamp | None
    version: int
    days_left: int = Field(description="距核查期限的天数（负数：已逾期）")
    overdue: bool


class AlertPageOut(BaseModel):
    items: list[AlertOut]
    total: int
    page: int
    page_size: int
    pages: int


class WorkOut(ApiOut):
    status: str
    status_label: str
    assignee: str | None
    assigned_at: Timestamp | None
    verified_at: Timestamp | None
    decided_at: Timestamp | None
    helped_at: Timestamp | None
    escalated_at: Timestamp | None
    version: int


class EvidenceOut(ApiOut):
    """A feed row behind the alert, with its source department."""

    feed_kind: str
    department: str
    load_id: int
    period: str
    row_no: int
    citizen_id: str = Field(description="公民身份号码（脱敏）")
    event_date: dt.date | None
    detail: dict[str, Any]


class AttachmentOut(ApiOut):
    id: int
    file_name: str
    size: int
    media_type: str
    uploaded_by: str
    uploaded_at: Timestamp


class VerificationOut(ApiOut):
    id: int
    visited_on: dt.date
    visitors: str
    met: str
    findings: str
    recorded_by: str
    recorded_at: Timestamp
    attachments: list[AttachmentOut]


class DecisionOut(ApiOut):
    id: int
    outcome: str
    outcome_label: str
    reason: str
    amount: Decimal | None
    application_id: int | None
    recipient_id: int | None
    decided_by: str
    decided_at: Timestamp


class EventOut(BaseModel):
    id: int
    event: str
    label: str
    from_status: str | None
    to_status: str | None
    actor: str
    at: Timestamp
    reason: str | None
    data: dict[str, Any]


class AlertDetailOut(ApiOut):
    """One alert: what was seen (explanation, facts, evidence) and what was done about it."""

    id: int
    rule_id: str
    rule_version: int
    severity: str
    severity_label: str
    title: str
    explanation: str
    facts: dict[str, Any]
    actions: list[Any]
    policy: str | None
    citizen_id: str = Field(description="公民身份号码（脱敏）")
    household_id: int | None
    household_no: str | None
    registered: bool
    division_code: str
    township_code: str
    county_code: str
    period_first: str
    period_last: str
    raised_at: Timestamp
    due_date: dt.date
    closed_at: Timestamp | None
    closed_reason: str | None
    status: str
    version: int
    work: WorkOut
    evidence: list[EvidenceOut]
    verifications: list[VerificationOut]
    decisions: list[DecisionOut]
    events: list[EventOut]


@api.get("", response_model=AlertPageOut, summary="预警列表")
def alerts(
    request: Request,
    status: Literal["open", "assigned", "verified", "closed"] | None = Query(None, description="状态"),
    rule_id: str | None = Query(None, max_length=60, pattern=ID_PATTERN, description="规则"),
    severity: Literal["red", "orange", "yellow"] | None = Query(None, description="等级"),
    overdue: bool | None = Query(None, description="true：已逾期；false：未逾期"),
    include_closed: bool = Query(False, description="包括已办结的预警"),
    page: int = Query(1, ge=1, le=MAX_PAGE),
    page_size: int = Query(50, ge=1, le=MAX_PAGE_SIZE),
    actor: Actor = Depends(_reader),
) -> AlertPageOut:
    """The alerts of the token user's scope, most urgent first (due date, then id)."""
    found = inbox(
        engine_of(request),
        actor,
        status=status,
        rule_id=rule_id,
        severity=severity,
        overdue=overdue,
        include_closed=include_closed,
        page=page,
        page_size=page_size,
    )
    return AlertPageOut(
        items=[AlertOut.model_validate(r) for r in found.rows],
        total=found.total,
        page=found.page,
        page_size=found.page_size,
        pages=found.pages,
    )


@api.get("/{alert_id:int}", response_model=AlertDetailOut, summary="预警详情")
def alert(
    request: Request,
    alert_id: int = Path(ge=1, le=MAX_BIGINT),
    actor: Actor = Depends(_reader),
) -> AlertDetailOut:
    """One alert with its explanation, evidence rows (source department), visits, decisions and
    events. Outside the user's scope: 404 (audited)."""
    return AlertDetailOut.model_validate(alert_detail(engine_of(request), actor, alert_id))
