"""Administrative divisions: codes, hierarchy and urban/rural classification (pure, no I/O but the
bundled Ministry of Civil Affairs list)."""

from doudi.divisions.catalog import (
    Division,
    DivisionCatalog,
    DivisionError,
    Level,
    get_catalog,
    level_of_code,
    parent_code_of,
)

__all__ = [
    "Division",
    "DivisionCatalog",
    "DivisionError",
    "Level",
    "get_catalog",
    "level_of_code",
    "parent_code_of",
]
