"""/api/v1/scorecards/...: every report as JSON, or CSV with `?format=csv` or `Accept: text/csv`."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get
from litestar.di import Provide
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.auth import EVERYONE, VENDOR_READERS, Principal, allow
from prm.core.clock import Clock
from prm.crm.models import PartnerTier
from prm.scorecards import service
from prm.scorecards.csv_export import rows_to_csv
from prm.scorecards.filters import ReportQuery, build_query
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
    TopDealRow,
    TopPartnerRow,
)

CSV = "text/csv"


async def provide_report_query(
    principal: Principal,
    clock: Clock,
    db_session: AsyncSession,
    from_month: Annotated[str | None, Parameter(description="First month, YYYY-MM (default: 11 months back)")] = None,
    to_month: Annotated[str | None, Parameter(description="Last month, YYYY-MM (default: this month)")] = None,
    tz: Annotated[str, Parameter(description="IANA time zone of the month buckets")] = "UTC",
    region: str | None = None,
    tier: PartnerTier | None = None,
    program_id: uuid.UUID | None = None,
    channel_manager_id: uuid.UUID | None = None,
    partner_id: uuid.UUID | None = None,
    currency: str | None = None,
) -> ReportQuery:
    query = build_query(
        principal,
        clock.now(),
        from_month=from_month,
        to_month=to_month,
        tz=tz,
        region=region,
        tier=tier,
        program_id=program_id,
        channel_manager_id=channel_manager_id,
        partner_id=partner_id,
        currency=currency,
    )
    await service.check_partner_filter(db_session, query)
    return query


def wants_csv(request: Request[Any, Any, Any]) -> bool:
    if request.query_params.get("format") == "csv":
        return True
    return request.query_params.get("format") is None and CSV in request.headers.get("accept", "")


def reply(request: Request[Any, Any, Any], report: Any, row_type: type[msgspec.Struct]) -> Response[Any]:
    if not wants_csv(request):
        return Response(content=report)
    name = f"{report.header.report}-{report.header.from_month}-{report.header.to_month}.csv"
    return Response(
        content=rows_to_csv(report.rows, row_type.__struct_fields__),
        media_type=f"{CSV}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


class ScorecardController(Controller):
    path = "/scorecards"
    tags = ["scorecards"]
    guards = [allow(*EVERYONE)]
    dependencies = {"report": Provide(provide_report_query)}

    @get("/sales/channels", summary="Indirect against direct won business by month")
    async def sales_channels(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, report: ReportQuery
    ) -> Response[Report[ChannelMonthRow]]:
        return reply(request, await service.sales_channels(db_session, report), ChannelMonthRow)

    @get("/sales/closed", summary="Closed business (won and lost) by month")
    async def closed_business(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, report: ReportQuery
    ) -> Response[Report[ClosedMonthRow]]:
        return reply(request, await service.closed_business(db_session, report), ClosedMonthRow)

    @get("/sales/partners", summary="Won business by partner, with growth on the previous period")
    async def partner_sales(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, report: ReportQuery
    ) -> Response[Report[PartnerSalesRow]]:
        return reply(request, await service.partner_sales(db_session, report), PartnerSalesRow)

    @get("/sales/top-partners", summary="Top partners per currency by won amount, count or growth")
    async def top_partners(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        report: ReportQuery,
        by: service.TopBy = service.TopBy.WON_AMOUNT,
        limit: Annotated[int, Parameter(ge=1, le=200)] = 10,
    ) -> Response[Report[TopPartnerRow]]:
        return reply(request, await service.top_partners(db_session, report, by=by, limit=limit), TopPartnerRow)

    @get("/sales/top-deals", summary="The ten largest won deals per currency")
    async def top_deals(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, report: ReportQuery
    ) -> Response[Report[TopDealRow]]:
        return reply(request, await service.top_deals(db_session, report), TopDealRow)

    @get("/pipeline", summary="Open pipeline by stage and channel")
    async def pipeline(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, report: ReportQuery
    ) -> Response[Report[PipelineRow]]:
        return reply(request, await service.pipeline(db_session, report), PipelineRow)

    @get("/forecast", summary="Forecast by channel: commit, best case, pipeline by expected close month")
    async def forecast(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, report: ReportQuery
    ) -> Response[Report[ForecastRow]]:
        return reply(request, await service.forecast(db_session, report), ForecastRow)

    @get("/deal-status", summary="Registrations by state, overdue reviews, protections expiring")
    async def deal_status(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, report: ReportQuery
    ) -> Response[Report[DealStatusRow]]:
        return reply(request, await service.deal_status(db_session, report), DealStatusRow)

    @get("/leads/quality", summary="Lead quality by source or campaign")
    async def lead_quality(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        report: ReportQuery,
        by: service.LeadGrouping = service.LeadGrouping.SOURCE,
    ) -> Response[Report[LeadQualityRow]]:
        return reply(request, await service.lead_quality(db_session, report, by=by), LeadQualityRow)

    @get("/campaigns/return", summary="Campaign return where costs are recorded", guards=[allow(*VENDOR_READERS)])
    async def campaign_return(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, report: ReportQuery
    ) -> Response[Report[CampaignReturnRow]]:
        return reply(request, await service.campaign_return(db_session, report), CampaignReturnRow)

    @get("/partners/{scorecard_partner_id:uuid}", summary="A partner's scorecard, both sides (404 if not yours)")
    async def partner_scorecard(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        report: ReportQuery,
        scorecard_partner_id: uuid.UUID,
    ) -> Response[PartnerScorecard]:
        return reply(request, await service.partner_scorecard(db_session, report, scorecard_partner_id), MetricRow)
