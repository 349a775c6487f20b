"""The payment roll as XLSX, read back with openpyxl: layout, masking, unmasked export audited."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from case_world import World, build_world
from sqlalchemy import Engine, select

from doudi.auth.roles import Forbidden
from doudi.auth.scope import NotFound
from doudi.cases import payroll
from doudi.cases import recipients as rc
from doudi.cases.errors import CaseError
from doudi.cases.payroll_xlsx import HEADERS, export_roll_xlsx
from doudi.db.models import AuditEntry

AT = dt.datetime(2026, 12, 20, 10, 0)


def _roll(engine: Engine) -> tuple[World, int]:
    world = build_world(engine, with_alerts=False)
    h = world.households
    with engine.begin() as conn:
        for no, program, amount, covered in (
            ("N001", "dibao", "512.50", 3),
            ("X001", "dibao", "300", 2),
            ("N003", "temporary_assistance", "1500", 3),
        ):
            rc.enrol(
                conn,
                household_id=h[no],
                program=program,
                monthly_amount=Decimal(amount),
                covered_members=covered,
                start_month="2026-12",
                end_month="2026-12" if program == "temporary_assistance" else None,
                source="application",
                actor="county1",
                at=AT,
            )
    roll = payroll.generate_roll(engine, world["county1"], "520102", "2026-12", now=AT)
    payroll.check_roll(engine, world["county1"], roll.id, now=AT)
    payroll.confirm_roll(engine, world["county1b"], roll.id, now=AT)
    return world, roll.id


def _read(path: Path) -> dict[str, list[tuple[object, ...]]]:
    wb = openpyxl.load_workbook(path, read_only=True)
    try:
        return {ws.title: [tuple(r) for r in ws.iter_rows(values_only=True)] for ws in wb.worksheets}
    finally:
        wb.close()


def test_export_layout_masked_by_default(engine: Engine, tmp_path: Path) -> None:
    world, roll_id = _roll(engine)
    out = export_roll_xlsx(engine, world["county1"], roll_id, tmp_path / "roll.xlsx", now=AT)
    assert (out.lines, out.total, out.unmasked) == (3, Decimal("2312.50"), False)
    sheets = _read(out.path)
    assert list(sheets) == ["发放名册", "分类汇总", "剔除名单"]
    rows = sheets["发放名册"]
    assert rows[0][0] == "南明区 2026年12月 城乡低保等救助资金发放名册"
    assert rows[1] == HEADERS
    body = rows[2:-1]
    assert [r[0] for r in body] == [1, 2, 3]
    assert {(r[1], r[5], r[6], r[7], r[8]) for r in body} == {
        ("五里冲街道", "低保", 3, 512.5, "2026-12"),
        ("五里冲街道", "临时救助", 3, 1500, "2026-12"),
        ("小车河街道", "低保", 2, 300, "2026-12"),
    }
    assert {r[2] for r in body} == {"五里冲街道001", "小车河街道001"}
    for r in body:
        assert r[3] == "甲*" and str(r[4]).startswith("5201") and "**********" in str(r[4])
    assert rows[-1][0] == "合计" and rows[-1][6] == 8 and rows[-1][7] == 2312.5
    assert sheets["分类汇总"][-1] == ("合计", 3, 8, 2312.5)
    with engine.connect() as conn:
        audit = conn.execute(
            select(AuditEntry.actor, AuditEntry.action, AuditEntry.object_ref).where(
                AuditEntry.object_type == "payment_roll"
            )
        ).all()
    assert audit == [("county1", "export", str(roll_id))]


def test_unmasked_export_needs_a_reason_and_is_audited(engine: Engine, tmp_path: Path) -> None:
    world, roll_id = _roll(engine)
    with pytest.raises(CaseError) as err:
        export_roll_xlsx(engine, world["county1"], roll_id, tmp_path / "x.xlsx", unmasked=True)
    assert err.value.code == "reason_required"
    out = export_roll_xlsx(
        engine,
        world["county1"],
        roll_id,
        tmp_path / "full.xlsx",
        unmasked=True,
        reason="报送代发银行",
    )
    body = _read(out.path)["发放名册"][2:-1]
    ids = {str(r[4]) for r in body}
    assert ids == {world.citizen_ids["N001"], world.citizen_ids["X001"], world.citizen_ids["N003"]}
    assert {r[3] for r in body} == {"甲某"}
    with engine.connect() as conn:
        rows = conn.execute(
            select(AuditEntry.action, AuditEntry.reason).where(AuditEntry.action == "export_unmasked")
        ).all()
    assert rows == [("export_unmasked", "报送代发银行")]


def test_export_is_scoped_and_draft_is_marked(engine: Engine, tmp_path: Path) -> None:
    world = build_world(engine, with_alerts=False)
    roll = payroll.generate_roll(engine, world["county1"], "520102", "2027-01", now=AT)
    with pytest.raises(NotFound):
        export_roll_xlsx(engine, world["county2"], roll.id, tmp_path / "a.xlsx")
    with pytest.raises(Forbidden):
        export_roll_xlsx(engine, world["worker1"], roll.id, tmp_path / "a.xlsx")
    out = export_roll_xlsx(engine, world["analyst"], roll.id, tmp_path / "b.xlsx")
    rows = _read(out.path)["发放名册"]
    assert rows[0][0] == "南明区 2027年1月 城乡低保等救助资金发放名册（草稿，未确认）"
    assert rows[-1][0] == "合计" and out.lines == 0
    assert not (tmp_path / "a.xlsx").exists()
