"""Helpers of the API tests: tokens, bearer headers, feed files as a department sends them."""

from __future__ import annotations

from typing import Any

from factories import citizen_id
from sqlalchemy import Engine, select

from doudi.db.models import AuditEntry
from doudi.web.tokens import create_token

API = "/api/v1"

MEDICAL_HEADER = "结算单号,身份证号,姓名,参保地区划代码,结算日期,定点医疗机构,就诊类别,医疗总费用（元）,统筹支付,个人自付,是否大病"


def issue(
    engine: Engine, name: str = "市医保局", *, kinds: str | None = "medical", user: str | None = None
) -> str:
    """A new token's secret."""
    _, secret = create_token(engine, name=name, feed_kinds=kinds, username=user, created_by="tester")
    return secret


def auth(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def medical_row(no: str, *, seq: int = 11, cost: str = "1200.00", **over: Any) -> list[str]:
    row = {
        "no": no,
        "id": citizen_id("1968-03-02", seq),
        "name": "甲某",
        "division": "520102",
        "date": "2026-11-03",
        "hospital": "贵阳市第一人民医院",
        "visit": "住院",
        "total": cost,
        "reimbursed": "900.00",
        "oop": "300.00",
        "major": "否",
    }
    row.update(over)
    return list(row.values())


def medical_csv(*rows: list[str]) -> bytes:
    lines = [MEDICAL_HEADER] + [",".join(r) for r in rows]
    return ("\n".join(lines) + "\n").encode("utf-8")


def assert_error_shape(body: Any, code: str) -> None:
    """The API's one error shape, with the expected code and a Chinese message."""
    assert set(body) == {"code", "message", "details"}, body
    assert body["code"] == code, body
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["details"], list)


def audit_entries(engine: Engine, action: str) -> list[Any]:
    with engine.connect() as conn:
        return list(
            conn.execute(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)).all()
        )


def add_evidence(engine: Engine, household_no: str, village: str, head: str) -> None:
    """A later run sees the household's alert again, with a medical settlement as evidence."""
    import datetime as dt

    import pyarrow as pa
    from case_world import PERIOD, RAISED, candidate

    from doudi.monitor.alerts import CANDIDATE_SCHEMA, EVIDENCE_SCHEMA, merge_alerts, start_run

    run = start_run(
        engine,
        period=PERIOD,
        engine_name="duckdb",
        actor="tester",
        rules=[("medical_catastrophic", 1)],
        feed_loads=[7],
    )
    cand = candidate(household_no, village, head)
    ev = {
        "rule_id": cand["rule_id"],
        "subject_key": cand["subject_key"],
        "event_key": cand["event_key"],
        "feed_kind": "medical",
        "department": "医疗保障局",
        "load_id": 7,
        "period": PERIOD,
        "row_no": 12,
        "citizen_id": head,
        "event_date": dt.date(2026, 11, 3),
        "detail": '{"out_of_pocket": "25000.00", "hospital": "贵阳市第一人民医院"}',
    }
    merge_alerts(
        engine,
        run_id=run,
        period=PERIOD,
        candidates=pa.Table.from_pylist([cand], schema=CANDIDATE_SCHEMA),
        evidence=pa.Table.from_pylist([ev], schema=EVIDENCE_SCHEMA),
        now=RAISED + dt.timedelta(hours=1),
        due_days=15,
    )
