"""The append-only audit log: every unmasked view and every export is written here.

The database itself refuses UPDATE and DELETE on ``audit_log`` (see migration 0001).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, insert

from doudi.db.models import AuditEntry


def record(
    conn: Connection,
    *,
    actor: str,
    action: str,
    object_type: str,
    object_ref: str | None = None,
    division_code: str | None = None,
    reason: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one entry in the caller's transaction (so the audit and the act commit together)."""
    conn.execute(
        insert(AuditEntry).values(
            actor=actor,
            action=action,
            object_type=object_type,
            object_ref=object_ref,
            division_code=division_code,
            reason=reason,
            detail=json.dumps(detail, ensure_ascii=False, default=str) if detail else None,
        )
    )
