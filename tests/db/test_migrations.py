"""The migrations build exactly the schema the models describe, on both engines."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, text

from doudi.db.models import Base


def test_migrated_schema_matches_models(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_audit_log_refuses_changes(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO audit_log (actor, action, object_type) VALUES ('a', 'export', 'registry')")
        )
    for statement in ("UPDATE audit_log SET actor = 'b'", "DELETE FROM audit_log"):
        with engine.connect() as conn:
            try:
                conn.execute(text(statement))
                conn.commit()
            except Exception as exc:  # the database refuses: IntegrityError / InternalError by engine
                assert "append-only" in str(exc)
            else:
                raise AssertionError(f"{statement} was allowed")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT actor FROM audit_log")).scalar_one() == "a"
