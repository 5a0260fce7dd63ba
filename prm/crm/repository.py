"""CRM queries, each scoped to what the caller may see."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any, ClassVar

import msgspec
from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    and_,
    any_,
    bindparam,
    delete,
    exists,
    false,
    insert,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from prm.core.auth import PARTNER_ROLES, Role
from prm.core.db import insert_rows
from prm.core.errors import NotFound
from prm.core.repository import M, ScopedRepository
from prm.core.rows import fetch_rows, read_row
from prm.core.tenancy import channel_manager_partners, managed_partner_ids, partner_scope
from prm.crm.models import (
    Account,
    Campaign,
    CampaignMember,
    Contact,
    Lead,
    Opportunity,
    OpportunityStage,
    Partner,
    PartnerTier,
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

    async def first_matching(self, normalized: str, domain: str | None, owner: uuid.UUID | None) -> Account | None:
        """The oldest account of `owner` (None: the vendor) the caller may see with this name or domain."""
        owned = Account.partner_id == owner if owner is not None else Account.partner_id.is_(None)
        stmt = self.select().where(account_matches(normalized, domain), owned).order_by(Account.created_at).limit(1)
        found: Account | None = await self.session.scalar(stmt)
        return found


class ContactRepository(PartnerOwnedRepository[Contact]):
    model = Contact
    label = "Contact"
    sortable: ClassVar[dict[str, str]] = {"created_at": "created_at", "last_name": "last_name"}

    async def on_account_with_email(self, account_id: uuid.UUID, email: str) -> Contact | None:
        stmt = self.select().where(Contact.account_id == account_id, Contact.email == email).limit(1)
        found: Contact | None = await self.session.scalar(stmt)
        return found


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
    sortable: ClassVar[dict[str, str]] = {"created_at": "created_at", "company": "company", "score": "score"}

    async def visible(self, lead_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, Lead]:
        """Those of the leads the caller may see, by id (the others are simply not there)."""
        ids = list(lead_ids)
        if not ids:
            return {}
        return {lead.id: lead for lead in await self.session.scalars(self.select().where(Lead.id.in_(ids)))}


class ProductRepository(ScopedRepository[Product]):
    """The price list is the same for everyone who may read it."""

    model = Product
    label = "Product"
    sortable: ClassVar[dict[str, str]] = {"created_at": "created_at", "name": "name", "sku": "sku"}

    async def sku_taken(self, sku: str) -> bool:
        return await self.session.scalar(select(Product.id).where(Product.sku == sku)) is not None

    async def labels(self, product_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
        """ "Name (SKU)" of each of these products the viewer may read."""
        wanted = set(product_ids)
        if not wanted:
            return {}
        stmt = self.select().where(Product.id.in_(wanted))
        return {p.id: f"{p.name} ({p.sku})" for p in await self.session.scalars(stmt)}


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
    """Members are leads and contacts: a caller sees a member only if it may see that lead or contact."""

    model = CampaignMember
    label = "Campaign member"

    def scope(self) -> ColumnElement[bool]:
        visible_leads = select(Lead.id).where(partner_scope(self.principal, Lead.partner_id))
        visible_contacts = select(Contact.id).where(partner_scope(self.principal, Contact.partner_id))
        return or_(CampaignMember.lead_id.in_(visible_leads), CampaignMember.contact_id.in_(visible_contacts))

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


class PartnerStanding(msgspec.Struct, frozen=True, gc=False):
    """What routing reads of a partner (hundreds at a time), filled by column name."""

    id: uuid.UUID
    tier: PartnerTier
    active: bool
    name: str
    country: str | None
    latitude: float | None
    longitude: float | None


class UserStanding(msgspec.Struct, frozen=True, gc=False):
    """What routing reads of a user it may target, filled by column name."""

    id: uuid.UUID
    email: str
    role: Role
    partner_id: uuid.UUID | None
    active: bool
    name: str


class LeadStore:
    """Lead queries that lead distribution's system work needs beyond one caller's scope:
    intake duplicate checks, bulk import, timers acting on leads of any tenant. The callers
    (services in prm/crm/services) decide who may trigger them."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, lead_id: uuid.UUID) -> Lead:
        found = await self.session.get(Lead, lead_id)
        if found is None:
            raise NotFound(f"Lead {lead_id} not found.")
        return found

    async def by_ids(self, lead_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Lead]:
        ids = list(set(lead_ids))
        found: dict[uuid.UUID, Lead] = {}
        for start in range(0, len(ids), 1000):
            rows = await self.session.scalars(select(Lead).where(Lead.id.in_(ids[start : start + 1000])))
            found |= {lead.id: lead for lead in rows}
        return found

    async def duplicate_keys(
        self, *, emails: Collection[str], companies: Collection[str], exclude: Collection[uuid.UUID] = ()
    ) -> list[Row[Any]]:
        """Live (not merged) leads sharing an email or a normalised company with the given ones."""
        found: list[Row[Any]] = []
        columns = (Lead.id, Lead.email, Lead.company_normalized, Lead.first_name, Lead.last_name)
        for column, values in ((Lead.email, list(emails)), (Lead.company_normalized, list(companies))):
            for start in range(0, len(values), 1000):
                stmt = select(*columns).where(column.in_(values[start : start + 1000]), Lead.merged_into_id.is_(None))
                if exclude:
                    stmt = stmt.where(Lead.id.not_in(list(exclude)))
                found += list((await self.session.execute(stmt)).all())
        return found

    async def insert_many(self, rows: list[dict[str, Any]]) -> None:
        """Complete rows (every column, None where empty) as Core multi-row INSERTs of 250: the
        ORM's bulk path costs twice the CPU per row, and the rows are turned into parameters on
        the event loop, so a smaller INSERT holds up other requests for less time at once."""
        for start in range(0, len(rows), 250):
            await insert_rows(self.session, Lead, rows[start : start + 250])

    async def move_campaign_memberships(self, from_lead: uuid.UUID, to_lead: uuid.UUID) -> int:
        """Re-point a merged duplicate's campaign memberships, except where the survivor is already a member."""
        already = select(CampaignMember.campaign_id).where(CampaignMember.lead_id == to_lead)
        result = await self.session.execute(
            update(CampaignMember)
            .where(CampaignMember.lead_id == from_lead, CampaignMember.campaign_id.not_in(already))
            .values(lead_id=to_lead, version=CampaignMember.version + 1)
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def active_emails_with_role(self, roles: Collection[Role]) -> list[str]:
        stmt = select(User.email).where(User.role.in_(list(roles)), User.active.is_(True), User.partner_id.is_(None))
        return list((await self.session.scalars(stmt)).all())

    async def partner_people(self, partner_ids: Collection[uuid.UUID], *, admins_only: bool) -> list[Row[Any]]:
        """(id, email, partner_id, role) of the partners' active users (or only their admins)."""
        stmt = _partner_people(postgres=self._postgres, admins_only=admins_only)
        connection = await self.session.connection()
        return list((await connection.execute(stmt, {"ids": list(partner_ids)})).all())

    @property
    def _postgres(self) -> bool:
        return self.session.bind is not None and self.session.bind.dialect.name == "postgresql"

    @staticmethod
    def admin_addresses(partner_ids: Select[tuple[uuid.UUID]]) -> Select[tuple[str]]:
        """The query of the addresses of the active admins of the partners `partner_ids` selects
        (a subquery: a shark-tank offer's thousand candidates are never bound one by one)."""
        return select(User.email).where(
            User.partner_id.in_(partner_ids), User.role == Role.PARTNER_ADMIN, User.active.is_(True)
        )

    async def partner_standing(self, partner_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, PartnerStanding]:
        """The standing of each partner that exists (routing asks about hundreds)."""
        ids = list(partner_ids)
        if not ids:
            return {}
        # plain rows through the connection: hundreds, only read
        rows = await fetch_rows(self.session, PartnerStanding, _partner_standing(postgres=self._postgres), {"ids": ids})
        return {row.id: row for row in rows}

    async def user_standing(self, user_id: uuid.UUID) -> UserStanding | None:
        stmt = select(User.id, User.email, User.role, User.partner_id, User.active, User.name).where(User.id == user_id)
        row = (await self.session.execute(stmt)).first()
        return read_row(UserStanding, row) if row is not None else None

    async def won_opportunities(self, opportunity_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, Row[Any]]:
        """(id, amount_minor, currency) of those opportunities that are Closed Won."""
        ids = list(opportunity_ids)
        if not ids:
            return {}
        stmt = select(Opportunity.id, Opportunity.amount_minor, Opportunity.currency).where(
            Opportunity.id.in_(ids), Opportunity.stage == OpportunityStage.CLOSED_WON
        )
        return {row.id: row for row in await self.session.execute(stmt)}

    async def campaign_exists(self, campaign_id: uuid.UUID) -> bool:
        return await self.session.scalar(select(Campaign.id).where(Campaign.id == campaign_id)) is not None

    async def product_exists(self, product_id: uuid.UUID) -> bool:
        return await self.session.scalar(select(Product.id).where(Product.id == product_id)) is not None

    async def product_ids_by_sku(self) -> dict[str, uuid.UUID]:
        rows = await self.session.execute(select(Product.sku, Product.id).where(Product.active.is_(True)))
        return {row.sku.lower(): row.id for row in rows}


_managers_of_partner = select(channel_manager_partners.c.user_id).where(
    channel_manager_partners.c.partner_id == bindparam("partner_id")
)
_USER_AND_MANAGERS = select(User.id, User.email).where(
    User.active.is_(True),
    or_(User.id == bindparam("user_id"), and_(User.role == Role.CHANNEL_MANAGER, User.id.in_(_managers_of_partner))),
)
_NAMES = select(Partner.id, Partner.name).where(Partner.id.in_(bindparam("ids", expanding=True)))
_TIER = select(Partner.tier).where(Partner.id == bindparam("partner_id"))


class DirectoryStore:
    """Who to tell: the addresses and names other domains need for notifications and pages,
    whoever asks (the callers, through prm.crm.services.directory, decide what to show)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def active_emails(self, user_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, str]:
        if not user_ids:
            return {}
        stmt = select(User.id, User.email).where(User.id.in_(list(user_ids)), User.active.is_(True))
        return {row.id: row.email for row in await self.session.execute(stmt)}

    async def user_and_channel_managers(self, *, user_id: uuid.UUID, partner_id: uuid.UUID) -> dict[uuid.UUID, str]:
        """The address of the user and those of its partner's channel managers (active ones), in one query."""
        rows = await self.session.execute(_USER_AND_MANAGERS, {"user_id": user_id, "partner_id": partner_id})
        return {row.id: row.email for row in rows}

    async def vendor_admin_emails(self) -> list[str]:
        stmt = select(User.email).where(User.role == Role.VENDOR_ADMIN, User.active.is_(True))
        return list((await self.session.scalars(stmt)).all())

    async def partner_names(self, partner_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, str]:
        if not partner_ids:
            return {}
        rows = await self.session.execute(_NAMES, {"ids": list(partner_ids)})
        return {row.id: row.name for row in rows}

    async def partner_tier(self, partner_id: uuid.UUID) -> PartnerTier | None:
        tier: PartnerTier | None = await self.session.scalar(_TIER, {"partner_id": partner_id})
        return tier


def _among_ids(column: InstrumentedAttribute[Any], *, postgres: bool) -> ColumnElement[bool]:
    """`column` is one of the ids bound as :ids; on PostgreSQL one array parameter (`= ANY`),
    not one parameter each (routing asks about hundreds of partners)."""
    if postgres:
        return column == any_(bindparam("ids", type_=postgresql.ARRAY(postgresql.UUID(as_uuid=True))))
    return column.in_(bindparam("ids", expanding=True))


@cache
def _partner_standing(*, postgres: bool) -> Select[Any]:
    columns = (Partner.id, Partner.tier, Partner.active, Partner.name)
    place = (Partner.country, Partner.latitude, Partner.longitude)
    return select(*columns, *place).where(_among_ids(Partner.id, postgres=postgres))


@cache
def _partner_people(*, postgres: bool, admins_only: bool) -> Select[Any]:
    stmt = select(User.id, User.email, User.partner_id, User.role)
    stmt = stmt.where(_among_ids(User.partner_id, postgres=postgres), User.active.is_(True))
    return stmt.where(User.role == Role.PARTNER_ADMIN) if admins_only else stmt


def account_matches(normalized: str, domain: str | None) -> ColumnElement[bool]:
    by_domain = Account.domain == domain if domain else false()
    return or_(Account.normalized_name == normalized, by_domain)
