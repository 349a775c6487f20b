"""A small registry, staff in two townships and two counties, and alerts: the world the
case-work tests act in (synthetic people only).

Households (registry as of 2026-10-01):

=====  ==============  =============================  ==========
no     village         township                       category
=====  ==============  =============================  ==========
N001   520102001001    520102001 五里冲街道 (county 520102)  低保
N002   520102001002    520102001                      低保边缘
N003   520102001001    520102001                      (none: 其他困难)
X001   520102002001    520102002 小车河街道 (county 520102)  低保
Y001   520103001001    520103001 (county 520103)      特困
=====  ==============  =============================  ==========

Alerts (raised 2026-12-01 09:30 for period 2026-11, due 2026-12-16): one per household above,
rule ``medical_catastrophic``.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from factories import citizen_id, family, person_row, roster
from sqlalchemy import Engine, select

from doudi.auth import Actor
from doudi.auth.users import create_user
from doudi.db.models import Alert, Household
from doudi.monitor.alerts import CANDIDATE_SCHEMA, EVIDENCE_SCHEMA, merge_alerts, start_run
from doudi.registry import divisions_store
from doudi.registry.importer import import_roster_table

AS_OF = dt.date(2026, 10, 1)
RAISED = dt.datetime(2026, 12, 1, 9, 30)
PASSWORD = "correct horse battery staple"
PERIOD = "2026-11"

USERS: dict[str, tuple[str, str]] = {
    # username: (role, division)
    "village1": ("village_assistant", "520102001001"),
    "worker1": ("township_caseworker", "520102001"),
    "worker1b": ("township_caseworker", "520102001"),
    "checker1": ("township_reviewer", "520102001"),
    "worker2": ("township_caseworker", "520102002"),
    "county1": ("county_reviewer", "520102"),
    "county1b": ("county_reviewer", "520102"),
    "county2": ("county_reviewer", "520103"),
    "analyst": ("provincial_analyst", "520000"),
    "admin": ("admin", "520000"),
}


@dataclass
class World:
    actors: dict[str, Actor]
    households: dict[str, int]  # household_no → id
    alerts: dict[str, int] = field(default_factory=dict)  # household_no → alert id
    citizen_ids: dict[str, str] = field(default_factory=dict)  # household_no → head's citizen id

    def __getitem__(self, username: str) -> Actor:
        return self.actors[username]


def _rows() -> list[dict[str, Any]]:
    def at(rows: list[dict[str, Any]], village: str) -> list[dict[str, Any]]:
        return [{**r, "division_code": village} for r in rows]

    return (
        at(family("N001", wage="600", seq0=11), "520102001001")
        + at(family("N002", category="低保边缘", wage="2600", seq0=31), "520102001002")
        + at(family("N003", category="其他困难", wage="900", seq0=51), "520102001001")
        + at(family("X001", wage="300", seq0=71), "520102002001")
        + [
            person_row(
                "Y001",
                "丁某",
                "户主",
                birth="1950-01-02",
                seq=91,
                division_code="520103001001",
                category="特困",
                category_start="2022-01-01",
                wage_income="0",
            )
        ]
    )


def build_world(
    engine: Engine, *, with_alerts: bool = True, passwords: tuple[str, ...] = ("worker1",)
) -> World:
    """Load the registry, create the staff and (by default) raise one alert per household.

    Accounts named in ``passwords`` can sign in with :data:`PASSWORD` (argon2 takes ~0.1 s a
    hash, so only the accounts a test signs in as get one)."""
    rows = _rows()
    import_roster_table(
        engine,
        roster(rows),
        catalog=divisions_store.load_catalog(engine),
        as_of=AS_OF,
        actor="tester",
        file_name="world.csv",
        file_sha="world",
    )
    actors = {}
    for username, (role, division) in USERS.items():
        info = create_user(
            engine,
            username=username,
            display_name=username,
            role=role,
            division_code=division,
            password=PASSWORD if username in passwords else None,
            created_by="tester",
        )
        actors[username] = info.actor()
    with engine.connect() as conn:
        households = {no: int(i) for no, i in conn.execute(select(Household.household_no, Household.id))}
    heads = {r["household_no"]: r["citizen_id"] for r in rows if r["relation"] == "户主"}
    world = World(actors, households, citizen_ids=heads)
    if with_alerts:
        villages = {r["household_no"]: r["division_code"] for r in rows if r["relation"] == "户主"}
        world.alerts = raise_alerts(engine, villages, heads)
    return world


def candidate(household_no: str, village: str, head: str, **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "rule_id": "medical_catastrophic",
        "rule_version": 1,
        "severity": "red",
        "grain": "household",
        "subject_key": household_no,
        "event_key": "",
        "citizen_id": head,
        "person_id": None,
        "household_no": household_no,
        "registered": True,
        "division_code": village,
        "title": "医疗支出型困难",
        "explanation": "近12个月自付医疗费用 25000.00 元，超过家庭年收入。",
        "facts": json.dumps({"medical_oop_12m": "25000.00"}),
        "actions": json.dumps(["assess_temporary_assistance"]),
        "policy": "黔民发〔2021〕1号",
        "suppress_days": 90,
    }
    row.update(fields)
    return row


def raise_alerts(
    engine: Engine,
    villages: dict[str, str],
    heads: dict[str, str],
    *,
    period: str = PERIOD,
    now: dt.datetime = RAISED,
) -> dict[str, int]:
    """Merge one candidate per household as a monitoring run would; alert ids by household no."""
    run = start_run(
        engine,
        period=period,
        engine_name="duckdb",
        actor="tester",
        rules=[("medical_catastrophic", 1)],
        feed_loads=[],
    )
    cands = [candidate(no, villages[no], heads[no]) for no in sorted(villages)]
    merge_alerts(
        engine,
        run_id=run,
        period=period,
        candidates=pa.Table.from_pylist(cands, schema=CANDIDATE_SCHEMA),
        evidence=EVIDENCE_SCHEMA.empty_table(),
        now=now,
        due_days=15,
    )
    with engine.connect() as conn:
        return {
            str(no): int(i)
            for no, i in conn.execute(
                select(Alert.household_no, Alert.id).where(Alert.household_no.in_(villages))
            )
        }


__all__ = [
    "AS_OF",
    "PASSWORD",
    "PERIOD",
    "RAISED",
    "USERS",
    "World",
    "build_world",
    "citizen_id",
    "raise_alerts",
]
