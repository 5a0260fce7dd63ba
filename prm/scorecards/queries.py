"""Every SQL statement the scorecards run (the repository of the read side).

On PostgreSQL most reports read the maintained cells (`prm.scorecards.models`) when they can
(see `rollups`): the same figures from a few thousand cells instead of a million records.
Each statement over the records selects narrow rows in a sub-select (tenant filter and report filters applied
there) and groups the sub-select's columns, so a bucketing CASE is written once and PostgreSQL
never sees two copies of it with different bind parameters. Rows are read by column name.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, exists, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from prm.credits.models import Credit
from prm.crm.models import Campaign, Lead, LeadStatus, Opportunity, OpportunityStage, Partner
from prm.deal_registration.models import DealRegistration, RegistrationState
from prm.deal_registration.service.state import ENTITY as REGISTRATION_ENTITY
from prm.lead_distribution.models import LeadOffer, OfferStatus, ProgramMember
from prm.scorecards import edges, rollups
from prm.scorecards.filters import Month, ReportQuery, currency_condition, date_bucket, month_bucket, partner_conditions
from prm.scorecards.models import LeadCell, OpportunityCell, ProgramLeadCell, ProgramOpportunityCell, RegistrationCell

OPEN_STAGES = (
    OpportunityStage.PROSPECTING,
    OpportunityStage.PRESENTATION,
    OpportunityStage.PROPOSAL,
    OpportunityStage.NEGOTIATION,
)
ACCEPTED_OFFERS = (OfferStatus.ACCEPTED, OfferStatus.CONVERTED)
NOT_QUALIFIED = (LeadStatus.NEW, LeadStatus.DISQUALIFIED)
SPEED_TO_LEAD_SECONDS = 3600

Rows = list[Any]


def channel_of(partner_column: Any) -> ColumnElement[str]:
    return case((partner_column.is_(None), literal("direct")), else_=literal("indirect"))


def opportunity_filters(query: ReportQuery) -> list[ColumnElement[bool]]:
    conditions = [*partner_conditions(query, Opportunity.partner_id), currency_condition(query, Opportunity.currency)]
    if query.program_id is not None:
        registered = exists().where(
            DealRegistration.opportunity_id == Opportunity.id, DealRegistration.program_id == query.program_id
        )
        conditions.append(registered)
    return conditions


def registration_filters(query: ReportQuery) -> list[ColumnElement[bool]]:
    conditions = [
        *partner_conditions(query, DealRegistration.partner_id),
        currency_condition(query, DealRegistration.currency),
    ]
    if query.program_id is not None:
        conditions.append(DealRegistration.program_id == query.program_id)
    return conditions


def lead_filters(query: ReportQuery) -> list[ColumnElement[bool]]:
    """Leads a caller may see: a partner the leads it holds, a channel manager their partners'."""
    conditions = [*partner_conditions(query, Lead.partner_id), Lead.merged_into_id.is_(None)]
    if query.program_id is not None:
        conditions.append(exists().where(LeadOffer.lead_id == Lead.id, LeadOffer.program_id == query.program_id))
    return conditions


async def _all(session: AsyncSession, statement: Select[Any]) -> Rows:
    return list((await session.execute(statement)).mappings())


OpportunityCells = type[OpportunityCell] | type[ProgramOpportunityCell]
LeadCells = type[LeadCell] | type[ProgramLeadCell]


def opportunity_cell(query: ReportQuery) -> OpportunityCells:
    """The opportunity cells a report reads: a program's own when it is filtered by program."""
    return OpportunityCell if query.program_id is None else ProgramOpportunityCell


def lead_cell(query: ReportQuery) -> LeadCells:
    return LeadCell if query.program_id is None else ProgramLeadCell


def _program_condition(query: ReportQuery, cell: OpportunityCells | LeadCells) -> list[ColumnElement[bool]]:
    if query.program_id is None:
        return []
    return [cell.program_id == query.program_id]  # type: ignore[union-attr]


def _cells(query: ReportQuery, stages: tuple[OpportunityStage, ...], months: list[Month] | None) -> list[Any]:
    """The opportunity cells a report over `stages` (and `months`, when given) reads. Conditions on
    the key only: a cell is the sum of its rows (deltas, some negative), so the sums are filtered
    after grouping (HAVING), never row by row."""
    cell = opportunity_cell(query)
    conditions: list[Any] = [
        *_program_condition(query, cell),
        cell.stage.in_([stage.value for stage in stages]),
        *partner_conditions(query, cell.partner_id),
        currency_condition(query, cell.currency),
    ]
    if months is not None:
        conditions += [
            cell.month >= months[0].first_day(),
            cell.month < months[-1].shift(1).first_day(),
        ]
    return conditions


async def _in_zone(session: AsyncSession, query: ReportQuery, months: list[Month], cells: Rows,
                   stages: tuple[OpportunityStage, ...], names: tuple[str, ...], *keys: Any,
                   indirect: bool = False) -> Rows:  # fmt: skip
    """The cells' sums (by UTC month) as they are in the query's zone: see `edges`."""
    if rollups.months_align_with_utc(query, months):
        return cells
    closed_at = Opportunity.closed_at
    inner = (
        select(
            edges.span_bucket(closed_at, months, query.zone).label("zone_bucket"),
            edges.span_bucket(closed_at, months, edges.UTC_ZONE).label("utc_bucket"),
            *keys,
            Opportunity.amount_minor.label("amount"),
        )
        .select_from(Opportunity)
        .outerjoin(Partner, Partner.id == Opportunity.partner_id)
        .where(
            Opportunity.stage.in_(stages),
            edges.within_gaps(closed_at, query.zone, months),
            *opportunity_filters(query),
            *([Opportunity.partner_id.is_not(None)] if indirect else []),
        )
        .subquery()
    )
    grouping = [inner.c.zone_bucket, inner.c.utc_bucket, *(inner.c[key.name] for key in keys)]
    records = await _all(
        session,
        select(*grouping, func.sum(inner.c.amount).label("amount"), func.count().label("count")).group_by(*grouping),
    )
    return edges.moved(cells, records, names, ("amount", "count"), len(months))


async def _cell_sums(session: AsyncSession, query: ReportQuery, stages: tuple[OpportunityStage, ...],
                     months: list[Month] | None, *keys: Any) -> Rows:  # fmt: skip
    """Sum the cells' counts and amounts grouped by `keys` (labelled columns), in a sub-select
    like the record statements so a bucketing CASE appears once."""
    cell = opportunity_cell(query)
    inner = (
        select(*keys, cell.amount_minor.label("amount"), cell.opportunities.label("n"))
        .where(*_cells(query, stages, months))
        .subquery()
    )
    grouping = [inner.c[key.name] for key in keys]
    return await _all(
        session,
        select(*grouping, func.sum(inner.c.amount).label("amount"), func.sum(inner.c.n).label("count"))
        .group_by(*grouping)
        .having(func.sum(inner.c.n) > 0),
    )


# Sales ---------------------------------------------------------------------------------------


async def won_by_month(session: AsyncSession, query: ReportQuery, months: list[Month]) -> Rows:
    """Won amount and count per month, channel and currency, over `months`."""
    cell = opportunity_cell(query)
    if rollups.opportunity_cells_usable(session, query):
        keys = (date_bucket(cell.month, months), channel_of(cell.partner_id))
        cells = await _cell_sums(session, query, (OpportunityStage.CLOSED_WON,), months,
                                 keys[0].label("bucket"), keys[1].label("channel"),
                                 cell.currency.label("currency"))  # fmt: skip
        names = ("bucket", "channel", "currency")
        return await _in_zone(session, query, months, cells, (OpportunityStage.CLOSED_WON,), names,
                              channel_of(Opportunity.partner_id).label("channel"),
                              Opportunity.currency.label("currency"))  # fmt: skip
    inner = (
        select(
            month_bucket(Opportunity.closed_at, months, query.zone).label("bucket"),
            channel_of(Opportunity.partner_id).label("channel"),
            Opportunity.currency.label("currency"),
            Opportunity.amount_minor.label("amount"),
        )
        .where(
            Opportunity.stage == OpportunityStage.CLOSED_WON,
            Opportunity.closed_at >= months[0].start(query.zone),
            Opportunity.closed_at < months[-1].shift(1).start(query.zone),
            *opportunity_filters(query),
        )
        .subquery()
    )
    return await _all(
        session,
        select(inner.c.bucket, inner.c.channel, inner.c.currency, func.sum(inner.c.amount).label("amount"))
        .add_columns(func.count().label("count"))
        .group_by(inner.c.bucket, inner.c.channel, inner.c.currency),
    )


async def closed_by_month(session: AsyncSession, query: ReportQuery) -> Rows:
    cell = opportunity_cell(query)
    if rollups.opportunity_cells_usable(session, query):
        closed = (OpportunityStage.CLOSED_WON, OpportunityStage.CLOSED_LOST)
        cells = await _cell_sums(session, query, closed, query.months,
                                 date_bucket(cell.month, query.months).label("bucket"),
                                 cell.stage.label("stage"),
                                 cell.currency.label("currency"))  # fmt: skip
        return await _in_zone(session, query, query.months, cells, closed, ("bucket", "stage", "currency"),
                              Opportunity.stage.label("stage"), Opportunity.currency.label("currency"))  # fmt: skip
    inner = (
        select(
            month_bucket(Opportunity.closed_at, query.months, query.zone).label("bucket"),
            Opportunity.stage.label("stage"),
            Opportunity.currency.label("currency"),
            Opportunity.amount_minor.label("amount"),
        )
        .where(
            Opportunity.stage.in_((OpportunityStage.CLOSED_WON, OpportunityStage.CLOSED_LOST)),
            Opportunity.closed_at >= query.start,
            Opportunity.closed_at < query.end,
            *opportunity_filters(query),
        )
        .subquery()
    )
    return await _all(
        session,
        select(inner.c.bucket, inner.c.stage, inner.c.currency, func.sum(inner.c.amount).label("amount"))
        .add_columns(func.count().label("count"))
        .group_by(inner.c.bucket, inner.c.stage, inner.c.currency),
    )


async def won_by_partner(session: AsyncSession, query: ReportQuery) -> Rows:
    """Won amount and count per partner and currency within the query's period (indirect only)."""
    cell = opportunity_cell(query)
    if rollups.opportunity_cells_usable(session, query):
        cells = await _all(
            session,
            select(
                cell.partner_id.label("partner_id"),
                Partner.name.label("partner_name"),
                cell.currency.label("currency"),
                func.sum(cell.amount_minor).label("amount"),
                func.sum(cell.opportunities).label("count"),
            )
            .join(Partner, Partner.id == cell.partner_id)
            .where(*_cells(query, (OpportunityStage.CLOSED_WON,), query.months))
            .group_by(cell.partner_id, Partner.name, cell.currency)
            .having(func.sum(cell.opportunities) > 0),
        )
        return await _in_zone(session, query, query.months, cells, (OpportunityStage.CLOSED_WON,),
                              ("partner_id", "partner_name", "currency"), Opportunity.partner_id.label("partner_id"),
                              Partner.name.label("partner_name"), Opportunity.currency.label("currency"),
                              indirect=True)  # fmt: skip
    return await _all(
        session,
        select(
            Opportunity.partner_id.label("partner_id"),
            Partner.name.label("partner_name"),
            Opportunity.currency.label("currency"),
            func.sum(Opportunity.amount_minor).label("amount"),
            func.count().label("count"),
        )
        .join(Partner, Partner.id == Opportunity.partner_id)
        .where(
            Opportunity.stage == OpportunityStage.CLOSED_WON,
            Opportunity.closed_at >= query.start,
            Opportunity.closed_at < query.end,
            *opportunity_filters(query),
        )
        .group_by(Opportunity.partner_id, Partner.name, Opportunity.currency),
    )


async def top_deals(session: AsyncSession, query: ReportQuery, currency: str, limit: int) -> Rows:
    return await _all(
        session,
        select(
            Opportunity.id.label("id"),
            Opportunity.name.label("name"),
            Opportunity.partner_id.label("partner_id"),
            Partner.name.label("partner_name"),
            Opportunity.amount_minor.label("amount"),
            Opportunity.closed_at.label("closed_at"),
        )
        .outerjoin(Partner, Partner.id == Opportunity.partner_id)
        .where(
            Opportunity.stage == OpportunityStage.CLOSED_WON,
            Opportunity.closed_at >= query.start,
            Opportunity.closed_at < query.end,
            Opportunity.currency == currency,
            *opportunity_filters(query),
        )
        .order_by(Opportunity.amount_minor.desc(), Opportunity.closed_at, Opportunity.id)
        .limit(limit),
    )


async def won_currencies(session: AsyncSession, query: ReportQuery) -> list[str]:
    cell = opportunity_cell(query)
    if rollups.opportunity_cells_usable(session, query):
        won = (OpportunityStage.CLOSED_WON,)
        cells = await _cell_sums(session, query, won, query.months, cell.currency.label("currency"))
        sums = await _in_zone(session, query, query.months, cells, won, ("currency",),
                              Opportunity.currency.label("currency"))  # fmt: skip
        return sorted(row["currency"] for row in sums if row["count"])
    statement = (
        select(Opportunity.currency)
        .where(
            Opportunity.stage == OpportunityStage.CLOSED_WON,
            Opportunity.closed_at >= query.start,
            Opportunity.closed_at < query.end,
            *opportunity_filters(query),
        )
        .distinct()
        .order_by(Opportunity.currency)
    )
    return list((await session.scalars(statement)).all())


# Pipeline and forecast -----------------------------------------------------------------------


async def open_pipeline(session: AsyncSession, query: ReportQuery) -> Rows:
    cell = opportunity_cell(query)
    if rollups.opportunity_cells_usable(session, query):
        return await _cell_sums(session, query, OPEN_STAGES, None, cell.stage.label("stage"),
                                channel_of(cell.partner_id).label("channel"),
                                cell.currency.label("currency"))  # fmt: skip
    inner = (
        select(
            Opportunity.stage.label("stage"),
            channel_of(Opportunity.partner_id).label("channel"),
            Opportunity.currency.label("currency"),
            Opportunity.amount_minor.label("amount"),
        )
        .where(Opportunity.stage.in_(OPEN_STAGES), *opportunity_filters(query))
        .subquery()
    )
    return await _all(
        session,
        select(inner.c.stage, inner.c.channel, inner.c.currency, func.sum(inner.c.amount).label("amount"))
        .add_columns(func.count().label("count"))
        .group_by(inner.c.stage, inner.c.channel, inner.c.currency),
    )


async def forecast(session: AsyncSession, query: ReportQuery) -> Rows:
    cell = opportunity_cell(query)
    if rollups.opportunity_cells_usable(session, query):  # close dates have no zone: any query fits
        return await _cell_sums(session, query, OPEN_STAGES, query.months,
                                date_bucket(cell.month, query.months).label("bucket"),
                                cell.stage.label("stage"),
                                channel_of(cell.partner_id).label("channel"),
                                cell.currency.label("currency"))  # fmt: skip
    inner = (
        select(
            date_bucket(Opportunity.close_date, query.months).label("bucket"),
            Opportunity.stage.label("stage"),
            channel_of(Opportunity.partner_id).label("channel"),
            Opportunity.currency.label("currency"),
            Opportunity.amount_minor.label("amount"),
        )
        .where(
            Opportunity.stage.in_(OPEN_STAGES),
            Opportunity.close_date >= query.first.first_day(),
            Opportunity.close_date < query.last.shift(1).first_day(),
            *opportunity_filters(query),
        )
        .subquery()
    )
    return await _all(
        session,
        select(inner.c.bucket, inner.c.stage, inner.c.channel, inner.c.currency)
        .add_columns(func.sum(inner.c.amount).label("amount"), func.count().label("count"))
        .group_by(inner.c.bucket, inner.c.stage, inner.c.channel, inner.c.currency),
    )


# Deal registration ---------------------------------------------------------------------------


async def registrations_by_state(session: AsyncSession, query: ReportQuery) -> Rows:
    if rollups.maintained(session):
        cells = [
            *partner_conditions(query, RegistrationCell.partner_id),
            currency_condition(query, RegistrationCell.currency),
        ]
        if query.program_id is not None:
            cells.append(RegistrationCell.program_id == query.program_id)
        return await _all(
            session,
            select(RegistrationCell.state.label("state"), func.sum(RegistrationCell.registrations).label("count"))
            .where(*cells)
            .group_by(RegistrationCell.state)
            .having(func.sum(RegistrationCell.registrations) > 0),
        )
    return await _all(
        session,
        select(DealRegistration.state.label("state"), func.count().label("count"))
        .where(*registration_filters(query))
        .group_by(DealRegistration.state),
    )


async def count_registrations(session: AsyncSession, query: ReportQuery, *conditions: Any) -> int:
    statement = select(func.count()).select_from(DealRegistration).where(*registration_filters(query), *conditions)
    return int((await session.scalar(statement)) or 0)


async def registration_events(session: AsyncSession, query: ReportQuery) -> dict[str, int]:
    """How many registrations were submitted, approved, ... within the period (by each event's time)."""
    start, end = query.start, query.end

    def within(column: Any, *also: Any) -> ColumnElement[int]:
        return func.sum(case((and_(column >= start, column < end, *also), 1), else_=0))

    state = DealRegistration.state
    statement = select(
        within(DealRegistration.submitted_at).label("submitted"),
        within(DealRegistration.approved_at).label("approved"),
        within(DealRegistration.decided_at, state == RegistrationState.REJECTED).label("rejected"),
        within(DealRegistration.expired_at).label("expired"),
        within(DealRegistration.closed_at, state == RegistrationState.WON).label("won"),
        within(DealRegistration.closed_at, state == RegistrationState.LOST).label("lost"),
    ).where(*registration_filters(query))
    row = (await session.execute(statement)).mappings().one()
    return {name: int(value or 0) for name, value in row.items()}


async def registrations_won(session: AsyncSession, query: ReportQuery) -> Rows:
    """Won registrations closed within the period: amount, currency, submitted and closed times."""
    return await _all(
        session,
        select(
            DealRegistration.currency.label("currency"),
            DealRegistration.won_amount_minor.label("amount"),
            DealRegistration.submitted_at.label("submitted_at"),
            DealRegistration.closed_at.label("closed_at"),
        ).where(
            DealRegistration.state == RegistrationState.WON,
            DealRegistration.closed_at >= query.start,
            DealRegistration.closed_at < query.end,
            *registration_filters(query),
        ),
    )


async def registration_decisions(session: AsyncSession, query: ReportQuery) -> Rows:
    """Registrations decided (approved or rejected) within the period, with their review clocks."""
    return await _all(
        session,
        select(
            DealRegistration.submitted_at.label("submitted_at"),
            DealRegistration.decided_at.label("decided_at"),
            DealRegistration.review_due_at.label("review_due_at"),
        ).where(
            DealRegistration.decided_at >= query.start,
            DealRegistration.decided_at < query.end,
            DealRegistration.submitted_at.is_not(None),
            *registration_filters(query),
        ),
    )


# Leads ---------------------------------------------------------------------------------------


async def offer_counts(
    session: AsyncSession, query: ReportQuery, partner_id: uuid.UUID, stall_before: datetime
) -> Rows:
    """The partner's offers made within the period, by status, with response times and stalls."""
    stalled = and_(LeadOffer.status == OfferStatus.ACCEPTED, LeadOffer.responded_at < stall_before)
    return await _all(
        session,
        select(
            LeadOffer.status.label("status"),
            func.count().label("count"),
            func.sum(LeadOffer.response_seconds).label("response_seconds"),
            func.sum(case((stalled, 1), else_=0)).label("stalled"),
        )
        .where(
            LeadOffer.partner_id == partner_id,
            LeadOffer.offered_at >= query.start,
            LeadOffer.offered_at < query.end,
            *_offer_program(query),
        )
        .group_by(LeadOffer.status),
    )


def _offer_program(query: ReportQuery) -> list[ColumnElement[bool]]:
    return [LeadOffer.program_id == query.program_id] if query.program_id is not None else []


async def program_offers(session: AsyncSession, query: ReportQuery, partner_id: uuid.UUID) -> Rows:
    """For each lead program the partner is a member of: the partner's weight, the members' total
    weight, and how many offers the program made within the period (to anyone)."""
    weights = (
        select(ProgramMember.program_id, func.sum(ProgramMember.weight).label("total_weight"))
        .group_by(ProgramMember.program_id)
        .subquery()
    )
    memberships = select(ProgramMember.program_id).where(ProgramMember.partner_id == partner_id)
    offers = (
        select(LeadOffer.program_id, func.count().label("offers"))
        .where(
            LeadOffer.program_id.in_(memberships),  # only the partner's programs' offers are read
            LeadOffer.offered_at >= query.start,
            LeadOffer.offered_at < query.end,
        )
        .group_by(LeadOffer.program_id)
        .subquery()
    )
    return await _all(
        session,
        select(
            ProgramMember.program_id.label("program_id"),
            ProgramMember.weight.label("weight"),
            weights.c.total_weight.label("total_weight"),
            func.coalesce(offers.c.offers, 0).label("offers"),
        )
        .join(weights, weights.c.program_id == ProgramMember.program_id)
        .outerjoin(offers, offers.c.program_id == ProgramMember.program_id)
        .where(ProgramMember.partner_id == partner_id, *_member_program(query)),
    )


def _member_program(query: ReportQuery) -> list[ColumnElement[bool]]:
    return [ProgramMember.program_id == query.program_id] if query.program_id is not None else []


async def credit_totals(session: AsyncSession, query: ReportQuery, partner_id: uuid.UUID) -> Rows:
    """Margin credits earned (created) and paid within the period, per currency."""

    def within(column: Any) -> ColumnElement[int]:
        return func.sum(case((and_(column >= query.start, column < query.end), Credit.amount_minor), else_=0))

    return await _all(
        session,
        select(
            Credit.currency.label("currency"),
            within(Credit.created_at).label("earned"),
            within(Credit.paid_at).label("paid"),
        )
        .where(
            Credit.partner_id == partner_id,
            Credit.source_type == REGISTRATION_ENTITY,
            or_(
                and_(Credit.created_at >= query.start, Credit.created_at < query.end),
                and_(Credit.paid_at >= query.start, Credit.paid_at < query.end),
            ),
            currency_condition(query, Credit.currency),
        )
        .group_by(Credit.currency),
    )


def _touched_within_hour() -> Any:
    """The leads a partner accepted within an hour of the offer, as a sub-select to outer-join
    (a hash join over the offers, where a per-lead EXISTS would probe the offers once per lead)."""
    return (
        select(LeadOffer.lead_id.label("lead_id"))
        .where(LeadOffer.status.in_(ACCEPTED_OFFERS), LeadOffer.response_seconds <= SPEED_TO_LEAD_SECONDS)
        .distinct()
        .subquery()
    )


def _lead_period(query: ReportQuery, *, whole_life: bool) -> list[ColumnElement[bool]]:
    return [] if whole_life else [Lead.created_at >= query.start, Lead.created_at < query.end]


async def lead_quality(session: AsyncSession, query: ReportQuery, key: Any, *, whole_life: bool = False) -> Rows:
    """Leads created within the period (or ever), grouped by `key` (source or campaign id)."""
    if rollups.maintained(session):
        cells = await _lead_cell_sums(session, query, getattr(lead_cell(query), key.key), whole_life=whole_life)
        if whole_life or rollups.months_align_with_utc(query, query.months):
            return cells
        return edges.moved(cells, await _lead_gaps(session, query, key), ("key", "band"), LEAD_MEASURES,
                           len(query.months))  # fmt: skip
    inner = _lead_rows(query, key).where(*_lead_period(query, whole_life=whole_life)).subquery()
    return await _all(
        session,
        select(inner.c.key, inner.c.band, func.count().label("leads"))
        .add_columns(
            func.sum(inner.c.qualified).label("qualified"),
            func.sum(inner.c.converted).label("converted"),
            func.sum(inner.c.touched).label("touched"),
        )
        .group_by(inner.c.key, inner.c.band),
    )


LEAD_MEASURES = ("qualified", "converted", "touched", "leads")


def _lead_rows(query: ReportQuery, key: Any, *extra: Any, few: bool = False) -> Select[Any]:
    """One narrow row per lead the query may see: its key, score band and flags. For `few` leads
    whether one was touched is looked up per lead, else the touched leads are hash-joined."""
    touched = _touched_within_hour()
    is_touched = (
        exists().where(
            LeadOffer.lead_id == Lead.id,
            LeadOffer.status.in_(ACCEPTED_OFFERS),
            LeadOffer.response_seconds <= SPEED_TO_LEAD_SECONDS,
        )
        if few
        else touched.c.lead_id.is_not(None)
    )
    statement = select(
        *extra,
        key.label("key"),
        case((Lead.score <= 30, 0), (Lead.score <= 75, 1), else_=2).label("band"),
        case((Lead.status.in_(NOT_QUALIFIED), 0), else_=1).label("qualified"),
        case((Lead.status == LeadStatus.CONVERTED, 1), else_=0).label("converted"),
        case((is_touched, 1), else_=0).label("touched"),
    ).select_from(Lead)
    if not few:
        statement = statement.outerjoin(touched, touched.c.lead_id == Lead.id)
    return statement.where(*lead_filters(query))


async def _lead_gaps(session: AsyncSession, query: ReportQuery, key: Any) -> Rows:
    """The leads created between the months' starts in the zone and in UTC (see `edges`)."""
    months = query.months
    inner = (
        _lead_rows(
            query,
            key,
            edges.span_bucket(Lead.created_at, months, query.zone).label("zone_bucket"),
            edges.span_bucket(Lead.created_at, months, edges.UTC_ZONE).label("utc_bucket"),
            few=True,
        )
        .where(edges.within_gaps(Lead.created_at, query.zone, months))
        .subquery()
    )
    grouping = [inner.c.zone_bucket, inner.c.utc_bucket, inner.c.key, inner.c.band]
    return await _all(
        session,
        select(*grouping, func.count().label("leads"))
        .add_columns(
            func.sum(inner.c.qualified).label("qualified"),
            func.sum(inner.c.converted).label("converted"),
            func.sum(inner.c.touched).label("touched"),
        )
        .group_by(*grouping),
    )


async def _lead_cell_sums(session: AsyncSession, query: ReportQuery, key: Any, *, whole_life: bool) -> Rows:
    cell = lead_cell(query)

    def leads_where(flag: Any) -> ColumnElement[int]:
        return func.sum(case((flag, cell.leads), else_=0))

    conditions = [*_program_condition(query, cell), *partner_conditions(query, cell.partner_id)]
    if not whole_life:
        conditions += [cell.month >= query.first.first_day(), cell.month < query.last.shift(1).first_day()]
    return await _all(
        session,
        select(key.label("key"), cell.band.label("band"), func.sum(cell.leads).label("leads"))
        .add_columns(
            leads_where(cell.qualified).label("qualified"),
            leads_where(cell.converted).label("converted"),
            leads_where(cell.touched).label("touched"),
        )
        .where(*conditions)
        .group_by(key, cell.band)
        .having(func.sum(cell.leads) > 0),
    )


async def lead_wins(session: AsyncSession, query: ReportQuery, key: Any, *, whole_life: bool = False) -> Rows:
    """Won opportunities converted from the period's leads, by `key` and currency."""
    return await _all(
        session,
        select(
            key.label("key"),
            Opportunity.currency.label("currency"),
            func.sum(Opportunity.amount_minor).label("amount"),
            func.count().label("count"),
        )
        .join(Opportunity, Opportunity.id == Lead.converted_opportunity_id)
        .where(
            # Said outright (the join implies it) so PostgreSQL starts from the few converted
            # leads' partial index instead of hashing every won opportunity: 1.3 s -> 0.1 ms at 1M.
            Lead.converted_opportunity_id.is_not(None),
            Opportunity.stage == OpportunityStage.CLOSED_WON,
            *_lead_period(query, whole_life=whole_life),
            currency_condition(query, Opportunity.currency),
            *lead_filters(query),
        )
        .group_by(key, Opportunity.currency),
    )


async def campaign_names(session: AsyncSession, ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    rows = await session.execute(select(Campaign.id, Campaign.name).where(Campaign.id.in_(ids)))
    return {row.id: row.name for row in rows}


async def costed_campaigns(session: AsyncSession, query: ReportQuery) -> Rows:
    return await _all(
        session,
        select(
            Campaign.id.label("id"),
            Campaign.name.label("name"),
            Campaign.currency.label("currency"),
            Campaign.budget_minor.label("cost"),
        )
        .where(Campaign.budget_minor.is_not(None), Campaign.currency.is_not(None))
        .where(currency_condition(query, Campaign.currency))
        .order_by(Campaign.name, Campaign.id),
    )


async def partner_name(session: AsyncSession, query: ReportQuery, partner_id: uuid.UUID) -> str | None:
    """The partner's name if the caller may see its scorecard (else None: a 404)."""
    statement = select(Partner.name).where(Partner.id == partner_id, *partner_conditions(query, Partner.id))
    name: str | None = await session.scalar(statement)
    return name


async def visible_partners(session: AsyncSession, query: ReportQuery) -> Rows:
    """The partners whose scorecards the caller may open (a channel manager: theirs)."""
    return await _all(
        session,
        select(
            Partner.id.label("id"),
            Partner.name.label("name"),
            Partner.tier.label("tier"),
            Partner.region.label("region"),
        )
        .where(*partner_conditions(query, Partner.id))
        .order_by(Partner.name, Partner.id)
        .limit(500),
    )
