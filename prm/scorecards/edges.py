"""Cells for a time zone whose months are not UTC months (Europe/Berlin, America/New_York, ...).

The cells count by UTC month. A month in another zone differs from the UTC month only between
its first instant in the zone and its first instant in UTC (an hour or two for Berlin): the
records closed (or created) there are the only ones whose month in the zone is not their UTC
month. So a report reads the cells by UTC month and moves just those records, read through the
index by time, from their UTC month to their month in the zone: a few thousand records at a
million instead of all of them, and the figures are exactly those of the records.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, case, or_

from prm.scorecards.filters import Month

UTC_ZONE = ZoneInfo("UTC")
Rows = list[Any]


def gaps(zone: ZoneInfo, months: list[Month]) -> list[tuple[datetime, datetime]]:
    """Between each month bound (the months' starts and the end) in the zone and in UTC."""
    found = []
    for month in [*months, months[-1].shift(1)]:
        local, utc = month.start(zone), month.start(UTC_ZONE)
        if local != utc:
            found.append((min(local, utc), max(local, utc)))
    return found


def within_gaps(column: Any, zone: ZoneInfo, months: list[Month]) -> ColumnElement[bool]:
    return or_(*(and_(column >= start, column < end) for start, end in gaps(zone, months)))


def span_bucket(column: Any, months: list[Month], zone: ZoneInfo) -> ColumnElement[int]:
    """The index of the month (in `months`, in `zone`) an instant falls in: -1 before the first,
    len(months) after the last."""
    whens = [(column < months[0].start(zone), -1)]
    whens += [(column < month.shift(1).start(zone), index) for index, month in enumerate(months)]
    return case(*whens, else_=len(months))


def moved(cells: Rows, records: Rows, keys: Sequence[str], measures: Sequence[str], months: int) -> Rows:
    """The cells' sums with the gap records moved: each is taken out of its UTC month (utc_bucket)
    and put in its month in the zone (zone_bucket), where these are within the period. When the
    keys hold "bucket" (the month's index) the sums are per month, else the period's. Rows left
    with nothing (the last measure, the count, at 0) are left out, as a GROUP BY would."""
    totals: dict[tuple[Any, ...], list[int]] = {}

    def add(key: tuple[Any, ...], row: Any, sign: int) -> None:
        sums = totals.setdefault(key, [0] * len(measures))
        for index, measure in enumerate(measures):
            sums[index] += sign * int(row[measure] or 0)

    for row in cells:
        add(tuple(row[key] for key in keys), row, 1)
    for row in records:
        for column, sign in (("zone_bucket", 1), ("utc_bucket", -1)):
            bucket = row[column]
            if 0 <= bucket < months:
                add(tuple(bucket if name == "bucket" else row[name] for name in keys), row, sign)
    return [dict(zip(keys, key, strict=True)) | dict(zip(measures, sums, strict=True))
            for key, sums in totals.items() if sums[-1]]  # fmt: skip
