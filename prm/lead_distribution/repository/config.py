"""The vendor's distribution configuration: scoring criteria, programs, groups, rules, web forms,
imports and certifications."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import ClassVar

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.pagination import PageRequest, page_of, paginate_statement
from prm.core.repository import ScopedRepository
from prm.lead_distribution.models import (
    CertifiedProduct,
    GroupMember,
    LeadImport,
    LeadProgram,
    PartnerGroup,
    ProgramMember,
    RoutingRule,
    ScoringCriterion,
    WebForm,
)

# Configuration: the guards in the routes decide who may read and write these. --------------


class CriterionRepository(ScopedRepository[ScoringCriterion]):
    model = ScoringCriterion
    label = "Scoring criterion"


class ProgramRepository(ScopedRepository[LeadProgram]):
    model = LeadProgram
    label = "Lead program"
    sortable: ClassVar[dict[str, str]] = {"created_at": "created_at", "name": "name"}

    async def name_taken(self, name: str, other_than: uuid.UUID | None = None) -> bool:
        stmt = select(LeadProgram.id).where(LeadProgram.name == name)
        if other_than is not None:
            stmt = stmt.where(LeadProgram.id != other_than)
        return await self.session.scalar(stmt) is not None

    async def member(self, program_id: uuid.UUID, partner_id: uuid.UUID) -> ProgramMember | None:
        return await self.session.get(ProgramMember, (program_id, partner_id))

    async def joined_by(self, partner_id: uuid.UUID) -> list[LeadProgram]:
        """The programs a partner is a member of, by name."""
        joined = select(ProgramMember.program_id).where(ProgramMember.partner_id == partner_id)
        stmt = self.select().where(LeadProgram.id.in_(joined.scalar_subquery())).order_by(LeadProgram.name)
        return list((await self.session.scalars(stmt)).all())

    async def remove_member(self, program_id: uuid.UUID, partner_id: uuid.UUID) -> bool:
        result = await self.session.execute(
            delete(ProgramMember).where(ProgramMember.program_id == program_id, ProgramMember.partner_id == partner_id)
        )
        return bool(getattr(result, "rowcount", 0))


class GroupRepository(ScopedRepository[PartnerGroup]):
    model = PartnerGroup
    label = "Partner group"
    sortable: ClassVar[dict[str, str]] = {"created_at": "created_at", "name": "name"}

    async def set_members(self, group_id: uuid.UUID, partner_ids: Sequence[uuid.UUID], now: datetime) -> None:
        await self.session.execute(delete(GroupMember).where(GroupMember.group_id == group_id))
        if partner_ids:
            rows = [{"group_id": group_id, "partner_id": p, "added_at": now} for p in partner_ids]
            await self.session.execute(insert(GroupMember), rows)


class RuleRepository(ScopedRepository[RoutingRule]):
    model = RoutingRule
    label = "Routing rule"
    sortable: ClassVar[dict[str, str]] = {"created_at": "created_at", "position": "position"}


class WebFormRepository(ScopedRepository[WebForm]):
    model = WebForm
    label = "Web form"
    sortable: ClassVar[dict[str, str]] = {"created_at": "created_at", "name": "name"}


class ImportRepository(ScopedRepository[LeadImport]):
    model = LeadImport
    label = "Lead import"
    sortable: ClassVar[dict[str, str]] = {"created_at": "imported_at"}


class ConfigStore:
    """Reads of the vendor's distribution configuration for system work (routing, timers, the
    public form), where no caller's scope applies: the configuration is the vendor's own."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def active_criteria(self) -> list[ScoringCriterion]:
        stmt = select(ScoringCriterion).where(ScoringCriterion.active.is_(True)).order_by(ScoringCriterion.created_at)
        return list((await self.session.scalars(stmt)).all())

    async def any_criteria(self) -> bool:
        return await self.session.scalar(select(ScoringCriterion.id).limit(1)) is not None

    async def rules(self, *, active_only: bool) -> list[RoutingRule]:
        stmt = select(RoutingRule).order_by(RoutingRule.position, RoutingRule.created_at)
        if active_only:
            stmt = stmt.where(RoutingRule.active.is_(True))
        return list((await self.session.scalars(stmt)).all())

    async def program(self, program_id: uuid.UUID | None) -> LeadProgram | None:
        return await self.session.get(LeadProgram, program_id) if program_id is not None else None

    async def program_of_partner(self, partner_id: uuid.UUID) -> uuid.UUID | None:
        """The active program the partner joined first (its terms apply when routing to it by name)."""
        stmt = (
            select(ProgramMember.program_id)
            .join(LeadProgram, LeadProgram.id == ProgramMember.program_id)
            .where(ProgramMember.partner_id == partner_id, LeadProgram.active.is_(True))
            .order_by(ProgramMember.joined_at)
            .limit(1)
        )
        found: uuid.UUID | None = await self.session.scalar(stmt)
        return found

    async def group(self, group_id: uuid.UUID) -> PartnerGroup | None:
        return await self.session.get(PartnerGroup, group_id)

    async def program_members(self, program_id: uuid.UUID) -> list[ProgramMember]:
        stmt = select(ProgramMember).where(ProgramMember.program_id == program_id).order_by(ProgramMember.partner_id)
        return list((await self.session.scalars(stmt)).all())

    async def program_member_page(
        self, program_id: uuid.UUID, page: PageRequest
    ) -> tuple[list[ProgramMember], str | None]:
        """A member's key within its program is its partner_id, which also breaks ties."""
        sortable = {"partner_id": ProgramMember.partner_id, "joined_at": ProgramMember.joined_at}
        stmt = select(ProgramMember).where(ProgramMember.program_id == program_id)
        stmt = paginate_statement(stmt, page, sortable, ProgramMember.partner_id)
        return page_of((await self.session.scalars(stmt)).all(), page, id_attr="partner_id")

    async def group_member_ids(self, group_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
        found: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
        if group_ids:
            stmt = (
                select(GroupMember.group_id, GroupMember.partner_id)
                .where(GroupMember.group_id.in_(list(group_ids)))
                .order_by(GroupMember.partner_id)
            )
            for row in await self.session.execute(stmt):
                found[row.group_id].append(row.partner_id)
        return found

    async def web_form(self, key: str) -> WebForm | None:
        found: WebForm | None = await self.session.scalar(
            select(WebForm).where(WebForm.key == key, WebForm.active.is_(True))
        )
        return found


# Certifications ------------------------------------------------------------------------------


class CertificationStore:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def of(self, partner_id: uuid.UUID) -> list[uuid.UUID]:
        stmt = (
            select(CertifiedProduct.product_id)
            .where(CertifiedProduct.partner_id == partner_id)
            .order_by(CertifiedProduct.product_id)
        )
        return list((await self.session.scalars(stmt)).all())

    async def replace(self, partner_id: uuid.UUID, product_ids: Sequence[uuid.UUID], now: datetime) -> None:
        await self.session.execute(delete(CertifiedProduct).where(CertifiedProduct.partner_id == partner_id))
        if product_ids:
            rows = [{"partner_id": partner_id, "product_id": p, "certified_at": now} for p in product_ids]
            await self.session.execute(insert(CertifiedProduct), rows)
