"""Registry services used by the CLI and (later) the web app: thin orchestration over the
reader, the importer and the store."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
from sqlalchemy import Engine, text

from doudi.db import duck
from doudi.registry import divisions_store
from doudi.registry.importer import ImportResult, file_sha256, import_roster_table
from doudi.registry.roster_files import RosterFile, RosterFileError, read_roster, write_rejects
from doudi.settings import Settings


def import_roster_file(
    engine: Engine,
    path: Path,
    *,
    settings: Settings,
    as_of: dt.date,
    actor: str,
    extra_headers: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[ImportResult, list[str]]:
    """Import one roster file; returns the result and warnings for the user (Chinese).

    Rejected rows are written next to the data dir's other rejects, named after the file and
    the import id. Raises :class:`RosterFileError` for a file that cannot be read at all.
    """
    say = progress or (lambda _m: None)
    say("读取文件")
    roster = read_roster(path, extra_headers=extra_headers)
    duck.release_arrow_memory()
    if roster.table.num_rows == 0:
        raise RosterFileError(
            "empty", "no data rows", f"文件“{path.name}”中没有数据行，未导入任何内容。", path=path
        )
    warnings = list(roster.warnings)
    for sheet, row, reason in roster.skipped:
        where = f"工作表“{sheet}”" if sheet else ""
        warnings.append(f"{where}第{row}行已跳过：{reason}")
    catalog = divisions_store.load_catalog(engine, settings.province_code)
    result = import_roster_table(
        engine,
        _hand_over(roster),
        catalog=catalog,
        as_of=as_of,
        actor=actor,
        file_name=path.name,
        file_sha=file_sha256(path),
        progress=progress,
    )
    if result.new_villages:
        warnings.append(f"新增村（社区）代码{result.new_villages}个（花名册首次出现，已登记到区划目录）")
    if result.members_left:
        warnings.append(f"{result.members_left}名成员不再列于其家庭中，已记为迁出（历史保留）")
    if result.rejects is not None and result.rejects.num_rows:
        settings.ensure_dirs()
        target = settings.data_dir / "rejects" / f"{path.stem}-导入{result.import_id}-未通过.csv"
        write_rejects(target, result.rejects)
        result.rejects_path = str(target)
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE imports SET rejects_path = :p WHERE id = :id"),
                {"p": str(target), "id": result.import_id},
            )
    return result, warnings


def _hand_over(roster: RosterFile) -> pa.Table:
    """The roster's rows, leaving no other reference behind, so the importer can free them."""
    table, roster.table = roster.table, pa.table({})
    return table
