"""The registry commands as a user runs them: files in, counts and rejects out, exit codes."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import openpyxl
from factories import family
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from doudi.cli.main import app
from doudi.db.engine import make_engine
from doudi.registry.synthetic import write_roster
from doudi.settings import Settings

runner = CliRunner()


def write_csv(path: Path, rows: list[dict[str, str]], encoding: str = "utf-8-sig") -> Path:
    headers = {
        "household_no": "户编号",
        "division_code": "行政区划代码",
        "category": "人员类别",
        "category_start": "纳入日期",
        "name": "姓名",
        "citizen_id": "身份证号",
        "relation": "与户主关系",
        "wage_income": "工资性收入",
        "schooling": "就学情况",
    }
    with path.open("w", encoding=encoding, newline="") as f:
        w = csv.writer(f)
        w.writerow(["南明区城乡低保对象花名册"])
        w.writerow(list(headers.values()))
        for r in rows:
            w.writerow([r.get(k, "") for k in headers])
    return path


def test_import_prints_counts_and_is_idempotent(settings: Settings, engine: Engine, tmp_path: Path) -> None:
    rows = family("H001") + family("H002", seq0=31)
    rows[4]["citizen_id"] = "5.20102E+17"
    path = write_csv(tmp_path / "花名册.csv", rows, encoding="gbk")
    first = runner.invoke(app, ["registry", "import", str(path), "--as-of", "2025-10-01"])
    assert first.exit_code == 0, first.output
    assert "│    6 │    5 │    0 │    0 │      1 │" in first.output
    rejects = sorted((settings.data_dir / "rejects").glob("*.csv"))
    assert len(rejects) == 1 and str(rejects[0]) in first.output.replace("\n", "")
    with rejects[0].open(encoding="utf-8-sig") as f:
        lines = list(csv.reader(f))
    assert lines[0][:4] == ["工作表", "行号", "列", "原因"]
    assert lines[1][1] == "7" and "科学计数法" in lines[1][3]
    second = runner.invoke(app, ["registry", "import", str(path), "--as-of", "2025-10-01"])
    assert second.exit_code == 0, second.output
    assert "│    6 │    0 │    0 │    5 │      1 │" in second.output
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM person_versions")).scalar_one() == 5
        assert conn.execute(text("SELECT COUNT(*) FROM imports")).scalar_one() == 2


def test_unreadable_and_empty_files_exit_non_zero_with_one_sentence(
    settings: Settings, tmp_path: Path
) -> None:
    empty = tmp_path / "空.csv"
    empty.write_bytes(b"")
    result = runner.invoke(app, ["registry", "import", str(empty)])
    assert result.exit_code != 0
    assert "错误：" in result.output
    missing = runner.invoke(app, ["registry", "import", str(tmp_path / "nope.xlsx")])
    assert missing.exit_code != 0 and "错误：" in missing.output
    garbage = tmp_path / "x.csv"
    garbage.write_bytes(bytes(range(256)) * 10)
    result = runner.invoke(app, ["registry", "import", str(garbage)])
    assert result.exit_code != 0 and "错误：" in result.output


def test_bad_date_option_is_explained(settings: Settings, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", family("H001"))
    result = runner.invoke(app, ["registry", "import", str(path), "--as-of", "2025/13/01"])
    assert result.exit_code == 2
    assert "--as-of 应为日期" in result.output


def test_export_masks_by_default_and_audits_every_export(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "a.csv", family("H001"))
    assert runner.invoke(app, ["registry", "import", str(path), "--as-of", "2025-10-01"]).exit_code == 0
    out = tmp_path / "名册.xlsx"
    result = runner.invoke(app, ["registry", "export", "--out", str(out), "--date", "2025-10-02"])
    assert result.exit_code == 0, result.output
    ws = openpyxl.load_workbook(out).active
    values = [[c.value for c in row] for row in ws.iter_rows()]
    header = values[1]
    head = dict(zip(header, values[2], strict=True))
    assert head["姓名"] == "甲*"
    assert head["公民身份号码"].startswith("5201") and "**********" in head["公民身份号码"]
    assert head["与户主关系"] == "户主" and head["人员类别"] == "低保" and head["城乡类别"] == "城市"

    refused = runner.invoke(app, ["registry", "export", "--unmasked", "--date", "2025-10-02"])
    assert refused.exit_code == 2 and "须说明理由" in refused.output

    full = tmp_path / "full.csv"
    ok = runner.invoke(
        app,
        [
            "registry",
            "export",
            "--out",
            str(full),
            "--unmasked",
            "--reason",
            "核对发放名册",
            "--date",
            "2025-10-02",
        ],
    )
    assert ok.exit_code == 0, ok.output
    text_out = full.read_text(encoding="utf-8-sig")
    assert "甲某" in text_out
    with engine.connect() as conn:
        log = conn.execute(text("SELECT actor, action, reason FROM audit_log ORDER BY id")).all()
    assert [tuple(r) for r in log] == [("cli", "export", None), ("cli", "export_unmasked", "核对发放名册")]


def test_summary_answers_as_of_a_date(settings: Settings, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "a.csv", family("H001"))
    assert runner.invoke(app, ["registry", "import", str(path), "--as-of", "2025-10-01"]).exit_code == 0
    before = runner.invoke(app, ["registry", "summary", "--date", "2023-04-30"])
    after = runner.invoke(app, ["registry", "summary", "--date", "2025-06-30"])
    assert "低保" not in before.output
    assert "│ 低保 │    1 │    3 │" in after.output


def test_demo_builds_a_province_and_reloads_unchanged(settings: Settings) -> None:
    first = runner.invoke(app, ["demo", "--persons", "20000", "--seed", "7", "--as-of", "2025-10-01"])
    assert first.exit_code == 0, first.output
    assert "20,000 人" in first.output and "贵阳市" in first.output
    assert "未通过 0" in first.output
    assert "救助测算" in first.output and "最低生活保障（低保）" in first.output
    # The month of feeds is loaded and monitored: alerts raised, quarantined rows counted.
    assert "2025-10 部门比对数据载入" in first.output and "医疗保障局" in first.output
    assert "动态监测（引擎 duckdb，第 1 次运行）" in first.output and "合计" in first.output
    new = int(re.search(r"新预警 ([\d,]+)", first.output).group(1).replace(",", ""))  # type: ignore[union-attr]
    assert new > 0
    # Case work: the caseload made recipients, the demo county's roll checked, demo accounts.
    assert "在册对象转为救助对象：新增" in first.output and "发放名册（新生成并核查）" in first.output
    assert "demo.worker" in first.output and "动态清零（全省）" in first.output
    case_rows = _case_rows(settings)
    assert case_rows["recipients"] > 0 and case_rows["payment_roll_lines"] > 0 and case_rows["users"] == 7
    second = runner.invoke(app, ["demo", "--persons", "20000", "--seed", "7", "--as-of", "2025-10-01"])
    assert "新增 0，更新 0" in second.output
    # Everything again, nothing changes: the same files load unchanged, the alerts stay as they were.
    assert f"新预警 0，更新 0，未变 {new:,}" in second.output
    assert "新增 0 个" in second.output and "已存在，未改动" in second.output
    assert _case_rows(settings) == case_rows
    assert (settings.data_dir / "population" / "persons.parquet").exists()


def test_demo_roster_imports_cleanly(settings: Settings, tmp_path: Path) -> None:
    import datetime as dt

    from doudi.registry.synthetic import generate_province, registry_roster

    province = generate_province(persons=5000, seed=3, out_dir=tmp_path / "p", as_of=dt.date(2025, 10, 1))
    roster = write_roster(registry_roster(province), tmp_path / "r.csv", encoding="gbk", with_title=True)
    result = runner.invoke(app, ["registry", "import", str(roster), "--as-of", "2025-10-01"])
    assert result.exit_code == 0, result.output
    assert "未通过" in result.output and "│      0 │" in result.output


def _case_rows(settings: Settings) -> dict[str, int]:
    """Row counts of the case-work tables (the ledger included)."""
    engine = make_engine(settings.sqlalchemy_url)
    tables = (
        "users",
        "recipients",
        "recipient_terms",
        "payment_rolls",
        "payment_roll_lines",
        "alert_work",
        "case_events",
        "household_categories",
    )
    try:
        with engine.connect() as conn:
            return {t: int(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()) for t in tables}
    finally:
        engine.dispose()
