"""Household search and the household file (doudi.registry.households): scoped in SQL, masked,
unmasked only with a reason and audited."""

from __future__ import annotations

import datetime as dt

import pytest
from case_world import build_world
from sqlalchemy import Engine, select

from doudi.auth.scope import NotFound
from doudi.cases.errors import CaseError
from doudi.db.models import AuditEntry
from doudi.registry.households import (
    SearchError,
    divisions_in_scope,
    household_assessment,
    household_detail,
    household_feed_matches,
    in_scope,
    search_households,
)

TODAY = dt.date(2026, 11, 20)


def _audit(engine: Engine, action: str) -> list[tuple[str, str, str | None]]:
    with engine.connect() as conn:
        return [
            (r.actor, r.object_ref, r.reason)
            for r in conn.execute(
                select(AuditEntry.actor, AuditEntry.object_ref, AuditEntry.reason).where(
                    AuditEntry.action == action
                )
            )
        ]


def test_search_by_id_tail_name_and_division_stays_in_scope(engine: Engine) -> None:
    world = build_world(engine, with_alerts=False, passwords=())
    head = world.citizen_ids["N001"]
    found = search_households(engine, world["worker1"], id_tail=head[-4:])
    assert [h.household_no for h in found.rows] == ["N001"] and found.total == 1
    hit = found.rows[0]
    assert hit.head_citizen_id == head[:4] + "*" * 10 + head[-4:]  # masked
    assert hit.head_name == "甲*" and hit.member_count == 3 and hit.category_labels == "低保"
    assert hit.division_name == "五里冲街道001"  # the roster's village name (it repeats the township's)
    # The same person is outside worker2's township: nothing, not an error.
    assert search_households(engine, world["worker2"], id_tail=head[-4:]).total == 0
    # Everyone in the township is called 甲某 at the head: three households, by division and number.
    by_name = search_households(engine, world["worker1"], name="甲某")
    assert [h.household_no for h in by_name.rows] == ["N001", "N003", "N002"]
    assert search_households(engine, world["county1"], name="甲某").total == 4  # N00x + X001
    # A division inside the scope narrows; the scope alone lists the township's households.
    assert search_households(engine, world["worker1"], division="520102001002").total == 1
    assert search_households(engine, world["worker1"]).total == 3
    # Paging.
    first = search_households(engine, world["worker1"], page_size=2)
    second = search_households(engine, world["worker1"], page_size=2, page=2)
    assert first.pages == 2 and len(first.rows) == 2 and [h.household_no for h in second.rows] == ["N002"]
    # A full ID finds the household even for the province.
    assert [h.household_no for h in search_households(engine, world["analyst"], id_tail=head).rows] == [
        "N001"
    ]
    assert search_households(engine, world["worker1"], household_no="N002").total == 1


def test_search_refuses_a_division_outside_the_scope_and_audits_it(engine: Engine) -> None:
    world = build_world(engine, with_alerts=False, passwords=())
    with pytest.raises(NotFound):
        search_households(engine, world["worker1"], division="520102002001")
    assert _audit(engine, "access_denied") == [("worker1", "520102002001", None)]


def test_search_input_is_checked_and_too_wide_searches_are_refused(engine: Engine) -> None:
    world = build_world(engine, with_alerts=False, passwords=())
    for bad in ("12", "12a4", "x" * 19):
        with pytest.raises(SearchError) as err:
            search_households(engine, world["worker1"], id_tail=bad)
        assert err.value.code == "bad_id_tail" and "后 4 位" in err.value.message_zh
    with pytest.raises(SearchError) as err:
        search_households(engine, world["analyst"], id_tail="1234")
    assert err.value.code == "too_wide"
    with pytest.raises(SearchError):
        search_households(engine, world["worker1"], division="abc")
    # Full-width digits and a lower-case x are what people type.
    head = world.citizen_ids["N002"]
    typed = head[-4:].translate(str.maketrans("0123456789X", "０１２３４５６７８９ｘ"))
    assert search_households(engine, world["worker1"], id_tail=typed).total == 1


def test_detail_is_masked_scoped_and_unmasked_only_with_a_reason(engine: Engine) -> None:
    world = build_world(engine, with_alerts=True, passwords=())
    hid = world.households["N001"]
    d = household_detail(engine, world["worker1"], hid, today=TODAY)
    assert d.household_no == "N001" and d.division_code == "520102001001"
    assert [m.relation for m in d.members] == ["head", "spouse", "child"]
    assert all("*" in m.name and "*" in m.citizen_id for m in d.members)
    assert d.monthly_income == 600 and [c.label for c in d.current_categories] == ["低保"]
    assert d.categories[0].start_date == dt.date(2023, 5, 1)
    assert [i.kind_label for i in d.incomes] == ["工资性收入"] and d.incomes[0].member == "甲*"
    assert len(d.versions) == 1 and d.versions[0].member_count == 3
    assert [a.id for a in d.alerts] == [world.alerts["N001"]] and d.alerts[0].status_label == "待分派"
    assert [c for c, _ in d.divisions] == ["520102", "520102001", "520102001001"]
    assert d.place == "南明区五里冲街道001"
    assert _audit(engine, "view_unmasked") == []

    with pytest.raises(CaseError) as err:
        household_detail(engine, world["worker1"], hid, unmasked=True, reason=" ")
    assert err.value.code == "reason_required"
    full = household_detail(engine, world["worker1"], hid, unmasked=True, reason="入户核查需要核对身份")
    assert full.members[0].name == "甲某" and full.members[0].citizen_id == world.citizen_ids["N001"]
    assert _audit(engine, "view_unmasked") == [("worker1", str(hid), "入户核查需要核对身份")]

    # Another township's household does not exist for worker2 (and the attempt is logged).
    with pytest.raises(NotFound):
        household_detail(engine, world["worker2"], hid)
    assert ("worker2", str(hid), None) in _audit(engine, "access_denied")
    assert in_scope(engine, world["county1"], hid) and not in_scope(engine, world["worker2"], hid)
    with pytest.raises(NotFound):
        household_detail(engine, world["worker1"], 999_999)


def test_assessment_and_feed_matches(engine: Engine) -> None:
    world = build_world(engine, with_alerts=False, passwords=())
    hid = world.households["N001"]
    a = household_assessment(engine, world["worker1"], hid, on=TODAY)
    programs = {p.program: p for p in a.programs}
    assert set(programs) >= {"dibao", "tekun", "marginal", "temporary_assistance"}
    assert programs["dibao"].eligible and programs["dibao"].monthly_amount > 0
    assert "低保标准" in programs["dibao"].summary and programs["dibao"].parameters
    assert a.members == 3 and a.categories == ("dibao",)
    feeds = household_feed_matches(engine, world["worker1"], hid, on=TODAY)
    assert feeds.matches == () and {s["kind"] for s in feeds.sources} >= {"vehicle", "death"}
    with pytest.raises(NotFound):
        household_assessment(engine, world["worker2"], hid)
    with pytest.raises(NotFound):
        household_feed_matches(engine, world["worker2"], hid)


def test_divisions_in_scope(engine: Engine) -> None:
    world = build_world(engine, with_alerts=False, passwords=())
    codes = [d.code for d in divisions_in_scope(engine, world["worker1"])]
    assert codes[0] == "520102001" and "520102001001" in codes and "520102002001" not in codes
    assert all(c.startswith("520102001") for c in codes)


def test_division_names_come_from_memory_and_are_read_again_after_their_ttl(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every page names the villages of its rows; the names are kept in the process for
    NAMES_TTL_S (they change only when the divisions are imported again)."""
    from sqlalchemy import update

    from doudi.db.models import DivisionRow
    from doudi.registry import households

    build_world(engine, with_alerts=False, passwords=())
    village = "520102001002"
    before = households.division_names(engine, {village})[village]
    assert before.startswith("五里冲街道")
    with engine.begin() as conn:
        conn.execute(update(DivisionRow).where(DivisionRow.code == village).values(name="五里冲街道新村"))
    assert households.division_names(engine, {village})[village] == before  # from memory
    monkeypatch.setattr(households, "NAMES_TTL_S", -1.0)
    assert households.division_names(engine, {village})[village] == "五里冲街道新村"
