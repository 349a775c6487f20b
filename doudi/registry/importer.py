"""Roster import: text rows → checked households → registry with history.

The same path serves ``doudi registry import FILE`` and the synthetic province, so what
the demo loads has passed the same checks as a county's spreadsheet.

Counting: every input row is exactly one of new, updated, unchanged or rejected, so
``read = new + updated + unchanged + rejected`` always holds. A row is *new* when its
person is not in the registry yet, *updated* when the person's data, income or household
changed, *unchanged* otherwise. Households in the file are compared whole: members who
are no longer listed leave the household (their records are closed, not deleted), unless
some row of that household was rejected — then nobody is removed from it, because the
missing member might be the rejected row.

Dates: a household seen for the first time is on record from its 纳入日期 (category start),
so "who was in 低保 on 2025-06-30" can be answered from a first roster; every later change
(new version, new member, category added or ended) takes effect on the import's ``as_of``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, Engine, insert, text

from doudi.db import bulk, duck
from doudi.db.models import Base, ImportRun
from doudi.divisions import DivisionCatalog
from doudi.registry import divisions_store
from doudi.registry.normalize import INCOME_FIELDS, PROPERTY_FIELDS, Normalised, normalise_roster
from doudi.registry.schema import MONEY

log = logging.getLogger(__name__)

REGISTRY_TABLES = (
    "households",
    "household_versions",
    "persons",
    "person_versions",
    "income_items",
    "property_items",
    "household_categories",
)

# From this many rows on, foreign keys are checked in one pass after the load (PostgreSQL).
BULK_KEY_CHECK_ROWS = 100_000

PERSON_FIELDS = (
    "name",
    "sex",
    "birth_date",
    "relation",
    "disability_kind",
    "disability_grade",
    "self_care_failed_items",
    "serious_illness",
    "schooling",
    "employment",
)


@dataclass
class ImportResult:
    """What an import did. ``rows_*`` count input rows; ``households_*`` count households."""

    import_id: int
    read: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    households_new: int = 0
    households_updated: int = 0
    households_unchanged: int = 0
    members_left: int = 0
    categories_opened: int = 0
    categories_closed: int = 0
    new_villages: int = 0
    rejects_path: str | None = None
    rejects: pa.Table | None = field(default=None, repr=False)
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        d = asdict(self)
        d.pop("rejects")
        return d


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def import_roster_table(
    engine: Engine,
    raw: pa.Table,
    *,
    catalog: DivisionCatalog,
    as_of: dt.date,
    actor: str,
    file_name: str,
    file_sha: str,
    kind: str = "roster",
    progress: Callable[[str], None] | None = None,
) -> ImportResult:
    """Check ``raw`` (roster text rows) and write what passes to the registry.

    Pass ``raw`` without keeping another reference to it: it is dropped once checked, so a
    big roster is not held in memory twice while the registry is written.
    """
    say = progress or (lambda _msg: None)
    say("校验")
    n = raw.num_rows
    norm = normalise_roster(raw, catalog, as_of=as_of)
    con = duck.connect()
    con.execute("SET memory_limit = '1GB'")  # the import's joins are small; leave memory to Arrow
    try:
        rows = _with_household_checks(con, norm, n)
        ok = ~norm.problems.rejected_mask(n)
        rejects = _rejects_table(norm, raw)
        new_villages = norm.new_villages
        good = rows if ok.all() else rows.filter(pa.array(ok))
        rejected_households = _rejected_households(rows, ok)
        del raw, norm, rows  # from here on only the rows that passed are needed
        say("比对")
        households = _households(con, good, as_of)
        persons = _persons(con, good)
        del good
        duck.release_arrow_memory()
        with engine.begin() as conn:
            bulk.lock_for_write(conn, REGISTRY_TABLES)
            import_id = _start_import(conn, kind, file_name, file_sha, as_of, actor)
            result = ImportResult(import_id=import_id, read=n, rejects=rejects, rejected=rejects.num_rows)
            divisions_store.save_villages(conn, catalog, new_villages)
            result.new_villages = len(new_villages)
            say("写入")
            # A big load checks its foreign keys once at the end rather than per row.
            big = persons.num_rows >= BULK_KEY_CHECK_ROWS
            with (
                bulk.foreign_keys_checked_at_end(conn, Base.metadata, REGISTRY_TABLES)
                if big
                else contextlib.nullcontext()
            ):
                status = _apply(conn, con, result, households, persons, rejected_households, as_of, import_id)
            result.new = int((status == "new").sum())
            result.updated = int((status == "updated").sum())
            result.unchanged = int((status == "unchanged").sum())
            assert result.read == result.new + result.updated + result.unchanged + result.rejected
            conn.execute(
                text(
                    "UPDATE imports SET status='done', finished_at=:t, rows_read=:r, rows_new=:nw, "
                    "rows_updated=:u, rows_unchanged=:un, rows_rejected=:rj, summary=:s WHERE id=:id"
                ),
                {
                    "t": dt.datetime.now(),
                    "r": result.read,
                    "nw": result.new,
                    "u": result.updated,
                    "un": result.unchanged,
                    "rj": result.rejected,
                    "s": json.dumps(result.summary(), ensure_ascii=False),
                    "id": import_id,
                },
            )
    finally:
        con.close()
    return result


def _start_import(conn: Connection, kind: str, file_name: str, sha: str, as_of: dt.date, actor: str) -> int:
    row = conn.execute(
        insert(ImportRun)
        .values(
            kind=kind,
            file_name=file_name,
            file_sha256=sha,
            as_of=as_of,
            actor=actor,
            status="running",
            rows_read=0,
            rows_new=0,
            rows_updated=0,
            rows_unchanged=0,
            rows_rejected=0,
        )
        .returning(ImportRun.id)
    )
    return int(row.scalar_one())


def _with_household_checks(con: duckdb.DuckDBPyConnection, norm: Normalised, n: int) -> pa.Table:
    """Add the problems only visible across rows: one person in two households, a person
    listed twice, a household without (or with two) heads. Returns the rows with ``_i``."""
    t = norm.table.append_column("_i", pa.array(np.arange(n, dtype=np.int64)))
    ok = ~norm.problems.rejected_mask(n)
    con.register("t", t.append_column("_ok", pa.array(ok)))
    two_households = con.sql(
        """
        WITH v AS (SELECT * FROM t WHERE _ok),
        m AS (SELECT citizen_id, string_agg(DISTINCT household_no, '、' ORDER BY household_no) AS hhs
              FROM v GROUP BY citizen_id HAVING count(DISTINCT household_no) > 1)
        SELECT v._i, '同一人登记在多个家庭中（户编号：' || m.hhs || '），请核实后只保留一处' AS reason
        FROM v JOIN m USING (citizen_id)
        """
    ).to_arrow_table()
    _add(norm, two_households, "citizen_id", n)
    repeated = con.sql(
        """
        SELECT _i, '同一户内重复登记（与第' || first_row || '行为同一人）' AS reason FROM (
            SELECT _i, row_number() OVER w AS k, first_value(_row) OVER w AS first_row
            FROM t WHERE _ok WINDOW w AS (PARTITION BY citizen_id, household_no ORDER BY _i)
        ) WHERE k > 1
        """
    ).to_arrow_table()
    _add(norm, repeated, "citizen_id", n)
    ok = ~norm.problems.rejected_mask(n)
    con.unregister("t")
    con.register("t", t.append_column("_ok", pa.array(ok)))
    heads = con.sql(
        """
        WITH hh AS (
            SELECT household_no,
                   count(*) FILTER (WHERE _ok AND relation = 'head') AS heads,
                   string_agg(CAST(_row AS VARCHAR), '、' ORDER BY _i)
                       FILTER (WHERE NOT _ok AND relation = 'head') AS bad_head_rows,
                   bool_or(_ok) AS any_ok,
                   count(category) FILTER (WHERE _ok) AS with_category
            FROM t WHERE household_no IS NOT NULL GROUP BY household_no
        )
        SELECT t._i,
               CASE WHEN hh.heads = 0 AND hh.bad_head_rows IS NOT NULL
                        THEN '该户户主所在行（第' || hh.bad_head_rows || '行）未通过校验，全户暂不导入'
                    WHEN hh.heads = 0 THEN '该户缺少户主（与户主关系为“户主”的成员），全户暂不导入'
                    WHEN hh.heads > 1 THEN '该户登记了' || hh.heads || '名户主，全户暂不导入'
                    ELSE '该户未填写人员类别（低保、特困等），全户暂不导入' END AS reason
        FROM t JOIN hh USING (household_no)
        WHERE t._ok AND (hh.heads <> 1 OR hh.with_category = 0)
        """
    ).to_arrow_table()
    _add(norm, heads, "relation", n)
    con.unregister("t")
    return t


def _add(norm: Normalised, found: pa.Table, column: str, n: int) -> None:
    if found.num_rows == 0:
        return
    mask = np.zeros(n, dtype=bool)
    idx = found.column("_i").to_numpy()
    mask[idx] = True
    reasons = np.empty(n, dtype=object)
    reasons[idx] = np.asarray(found.column("reason").to_pylist(), dtype=object)
    norm.problems.add(mask, column, reasons[mask])


def _households(con: duckdb.DuckDBPyConnection, good: pa.Table, as_of: dt.date) -> pa.Table:
    """One row per household: its attributes from the head's row, categories of all rows."""
    con.register("g", good)
    props = ", ".join(f"max({p}) AS {p}" for p in PROPERTY_FIELDS)
    hashed_props = ", ".join(f"coalesce(CAST(agg.{p} AS VARCHAR), '')" for p in PROPERTY_FIELDS)
    hh = con.sql(
        f"""
        WITH cats AS (
            SELECT household_no, list_sort(list_distinct(flatten(list(string_split(category, ','))))) AS cats,
                   min(category_start) AS category_start
            FROM g WHERE category IS NOT NULL GROUP BY household_no
        ), head AS (
            SELECT household_no, division_code, address, area_type, citizen_id AS head_citizen_id
            FROM g WHERE relation = 'head'
        ), agg AS (
            SELECT household_no, count(*) AS member_count, {props} FROM g GROUP BY household_no
        )
        SELECT household_no, head.division_code, head.address, head.area_type, head.head_citizen_id,
               CAST(agg.member_count AS SMALLINT) AS member_count,
               array_to_string(cats.cats, ',') AS categories,
               coalesce(cats.category_start, DATE '{as_of.isoformat()}') AS category_start,
               {", ".join(f"agg.{p}" for p in PROPERTY_FIELDS)},
               md5(concat_ws('|', head.division_code, coalesce(head.address, ''), head.area_type,
                   head.head_citizen_id, agg.member_count, array_to_string(cats.cats, ','),
                   {hashed_props})) AS content_hash
        FROM agg JOIN head USING (household_no) JOIN cats USING (household_no)
        ORDER BY household_no
        """
    ).to_arrow_table()
    con.unregister("g")
    return hh


def _persons(con: duckdb.DuckDBPyConnection, good: pa.Table) -> pa.Table:
    con.register("g", good)
    hashed = ", ".join(f"coalesce(CAST({f} AS VARCHAR), '')" for f in (*PERSON_FIELDS, *INCOME_FIELDS))
    # Only the hash is computed in DuckDB; the columns are the rows' own (no copy).
    content_hash = con.sql(
        f"SELECT md5(concat_ws('|', household_no, {hashed})) AS content_hash FROM g ORDER BY _i"
    ).to_arrow_table()
    con.unregister("g")
    persons = good.select(["citizen_id", "household_no", *PERSON_FIELDS, *INCOME_FIELDS, "_i"])
    return persons.append_column("content_hash", content_hash.column(0))


def _rejected_households(rows: pa.Table, ok: np.ndarray) -> pa.Array:
    hh = rows.column("household_no").filter(pa.array(~ok))
    return pc.unique(hh.drop_null()) if hh.length() else pa.array([], pa.string())


_CURRENT_HOUSEHOLDS = pa.schema(
    [
        ("household_no", pa.string()),
        ("household_id", pa.int64()),
        ("version_id", pa.int64()),
        ("db_hash", pa.string()),
    ]
)
_CURRENT_PERSONS = pa.schema(
    [
        ("citizen_id", pa.string()),
        ("person_id", pa.int64()),
        ("version_id", pa.int64()),
        ("household_id", pa.int64()),
        ("db_hash", pa.string()),
    ]
)
_OPEN_CATEGORIES = pa.schema([("household_id", pa.int64()), ("category", pa.string()), ("id", pa.int64())])


def _apply(
    conn: Connection,
    con: duckdb.DuckDBPyConnection,
    result: ImportResult,
    households: pa.Table,
    persons: pa.Table,
    rejected_households: pa.Array,
    as_of: dt.date,
    import_id: int,
) -> np.ndarray:
    """Diff the file against the registry and write the difference. Returns each row's status."""
    # One read of the registry's identities with their current versions (null when none).
    known_hh = bulk.fetch_arrow(
        conn,
        "SELECT h.household_no, h.id, v.id, v.content_hash FROM households h "
        "LEFT JOIN household_versions v ON v.household_id = h.id AND v.valid_to IS NULL",
        _CURRENT_HOUSEHOLDS,
    )
    known_p = bulk.fetch_arrow(
        conn,
        "SELECT p.citizen_id, p.id, v.id, v.household_id, v.content_hash FROM persons p "
        "LEFT JOIN person_versions v ON v.person_id = p.id AND v.valid_to IS NULL",
        _CURRENT_PERSONS,
    )
    cur_hh = known_hh.filter(pc.is_valid(known_hh.column("version_id")))
    cur_p = known_p.filter(pc.is_valid(known_p.column("version_id")))
    for name, table in (
        ("f_hh", households),
        ("f_p", persons),
        ("cur_hh", cur_hh),
        ("known_hh", known_hh),
        ("cur_p", cur_p),
        ("known_p", known_p),
    ):
        con.register(name, table)
    con.register("rejected_hh", pa.table({"household_no": rejected_households}))

    # Households ------------------------------------------------------------------------
    hh = con.sql(
        """
        SELECT f.*, k.household_id AS known_id, c.version_id AS old_version, c.db_hash
        FROM f_hh f LEFT JOIN known_hh k USING (household_no) LEFT JOIN cur_hh c USING (household_no)
        ORDER BY f.household_no
        """
    ).to_arrow_table()
    hh, is_new_hh, changed_hh = _identify(
        conn,
        hh,
        "households",
        "household_id",
        "household_no",
        {"created_import_id": pa.array(np.full(int(hh.num_rows), import_id, dtype=np.int64))},
    )
    hh_ids = hh.column("household_id").to_numpy()
    touched = is_new_hh | changed_hh
    old_versions = np.asarray(pc.drop_null(hh.column("old_version").filter(pa.array(changed_hh))).to_numpy())
    bulk.close_where(conn, "household_versions", "id", old_versions, "valid_to", as_of)
    changed_ids = hh_ids[changed_hh]
    bulk.close_where(conn, "property_items", "household_id", changed_ids, "valid_to", as_of)
    # A household seen for the first time is on record from its 纳入日期 (the roster's word for
    # how long it has been registered); a change to a known household takes effect on ``as_of``.
    as_of_col = pa.array(np.full(hh.num_rows, as_of), pa.date32())
    hh = hh.append_column(
        "valid_from", pc.if_else(pa.array(is_new_hh), hh.column("category_start"), as_of_col)
    )
    w = hh.filter(pa.array(touched))
    bulk.insert_arrow(
        conn,
        "household_versions",
        pa.table(
            {
                "id": pa.array(bulk.next_ids(conn, "household_versions", w.num_rows)),
                "household_id": w.column("household_id"),
                "valid_from": w.column("valid_from"),
                "division_code": w.column("division_code"),
                "address": w.column("address"),
                "area_type": w.column("area_type"),
                "head_citizen_id": w.column("head_citizen_id"),
                "member_count": w.column("member_count"),
                "content_hash": w.column("content_hash"),
                "import_id": pa.array(np.full(w.num_rows, import_id, dtype=np.int64)),
            }
        ),
    )
    _write_items(
        conn, w, "property_items", {f: f for f in PROPERTY_FIELDS}, ["household_id"], "amount", import_id
    )
    result.categories_opened, result.categories_closed = _write_categories(conn, con, w, as_of, import_id)
    result.households_new = int(is_new_hh.sum())
    result.households_updated = int(changed_hh.sum())
    result.households_unchanged = hh.num_rows - result.households_new - result.households_updated
    con.register(
        "hh_ids",
        hh.select(["household_no", "household_id", "valid_from"]).append_column(
            "household_is_new", pa.array(is_new_hh)
        ),
    )

    # Persons ---------------------------------------------------------------------------
    keys = con.sql(
        f"""
        SELECT h.household_id, k.person_id AS known_id, c.version_id AS old_version, c.db_hash,
               CASE WHEN k.person_id IS NULL AND h.household_is_new THEN h.valid_from
                    ELSE DATE '{as_of.isoformat()}' END AS valid_from
        FROM f_p f JOIN hh_ids h USING (household_no)
        LEFT JOIN known_p k USING (citizen_id) LEFT JOIN cur_p c USING (citizen_id)
        ORDER BY f._i
        """
    ).to_arrow_table()
    p = persons
    for name in keys.column_names:  # both in input order: every person has its household
        p = p.append_column(name, keys.column(name))
    p, is_new_p, changed_p = _identify(conn, p, "persons", "person_id", "citizen_id", {})
    person_ids = p.column("person_id").to_numpy()

    # Members no longer listed in a household of the file (and households whose rows all passed).
    con.register("p_ids", p.select(["citizen_id"]))
    left = con.sql(
        """
        SELECT c.person_id, c.version_id FROM cur_p c JOIN hh_ids h USING (household_id)
        WHERE c.citizen_id NOT IN (SELECT citizen_id FROM p_ids)
          AND h.household_no NOT IN (SELECT household_no FROM rejected_hh)
        """
    ).to_arrow_table()
    result.members_left = left.num_rows
    closing_versions = np.concatenate(
        [
            np.asarray(pc.drop_null(p.column("old_version").filter(pa.array(changed_p))).to_numpy()),
            left.column("version_id").to_numpy(),
        ]
    )
    closing_people = np.concatenate([person_ids[changed_p], left.column("person_id").to_numpy()])
    bulk.close_where(conn, "person_versions", "id", closing_versions, "valid_to", as_of)
    bulk.close_where(conn, "income_items", "person_id", closing_people, "valid_to", as_of)
    w = p.filter(pa.array(is_new_p | changed_p))
    columns = {c: w.column(c) for c in PERSON_FIELDS}
    bulk.insert_arrow(
        conn,
        "person_versions",
        pa.table(
            {
                "id": pa.array(bulk.next_ids(conn, "person_versions", w.num_rows)),
                "person_id": w.column("person_id"),
                "household_id": w.column("household_id"),
                "valid_from": w.column("valid_from"),
                **columns,
                "content_hash": w.column("content_hash"),
                "import_id": pa.array(np.full(w.num_rows, import_id, dtype=np.int64)),
            }
        ),
    )
    _write_items(
        conn, w, "income_items", INCOME_FIELDS, ["person_id", "household_id"], "monthly_amount", import_id
    )
    bulk.reset_sequences(conn, REGISTRY_TABLES)
    for name in ("f_hh", "f_p", "cur_hh", "known_hh", "cur_p", "known_p", "rejected_hh", "hh_ids", "p_ids"):
        con.unregister(name)

    status = np.full(int(p.num_rows), "unchanged", dtype=object)
    status[is_new_p] = "new"
    status[changed_p] = "updated"
    return status


def _identify(
    conn: Connection,
    rows: pa.Table,
    table: str,
    id_column: str,
    key: str,
    extra: dict[str, pa.Array],
) -> tuple[pa.Table, np.ndarray, np.ndarray]:
    """Sort rows into new (no ``known_id``: a fresh id is reserved and the identity row written
    to ``table`` with its ``key`` and the ``extra`` columns, filtered alike) and changed (their
    ``content_hash`` differs from the current version's ``db_hash``). Returns the rows with
    ``id_column`` added, and the two masks."""
    known = rows.column("known_id")
    is_new = np.asarray(pc.is_null(known).to_numpy(zero_copy_only=False), dtype=bool)
    differs = pc.fill_null(pc.not_equal(rows.column("content_hash"), rows.column("db_hash")), True)
    changed = ~is_new & np.asarray(differs.to_numpy(zero_copy_only=False), dtype=bool)
    ids = np.array(pc.fill_null(known, 0).to_numpy(), dtype=np.int64)
    new_ids = bulk.next_ids(conn, table, int(is_new.sum()))
    ids[is_new] = new_ids
    new_mask = pa.array(is_new)
    identity = {"id": pa.array(new_ids), key: rows.column(key).filter(new_mask)}
    identity.update({name: col.filter(new_mask) for name, col in extra.items()})
    bulk.insert_arrow(conn, table, pa.table(identity))
    return rows.append_column(id_column, pa.array(ids)), is_new, changed


def _write_items(
    conn: Connection,
    w: pa.Table,
    table: str,
    kinds: dict[str, str],
    owners: list[str],
    amount: str,
    import_id: int,
) -> None:
    """Rows of an item table (income, property): one per non-zero ``field`` of ``w``, of kind
    ``kinds[field]``, valid from the owner's ``valid_from``."""
    parts = []
    zero = pa.scalar(0, MONEY)
    for fname, kind in kinds.items():
        sub = w.filter(pc.fill_null(pc.not_equal(w.column(fname), zero), False))
        parts.append(
            pa.table(
                {
                    **{o: sub.column(o) for o in owners},
                    "kind": pa.array([kind] * sub.num_rows, pa.string()),
                    amount: sub.column(fname),
                    "valid_from": sub.column("valid_from"),
                }
            )
        )
    items = pa.concat_tables(parts)
    items = items.append_column("import_id", pa.array(np.full(items.num_rows, import_id, dtype=np.int64)))
    items = items.add_column(0, "id", pa.array(bulk.next_ids(conn, table, items.num_rows)))
    bulk.insert_arrow(conn, table, items)


def _write_categories(
    conn: Connection, con: duckdb.DuckDBPyConnection, w: pa.Table, as_of: dt.date, import_id: int
) -> tuple[int, int]:
    """Open categories newly listed, close those no longer listed, keep the rest as they are."""
    open_now = bulk.fetch_arrow(
        conn,
        "SELECT household_id, category, id FROM household_categories WHERE end_date IS NULL",
        _OPEN_CATEGORIES,
    )
    con.register("open_now", open_now)
    con.register("w", w.select(["household_id", "categories", "category_start", "known_id"]))
    # A household seen for the first time brings its history (纳入日期); a category added to a
    # household already registered starts when the change takes effect.
    listed = con.sql(
        f"""
        SELECT household_id, unnest(string_split(categories, ',')) AS category,
               CASE WHEN known_id IS NULL THEN category_start ELSE DATE '{as_of.isoformat()}' END AS category_start
        FROM w
        """
    ).to_arrow_table()
    con.register("listed", listed)
    to_open = con.sql(
        """
        SELECT l.household_id, l.category, l.category_start AS start_date FROM listed l
        ANTI JOIN open_now o ON o.household_id = l.household_id AND o.category = l.category
        ORDER BY l.household_id, l.category
        """
    ).to_arrow_table()
    to_close = con.sql(
        """
        SELECT o.id FROM open_now o SEMI JOIN w ON w.household_id = o.household_id
        ANTI JOIN listed l ON l.household_id = o.household_id AND l.category = o.category
        """
    ).to_arrow_table()
    for name in ("open_now", "w", "listed"):
        con.unregister(name)
    bulk.close_where(
        conn,
        "household_categories",
        "id",
        to_close.column("id").to_numpy(),
        "end_date",
        as_of,
        closed_import_id=import_id,
    )
    to_open = to_open.add_column(
        0, "id", pa.array(bulk.next_ids(conn, "household_categories", to_open.num_rows))
    )
    to_open = to_open.append_column(
        "import_id", pa.array(np.full(to_open.num_rows, import_id, dtype=np.int64))
    )
    bulk.insert_arrow(conn, "household_categories", to_open)
    return to_open.num_rows, to_close.num_rows


def _rejects_table(norm: Normalised, raw: pa.Table) -> pa.Table:
    """Rejected rows with sheet, row number, column and reason, then the row as it was read."""
    problems = norm.problems.table()
    idx = problems.column("_index")
    original = raw.drop_columns([c for c in ("_sheet", "_row") if c in raw.column_names]).take(idx)
    sheet = norm.table.column("_sheet").take(idx)
    row = norm.table.column("_row").take(idx)
    table = pa.table(
        {
            "_sheet": sheet,
            "_row": row,
            "column": problems.column("column"),
            "reason": problems.column("reason"),
        }
    )
    for name in original.column_names:
        table = table.append_column(name, original.column(name))
    return table
