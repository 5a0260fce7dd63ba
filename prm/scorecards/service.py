"""The reports: figures read by `queries`, put together (shares, growth, ranks) per currency.

Stateless; every function takes the session first and a validated `ReportQuery`.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.errors import NotFound
from prm.crm.models import Lead, OpportunityStage
from prm.deal_registration.models import DealRegistration, RegistrationState
from prm.lead_distribution.models import OfferStatus
from prm.scorecards import queries
from prm.scorecards.definitions import DEFINITIONS, FORECAST_CATEGORY, STALL_DAYS
from prm.scorecards.filters import ReportQuery
from prm.scorecards.schemas import (
    CampaignReturnRow,
    ChannelMonthRow,
    ClosedMonthRow,
    DealStatusRow,
    ForecastRow,
    LeadQualityRow,
    MetricRow,
    PartnerSalesRow,
    PartnerScorecard,
    PipelineRow,
    Report,
    ReportHeader,
    TopDealRow,
    TopPartnerRow,
)

CHANNELS = ("indirect", "direct")
TOP_DEALS = 10


class TopBy(StrEnum):
    WON_AMOUNT = "won_amount"
    WON_COUNT = "won_count"
    GROWTH = "growth"


class LeadGrouping(StrEnum):
    SOURCE = "source"
    CAMPAIGN = "campaign"


def pct(part: int | float, whole: int | float) -> float | None:
    """part / whole as a percentage rounded half-up to one decimal; None when whole is 0."""
    if not whole:
        return None
    return float((Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def growth(current: int, previous: int) -> float | None:
    return pct(current - previous, previous)


def one_decimal(value: float) -> float:
    return float(Decimal(value).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def header(query: ReportQuery, report: str) -> ReportHeader:
    filters = {
        "region": query.region,
        "tier": query.tier,
        "program_id": query.program_id,
        "channel_manager_id": query.channel_manager_id,
        "partner_id": query.partner_id,
        "currency": query.currency,
    }
    return ReportHeader(
        report=report,
        from_month=str(query.first),
        to_month=str(query.last),
        time_zone=query.zone.key,
        generated_at=query.now,
        filters={name: str(value) for name, value in filters.items() if value is not None},
        definitions=DEFINITIONS[report],
    )


# Sales ---------------------------------------------------------------------------------------


async def sales_channels(session: AsyncSession, query: ReportQuery) -> Report[ChannelMonthRow]:
    """Indirect against direct per month, with share and growth on the previous month and year."""
    months = [query.first.shift(i - 12) for i in range(len(query.months) + 12)]
    won: dict[tuple[int, str, str], tuple[int, int]] = {
        (r["bucket"], r["channel"], r["currency"]): (int(r["amount"]), int(r["count"]))
        for r in await queries.won_by_month(session, query, months)
    }
    currencies = sorted({currency for (bucket, _, currency) in won if bucket >= 12})
    rows = []
    for index, month in enumerate(query.months, start=12):
        for currency in currencies:
            total = sum(won.get((index, channel, currency), (0, 0))[0] for channel in CHANNELS)
            for channel in CHANNELS:
                amount, count = won.get((index, channel, currency), (0, 0))
                rows.append(
                    ChannelMonthRow(
                        month=str(month),
                        channel=channel,
                        currency=currency,
                        won_amount_minor=amount,
                        won_count=count,
                        share_pct=pct(amount, total),
                        growth_previous_month_pct=growth(amount, won.get((index - 1, channel, currency), (0, 0))[0]),
                        growth_previous_year_pct=growth(amount, won.get((index - 12, channel, currency), (0, 0))[0]),
                    )
                )
    return Report(header=header(query, "sales-channels"), rows=rows)


async def closed_business(session: AsyncSession, query: ReportQuery) -> Report[ClosedMonthRow]:
    closed = {
        (r["bucket"], r["stage"], r["currency"]): (int(r["amount"]), int(r["count"]))
        for r in await queries.closed_by_month(session, query)
    }
    currencies = sorted({currency for (_, _, currency) in closed})
    rows = []
    for index, month in enumerate(query.months):
        for currency in currencies:
            won_amount, won_count = closed.get((index, OpportunityStage.CLOSED_WON, currency), (0, 0))
            lost_amount, lost_count = closed.get((index, OpportunityStage.CLOSED_LOST, currency), (0, 0))
            rows.append(
                ClosedMonthRow(
                    month=str(month),
                    currency=currency,
                    won_count=won_count,
                    won_amount_minor=won_amount,
                    lost_count=lost_count,
                    lost_amount_minor=lost_amount,
                    win_rate_pct=pct(won_count, won_count + lost_count),
                )
            )
    return Report(header=header(query, "closed-business"), rows=rows)


async def partner_sales(session: AsyncSession, query: ReportQuery) -> Report[PartnerSalesRow]:
    return Report(header=header(query, "partner-sales"), rows=await _partner_sales_rows(session, query))


async def _partner_sales_rows(session: AsyncSession, query: ReportQuery) -> list[PartnerSalesRow]:
    current = {(r["partner_id"], r["currency"]): r for r in await queries.won_by_partner(session, query)}
    previous = {(r["partner_id"], r["currency"]): r for r in await queries.won_by_partner(session, query.previous())}
    rows = []
    for key in current.keys() | previous.keys():
        now_row, before_row = current.get(key), previous.get(key)
        named = now_row if now_row is not None else previous[key]
        amount = int(now_row["amount"]) if now_row else 0
        before = int(before_row["amount"]) if before_row else 0
        rows.append(
            PartnerSalesRow(
                partner_id=key[0],
                partner_name=named["partner_name"],
                currency=key[1],
                won_amount_minor=amount,
                won_count=int(now_row["count"]) if now_row else 0,
                previous_won_amount_minor=before,
                previous_won_count=int(before_row["count"]) if before_row else 0,
                growth_pct=growth(amount, before),
            )
        )
    return sorted(rows, key=lambda row: (row.partner_name, row.currency))


def _rank_key(by: TopBy) -> Any:
    if by is TopBy.WON_COUNT:
        return lambda row: (-row.won_count, -row.won_amount_minor, row.partner_name)
    if by is TopBy.GROWTH:
        return lambda row: (row.growth_pct is None, -(row.growth_pct or 0), row.partner_name)
    return lambda row: (-row.won_amount_minor, -row.won_count, row.partner_name)


async def top_partners(session: AsyncSession, query: ReportQuery, *, by: TopBy, limit: int) -> Report[TopPartnerRow]:
    """Per currency, the partners that won most in the period (by amount, count or growth)."""
    by_currency: dict[str, list[PartnerSalesRow]] = defaultdict(list)
    for row in await _partner_sales_rows(session, query):
        if row.won_count or by is TopBy.GROWTH:
            by_currency[row.currency].append(row)
    rows = []
    for currency in sorted(by_currency):
        ranked = sorted(by_currency[currency], key=_rank_key(by))[:limit]
        rows += [TopPartnerRow(rank=rank, **_fields(row)) for rank, row in enumerate(ranked, start=1)]
    return Report(header=header(query, "top-partners"), rows=rows)


def _fields(row: Any) -> dict[str, Any]:
    return {name: getattr(row, name) for name in row.__struct_fields__}


async def top_deals(session: AsyncSession, query: ReportQuery) -> Report[TopDealRow]:
    rows = []
    for currency in await queries.won_currencies(session, query):
        for rank, deal in enumerate(await queries.top_deals(session, query, currency, TOP_DEALS), start=1):
            rows.append(
                TopDealRow(
                    currency=currency,
                    rank=rank,
                    opportunity_id=deal["id"],
                    name=deal["name"],
                    channel="direct" if deal["partner_id"] is None else "indirect",
                    partner_name=deal["partner_name"],
                    amount_minor=int(deal["amount"]),
                    closed_at=deal["closed_at"],
                )
            )
    return Report(header=header(query, "top-deals"), rows=rows)


# Pipeline and forecast -----------------------------------------------------------------------


async def pipeline(session: AsyncSession, query: ReportQuery) -> Report[PipelineRow]:
    order = {stage: i for i, stage in enumerate(queries.OPEN_STAGES)}
    found = sorted(
        await queries.open_pipeline(session, query),
        key=lambda r: (order[OpportunityStage(r["stage"])], CHANNELS.index(r["channel"]), r["currency"]),
    )
    rows = [
        PipelineRow(
            stage=str(r["stage"]),
            channel=r["channel"],
            currency=r["currency"],
            count=int(r["count"]),
            amount_minor=int(r["amount"]),
        )
        for r in found
    ]
    return Report(header=header(query, "pipeline"), rows=rows)


async def forecast(session: AsyncSession, query: ReportQuery) -> Report[ForecastRow]:
    """Per expected close month, channel and currency: commit, best case and pipeline amounts."""
    sums: dict[tuple[int, str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in await queries.forecast(session, query):
        figures = sums[(r["bucket"], r["channel"], r["currency"])]
        figures[FORECAST_CATEGORY[OpportunityStage(r["stage"])]] += int(r["amount"])
        figures["count"] += int(r["count"])
    currencies = sorted({currency for (_, _, currency) in sums})
    rows = []
    for index, month in enumerate(query.months):
        for currency in currencies:
            for channel in CHANNELS:
                figures = sums.get((index, channel, currency), {})
                rows.append(
                    ForecastRow(
                        month=str(month),
                        channel=channel,
                        currency=currency,
                        commit_minor=figures.get("commit", 0),
                        best_case_minor=figures.get("best_case", 0),
                        pipeline_minor=figures.get("pipeline", 0),
                        count=figures.get("count", 0),
                    )
                )
    return Report(header=header(query, "forecast"), rows=rows)


# Deal status ---------------------------------------------------------------------------------


async def deal_status(session: AsyncSession, query: ReportQuery) -> Report[DealStatusRow]:
    counts = {
        RegistrationState(r["state"]): int(r["count"]) for r in await queries.registrations_by_state(session, query)
    }
    rows = [DealStatusRow(group="state", name=state.value, count=counts.get(state, 0)) for state in RegistrationState]
    now = query.now
    overdue = await queries.count_registrations(
        session, query, DealRegistration.state == RegistrationState.SUBMITTED, DealRegistration.review_due_at < now
    )
    rows.append(DealStatusRow(group="review", name="overdue", count=overdue))
    for days in (7, 30):
        expiring = await queries.count_registrations(
            session,
            query,
            DealRegistration.state == RegistrationState.APPROVED,
            DealRegistration.expires_at >= now,
            DealRegistration.expires_at < now + timedelta(days=days),
        )
        rows.append(DealStatusRow(group="protection_expiring", name=f"within_{days}_days", count=expiring))
    return Report(header=header(query, "deal-status"), rows=rows)


# Partner scorecard ---------------------------------------------------------------------------


async def check_partner_filter(session: AsyncSession, query: ReportQuery) -> None:
    """A partner filter the caller may not see is a 404, as its scorecard is: never an empty report."""
    if query.partner_id is not None and await queries.partner_name(session, query, query.partner_id) is None:
        raise NotFound("No such partner among those you may see.", field="partner_id")


async def partner_scorecard(session: AsyncSession, query: ReportQuery, partner_id: uuid.UUID) -> PartnerScorecard:
    """Both sides of the bargain for one partner: what it did, and what the vendor did for it."""
    name = await queries.partner_name(session, query, partner_id)
    if name is None:
        raise NotFound(f"Partner {partner_id} not found.", field="partner_id")
    query = replace(query, partner_id=partner_id)
    rows = [
        *await _registration_metrics(session, query),
        *await _lead_metrics(session, query, partner_id),
        *await _credit_metrics(session, query, partner_id),
        *await _vendor_metrics(session, query, partner_id),
    ]
    return PartnerScorecard(
        header=header(query, "partner-scorecard"), partner_id=partner_id, partner_name=name, rows=rows
    )


def partner_metric(metric: str, value: float | None, unit: str = "count", currency: str = "") -> MetricRow:
    return MetricRow(side="partner", metric=metric, value=value, unit=unit, currency=currency)


def vendor_metric(metric: str, value: float | None, unit: str = "count") -> MetricRow:
    return MetricRow(side="vendor", metric=metric, value=value, unit=unit)


def mean_days(pairs: list[tuple[datetime, datetime]], unit_seconds: int) -> float | None:
    if not pairs:
        return None
    total = sum((end - start).total_seconds() for start, end in pairs)
    return one_decimal(total / len(pairs) / unit_seconds)


async def _registration_metrics(session: AsyncSession, query: ReportQuery) -> list[MetricRow]:
    events = await queries.registration_events(session, query)
    rows = [
        partner_metric(f"registrations_{name}", events[name])
        for name in ("submitted", "approved", "rejected", "expired", "won", "lost")
    ]
    rows.append(partner_metric("win_rate_pct", pct(events["won"], events["won"] + events["lost"]), "percent"))
    won = await queries.registrations_won(session, query)
    amounts: dict[str, list[int]] = defaultdict(list)
    for r in won:
        amounts[r["currency"]].append(int(r["amount"] or 0))
    for currency in sorted(amounts):
        total = sum(amounts[currency])
        rows.append(partner_metric("won_amount", total, "minor", currency))
        rows.append(partner_metric("average_deal_size", total // len(amounts[currency]), "minor", currency))
    pairs = [(r["submitted_at"], r["closed_at"]) for r in won if r["submitted_at"] is not None]
    rows.append(partner_metric("time_to_close_days", mean_days(pairs, 86400), "days"))
    return rows


async def _lead_metrics(session: AsyncSession, query: ReportQuery, partner_id: uuid.UUID) -> list[MetricRow]:
    stall_before = query.now - timedelta(days=STALL_DAYS)
    by_status = {
        OfferStatus(r["status"]): r for r in await queries.offer_counts(session, query, partner_id, stall_before)
    }

    def count(*statuses: OfferStatus) -> int:
        return sum(int(by_status[s]["count"]) for s in statuses if s in by_status)

    accepted = count(*queries.ACCEPTED_OFFERS)
    declined, timed_out = count(OfferStatus.DECLINED), count(OfferStatus.EXPIRED)
    seconds = sum(int(by_status[s]["response_seconds"] or 0) for s in queries.ACCEPTED_OFFERS if s in by_status)
    stalled = sum(int(r["stalled"] or 0) for r in by_status.values())
    return [
        partner_metric("leads_received", count(*OfferStatus)),
        partner_metric("leads_accepted", accepted),
        partner_metric("leads_declined", declined),
        partner_metric("leads_timed_out", timed_out),
        partner_metric("leads_converted", count(OfferStatus.CONVERTED)),
        partner_metric("acceptance_rate_pct", pct(accepted, accepted + declined + timed_out), "percent"),
        partner_metric("time_to_accept_hours", one_decimal(seconds / accepted / 3600) if accepted else None, "hours"),
        partner_metric("stall_rate_pct", pct(stalled, accepted), "percent"),
    ]


async def _credit_metrics(session: AsyncSession, query: ReportQuery, partner_id: uuid.UUID) -> list[MetricRow]:
    rows = []
    for r in sorted(await queries.credit_totals(session, query, partner_id), key=lambda r: r["currency"]):
        rows.append(partner_metric("margin_credit_earned", int(r["earned"] or 0), "minor", r["currency"]))
        rows.append(partner_metric("margin_credit_paid", int(r["paid"] or 0), "minor", r["currency"]))
    return rows


async def _vendor_metrics(session: AsyncSession, query: ReportQuery, partner_id: uuid.UUID) -> list[MetricRow]:
    decisions = await queries.registration_decisions(session, query)
    on_time = sum(1 for r in decisions if r["review_due_at"] is None or r["decided_at"] <= r["review_due_at"])
    pairs = [(r["submitted_at"], r["decided_at"]) for r in decisions]
    programs = await queries.program_offers(session, query, partner_id)
    promised = sum(Decimal(r["offers"]) * r["weight"] / r["total_weight"] for r in programs if r["total_weight"])
    offered = await queries.offer_counts(session, query, partner_id, query.now)
    return [
        vendor_metric("registrations_decided", len(decisions)),
        vendor_metric("review_sla_pct", pct(on_time, len(decisions)), "percent"),
        vendor_metric("decision_hours", mean_days(pairs, 3600), "hours"),
        vendor_metric("leads_offered", sum(int(r["count"]) for r in offered)),
        vendor_metric("leads_promised", one_decimal(float(promised)), "count"),
    ]


# Leads ---------------------------------------------------------------------------------------


def _lead_key(grouping: LeadGrouping) -> Any:
    return Lead.source if grouping is LeadGrouping.SOURCE else Lead.campaign_id


async def lead_quality(session: AsyncSession, query: ReportQuery, *, by: LeadGrouping) -> Report[LeadQualityRow]:
    key = _lead_key(by)
    rows = await _lead_rows(session, query, key, whole_life=False)
    if by is LeadGrouping.CAMPAIGN:
        names = await queries.campaign_names(session, [uuid.UUID(str(row.key)) for row in rows if row.key])
        for row in rows:
            row.label = names.get(uuid.UUID(row.key), row.key) if row.key else "(no campaign)"
    return Report(header=header(query, "lead-quality"), rows=sorted(rows, key=lambda row: (row.label, row.key)))


async def _lead_rows(session: AsyncSession, query: ReportQuery, key: Any, *, whole_life: bool) -> list[LeadQualityRow]:
    rows: dict[str, LeadQualityRow] = {}
    for r in await queries.lead_quality(session, query, key, whole_life=whole_life):
        name = "" if r["key"] is None else str(r["key"])
        row = rows.setdefault(name, _empty_lead_row(name))
        row.leads += int(r["leads"])
        band = ("score_0_30", "score_31_75", "score_76_100")[r["band"]]
        setattr(row, band, getattr(row, band) + int(r["leads"]))
        row.qualified += int(r["qualified"] or 0)
        row.converted += int(r["converted"] or 0)
        row.touched_within_hour += int(r["touched"] or 0)
    for r in await queries.lead_wins(session, query, key, whole_life=whole_life):
        name = "" if r["key"] is None else str(r["key"])
        row = rows.setdefault(name, _empty_lead_row(name))
        row.won_count += int(r["count"])
        row.won_amount_minor[r["currency"]] = int(r["amount"])
    for row in rows.values():
        row.qualified_share_pct = pct(row.qualified, row.leads)
        row.converted_share_pct = pct(row.converted, row.leads)
        row.speed_to_lead_pct = pct(row.touched_within_hour, row.leads)
    return list(rows.values())


def _empty_lead_row(key: str) -> LeadQualityRow:
    return LeadQualityRow(
        key=key,
        label=key or "(none)",
        leads=0,
        score_0_30=0,
        score_31_75=0,
        score_76_100=0,
        qualified=0,
        qualified_share_pct=None,
        converted=0,
        converted_share_pct=None,
        touched_within_hour=0,
        speed_to_lead_pct=None,
        won_count=0,
        won_amount_minor={},
    )


async def campaign_return(session: AsyncSession, query: ReportQuery) -> Report[CampaignReturnRow]:
    """Campaigns with a recorded cost: what their leads (all of them) won, against the cost."""
    leads = {row.key: row for row in await _lead_rows(session, query, Lead.campaign_id, whole_life=True)}
    rows = []
    for campaign in await queries.costed_campaigns(session, query):
        found = leads.get(str(campaign["id"])) or _empty_lead_row(str(campaign["id"]))
        currency, cost = campaign["currency"], int(campaign["cost"])
        won = found.won_amount_minor.get(currency, 0)
        rows.append(
            CampaignReturnRow(
                campaign_id=campaign["id"],
                name=campaign["name"],
                currency=currency,
                cost_minor=cost,
                leads=found.leads,
                converted=found.converted,
                won_count=found.won_count,
                won_amount_minor=won,
                return_pct=pct(won - cost, cost),
                won_other_currencies_minor={c: a for c, a in found.won_amount_minor.items() if c != currency},
            )
        )
    return Report(header=header(query, "campaign-return"), rows=rows)


async def visible_partners(session: AsyncSession, query: ReportQuery) -> list[dict[str, Any]]:
    return [dict(row) for row in await queries.visible_partners(session, query)]
