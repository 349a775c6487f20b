"""家庭经济状况核对: what the departments' feeds say about an applying household's members.

:func:`check_household` reads the feed loads in force (``feed_loads`` status ``active``) for
the members' citizen IDs, as of the application day:

* snapshot kinds — vehicles (机动车), real estate (不动产), market entities (市场主体), people
  paid from public funds (财政供养) and pensions (养老金) — from the latest active load whose
  period is not after the application month;
* deaths (an events kind) from every active load up to that month, deaths on or before the
  application day.

Each match keeps its source: department, kind, load id, period and row number of the stored
feed file, so that anyone can trace a finding back to the delivered row. The findings the
programs' formulas take (``vehicles``, ``extra_housing``, ``business_registered``) are counted
by project rules stated in :data:`RULES`; public employment, pensions and deaths are reported
for the caseworker (the income they imply is investigated, not inferred).

:func:`run_economic_check` is the service: it stores the report on the application
(``economic_check``, JSON) and moves it to ``checked``.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, select, text

from doudi.auth import Actor, require
from doudi.cases import ledger
from doudi.cases.applications import (
    CASE_TYPE,
    STATUSES,
    TABLE,
    ApplicationView,
    app_event,
    get_application,
    locked_row,
    require_status,
    scoped_row,
)
from doudi.db.models import FeedLoad
from doudi.feeds import store
from doudi.feeds.contract import FeedContract, default_contracts
from doudi.periods import Period
from doudi.programs.engine import shared_connection
from doudi.registry.queries import IN_FORCE

CHECK_KINDS = ("vehicle", "real_estate", "business", "public_employee", "pension", "death")
# Vehicles counted as property: cars, trucks and other motor vehicles. Motorcycles, tricycles
# and tractors are tools of work and daily life (生产生活工具) and only listed.
COUNTED_VEHICLES = ("car", "truck", "other")
NON_RESIDENTIAL = ("commercial", "office", "industrial")
RULES = {
    "vehicles": "机动车（小型汽车、货车、其他）辆数；摩托车、三轮汽车、拖拉机作为生产生活工具只列出不计入"
    "（[UNCONFIRMED] 项目默认，以当地核对办法为准）",
    "extra_housing": "住宅套数减一（一套自住房不计）加商业、办公、工业用房套数（[UNCONFIRMED] 项目默认）",
    "business_registered": "存续状态的市场主体个数（吊销、注销的只列出）",
    "public_employees": "财政供养人员（含离退休）人数，收入另行调查核实",
    "pension_monthly": "家庭成员月领取养老金合计（元），收入另行调查核实",
    "deceased": "申请日前已死亡的成员（不计入家庭人口）",
}
# Open statuses from which the check may be (re)run.
CHECKABLE = ("submitted", "investigating", "checked", "assessed")


def _members(conn: Connection, household_id: int, on: dt.date) -> list[dict[str, Any]]:
    rows = conn.execute(
        text(
            f"""SELECT pv.person_id, p.citizen_id, pv.name, pv.relation FROM person_versions pv
                JOIN persons p ON p.id = pv.person_id
                WHERE pv.household_id = :h AND {IN_FORCE.format(a="pv")}
                ORDER BY pv.relation <> 'head', pv.person_id"""
        ),
        {"h": household_id, "on": on},
    ).all()
    if not rows:  # applied before the registry knew them: the current members
        rows = conn.execute(
            text(
                """SELECT pv.person_id, p.citizen_id, pv.name, pv.relation FROM person_versions pv
                   JOIN persons p ON p.id = pv.person_id
                   WHERE pv.household_id = :h AND pv.valid_to IS NULL
                   ORDER BY pv.relation <> 'head', pv.person_id"""
            ),
            {"h": household_id},
        ).all()
    return [
        {"person_id": int(r[0]), "citizen_id": str(r[1]), "name": str(r[2]), "relation": str(r[3])}
        for r in rows
    ]


def loads_in_force(conn: Connection, on: dt.date) -> dict[str, list[dict[str, Any]]]:
    """The active loads each kind's check reads as of ``on`` (see the module documentation)."""
    month = str(Period.of(on))
    rows = conn.execute(
        select(FeedLoad.id, FeedLoad.kind, FeedLoad.period, FeedLoad.parquet_path, FeedLoad.file_name)
        .where(FeedLoad.status == "active", FeedLoad.kind.in_(CHECK_KINDS), FeedLoad.period <= month)
        .order_by(FeedLoad.kind, FeedLoad.period, FeedLoad.id)
    ).all()
    contracts = default_contracts()
    out: dict[str, list[dict[str, Any]]] = {k: [] for k in CHECK_KINDS}
    for load_id, kind, period, path, file_name in rows:
        out[kind].append({"load_id": int(load_id), "period": period, "path": path, "file_name": file_name})
    for kind, loads in out.items():
        if loads and contracts[kind].mode == "snapshot":
            out[kind] = [loads[-1]]  # the latest list is the one in force
    return out


def _value(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _fields(contract: FeedContract, row: dict[str, Any]) -> dict[str, Any]:
    """The row's values by column label, enum codes as their Chinese label (``小型汽车``)."""
    out: dict[str, Any] = {}
    for col in contract.columns:
        if col.name in (contract.person, "name"):
            continue
        value = _value(row.get(col.name))
        if value is not None and col.values and value in col.values:
            value = col.values[value]
        out[col.label] = value
    return out


def _read(paths: list[str], citizen_ids: list[str]) -> list[dict[str, Any]]:
    """The rows of the feed files ``paths`` (one kind) that name one of ``citizen_ids``, in the
    order of their loads and rows: one query on a pooled DuckDB connection, over each load's
    copy sorted by person (a few row groups read per load instead of the whole file)."""
    files = [Path(p) for p in paths if p and Path(p).is_file()]
    if not files or not citizen_ids:
        return []
    with shared_connection() as con:
        sorted_files = [str(store.by_person(con, f, "citizen_id")) for f in files]
        result = con.execute(
            "SELECT * FROM read_parquet(?) WHERE citizen_id IN (SELECT unnest(?)) "
            "ORDER BY period, load_id, row_no",
            [sorted_files, citizen_ids],
        )
        names = [d[0] for d in result.description]
        return [dict(zip(names, r, strict=True)) for r in result.fetchall()]


def check_household(conn: Connection, household_id: int, on: dt.date) -> dict[str, Any]:
    """The verification report of the household's members as of ``on`` (JSON-ready)."""
    members = _members(conn, household_id, on)
    by_id = {m["citizen_id"]: m for m in members}
    ids = sorted(by_id)
    contracts = default_contracts()
    sources: list[dict[str, Any]] = []
    matches: list[dict[str, Any]] = []
    for kind, loads in loads_in_force(conn, on).items():
        contract = contracts[kind]
        if not loads:
            sources.append(
                {"kind": kind, "title": contract.title, "department": contract.department, "load_id": None}
            )
        for load in loads:
            sources.append(
                {
                    "kind": kind,
                    "title": contract.title,
                    "department": contract.department,
                    "load_id": load["load_id"],
                    "period": load["period"],
                    "file_name": load["file_name"],
                }
            )
        for row in _read([load["path"] for load in loads], ids):
            if kind == "death" and row["death_date"] > on:
                continue
            if (
                kind in ("vehicle", "real_estate", "business")
                and row.get("register_date")
                and row["register_date"] > on
            ):
                continue
            member = by_id[row["citizen_id"]]
            matches.append(
                {
                    "kind": kind,
                    "title": contract.title,
                    "department": contract.department,
                    "load_id": int(row["load_id"]),
                    "period": row["period"],
                    "row_no": int(row["row_no"]),
                    "person_id": member["person_id"],
                    "citizen_id": member["citizen_id"],
                    "name": member["name"],
                    "relation": member["relation"],
                    "fields": _fields(contract, row),
                    "raw": {k: _value(row[k]) for k in _RAW if k in row},
                    "monthly_amount": _value(row.get("monthly_amount")) if kind == "pension" else None,
                }
            )
    return {
        "as_of": on.isoformat(),
        "members": [{"person_id": m["person_id"], "relation": m["relation"]} for m in members],
        "sources": sources,
        "matches": matches,
        "findings": findings(matches),
        "rules": RULES,
    }


_RAW = (
    "plate_no",
    "vehicle_kind",
    "certificate_no",
    "use",
    "credit_code",
    "status",
    "staffing",
    "death_date",
)


def findings(matches: list[dict[str, Any]]) -> dict[str, Any]:
    """What the matches add up to (the counts the programs' inputs take, and the rest)."""

    def of(kind: str) -> list[dict[str, Any]]:
        return [m for m in matches if m["kind"] == kind]

    vehicles = {
        m["raw"].get("plate_no") for m in of("vehicle") if m["raw"].get("vehicle_kind") in COUNTED_VEHICLES
    }
    residential = {
        m["raw"].get("certificate_no") for m in of("real_estate") if m["raw"].get("use") == "residential"
    }
    other_buildings = {
        m["raw"].get("certificate_no") for m in of("real_estate") if m["raw"].get("use") in NON_RESIDENTIAL
    }
    businesses = {m["raw"].get("credit_code") for m in of("business") if m["raw"].get("status") == "active"}
    pension = sum((Decimal(str(m["monthly_amount"] or 0)) for m in of("pension")), Decimal("0.00"))
    return {
        "vehicles": len(vehicles),
        "extra_housing": max(len(residential) - 1, 0) + len(other_buildings),
        "business_registered": len(businesses),
        "public_employees": len({m["person_id"] for m in of("public_employee")}),
        "pension_monthly": str(pension.quantize(Decimal("0.01"))),
        "deceased": sorted({m["person_id"] for m in of("death")}),
    }


def run_economic_check(
    engine: Engine,
    actor: Actor,
    application_id: int,
    *,
    expected_version: int | None = None,
    now: dt.datetime | None = None,
) -> ApplicationView:
    """Run the economic check of the application's household as of its application day and
    store the report (re-running replaces it, and a new assessment is then needed)."""
    require(actor.role, "application.investigate")
    at = now or ledger.now()
    scoped_row(engine, actor, application_id)
    with engine.begin() as conn:
        row, version = locked_row(conn, application_id, expected_version)
        require_status(row, CHECKABLE, "run the economic check", "进行家庭经济状况核对")
        report = check_household(conn, int(row["household_id"]), row["applied_on"])
        report.update(checked_by=actor.username, checked_at=at.isoformat(sep=" "))
        values = {
            "economic_check": json.dumps(report, ensure_ascii=False, sort_keys=True),
            "status": "checked",
            "assessment": None,
            "proposed_amount": None,
        }
        ledger.update_versioned(conn, TABLE, "id", application_id, version, values, case_type=CASE_TYPE)
        app_event(
            conn,
            row,
            "economic_check",
            actor.username,
            at,
            from_status=row["status"],
            to_status="checked",
            data={
                "findings": report["findings"],
                "matches": len(report["matches"]),
                "loads": [s["load_id"] for s in report["sources"] if s["load_id"] is not None],
            },
        )
    return get_application(engine, actor, application_id, today=at.date())


__all__ = [
    "CHECK_KINDS",
    "RULES",
    "STATUSES",
    "check_household",
    "findings",
    "loads_in_force",
    "run_economic_check",
]
