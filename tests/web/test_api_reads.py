"""Reading alerts through the API with a user token: exactly the user's scope, IDs masked,
another township's alert a 404 written to the audit log."""

from __future__ import annotations

from api_support import API, add_evidence, assert_error_shape, audit_entries, auth, issue
from case_world import build_world
from sqlalchemy import Engine
from web_client import client

from doudi.auth.users import set_active
from doudi.settings import Settings


def test_a_user_token_reads_the_users_alerts_masked(settings: Settings, engine: Engine) -> None:
    world = build_world(engine, passwords=())
    head = world.citizen_ids["N001"]
    add_evidence(engine, "N001", "520102001001", head)
    secret = issue(engine, "区救助平台", kinds=None, user="worker1")
    c = client(settings)
    me = c.get(f"{API}/me", headers=auth(secret)).json()
    assert me["username"] == "worker1" and me["division_code"] == "520102001" and me["feed_kinds"] == []

    page = c.get(f"{API}/alerts", headers=auth(secret)).json()
    assert page["total"] == 3 and page["pages"] == 1
    assert sorted(a["household_no"] for a in page["items"]) == ["N001", "N002", "N003"]
    assert all("*" in a["citizen_id"] for a in page["items"])
    assert head not in str(page)

    detail = c.get(f"{API}/alerts/{world.alerts['N001']}", headers=auth(secret)).json()
    assert detail["household_no"] == "N001" and detail["status"] == "open"
    assert detail["explanation"] and detail["facts"]
    (ev,) = detail["evidence"]
    assert ev["department"] == "医疗保障局" and ev["detail"]["out_of_pocket"] == "25000.00"
    assert "*" in ev["citizen_id"] and head not in str(detail)

    # Filters and paging, as in the inbox.
    two = c.get(f"{API}/alerts", headers=auth(secret), params={"page_size": 2, "page": 2}).json()
    assert (two["total"], two["pages"], len(two["items"])) == (3, 2, 1)
    assert c.get(f"{API}/alerts", headers=auth(secret), params={"status": "closed"}).json()["total"] == 0
    assert c.get(f"{API}/alerts", headers=auth(secret), params={"severity": "red"}).json()["total"] == 3
    r = c.get(f"{API}/alerts", headers=auth(secret), params={"severity": "purple"})
    assert r.status_code == 400
    assert_error_shape(r.json(), "invalid_request")


def test_another_townships_alert_is_not_found_and_audited(settings: Settings, engine: Engine) -> None:
    world = build_world(engine, passwords=())
    worker = issue(engine, "乡镇系统", kinds=None, user="worker1")
    county = issue(engine, "县系统", kinds=None, user="county1")
    c = client(settings)
    r = c.get(f"{API}/alerts/{world.alerts['X001']}", headers=auth(worker))
    assert r.status_code == 404
    assert_error_shape(r.json(), "not_found")
    (denied,) = audit_entries(engine, "access_denied")
    assert denied.actor == "worker1" and denied.object_type == "alert"
    assert denied.object_ref == str(world.alerts["X001"])
    # Unknown alert: the same answer, nothing audited.
    assert c.get(f"{API}/alerts/987654", headers=auth(worker)).status_code == 404
    assert len(audit_entries(engine, "access_denied")) == 1
    # The county reviewer's token sees both townships of the county, not the other county.
    listed = c.get(f"{API}/alerts", headers=auth(county)).json()
    assert sorted(a["household_no"] for a in listed["items"]) == ["N001", "N002", "N003", "X001"]
    assert c.get(f"{API}/alerts/{world.alerts['Y001']}", headers=auth(county)).status_code == 404


def test_department_tokens_and_disabled_users_cannot_read(settings: Settings, engine: Engine) -> None:
    world = build_world(engine, passwords=())
    department = issue(engine, "市医保局", kinds="medical")
    worker = issue(engine, "乡镇系统", kinds=None, user="worker1")
    c = client(settings)
    r = c.get(f"{API}/alerts", headers=auth(department))
    assert r.status_code == 403
    assert_error_shape(r.json(), "forbidden")
    assert c.get(f"{API}/alerts/{world.alerts['N001']}", headers=auth(department)).status_code == 403
    # A user token cannot push feeds unless it was given kinds.
    assert c.get(f"{API}/feeds/loads", headers=auth(worker)).status_code == 403
    set_active(engine, "worker1", False)
    r = c.get(f"{API}/alerts", headers=auth(worker))
    assert r.status_code == 401
    assert_error_shape(r.json(), "login_required")


def test_households_are_searched_by_post_and_read_masked(settings: Settings, engine: Engine) -> None:
    world = build_world(engine, passwords=())
    head = world.citizen_ids["N001"]
    add_evidence(engine, "N001", "520102001001", head)
    secret = issue(engine, "区救助平台", kinds=None, user="worker1")
    c = client(settings)

    everything = c.post(f"{API}/households/search", headers=auth(secret), json={}).json()
    assert sorted(h["household_no"] for h in everything["items"]) == ["N001", "N002", "N003"]
    found = c.post(f"{API}/households/search", headers=auth(secret), json={"id_tail": head[-4:]}).json()
    assert [h["household_no"] for h in found["items"]] == ["N001"]
    hit = found["items"][0]
    assert "*" in hit["head_citizen_id"] and hit["head_name"] != "甲某" and head not in str(found)
    # The criteria never go in the URL: a GET search does not exist.
    assert c.get(f"{API}/households/search", headers=auth(secret)).status_code in (400, 404, 405)
    r = c.post(f"{API}/households/search", headers=auth(secret), json={"id_tail": "12"})
    assert r.status_code == 400
    assert_error_shape(r.json(), "invalid_request")
    assert any("id_tail" in d for d in r.json()["details"])
    r = c.post(f"{API}/households/search", headers=auth(secret), json={"nickname": "x"})
    assert r.status_code == 400
    assert_error_shape(r.json(), "invalid_request")

    hid = world.households["N001"]
    detail = c.get(f"{API}/households/{hid}", headers=auth(secret)).json()
    assert detail["household_no"] == "N001" and len(detail["members"]) == 3
    assert all("*" in m["citizen_id"] for m in detail["members"])
    assert {m["name"] for m in detail["members"]}.isdisjoint({"甲某", "乙某", "丙某"})
    assert [a["id"] for a in detail["alerts"]] == [world.alerts["N001"]]
    assert detail["evidence"][0]["department"] == "医疗保障局" and head not in str(detail)
    assert detail["categories"][0]["label"]

    assessed = c.get(f"{API}/households/{hid}/assessment", headers=auth(secret)).json()
    assert assessed["household_id"] == hid and assessed["programs"]
    assert all(p["summary"] for p in assessed["programs"])
    matches = c.get(f"{API}/households/{hid}/feed-matches", headers=auth(secret)).json()
    assert matches["household_id"] == hid and matches["matches"] == []


def test_another_townships_household_is_not_found_and_audited(settings: Settings, engine: Engine) -> None:
    world = build_world(engine, passwords=())
    secret = issue(engine, "乡镇系统", kinds=None, user="worker1")
    c = client(settings)
    other = world.households["X001"]
    for tail in ("", "/assessment", "/feed-matches"):
        r = c.get(f"{API}/households/{other}{tail}", headers=auth(secret))
        assert r.status_code == 404, tail
        assert_error_shape(r.json(), "not_found")
    denied = audit_entries(engine, "access_denied")
    assert [(d.actor, d.object_type, d.object_ref) for d in denied] == [
        ("worker1", "household", str(other))
    ] * 3
    # A search narrowed to another township: refused, audited, nothing listed.
    r = c.post(f"{API}/households/search", headers=auth(secret), json={"division": "520102002"})
    assert r.status_code == 404
    assert len(audit_entries(engine, "access_denied")) == 4
    # Searching the whole scope never returns the other township's household.
    found = c.post(f"{API}/households/search", headers=auth(secret), json={"household_no": "X001"}).json()
    assert found["total"] == 0
