"""Reading roster files: the committed fixtures, generated edge cases, errors, rejects files."""

from __future__ import annotations

import csv
import datetime as dt
import importlib.util
import io
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from openpyxl import Workbook

from doudi.ids import make_citizen_ids
from doudi.registry.roster_files import (
    SKIP_FOOTER,
    SKIP_NO_FIELDS,
    SKIP_TOTALS,
    RosterFile,
    RosterFileError,
    SkippedRow,
    load_header_map,
    read_roster,
    write_rejects,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "rosters"


def _ids(n: int, address: int = 520102, seed: int = 7) -> list[str]:
    rng = np.random.default_rng(seed)
    births = np.datetime64("1940-01-01") + rng.integers(0, 25_000, n).astype("timedelta64[D]")
    return list(make_citizen_ids(np.full(n, address), births, rng.integers(0, 1000, n)))


def _column(roster: RosterFile, name: str) -> list[Any]:
    return roster.table.column(name).to_pylist()


def _row(roster: RosterFile, row: int) -> dict[str, Any]:
    rows = [r for r in roster.table.to_pylist() if r["_row"] == row]
    assert len(rows) == 1, f"row {row}: {rows}"
    return rows[0]


def _write_csv(path: Path, rows: list[list[str]], encoding: str = "utf-8") -> Path:
    buf = io.StringIO(newline="")
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


HEADER = ["户编号", "行政区划代码", "姓名", "公民身份号码", "与户主关系", "月收入"]


# --- the committed fixtures ---------------------------------------------------------------


def test_gbk_title_csv() -> None:
    roster = read_roster(FIXTURES / "gbk_title.csv")
    assert roster.encoding == "gb18030"
    assert roster.header_row == 3
    assert roster.mapping == {
        "household_no": "户编号",
        "division_code": "行政区划代码",
        "address": "家庭住址",
        "area_type": "城乡类别",
        "category": "人员类别",
        "category_start": "纳入日期",
        "name": "姓名",
        "citizen_id": "公民身份号码",
        "relation": "与户主关系",
        "disability_kind": "残疾类别",
        "disability_grade": "残疾等级",
        "employment": "就业情况",
        "wage_income": "工资性收入（元）",
    }
    assert roster.unmapped_headers == ["序号", "备注"]
    assert roster.warnings == ["以下列的表头未能识别，其内容不会导入：序号、备注"]
    assert roster.skipped == [SkippedRow("", 21, SKIP_TOTALS)]
    assert _column(roster, "_row") == list(range(4, 21))
    assert set(_column(roster, "_sheet")) == {""}
    assert roster.table.schema.field("_row").type == pa.int32()
    assert roster.table.column_names[:2] == ["_sheet", "_row"]
    assert _row(roster, 4)["name"] == "王建国"
    assert _row(roster, 6)["citizen_id"] == "52010219990707101x"  # kept as written
    assert _row(roster, 9)["citizen_id"] == "5.20102E+17"
    assert _row(roster, 10)["citizen_id"] == "５２０１０２１９５００２２８５２６９"
    assert _row(roster, 20)["citizen_id"] == "520102800101123"
    assert _row(roster, 13)["division_code"] == "520199001001"
    assert _row(roster, 15)["wage_income"] == "1200"  # "1,200" in the file
    assert _row(roster, 16)["wage_income"] == "-300"
    assert _row(roster, 4)["disability_kind"] is None  # empty cell → null
    assert _row(roster, 5)["disability_grade"] == "二级"


def test_utf8_bom_csv() -> None:
    roster = read_roster(FIXTURES / "utf8_bom.csv")
    assert roster.encoding == "utf-8-sig"
    assert roster.header_row == 1
    assert roster.mapping["name"] == "姓 名"
    assert roster.mapping["household_no"] == "户号"
    assert roster.mapping["relation"] == "与申请人关系"
    assert roster.mapping["monthly_income"] == "月收入（元）"
    assert roster.mapping["township_name"] == "乡镇（街道）"
    assert roster.mapping["village_name"] == "村（社区）"
    assert "division_code" not in roster.mapping
    assert roster.unmapped_headers == ["联系电话"]
    assert roster.skipped == []  # the empty row 9 is dropped without a report
    assert _column(roster, "_row") == [2, 3, 4, 5, 6, 7, 8]
    assert _row(roster, 2)["household_no"] == "QZ-0101"  # the BOM is not part of the first header
    assert _row(roster, 2)["monthly_income"] == "1350.00"
    assert _row(roster, 6)["monthly_income"] == "2100"
    assert _row(roster, 4)["name"] is None
    assert _row(roster, 4)["citizen_id"] == "520181199509091512"


def test_merged_xlsx() -> None:
    roster = read_roster(FIXTURES / "merged.xlsx")
    assert roster.encoding == "xlsx"
    assert roster.header_row == 3
    assert roster.mapping == {
        "household_no": "户编号",
        "division_code": "行政区划\n代码",
        "address": "家庭住址",
        "area_type": "城乡\n类别",
        "category": "人员类别",
        "category_start": "纳入日期",
        "name": "姓名",
        "citizen_id": "公民身份\n号码",
        "relation": "与户主\n关系",
        "monthly_income": "月收入\n（元）",
    }
    assert roster.unmapped_headers == ["序号", "备注"]
    assert roster.ignored_sheets == ["说明"]
    assert roster.skipped == []
    assert _column(roster, "_row") == list(range(4, 12))
    assert set(_column(roster, "_sheet")) == {"花名册"}
    # Merged 户编号 and 家庭住址 filled into every member's row.
    assert (
        _column(roster, "household_no") == ["GSH-001"] * 3 + ["GSH-002"] * 2 + ["GSH-003"] + ["GSH-004"] * 2
    )
    assert _row(roster, 6)["address"] == "贵阳市观山湖区宾阳街道某小区1栋"
    assert _row(roster, 11)["address"] == "贵阳市观山湖区金华镇某村7组"
    # IDs: an integer cell gives its digits, a text cell its text, a float what Excel shows.
    assert _row(roster, 4)["citizen_id"] == "520115197103031154"
    assert _row(roster, 5)["citizen_id"] == "520115197307071262"
    assert _row(roster, 8)["citizen_id"] == "5.20102E+17"
    assert _row(roster, 4)["division_code"] == "520115001001"
    assert _row(roster, 4)["category_start"] == "2023-07-01"
    assert _row(roster, 4)["monthly_income"] == "1350.5"
    assert _row(roster, 5)["monthly_income"] == "0"


def test_fixtures_are_what_the_script_makes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = importlib.util.spec_from_file_location("make_roster_fixtures", FIXTURES / "make_fixtures.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    for made in module.build(tmp_path):
        assert made.read_bytes() == (FIXTURES / made.name).read_bytes(), (
            f"re-run make_fixtures.py: {made.name}"
        )


# --- header matching ----------------------------------------------------------------------


def test_bundled_headers_have_no_conflicts() -> None:
    headers = load_header_map()
    assert headers.field_of("姓名") == "name"
    assert headers.field_of("身份证号码（18位）") == "citizen_id"
    assert headers.field_of("村（社区）") == "village_name"
    assert headers.field_of("村（居）") == "village_name"  # unit-like suffix dropped
    assert headers.field_of("*与户主关系") == "relation"
    assert headers.field_of("工资性收入[元]") == "wage_income"
    assert headers.field_of("序号") is None
    assert headers.field_of("") is None
    assert headers.label("citizen_id") == "公民身份号码"


def test_extra_headers_yaml(tmp_path: Path) -> None:
    extra = tmp_path / "headers.yaml"
    extra.write_text("fields:\n  phone: [联系电话, 手机号]\n  household_no: [低保证号]\n", encoding="utf-8")
    roster = read_roster(FIXTURES / "utf8_bom.csv", extra_headers=extra)
    assert roster.mapping["phone"] == "联系电话"
    assert roster.unmapped_headers == []
    assert _row(roster, 2)["phone"] == "13800000001"
    assert roster.table.column_names[-1] == "phone"  # extra fields after the bundled ones

    ids = _ids(3)
    path = _write_csv(
        tmp_path / "other.csv",
        [
            ["低保证号", "村社区代码", "姓名", "身份证号", "关系"],
            ["D-1", "520102001001", "张三", ids[0], "户主"],
        ],
    )
    assert _row(read_roster(path, extra_headers=extra), 2)["household_no"] == "D-1"


def test_extra_headers_conflict_and_bad_yaml(tmp_path: Path) -> None:
    clash = tmp_path / "clash.yaml"
    clash.write_text("fields:\n  phone: [姓名]\n", encoding="utf-8")
    with pytest.raises(RosterFileError) as err:
        read_roster(FIXTURES / "utf8_bom.csv", extra_headers=clash)
    assert err.value.code == "bad_headers_file"
    assert (
        err.value.message_zh
        == "表头配置文件“clash.yaml”格式不正确：表头“姓名”已用于“姓名”（name），不能再用于phone。"
    )

    bad = tmp_path / "bad.yaml"
    bad.write_text("phone: [联系电话]\n", encoding="utf-8")
    with pytest.raises(RosterFileError) as err:
        read_roster(FIXTURES / "utf8_bom.csv", extra_headers=bad)
    assert err.value.message_zh == "表头配置文件“bad.yaml”格式不正确：缺少顶层的“fields:”。"


def test_two_level_header_in_csv(tmp_path: Path) -> None:
    ids = _ids(2)
    rows = [
        ["户编号", "行政区划代码", "姓名", "公民身份号码", "与户主关系", "家庭收入（元）", "", ""],
        ["", "", "", "", "", "工资性收入", "经营净收入", "转移净收入"],
        ["H1", "520102001001", "张三", ids[0], "户主", "1,000", "0", "200"],
        ["H1", "520102001001", "李四", ids[1], "配偶", "0", "0", "0"],
    ]
    roster = read_roster(_write_csv(tmp_path / "two.csv", rows))
    assert roster.header_row == 1
    assert roster.mapping["wage_income"] == "工资性收入"
    assert roster.mapping["transfer_income"] == "转移净收入"
    assert roster.unmapped_headers == []
    assert _column(roster, "_row") == [3, 4]
    assert _row(roster, 3)["wage_income"] == "1000"


def test_header_search_is_limited_to_thirty_rows(tmp_path: Path) -> None:
    ids = _ids(1)
    rows = [[f"说明第{i}行"] for i in range(30)] + [
        HEADER,
        ["H1", "520102001001", "张三", ids[0], "户主", "0"],
    ]
    with pytest.raises(RosterFileError) as err:
        read_roster(_write_csv(tmp_path / "deep.csv", rows))
    assert err.value.code == "no_header"
    rows = rows[1:]  # the header is now row 30
    roster = read_roster(_write_csv(tmp_path / "deep.csv", rows))
    assert roster.header_row == 30
    assert _column(roster, "_row") == [31]


# --- CSV details --------------------------------------------------------------------------


def test_plain_utf8_and_tab_delimited(tmp_path: Path) -> None:
    ids = _ids(1)
    path = tmp_path / "tab.csv"
    path.write_text(
        "\t".join(HEADER) + "\n" + "\t".join(["H1", "520102001001", "张三", ids[0], "户主", "0"]) + "\n"
    )
    roster = read_roster(path)
    assert roster.encoding == "utf-8"
    assert _row(roster, 2)["citizen_id"] == ids[0]


def test_gb18030_only_characters(tmp_path: Path) -> None:
    ids = _ids(1)
    # 䶮 is in GB18030 but not in GBK.
    path = _write_csv(
        tmp_path / "gb.csv", [HEADER, ["H1", "520102001001", "刘䶮", ids[0], "户主", "0"]], encoding="gb18030"
    )
    roster = read_roster(path)
    assert roster.encoding == "gb18030"
    assert _row(roster, 2)["name"] == "刘䶮"


def test_quoted_line_breaks_blank_lines_and_ragged_rows_keep_row_numbers(tmp_path: Path) -> None:
    ids = _ids(5)
    text = (
        "花名册\r\n"
        + ",".join([*HEADER, "家庭住址"])
        + "\r\n"
        + f'H1,520102001001,张三,{ids[0]},户主,0,"某路1号\r\n2单元"\r\n'  # row 3 (spans two lines)
        + f"H1,520102001001,李四,{ids[1]},配偶,0,某路1号\r\n"  # row 4
        + "\r\n"  # row 5: blank
        + f"H2,520102001001,王五,{ids[2]},户主,0\r\n"  # row 6: one field short
        + f"H3,520102001001,赵六,{ids[3]},户主,0,某路3号,多余\r\n"  # row 7: one field too many
        + f"  H4 ,520102001001,  孙七　,{ids[4]},户主,0,\r\n"  # row 8: spaces to trim
    )
    path = tmp_path / "ragged.csv"
    path.write_bytes(text.encode("utf-8"))
    roster = read_roster(path)
    assert _column(roster, "_row") == [3, 4, 6, 7, 8]
    assert _row(roster, 3)["address"] == "某路1号\r\n2单元"
    assert _row(roster, 6)["address"] is None
    assert _row(roster, 7)["address"] == "某路3号"
    assert _row(roster, 8)["household_no"] == "H4"
    assert _row(roster, 8)["name"] == "孙七"


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_blank_lines_keep_row_numbers(tmp_path: Path, newline: str) -> None:
    ids = _ids(6)
    people = [f"H{i},520102001001,人{i},{ids[i]},户主,0" for i in range(6)]
    lines = [
        "标题",
        ",".join(HEADER),
        people[0],
        "",
        people[1],
        people[2],
        "",
        "",
        people[3],
        people[4],
        people[5],
    ]
    path = tmp_path / "blank.csv"
    path.write_bytes((newline.join(lines) + newline + newline).encode("gbk"))
    roster = read_roster(path)
    assert _column(roster, "_row") == [3, 5, 6, 9, 10, 11]
    assert _column(roster, "name") == [f"人{i}" for i in range(6)]


def test_totals_footer_and_serial_only_rows_are_listed(tmp_path: Path) -> None:
    ids = _ids(2)
    rows = [
        ["序号", *HEADER],
        ["1", "H1", "520102001001", "张三", ids[0], "户主", "100"],
        ["2", "H1", "520102001001", "李四", ids[1], "配偶", "200"],
        ["小 计", "", "", "", "", "", "300"],
        ["3", "", "", "", "", "", ""],
        ["", "", "", "", "", "", ""],
        ["合计：1户2人", "", "", "", "", "", "300"],
        ["填表人：王某某", "", "", "审核人：", "", "", ""],
    ]
    roster = read_roster(_write_csv(tmp_path / "totals.csv", rows))
    assert _column(roster, "_row") == [2, 3]
    assert roster.skipped == [
        SkippedRow("", 4, SKIP_TOTALS),
        SkippedRow("", 5, SKIP_NO_FIELDS),
        SkippedRow("", 7, SKIP_TOTALS),
        SkippedRow("", 8, SKIP_FOOTER),
    ]


def test_utf8_file_read_record_by_record_when_it_has_irregular_rows(tmp_path: Path) -> None:
    # Many rows so that pyarrow reads several blocks; a quoted line break near the end.
    n = 20_000
    ids = _ids(n)
    lines = [",".join(HEADER)]
    lines += [f"H{i // 3},520102001001,人{i},{ids[i]},户主,{i}" for i in range(n - 1)]
    lines.append(f'H-last,520102001001,"末\n行",{ids[-1]},户主,1')
    path = tmp_path / "big_quoted.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    roster = read_roster(path)
    assert roster.table.num_rows == n
    assert _column(roster, "_row")[-1] == n + 1
    assert _column(roster, "name")[-1] == "末\n行"


@pytest.mark.slow
def test_large_gbk_csv(tmp_path: Path) -> None:
    n = 200_000
    ids = _ids(n)
    head = "南明区城乡低保对象花名册（2025年10月）\r\n填报单位：南明区民政局\r\n" + ",".join(HEADER) + "\r\n"
    body = "".join(f"NM{i // 3:06d},520102001001,张{i % 100},{ids[i]},户主,{i % 3000}\r\n" for i in range(n))
    path = tmp_path / "large.csv"
    path.write_bytes((head + body + "合计,,,,,\r\n").encode("gbk"))
    started = time.perf_counter()
    roster = read_roster(path)
    elapsed = time.perf_counter() - started
    assert roster.encoding == "gb18030"
    assert roster.table.num_rows == n
    rows = roster.table.column("_row")
    assert rows[0].as_py() == 4
    assert rows[-1].as_py() == n + 3
    assert roster.skipped == [SkippedRow("", n + 4, SKIP_TOTALS)]
    last = _row(roster, n + 3)
    assert last["citizen_id"] == ids[-1]
    assert last["household_no"] == f"NM{(n - 1) // 3:06d}"
    assert last["name"] == f"张{(n - 1) % 100}"
    assert elapsed < 30, f"{n} rows took {elapsed:.1f} s"


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"])
def test_utf8_file_with_gbk_rows_is_reported(tmp_path: Path, bom: bytes) -> None:
    ids = _ids(2000)
    good = ",".join(HEADER) + "\n" + "".join(f"H{i},520102001001,张三,{ids[i]},户主,0\n" for i in range(2000))
    path = tmp_path / "mixed.csv"
    path.write_bytes(bom + good.encode("utf-8") + f"H9,520102001001,李四,{ids[0]},户主,0\n".encode("gbk"))
    err = _error(path)
    assert err.code == "unreadable"
    assert err.message_zh == (
        "文件“mixed.csv”中有无法识别的文字（可能混用了UTF-8和GBK编码），请用Excel打开后重新另存为CSV。"
    )


def test_classic_mac_line_ends_and_utf16(tmp_path: Path) -> None:
    ids = _ids(2)
    lines = [
        ",".join(HEADER),
        f"H1,520102001001,张三,{ids[0]},户主,0",
        f"H1,520102001001,李四,{ids[1]},配偶,0",
    ]
    mac = tmp_path / "mac.csv"
    mac.write_bytes("\r".join(lines).encode("gbk"))
    roster = read_roster(mac)
    assert (roster.encoding, _column(roster, "_row"), _column(roster, "name")) == (
        "gb18030",
        [2, 3],
        ["张三", "李四"],
    )
    # Excel's "Unicode text": UTF-16 with BOM, tab-delimited.
    utf16 = tmp_path / "unicode.csv"
    utf16.write_bytes("\r\n".join(line.replace(",", "\t") for line in lines).encode("utf-16"))
    roster = read_roster(utf16)
    assert (roster.encoding, _column(roster, "_row"), _column(roster, "name")) == (
        "utf-16",
        [2, 3],
        ["张三", "李四"],
    )


# --- XLSX details -------------------------------------------------------------------------


def test_xlsx_sheets_subheaders_totals_and_values(tmp_path: Path) -> None:
    ids = _ids(4)
    wb = Workbook()
    first = wb.active
    assert first is not None
    first.title = "城市"
    first.append(["城市低保花名册"])
    first.append(["户编号", "行政区划代码", "姓名", "公民身份号码", "与户主关系", "收入情况", None])
    first.append([None, None, None, None, None, "工资性收入", "转移净收入"])
    for c in "ABCDE":
        first.merge_cells(f"{c}2:{c}3")
    first.merge_cells("F2:G2")
    first.append(["H1", 520102001001, "张三", ids[0], "户主", 1234.5, 0.1 + 0.2])
    first.append([None, 520102001001, " 李四 ", ids[1], "配偶", 1500.0, None])
    first.merge_cells("A4:A5")
    first.append(["合计", None, None, None, None, 2734.5, None])
    first.append([None, None, None, None, None, None, None])
    first.append(["填表人：王某某", None, "联系电话：略", None, None, None, None])
    second = wb.create_sheet("农村")
    second.append(["户编号", "区划代码", "成员姓名", "身份证号", "关系", "纳入日期"])
    second.append(["R1", "520181100001", "王五", ids[2], "户主", dt.datetime(2024, 3, 1)])
    second.append(["R1", "520181100001", "赵六", ids[3], "妻", dt.datetime(2024, 3, 1, 8, 30)])
    wb.create_sheet("空白")
    path = tmp_path / "two_sheets.xlsx"
    wb.save(path)

    roster = read_roster(path)
    assert [(s.name, s.header_row, s.rows) for s in roster.sheets] == [("城市", 2, 2), ("农村", 1, 2)]
    assert roster.header_row == 2
    assert roster.ignored_sheets == []  # the empty sheet is neither read nor reported
    assert roster.mapping["wage_income"] == "工资性收入"
    assert roster.mapping["name"] == "姓名"  # from the first sheet
    assert roster.sheets[1].mapping["name"] == "成员姓名"
    assert roster.skipped == [SkippedRow("城市", 6, SKIP_TOTALS), SkippedRow("城市", 8, SKIP_FOOTER)]
    rows = roster.table.to_pylist()
    assert [(r["_sheet"], r["_row"]) for r in rows] == [("城市", 4), ("城市", 5), ("农村", 2), ("农村", 3)]
    assert rows[0]["citizen_id"] == ids[0]
    assert rows[1]["household_no"] == "H1"
    assert rows[1]["name"] == "李四"
    assert rows[0]["wage_income"] == "1234.5"
    assert rows[0]["transfer_income"] == "0.3"
    assert rows[1]["wage_income"] == "1500"
    assert rows[0]["category_start"] is None  # column only on the second sheet
    assert rows[2]["category_start"] == "2024-03-01"
    assert rows[3]["category_start"] == "2024-03-01 08:30:00"
    assert rows[2]["division_code"] == "520181100001"


def test_xlsx_large_sheet_reads(tmp_path: Path) -> None:
    n = 5_000
    ids = _ids(n)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("花名册")
    ws.append(["某县花名册"])
    ws.append(HEADER)
    for i in range(n):
        ws.append([f"H{i // 3}", "520102001001", f"人{i}", ids[i], "户主" if i % 3 == 0 else "子女", i])
    path = tmp_path / "big.xlsx"
    wb.save(path)
    roster = read_roster(path)
    assert roster.table.num_rows == n
    assert _column(roster, "_row")[-1] == n + 2
    assert _column(roster, "monthly_income")[-1] == str(n - 1)


# --- errors -------------------------------------------------------------------------------


def _error(path: Path) -> RosterFileError:
    with pytest.raises(RosterFileError) as err:
        read_roster(path)
    assert str(err.value).startswith(path.name + ": ")
    return err.value


def test_missing_file(tmp_path: Path) -> None:
    err = _error(tmp_path / "nothere.csv")
    assert err.code == "file_missing"
    assert err.message_zh == "找不到文件“nothere.csv”，请确认文件已上传。"


def test_unsupported_extension(tmp_path: Path) -> None:
    path = tmp_path / "old.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0")
    err = _error(path)
    assert err.code == "unsupported_type"
    assert err.message_zh == (
        "不支持“.xls”类型的文件，请上传Excel工作簿（.xlsx）或CSV文件；.xls、.et等格式请先在Excel或WPS中另存为.xlsx。"
    )


def test_old_xls_renamed_to_xlsx(tmp_path: Path) -> None:
    path = tmp_path / "renamed.xlsx"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512))
    err = _error(path)
    assert err.code == "unsupported_type"
    assert "旧版Excel（.xls）" in err.message_zh


@pytest.mark.parametrize("content", [b"", b"\xef\xbb\xbf", b" \r\n\r\n"])
def test_empty_csv(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(content)
    err = _error(path)
    assert err.code == "empty"
    assert err.message_zh == "文件“empty.csv”是空的，没有任何内容。"


def test_empty_xlsx(tmp_path: Path) -> None:
    path = tmp_path / "empty.xlsx"
    Workbook().save(path)
    err = _error(path)
    assert err.code == "empty"
    assert err.message_zh == "文件“empty.xlsx”是空的，没有任何内容。"


@pytest.mark.parametrize("name", ["garbage.csv", "garbage.xlsx"])
def test_binary_garbage(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    err = _error(path)
    assert err.code == "unreadable"
    assert err.message_zh == f"无法读取文件“{name}”：文件可能已损坏，或者不是CSV或Excel格式的花名册。"


def test_zip_that_is_not_a_workbook(tmp_path: Path) -> None:
    import zipfile

    path = tmp_path / "archive.xlsx"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("hello.txt", "hello")
    assert _error(path).code == "unreadable"


def test_csv_without_known_header(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "other.csv", [["日期", "金额", "备注"], ["2025-01-01", "100", "x"]])
    err = _error(path)
    assert err.code == "no_header"
    assert err.message_zh == (
        "在文件“other.csv”的前30行中没有找到表头：表头行应至少包含“户编号”、“姓名”、“公民身份号码”、"
        "“与户主关系”、“行政区划代码”等列名中的3个，请检查文件是否为花名册。"
    )
    assert "公民身份号码：公民身份号码、身份证号、身份证号码、证件号码、身份证件号码" in err.details


def test_xlsx_without_known_header(tmp_path: Path) -> None:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["随便写点什么"])
    path = tmp_path / "notes.xlsx"
    wb.save(path)
    assert _error(path).code == "no_header"


def test_missing_required_columns(tmp_path: Path) -> None:
    path = _write_csv(
        tmp_path / "short.csv", [["户编号", "姓名", "行政区划代码"], ["H1", "张三", "520102001001"]]
    )
    err = _error(path)
    assert err.code == "missing_columns"
    assert err.message_zh == (
        "表头（第1行）缺少必需的列：“公民身份号码”（也可写作：身份证号、身份证号码、证件号码、身份证件号码）；"
        "“与户主关系”（也可写作：与申请人关系、家庭关系、关系），请补上这些列后重新导入。"
    )


def test_missing_division(tmp_path: Path) -> None:
    path = _write_csv(
        tmp_path / "nodiv.csv",
        [["户编号", "姓名", "身份证号", "关系", "乡镇"], ["H1", "张三", "1", "户主", "x"]],
    )
    err = _error(path)
    assert err.code == "missing_columns"
    assert err.message_zh == (
        "表头（第1行）缺少必需的列：“行政区划代码”（或者“乡镇（街道）”和“村（社区）”两列），请补上这些列后重新导入。"
    )


def test_missing_required_column_on_a_sheet(tmp_path: Path) -> None:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "花名册"
    ws.append(["户编号", "姓名", "公民身份号码", "行政区划代码"])
    path = tmp_path / "sheet.xlsx"
    wb.save(path)
    err = _error(path)
    assert err.code == "missing_columns"
    assert err.message_zh.startswith("工作表“花名册”的表头（第1行）缺少必需的列：“与户主关系”")


def test_duplicate_mapped_headers(tmp_path: Path) -> None:
    path = _write_csv(
        tmp_path / "dup.csv", [["户编号", "姓名", "身份证号", "公民身份号码", "与户主关系", "行政区划代码"]]
    )
    err = _error(path)
    assert err.code == "duplicate_columns"
    assert err.message_zh == (
        "表头中第C列“身份证号”和第D列“公民身份号码”都表示“公民身份号码”，请删除或改名其中一列后重新导入。"
    )


def test_header_only_file_gives_an_empty_table(tmp_path: Path) -> None:
    roster = read_roster(_write_csv(tmp_path / "header_only.csv", [HEADER]))
    assert roster.table.num_rows == 0
    assert roster.table.column_names == [
        "_sheet", "_row", "household_no", "division_code", "name", "citizen_id", "relation", "monthly_income",
    ]  # fmt: skip


# --- rejects file -------------------------------------------------------------------------


def test_write_rejects(tmp_path: Path) -> None:
    rows = [
        {
            "_sheet": "",
            "_row": 8,
            "column": "citizen_id",
            "reason": "公民身份号码校验位错误，可能有数字录入错误",
            "name": "陈晓东",
            "citizen_id": "520102200106153310",
            "household_no": "0012",
            "wage_income": "-300",
            "address": '=HYPERLINK("x")',
        },
        {"_sheet": "花名册", "_row": 9, "column": "姓名、公民身份号码", "reason": "姓名为空", "name": None},
    ]
    target = write_rejects(tmp_path / "out" / "rejects.csv", rows)
    raw = target.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    got = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert got[0] == [
        "工作表",
        "行号",
        "列",
        "原因",
        "户编号",
        "家庭住址",
        "姓名",
        "公民身份号码",
        "工资性收入",
    ]
    assert got[1] == [
        "", "8", "公民身份号码", "公民身份号码校验位错误，可能有数字录入错误", "0012\t", "'=HYPERLINK(\"x\")",
        "陈晓东", "520102200106153310\t", "-300",
    ]  # fmt: skip
    assert got[2] == ["花名册", "9", "姓名、公民身份号码", "姓名为空", "", "", "", "", ""]

    table = pa.table(
        {"_sheet": [""], "_row": pa.array([3], pa.int32()), "column": ["name"], "reason": ["姓名为空"]}
    )
    again = list(csv.reader(io.StringIO(write_rejects(tmp_path / "t.csv", table).read_text("utf-8-sig"))))
    assert again == [["工作表", "行号", "列", "原因"], ["", "3", "姓名", "姓名为空"]]
