"""The feed API: a department token pushes files of its kinds (same validation, quarantine and
manifest as ``doudi feeds load``), reads their status and quality report; everything else is
refused in the API's one error shape."""

from __future__ import annotations

from collections.abc import Iterator

from api_support import (
    API,
    assert_error_shape,
    audit_entries,
    auth,
    issue,
    medical_csv,
    medical_row,
)
from case_world import build_world
from sqlalchemy import Engine, select
from web_client import client, login

from doudi.db.models import FeedLoad
from doudi.settings import Settings


def _push(
    c, secret: str, body: bytes, *, kind: str = "medical", period: str = "2026-11", name: str = "结算.csv"
):  # type: ignore[no-untyped-def]
    return c.post(
        f"{API}/feeds/loads",
        headers=auth(secret),
        data={"kind": kind, "period": period},
        files={"file": (name, body, "text/csv")},
    )


def test_a_good_file_is_loaded_and_its_status_read(settings: Settings, engine: Engine) -> None:
    secret = issue(engine, kinds="medical,death")
    c = client(settings)
    me = c.get(f"{API}/me", headers=auth(secret)).json()
    assert me["feed_kinds"] == ["death", "medical"] and me["username"] is None
    kinds = c.get(f"{API}/feeds/kinds", headers=auth(secret)).json()
    assert [k["kind"] for k in kinds] == ["death", "medical"]
    assert any(col["name"] == "citizen_id" and col["required"] for col in kinds[1]["columns"])

    body = medical_csv(medical_row("JS001"), medical_row("JS002", seq=23), medical_row("JS003", seq=35))
    r = _push(c, secret, body)
    assert r.status_code == 201, r.text
    load = r.json()
    assert load["status"] == "active" and load["status_label"] == "在用"
    assert (load["rows_read"], load["rows_good"], load["rows_rejected"]) == (3, 3, 0)
    assert load["file_name"] == "结算.csv" and not load["has_quarantine"] and not load["unchanged"]

    status = c.get(f"{API}/feeds/loads/{load['id']}", headers=auth(secret)).json()
    assert status == load
    listed = c.get(f"{API}/feeds/loads", headers=auth(secret), params={"kind": "medical"}).json()
    assert [x["id"] for x in listed] == [load["id"]]
    quality = c.get(f"{API}/feeds/loads/{load['id']}/quality", headers=auth(secret)).json()
    assert quality["rows_good"] == 3 and quality["kind"] == "medical"
    assert "quality_path" not in quality and "quarantine_path" not in quality  # no server paths
    with engine.connect() as conn:
        actor = conn.execute(select(FeedLoad.actor).where(FeedLoad.id == load["id"])).scalar_one()
    assert actor.startswith("token ") and "市医保局" in actor

    again = _push(c, secret, body)  # the same file again: nothing changes
    assert again.status_code == 200 and again.json()["unchanged"] and again.json()["id"] == load["id"]


def test_rejected_rows_are_quarantined_and_counted(settings: Settings, engine: Engine) -> None:
    secret = issue(engine)
    c = client(settings)
    bad_id = medical_row("JS002", id="520102196803021234")  # wrong check digit
    r = _push(c, secret, medical_csv(medical_row("JS001"), bad_id, medical_row("JS003", seq=35)))
    assert r.status_code == 201, r.text
    load = r.json()
    assert (load["rows_read"], load["rows_good"], load["rows_rejected"]) == (3, 2, 1)
    assert load["has_quarantine"]
    quality = c.get(f"{API}/feeds/loads/{load['id']}/quality", headers=auth(secret)).json()
    assert sum(quality["rejects_by_reason"].values()) == 1
    q = c.get(f"{API}/feeds/loads/{load['id']}/quarantine", headers=auth(secret))
    assert q.status_code == 200 and q.headers["content-type"].startswith("text/csv")
    assert "JS002" in q.text and "JS001" not in q.text
    (export,) = audit_entries(engine, "export")
    assert export.object_type == "feed_load" and export.object_ref == str(load["id"])


def test_malformed_files_fail_with_the_error_shape_and_a_failed_load(
    settings: Settings, engine: Engine
) -> None:
    secret = issue(engine)
    c = client(settings)
    # A file without the required columns.
    r = _push(c, secret, "姓名,备注\n甲某,无\n".encode())
    assert r.status_code == 422
    assert_error_shape(r.json(), "missing_columns")
    assert any("已记为失败" in d for d in r.json()["details"])
    # Bytes that are no spreadsheet at all.
    r = _push(c, secret, b"\x00\x01PK\x03garbage" * 50, name="结算.xlsx")
    assert r.status_code == 422
    assert_error_shape(r.json(), r.json()["code"])
    # Every row rejected: failed, and the quarantine says why.
    r = _push(c, secret, medical_csv(medical_row("JS001", id="123"), medical_row("JS002", date="2020-01-01")))
    assert r.status_code == 422
    body = r.json()
    assert_error_shape(body, "no_good_rows")
    assert any("/quarantine" in d for d in body["details"])
    loads = c.get(f"{API}/feeds/loads", headers=auth(secret)).json()
    assert [x["status"] for x in loads] == ["failed"] * 3
    assert loads[0]["error"]["code"] == "no_good_rows" and loads[0]["rows_rejected"] == 2
    assert c.get(f"{API}/feeds/loads/{loads[0]['id']}/quarantine", headers=auth(secret)).status_code == 200
    # Bad kind and period: refused before any manifest row.
    assert_error_shape(_push(c, secret, b"x", kind="nonsense").json(), "unknown_kind")
    r = _push(c, secret, b"x", period="2026-13")
    assert_error_shape(r.json(), "invalid_request")
    assert any("period" in d for d in r.json()["details"])
    with engine.connect() as conn:
        assert conn.execute(select(FeedLoad.id)).all().__len__() == 3


def test_a_token_pushes_and_reads_only_its_kinds(settings: Settings, engine: Engine) -> None:
    medical = issue(engine, "市医保局", kinds="medical")
    death = issue(engine, "市公安局", kinds="death")
    c = client(settings)
    r = _push(c, medical, b"whatever", kind="death")
    assert r.status_code == 403
    assert_error_shape(r.json(), "forbidden")
    (denied,) = audit_entries(engine, "access_denied")
    assert denied.object_type == "feed_kind" and denied.object_ref == "death"

    loaded = _push(c, medical, medical_csv(medical_row("JS001"))).json()
    r = c.get(f"{API}/feeds/loads/{loaded['id']}", headers=auth(death))
    assert r.status_code == 404
    assert_error_shape(r.json(), "not_found")
    for tail in ("/quality", "/quarantine"):
        assert c.get(f"{API}/feeds/loads/{loaded['id']}{tail}", headers=auth(death)).status_code == 404
    denied = audit_entries(engine, "access_denied")
    assert [d.object_type for d in denied] == ["feed_kind"] + ["feed_load"] * 3
    assert all("市公安局" in d.actor for d in denied[1:])
    assert c.get(f"{API}/feeds/loads", headers=auth(death)).json() == []
    assert c.get(f"{API}/feeds/loads", headers=auth(death), params={"kind": "medical"}).json() == []
    # A load that does not exist: 404, nothing to audit.
    assert c.get(f"{API}/feeds/loads/99999", headers=auth(medical)).status_code == 404
    assert len(audit_entries(engine, "access_denied")) == 4


def test_missing_unknown_and_revoked_tokens_get_401(settings: Settings, engine: Engine) -> None:
    from doudi.web.tokens import list_tokens, revoke_token

    build_world(engine, with_alerts=False)
    secret = issue(engine)
    c = client(settings)
    for headers in ({}, {"Authorization": "Bearer doudi_nope"}, {"Authorization": f"Basic {secret}"}):
        r = c.get(f"{API}/feeds/loads", headers=headers)
        assert r.status_code == 401, headers
        assert_error_shape(r.json(), "login_required")
    (info,) = list_tokens(engine)
    revoke_token(engine, info.id, revoked_by="admin")
    r = c.get(f"{API}/feeds/loads", headers=auth(secret))
    assert r.status_code == 401 and "吊销" in r.json()["message"]
    r = _push(c, secret, medical_csv(medical_row("JS001")))
    assert r.status_code == 401
    # A signed-in browser session is no API credential (so the API needs no CSRF token).
    login(c, "worker1")
    assert c.get(f"{API}/feeds/loads").status_code == 401
    assert c.get(f"{API}/alerts").status_code == 401


def test_oversized_uploads_get_413_in_the_error_shape(settings: Settings, engine: Engine) -> None:
    secret = issue(engine)
    small = settings.model_copy(update={"max_upload_mb": 1})
    c = client(small)
    big = medical_csv(*[medical_row(f"JS{i:06d}", hospital="医院" * 60) for i in range(6000)])
    assert len(big) > 1024 * 1024
    r = _push(c, secret, big)
    assert r.status_code == 413
    assert_error_shape(r.json(), "too_large")

    # Without a Content-Length (chunked) the size cannot be checked first: refused as such.
    boundary = "doudi-test-boundary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="kind"\r\n\r\nmedical\r\n',
        f'--{boundary}\r\nContent-Disposition: form-data; name="period"\r\n\r\n2026-11\r\n',
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n",
    ]

    def chunks() -> Iterator[bytes]:
        for p in parts:
            yield p.encode()
        for i in range(0, len(big), 65536):
            yield big[i : i + 65536]
        yield f"\r\n--{boundary}--\r\n".encode()

    r = c.post(
        f"{API}/feeds/loads",
        headers={**auth(secret), "Content-Type": f"multipart/form-data; boundary={boundary}"},
        content=chunks(),
    )
    assert r.status_code == 411
    assert_error_shape(r.json(), "length_required")
    with engine.connect() as conn:
        assert conn.execute(select(FeedLoad.id)).first() is None
    assert not any((settings.data_dir / "uploads").glob("*/*"))  # nothing left behind


def test_unknown_paths_wrong_methods_and_bad_parameters_keep_the_error_shape(
    settings: Settings, engine: Engine
) -> None:
    secret = issue(engine)
    c = client(settings)
    r = c.get(f"{API}/nothing-here", headers=auth(secret))
    assert r.status_code == 404
    assert_error_shape(r.json(), "not_found")
    r = c.delete(f"{API}/feeds/loads", headers=auth(secret))
    assert r.status_code == 405
    assert_error_shape(r.json(), "method_not_allowed")
    r = c.get(f"{API}/feeds/loads", headers=auth(secret), params={"limit": 0})
    assert r.status_code == 400
    assert_error_shape(r.json(), "invalid_request")
    assert any("limit" in d for d in r.json()["details"])
    r = c.get(f"{API}/feeds/loads/abc", headers=auth(secret))  # ids are digits: no such path
    assert r.status_code == 404
    assert_error_shape(r.json(), "not_found")
    r = c.get(f"{API}/feeds/loads/0", headers=auth(secret))
    assert r.status_code == 400
    assert_error_shape(r.json(), "invalid_request")
    r = c.post(f"{API}/feeds/loads", headers=auth(secret), data={"kind": "medical"})
    assert r.status_code == 400
    assert_error_shape(r.json(), "invalid_request")
