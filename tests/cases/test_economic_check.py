"""The economic check reads the department feeds in force through the real loader, and the
programs' assessment counts what it finds (each match traced to department, load and row)."""

from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from app_flow import at, submitted
from case_world import build_world
from factories import citizen_id
from sqlalchemy import Engine

from doudi.cases import applications as apps
from doudi.cases.assessment import assess_application
from doudi.cases.economic_check import run_economic_check
from doudi.cases.errors import CaseError, InvalidState
from doudi.feeds.contract import get_contract
from doudi.feeds.service import FeedLoadResult, load_feed
from doudi.settings import Settings

# N003's members (case_world: family("N003", seq0=51)) and a stranger.
HEAD = citizen_id("1968-03-02", 51)
SPOUSE = citizen_id("1970-07-09", 52)
CHILD = citizen_id("2010-09-01", 54)
STRANGER = citizen_id("1980-05-05", 97)
# N002's spouse (family("N002", seq0=31)).
N002_SPOUSE = citizen_id("1970-07-09", 32)


def write(path: Path, kind: str, rows: list[dict[str, Any]]) -> Path:
    """A CSV as a department delivers it: the contract's Chinese labels as headers."""
    columns = get_contract(kind).columns
    with path.open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow([c.label for c in columns])
        for r in rows:
            out.writerow(["" if r.get(c.name) is None else r[c.name] for c in columns])
    return path


def load(
    engine: Engine,
    settings: Settings,
    tmp: Path,
    kind: str,
    period: str,
    rows: list[dict[str, Any]],
    name: str | None = None,
) -> FeedLoadResult:
    path = write(tmp / (name or f"{kind}-{period}.csv"), kind, rows)
    return load_feed(engine, settings, kind, path, period, actor="tester")


def vehicle(plate: str, cid: str, kind: str = "car", date: str = "2020-05-01") -> dict[str, Any]:
    return {
        "plate_no": plate,
        "citizen_id": cid,
        "name": "某某",
        "vehicle_kind": kind,
        "register_date": date,
        "purchase_price": "80000",
    }


def building(cert: str, cid: str, use: str = "residential", date: str = "2015-01-01") -> dict[str, Any]:
    return {
        "certificate_no": cert,
        "citizen_id": cid,
        "division_code": "520102",
        "use": use,
        "area_m2": "90",
        "register_date": date,
    }


def business(code: str, cid: str, status: str = "active") -> dict[str, Any]:
    return {
        "credit_code": code,
        "citizen_id": cid,
        "entity_name": "某某小卖部",
        "entity_kind": "individual",
        "register_date": "2021-03-01",
        "registered_capital": "10000",
        "status": status,
    }


@pytest.fixture
def feeds(engine: Engine, settings: Settings, tmp_path: Path) -> dict[str, FeedLoadResult]:
    """Feeds of 2026-11 (and a corrected resubmission, a later month) for the world's households."""
    out: dict[str, FeedLoadResult] = {}
    # A first vehicle list with a truck of the head, corrected by a resubmission without it.
    out["vehicle_old"] = load(
        engine,
        settings,
        tmp_path,
        "vehicle",
        "2026-11",
        [vehicle("贵A00001", HEAD, "truck")],
        name="vehicle-first.csv",
    )
    out["vehicle"] = load(
        engine,
        settings,
        tmp_path,
        "vehicle",
        "2026-11",
        [
            vehicle("贵A99999", STRANGER),
            vehicle("贵A12345", HEAD),  # row 3: counted
            vehicle("贵A55555", SPOUSE, "motorcycle"),  # row 4: listed, not counted
        ],
    )
    # A later month's list is not in force on the application day.
    out["vehicle_later"] = load(
        engine, settings, tmp_path, "vehicle", "2027-01", [vehicle("贵A77777", CHILD, date="2027-01-05")]
    )
    out["real_estate"] = load(
        engine,
        settings,
        tmp_path,
        "real_estate",
        "2026-11",
        [
            building("黔2015-001", HEAD),
            building("黔2018-002", HEAD),
            building("黔2019-003", SPOUSE, use="commercial"),
            building("黔2026-009", CHILD, date="2026-12-20"),  # registered after the application: not counted
        ],
    )
    out["business"] = load(
        engine,
        settings,
        tmp_path,
        "business",
        "2026-11",
        [
            business("92520102MA000001", SPOUSE),
            business("92520102MA000002", SPOUSE, status="cancelled"),
        ],
    )
    out["public_employee"] = load(
        engine,
        settings,
        tmp_path,
        "public_employee",
        "2026-11",
        [
            {
                "citizen_id": SPOUSE,
                "name": "乙某",
                "employer": "某镇卫生院",
                "staffing": "contract",
                "monthly_pay": "2100",
            },
        ],
    )
    out["pension"] = load(
        engine,
        settings,
        tmp_path,
        "pension",
        "2026-11",
        [
            {"citizen_id": HEAD, "name": "甲某", "scheme": "resident", "monthly_amount": "153.50"},
            {"citizen_id": STRANGER, "name": "某某", "scheme": "employee", "monthly_amount": "3000"},
        ],
    )
    out["death"] = load(
        engine,
        settings,
        tmp_path,
        "death",
        "2026-11",
        [
            {
                "citizen_id": N002_SPOUSE,
                "name": "乙某",
                "division_code": "520102",
                "death_date": "2026-11-10",
            },
            {"citizen_id": CHILD, "name": "丙某", "division_code": "520102", "death_date": "2026-12-20"},
        ],
    )
    return out


def test_report_traces_every_match_to_its_source(engine: Engine, feeds: dict[str, FeedLoadResult]) -> None:
    world = build_world(engine, with_alerts=False)
    app_id = submitted(engine, world, "N003")
    view = run_economic_check(engine, world["worker1"], app_id, now=at(1))
    assert view.status == "checked"
    report = apps.application_detail(engine, world["worker1"], app_id).economic_check
    assert report is not None and report["as_of"] == "2026-12-01"
    matches = {(m["kind"], m["row_no"]): m for m in report["matches"]}
    car = matches[("vehicle", 3)]
    assert car["department"] == "公安厅（交通管理）" and car["title"] == "机动车登记信息"
    assert car["load_id"] == feeds["vehicle"].load_id and car["period"] == "2026-11"
    assert car["fields"]["号牌号码"] == "贵A12345" and car["fields"]["车辆类型"] == "小型汽车"
    assert car["relation"] == "head" and car["citizen_id"] == HEAD[:4] + "*" * 10 + HEAD[-4:]  # masked view
    assert ("vehicle", 4) in matches  # the motorcycle is listed
    # Only the active load of the application month: not the superseded one, not a later month.
    vehicle_loads = {m["load_id"] for m in report["matches"] if m["kind"] == "vehicle"}
    assert vehicle_loads == {feeds["vehicle"].load_id}
    assert {m["department"] for m in report["matches"]} == {
        "公安厅（交通管理）",
        "自然资源厅（不动产登记）",
        "市场监督管理局",
        "财政厅",
        "人力资源和社会保障厅",
    }
    assert matches[("real_estate", 4)]["fields"]["用途"] == "商业"
    assert ("real_estate", 5) not in matches  # registered after the application day
    assert ("death", 3) not in matches  # the child's death is after the application day
    assert report["findings"] == {
        "vehicles": 1,
        "extra_housing": 2,  # a second home and a shop
        "business_registered": 1,
        "public_employees": 1,
        "pension_monthly": "153.50",
        "deceased": [],
    }
    sources = {(s["kind"], s["load_id"]) for s in report["sources"]}
    assert ("vehicle", feeds["vehicle"].load_id) in sources and ("death", feeds["death"].load_id) in sources
    assert all(s["department"] for s in report["sources"])
    # Unmasked, the citizen IDs are in full (and the view audited).
    full = apps.application_detail(engine, world["worker1"], app_id, unmasked=True, reason="核对比对结果")
    assert full.economic_check is not None
    assert {m["citizen_id"] for m in full.economic_check["matches"]} == {HEAD, SPOUSE}


def test_assessment_counts_the_feed_findings(engine: Engine, feeds: dict[str, FeedLoadResult]) -> None:
    world = build_world(engine, with_alerts=False)
    app_id = submitted(engine, world, "N003")
    with pytest.raises(InvalidState):  # no assessment before the check
        assess_application(engine, world["worker1"], app_id, now=at(1))
    run_economic_check(engine, world["worker1"], app_id, now=at(1))
    view = assess_application(engine, world["worker1"], app_id, now=at(1, 11))
    proposal = apps.application_detail(engine, world["worker1"], app_id).assessment
    assert proposal is not None
    assert proposal["inputs"]["vehicles"] == 1 and proposal["inputs"]["extra_housing"] == 2
    assert proposal["inputs"]["business_registered"] == 1
    assert proposal["eligible"] is False and view.proposed_amount is None
    assert "财产" in proposal["summary"]
    assert proposal["explanation"]["values"]["property_ok"] is False
    assert proposal["explanation"]["parameters"]["dibao.vehicle_limit"]["value"] == "0"


def test_without_findings_the_same_household_is_eligible(engine: Engine) -> None:
    world = build_world(engine, with_alerts=False)
    app_id = submitted(engine, world, "N003")
    run_economic_check(engine, world["worker1"], app_id, now=at(1))
    report = apps.application_detail(engine, world["worker1"], app_id).economic_check
    assert report is not None and report["matches"] == []
    assert {s["load_id"] for s in report["sources"]} == {None}  # no feed loaded: said so, per source
    view = assess_application(engine, world["worker1"], app_id, now=at(1, 11))
    assert view.proposed_amount is not None and view.proposed_amount > Decimal(0)


def test_deceased_members_are_left_out(engine: Engine, feeds: dict[str, FeedLoadResult]) -> None:
    world = build_world(engine, with_alerts=False)
    app_id = submitted(engine, world, "N002", program="marginal")
    run_economic_check(engine, world["worker1"], app_id, now=at(1))
    detail = apps.application_detail(engine, world["worker1"], app_id)
    assert detail.economic_check is not None
    deaths = [m for m in detail.economic_check["matches"] if m["kind"] == "death"]
    assert len(deaths) == 1 and deaths[0]["department"] == "公安厅（户政）" and deaths[0]["row_no"] == 2
    assert deaths[0]["load_id"] == feeds["death"].load_id
    assert detail.economic_check["findings"]["deceased"] == [deaths[0]["person_id"]]
    assess_application(engine, world["worker1"], app_id, now=at(1, 11))
    proposal = apps.application_detail(engine, world["worker1"], app_id).assessment
    assert proposal is not None and proposal["inputs"]["members"] == 2


def test_rerun_replaces_the_report_and_needs_a_new_assessment(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    world = build_world(engine, with_alerts=False)
    app_id = submitted(engine, world, "N003")
    run_economic_check(engine, world["worker1"], app_id, now=at(1))
    assess_application(engine, world["worker1"], app_id, now=at(1, 11))
    load(engine, settings, tmp_path, "vehicle", "2026-12", [vehicle("贵A12345", HEAD)])
    view = run_economic_check(engine, world["worker1"], app_id, now=at(2))
    assert view.status == "checked" and view.proposed_amount is None
    detail = apps.application_detail(engine, world["worker1"], app_id)
    assert detail.assessment is None
    assert detail.economic_check is not None and detail.economic_check["findings"]["vehicles"] == 1


def test_temporary_assistance_is_assessed_on_the_emergency(engine: Engine) -> None:
    world = build_world(engine, with_alerts=False)
    app_id = submitted(engine, world, "N001", program="temporary_assistance")
    run_economic_check(engine, world["worker1"], app_id, now=at(1))
    with pytest.raises(CaseError) as exc:
        assess_application(engine, world["worker1"], app_id, now=at(1))
    assert exc.value.code == "emergency_required"
    view = assess_application(
        engine, world["worker1"], app_id, emergency_kind="fire", emergency_loss="1500", now=at(1)
    )
    assert view.proposed_amount == Decimal("1500.00")
    proposal = apps.application_detail(engine, world["worker1"], app_id).assessment
    assert proposal is not None and proposal["inputs"]["emergency"] == {"kind": "fire", "loss": "1500"}
    assert "临时救助" in proposal["summary"]


def test_check_is_scoped_and_stateful(engine: Engine) -> None:
    world = build_world(engine, with_alerts=False)
    app_id = submitted(engine, world, "N003")
    with pytest.raises(apps.scope.NotFound):
        run_economic_check(engine, world["worker2"], app_id, now=at(1))
    apps.decide_application(engine, world["county1"], app_id, "refuse", reason="申请人撤回申请", now=at(1))
    with pytest.raises(InvalidState):
        run_economic_check(engine, world["worker1"], app_id, now=at(2))
    assert (
        apps.get_application(engine, world["worker1"], app_id, today=dt.date(2026, 12, 2)).status == "refused"
    )
