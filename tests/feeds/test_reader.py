"""Reading feed files: every format and encoding, headers by label or alias, row numbers as the
user sees them, and one clear error for a file that cannot be loaded."""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import openpyxl
import pyarrow as pa
import pytest
from feed_files import ID_A, ID_B, MEDICAL_HEADERS, medical, write_csv, write_jsonl, write_parquet, write_xlsx

from doudi.feeds.contract import get_contract
from doudi.feeds.reader import TOO_MANY_VALUES, FeedFileError, read_feed, read_feed_table, scan_file

MEDICAL = get_contract("medical")


def texts(path: Path) -> list[dict]:
    return read_feed_table(MEDICAL, path).to_pylist()


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_csv_in_every_encoding_with_chinese_headers(tmp_path: Path, encoding: str) -> None:
    rows = [medical("S1", name="甲某", hospital="贵阳市第一人民医院"), medical("S2", name="䶮某")]
    if encoding == "gbk":
        rows[1]["name"] = "乙某"  # 䶮 is GB18030-only
    path = write_csv(tmp_path / "医保.csv", rows, encoding=encoding)
    con = duckdb.connect()
    feed = read_feed(con, MEDICAL, path)
    assert feed.format == "csv"
    assert feed.encoding == {"gbk": "gb18030"}.get(encoding, encoding)
    assert feed.headers == list(MEDICAL_HEADERS.values())
    assert feed.mapping["total_cost"] == 7 and feed.mapping["reimbursed"] == 8
    table = texts(path)
    assert [r["row_no"] for r in table] == [2, 3]
    assert table[0]["name"] == "甲某" and table[0]["hospital"] == "贵阳市第一人民医院"
    assert table[1]["name"] == rows[1]["name"]


def test_gbk_file_whose_head_is_ascii(tmp_path: Path) -> None:
    """The first megabyte decides the encoding; Chinese further down in GBK still reads."""
    headers = {k: k for k in MEDICAL_HEADERS}
    rows = [medical(f"S{i}", name="Zhang") for i in range(40_000)] + [medical("S-last", name="王某")]
    path = write_csv(tmp_path / "med.csv", rows, headers, encoding="gbk")
    con = duckdb.connect()
    feed = read_feed(con, MEDICAL, path)
    assert feed.encoding == "gb18030"
    last = con.sql("SELECT row_no, c2 FROM raw ORDER BY row_no DESC LIMIT 1").fetchall()
    assert last == [(40_002, "王某")]


def test_headers_by_name_label_alias_full_width_and_unit(tmp_path: Path) -> None:
    headers = {
        "settlement_no": "settlement_no",
        "citizen_id": " 公民身份\n号码 ",
        "settle_date": "结算日期",
        "visit_type": "就诊类别",
        "total_cost": "总费用（元）",
        "reimbursed": "ＲＥＩＭＢＵＲＳＥＤ",
        "out_of_pocket": "自付金额",
        "note": "备注",
    }
    path = write_csv(tmp_path / "x.csv", [medical("S1", note="复诊")], headers)
    con = duckdb.connect()
    feed = read_feed(con, MEDICAL, path)
    assert feed.mapping == {
        "settlement_no": 0,
        "citizen_id": 1,
        "settle_date": 2,
        "visit_type": 3,
        "total_cost": 4,
        "reimbursed": 5,
        "out_of_pocket": 6,
    }
    assert feed.unknown_headers == ["备注"]


def test_row_numbers_with_blank_lines_quoted_line_breaks_and_extra_values(tmp_path: Path) -> None:
    header = ",".join(MEDICAL_HEADERS.values())
    good = ",".join(str(v) for v in medical("S1").values())
    lines = [
        header,
        good,  # row 2
        "",  # row 3: blank
        good.replace("S1", "S4").replace("贵阳市第一人民医院", '"贵阳市\n第一人民医院"'),  # row 4, two lines
        good.replace("S1", "S5") + ",多余,的值",  # row 5
        good.replace("S1", "S6").rsplit(",", 2)[0],  # row 6: two values short
        "",
        "",
    ]
    path = tmp_path / "x.csv"
    path.write_text("\r\n".join(lines), encoding="utf-8")
    con = duckdb.connect()
    feed = read_feed(con, MEDICAL, path)
    rows = con.sql("SELECT row_no, c0, c5, c10, row_problem FROM raw ORDER BY row_no").fetchall()
    assert feed.rows == 4
    assert rows == [
        (2, "S1", "贵阳市第一人民医院", "否", None),
        (4, "S4", "贵阳市\n第一人民医院", "否", None),
        (5, "S5", "贵阳市第一人民医院", "否", TOO_MANY_VALUES),
        (6, "S6", "贵阳市第一人民医院", None, None),
    ]


def test_plain_file_is_numbered_without_the_slow_path(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_csv(tmp_path / "x.csv", [medical(f"S{i}") for i in range(5)])
    with caplog.at_level("INFO", logger="doudi.feeds.reader"):
        table = texts(path)
    assert [r["row_no"] for r in table] == [2, 3, 4, 5, 6]
    assert "record by record" not in caplog.text


def test_xlsx_first_sheet_with_numbers_and_dates(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "医保.xlsx", [medical("S1", total_cost=1200, reimbursed=900.5), medical("S2")]
    )
    wb = openpyxl.load_workbook(path)
    ws = wb.create_sheet("说明")
    ws.append(["本表由医保局导出"])
    wb.active.insert_rows(3)  # a blank row between the two settlements
    wb.save(path)
    con = duckdb.connect()
    feed = read_feed(con, MEDICAL, path)
    assert (feed.format, feed.sheet) == ("xlsx", "结算明细")
    assert feed.warnings == [
        "只读取了第一个工作表“结算明细”，其余工作表（说明）未读取；数据较多时请分成几个文件提交，或改用CSV文件。"
    ]
    table = texts(path)
    assert [(r["row_no"], r["settlement_no"], r["total_cost"], r["reimbursed"]) for r in table] == [
        (2, "S1", "1200", "900.5"),
        (4, "S2", "1200.00", "900.00"),
    ]


def test_parquet_with_typed_columns(tmp_path: Path) -> None:
    import datetime as dt
    from decimal import Decimal

    table = pa.table(
        {
            "结算单号": ["S1", "S2"],
            "身份证号码": [ID_A, ID_B],
            "结算日期": pa.array([dt.date(2026, 11, 3), dt.date(2026, 11, 4)], pa.date32()),
            "就诊类别": ["住院", "outpatient"],
            "医疗总费用": pa.array([Decimal("1200.00"), Decimal("15.50")], pa.decimal128(18, 2)),
            "医保报销金额": [900.5, 10.0],
            "个人自付金额": pa.array([299, 5], pa.int64()),
            "重特大疾病": [True, None],
        }
    )
    path = write_parquet(tmp_path / "医保.parquet", table)
    rows = texts(path)
    assert [r["row_no"] for r in rows] == [1, 2]
    assert rows[0]["settle_date"] == "2026-11-03"
    assert (rows[0]["total_cost"], rows[0]["reimbursed"], rows[0]["out_of_pocket"]) == (
        "1200.00",
        "900.5",
        "299",
    )
    assert (rows[0]["major_disease"], rows[1]["major_disease"]) == ("true", None)


def test_json_lines_numbered_by_line(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "医保.jsonl",
        [medical("S1", total_cost=1200.5, reimbursed=900), "", "这不是JSON", "[1, 2]", medical("S5")],
    )
    con = duckdb.connect()
    feed = read_feed(con, MEDICAL, path)
    assert (feed.format, feed.encoding, feed.rows) == ("jsonl", "utf-8", 4)
    assert feed.headers[:2] == ["结算单号", "身份证号"]
    rows = con.sql(
        f"SELECT row_no, c0, c{feed.mapping['total_cost']}, row_problem FROM raw ORDER BY 1"
    ).fetchall()
    assert rows == [
        (1, "S1", "1200.5", None),
        (3, None, None, "该行不是有效的JSON对象"),
        (4, None, None, "该行不是有效的JSON对象"),
        (5, "S5", "1200.00", None),
    ]


def test_json_lines_without_a_line_is_a_file_of_no_rows(tmp_path: Path) -> None:
    for content in (b"", b"\n \n"):
        path = tmp_path / "x.jsonl"
        path.write_bytes(content)
        con = duckdb.connect()
        feed = read_feed(con, MEDICAL, path)
        assert (feed.rows, feed.headers, feed.mapping) == (0, [], {})
        assert con.sql("SELECT count(*) FROM raw").fetchall() == [(0,)]


def test_missing_required_columns_one_clear_error(tmp_path: Path) -> None:
    headers = {"settlement_no": "结算单号", "citizen_id": "身份证号", "settle_date": "日期"}
    path = write_csv(tmp_path / "医保11月.csv", [medical("S1")], headers)
    with pytest.raises(FeedFileError) as err:
        read_feed(duckdb.connect(), MEDICAL, path)
    assert err.value.code == "missing_columns"
    assert err.value.message_zh == (
        "文件“医保11月.csv”缺少医疗保障结算记录的必需列：“结算日期”；“就诊类别”；“医疗总费用”（也可写作：总费用）；"
        "“医保报销金额”（也可写作：统筹支付、报销金额）；“个人自付金额”（也可写作：个人自付、自付金额）。"
        "请补上这些列（表头须在第一行）后重新提交。"
    )
    assert err.value.details == ["文件的表头：结算单号、身份证号、日期"]
    assert "lacks required columns: settle_date, visit_type, total_cost, reimbursed, out_of_pocket" in str(
        err.value
    )


def test_two_columns_for_one_field(tmp_path: Path) -> None:
    headers = dict(MEDICAL_HEADERS, extra="公民身份号码")
    with pytest.raises(FeedFileError) as err:
        read_feed(duckdb.connect(), MEDICAL, write_csv(tmp_path / "x.csv", [medical()], headers))
    assert err.value.code == "duplicate_columns"
    assert err.value.message_zh == (
        "文件“x.csv”的第2列“身份证号”和第12列“公民身份号码”都表示“公民身份号码”，请删除或改名其中一列后重新提交。"
    )


@pytest.mark.parametrize(
    ("name", "content", "code", "message"),
    [
        ("x.xlsx", b"PK\x03\x04 not really a workbook", "unreadable", "无法读取文件“x.xlsx”"),
        ("x.parquet", b"PAR1 broken", "unreadable", "无法读取文件“x.parquet”"),
        ("x.csv", b"\x00\x01\x02binary", "unreadable", "无法读取文件“x.csv”"),
        ("x.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1 old", "unsupported_type", "旧版Excel（.xls）"),
        ("x.pdf", b"%PDF-1.4", "unsupported_type", "不支持“.pdf”类型的文件"),
        ("x.csv", b"", "empty", "文件“x.csv”是空的"),
        ("x.jsonl", "这不是JSON\n".encode(), "unreadable", "没有找到JSON对象"),
        ("x.jsonl", '{"结算单号": "S1"}\n'.encode("gbk"), "unreadable", "应为UTF-8编码"),
    ],
)
def test_unreadable_files(tmp_path: Path, name: str, content: bytes, code: str, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(FeedFileError) as err:
        read_feed(duckdb.connect(), MEDICAL, path)
    assert err.value.code == code
    assert message in err.value.message_zh


@pytest.mark.parametrize("rows", [10, 30_000])  # within the first megabyte, and beyond it
def test_utf8_file_with_gbk_bytes_later_is_mixed(tmp_path: Path, rows: int) -> None:
    path = write_csv(tmp_path / "x.csv", [medical(f"S{i}") for i in range(rows)])
    with path.open("ab") as f:
        f.write(",".join(medical("S-gbk", name="王某").values()).encode("gbk") + b"\n")
    with pytest.raises(FeedFileError) as err:
        read_feed(duckdb.connect(), MEDICAL, path)
    assert err.value.code == "unreadable"
    assert "混用了UTF-8和GBK编码" in err.value.message_zh


def test_scan_counts_lines_and_hashes(tmp_path: Path) -> None:
    data = b'a,b\n1,"2"\n\n \n'
    path = tmp_path / "x.csv"
    path.write_bytes(data)
    scan = scan_file(path)
    assert (scan.sha256, scan.size) == (hashlib.sha256(data).hexdigest(), len(data))
    assert (scan.newlines, scan.content_lines, scan.has_quote, scan.ends_with_newline) == (4, 2, True, True)
    path.write_bytes(b"a,b\n1,2")
    scan = scan_file(path)
    assert (scan.newlines, scan.content_lines, scan.has_quote, scan.ends_with_newline) == (1, 2, False, False)
