"""Opportunities: direct (no partner) and indirect (a partner on the deal), and their stages."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

import msgspec
from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.auth import Principal
from prm.core.changes import expect_version
from prm.core.errors import Conflict, RuleViolation
from prm.core.pagination import PageRequest
from prm.core.records import record_created, record_deleted, record_updated
from prm.crm.models import Opportunity, OpportunityStage
from prm.crm.repository import OpportunityRepository
from prm.crm.schemas import OpportunityCreate, OpportunityUpdate

FIELDS = (
    "name",
    "account_id",
    "partner_id",
    "stage",
    "amount_minor",
    "currency",
    "close_date",
    "owner_id",
    "lead_source",
    "closed_at",
)


class Channel(StrEnum):
    """How the deal is sold: a partner on it makes it indirect."""

    DIRECT = "direct"
    INDIRECT = "indirect"


async def _partner_for(session: AsyncSession, principal: Principal, data: OpportunityCreate) -> uuid.UUID | None:
    """The partner on a new opportunity, after one query that also checks the account is visible.

    A hidden account and a missing one give the same 422, so the reply never confirms it exists.
    """
    if principal.is_partner and data.partner_id not in (None, principal.partner_id):
        raise RuleViolation("You can only register opportunities for your own organisation.", field="partner_id")
    partner_id = principal.partner_id if principal.is_partner else data.partner_id
    asked_for = None if principal.is_partner else partner_id
    placement = await OpportunityRepository(session, principal).placement(data.account_id, asked_for)
    if placement is None:
        raise RuleViolation(f"Account {data.account_id} not found.", field="account_id")
    if not placement.may_act_for_partner:
        raise RuleViolation("No such partner.", field="partner_id")
    if partner_id is not None and placement.account_partner_id not in (None, partner_id):
        # Else the partner on the deal would learn of another partner's customer.
        raise RuleViolation("The account belongs to another partner.", field="partner_id")
    return partner_id


def new_opportunity(
    data: OpportunityCreate, partner_id: uuid.UUID | None, principal: Principal, now: datetime
) -> Opportunity:
    """The opportunity a create body makes, owned by its creator (closed now if made closed)."""
    return Opportunity(
        name=data.name,
        account_id=data.account_id,
        partner_id=partner_id,
        stage=data.stage,
        amount_minor=data.amount_minor,
        currency=data.currency,
        close_date=data.close_date,
        owner_id=principal.user_id,
        lead_source=data.lead_source,
        closed_at=now if data.stage.is_closed else None,
    )


async def create_opportunity(session: AsyncSession, *, principal: Principal, data: OpportunityCreate) -> Opportunity:
    partner_id = await _partner_for(session, principal, data)
    opportunity = new_opportunity(data, partner_id, principal, session.info["clock"].now())
    session.add(opportunity)
    await record_created(session, opportunity, entity="opportunity", principal=principal, fields=FIELDS)
    return opportunity


def _check_stage_move(opportunity: Opportunity, new_stage: OpportunityStage | msgspec.UnsetType) -> None:
    """Closed is final: a won or lost deal never goes back to an open stage (or flips outcome)."""
    if isinstance(new_stage, msgspec.UnsetType) or new_stage == opportunity.stage:
        return
    if opportunity.stage.is_closed:
        raise Conflict(
            f"The opportunity is {opportunity.stage.value}; its stage can no longer change.",
            field="stage",
            current_stage=opportunity.stage.value,
        )


async def update_opportunity(
    session: AsyncSession, *, principal: Principal, opportunity_id: uuid.UUID, data: OpportunityUpdate
) -> Opportunity:
    opportunity = await OpportunityRepository(session, principal).get(opportunity_id)
    expect_version(opportunity, data.expected_version)
    _check_stage_move(opportunity, data.stage)
    if isinstance(data.stage, OpportunityStage) and data.stage.is_closed and opportunity.closed_at is None:
        # The history entry of this stage change carries the same instant as its `at`.
        opportunity.closed_at = session.info["clock"].now()
    await record_updated(session, opportunity, data, entity="opportunity", principal=principal)
    return opportunity


async def get_opportunity(session: AsyncSession, *, principal: Principal, opportunity_id: uuid.UUID) -> Opportunity:
    return await OpportunityRepository(session, principal).get(opportunity_id)


async def list_opportunities(
    session: AsyncSession,
    *,
    principal: Principal,
    page: PageRequest,
    stage: OpportunityStage | None = None,
    partner_id: uuid.UUID | None = None,
    account_id: uuid.UUID | None = None,
    channel: Channel | None = None,
    close_date_from: date | None = None,
    close_date_to: date | None = None,
) -> tuple[list[Opportunity], str | None]:
    if close_date_from and close_date_to and close_date_from > close_date_to:
        raise RuleViolation("close_date_to is before close_date_from.", field="close_date_to")
    filters: list[ColumnElement[bool]] = []
    if stage is not None:
        filters.append(Opportunity.stage == stage)
    if partner_id is not None:
        filters.append(Opportunity.partner_id == partner_id)
    if account_id is not None:
        filters.append(Opportunity.account_id == account_id)
    if channel is Channel.DIRECT:
        filters.append(Opportunity.partner_id.is_(None))
    elif channel is Channel.INDIRECT:
        filters.append(Opportunity.partner_id.is_not(None))
    if close_date_from is not None:
        filters.append(Opportunity.close_date >= close_date_from)
    if close_date_to is not None:
        filters.append(Opportunity.close_date <= close_date_to)
    return await OpportunityRepository(session, principal).page(page, *filters)


async def delete_opportunity(
    session: AsyncSession, *, principal: Principal, opportunity_id: uuid.UUID, expected_version: int | None
) -> None:
    """Delete the opportunity (a peer it is shared with gets a tombstone); 409 while records refer to it."""
    opportunity = await OpportunityRepository(session, principal).get(opportunity_id)
    if expected_version is not None:
        expect_version(opportunity, expected_version)
    await record_deleted(session, opportunity, entity="opportunity", principal=principal)
