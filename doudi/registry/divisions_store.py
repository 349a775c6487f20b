"""The division catalogue in the operational database: MCA rows plus known villages."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
from sqlalchemy import Connection, Engine, text

from doudi.db import bulk
from doudi.divisions import Division, DivisionCatalog, get_catalog

_SCHEMA = pa.schema(
    [("code", pa.string()), ("name", pa.string()), ("area_type", pa.string()), ("source", pa.string())]
)


def _insert(conn: Connection, divisions: Sequence[Division]) -> None:
    if not divisions:
        return
    bulk.insert_arrow(
        conn,
        "divisions",
        pa.table(
            {
                "code": [d.code for d in divisions],
                "name": [d.name for d in divisions],
                "level": pa.array([int(d.level) for d in divisions], pa.int16()),
                "parent_code": [d.parent_code for d in divisions],
                "area_type": [d.area_type for d in divisions],
                "source": [d.source for d in divisions],
            }
        ),
    )


def _known_villages(conn: Connection) -> set[str]:
    return {r[0] for r in conn.execute(text("SELECT code FROM divisions WHERE level = 5"))}


def sync_mca(conn: Connection, catalog: DivisionCatalog) -> int:
    """Insert the catalogue's MCA divisions that the table does not have yet."""
    have = {r[0] for r in conn.execute(text("SELECT code FROM divisions WHERE level <= 4"))}
    missing = [d for d in catalog if d.code not in have and d.source == "mca"]
    _insert(conn, missing)
    return len(missing)


def save_villages(conn: Connection, catalog: DivisionCatalog, villages: dict[str, tuple[str, str]]) -> None:
    """Record villages first seen in a roster, given as code → (name, area_type)."""
    if not villages:
        return
    sync_mca(conn, catalog)
    have = _known_villages(conn)
    added = [
        catalog.add_village(code, name, area, "roster") for code, (name, area) in sorted(villages.items())
    ]
    _insert(conn, [d for d in added if d.code not in have])


def add_villages(conn: Connection, catalog: DivisionCatalog, villages: pa.Table, source: str) -> None:
    """Register many villages (columns code, name, area_type) in the catalogue and the table."""
    sync_mca(conn, catalog)
    have = _known_villages(conn)
    codes = villages.column("code").to_pylist()
    catalog.add_villages(
        zip(
            codes,
            villages.column("name").to_pylist(),
            villages.column("area_type").to_pylist(),
            [source] * len(codes),
            strict=True,
        )
    )
    _insert(conn, [catalog.require(c) for c in codes if c not in have])


def load_catalog(engine: Engine, province_code: str = "520000") -> DivisionCatalog:
    """The MCA catalogue plus every village the database knows."""
    catalog = get_catalog(province_code)
    with engine.connect() as conn:
        rows = bulk.fetch_arrow(
            conn, "SELECT code, name, area_type, source FROM divisions WHERE level = 5", _SCHEMA
        )
    catalog.add_villages(zip(*(rows.column(c).to_pylist() for c in _SCHEMA.names), strict=True))
    return catalog
