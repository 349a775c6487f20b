"""The delivered synthetic feeds through the real loader: every file loads, and exactly the
planted rows that cannot be repaired are quarantined (the rest are stored, IDs normalised)."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine

from doudi.feeds.contract import get_contract
from doudi.feeds.reader import FeedError
from doudi.feeds.service import load_feed
from doudi.feeds.synthetic import FeedFile, generate_feeds, read_manifest
from doudi.feeds.synthetic_mess import REJECTED
from doudi.ids import validate_citizen_id_column
from doudi.registry.synthetic import generate_province
from doudi.settings import Settings

PERIODS = ["2026-08", "2026-09"]  # medical as Parquet, then as CSV


@pytest.fixture(scope="module")
def delivered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[FeedFile]]:
    province = tmp_path_factory.mktemp("province")
    generate_province(persons=12_000, seed=21, out_dir=province, as_of=dt.date(2026, 11, 1))
    out = tmp_path_factory.mktemp("delivered")
    files = generate_feeds(province, PERIODS, out, seed=6, style="delivered")
    return out, files


def test_the_loader_quarantines_exactly_the_planted_rejects(
    engine: Engine, settings: Settings, delivered: tuple[Path, list[FeedFile]]
) -> None:
    out, _ = delivered
    loaded = 0
    for entry in read_manifest(out)["files"]:
        path = out / entry["path"]
        rejects = sorted(
            row for mess, rows in entry["planted_rows"].items() if mess in REJECTED for row in rows
        )
        assert len(rejects) == entry["expected_rejects"]
        snapshot = get_contract(entry["kind"]).mode == "snapshot"
        if (entry["rows"] == 0 and snapshot) or (entry["rows"] and len(rejects) == entry["rows"]):
            # An empty full list, or a file with nothing usable, fails; the earlier load stays.
            with pytest.raises(FeedError):
                load_feed(engine, settings, entry["kind"], path, entry["period"], actor="tester")
            continue
        result = load_feed(engine, settings, entry["kind"], path, entry["period"], actor="tester")
        assert result.status == "active", entry["path"]
        assert result.rows_read == entry["rows"], entry["path"]
        assert result.rows_rejected == entry["expected_rejects"], (entry["path"], result.quality)
        assert result.rows_duplicate == entry["planted"].get("duplicate_row", 0), entry["path"]
        if rejects:
            assert result.quarantine_path is not None
            with result.quarantine_path.open(encoding="utf-8-sig", newline="") as fh:
                quarantined = sorted(int(r[0]) for r in list(csv.reader(fh))[1:])
            assert quarantined == rejects, entry["path"]
        # The rest is stored, IDs repaired (spaces, full-width digits, lower-case x)
        assert result.parquet_path is not None
        stored = pq.read_table(result.parquet_path)
        assert stored.num_rows == entry["rows"] - len(rejects)
        assert not set(stored.column("row_no").to_pylist()) & set(rejects)
        person = get_contract(entry["kind"]).person
        loaded += 1
        if stored.num_rows == 0:  # a quiet month of an events kind: loaded with no rows
            continue
        norm, reasons = validate_citizen_id_column(stored.column(person).combine_chunks())
        assert not reasons.any() and pc.all(pc.equal(norm, stored.column(person).combine_chunks())).as_py()
    assert loaded >= 16
