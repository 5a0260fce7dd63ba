"""/dashboard (leadership, vendor admins, channel managers), /scorecards and a partner's own
/scorecard. The filters are a plain GET form; every chart has its table and a CSV link."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Request, Response, get
from litestar.params import Parameter
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.auth import Principal, Role
from prm.core.clock import Clock
from prm.core.db import Database
from prm.core.errors import DomainError, NotFound
from prm.crm.models import PartnerTier
from prm.portal.dashboard import charts
from prm.portal.shell.session import page_allow
from prm.portal.shell.templating import page
from prm.scorecards import service
from prm.scorecards.csv_export import rows_to_csv
from prm.scorecards.filters import ReportQuery, build_query
from prm.scorecards.schemas import MetricRow

VENDOR_VIEWERS = (Role.LEADERSHIP, Role.VENDOR_ADMIN, Role.CHANNEL_MANAGER)
FORECAST_MONTHS = 6
Text = Annotated[str | None, Parameter(max_length=100)]

# report name in the CSV address -> how to build it for the dashboard's filters
CSV_REPORTS: dict[str, Any] = {
    "sales-channels": service.sales_channels,
    "pipeline": service.pipeline,
    "forecast": service.forecast,
    "deal-status": service.deal_status,
    "top-partners": lambda session, query: service.top_partners(session, query, by=service.TopBy.WON_AMOUNT, limit=10),
    "lead-quality": lambda session, query: service.lead_quality(session, query, by=service.LeadGrouping.SOURCE),
}


def _filters(request: Request[Any, Any, Any]) -> dict[str, str]:
    names = ("from_month", "to_month", "tz", "region", "tier", "currency")
    return {name: request.query_params[name] for name in names if request.query_params.get(name)}


def _query(principal: Principal, clock: Clock, filters: dict[str, str], **override: str | None) -> ReportQuery:
    values: dict[str, Any] = {**filters, **override}
    tier = str(values.get("tier") or "")
    return build_query(
        principal,
        clock.now(),
        from_month=values.get("from_month"),
        to_month=values.get("to_month"),
        tz=values.get("tz") or "UTC",
        region=values.get("region"),
        tier=PartnerTier(tier) if tier in PartnerTier._value2member_map_ else None,
        currency=values.get("currency"),
    )


def _forecast_query(query: ReportQuery) -> ReportQuery:
    """The forecast looks ahead: from this month (in the zone) for six months."""
    local = query.now.astimezone(query.zone)
    first = query.first.__class__(local.year, local.month)
    return build_query(
        query.principal,
        query.now,
        from_month=str(first),
        to_month=str(first.shift(FORECAST_MONTHS - 1)),
        tz=query.zone.key,
        region=query.region,
        tier=query.tier,
        currency=query.currency,
    )


def _currency_choice(asked: str | None, channels: list[Any], pipeline: list[Any]) -> tuple[str, list[str]]:
    """The currency asked for, else the one with the most deals (won, then open): never a sum of two."""
    deals: dict[str, int] = {}
    for row in channels:
        deals[row.currency] = deals.get(row.currency, 0) + row.won_count
    for row in pipeline:
        deals[row.currency] = deals.get(row.currency, 0) + row.count
    if asked:
        if len(asked) != 3 or not asked.isalpha():
            raise DomainError("A currency is a three-letter ISO 4217 code.", field="currency")
        deals.setdefault(asked.upper(), 0)
        return asked.upper(), sorted(deals)
    busiest = min(deals, key=lambda code: (-deals[code], code)) if deals else "USD"
    return busiest, sorted(deals)


async def side_by_side(
    db: Database, session: AsyncSession, *reports: Callable[[AsyncSession], Awaitable[Any]]
) -> list[Any]:
    """The dashboard's reports at once, each in its own session (its own pooled connection), so
    the page takes about as long as its slowest report rather than the sum. They only read, and
    each session is closed (rolled back) after its report. SQLite has one connection: there
    they run one after the other in the request's session."""
    if db.is_sqlite:
        return [await report(session) for report in reports]

    async def apart(report: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
        async with db.session() as own:
            return await report(own)

    return list(await asyncio.gather(*(apart(report) for report in reports)))


@get("/dashboard", name="dashboard", guards=[page_allow(*VENDOR_VIEWERS)])
async def dashboard(
    request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, clock: Clock
) -> Response[Any]:
    filters = _filters(request)
    query = _query(principal, clock, {k: v for k, v in filters.items() if k != "currency"})
    channels, pipeline, forecast, top, leads, status = await side_by_side(
        request.app.state.db,
        db_session,
        lambda session: service.sales_channels(session, query),
        lambda session: service.pipeline(session, query),
        lambda session: service.forecast(session, _forecast_query(query)),
        lambda session: service.top_partners(session, query, by=service.TopBy.WON_AMOUNT, limit=10),
        lambda session: service.lead_quality(session, query, by=service.LeadGrouping.SOURCE),
        lambda session: service.deal_status(session, query),
    )
    currency, currencies = _currency_choice(filters.get("currency"), channels.rows, pipeline.rows)
    return page(
        "dashboard/dashboard.html",
        principal,
        query=query,
        filters=filters,
        csv_query=urlencode({**filters, "currency": currency}),
        filter_query=urlencode({k: v for k, v in filters.items() if k != "currency"}),
        currency=currency,
        currencies=currencies,
        tiers=[tier.value for tier in PartnerTier],
        channels=[row for row in channels.rows if row.currency == currency],
        pipeline=[row for row in pipeline.rows if row.currency == currency],
        forecast=[row for row in forecast.rows if row.currency == currency],
        top=[row for row in top.rows if row.currency == currency],
        leads=leads.rows,
        status=status.rows,
        charts={
            "channels": charts.channels_chart(channels.rows, currency),
            "pipeline": charts.pipeline_chart(pipeline.rows, currency),
            "forecast": charts.forecast_chart(forecast.rows, currency),
            "top-partners": charts.top_partners_chart(top.rows, currency),
            "lead-quality": charts.lead_quality_chart(leads.rows),
            "deal-status": charts.deal_status_chart(status.rows),
        },
    )


@get("/dashboard/csv/{report_name:str}", name="dashboard_csv", guards=[page_allow(*VENDOR_VIEWERS)])
async def dashboard_csv(
    request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, clock: Clock, report_name: str
) -> Response[Any]:
    """The data behind one chart, with the page's filters (all currencies unless one is chosen)."""
    build = CSV_REPORTS.get(report_name)
    if build is None:
        raise NotFound(f"No report {report_name!r}.")
    query = _query(principal, clock, _filters(request))
    if report_name == "forecast":
        query = _forecast_query(query)
    report = await build(db_session, query)
    row_type = type(report.rows[0]) if report.rows else MetricRow
    return Response(
        content=rows_to_csv(report.rows, row_type.__struct_fields__) if report.rows else "",
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{report_name}.csv"'},
    )


@get("/scorecards", name="scorecards", guards=[page_allow(*VENDOR_VIEWERS)])
async def scorecards(
    request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, clock: Clock
) -> Response[Any]:
    """A channel manager's partners (everyone's for leadership), with what each won in the period."""
    filters = _filters(request)
    query = _query(principal, clock, filters)
    partners = await service.visible_partners(db_session, query)
    sales = await service.partner_sales(db_session, query)
    won: dict[uuid.UUID, list[Any]] = {}
    for row in sales.rows:
        won.setdefault(row.partner_id, []).append(row)
    return page(
        "dashboard/scorecards.html",
        principal,
        query=query,
        filters=filters,
        filter_query=urlencode(filters),
        partners=partners,
        won=won,
    )


@get("/scorecards/{partner_id:uuid}", name="scorecard")
async def scorecard(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    principal: Principal,
    clock: Clock,
    partner_id: uuid.UUID,
) -> Response[Any]:
    """Both sides of one partner's bargain; another partner's (or another manager's) is a 404."""
    filters = _filters(request)
    query = _query(principal, clock, filters)
    card = await service.partner_scorecard(db_session, query, partner_id)
    partner_rows = [row for row in card.rows if row.side == "partner"]
    vendor_rows = [row for row in card.rows if row.side == "vendor"]
    values = {row.metric: row.value for row in card.rows if not row.currency}
    funnel = (
        "registrations_submitted",
        "registrations_approved",
        "registrations_won",
        "leads_received",
        "leads_accepted",
        "leads_converted",
    )
    figures = {
        "type": "bar",
        "labels": [name.replace("_", " ") for name in funnel],
        "datasets": [{"label": "Count", "data": [values.get(name) or 0 for name in funnel]}],
    }
    return page(
        "dashboard/scorecard.html",
        principal,
        card=card,
        query=query,
        filters=filters,
        partner_rows=partner_rows,
        vendor_rows=vendor_rows,
        chart=figures,
    )


@get("/scorecard", name="my_scorecard", guards=[page_allow(Role.PARTNER_ADMIN, Role.PARTNER_USER)])
async def my_scorecard(request: Request[Any, Any, Any], principal: Principal) -> Response[Any]:
    query = f"?{request.url.query}" if request.url.query else ""
    return Redirect(f"/scorecards/{principal.partner_id}{query}", status_code=303)


DASHBOARD_PAGE_HANDLERS: list[Any] = [dashboard, dashboard_csv, scorecards, scorecard, my_scorecard]
