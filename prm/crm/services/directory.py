"""Who to tell: email addresses other domains need for notifications."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import and_, bindparam, or_, select
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


_managers_of_partner = select(channel_manager_partners.c.user_id).where(
    channel_manager_partners.c.partner_id == bindparam("partner_id")
)
_USER_AND_MANAGERS = select(User.id, User.email).where(
    User.active.is_(True),
    or_(User.id == bindparam("user_id"), and_(User.role == Role.CHANNEL_MANAGER, User.id.in_(_managers_of_partner))),
)


async def user_and_channel_manager_emails(
    session: AsyncSession, *, user_id: uuid.UUID, partner_id: uuid.UUID
) -> tuple[str | None, list[str]]:
    """A partner user's address and those of its partner's channel managers, in one query
    (the two audiences of a submitted registration)."""
    rows = (await session.execute(_USER_AND_MANAGERS, {"user_id": user_id, "partner_id": partner_id})).all()
    own = next((row.email for row in rows if row.id == user_id), None)
    return own, [row.email for row in rows if row.id != user_id]


async def vendor_admin_emails(session: AsyncSession) -> list[str]:
    stmt = select(User.email).where(User.role == Role.VENDOR_ADMIN, User.active.is_(True))
    return list((await session.scalars(stmt)).all())


_NAMES = select(Partner.id, Partner.name).where(Partner.id.in_(bindparam("ids", expanding=True)))


async def partner_names(session: AsyncSession, partner_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    ids = list(set(partner_ids))
    if not ids:
        return {}
    rows = await session.execute(_NAMES, {"ids": ids})
    return {row.id: row.name for row in rows}


_TIER = select(Partner.tier).where(Partner.id == bindparam("partner_id"))


async def partner_tier(session: AsyncSession, partner_id: uuid.UUID) -> str | None:
    tier = await session.scalar(_TIER, {"partner_id": partner_id})
    return tier.value if tier is not None else None
