"""Working days for statutory deadlines (30 working days to decide, 3 to notify a refusal).

Weekends are not working days; public holidays and their make-up working days come from the
case parameters (``holidays`` / ``workdays``), which a province updates each year from the
State Council's notice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection


def is_working_day(
    day: dt.date, holidays: Collection[dt.date] = (), workdays: Collection[dt.date] = ()
) -> bool:
    """Whether ``day`` is a working day (Friday 27 November 2026 is, Saturday the 28th is not).

    >>> is_working_day(dt.date(2026, 11, 27)), is_working_day(dt.date(2026, 11, 28))
    (True, False)
    """
    if day in workdays:
        return True
    return day.weekday() < 5 and day not in holidays


def add_working_days(
    start: dt.date, days: int, holidays: Collection[dt.date] = (), workdays: Collection[dt.date] = ()
) -> dt.date:
    """The day ``days`` working days after ``start`` (``start`` itself not counted).

    >>> add_working_days(dt.date(2026, 11, 27), 1)  # Friday → Monday
    datetime.date(2026, 11, 30)
    >>> add_working_days(dt.date(2026, 11, 27), 30)
    datetime.date(2027, 1, 8)
    """
    if days < 0:
        raise ValueError("days must be >= 0")
    day = start
    left = days
    while left > 0:
        day += dt.timedelta(days=1)
        if is_working_day(day, holidays, workdays):
            left -= 1
    return day
