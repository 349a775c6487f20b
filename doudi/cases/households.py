"""Where a household is now, for scoping case work to divisions."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, text


@dataclass(frozen=True)
class HouseholdPlace:
    household_id: int
    household_no: str
    division_code: str  # the village (12 digits) of the current version

    @property
    def township_code(self) -> str:
        return self.division_code[:9]

    @property
    def county_code(self) -> str:
        return self.division_code[:6]


def household_place(conn: Connection, household_id: int) -> HouseholdPlace | None:
    """The household's current division, or None when there is no such household."""
    row = conn.execute(
        text(
            "SELECT h.id, h.household_no, hv.division_code FROM households h "
            "JOIN household_versions hv ON hv.household_id = h.id AND hv.valid_to IS NULL "
            "WHERE h.id = :id"
        ),
        {"id": household_id},
    ).first()
    return HouseholdPlace(int(row[0]), str(row[1]), str(row[2])) if row else None
