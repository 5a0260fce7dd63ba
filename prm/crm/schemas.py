"""Request and response Structs for the CRM core (refused at the edge when malformed)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

import msgspec
from msgspec import UNSET, Meta, UnsetType

from prm.core.auth import Role
from prm.crm.models import (
    AccountKind,
    CampaignStatus,
    LeadSource,
    LeadStatus,
    MemberStatus,
    OpportunityStage,
    PartnerTier,
    TimeFrame,
)
from prm.crm.normalize import UnknownCountry, normalize_country

Name = Annotated[str, Meta(min_length=1, max_length=200)]
ShortText = Annotated[str, Meta(min_length=1, max_length=100)]
Email = Annotated[str, Meta(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
Country = Annotated[
    str,
    Meta(
        min_length=2,
        max_length=100,
        description="ISO 3166-1 code (DE, DEU) or the country's name in English or its own language "
        "(Germany, Deutschland); stored and returned as the alpha-2 code",
    ),
]
Currency = Annotated[str, Meta(pattern=r"^[A-Z]{3}$", description="ISO 4217 code")]
Url = Annotated[str, Meta(max_length=500, pattern=r"^https?://\S+$")]
Domain = Annotated[str, Meta(max_length=253, pattern=r"^[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")]
Phone = Annotated[str, Meta(max_length=50)]
Latitude = Annotated[float, Meta(ge=-90, le=90)]
Longitude = Annotated[float, Meta(ge=-180, le=180)]
CampaignType = Annotated[str, Meta(min_length=1, max_length=50)]
MinorUnits = Annotated[int, Meta(ge=0, le=10**15, description="Amount in minor units (cents)")]
Password = Annotated[str, Meta(min_length=10, max_length=200)]
Version = Annotated[int, Meta(ge=1, description="The version you read; 409 if it moved on")]


_COUNTRY_FIELDS = ("country", "customer_country", "countries")


def normalize_countries(body: msgspec.Struct) -> None:
    """Every country field of a request body as its alpha-2 code ("Germany" -> DE, never GE);
    an unknown country fails the body's validation with a message naming the field."""
    for name in _COUNTRY_FIELDS:
        value = getattr(body, name, None)
        if isinstance(value, str):
            setattr(body, name, _country_code(name, value))
        elif isinstance(value, list):
            setattr(body, name, [_country_code(f"{name}[{i}]", item) for i, item in enumerate(value)])


def _country_code(field: str, value: str) -> str:
    try:
        return normalize_country(value)
    except UnknownCountry as exc:
        raise ValueError(f"{exc} - at `$.{field}`") from None


class Struct(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Request bodies refuse unknown fields, so a typo is an error, not silently ignored."""

    def __post_init__(self) -> None:
        normalize_countries(self)


class ReadStruct(msgspec.Struct, kw_only=True):
    pass


# Partners
class PartnerCreate(Struct):
    name: Name
    tier: PartnerTier = PartnerTier.REGISTERED
    country: Country | None = None
    region: ShortText | None = None
    city: ShortText | None = None
    # Given, or geocoded from city and country when left out.
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    website: Url | None = None


class PartnerUpdate(Struct):
    expected_version: Version
    name: Name | UnsetType = UNSET
    tier: PartnerTier | UnsetType = UNSET
    country: Country | UnsetType | None = UNSET
    region: ShortText | UnsetType | None = UNSET
    city: ShortText | UnsetType | None = UNSET
    latitude: Latitude | UnsetType | None = UNSET
    longitude: Longitude | UnsetType | None = UNSET
    website: Url | UnsetType | None = UNSET
    active: bool | UnsetType = UNSET


class PartnerRead(ReadStruct):
    id: uuid.UUID
    name: str
    tier: PartnerTier
    country: str | None
    region: str | None
    website: str | None
    city: str | None
    latitude: float | None
    longitude: float | None
    active: bool
    version: int
    created_at: datetime
    updated_at: datetime


class ChannelManagerAssignment(Struct):
    channel_manager_ids: Annotated[list[uuid.UUID], Meta(max_length=100)]


# Users
class UserCreate(Struct):
    email: Email
    name: Name
    role: Role
    password: Password
    partner_id: uuid.UUID | None = None


class UserUpdate(Struct):
    """`active`, `role` and `partner_id` are for the user's managers, never the user itself;
    changing one's own password takes the current one."""

    expected_version: Version
    name: Name | UnsetType = UNSET
    active: bool | UnsetType = UNSET
    role: Role | UnsetType = UNSET
    partner_id: uuid.UUID | UnsetType | None = UNSET
    password: Password | UnsetType = UNSET
    current_password: Annotated[str, Meta(max_length=200)] | UnsetType = UNSET


class UserRead(ReadStruct):
    id: uuid.UUID
    email: str
    name: str
    role: Role
    partner_id: uuid.UUID | None
    active: bool
    version: int
    created_at: datetime
    updated_at: datetime


class TokenResponse(ReadStruct):
    access_token: str
    token_type: str
    expires_in: int


# Accounts
class AccountCreate(Struct):
    name: Name
    domain: Domain | None = None
    website: Url | None = None
    country: Country | None = None
    industry: ShortText | None = None
    employees: Annotated[int, Meta(ge=0, le=10_000_000)] | None = None
    kind: AccountKind = AccountKind.CUSTOMER
    partner_id: uuid.UUID | None = None


class AccountUpdate(Struct):
    expected_version: Version
    name: Name | UnsetType = UNSET
    domain: Domain | UnsetType | None = UNSET
    website: Url | UnsetType | None = UNSET
    country: Country | UnsetType | None = UNSET
    industry: ShortText | UnsetType | None = UNSET
    employees: Annotated[int, Meta(ge=0, le=10000000)] | UnsetType | None = UNSET
    kind: AccountKind | UnsetType = UNSET


class AccountRead(ReadStruct):
    id: uuid.UUID
    name: str
    domain: str | None
    website: str | None
    country: str | None
    industry: str | None
    employees: int | None
    kind: AccountKind
    partner_id: uuid.UUID | None
    version: int
    created_at: datetime
    updated_at: datetime


# Contacts
class ContactCreate(Struct):
    account_id: uuid.UUID
    first_name: ShortText
    last_name: ShortText
    email: Email | None = None
    phone: Phone | None = None
    title: Name | None = None


class ContactUpdate(Struct):
    expected_version: Version
    first_name: ShortText | UnsetType = UNSET
    last_name: ShortText | UnsetType = UNSET
    email: Email | UnsetType | None = UNSET
    phone: Phone | UnsetType | None = UNSET
    title: Name | UnsetType | None = UNSET


class ContactRead(ReadStruct):
    id: uuid.UUID
    account_id: uuid.UUID
    partner_id: uuid.UUID | None
    first_name: str
    last_name: str
    email: str | None
    phone: str | None
    title: str | None
    version: int
    created_at: datetime
    updated_at: datetime


# Products
class ProductCreate(Struct):
    sku: Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]
    name: Name
    list_price_minor: MinorUnits
    currency: Currency
    family: ShortText | None = None


class ProductUpdate(Struct):
    expected_version: Version
    name: Name | UnsetType = UNSET
    list_price_minor: MinorUnits | UnsetType = UNSET
    currency: Currency | UnsetType = UNSET
    family: ShortText | UnsetType | None = UNSET
    active: bool | UnsetType = UNSET


class ProductRead(ReadStruct):
    id: uuid.UUID
    sku: str
    name: str
    family: str | None
    list_price_minor: int
    currency: str
    active: bool
    version: int
    created_at: datetime
    updated_at: datetime


# Opportunities
class OpportunityCreate(Struct):
    name: Name
    account_id: uuid.UUID
    amount_minor: MinorUnits
    currency: Currency
    stage: OpportunityStage = OpportunityStage.PROSPECTING
    close_date: date | None = None
    partner_id: uuid.UUID | None = None
    lead_source: Annotated[str, Meta(min_length=1, max_length=40)] | None = None


class OpportunityUpdate(Struct):
    expected_version: Version
    name: Name | UnsetType = UNSET
    amount_minor: MinorUnits | UnsetType = UNSET
    currency: Currency | UnsetType = UNSET
    stage: OpportunityStage | UnsetType = UNSET
    close_date: date | UnsetType | None = UNSET


class OpportunityRead(ReadStruct):
    id: uuid.UUID
    name: str
    account_id: uuid.UUID
    partner_id: uuid.UUID | None
    stage: OpportunityStage
    amount_minor: int
    currency: str
    close_date: date | None
    owner_id: uuid.UUID | None
    lead_source: str | None
    closed_at: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime
    protected_until: datetime | None = None
    protection_lapsed_at: datetime | None = None

    @property
    def is_indirect(self) -> bool:
        return self.partner_id is not None


# Leads
LongText = Annotated[str, Meta(min_length=1, max_length=4000)]
# A lead's notes: a CRM's Description field holds 32k characters, and an import keeps all of it.
LeadNotes = Annotated[str, Meta(min_length=1, max_length=32_000)]
Employees = Annotated[int, Meta(ge=0, le=10_000_000)]


class LeadCreate(Struct):
    first_name: ShortText
    last_name: ShortText
    company: Name
    source: LeadSource
    email: Email | None = None
    phone: Phone | None = None
    title: Name | None = None
    country: Country | None = None
    region: ShortText | None = None
    city: ShortText | None = None
    # Given, or geocoded from city and country when left out.
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    employees: Employees | None = None
    campaign_id: uuid.UUID | None = None
    owner_id: uuid.UUID | None = None
    # Qualification, when the source already knows it.
    current_situation: LeadNotes | None = None
    product_id: uuid.UUID | None = None
    time_frame: TimeFrame | None = None
    budget_minor: MinorUnits | None = None
    currency: Currency | None = None


class LeadUpdate(Struct):
    """Contact facts only: the status moves through lead distribution (qualify, route, accept, convert)."""

    expected_version: Version
    first_name: ShortText | UnsetType = UNSET
    last_name: ShortText | UnsetType = UNSET
    company: Name | UnsetType = UNSET
    email: Email | UnsetType | None = UNSET
    phone: Phone | UnsetType | None = UNSET
    title: Name | UnsetType | None = UNSET
    country: Country | UnsetType | None = UNSET
    region: ShortText | UnsetType | None = UNSET
    city: ShortText | UnsetType | None = UNSET
    latitude: Latitude | UnsetType | None = UNSET
    longitude: Longitude | UnsetType | None = UNSET
    employees: Employees | UnsetType | None = UNSET
    owner_id: uuid.UUID | UnsetType | None = UNSET


class LeadRead(ReadStruct):
    id: uuid.UUID
    first_name: str
    last_name: str
    company: str
    email: str | None
    phone: str | None
    title: str | None
    country: str | None
    source: LeadSource
    status: LeadStatus
    campaign_id: uuid.UUID | None
    owner_id: uuid.UUID | None
    partner_id: uuid.UUID | None
    version: int
    created_at: datetime
    updated_at: datetime
    region: str | None = None
    city: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    employees: int | None = None
    current_situation: str | None = None
    product_id: uuid.UUID | None = None
    time_frame: TimeFrame | None = None
    budget_minor: int | None = None
    currency: str | None = None
    score: int = 0
    disqualified_reason: str | None = None
    merged_into_id: uuid.UUID | None = None
    converted_at: datetime | None = None
    converted_account_id: uuid.UUID | None = None
    converted_contact_id: uuid.UUID | None = None
    converted_opportunity_id: uuid.UUID | None = None


# Campaigns
class CampaignCreate(Struct):
    name: Name
    type: CampaignType = "other"
    status: CampaignStatus = CampaignStatus.PLANNED
    parent_id: uuid.UUID | None = None
    start_date: date | None = None
    end_date: date | None = None
    budget_minor: MinorUnits | None = None
    currency: Currency | None = None


class CampaignUpdate(Struct):
    expected_version: Version
    name: Name | UnsetType = UNSET
    type: CampaignType | UnsetType = UNSET
    status: CampaignStatus | UnsetType = UNSET
    parent_id: uuid.UUID | UnsetType | None = UNSET
    start_date: date | UnsetType | None = UNSET
    end_date: date | UnsetType | None = UNSET
    budget_minor: MinorUnits | UnsetType | None = UNSET
    currency: Currency | UnsetType | None = UNSET


class CampaignRead(ReadStruct):
    id: uuid.UUID
    name: str
    type: str
    status: CampaignStatus
    parent_id: uuid.UUID | None
    start_date: date | None
    end_date: date | None
    budget_minor: int | None
    currency: str | None
    version: int
    created_at: datetime
    updated_at: datetime


class CampaignMemberCreate(Struct):
    lead_id: uuid.UUID | None = None
    contact_id: uuid.UUID | None = None
    status: MemberStatus = MemberStatus.SENT


class CampaignMemberUpdate(Struct):
    expected_version: Version
    status: MemberStatus


class CampaignMemberRead(ReadStruct):
    id: uuid.UUID
    campaign_id: uuid.UUID
    lead_id: uuid.UUID | None
    contact_id: uuid.UUID | None
    status: MemberStatus
    responded_at: datetime | None
    version: int
    created_at: datetime
