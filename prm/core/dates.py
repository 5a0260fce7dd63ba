"""The one way people read a date or a moment, on the pages and in the emails alike:
"4 Mar 2026", or "4 Mar 2026, 09:00 UTC" (the pages' script rewrites a <time> in the viewer's zone)."""

from __future__ import annotations

from datetime import UTC, date, datetime

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def date_text(value: date | datetime | None) -> str:
    """A date as "4 Mar 2026", a moment as "4 Mar 2026, 09:00 UTC"; nothing is "—"."""
    if value is None:
        return "—"
    if not isinstance(value, datetime):
        return f"{value.day} {MONTHS[value.month - 1]} {value.year}"
    # A moment without a zone is UTC: that is how every timestamp is stored.
    moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return f"{moment.day} {MONTHS[moment.month - 1]} {moment.year}, {moment:%H:%M} UTC"
