"""The division catalogue in the operational database: MCA rows plus known villages."""

from __future__ import annotations

import pyarrow as pa
from sqlalchemy import Connection, Engine, text

from doudi.db import bulk
from doudi.divisions import DivisionCatalog, get_catalog

_SCHEMA = pa.schema(
    [("code", pa.string()), ("name", pa.string()), ("area_type", pa.string()), ("source", pa.string())]
)


def sync_mca(conn: Connection, catalog: DivisionCatalog) -> int:
    """Insert the catalogue's MCA divisions that the table does not have yet."""
    have = {r[0] for r in conn.execute(text("SELECT code FROM divisions WHERE level <= 4"))}
    missing = [d for d in catalog if d.code not in have and d.source == "mca"]
    if missing:
        bulk.insert_arrow(
            conn,
            "divisions",
            pa.table(
                {
                    "code": [d.code for d in missing],
                    "name": [d.name for d in missing],
                    "level": pa.array([int(d.level) for d in missing], pa.int16()),
                    "parent_code": [d.parent_code for d in missing],
                    "area_type": [d.area_type for d in missing],
                    "source": [d.source for d in missing],
                }
            ),
        )
    return len(missing)


def save_villages(conn: Connection, catalog: DivisionCatalog, villages: dict[str, tuple[str, str]]) -> None:
    """Record villages first seen in a roster, given as code → (name, area_type)."""
    if not villages:
        return
    sync_mca(conn, catalog)
    have = {r[0] for r in conn.execute(text("SELECT code FROM divisions WHERE level = 5"))}
    rows = []
    for code, (name, area) in sorted(villages.items()):
        division = catalog.add_village(code, name, area, "roster")
        if code not in have:
            rows.append(division)
    if rows:
        bulk.insert_arrow(
            conn,
            "divisions",
            pa.table(
                {
                    "code": [d.code for d in rows],
                    "name": [d.name for d in rows],
                    "level": pa.array([5] * len(rows), pa.int16()),
                    "parent_code": [d.parent_code for d in rows],
                    "area_type": [d.area_type for d in rows],
                    "source": [d.source for d in rows],
                }
            ),
        )


def add_villages(conn: Connection, catalog: DivisionCatalog, villages: pa.Table, source: str) -> None:
    """Register many villages (columns code, name, area_type) in the catalogue and the table."""
    sync_mca(conn, catalog)
    have = {r[0] for r in conn.execute(text("SELECT code FROM divisions WHERE level = 5"))}
    codes = villages.column("code").to_pylist()
    names = villages.column("name").to_pylist()
    areas = villages.column("area_type").to_pylist()
    catalog.add_villages((c, n, a, source) for c, n, a in zip(codes, names, areas, strict=True))
    keep = [i for i, c in enumerate(codes) if c not in have]
    if keep:
        bulk.insert_arrow(
            conn,
            "divisions",
            pa.table(
                {
                    "code": [codes[i] for i in keep],
                    "name": [names[i] for i in keep],
                    "level": pa.array([5] * len(keep), pa.int16()),
                    "parent_code": [codes[i][:9] for i in keep],
                    "area_type": [areas[i] for i in keep],
                    "source": [source] * len(keep),
                }
            ),
        )


def load_catalog(engine: Engine, province_code: str = "520000") -> DivisionCatalog:
    """The MCA catalogue plus every village the database knows."""
    catalog = get_catalog(province_code)
    with engine.connect() as conn:
        rows = bulk.fetch_arrow(
            conn, "SELECT code, name, area_type, source FROM divisions WHERE level = 5", _SCHEMA
        )
    catalog.add_villages(zip(*(rows.column(c).to_pylist() for c in _SCHEMA.names), strict=True))
    return catalog
