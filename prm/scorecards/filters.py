"""What every report is asked for: the period, the time zone of its buckets, and the filters.

Months are calendar months in the caller's time zone (default UTC). A report bucketing rows by
month compares the timestamp with each month's first instant in that zone converted to UTC, so
the bucketing is exact across daylight-saving changes and runs the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import ColumnElement, case, select, true
from sqlalchemy.orm import InstrumentedAttribute

from prm.core.auth import Principal
from prm.core.errors import DomainError
from prm.core.tenancy import channel_manager_partners, partner_scope
from prm.crm.models import Partner, PartnerTier

MAX_MONTHS = 36
DEFAULT_MONTHS = 12

PartnerColumn = InstrumentedAttribute[uuid.UUID | None] | InstrumentedAttribute[uuid.UUID]


@dataclass(frozen=True, slots=True)
class Month:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str, field: str) -> Month:
        try:
            year, month = (int(part) for part in text.split("-"))
            return cls(year, month) if 1 <= month <= 12 and 1900 <= year <= 9999 else cls._bad(field)
        except ValueError:
            return cls._bad(field)

    @staticmethod
    def _bad(field: str) -> Month:
        raise DomainError("A month is written YYYY-MM.", field=field)

    def shift(self, months: int) -> Month:
        index = self.year * 12 + self.month - 1 + months
        return Month(index // 12, index % 12 + 1)

    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    def start(self, zone: ZoneInfo) -> datetime:
        """The month's first instant in `zone`, as UTC."""
        return datetime(self.year, self.month, 1, tzinfo=zone).astimezone(UTC)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def __lt__(self, other: Month) -> bool:
        return (self.year, self.month) < (other.year, other.month)


def months_between(first: Month, last: Month) -> list[Month]:
    count = (last.year - first.year) * 12 + last.month - first.month + 1
    return [first.shift(i) for i in range(count)]


@dataclass(frozen=True, slots=True)
class ReportQuery:
    """A validated report request: period (whole months, inclusive), zone, and filters."""

    principal: Principal
    now: datetime
    first: Month
    last: Month
    zone: ZoneInfo
    region: str | None = None
    tier: PartnerTier | None = None
    program_id: uuid.UUID | None = None
    channel_manager_id: uuid.UUID | None = None
    partner_id: uuid.UUID | None = None
    currency: str | None = None

    @property
    def months(self) -> list[Month]:
        return months_between(self.first, self.last)

    @property
    def start(self) -> datetime:
        return self.first.start(self.zone)

    @property
    def end(self) -> datetime:
        """The first instant after the period."""
        return self.last.shift(1).start(self.zone)

    @property
    def has_partner_filter(self) -> bool:
        """Filters on partner attributes leave direct (vendor-only) business out."""
        return any(v is not None for v in (self.region, self.tier, self.channel_manager_id, self.partner_id))

    def previous(self) -> ReportQuery:
        """The same number of months immediately before this period (for growth)."""
        span = len(self.months)
        return replace(self, first=self.first.shift(-span), last=self.first.shift(-1))


def build_query(
    principal: Principal,
    now: datetime,
    *,
    from_month: str | None,
    to_month: str | None,
    tz: str,
    region: str | None = None,
    tier: PartnerTier | None = None,
    program_id: uuid.UUID | None = None,
    channel_manager_id: uuid.UUID | None = None,
    partner_id: uuid.UUID | None = None,
    currency: str | None = None,
) -> ReportQuery:
    zone = parse_zone(tz)
    local_now = now.astimezone(zone)
    last = Month.parse(to_month, "to_month") if to_month else Month(local_now.year, local_now.month)
    first = Month.parse(from_month, "from_month") if from_month else last.shift(1 - DEFAULT_MONTHS)
    if last < first:
        raise DomainError("The period ends before it starts.", field="to_month")
    if len(months_between(first, last)) > MAX_MONTHS:
        raise DomainError(f"A period spans at most {MAX_MONTHS} months.", field="from_month")
    if currency is not None and (len(currency) != 3 or not currency.isalpha()):
        raise DomainError("A currency is a three-letter ISO 4217 code.", field="currency")
    return ReportQuery(
        principal=principal,
        now=now,
        first=first,
        last=last,
        zone=zone,
        region=region,
        tier=tier,
        program_id=program_id,
        channel_manager_id=channel_manager_id,
        partner_id=partner_id,
        currency=currency.upper() if currency else None,
    )


def parse_zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise DomainError(f"Unknown time zone {tz!r} (an IANA name such as Europe/Berlin).", field="tz") from exc


def partner_conditions(query: ReportQuery, column: PartnerColumn) -> list[ColumnElement[bool]]:
    """The tenant filter (a channel manager: only their partners) and the partner filters."""
    conditions: list[ColumnElement[bool]] = [
        partner_scope(query.principal, column, vendor_rows_visible_to_managers=False)
    ]
    if query.partner_id is not None:
        conditions.append(column == query.partner_id)
    if query.region is not None or query.tier is not None:
        partners = select(Partner.id)
        if query.region is not None:
            partners = partners.where(Partner.region == query.region)
        if query.tier is not None:
            partners = partners.where(Partner.tier == query.tier)
        conditions.append(column.in_(partners))
    if query.channel_manager_id is not None:
        managed = select(channel_manager_partners.c.partner_id).where(
            channel_manager_partners.c.user_id == query.channel_manager_id
        )
        conditions.append(column.in_(managed))
    return conditions


def currency_condition(query: ReportQuery, column: Any) -> ColumnElement[bool]:
    return column == query.currency if query.currency else true()


def month_bucket(column: Any, months: list[Month], zone: ZoneInfo) -> ColumnElement[int]:
    """The index of the month (in `months`) a timestamp falls in, -1 before the first; rows after
    the last month are left out by the caller's WHERE."""
    whens = [(column < m.shift(1).start(zone), i) for i, m in enumerate(months)]
    return case(*whens, else_=-1)


def date_bucket(column: Any, months: list[Month]) -> ColumnElement[int]:
    """The index of the month a calendar date (a close date: no zone) falls in."""
    whens = [(column < m.shift(1).first_day(), i) for i, m in enumerate(months)]
    return case(*whens, else_=-1)


def days_ahead(now: datetime, days: int) -> datetime:
    return now + timedelta(days=days)
