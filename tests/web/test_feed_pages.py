"""数据: uploading a department's file through the browser form, its quality report, the
quarantine download (reason required, audited) and who may do what."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from case_world import build_world
from factories import citizen_id
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from web_client import client, login

from doudi.db.models import AuditEntry, FeedLoad
from doudi.settings import Settings

HEADERS = ["结算单号", "身份证号", "姓名", "参保地区划代码", "结算日期", "定点医疗机构", "就诊类别",
           "医疗总费用（元）", "统筹支付", "个人自付", "是否大病"]  # fmt: skip
ID_A = citizen_id("1968-03-02", 11)
ID_B = citizen_id("1975-06-15", 23)


def medical_csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(HEADERS)
    w.writerows(rows)
    return out.getvalue().encode("utf-8")


def row(no: str, cid: str = ID_A, day: str = "2026-11-03") -> list[str]:
    return [no, cid, "甲某", "520102", day, "贵阳市第一人民医院", "住院", "1200.00", "900.00", "300.00", "否"]


GOOD_AND_BAD = medical_csv(
    [
        row("S1"),
        row("S2", cid="52010219800101123"),  # 17 digits
        row("S3", day="2026-10-30"),  # outside the period
        row("S4", cid=ID_B),
    ]
)


def upload(c: TestClient, token: str, content: bytes, name: str = "医保结算11月.csv", **form: str) -> Any:
    data = {"csrf_token": token, "kind": "medical", "period": "2026-11", **form}
    return c.post("/feeds", data=data, files={"file": (name, content, "text/csv")})


def test_upload_shows_the_quality_report_and_the_quarantine_download_is_audited(
    settings: Settings, engine: Engine
) -> None:
    build_world(engine, with_alerts=False, passwords=("analyst",))
    c = client(settings)
    token = login(c, "analyst")
    form = c.get("/feeds")
    assert (
        form.status_code == 200 and 'enctype="multipart/form-data"' in form.text and "医疗保障" in form.text
    )
    r = upload(c, token, GOOD_AND_BAD)
    assert r.status_code == 303
    location = r.headers["location"]
    load_id = int(location.rsplit("/", 1)[1])
    report = c.get(location)
    assert report.status_code == 200
    assert 'data-figure="rows_read">4<' in report.text
    assert 'data-figure="rows_rejected">2<' in report.text and 'data-figure="rows_good">2<' in report.text
    assert "公民身份号码应为18位" in report.text and "结算日期不在本期（2026年11月）内" in report.text
    assert "医保结算11月.csv" in report.text
    # The column mapping names the contract's fields in Chinese (the code only beside it).
    assert re.search(r"<td>医保报销金额 <span class=\"muted\">reimbursed</span></td>", report.text)
    with engine.connect() as conn:
        load = conn.execute(select(FeedLoad.__table__).where(FeedLoad.id == load_id)).one()
    assert (load.status, load.actor, load.rows_rejected) == ("active", "analyst", 2)
    assert not list((settings.data_dir / "uploads").glob("*/*"))  # the uploaded copy is gone

    listing = c.get("/feeds?kind=medical&period=2026-11")
    assert f'href="/feeds/{load_id}"' in listing.text and "在用" in listing.text

    # the quarantine file needs a reason …
    refused = c.post(f"/feeds/{load_id}/rejects", data={"csrf_token": token, "reason": "  "})
    assert refused.status_code == 400 and "须填写理由" in refused.text
    # … and is then served as it was written, the download audited with the reason
    got = c.post(f"/feeds/{load_id}/rejects", data={"csrf_token": token, "reason": "退回医保局更正"})
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
    assert "attachment" in got.headers["content-disposition"]
    lines = list(csv.reader(io.StringIO(got.content.decode("utf-8-sig"))))
    assert lines[0][:3] == ["行号", "列", "原因"] and len(lines) == 3
    assert lines[1][4] == "52010219800101123\t"
    with engine.connect() as conn:
        entries = conn.execute(
            select(AuditEntry.action, AuditEntry.object_type, AuditEntry.object_ref, AuditEntry.reason).where(
                AuditEntry.actor == "analyst"
            )
        ).all()
    assert ("export_unmasked", "feed_quarantine", str(load_id), "退回医保局更正") in entries
    assert ("feed_load", "feed_load", str(load_id), None) in entries

    # the same file again changes nothing and says so
    again = upload(c, token, GOOD_AND_BAD)
    assert again.headers["location"] == f"/feeds/{load_id}?unchanged=1"
    assert "未重复载入" in c.get(again.headers["location"]).text


def test_a_file_that_cannot_be_loaded_shows_why(settings: Settings, engine: Engine) -> None:
    build_world(engine, with_alerts=False, passwords=("analyst",))
    c = client(settings)
    token = login(c, "analyst")
    missing = medical_csv([]).replace("身份证号".encode(), "证件".encode())
    r = upload(c, token, missing + b"S1,x,y\n")
    assert r.status_code == 303
    failed = c.get(r.headers["location"])
    assert failed.status_code == 200 and "未载入" in failed.text and 'id="load-error"' in failed.text
    # refused before anything is recorded: the form says why
    bad = upload(c, token, GOOD_AND_BAD, period="2026-13")
    assert bad.status_code == 400 and "格式不对" in bad.text and "上传并校验" in bad.text
    unknown = upload(c, token, GOOD_AND_BAD, kind="nothing")
    assert unknown.status_code == 400 and "没有“nothing”这类数据" in unknown.text
    # what a department writes is shown as text (an unknown column's header here)
    evil = GOOD_AND_BAD.replace("是否大病".encode(), "是否大病,<script>alert(1)</script>".encode(), 1)
    shown = c.get(upload(c, token, evil, name="a<b>.csv").headers["location"]).text
    assert "<script>alert(1)</script>" not in shown
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in shown and "a_b_.csv" in shown


def test_oversized_upload_is_refused_before_reading(settings: Settings, engine: Engine) -> None:
    build_world(engine, with_alerts=False, passwords=("analyst",))
    small = settings.model_copy(update={"max_upload_mb": 1})
    c = client(small)
    token = login(c, "analyst")
    r = upload(c, token, GOOD_AND_BAD + b"#" * (1024 * 1024 + 10))
    assert r.status_code == 413 and "超过 1 MB" in r.text
    with engine.connect() as conn:
        assert conn.execute(select(FeedLoad.id)).first() is None


def test_who_may_upload_and_download(settings: Settings, engine: Engine) -> None:
    build_world(engine, with_alerts=False, passwords=("analyst", "worker1", "county1"))
    c = client(settings)
    token = login(c, "analyst")
    load_id = int(upload(c, token, GOOD_AND_BAD).headers["location"].rsplit("/", 1)[1])
    for username in ("worker1", "county1"):
        other = client(settings)
        t = login(other, username)
        listing = other.get("/feeds")
        assert listing.status_code == 200 and "上传并校验" not in listing.text  # the manifest, no form
        detail = other.get(f"/feeds/{load_id}")
        assert detail.status_code == 200 and "下载未通过清单" not in detail.text
        assert upload(other, t, GOOD_AND_BAD).status_code == 403
        denied = other.post(f"/feeds/{load_id}/rejects", data={"csrf_token": t, "reason": "看看"})
        assert denied.status_code == 403 and "无权" in denied.text
    assert c.get("/feeds/999999").status_code == 404
    assert c.get(f"/feeds/{2**40}").status_code == 400  # beyond the column: refused, not a 500


def test_upload_and_download_need_the_csrf_token(settings: Settings, engine: Engine) -> None:
    build_world(engine, with_alerts=False, passwords=("analyst",))
    c = client(settings)
    token = login(c, "analyst")
    r = c.post(
        "/feeds",
        data={"kind": "medical", "period": "2026-11"},
        files={"file": ("a.csv", GOOD_AND_BAD, "text/csv")},
    )
    assert r.status_code == 403 and "安全校验未通过" in r.text
    with engine.connect() as conn:
        assert conn.execute(select(FeedLoad.id)).first() is None
    load_id = int(upload(c, token, GOOD_AND_BAD).headers["location"].rsplit("/", 1)[1])
    forged = c.post(f"/feeds/{load_id}/rejects", data={"csrf_token": "forged", "reason": "x"})
    assert forged.status_code == 403
    assert re.search(r'name="csrf_token" value="[^"]+"', c.get(f"/feeds/{load_id}").text)
