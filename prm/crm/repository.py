"""CRM queries, each scoped to what the caller may see."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import ClassVar

from sqlalchemy import ColumnElement, delete, exists, insert, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.auth import PARTNER_ROLES, Role
from prm.core.errors import NotFound
from prm.core.repository import M, ScopedRepository
from prm.core.tenancy import channel_manager_partners, managed_partner_ids, partner_scope
from prm.crm.models import (
    Account,
    Campaign,
    CampaignMember,
    Contact,
    Lead,
    Opportunity,
    Partner,
    Product,
    User,
)


class PartnerRepository(ScopedRepository[Partner]):
    model = Partner
    label = "Partner"
    sortable: ClassVar[dict[str, str]] = {"created_at": "created_at", "name": "name"}

    def scope(self) -> ColumnElement[bool]:
        if self.principal.role in (Role.VENDOR_ADMIN, Role.LEADERSHIP):
            return true()
        if self.principal.role is Role.CHANNEL_MANAGER:
            return Partner.id.in_(managed_partner_ids(self.principal))
        return Partner.id == self.principal.partner_id

    async def set_channel_managers(self, partner_id: uuid.UUID, manager_ids: list[uuid.UUID]) -> None:
        table = channel_manager_partners
        await self.session.execute(delete(table).where(table.c.partner_id == partner_id))
        if manager_ids:
            rows = [{"user_id": uid, "partner_id": partner_id} for uid in manager_ids]
            await self.session.execute(insert(table), rows)

    async def channel_manager_ids(self, partner_id: uuid.UUID) -> list[uuid.UUID]:
        table = channel_manager_partners
        stmt = select(table.c.user_id).where(table.c.partner_id == partner_id)
        return list((await self.session.scalars(stmt)).all())


class UserRepository(ScopedRepository[User]):
    model = User
    label = "User"
    sortable: ClassVar[dict[str, str]] = {"created_at": "created_at", "email": "email", "name": "name"}

    def scope(self) -> ColumnElement[bool]:
        principal = self.principal
        if principal.role in (Role.VENDOR_ADMIN, Role.LEADERSHIP):
            return true()
        if principal.role is Role.CHANNEL_MANAGER:
            return or_(User.partner_id.is_(None), User.partner_id.in_(managed_partner_ids(principal)))
        if principal.role in PARTNER_ROLES and principal.partner_id is not None:
            return User.partner_id == principal.partner_id
        return User.id == principal.user_id

    @staticmethod
    async def by_email(session: AsyncSession, email: str) -> User | None:
        found: User | None = await session.scalar(select(User).where(User.email == email.strip().lower()))
        return found

    async def staff_with_role(self, ids: list[uuid.UUID], role: Role) -> list[User]:
        stmt = select(User).where(User.id.in_(ids), User.role == role, User.active.is_(True))
        return list((await self.session.scalars(stmt)).all())


class PartnerOwnedRepository(ScopedRepository[M]):
    """For models that carry `partner_id` (None: owned by the vendor)."""

    def scope(self) -> ColumnElement[bool]:
        return partner_scope(self.principal, self.model.partner_id)


class AccountRepository(PartnerOwnedRepository[Account]):
    model = Account
    label = "Account"
    sortable: ClassVar[dict[str, str]] = {"created_at": "created_at", "name": "name"}


class ContactRepository(PartnerOwnedRepository[Contact]):
    model = Contact
    label = "Contact"
    sortable: ClassVar[dict[str, str]] = {"created_at": "created_at", "last_name": "last_name"}


class OpportunityRepository(PartnerOwnedRepository[Opportunity]):
    model = Opportunity
    label = "Opportunity"
    sortable: ClassVar[dict[str, str]] = {
        "created_at": "created_at",
        "name": "name",
        "amount_minor": "amount_minor",
        "stage": "stage",
    }

    async def placement(self, account_id: uuid.UUID, partner_id: uuid.UUID | None) -> Placement | None:
        """In one round trip (the create path is hot): the account's owner if the caller may see
        the account (None if not), and whether the caller may act for `partner_id`."""
        may_act: ColumnElement[bool] = true()
        if partner_id is not None:
            partners = PartnerRepository(self.session, self.principal)
            may_act = exists().where(Partner.id == partner_id, partners.scope())
        stmt = select(Account.partner_id, may_act).where(
            Account.id == account_id, partner_scope(self.principal, Account.partner_id)
        )
        row = (await self.session.execute(stmt)).first()
        return None if row is None else Placement(account_partner_id=row[0], may_act_for_partner=bool(row[1]))


@dataclass(frozen=True, slots=True)
class Placement:
    account_partner_id: uuid.UUID | None
    may_act_for_partner: bool


class LeadRepository(PartnerOwnedRepository[Lead]):
    model = Lead
    label = "Lead"
    sortable: ClassVar[dict[str, str]] = {"created_at": "created_at", "company": "company"}


class ProductRepository(ScopedRepository[Product]):
    """The price list is the same for everyone who may read it."""

    model = Product
    label = "Product"
    sortable: ClassVar[dict[str, str]] = {"created_at": "created_at", "name": "name", "sku": "sku"}

    async def sku_taken(self, sku: str) -> bool:
        return await self.session.scalar(select(Product.id).where(Product.sku == sku)) is not None


class CampaignRepository(ScopedRepository[Campaign]):
    """Campaigns are the vendor's marketing: staff and leadership only (guarded in routes)."""

    model = Campaign
    label = "Campaign"
    sortable: ClassVar[dict[str, str]] = {"created_at": "created_at", "name": "name"}

    async def lineage(self, campaign_id: uuid.UUID) -> set[uuid.UUID]:
        """The campaign and all its ancestors (UNION, not UNION ALL, so even a cycle ends)."""
        up = select(Campaign.id, Campaign.parent_id).where(Campaign.id == campaign_id).cte("lineage", recursive=True)
        up = up.union(select(Campaign.id, Campaign.parent_id).join(up, Campaign.id == up.c.parent_id))
        return set((await self.session.scalars(select(up.c.id))).all())


class CampaignMemberRepository(ScopedRepository[CampaignMember]):
    model = CampaignMember
    label = "Campaign member"

    async def in_campaign(self, campaign_id: uuid.UUID, member_id: uuid.UUID) -> CampaignMember:
        stmt = self.select().where(CampaignMember.campaign_id == campaign_id, CampaignMember.id == member_id)
        found: CampaignMember | None = await self.session.scalar(stmt)
        if found is None:
            raise NotFound(f"Campaign member {member_id} not found.")
        return found

    async def already_member(
        self, campaign_id: uuid.UUID, *, lead_id: uuid.UUID | None, contact_id: uuid.UUID | None
    ) -> bool:
        who = CampaignMember.lead_id == lead_id if lead_id else CampaignMember.contact_id == contact_id
        stmt = select(CampaignMember.id).where(CampaignMember.campaign_id == campaign_id, who)
        return await self.session.scalar(stmt) is not None
