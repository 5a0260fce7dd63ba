"""Report replies: a header saying what was asked, and flat rows (one CSV line each).

Money is integer minor units with its currency on the same row (or keyed by currency): a sum
never mixes currencies. Shares and growth are percentages rounded to one decimal, null where
the base is zero.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Generic, TypeVar

import msgspec


class ReportHeader(msgspec.Struct, kw_only=True):
    report: str
    from_month: str
    to_month: str
    time_zone: str
    generated_at: datetime
    filters: dict[str, str]
    definitions: dict[str, str]


class ChannelMonthRow(msgspec.Struct, kw_only=True):
    month: str
    channel: str
    currency: str
    won_amount_minor: int
    won_count: int
    share_pct: float | None
    growth_previous_month_pct: float | None
    growth_previous_year_pct: float | None


class PipelineRow(msgspec.Struct, kw_only=True):
    stage: str
    channel: str
    currency: str
    count: int
    amount_minor: int


class ForecastRow(msgspec.Struct, kw_only=True):
    month: str
    channel: str
    currency: str
    commit_minor: int
    best_case_minor: int
    pipeline_minor: int
    count: int


class PartnerSalesRow(msgspec.Struct, kw_only=True):
    partner_id: uuid.UUID
    partner_name: str
    currency: str
    won_amount_minor: int
    won_count: int
    previous_won_amount_minor: int
    previous_won_count: int
    growth_pct: float | None


class TopDealRow(msgspec.Struct, kw_only=True):
    currency: str
    rank: int
    opportunity_id: uuid.UUID
    name: str
    channel: str
    partner_name: str | None
    amount_minor: int
    closed_at: datetime


class ClosedMonthRow(msgspec.Struct, kw_only=True):
    month: str
    currency: str
    won_count: int
    won_amount_minor: int
    lost_count: int
    lost_amount_minor: int
    win_rate_pct: float | None


class MetricRow(msgspec.Struct, kw_only=True):
    """One figure of a scorecard: whose side it measures, what, and in which unit or currency."""

    side: str
    metric: str
    value: float | int | None
    unit: str
    currency: str = ""


class DealStatusRow(msgspec.Struct, kw_only=True):
    group: str
    name: str
    count: int


class LeadQualityRow(msgspec.Struct, kw_only=True):
    key: str
    label: str
    leads: int
    score_0_30: int
    score_31_75: int
    score_76_100: int
    qualified: int
    qualified_share_pct: float | None
    converted: int
    converted_share_pct: float | None
    touched_within_hour: int
    speed_to_lead_pct: float | None
    won_count: int
    won_amount_minor: dict[str, int]


class CampaignReturnRow(msgspec.Struct, kw_only=True):
    campaign_id: uuid.UUID
    name: str
    currency: str
    cost_minor: int
    leads: int
    converted: int
    won_count: int
    won_amount_minor: int
    return_pct: float | None
    won_other_currencies_minor: dict[str, int]


RowT = TypeVar("RowT")


class Report(msgspec.Struct, Generic[RowT], kw_only=True):
    header: ReportHeader
    rows: list[RowT]


class PartnerScorecard(msgspec.Struct, kw_only=True):
    header: ReportHeader
    partner_id: uuid.UUID
    partner_name: str
    rows: list[MetricRow]


class TopPartnerRow(PartnerSalesRow, kw_only=True):
    rank: int
