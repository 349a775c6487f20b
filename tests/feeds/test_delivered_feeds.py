"""The synthetic province's delivered feeds (every format, planted messes) through the loader:
each planted mess that must be rejected is quarantined at its row, and nothing else is."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

from doudi.db.engine import make_engine
from doudi.db.migrate import upgrade
from doudi.feeds.service import load_feed
from doudi.feeds.synthetic import generate_feeds, read_manifest
from doudi.feeds.synthetic_mess import REJECTED
from doudi.registry.synthetic import generate_province
from doudi.settings import Settings


def test_planted_rejects_are_quarantined_at_their_rows(tmp_path: Path) -> None:
    generate_province(persons=20_000, seed=7, out_dir=tmp_path, as_of=dt.date(2026, 10, 1))
    generate_feeds(tmp_path, ["2026-11", "2026-12"], tmp_path / "feeds", seed=7)
    settings = Settings(
        data_dir=tmp_path / "data", database_url=f"sqlite:///{tmp_path / 'feeds_test.sqlite3'}"
    )
    upgrade(settings.sqlalchemy_url)
    engine = make_engine(settings.sqlalchemy_url)
    formats = set()
    try:
        for f in read_manifest(tmp_path / "feeds")["files"]:
            path = tmp_path / "feeds" / f["path"]
            result = load_feed(engine, settings, f["kind"], path, f["period"], actor="tester")
            planted = sorted(r for mess, rows in f["planted_rows"].items() if mess in REJECTED for r in rows)
            quarantined: list[int] = []
            if result.quarantine_path is not None:
                with result.quarantine_path.open(encoding="utf-8-sig", newline="") as fh:
                    quarantined = [int(line[0]) for line in list(csv.reader(fh))[1:]]
            assert quarantined == planted, f"{f['kind']} {f['period']} ({f['format']})"
            assert (result.status, result.rows_read) == ("active", f["rows"])
            assert result.rows_rejected == f["expected_rejects"]
            formats.add(f["format"])
    finally:
        engine.dispose()
    assert formats == {"csv", "xlsx", "parquet", "jsonl"}
