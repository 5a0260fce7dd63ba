"""Who to tell: email addresses other domains need for notifications."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.auth import Role
from prm.core.tenancy import channel_manager_partners
from prm.crm.models import Partner, User


async def emails_of(session: AsyncSession, user_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    ids = list(set(user_ids))
    if not ids:
        return {}
    rows = await session.execute(select(User.id, User.email).where(User.id.in_(ids), User.active.is_(True)))
    return {row.id: row.email for row in rows}


async def channel_manager_emails(session: AsyncSession, partner_id: uuid.UUID) -> list[str]:
    table = channel_manager_partners
    stmt = (
        select(User.email)
        .join(table, table.c.user_id == User.id)
        .where(table.c.partner_id == partner_id, User.active.is_(True), User.role == Role.CHANNEL_MANAGER)
    )
    return list((await session.scalars(stmt)).all())


async def vendor_admin_emails(session: AsyncSession) -> list[str]:
    stmt = select(User.email).where(User.role == Role.VENDOR_ADMIN, User.active.is_(True))
    return list((await session.scalars(stmt)).all())


async def partner_names(session: AsyncSession, partner_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    ids = list(set(partner_ids))
    if not ids:
        return {}
    rows = await session.execute(select(Partner.id, Partner.name).where(Partner.id.in_(ids)))
    return {row.id: row.name for row in rows}


async def partner_tier(session: AsyncSession, partner_id: uuid.UUID) -> str | None:
    tier = await session.scalar(select(Partner.tier).where(Partner.id == partner_id))
    return tier.value if tier is not None else None
