"""家庭 pages on both databases: search POSTed and paged, the household's file masked and
scoped, "show full" with a reason, the programs' assessment and the feed matches, escaping."""

from __future__ import annotations

import re
from typing import Any

from case_world import AS_OF, World, build_world
from factories import family, person_row, roster
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from web_client import client, login

from doudi.db.models import AuditEntry, Household
from doudi.registry import divisions_store
from doudi.registry.importer import import_roster_table
from doudi.settings import Settings

SCRIPT = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def signed_in(settings: Settings, username: str) -> tuple[TestClient, str]:
    c = client(settings)
    return c, login(c, username)


def audit(engine: Engine, action: str) -> list[tuple[str, str, str | None, str | None]]:
    with engine.connect() as conn:
        return [
            (r.actor, r.object_type, r.object_ref, r.reason)
            for r in conn.execute(
                select(
                    AuditEntry.actor, AuditEntry.object_type, AuditEntry.object_ref, AuditEntry.reason
                ).where(AuditEntry.action == action)
            )
        ]


def add_households(engine: Engine, rows: list[dict[str, Any]]) -> dict[str, int]:
    import_roster_table(
        engine,
        roster(rows),
        catalog=divisions_store.load_catalog(engine),
        as_of=AS_OF,
        actor="tester",
        file_name="more.csv",
        file_sha="more",
    )
    with engine.connect() as conn:
        return {no: int(i) for no, i in conn.execute(select(Household.household_no, Household.id))}


def listed(html: str) -> list[str]:
    return re.findall(r'<a href="/households/\d+">([^<]+)</a>', html)


def search(c: TestClient, token: str, **criteria: Any) -> Any:
    return c.post("/households/search", data={**criteria, "csrf_token": token})


def test_search_is_posted_scoped_masked_and_paged(settings: Settings, engine: Engine) -> None:
    world = build_world(engine, with_alerts=False, passwords=("worker1", "worker2", "analyst"))
    c, token = signed_in(settings, "worker1")
    first = c.get("/households")
    assert first.status_code == 200 and listed(first.text) == ["N001", "N003", "N002"]
    head = world.citizen_ids["N001"]
    r = search(c, token, id_tail=head[-4:])
    assert r.status_code == 200 and listed(r.text) == ["N001"]
    assert head not in r.text and f"{head[:4]}**********{head[-4:]}" in r.text and "甲*" in r.text
    assert head[-4:] not in str(r.url)  # the criteria stay in the body
    assert listed(search(c, token, name="甲某").text) == ["N001", "N003", "N002"]
    assert listed(search(c, token, household_no="N002").text) == ["N002"]
    assert listed(search(c, token, division="520102001002").text) == ["N002"]
    # An HTMX search swaps the results only.
    partial = c.post(
        "/households/search",
        data={"name": "甲某", "csrf_token": token},
        headers={"HX-Request": "true", "HX-Target": "results"},
    )
    assert "<html" not in partial.text and listed(partial.text) == ["N001", "N003", "N002"]
    # worker2's township: not found, and another township's division is refused (logged).
    other, other_token = signed_in(settings, "worker2")
    assert listed(search(other, other_token, id_tail=head[-4:]).text) == []
    r = search(other, other_token, division="520102001001")
    assert r.status_code == 404 and "不在您的管辖范围内" in r.text
    assert ("worker2", "division", "520102001001", None) in audit(engine, "access_denied")
    # Bad or too wide criteria get a Chinese message.
    r = search(c, token, id_tail="12")
    assert r.status_code == 400 and "后 4 位" in r.text
    r = search(c, token, name="甲\x00某")  # PostgreSQL cannot even compare a NUL
    assert r.status_code == 400 and "控制字符" in r.text
    analyst, analyst_token = signed_in(settings, "analyst")
    assert "请输入查询条件" in analyst.get("/households").text
    r = search(analyst, analyst_token, id_tail="1234")
    assert r.status_code == 400 and "查询范围太大" in r.text
    assert listed(search(analyst, analyst_token, id_tail=head).text) == ["N001"]


def test_search_pages_post_their_criteria(settings: Settings, engine: Engine) -> None:
    build_world(engine, with_alerts=False, passwords=("worker1",))
    rows = [r for i in range(20) for r in family(f"P{i:03d}", seq0=101 + 4 * i)]
    add_households(engine, [{**r, "division_code": "520102001002"} for r in rows])
    c, token = signed_in(settings, "worker1")
    page1 = search(c, token, name="甲某")
    assert "共 23 户，第 1 / 2 页" in page1.text and len(listed(page1.text)) == 20
    pager = page1.text[page1.text.index('class="pager"') :]
    assert 'name="name" value="甲某"' in pager and 'name="page" value="2"' in pager
    page2 = search(c, token, name="甲某", page="2")
    assert len(listed(page2.text)) == 3 and "第 2 / 2 页" in page2.text


def test_household_file_shows_members_history_chain_and_is_scoped(settings: Settings, engine: Engine) -> None:
    world = build_world(engine, with_alerts=True, passwords=("worker1", "worker2"))
    hid = world.households["N001"]
    c, token = signed_in(settings, "worker1")
    page = c.get(f"/households/{hid}")
    assert page.status_code == 200
    text = page.text
    assert "户 N001" in text and "南明区五里冲街道001" in text
    for shown in (
        "户主",
        "配偶",
        "子女",
        "甲*",
        "乙*",
        "丙*",
        "义务教育",
        "工资性收入",
        "600.00",
        "低保",
        "2023-05-01",
    ):
        assert shown in text, shown
    assert world.citizen_ids["N001"] not in text and "甲某" not in text
    assert f'href="/alerts/{world.alerts["N001"]}"' in text  # its alert, and in the chain
    chain = text[text.index('id="chain"') :]
    assert "医疗支出型困难" in chain
    assert f'hx-get="/households/{hid}/assessment"' in text and f'hx-get="/households/{hid}/feeds"' in text

    assessment = c.get(f"/households/{hid}/assessment", headers={"HX-Request": "true"})
    assert assessment.status_code == 200 and "<html" not in assessment.text
    assert "最低生活保障（低保）" in assessment.text and "低保标准" in assessment.text
    assert "最低生活保障标准（按月）" in assessment.text  # a parameter with its description
    full_page = c.get(f"/households/{hid}/assessment")
    assert "<html" in full_page.text and "救助政策测算" in full_page.text
    feeds = c.get(f"/households/{hid}/feeds", headers={"HX-Request": "true"})
    assert feeds.status_code == 200 and "现行的部门数据中没有本户成员的记录" in feeds.text

    other, _ = signed_in(settings, "worker2")
    for path in (f"/households/{hid}", f"/households/{hid}/assessment", f"/households/{hid}/feeds"):
        r = other.get(path)
        assert r.status_code == 404 and "不在您的管辖范围内" in r.text, path
    assert audit(engine, "access_denied").count(("worker2", "household", str(hid), None)) == 3
    assert c.get("/households/999999").status_code == 404
    assert c.get(f"/households/{2**64}").status_code == 400
    assert c.post(f"/households/{hid}/unmask", data={"reason": "x"}).status_code == 403  # no token
    assert c.post("/households/search", data={"name": "甲某"}).status_code == 403
    assert search(c, "forged", name="甲某").status_code == 403
    assert token


def test_show_full_needs_a_reason_and_is_audited(settings: Settings, engine: Engine) -> None:
    world = build_world(engine, with_alerts=False, passwords=("worker1",))
    hid = world.households["N001"]
    c, token = signed_in(settings, "worker1")
    r = c.post(f"/households/{hid}/unmask", data={"reason": " ", "csrf_token": token})
    assert r.status_code == 400 and "需要填写理由" in r.text and "甲某" not in r.text
    r = c.post(f"/households/{hid}/unmask", data={"reason": "办理申请需核对身份", "csrf_token": token})
    assert r.status_code == 200 and "甲某" in r.text and world.citizen_ids["N001"] in r.text
    assert "已记入审计日志" in r.text
    assert audit(engine, "view_unmasked") == [("worker1", "household", str(hid), "办理申请需核对身份")]
    assert "甲某" not in c.get(f"/households/{hid}").text


def test_a_name_with_markup_shows_as_text(settings: Settings, engine: Engine) -> None:
    world: World = build_world(engine, with_alerts=False, passwords=("worker1",))
    ids = add_households(
        engine,
        [
            person_row(
                "S001",
                SCRIPT,
                "户主",
                seq=201,
                category="低保",
                category_start="2024-01-01",
                wage_income="100",
            ),
            person_row("S001", "赵某", "配偶", seq=202),
        ],
    )
    assert world.households
    c, token = signed_in(settings, "worker1")
    hid = ids["S001"]
    r = c.post(f"/households/{hid}/unmask", data={"reason": "核对", "csrf_token": token})
    assert r.status_code == 200 and SCRIPT not in r.text and ESCAPED in r.text
    masked = c.get(f"/households/{hid}").text
    assert SCRIPT not in masked and "&lt;" in masked  # the first character, escaped
    found = search(c, token, name=SCRIPT)
    assert listed(found.text) == ["S001"] and SCRIPT not in found.text
