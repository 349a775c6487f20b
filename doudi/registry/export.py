"""Export the registry as counties read it: Chinese headers and labels, masked by default.

Every export is written to the audit log (who, when, what, how many rows, masked or not);
an unmasked export must state a reason.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from openpyxl import Workbook
from sqlalchemy import Engine

from doudi import audit, ids
from doudi.registry import codes, queries
from doudi.registry.codes import FIELD_LABELS

HEADERS: dict[str, str] = {**FIELD_LABELS, "monthly_income": "月收入（元）"}
_LABELS: dict[str, dict[str, str]] = {
    "area_type": codes.AREA_TYPES,
    "relation": codes.RELATIONS,
    "disability_kind": codes.DISABILITY_KINDS,
    "schooling": codes.SCHOOLING,
    "employment": codes.EMPLOYMENT,
    "sex": {"male": "男", "female": "女"},
}
_GRADES = {1: "一级", 2: "二级", 3: "三级", 4: "四级"}


class ExportError(ValueError):
    """An export that may not run; ``message_zh`` is for the user."""

    def __init__(self, message: str, message_zh: str) -> None:
        super().__init__(message)
        self.message_zh = message_zh


def _label(arr: pa.ChunkedArray, mapping: dict[str, str]) -> pa.ChunkedArray:
    """Codes replaced by their Chinese labels; a value without a label is kept as it is."""
    labels = pa.array(list(mapping.values()), pa.string())
    index = pc.index_in(arr, value_set=pa.array(list(mapping), pa.string()))
    return pc.coalesce(pc.take(labels, index), arr)


def to_display(table: pa.Table, *, unmasked: bool) -> pa.Table:
    """Chinese headers and labels; names and IDs masked unless ``unmasked``."""
    cols: dict[str, pa.Array | pa.ChunkedArray] = {}
    for name in table.column_names:
        col = table.column(name)
        if name in _LABELS:
            cols[name] = _label(col, _LABELS[name])
        elif name == "categories":
            cats = [
                "、".join(codes.CATEGORIES.get(c, c) for c in v.split(",")) if v else None
                for v in col.to_pylist()
            ]
            cols[name] = pa.array(cats, pa.string())
        elif name == "disability_grade":
            cols[name] = pa.array([_GRADES.get(v) if v else None for v in col.to_pylist()], pa.string())
        elif name == "serious_illness":
            cols[name] = pa.array(["是" if v else "否" for v in col.to_pylist()], pa.string())
        elif name == "citizen_id" and not unmasked:
            cols[name] = pa.array([ids.mask_citizen_id(v) for v in col.to_pylist()], pa.string())
        elif name == "name" and not unmasked:
            cols[name] = pa.array([ids.mask_name(v) for v in col.to_pylist()], pa.string())
        else:
            cols[name] = col
    return pa.table({HEADERS.get(k, k): v for k, v in cols.items()})


def export_register(
    engine: Engine,
    *,
    path: Path,
    on: dt.date,
    actor: str,
    division_code: str | None = None,
    unmasked: bool = False,
    reason: str | None = None,
) -> int:
    """Write the register in force on ``on`` to ``path`` (.csv or .xlsx); returns the row count."""
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise ExportError(f"unsupported export format {suffix!r}", "导出文件须以 .csv 或 .xlsx 结尾")
    if unmasked and not (reason and reason.strip()):
        raise ExportError("an unmasked export needs a reason", "导出未脱敏数据须说明理由（--reason）")
    with engine.begin() as conn:
        table = queries.register(conn, on=on, division_code=division_code)
        display = to_display(table, unmasked=unmasked)
        path.parent.mkdir(parents=True, exist_ok=True)
        if suffix == ".csv":
            _write_csv(display, path)
        else:
            _write_xlsx(display, path, title=f"低收入人口名册（{on.isoformat()}）")
        audit.record(
            conn,
            actor=actor,
            action="export_unmasked" if unmasked else "export",
            object_type="registry",
            object_ref=path.name,
            division_code=division_code,
            reason=reason,
            detail={
                "rows": table.num_rows,
                "on": on.isoformat(),
                "masked": not unmasked,
                "format": suffix[1:],
            },
        )
    return table.num_rows


def _write_csv(table: pa.Table, path: Path) -> None:
    with path.open("wb") as f:
        f.write("\ufeff".encode())  # BOM: Excel opens UTF-8 correctly
        pacsv.write_csv(table, f)


def _write_xlsx(table: pa.Table, path: Path, *, title: str) -> None:
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("名册")
    ws.append([title])
    ws.append(table.column_names)
    columns = [c.to_pylist() for c in table.columns]
    for row in zip(*columns, strict=True):
        ws.append(list(row))
    wb.save(path)
