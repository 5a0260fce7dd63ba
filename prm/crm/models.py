"""CRM core tables: partners, users, accounts, contacts, products, opportunities, leads, campaigns."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from prm.core.auth import Role
from prm.core.db import Base, IdMixin, TimestampMixin, VersionMixin, enum_column
from prm.core.tenancy import channel_manager_partners

__all__ = ["channel_manager_partners"]


class PartnerTier(StrEnum):
    REGISTERED = "registered"
    SILVER = "silver"
    GOLD = "gold"
    PLATINUM = "platinum"


class Partner(IdMixin, TimestampMixin, VersionMixin, Base):
    __tablename__ = "partners"

    name: Mapped[str] = mapped_column(String(200), unique=True)
    tier: Mapped[PartnerTier] = enum_column(PartnerTier)
    country: Mapped[str | None] = mapped_column(String(2))
    region: Mapped[str | None] = mapped_column(String(100))
    city: Mapped[str | None] = mapped_column(String(100))
    # Geocoded from city and country (or given); None when unknown. 0.0 is a real coordinate.
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
    website: Mapped[str | None] = mapped_column(String(500))
    active: Mapped[bool] = mapped_column(default=True)


class User(IdMixin, TimestampMixin, VersionMixin, Base):
    __tablename__ = "users"

    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = enum_column(Role)
    partner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("partners.id"), index=True)
    password_hash: Mapped[str | None] = mapped_column(String(500))
    active: Mapped[bool] = mapped_column(default=True)
    last_login_at: Mapped[datetime | None]
    # Every token carries the epoch it was issued at; bumping it (deactivation, a role, partner
    # or password change, signing out) ends every session the user has, at their next request.
    session_epoch: Mapped[int] = mapped_column(default=0, server_default="0")


class AccountKind(StrEnum):
    CUSTOMER = "customer"
    PROSPECT = "prospect"
    PARTNER = "partner"


class Account(IdMixin, TimestampMixin, VersionMixin, Base):
    __tablename__ = "accounts"

    name: Mapped[str] = mapped_column(String(200))
    normalized_name: Mapped[str] = mapped_column(String(200), index=True)
    domain: Mapped[str | None] = mapped_column(String(253), index=True)
    website: Mapped[str | None] = mapped_column(String(500))
    country: Mapped[str | None] = mapped_column(String(2))
    industry: Mapped[str | None] = mapped_column(String(100))
    employees: Mapped[int | None]
    kind: Mapped[AccountKind] = enum_column(AccountKind, default=AccountKind.CUSTOMER)
    # The partner that owns this record (None: the vendor's own account).
    partner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("partners.id"), index=True)


class Contact(IdMixin, TimestampMixin, VersionMixin, Base):
    __tablename__ = "contacts"

    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"), index=True)
    partner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("partners.id"), index=True)
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    phone: Mapped[str | None] = mapped_column(String(50))
    title: Mapped[str | None] = mapped_column(String(200))


class Product(IdMixin, TimestampMixin, VersionMixin, Base):
    __tablename__ = "products"

    sku: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    family: Mapped[str | None] = mapped_column(String(100))
    list_price_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    active: Mapped[bool] = mapped_column(default=True)


class OpportunityStage(StrEnum):
    PROSPECTING = "Prospecting"
    PRESENTATION = "Presentation"
    PROPOSAL = "Proposal"
    NEGOTIATION = "Negotiation"
    CLOSED_WON = "Closed Won"
    CLOSED_LOST = "Closed Lost"

    @property
    def is_closed(self) -> bool:
        return self in (OpportunityStage.CLOSED_WON, OpportunityStage.CLOSED_LOST)


SALES_FIGURES = ["partner_id", "currency", "amount_minor"]
CONVERTED = "converted_opportunity_id IS NOT NULL"


class Opportunity(IdMixin, TimestampMixin, VersionMixin, Base):
    __tablename__ = "opportunities"
    __table_args__ = (
        Index("ix_opportunities_partner_created", "partner_id", "created_at"),
        # Scorecards: won and lost business by close time, open pipeline by expected close date;
        # on PostgreSQL the figures ride along (INCLUDE) so the reports read the index alone.
        Index("ix_opportunities_stage_closed", "stage", "closed_at", postgresql_include=SALES_FIGURES),
        Index(
            "ix_opportunities_partner_stage_closed",
            "partner_id",
            "stage",
            "closed_at",
            postgresql_include=["currency", "amount_minor"],
        ),
        Index("ix_opportunities_stage_close_date", "stage", "close_date", postgresql_include=SALES_FIGURES),
        # Top deals: the largest won amounts per currency, read from the top until ten are found.
        Index(
            "ix_opportunities_won_amount",
            "stage",
            "currency",
            "amount_minor",
            postgresql_include=["closed_at", "partner_id"],
        ),
    )

    name: Mapped[str] = mapped_column(String(200))
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id"), index=True)
    # A partner on the opportunity makes it indirect; none makes it direct.
    partner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("partners.id"))
    stage: Mapped[OpportunityStage] = enum_column(OpportunityStage, default=OpportunityStage.PROSPECTING)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    close_date: Mapped[date | None]
    owner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    lead_source: Mapped[str | None] = mapped_column(String(40))
    closed_at: Mapped[datetime | None]
    # Deal registration protection: set while an approved registration protects this deal.
    protected_until: Mapped[datetime | None]
    protection_lapsed_at: Mapped[datetime | None]


class LeadSource(StrEnum):
    WEB = "web"
    CAMPAIGN = "campaign"
    IMPORT = "import"
    REFERRAL = "referral"
    EXISTING_CUSTOMER = "existing_customer"
    PARTNER = "partner"
    OTHER = "other"


class LeadStatus(StrEnum):
    """new -> marketing qualified -> sales qualified -> routed -> accepted -> converted, or disqualified.

    Lead distribution moves a lead along these; the CRM's own PATCH never changes the status.
    """

    NEW = "new"
    MARKETING_QUALIFIED = "marketing_qualified"
    SALES_QUALIFIED = "sales_qualified"
    ROUTED = "routed"
    ACCEPTED = "accepted"
    CONVERTED = "converted"
    DISQUALIFIED = "disqualified"


class TimeFrame(StrEnum):
    """When the lead means to buy."""

    IMMEDIATE = "immediate"
    THIS_QUARTER = "this_quarter"
    SIX_MONTHS = "six_months"
    THIS_YEAR = "this_year"
    LATER = "later"
    UNKNOWN = "unknown"


class Lead(IdMixin, TimestampMixin, VersionMixin, Base):
    __tablename__ = "leads"
    __table_args__ = (
        Index("ix_leads_status_created", "status", "created_at"),
        # Scorecards' lead quality: what it groups by rides along with the creation time, and the
        # few converted leads are found without reading the others.
        Index("ix_leads_created_quality", "created_at",
              postgresql_include=["source", "campaign_id", "score", "status", "partner_id", "merged_into_id"]),
        Index("ix_leads_converted_opportunity", "converted_opportunity_id",
              postgresql_where=text(CONVERTED), sqlite_where=text(CONVERTED),
              postgresql_include=["created_at", "source", "campaign_id", "partner_id", "merged_into_id"]),
    )  # fmt: skip

    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    phone: Mapped[str | None] = mapped_column(String(50))
    company: Mapped[str] = mapped_column(String(200))
    # normalize_company(company): duplicate detection and account matching on conversion.
    company_normalized: Mapped[str | None] = mapped_column(String(200), index=True)
    title: Mapped[str | None] = mapped_column(String(200))
    country: Mapped[str | None] = mapped_column(String(2))
    region: Mapped[str | None] = mapped_column(String(100))
    city: Mapped[str | None] = mapped_column(String(100))
    # Geocoded from city and country (or given); None when unknown. 0.0 is a real coordinate.
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
    employees: Mapped[int | None]
    source: Mapped[LeadSource] = enum_column(LeadSource)
    status: Mapped[LeadStatus] = enum_column(LeadStatus, default=LeadStatus.NEW)
    campaign_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("campaigns.id"), index=True)
    owner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    # The partner holding the lead: set when a partner accepts it, never while it is only offered.
    partner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("partners.id"), index=True)
    # Qualification (current situation, product of interest, time frame, budget) and its score 0-100.
    current_situation: Mapped[str | None] = mapped_column(Text)
    product_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("products.id"))
    time_frame: Mapped[TimeFrame | None] = enum_column(TimeFrame, nullable=True)
    budget_minor: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    score: Mapped[int] = mapped_column(default=0, server_default="0")
    disqualified_reason: Mapped[str | None] = mapped_column(String(40))
    # A merged duplicate keeps its row and history and points at the lead it was merged into.
    merged_into_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("leads.id"))
    converted_at: Mapped[datetime | None]
    converted_account_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("accounts.id"))
    converted_contact_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("contacts.id"))
    converted_opportunity_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("opportunities.id"))


class CampaignStatus(StrEnum):
    PLANNED = "planned"
    ACTIVE = "active"
    COMPLETED = "completed"
    ABORTED = "aborted"


class Campaign(IdMixin, TimestampMixin, VersionMixin, Base):
    __tablename__ = "campaigns"

    name: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("campaigns.id"), index=True)
    type: Mapped[str] = mapped_column(String(50), default="other")
    status: Mapped[CampaignStatus] = enum_column(CampaignStatus, default=CampaignStatus.PLANNED)
    start_date: Mapped[date | None]
    end_date: Mapped[date | None]
    budget_minor: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))


class MemberStatus(StrEnum):
    SENT = "Sent"
    RESPONDED = "Responded"


class CampaignMember(IdMixin, TimestampMixin, VersionMixin, Base):
    __tablename__ = "campaign_members"
    __table_args__ = (
        UniqueConstraint("campaign_id", "lead_id"),
        UniqueConstraint("campaign_id", "contact_id"),
    )

    campaign_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    lead_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("leads.id"))
    contact_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("contacts.id"))
    status: Mapped[MemberStatus] = enum_column(MemberStatus, default=MemberStatus.SENT)
    responded_at: Mapped[datetime | None]
