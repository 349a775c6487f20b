"""Bulk writes: foreign keys checked once at the end still refuse a dangling row."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from factories import family, roster
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from doudi.db import bulk
from doudi.db.models import Base
from doudi.registry import divisions_store, importer


def test_dangling_row_is_refused_and_nothing_is_kept(engine: Engine) -> None:
    row = pa.table(
        {
            "id": [1],
            "person_id": [999],
            "household_id": [999],
            "kind": ["wage"],
            "monthly_amount": pa.array(["100.00"]).cast(pa.decimal128(14, 2)),
            "valid_from": pa.array([dt.date(2025, 1, 1)], pa.date32()),
        }
    )
    with (
        pytest.raises(IntegrityError),
        engine.begin() as conn,
        bulk.foreign_keys_checked_at_end(conn, Base.metadata, ["income_items"]),
    ):
        bulk.insert_arrow(conn, "income_items", row)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM income_items")).scalar_one() == 0
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


def test_big_import_path_keeps_every_key(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importer, "BULK_KEY_CHECK_ROWS", 1)
    result = importer.import_roster_table(
        engine,
        roster(family("H001") + family("H002", seq0=31)),
        catalog=divisions_store.load_catalog(engine),
        as_of=dt.date(2025, 10, 1),
        actor="t",
        file_name="f",
        file_sha="s",
    )
    assert result.new == 6
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
        assert conn.execute(text("SELECT COUNT(*) FROM person_versions")).scalar_one() == 6


def test_fetch_arrow_reads_booleans_nulls_and_dates(engine: Engine) -> None:
    """The COPY path on PostgreSQL reads t/f booleans; both engines give the same typed table."""
    schema = pa.schema([("flag", pa.bool_()), ("day", pa.date32()), ("label", pa.string())])
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE flags (flag BOOLEAN, day DATE, label VARCHAR(10))"))
        conn.execute(
            text("INSERT INTO flags VALUES (:f, :d, :l)"),
            [
                {"f": True, "d": dt.date(2026, 11, 1), "l": "是"},
                {"f": False, "d": None, "l": ""},
                {"f": None, "d": dt.date(2026, 1, 31), "l": None},
            ],
        )
    with engine.connect() as conn:
        got = bulk.fetch_arrow(conn, "SELECT flag, day, label FROM flags ORDER BY day NULLS FIRST", schema)
    assert got.schema == schema
    assert got.to_pylist() == [
        {"flag": False, "day": None, "label": ""},
        {"flag": None, "day": dt.date(2026, 1, 31), "label": None},
        {"flag": True, "day": dt.date(2026, 11, 1), "label": "是"},
    ]


def test_fetch_arrow_binds_parameters_on_both_engines(engine: Engine) -> None:
    """Parameters reach the query on every path (on PostgreSQL, COPY with client-side binding),
    including text with quotes and percent signs."""
    schema = pa.schema([("label", pa.string()), ("day", pa.date32())])
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE notes (label VARCHAR(20), day DATE)"))
        conn.execute(
            text("INSERT INTO notes VALUES (:l, :d)"),
            [
                {"l": "100% 'quoted'", "d": dt.date(2026, 11, 1)},
                {"l": "other", "d": dt.date(2026, 10, 1)},
            ],
        )
    with engine.connect() as conn:
        got = bulk.fetch_arrow(
            conn,
            "SELECT label, day FROM notes WHERE day >= :on AND label LIKE '100%%' OR label = :other",
            schema,
            {"on": dt.date(2026, 11, 1), "other": "nothing"},
        )
    assert got.to_pylist() == [{"label": "100% 'quoted'", "day": dt.date(2026, 11, 1)}]
