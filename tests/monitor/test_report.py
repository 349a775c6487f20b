"""The month's alert reports: one XLSX per county with masked IDs and names, a summary with
counts by rule, severity and county, discovery and feed match rates; the export audited.
Also the alert queries behind them (summary and list)."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import openpyxl
import pyarrow as pa
import pytest
from factories import citizen_id, family, roster
from sqlalchemy import Engine, text
from test_alerts import candidate, close, discovery, evidence, merge

from doudi.monitor.alerts import alert_summary, list_alerts
from doudi.monitor.report import write_reports
from doudi.registry import divisions_store
from doudi.registry.importer import import_roster_table

NOW = dt.datetime(2026, 12, 1, 9, 30)
OCT_NOW = dt.datetime(2026, 11, 2, 8, 0)
ID_PATTERN = re.compile(r"\d{17}[\dX]")

HEAD = family("H001")[0]
SPOUSE = family("H001")[1]
STRANGER = citizen_id("1985-06-07", 33, address=520102)
STRANGER_2 = citizen_id("1979-01-02", 44, address=522601)
OLD_OPEN = citizen_id("1950-03-04", 55, address=522601)
OLD_CLOSED = citizen_id("1951-03-04", 66, address=522601)
ALL_IDS = [HEAD["citizen_id"], SPOUSE["citizen_id"], STRANGER, STRANGER_2, OLD_OPEN, OLD_CLOSED]


def setup_month(engine: Engine) -> dict[str, Any]:
    """A registered household in 南明区 五里冲街道 幸福社区, alerts in two counties, feed loads."""
    rows = [{**r, "village_name": "幸福社区"} for r in family("H001")]
    result = import_roster_table(
        engine,
        roster(rows),
        catalog=divisions_store.load_catalog(engine),
        as_of=dt.date(2026, 10, 1),
        actor="tester",
        file_name="t.csv",
        file_sha="x",
    )
    assert result.new == 3
    # Last month: two alerts in 凯里市; one stays open, one is closed.
    old_open = discovery(
        subject_key=OLD_OPEN, citizen_id=OLD_OPEN, division_code="522601001", event_key="2026-10"
    )
    old_closed = discovery(
        subject_key=OLD_CLOSED, citizen_id=OLD_CLOSED, division_code="522601001", event_key="2026-10"
    )
    merge(engine, [old_open, old_closed], period="2026-10", now=OCT_NOW)
    with engine.connect() as conn:
        closed_id = conn.execute(
            text("SELECT id FROM alerts WHERE citizen_id = :c"), {"c": OLD_CLOSED}
        ).scalar_one()
    close(engine, closed_id, OCT_NOW + dt.timedelta(days=5))
    # This month.
    head = candidate(
        subject_key="H001",
        citizen_id=HEAD["citizen_id"],
        actions=json.dumps(["verify_visit", "assess_temporary_assistance", "not_a_known_code"]),
    )
    spouse = candidate(
        rule_id="periodic_review",
        severity="yellow",
        grain="person",
        subject_key=SPOUSE["citizen_id"],
        citizen_id=SPOUSE["citizen_id"],
        title="定期核查到期",
        explanation="低保家庭已满12个月，应开展定期核查。",
        actions=json.dumps(["periodic_review"]),
    )
    stranger = discovery(subject_key=STRANGER, citizen_id=STRANGER, division_code="520102002")
    stranger_2 = discovery(subject_key=STRANGER_2, citizen_id=STRANGER_2, division_code="522601003009")
    counts = merge(
        engine, [head, spouse, stranger, stranger_2], evidence(head, 2, 3) + evidence(stranger, 4), now=NOW
    )
    assert counts.new == 4
    with engine.begin() as conn:
        for kind, status, good, matched in (
            ("medical", "active", 200, 150),
            ("death", "active", 10, 10),
            ("medical", "superseded", 190, 100),
        ):
            conn.execute(
                text(
                    "INSERT INTO feed_loads (kind, period, file_name, file_sha256, file_format, status, "
                    "rows_read, rows_good, rows_rejected, rows_duplicate, rows_matched, actor) "
                    "VALUES (:k, '2026-11', 'f.csv', :sha, 'csv', :s, :g, :g, 0, 0, :m, 'tester')"
                ),
                {"k": kind, "sha": f"{kind}{status}", "s": status, "g": good, "m": matched},
            )
    return {"head": head, "stranger": stranger}


def cells(path: Path) -> dict[str, list[list[Any]]]:
    wb = openpyxl.load_workbook(path)
    try:
        return {ws.title: [list(r) for r in ws.iter_rows(values_only=True)] for ws in wb.worksheets}
    finally:
        wb.close()


def records(sheet: list[list[Any]]) -> list[dict[str, Any]]:
    header = sheet[0]
    return [dict(zip(header, row, strict=True)) for row in sheet[1:]]


def test_county_workbooks_list_the_month_by_township_with_masked_people(
    engine: Engine, tmp_path: Path
) -> None:
    setup_month(engine)
    files = write_reports(engine, period="2026-11", out_dir=tmp_path / "out", actor="县民政局张三")
    assert [p.name for p in files.county_files] == [
        "预警清单_2026-11_520102_南明区.xlsx",
        "预警清单_2026-11_522601_凯里市.xlsx",
    ]
    nanming, kaili = (cells(p) for p in files.county_files)

    assert list(nanming) == ["汇总", "五里冲街道", "小车河街道"]
    summary = records(nanming["汇总"])
    assert [
        (
            r["乡镇（街道）代码"],
            r["乡镇（街道）"],
            r["预警合计"],
            r["红色"],
            r["黄色"],
            r["主动发现（未在册）"],
        )
        for r in summary
    ] == [
        ("520102001", "五里冲街道", 2, 1, 1, 0),
        ("520102002", "小车河街道", 1, 0, 0, 1),
        ("合计", None, 3, 1, 1, 1),
    ]
    town = records(nanming["五里冲街道"])
    assert [r["级别"] for r in town] == ["红", "黄"]  # most severe first
    red = town[0]
    assert (
        red["姓名"] == "甲*"
        and red["公民身份号码"] == HEAD["citizen_id"][:4] + "*" * 10 + HEAD["citizen_id"][-4:]
    )
    assert (red["村（社区）"], red["乡镇（街道）"], red["户编号"], red["是否在册"]) == (
        "幸福社区",
        "五里冲街道",
        "H001",
        "在册",
    )
    assert red["建议措施"] == "入户核查；评估临时救助；not_a_known_code"
    assert (red["本月情况"], red["状态"], red["证据条数"], red["规则"]) == (
        "本月新增",
        "待处理",
        2,
        "医疗支出型困难",
    )
    assert red["截止日期"] == dt.datetime(2026, 12, 16) and red["预警日期"] == dt.datetime(2026, 12, 1)
    assert red["事由"].startswith("近12个月自付医疗费用")
    assert town[1]["姓名"] == "乙*" and town[1]["建议措施"] == "定期核查"
    (stranger,) = records(nanming["小车河街道"])
    assert stranger["姓名"] is None and stranger["是否在册"] == "未在册" and stranger["证据条数"] == 1
    assert stranger["公民身份号码"] == STRANGER[:4] + "**********" + STRANGER[-4:]

    assert list(kaili) == ["汇总", "城西街道", "西门街道"]
    (old,) = records(kaili["城西街道"])  # the alert closed last month is not listed
    assert old["本月情况"] == "往期未办结" and old["预警日期"] == dt.datetime(2026, 11, 2)
    (fresh,) = records(kaili["西门街道"])
    assert fresh["村（社区）"] is None and fresh["级别"] == "橙"

    wb = openpyxl.load_workbook(files.county_files[0])
    ws = wb["五里冲街道"]
    assert ws.freeze_panes == "A2"
    assert ws["B2"].fill.fgColor.rgb.endswith("FF7A7A") and ws["B3"].fill.fgColor.rgb.endswith("FFE866")
    assert ws.column_dimensions["K"].width == 60
    wb.close()


def test_reports_contain_no_full_id_or_name(engine: Engine, tmp_path: Path) -> None:
    setup_month(engine)
    files = write_reports(engine, period="2026-11", out_dir=tmp_path, actor="tester")
    seen = 0
    for path in [*files.county_files, files.summary_path]:
        for sheet in cells(path).values():
            for row in sheet:
                for value in row:
                    text_value = str(value)
                    assert not ID_PATTERN.search(text_value), (path.name, value)
                    assert not any(cid in text_value for cid in ALL_IDS)
                    assert text_value not in ("甲某", "乙某", "丙某")
                    seen += 1
    assert seen > 100


def test_summary_counts_by_rule_county_discovery_and_match_rates(engine: Engine, tmp_path: Path) -> None:
    setup_month(engine)
    files = write_reports(engine, period="2026-11", out_dir=tmp_path, actor="tester")
    assert files.summary_path.name == "预警汇总_2026-11.xlsx"
    book = cells(files.summary_path)
    assert list(book) == ["概况", "按规则", "按县", "数据匹配率"]
    overview = {r["项目"]: r["数值"] for r in records(book["概况"])}
    assert overview["监测月份"] == "2026-11"
    assert (overview["预警合计"], overview["其中：本月新增"], overview["其中：往期未办结"]) == (5, 4, 1)
    assert (overview["红色预警"], overview["橙色预警"], overview["黄色预警"]) == (1, 3, 1)
    assert (overview["主动发现（未在册人员）预警"], overview["主动发现（未在册人员）人数"]) == (3, 3)
    by_rule = {r["规则编号"]: r for r in records(book["按规则"])}
    assert by_rule["discovery_disability"]["预警合计"] == 3 and by_rule["discovery_disability"]["橙色"] == 3
    assert by_rule["discovery_disability"]["本月新增"] == 2
    assert by_rule["medical_catastrophic"]["红色"] == 1 and by_rule["periodic_review"]["黄色"] == 1
    assert by_rule["合计"]["预警合计"] == 5
    by_county = {r["县级代码"]: r for r in records(book["按县"])}
    assert (by_county["520102"]["县（市、区）"], by_county["520102"]["预警合计"]) == ("南明区", 3)
    assert by_county["520102"]["市（州）"] == "贵阳市"
    assert (
        by_county["522601"]["预警合计"],
        by_county["522601"]["未办结"],
        by_county["522601"]["主动发现（未在册）"],
    ) == (
        2,
        2,
        2,
    )
    rates = {r["数据类别"]: r for r in records(book["数据匹配率"])}
    assert set(rates) == {"medical", "death"}  # the superseded load does not count
    assert (rates["medical"]["有效行数"], rates["medical"]["匹配名册行数"]) == (200, 150)
    assert rates["medical"]["匹配率"] == pytest.approx(0.75) and rates["death"]["匹配率"] == 1
    assert rates["medical"]["数据名称"] == "医疗保障结算记录" and rates["medical"]["提供部门"] == "医疗保障局"


def test_given_match_rates_replace_the_loads_and_the_export_is_audited(
    engine: Engine, tmp_path: Path
) -> None:
    setup_month(engine)
    given = pa.table({"kind": ["school"], "rows_good": [40], "rows_matched": [10]})
    files = write_reports(engine, period="2026-11", out_dir=tmp_path, actor="县民政局张三", match_rates=given)
    rates = records(cells(files.summary_path)["数据匹配率"])
    assert [(r["数据类别"], r["匹配率"]) for r in rates] == [("school", 0.25)]
    with engine.connect() as conn:
        entries = conn.execute(
            text("SELECT actor, action, object_type, object_ref, detail FROM audit_log")
        ).all()
    ((actor, action, object_type, ref, detail),) = entries
    assert (actor, action, object_type, ref) == ("县民政局张三", "export", "monitor_report", "2026-11")
    info = json.loads(detail)
    assert info["files"] == [p.name for p in [*files.county_files, files.summary_path]]
    assert (info["alerts"], info["counties"], info["masked"]) == (5, 2, True)


def test_a_month_without_alerts_gives_an_empty_summary(engine: Engine, tmp_path: Path) -> None:
    files = write_reports(engine, period="2026-11", out_dir=tmp_path, actor="tester")
    assert files.county_files == []
    overview = {r["项目"]: r["数值"] for r in records(cells(files.summary_path)["概况"])}
    assert overview["预警合计"] == 0


def test_alert_summary_counts_new_continuing_and_outstanding(engine: Engine) -> None:
    setup_month(engine)
    rows = alert_summary(engine, period="2026-11").to_pylist()
    by_key = {(r["rule_id"], r["county_code"]): r for r in rows}
    assert set(by_key) == {
        ("discovery_disability", "520102"),
        ("discovery_disability", "522601"),
        ("medical_catastrophic", "520102"),
        ("periodic_review", "520102"),
    }
    kaili = by_key[("discovery_disability", "522601")]
    assert (kaili["alerts"], kaili["new"], kaili["outstanding"], kaili["open"], kaili["discovery"]) == (
        2,
        1,
        1,
        2,
        2,
    )
    assert by_key[("medical_catastrophic", "520102")]["discovery"] == 0
    october = {
        (r["rule_id"], r["county_code"]): r["alerts"]
        for r in alert_summary(engine, period="2026-10").to_pylist()
    }
    assert october == {("discovery_disability", "522601"): 2}
    with pytest.raises(ValueError):
        alert_summary(engine, period="2026-13")


def test_list_alerts_filters_and_masks(engine: Engine) -> None:
    setup_month(engine)
    everything = list_alerts(engine)
    assert everything.num_rows == 6
    month = list_alerts(engine, period="2026-11")
    assert month.num_rows == 5
    assert month.column("severity").to_pylist()[0] == "red"
    assert not any(cid in v for v in month.column("citizen_id").to_pylist() for cid in ALL_IDS)
    county = list_alerts(engine, period="2026-11", county="522601")
    assert sorted(county.column("citizen_id").to_pylist()) == sorted(
        c[:4] + "**********" + c[-4:] for c in (OLD_OPEN, STRANGER_2)
    )
    assert county.column("registered").to_pylist() == [False, False]
    town = list_alerts(engine, township="520102001", status="open", masked=False)
    assert sorted(town.column("citizen_id").to_pylist()) == sorted([HEAD["citizen_id"], SPOUSE["citizen_id"]])
    assert town.column("raised_at").to_pylist() == [NOW, NOW]
    assert town.column("due_date").to_pylist() == [dt.date(2026, 12, 16)] * 2
    closed = list_alerts(engine, status="closed")
    assert closed.column("closed_at").to_pylist()[0] == OCT_NOW + dt.timedelta(days=5)
