"""Validation against the contracts: every reject reason pinned by its message and row number,
the repairs a careful loader makes, duplicates, events outside the period, contract checks."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from factories import citizen_id
from feed_files import ID_A, ID_B, ID_C, ID_X, checked, good, medical, reasons, write_csv, write_xlsx

from doudi.feeds.contract import Check, default_contracts, get_contract
from doudi.feeds.validate import CheckError, compile_check

DATE_FORMATS = "应为YYYY-MM-DD、YYYY/MM/DD、YYYYMMDD或YYYY年M月D日"


def test_every_medical_reason_with_its_row(tmp_path: Path) -> None:
    rows = [
        medical("S02"),  # row 2: fine
        medical("S03", citizen_id=ID_A[:17] + ("1" if ID_A[17] != "1" else "2")),
        medical("S04", citizen_id="110105491231002"),
        medical("S05", settlement_no=None),
        medical("S06", settle_date="2026-11-31"),
        medical("S07", settle_date="2026-10-31"),
        medical("S08", visit_type="急诊"),
        medical("S09", total_cost="1200.005"),
        medical("S10", reimbursed="九百"),
        medical("S11", out_of_pocket="-5"),
        medical("S12", reimbursed="1000.00"),  # 1000 + 300 > 1200
        medical("S13", major_disease="可能"),
        medical("S14", insured_division="52010"),
        medical("S02"),  # row 15: same settlement number as row 2
        medical("S16", citizen_id="110105194912310021", settle_date="11/03/2026"),
        medical("S17", total_cost="12345678901234567"),
        medical("S18", citizen_id="5.20102E+17"),
        medical("S19", settle_date="1899-12-31"),
        medical("S20", visit_type=None),
    ]
    con, _, v = checked(write_csv(tmp_path / "医保.csv", rows))
    assert reasons(con) == {
        3: "公民身份号码校验位错误，可能有数字录入错误",
        4: "15位旧号码不能直接使用，请提供18位公民身份号码",
        5: "结算单号为空（必填）",
        6: f"结算日期不是有效的日期（{DATE_FORMATS}）",
        7: "结算日期不在本期（2026年11月）内",
        8: "就诊类别不是规定的取值（应为：住院、门诊、门诊慢特病）",
        9: "医疗总费用超过两位小数（金额精确到分，不作四舍五入）",
        10: "医保报销金额不是有效的金额",
        11: "个人自付金额不能小于0",
        12: "医保报销与个人自付之和超过医疗总费用",
        13: "重特大疾病应为“是”或“否”",
        14: "参保地区划代码应为6位、9位或12位数字的行政区划代码",
        15: "与第2行重复（结算单号相同）",
        16: f"公民身份号码校验位错误，可能有数字录入错误；结算日期不是有效的日期（{DATE_FORMATS}）",
        17: "医疗总费用超出金额范围",
        18: "公民身份号码被Excel显示为科学计数法（如5.20102E+17），后几位已丢失，请将该列设为文本后重新录入",
        19: "结算日期不在合理范围内（1900年至2100年）",
        20: "就诊类别为空（必填）",
    }
    assert (v.rows_read, v.rows_good, v.rows_rejected, v.rows_duplicate) == (19, 1, 18, 1)
    assert v.rejects_by_reason["与前面的行重复（结算单号相同）"] == 1
    assert v.rejects_by_reason["公民身份号码校验位错误，可能有数字录入错误"] == 2
    # Each reason is counted once per row that has it.
    assert sum(v.rejects_by_reason.values()) == 19
    assert [r["row_no"] for r in good(con)] == [2]
    cols = con.sql("SELECT row_no, string_agg(col, '、' ORDER BY ord) FROM problems GROUP BY 1").fetchall()
    by_row = dict(cols)
    assert by_row[12] == "医疗总费用、医保报销金额、个人自付金额"
    assert by_row[15] == "结算单号"
    assert by_row[16] == "公民身份号码、结算日期"


def test_repairs_keep_the_row_with_clean_values(tmp_path: Path) -> None:
    rows = [
        medical("S02", citizen_id=ID_X.lower(), settle_date="2026/11/3"),
        medical("S03", citizen_id=" １１０１０５１９４９１２３１００２Ｘ ", settle_date="20261104"),
        medical("S04", settle_date="2026年11月5日", total_cost="1,234.50元", reimbursed="￥934.50"),
        medical("S05", settle_date="2026-11-06 08:30:00", visit_type="inpatient", major_disease="Y"),
        medical("S06", total_cost="１２００．００", out_of_pocket="300.000", major_disease="是"),
        medical(
            "  S07 ",
            hospital="\u3000贵阳市第二人民医院 ",
            major_disease=None,
            insured_division="520102001001",
        ),
    ]
    con, _, v = checked(write_csv(tmp_path / "医保.csv", rows))
    assert reasons(con) == {}
    assert v.rows_good == 6
    kept = good(con)
    assert [r["citizen_id"] for r in kept[:2]] == [ID_X, ID_X]
    assert [r["settle_date"] for r in kept[:5]] == [dt.date(2026, 11, d) for d in (3, 4, 5, 6, 3)]
    assert kept[2]["total_cost"] == Decimal("1234.50") and kept[2]["reimbursed"] == Decimal("934.50")
    assert kept[3]["visit_type"] == "inpatient" and kept[0]["visit_type"] == "inpatient"
    assert [r["major_disease"] for r in kept] == [False, False, False, True, True, None]
    assert kept[4]["total_cost"] == Decimal("1200.00") and kept[4]["out_of_pocket"] == Decimal("300.00")
    assert kept[5]["settlement_no"] == "S07" and kept[5]["hospital"] == "贵阳市第二人民医院"
    assert kept[5]["insured_division"] == "520102001001"


def test_integer_range_and_enum_of_disability(tmp_path: Path) -> None:
    headers = {
        "certificate_no": "残疾人证号",
        "citizen_id": "公民身份号码",
        "event": "办理类型",
        "event_date": "办理日期",
        "disability_kind": "残疾类别",
        "grade": "残疾等级",
    }
    base = {"citizen_id": ID_B, "event": "新办", "event_date": "2026-11-10", "disability_kind": "肢体"}
    rows = [
        {**base, "certificate_no": "C2", "grade": "2"},
        {**base, "certificate_no": "C3", "grade": "5"},
        {**base, "certificate_no": "C4", "grade": "二级"},
        {**base, "certificate_no": "C5", "grade": "2.0"},
        {**base, "certificate_no": "C6", "grade": "0"},
        {**base, "certificate_no": "C7", "grade": "99999999999"},
        {**base, "certificate_no": "C2", "grade": "1", "event": "cancel"},  # other event: not a duplicate
        {**base, "certificate_no": "C2", "grade": "3", "event": "issue"},  # same key as row 2
    ]
    con, _, v = checked(write_csv(tmp_path / "残联.csv", rows, headers), "disability")
    assert reasons(con) == {
        3: "残疾等级不能大于4",
        4: "残疾等级应为整数",
        6: "残疾等级不能小于1",
        7: "残疾等级超出整数范围",
        9: "与第2行重复（残疾人证号、办理类型相同）",
    }
    assert [(r["row_no"], r["grade"], r["event"]) for r in good(con, "disability")] == [
        (2, 2, "issue"),
        (5, 2, "issue"),
        (8, 1, "cancel"),
    ]
    assert v.rows_duplicate == 1


def test_contract_check_and_key_of_deaths(tmp_path: Path) -> None:
    headers = {
        "citizen_id": "身份证号",
        "name": "姓名",
        "death_date": "死亡日期",
        "cancel_date": "户口注销日期",
    }
    rows = [
        {"citizen_id": ID_A, "death_date": "2026-11-02", "cancel_date": "2026-11-09"},
        {"citizen_id": ID_B, "death_date": "2026-11-05", "cancel_date": "2026-11-01"},
        {"citizen_id": ID_C, "death_date": "2026-11-05", "cancel_date": None},
        {"citizen_id": ID_A.lower(), "death_date": "2026-11-20"},
        {"citizen_id": citizen_id("1980-05-05", 41), "death_date": "2026-12-01", "cancel_date": "2026-10-01"},
    ]
    con, _, _ = checked(write_csv(tmp_path / "死亡.csv", rows, headers, encoding="gbk"), "death")
    assert reasons(con) == {
        3: "户口注销日期早于死亡日期",
        5: "与第2行重复（公民身份号码相同）",
        # The date is outside the period; the check still runs (both dates are valid) and fails.
        6: "死亡日期不在本期（2026年11月）内；户口注销日期早于死亡日期",
    }


def test_snapshot_has_no_period_and_a_composite_key(tmp_path: Path) -> None:
    headers = {
        "credit_code": "统一社会信用代码",
        "citizen_id": "身份证号码",
        "entity_kind": "主体类型",
        "register_date": "成立日期",
        "registered_capital": "注册资本",
        "status": "登记状态",
    }
    base = {"entity_kind": "个体工商户", "register_date": "2009-04-01", "status": "存续"}
    rows = [
        {**base, "credit_code": "92520102MA6DL0001X", "citizen_id": ID_A, "registered_capital": "50000"},
        {**base, "credit_code": "92520102MA6DL0001X", "citizen_id": ID_B},
        {**base, "credit_code": "92520102MA6DL0001X", "citizen_id": ID_A, "status": "吊销"},
        {**base, "credit_code": "92520102MA6DL0002X", "citizen_id": ID_C, "status": "歇业"},
    ]
    con, _, _ = checked(write_csv(tmp_path / "市场.csv", rows, headers, delimiter="\t"), "business")
    assert reasons(con) == {
        4: "与第2行重复（统一社会信用代码、法定代表人或经营者身份证号相同）",
        5: "登记状态不是规定的取值（应为：存续、吊销、注销）",
    }
    kept = good(con, "business")
    assert [r["register_date"] for r in kept] == [dt.date(2009, 4, 1)] * 2
    assert kept[0]["registered_capital"] == Decimal("50000.00") and kept[1]["registered_capital"] is None


def test_xlsx_dates_as_cells_text_and_serial_numbers(tmp_path: Path) -> None:
    serial = (dt.date(2026, 11, 7) - dt.date(1899, 12, 30)).days
    rows = [
        medical("S02", settle_date=dt.datetime(2026, 11, 2)),
        medical("S03", settle_date=serial),
        medical("S04", settle_date="2026-11-04", total_cost=1200, reimbursed=900.5, out_of_pocket=299.5),
        medical("S05", settle_date=30),  # 1900-01-29: Excel's own serials below 61 are refused
        medical("S06", settle_date=str(serial + 1)),  # typed as text, still a serial in a workbook
        medical("S07", citizen_id=int(ID_A)),  # an ID kept as a number: Excel holds 15 digits
    ]
    con, feed, _ = checked(write_xlsx(tmp_path / "医保.xlsx", rows))
    assert feed.format == "xlsx" and feed.sheet == "结算明细"
    assert reasons(con) == {
        5: f"结算日期不是有效的日期（{DATE_FORMATS}）",
        7: "公民身份号码被Excel显示为科学计数法（如5.20102E+17），后几位已丢失，请将该列设为文本后重新录入",
    }
    kept = good(con)
    assert [r["settle_date"] for r in kept] == [
        dt.date(2026, 11, 2),
        dt.date(2026, 11, 7),
        dt.date(2026, 11, 4),
        dt.date(2026, 11, 8),
    ]
    assert kept[2]["reimbursed"] == Decimal("900.50")


def test_excel_serials_are_not_dates_in_csv(tmp_path: Path) -> None:
    con, _, _ = checked(write_csv(tmp_path / "医保.csv", [medical("S02", settle_date="46333")]))
    assert reasons(con) == {2: f"结算日期不是有效的日期（{DATE_FORMATS}）"}


def test_every_packaged_check_compiles() -> None:
    compiled = [compile_check(c, chk) for c in default_contracts().values() for chk in c.checks]
    assert {(c.check.id, c.columns) for c in compiled} == {
        ("paid_within_total", ("total_cost", "reimbursed", "out_of_pocket")),
        ("cancel_after_death", ("death_date", "cancel_date")),
    }


@pytest.mark.parametrize(
    ("when", "message"),
    [
        ("reimbursed > (SELECT max(total_cost) FROM persons)", "Subquery is not allowed"),
        ("abs(reimbursed) > 0", "Abs is not allowed"),
        ("read_csv('x') IS NULL", "is not allowed"),
        ("salary > 0", "unknown column salary"),
        ("p.reimbursed > 0", "unknown column p.reimbursed"),
        ("reimbursed + 1", "not a boolean expression"),
        ("reimbursed IS TRUE", "only IS NULL / IS NOT NULL are allowed"),
        ("reimbursed > ", "not an SQL expression"),
        ("name LIKE '%x'", "Like is not allowed"),
    ],
)
def test_checks_outside_the_whitelist_are_refused(when: str, message: str) -> None:
    contract = get_contract("medical")
    check = Check(id="bad", when=when, message="x")
    with pytest.raises(CheckError, match=message):
        compile_check(contract, check)


def test_allowed_check_forms() -> None:
    contract = get_contract("medical")
    check = Check(
        id="ok", when="NOT (hospital IS NULL) OR -total_cost * 2 / 1 <> 5 AND name = 'x'", message="x"
    )
    compiled = compile_check(contract, check)
    assert set(compiled.columns) == {"hospital", "total_cost", "name"}
    assert "v_total_cost" in compiled.sql and "hospital" not in compiled.sql.replace("v_hospital", "")
