"""The case ledger and optimistic locking.

:func:`record_event` appends one row to ``case_events`` (the database refuses to change or
delete them). :func:`update_versioned` changes a case row only if its ``version`` is the one
the caller read, and bumps it; otherwise it raises :class:`Conflict`, so two caseworkers
updating one case at once cannot silently overwrite each other.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, Table, insert, select

from doudi.cases.errors import Conflict
from doudi.db.models import CaseEvent


def now() -> dt.datetime:
    """Local time without a zone, to the second (the columns hold local time like func.now())."""
    return dt.datetime.now().replace(microsecond=0)


def record_event(
    conn: Connection,
    *,
    case_type: str,
    case_id: int,
    event: str,
    actor: str,
    at: dt.datetime,
    from_status: str | None = None,
    to_status: str | None = None,
    household_id: int | None = None,
    township_code: str | None = None,
    county_code: str | None = None,
    reason: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    """Append one event in the caller's transaction."""
    conn.execute(
        insert(CaseEvent).values(
            case_type=case_type,
            case_id=case_id,
            household_id=household_id,
            township_code=township_code,
            county_code=county_code if county_code else (township_code[:6] if township_code else None),
            event=event,
            from_status=from_status,
            to_status=to_status,
            actor=actor,
            at=at,
            reason=reason,
            data=json.dumps(data, ensure_ascii=False, default=str, sort_keys=True) if data else None,
        )
    )


def update_versioned(
    conn: Connection,
    table: Table,
    key_column: str,
    key: int,
    expected_version: int,
    values: dict[str, Any],
    *,
    case_type: str,
) -> int:
    """``UPDATE table SET values, version = version + 1 WHERE key = :key AND version = :expected``.

    Returns the new version; raises :class:`Conflict` when no row had that version."""
    key_col = table.c[key_column]
    version = table.c["version"]
    result = conn.execute(
        table.update()
        .where(key_col == key, version == expected_version)
        .values(**values, version=version + 1)
    )
    if result.rowcount != 1:
        raise Conflict(case_type, key, expected_version)
    return expected_version + 1


def events_of(
    conn: Connection, case_type: str, case_id: int, labels: Mapping[str, str] | None = None
) -> list[dict[str, Any]]:
    """A case's events, oldest first, their data decoded; ``label`` is the event's Chinese
    name from ``labels`` (the code itself when it has none)."""
    t = CaseEvent.__table__
    rows = conn.execute(
        select(t).where(t.c.case_type == case_type, t.c.case_id == case_id).order_by(t.c.id)
    ).mappings()
    return [
        {
            "id": e["id"],
            "event": e["event"],
            "label": (labels or {}).get(e["event"], e["event"]),
            "from_status": e["from_status"],
            "to_status": e["to_status"],
            "actor": e["actor"],
            "at": e["at"],
            "reason": e["reason"],
            "data": json.loads(e["data"]) if e["data"] else {},
        }
        for e in rows
    ]
