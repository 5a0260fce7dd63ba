"""Campaigns (with parent campaigns) and their members: the vendor's marketing, staff only."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import ColumnElement
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.auth import Principal
from prm.core.changes import expect_version
from prm.core.errors import Conflict, RuleViolation
from prm.core.pagination import PageRequest
from prm.core.records import record_created, record_updated
from prm.crm.models import Campaign, CampaignMember, CampaignStatus, MemberStatus
from prm.crm.repository import CampaignMemberRepository, CampaignRepository, ContactRepository, LeadRepository
from prm.crm.schemas import CampaignCreate, CampaignMemberCreate, CampaignMemberUpdate, CampaignUpdate

FIELDS = ("name", "type", "status", "parent_id", "start_date", "end_date", "budget_minor", "currency")
MEMBER_FIELDS = ("campaign_id", "lead_id", "contact_id", "status", "responded_at")


def _check_dates_and_budget(
    start: date | None, end: date | None, budget_minor: int | None, currency: str | None
) -> None:
    if start and end and end < start:
        raise RuleViolation("end_date is before start_date.", field="end_date")
    if budget_minor is not None and currency is None:
        raise RuleViolation("A budget needs its currency.", field="currency")


async def _check_parent(
    session: AsyncSession, principal: Principal, parent_id: uuid.UUID | None, campaign_id: uuid.UUID | None = None
) -> None:
    """The parent exists, and the campaign is not its own ancestor (no cycles)."""
    if parent_id is None:
        return
    lineage = await CampaignRepository(session, principal).lineage(parent_id)
    if not lineage:
        raise RuleViolation(f"Campaign {parent_id} not found.", field="parent_id")
    if campaign_id is not None and campaign_id in lineage:
        raise RuleViolation("A campaign cannot be its own parent or ancestor.", field="parent_id")


async def create_campaign(session: AsyncSession, *, principal: Principal, data: CampaignCreate) -> Campaign:
    _check_dates_and_budget(data.start_date, data.end_date, data.budget_minor, data.currency)
    await _check_parent(session, principal, data.parent_id)
    campaign = Campaign(
        name=data.name,
        type=data.type,
        status=data.status,
        parent_id=data.parent_id,
        start_date=data.start_date,
        end_date=data.end_date,
        budget_minor=data.budget_minor,
        currency=data.currency,
    )
    session.add(campaign)
    await record_created(session, campaign, entity="campaign", principal=principal, fields=FIELDS)
    return campaign


async def update_campaign(
    session: AsyncSession, *, principal: Principal, campaign_id: uuid.UUID, data: CampaignUpdate
) -> Campaign:
    campaign = await CampaignRepository(session, principal).get(campaign_id)
    if isinstance(data.parent_id, uuid.UUID) and data.parent_id != campaign.parent_id:
        await _check_parent(session, principal, data.parent_id, campaign.id)
    await record_updated(session, campaign, data, entity="campaign", principal=principal)
    # Checked on the merged record: a PATCH may send only one side of a pair.
    _check_dates_and_budget(campaign.start_date, campaign.end_date, campaign.budget_minor, campaign.currency)
    return campaign


async def get_campaign(session: AsyncSession, *, principal: Principal, campaign_id: uuid.UUID) -> Campaign:
    return await CampaignRepository(session, principal).get(campaign_id)


async def list_campaigns(
    session: AsyncSession,
    *,
    principal: Principal,
    page: PageRequest,
    status: CampaignStatus | None = None,
    parent_id: uuid.UUID | None = None,
    campaign_type: str | None = None,
) -> tuple[list[Campaign], str | None]:
    filters: list[ColumnElement[bool]] = []
    if status is not None:
        filters.append(Campaign.status == status)
    if parent_id is not None:
        filters.append(Campaign.parent_id == parent_id)
    if campaign_type:
        filters.append(Campaign.type == campaign_type)
    return await CampaignRepository(session, principal).page(page, *filters)


async def _check_member_target(session: AsyncSession, principal: Principal, data: CampaignMemberCreate) -> None:
    """Exactly one of lead or contact, and one the caller may see (hidden looks like missing)."""
    if (data.lead_id is None) == (data.contact_id is None):
        raise RuleViolation("Give exactly one of lead_id and contact_id.", field="lead_id")
    if data.lead_id is not None and not await LeadRepository(session, principal).exists(data.lead_id):
        raise RuleViolation(f"Lead {data.lead_id} not found.", field="lead_id")
    if data.contact_id is not None and not await ContactRepository(session, principal).exists(data.contact_id):
        raise RuleViolation(f"Contact {data.contact_id} not found.", field="contact_id")


def _already_member(data: CampaignMemberCreate) -> Conflict:
    field = "lead_id" if data.lead_id else "contact_id"
    return Conflict("This lead or contact is already a member of the campaign.", field=field)


async def add_member(
    session: AsyncSession, *, principal: Principal, campaign_id: uuid.UUID, data: CampaignMemberCreate
) -> CampaignMember:
    await CampaignRepository(session, principal).get(campaign_id)
    await _check_member_target(session, principal, data)
    members = CampaignMemberRepository(session, principal)
    if await members.already_member(campaign_id, lead_id=data.lead_id, contact_id=data.contact_id):
        raise _already_member(data)
    responded = data.status is MemberStatus.RESPONDED
    member = CampaignMember(
        campaign_id=campaign_id,
        lead_id=data.lead_id,
        contact_id=data.contact_id,
        status=data.status,
        responded_at=session.info["clock"].now() if responded else None,
    )
    session.add(member)
    try:
        await record_created(session, member, entity="campaign_member", principal=principal, fields=MEMBER_FIELDS)
    except IntegrityError as exc:  # a concurrent add won the unique (campaign, lead/contact)
        raise _already_member(data) from exc
    return member


async def update_member(
    session: AsyncSession,
    *,
    principal: Principal,
    campaign_id: uuid.UUID,
    member_id: uuid.UUID,
    data: CampaignMemberUpdate,
) -> CampaignMember:
    await CampaignRepository(session, principal).get(campaign_id)
    member = await CampaignMemberRepository(session, principal).in_campaign(campaign_id, member_id)
    expect_version(member, data.expected_version)
    if data.status is not member.status:
        # Set before the update is written, so it goes out in the same (versioned) UPDATE.
        # Responded carries when; back to Sent means no response is on record.
        responded = data.status is MemberStatus.RESPONDED
        member.responded_at = session.info["clock"].now() if responded else None
    await record_updated(session, member, data, entity="campaign_member", principal=principal)
    return member


async def list_members(
    session: AsyncSession,
    *,
    principal: Principal,
    campaign_id: uuid.UUID,
    page: PageRequest,
    status: MemberStatus | None = None,
) -> tuple[list[CampaignMember], str | None]:
    await CampaignRepository(session, principal).get(campaign_id)
    filters: list[ColumnElement[bool]] = [CampaignMember.campaign_id == campaign_id]
    if status is not None:
        filters.append(CampaignMember.status == status)
    return await CampaignMemberRepository(session, principal).page(page, *filters)
