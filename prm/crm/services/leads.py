"""Leads: sourced and qualified by the vendor, then seen by the partner they are assigned to.

Assigning a lead to a partner is lead distribution's job; here a lead is created unassigned,
and PATCH edits contact facts only: the status moves through lead distribution's services.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence

import msgspec
from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.auth import Principal
from prm.core.changes import expect_version
from prm.core.errors import NotFound, RuleViolation
from prm.core.pagination import PageRequest
from prm.core.records import record_created, record_deleted, record_updated
from prm.crm.models import Lead, LeadSource, LeadStatus
from prm.crm.normalize import normalize_company
from prm.crm.repository import CampaignRepository, LeadRepository, LeadStore, UserRepository
from prm.crm.schemas import LeadCreate, LeadUpdate
from prm.crm.services.places import placed_on_create, placed_on_update

FIELDS = (
    "first_name",
    "last_name",
    "company",
    "email",
    "phone",
    "title",
    "country",
    "region",
    "city",
    "latitude",
    "longitude",
    "employees",
    "source",
    "status",
    "campaign_id",
    "owner_id",
    "partner_id",
    "current_situation",
    "product_id",
    "time_frame",
    "budget_minor",
    "currency",
    "score",
)


def _normalize_email(email: str | None) -> str | None:
    return email.strip().lower() if email else None


async def _check_owner(
    session: AsyncSession, principal: Principal, owner_id: uuid.UUID | None, lead_partner_id: uuid.UUID | None
) -> None:
    """The owner works for whoever holds the lead: a vendor user, or a user of the assigned partner."""
    if owner_id is None:
        return
    try:
        owner = await UserRepository(session, principal).get(owner_id)
    except NotFound as exc:
        raise RuleViolation(f"User {owner_id} not found.", field="owner_id") from exc
    if owner.partner_id != lead_partner_id or not owner.active:
        raise RuleViolation("The owner must be an active user of the organisation holding the lead.", field="owner_id")


async def _check_campaign(session: AsyncSession, principal: Principal | None, campaign_id: uuid.UUID | None) -> None:
    if campaign_id is None:
        return
    exists = (
        await CampaignRepository(session, principal).exists(campaign_id)
        if principal is not None
        else await LeadStore(session).campaign_exists(campaign_id)
    )
    if not exists:
        raise RuleViolation(f"Campaign {campaign_id} not found.", field="campaign_id")


async def _check_product(session: AsyncSession, product_id: uuid.UUID | None) -> None:
    if product_id is not None and not await LeadStore(session).product_exists(product_id):
        raise RuleViolation(f"Product {product_id} not found.", field="product_id")


async def create_lead(session: AsyncSession, *, principal: Principal | None, data: LeadCreate, score: int = 0) -> Lead:
    """A new, unassigned lead. `principal` is None for the public web-to-lead form."""
    await _check_campaign(session, principal, data.campaign_id)
    await _check_product(session, data.product_id)
    if principal is not None:
        await _check_owner(session, principal, data.owner_id, None)
    elif data.owner_id is not None:
        raise RuleViolation("An anonymous submission cannot name an owner.", field="owner_id")
    data = await placed_on_create(data)
    lead = Lead(
        first_name=data.first_name,
        last_name=data.last_name,
        company=data.company,
        company_normalized=normalize_company(data.company),
        email=_normalize_email(data.email),
        phone=data.phone,
        title=data.title,
        country=data.country,
        region=data.region,
        city=data.city,
        latitude=data.latitude,
        longitude=data.longitude,
        employees=data.employees,
        source=data.source,
        status=LeadStatus.NEW,
        campaign_id=data.campaign_id,
        owner_id=data.owner_id,
        partner_id=None,
        current_situation=data.current_situation,
        product_id=data.product_id,
        time_frame=data.time_frame,
        budget_minor=data.budget_minor,
        currency=data.currency,
        score=score,
    )
    session.add(lead)
    await record_created(session, lead, entity="lead", principal=principal, fields=FIELDS)
    return lead


async def update_lead(session: AsyncSession, *, principal: Principal, lead_id: uuid.UUID, data: LeadUpdate) -> Lead:
    lead = await LeadRepository(session, principal).get(lead_id)
    if isinstance(data.owner_id, uuid.UUID) and data.owner_id != lead.owner_id:
        await _check_owner(session, principal, data.owner_id, lead.partner_id)
    if isinstance(data.email, str):
        data = msgspec.structs.replace(data, email=_normalize_email(data.email))
    data = await placed_on_update(data, lead)
    await record_updated(session, lead, data, entity="lead", principal=principal)
    lead.company_normalized = normalize_company(lead.company)
    return lead


async def get_lead(session: AsyncSession, *, principal: Principal, lead_id: uuid.UUID) -> Lead:
    return await LeadRepository(session, principal).get(lead_id)


async def visible_leads(
    session: AsyncSession, *, principal: Principal, lead_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, Lead]:
    """The leads among these the caller may see, by id; the rest are missing from the answer."""
    return await LeadRepository(session, principal).visible(lead_ids)


async def list_leads(
    session: AsyncSession,
    *,
    principal: Principal,
    page: PageRequest,
    status: LeadStatus | None = None,
    source: LeadSource | None = None,
    campaign_id: uuid.UUID | None = None,
    partner_id: uuid.UUID | None = None,
    statuses: Sequence[LeadStatus] = (),
    score_range: tuple[int, int] | None = None,
    country: str | None = None,
) -> tuple[list[Lead], str | None]:
    filters: list[ColumnElement[bool]] = []
    if status is not None:
        filters.append(Lead.status == status)
    if statuses:
        filters.append(Lead.status.in_(list(statuses)))
    if source is not None:
        filters.append(Lead.source == source)
    if campaign_id is not None:
        filters.append(Lead.campaign_id == campaign_id)
    if partner_id is not None:
        filters.append(Lead.partner_id == partner_id)
    if score_range is not None:
        filters.append(Lead.score.between(*score_range))
    if country:
        filters.append(Lead.country == country.upper())
    return await LeadRepository(session, principal).page(page, *filters)


async def delete_lead(
    session: AsyncSession, *, principal: Principal, lead_id: uuid.UUID, expected_version: int | None
) -> None:
    """Delete the lead (a peer it is shared with gets a tombstone); 409 while records refer to it."""
    lead = await LeadRepository(session, principal).get(lead_id)
    if expected_version is not None:
        expect_version(lead, expected_version)
    await record_deleted(session, lead, entity="lead", principal=principal)
