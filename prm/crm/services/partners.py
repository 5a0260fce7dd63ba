"""Partner organisations and the channel managers assigned to them."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.activity import record_activity
from prm.core.auth import Principal, Role
from prm.core.errors import Conflict, RuleViolation
from prm.core.pagination import PageRequest
from prm.core.records import record_created, record_updated
from prm.crm.models import Partner, PartnerTier, User
from prm.crm.repository import PartnerRepository
from prm.crm.schemas import PartnerCreate, PartnerUpdate
from prm.crm.services.places import placed_on_create, placed_on_update

FIELDS = ("name", "tier", "country", "region", "city", "latitude", "longitude", "website", "active")


async def _name_taken(session: AsyncSession, name: str, *, other_than: uuid.UUID | None = None) -> bool:
    stmt = select(Partner.id).where(Partner.name == name)
    if other_than is not None:
        stmt = stmt.where(Partner.id != other_than)
    return await session.scalar(stmt) is not None


async def create_partner(session: AsyncSession, *, principal: Principal, data: PartnerCreate) -> Partner:
    if await _name_taken(session, data.name):
        raise Conflict(f"A partner named {data.name!r} already exists.", field="name")
    data = await placed_on_create(data)
    partner = Partner(
        name=data.name,
        tier=data.tier,
        country=data.country,
        region=data.region,
        city=data.city,
        latitude=data.latitude,
        longitude=data.longitude,
        website=data.website,
        active=True,
    )
    session.add(partner)
    try:
        await record_created(session, partner, entity="partner", principal=principal, fields=FIELDS)
    except IntegrityError as exc:  # a concurrent create won the unique name
        raise Conflict(f"A partner named {data.name!r} already exists.", field="name") from exc
    return partner


async def update_partner(
    session: AsyncSession, *, principal: Principal, partner_id: uuid.UUID, data: PartnerUpdate
) -> Partner:
    partner = await PartnerRepository(session, principal).get(partner_id)
    if isinstance(data.name, str) and await _name_taken(session, data.name, other_than=partner_id):
        raise Conflict(f"A partner named {data.name!r} already exists.", field="name")
    data = await placed_on_update(data, partner)
    await record_updated(session, partner, data, entity="partner", principal=principal)
    return partner


async def get_partner(session: AsyncSession, *, principal: Principal, partner_id: uuid.UUID) -> Partner:
    return await PartnerRepository(session, principal).get(partner_id)


async def list_partners(
    session: AsyncSession,
    *,
    principal: Principal,
    page: PageRequest,
    tier: PartnerTier | None = None,
    active: bool | None = None,
    q: str | None = None,
) -> tuple[list[Partner], str | None]:
    filters = []
    if tier is not None:
        filters.append(Partner.tier == tier)
    if active is not None:
        filters.append(Partner.active.is_(active))
    if q:
        filters.append(Partner.name.ilike(f"%{q}%"))
    return await PartnerRepository(session, principal).page(page, *filters)


async def assign_channel_managers(
    session: AsyncSession, *, principal: Principal, partner_id: uuid.UUID, manager_ids: list[uuid.UUID]
) -> list[uuid.UUID]:
    repo = PartnerRepository(session, principal)
    await repo.get(partner_id)
    unique_ids = list(dict.fromkeys(manager_ids))
    managers = (
        await session.scalars(select(User.id).where(User.id.in_(unique_ids), User.role == Role.CHANNEL_MANAGER))
    ).all()
    missing = set(unique_ids) - set(managers)
    if missing:
        raise RuleViolation(
            f"Not channel managers: {', '.join(sorted(map(str, missing)))}.", field="channel_manager_ids"
        )
    before = await repo.channel_manager_ids(partner_id)
    await repo.set_channel_managers(partner_id, unique_ids)
    record_activity(
        session,
        entity_type="partner",
        entity_id=partner_id,
        action="channel_managers_assigned",
        actor=principal,
        changes={"channel_manager_ids": [sorted(map(str, before)), sorted(map(str, unique_ids))]},
    )
    return unique_ids


async def channel_managers_of(session: AsyncSession, *, principal: Principal, partner_id: uuid.UUID) -> list[uuid.UUID]:
    repo = PartnerRepository(session, principal)
    await repo.get(partner_id)
    return await repo.channel_manager_ids(partner_id)
