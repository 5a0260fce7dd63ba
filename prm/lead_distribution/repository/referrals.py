"""Referral programs, memberships and referrals."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import ColumnElement, Row, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.repository import ScopedRepository
from prm.core.tenancy import partner_scope
from prm.lead_distribution.models import (
    Referral,
    ReferralMembership,
    ReferralProgram,
    ReferralStatus,
)
from prm.lead_distribution.repository.base import BATCH

# Referrals -----------------------------------------------------------------------------------


class ReferralProgramRepository(ScopedRepository[ReferralProgram]):
    """Partners see the active programs (to apply); staff see all."""

    model = ReferralProgram
    label = "Referral program"
    sortable: ClassVar[dict[str, str]] = {"created_at": "created_at", "name": "name"}

    def scope(self) -> ColumnElement[bool]:
        return ReferralProgram.active.is_(True) if self.principal.is_partner else true()

    async def name_taken(self, name: str, other_than: uuid.UUID | None = None) -> bool:
        stmt = select(ReferralProgram.id).where(ReferralProgram.name == name)
        if other_than is not None:
            stmt = stmt.where(ReferralProgram.id != other_than)
        return await self.session.scalar(stmt) is not None


class MembershipRepository(ScopedRepository[ReferralMembership]):
    model = ReferralMembership
    label = "Referral membership"

    def scope(self) -> ColumnElement[bool]:
        return partner_scope(self.principal, ReferralMembership.partner_id, vendor_rows_visible_to_managers=False)

    async def of(self, program_id: uuid.UUID, partner_id: uuid.UUID) -> ReferralMembership | None:
        stmt = self.select().where(
            ReferralMembership.program_id == program_id, ReferralMembership.partner_id == partner_id
        )
        found: ReferralMembership | None = await self.session.scalar(stmt)
        return found


class ReferralRepository(ScopedRepository[Referral]):
    model = Referral
    label = "Referral"

    def scope(self) -> ColumnElement[bool]:
        return partner_scope(self.principal, Referral.partner_id, vendor_rows_visible_to_managers=False)


class ReferralStore:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def program(self, program_id: uuid.UUID) -> ReferralProgram | None:
        return await self.session.get(ReferralProgram, program_id)

    async def for_lead(self, lead_id: uuid.UUID) -> Referral | None:
        found: Referral | None = await self.session.scalar(select(Referral).where(Referral.lead_id == lead_id))
        return found

    async def move(self, from_lead: uuid.UUID, to_lead: uuid.UUID) -> None:
        """A merged duplicate's referral follows the lead that stays (unless that one has its own)."""
        if await self.for_lead(to_lead) is None:
            await self.session.execute(
                update(Referral)
                .where(Referral.lead_id == from_lead)
                .values(lead_id=to_lead, version=Referral.version + 1)
                .execution_options(synchronize_session=False)
            )

    async def link_opportunity(self, lead_id: uuid.UUID, opportunity_id: uuid.UUID, now: datetime) -> None:
        await self.session.execute(
            update(Referral)
            .where(Referral.lead_id == lead_id, Referral.opportunity_id.is_(None))
            .values(opportunity_id=opportunity_id, updated_at=now, version=Referral.version + 1)
            .execution_options(synchronize_session=False)
        )

    async def awaiting_win(self) -> list[Row[Any]]:
        """Accepted referrals whose lead became an opportunity (checked for Closed Won by the timer)."""
        stmt = (
            select(Referral.id, Referral.opportunity_id)
            .where(Referral.status == ReferralStatus.ACCEPTED, Referral.opportunity_id.is_not(None))
            .limit(BATCH)
        )
        return list((await self.session.execute(stmt)).all())

    async def mark_won(self, referral_ids: Collection[uuid.UUID], now: datetime) -> Sequence[Row[Any]]:
        """accepted -> won, once: a repeated or concurrent run finds nothing left to mark."""
        stmt = (
            update(Referral)
            .where(Referral.id.in_(list(referral_ids)), Referral.status == ReferralStatus.ACCEPTED)
            .values(status=ReferralStatus.WON, won_at=now, updated_at=now, version=Referral.version + 1)
            .returning(Referral.id, Referral.program_id, Referral.partner_id, Referral.opportunity_id)
            .execution_options(synchronize_session=False)
        )
        return (await self.session.execute(stmt)).all()

    async def record_fee(self, referral_id: uuid.UUID, fee_minor: int, credit_id: uuid.UUID) -> None:
        await self.session.execute(
            update(Referral)
            .where(Referral.id == referral_id)
            .values(fee_minor=fee_minor, credit_id=credit_id)
            .execution_options(synchronize_session=False)
        )
