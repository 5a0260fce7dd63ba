"""Who to tell: email addresses other domains need for notifications (read through the CRM's
DirectoryStore)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession

from prm.crm.repository import DirectoryStore


async def emails_of(session: AsyncSession, user_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    return await DirectoryStore(session).active_emails(set(user_ids))


async def user_and_channel_manager_emails(
    session: AsyncSession, *, user_id: uuid.UUID, partner_id: uuid.UUID
) -> tuple[str | None, list[str]]:
    """A partner user's address and those of its partner's channel managers, in one query
    (the two audiences of a submitted registration)."""
    found = await DirectoryStore(session).user_and_channel_managers(user_id=user_id, partner_id=partner_id)
    return found.get(user_id), [email for id_, email in found.items() if id_ != user_id]


async def vendor_admin_emails(session: AsyncSession) -> list[str]:
    return await DirectoryStore(session).vendor_admin_emails()


async def partner_names(session: AsyncSession, partner_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    return await DirectoryStore(session).partner_names(set(partner_ids))


async def partner_tier(session: AsyncSession, partner_id: uuid.UUID) -> str | None:
    tier = await DirectoryStore(session).partner_tier(partner_id)
    return tier.value if tier is not None else None
