"""Monthly periods (``YYYY-MM``): the unit of feeds and of monitoring runs."""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass

_PATTERN = re.compile(r"^(\d{4})-(\d{2})$")


class PeriodError(ValueError):
    """A period that is not ``YYYY-MM``; the message is for the user (Chinese)."""


@dataclass(frozen=True, order=True)
class Period:
    """A calendar month.

    >>> p = Period.parse("2026-02")
    >>> p.start, p.end
    (datetime.date(2026, 2, 1), datetime.date(2026, 2, 28))
    >>> [str(x) for x in p.window(3)]
    ['2025-12', '2026-01', '2026-02']
    """

    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Period:
        m = _PATTERN.match(text.strip()) if isinstance(text, str) else None
        if not m or not 1 <= int(m.group(2)) <= 12 or int(m.group(1)) < 1900:
            raise PeriodError(f"期间“{text}”格式不对，应为 年-月，如 2026-11。")
        return cls(int(m.group(1)), int(m.group(2)))

    @classmethod
    def of(cls, day: dt.date) -> Period:
        return cls(day.year, day.month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def start(self) -> dt.date:
        return dt.date(self.year, self.month, 1)

    @property
    def end(self) -> dt.date:
        return dt.date(self.year, self.month, calendar.monthrange(self.year, self.month)[1])

    def shift(self, months: int) -> Period:
        index = self.year * 12 + self.month - 1 + months
        return Period(index // 12, index % 12 + 1)

    def window(self, months: int) -> list[Period]:
        """The ``months`` periods ending with this one, oldest first."""
        return [self.shift(-k) for k in range(months - 1, -1, -1)]
