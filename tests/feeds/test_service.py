"""Loading feeds end to end on SQLite and PostgreSQL: stored Parquet, quarantine, quality report,
manifest (idempotent reload, corrected resubmission, failures) and the match to the registry."""

from __future__ import annotations

import csv
import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from factories import family, roster
from feed_files import ID_A, ID_B, ID_C, ID_X, medical, write_csv, write_jsonl
from sqlalchemy import Engine, text

from doudi.feeds import store
from doudi.feeds.contract import default_contracts, get_contract
from doudi.feeds.reader import FeedError, FeedFileError
from doudi.feeds.service import ActiveLoad, FeedLoadResult, active_loads, list_loads, load_feed
from doudi.registry import divisions_store
from doudi.registry.importer import import_roster_table
from doudi.settings import Settings

PERIOD = "2026-11"


def load(
    engine: Engine, settings: Settings, path: Path, kind: str = "medical", period: str = PERIOD
) -> FeedLoadResult:
    return load_feed(engine, settings, kind, path, period, actor="tester")


def manifest(engine: Engine) -> list[dict]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT id, kind, period, status, replaces_load_id, superseded_by, rows_read, rows_good,"
                " rows_rejected, rows_duplicate, rows_matched FROM feed_loads ORDER BY id"
            )
        ).mappings()
        return [dict(r) for r in rows]


def files(settings: Settings) -> dict[str, int]:
    root = settings.data_dir / "feeds"
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in sorted(root.rglob("*")) if p.is_file()}


def test_load_stores_typed_rows_quarantine_and_quality(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    rows = [
        medical("S1", citizen_id=ID_X.lower(), total_cost="1,200.00元"),
        medical("S2", citizen_id="52010219800101123", hospital="贵阳市第二人民医院"),
        medical("S3", settle_date="2026-10-30"),
        medical("S1", citizen_id=ID_B),
        medical("S5", citizen_id=ID_C, visit_type="门诊", major_disease="是"),
    ]
    path = write_csv(tmp_path / "医保结算11月.csv", rows, encoding="gbk")
    result = load(engine, settings, path)
    assert (result.status, result.unchanged, result.file_format) == ("active", False, "csv")
    assert (result.rows_read, result.rows_good, result.rows_rejected, result.rows_duplicate) == (5, 2, 3, 1)
    folder = settings.data_dir / "feeds" / "medical" / PERIOD
    assert result.parquet_path == (folder / f"load-{result.load_id}.parquet").resolve()
    assert result.quarantine_path == (folder / f"load-{result.load_id}-rejects.csv").resolve()
    assert result.quality_path == (folder / f"load-{result.load_id}-quality.json").resolve()

    contract = get_contract("medical")
    assert pq.read_schema(result.parquet_path).equals(contract.stored_schema())
    stored = pq.read_table(result.parquet_path).to_pylist()
    assert [(r["row_no"], r["settlement_no"], r["citizen_id"]) for r in stored] == [
        (2, "S1", ID_X),
        (6, "S5", ID_C),
    ]
    assert stored[0]["total_cost"] == Decimal("1200.00") and stored[0]["settle_date"] == dt.date(2026, 11, 3)
    assert {r["period"] for r in stored} == {PERIOD} and {r["load_id"] for r in stored} == {result.load_id}
    assert (stored[1]["visit_type"], stored[1]["major_disease"]) == ("outpatient", True)

    raw = result.quarantine_path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    with result.quarantine_path.open(encoding="utf-8-sig", newline="") as f:
        lines = list(csv.reader(f))
    assert lines[0] == ["行号", "列", "原因", "结算单号", "身份证号", "姓名", "参保地区划代码", "结算日期",
                        "定点医疗机构", "就诊类别", "医疗总费用（元）", "统筹支付", "个人自付", "是否大病"]  # fmt: skip
    assert [line[:3] for line in lines[1:]] == [
        ["3", "公民身份号码", "公民身份号码应为18位"],
        ["4", "结算日期", "结算日期不在本期（2026年11月）内"],
        ["5", "结算单号", "与第2行重复（结算单号相同）"],
    ]
    assert lines[1][4] == "52010219800101123\t"  # kept as text when Excel opens it
    assert lines[1][8] == "贵阳市第二人民医院"

    quality = json.loads(result.quality_path.read_text(encoding="utf-8"))
    assert quality == result.quality
    assert quality["rejects_by_reason"] == {
        "与前面的行重复（结算单号相同）": 1,
        "公民身份号码应为18位": 1,
        "结算日期不在本期（2026年11月）内": 1,
    }
    assert quality["unknown_columns"] == []
    assert quality["columns_absent"] == []
    assert (quality["encoding"], quality["period"], quality["rows_matched"], quality["match_rate"]) == (
        "gb18030",
        PERIOD,
        0,
        0.0,
    )
    assert manifest(engine) == [
        {
            "id": result.load_id,
            "kind": "medical",
            "period": PERIOD,
            "status": "active",
            "replaces_load_id": None,
            "superseded_by": None,
            "rows_read": 5,
            "rows_good": 2,
            "rows_rejected": 3,
            "rows_duplicate": 1,
            "rows_matched": 0,
        }
    ]
    with engine.connect() as conn:
        audit = conn.execute(text("SELECT action, object_ref, detail FROM audit_log")).all()
        assert active_loads(conn, periods=[PERIOD], kinds=["medical", "death"]) == {
            "medical": [ActiveLoad(result.load_id, "medical", PERIOD, result.parquet_path)],
            "death": [],
        }
    assert [(a, ref) for a, ref, _ in audit] == [("feed_load", str(result.load_id))]
    assert json.loads(audit[0][2])["file"] == "医保结算11月.csv"


def test_same_file_twice_changes_nothing(engine: Engine, settings: Settings, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "医保.jsonl", [medical("S1"), medical("S2", citizen_id="bad")])
    first = load(engine, settings, path)
    before_files, before_rows = files(settings), manifest(engine)
    copy = tmp_path / "renamed.jsonl"
    copy.write_bytes(path.read_bytes())
    again = load(engine, settings, copy)
    assert again.unchanged and again.load_id == first.load_id and again.status == "active"
    assert (again.rows_good, again.rows_rejected, again.quality) == (1, 1, first.quality)
    assert files(settings) == before_files
    assert manifest(engine) == before_rows
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM audit_log")).scalar_one() == 1


def test_corrected_resubmission_replaces_the_load_with_the_change(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    first = load(
        engine, settings, write_csv(tmp_path / "v1.csv", [medical("S1"), medical("S2"), medical("S3")])
    )
    corrected = [medical("S1"), medical("S2", out_of_pocket="250.00", total_cost="1150.00"), medical("S4")]
    second = load(engine, settings, write_csv(tmp_path / "v2.csv", corrected))
    assert second.status == "active" and second.replaces_load_id == first.load_id
    assert second.change == {
        "replaces_load_id": first.load_id,
        "added": 1,
        "removed": 1,
        "changed": 1,
        "unchanged": 1,
        "rows_before": 3,
        "rows_after": 3,
    }
    rows = {r["id"]: r for r in manifest(engine)}
    assert rows[first.load_id]["status"] == "superseded"
    assert rows[first.load_id]["superseded_by"] == second.load_id
    with engine.connect() as conn:
        loads = active_loads(conn, periods=["2026-10", PERIOD])
        listed = list_loads(conn, kind="medical")
    assert [ld.load_id for ld in loads["medical"]] == [second.load_id]
    assert set(loads) == set(default_contracts()) and loads["death"] == []
    assert [(ld.load_id, ld.status, ld.superseded_by) for ld in listed] == [
        (second.load_id, "active", None),
        (first.load_id, "superseded", second.load_id),
    ]
    # The superseded load's files stay: the run of an earlier month may have used them.
    assert first.parquet_path is not None and first.parquet_path.is_file()


def test_missing_column_fails_with_a_chinese_error_and_a_failed_row(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    good = load(engine, settings, write_csv(tmp_path / "ok.csv", [medical("S1")]))
    headers = {"settlement_no": "结算单号", "citizen_id": "身份证号", "settle_date": "结算日期"}
    before = files(settings)
    with pytest.raises(FeedFileError) as err:
        load(engine, settings, write_csv(tmp_path / "缺列.csv", [medical("S9")], headers))
    assert err.value.code == "missing_columns"
    assert err.value.message_zh.startswith("文件“缺列.csv”缺少医疗保障结算记录的必需列：“就诊类别”；")
    assert err.value.load_id is not None
    assert files(settings) == before
    rows = {r["id"]: r for r in manifest(engine)}
    assert rows[err.value.load_id]["status"] == "failed"
    assert rows[good.load_id]["status"] == "active"
    with engine.connect() as conn:
        failed = next(ld for ld in list_loads(conn) if ld.load_id == err.value.load_id)
        audit = conn.execute(text("SELECT action, reason FROM audit_log ORDER BY id")).all()
    assert failed.error is not None and failed.error["code"] == "missing_columns"
    assert failed.error["message"] == err.value.message_zh
    assert failed.parquet_path is None and failed.quarantine_path is None
    assert audit == [("feed_load", None), ("feed_load_failed", "missing_columns")]


def test_unreadable_file_and_file_of_rejects_only_fail(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    broken = tmp_path / "医保.xlsx"
    broken.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(FeedFileError) as err:
        load(engine, settings, broken)
    assert err.value.code == "unreadable" and "无法读取文件“医保.xlsx”" in err.value.message_zh
    bad_rows = write_csv(tmp_path / "全错.csv", [medical("S1", settle_date="2026-01-01")])
    with pytest.raises(FeedError) as err2:
        load(engine, settings, bad_rows)
    assert err2.value.code == "no_good_rows"
    assert err2.value.message_zh == "文件“全错.csv”的1行数据全部未通过校验，未载入；原因见未通过清单。"
    assert err2.value.quality is not None and err2.value.quality["rows_rejected"] == 1
    folder = settings.data_dir / "feeds" / "medical" / PERIOD
    assert sorted(p.name for p in folder.iterdir()) == [
        f"load-{err2.value.load_id}-quality.json",
        f"load-{err2.value.load_id}-rejects.csv",
    ]
    assert [r["status"] for r in manifest(engine)] == ["failed", "failed"]
    assert manifest(engine)[1]["rows_rejected"] == 1
    with engine.connect() as conn:
        assert active_loads(conn, periods=[PERIOD], kinds=["medical"]) == {"medical": []}


def test_file_without_rows_is_news_for_events_and_an_error_for_snapshots(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    quiet = load(engine, settings, write_csv(tmp_path / "医保.csv", []))
    assert (quiet.status, quiet.rows_read, quiet.rows_good) == ("active", 0, 0)
    assert quiet.quality["warnings"] == ["文件中没有数据行：本期（2026年11月）没有医疗保障结算记录。"]
    assert pq.read_table(quiet.parquet_path).num_rows == 0
    headers = {
        "plate_no": "号牌号码",
        "citizen_id": "所有人身份证号",
        "vehicle_kind": "车辆类型",
        "register_date": "初次登记日期",
    }
    with pytest.raises(FeedFileError) as err:
        load(engine, settings, write_csv(tmp_path / "车辆.csv", [], headers), kind="vehicle")
    assert err.value.code == "empty"
    assert (
        err.value.message_zh
        == "文件“车辆.csv”中没有数据行：全量名单不应为空，未载入任何内容，请检查导出是否完整。"
    )


def test_internal_error_fails_the_load_and_leaves_no_file(
    engine: Engine, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object, **_kwargs: object) -> int:
        raise OSError("disk full")

    monkeypatch.setattr(store, "write_good_rows", broken)
    path = write_csv(tmp_path / "医保.csv", [medical("S1"), medical("S2", citizen_id="bad")])
    with pytest.raises(FeedError) as err:
        load(engine, settings, path)
    assert err.value.code == "internal" and isinstance(err.value.__cause__, OSError)
    assert err.value.message_zh == "载入文件“医保.csv”时出现内部错误，未载入；请将日志发给系统管理员。"
    assert [r["status"] for r in manifest(engine)] == ["failed"]
    assert files(settings) == {}


def test_bad_requests(engine: Engine, settings: Settings, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "x.csv", [medical()])
    with pytest.raises(FeedError) as err:
        load(engine, settings, path, kind="medicine")
    assert err.value.code == "unknown_kind" and "medical（医疗保障结算记录）" in err.value.message_zh
    with pytest.raises(FeedError) as err:
        load(engine, settings, path, period="2026-13")
    assert err.value.code == "bad_period" and "应为 年-月" in err.value.message_zh
    with pytest.raises(FeedFileError) as err:
        load(engine, settings, tmp_path / "nowhere.csv")
    assert err.value.code == "file_missing"
    assert manifest(engine) == []


def test_match_rate_against_the_registry(engine: Engine, settings: Settings, tmp_path: Path) -> None:
    members = family("H001") + family("H002", seq0=31)
    import_roster_table(
        engine,
        roster(members),
        catalog=divisions_store.load_catalog(engine),
        as_of=dt.date(2026, 10, 1),
        actor="tester",
        file_name="roster.csv",
        file_sha="x",
    )
    registered = [m["citizen_id"] for m in members]
    assert registered[0] == ID_A
    rows = [
        medical("S1", citizen_id=registered[0]),
        medical("S2", citizen_id=registered[0]),
        medical("S3", citizen_id=registered[4]),
        medical("S4", citizen_id=ID_B),
        medical("S5", citizen_id=ID_X),
        medical("S6", citizen_id="bad"),
    ]
    result = load(engine, settings, write_csv(tmp_path / "医保.csv", rows))
    assert (result.rows_good, result.rows_matched) == (5, 3)
    assert result.match_rate == 0.6
    assert (result.quality["persons"], result.quality["persons_matched"], result.quality["match_rate"]) == (
        4,
        2,
        0.6,
    )


def test_a_loads_by_person_copy_is_sorted_in_small_groups_and_written_once(tmp_path: Path) -> None:
    """A household's lookup reads each load's copy sorted by person (a few row groups) instead
    of the whole file; the copy is made on first use and kept (a load's file never changes)."""
    import duckdb
    import pyarrow as pa

    n = 3 * store.BY_PERSON_ROWS + 5
    ids = [f"52010219800101{(n - i) % 10_000:04d}" for i in range(n)]  # descending in row order
    source = tmp_path / "load-7.parquet"
    pq.write_table(pa.table({"citizen_id": ids, "row_no": list(range(2, n + 2))}), source)
    con = duckdb.connect()
    try:
        copy = store.by_person(con, source, "citizen_id")
        assert copy == store.by_person_path(source) and copy.name == "load-7-by-person.parquet"
        table = pq.read_table(copy)
        assert table.column("citizen_id").to_pylist() == sorted(ids)
        assert sorted(table.column("row_no").to_pylist()) == list(range(2, n + 2))  # every row, once
        assert pq.ParquetFile(copy).metadata.num_row_groups == 4
        written = copy.stat().st_mtime_ns
        assert store.by_person(con, source, "citizen_id") == copy
        assert copy.stat().st_mtime_ns == written
        assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    finally:
        con.close()
