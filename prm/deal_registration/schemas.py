"""Request and response Structs for deal registration."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from prm.crm.models import PartnerTier
from prm.crm.schemas import Country, Currency, Email, MinorUnits, Name, Phone, ReadStruct, Struct, Url, Version
from prm.deal_registration.models import (
    ConflictKind,
    ExtensionStatus,
    OverrideReason,
    ProofStatus,
    RegistrationState,
    RejectionReason,
)

# Fields a program may make required (beyond the always-required customer name and products).
RequirableField = Literal[
    "customer_website",
    "customer_country",
    "contact_name",
    "contact_email",
    "contact_phone",
    "contact_title",
    "estimated_amount_minor",
    "current_situation",
    "expected_close_date",
    "products",
]
LongText = Annotated[str, Meta(min_length=1, max_length=5000)]
Reason = Annotated[str, Meta(min_length=3, max_length=2000)]


class ProgramCreate(Struct):
    name: Name
    margin_bps: Annotated[int, Meta(ge=0, le=10_000, description="Additional margin in basis points")]
    currency: Currency
    description: Annotated[str, Meta(max_length=5000)] = ""
    benefits: Annotated[str, Meta(max_length=5000)] = ""
    required_fields: list[RequirableField] = msgspec.field(default_factory=lambda: ["products"])
    eligible_tiers: Annotated[list[PartnerTier], Meta(min_length=1)] = msgspec.field(
        default_factory=lambda: list(PartnerTier)
    )
    min_deal_minor: MinorUnits = 0
    review_hours: Annotated[int, Meta(ge=1, le=24 * 30)] = 48
    protection_days: Annotated[int, Meta(ge=1, le=730)] = 90
    reminder_days: Annotated[int, Meta(ge=0, le=365)] = 14
    extension_days: Annotated[int, Meta(ge=1, le=365)] = 30
    max_extensions: Annotated[int, Meta(ge=0, le=10)] = 1
    max_resubmissions: Annotated[int, Meta(ge=0, le=10)] = 2


class ProgramUpdate(Struct):
    expected_version: Version
    name: Name | UnsetType = UNSET
    active: bool | UnsetType = UNSET
    description: Annotated[str, Meta(max_length=5000)] | UnsetType = UNSET
    benefits: Annotated[str, Meta(max_length=5000)] | UnsetType = UNSET
    margin_bps: Annotated[int, Meta(ge=0, le=10_000)] | UnsetType = UNSET
    required_fields: list[RequirableField] | UnsetType = UNSET
    eligible_tiers: Annotated[list[PartnerTier], Meta(min_length=1)] | UnsetType = UNSET
    min_deal_minor: MinorUnits | UnsetType = UNSET
    review_hours: Annotated[int, Meta(ge=1, le=24 * 30)] | UnsetType = UNSET
    protection_days: Annotated[int, Meta(ge=1, le=730)] | UnsetType = UNSET
    reminder_days: Annotated[int, Meta(ge=0, le=365)] | UnsetType = UNSET
    extension_days: Annotated[int, Meta(ge=1, le=365)] | UnsetType = UNSET
    max_extensions: Annotated[int, Meta(ge=0, le=10)] | UnsetType = UNSET
    max_resubmissions: Annotated[int, Meta(ge=0, le=10)] | UnsetType = UNSET


class ProgramRead(ReadStruct):
    id: uuid.UUID
    name: str
    description: str
    active: bool
    margin_bps: int
    benefits: str
    required_fields: list[str]
    eligible_tiers: list[str]
    min_deal_minor: int
    currency: str
    review_hours: int
    protection_days: int
    reminder_days: int
    extension_days: int
    max_extensions: int
    max_resubmissions: int
    version: int
    created_at: datetime


class AutoApprove(Struct):
    """Approve at submit when the partner's tier is listed, the amount is at most
    `max_amount_minor`, the registration has no conflict and every field is filled."""

    tiers: Annotated[list[PartnerTier], Meta(min_length=1)]
    max_amount_minor: MinorUnits


class AutoReject(Struct):
    """Reject at submit, with the reason, what the program does not take: a customer outside
    `countries` (when listed), or one the vendor already sells to directly."""

    countries: Annotated[list[str], Meta(max_length=250)] | None = None
    existing_direct_opportunity: bool = False


SecondApprover = Literal["channel_manager", "vendor_admin"]


class SecondApproval(Struct):
    """Above `above_minor`, an approval needs a second, different person: another channel
    manager (or a vendor admin), or a vendor admin only."""

    above_minor: MinorUnits
    approver: SecondApprover = "channel_manager"


class ApprovalRules(Struct):
    auto_approve: AutoApprove | None = None
    auto_reject: AutoReject | None = None
    second_approval: SecondApproval | None = None


class ApprovalRulesUpdate(ApprovalRules, kw_only=True):
    expected_version: Version


class ApprovalRulesRead(ReadStruct):
    program_id: uuid.UUID
    version: int
    auto_approve: AutoApprove | None = None
    auto_reject: AutoReject | None = None
    second_approval: SecondApproval | None = None


class ProtectionTerms(ReadStruct):
    """The program's terms a registration was approved under (a snapshot taken at approval)."""

    protection_days: int
    reminder_days: int
    extension_days: int
    max_extensions: int
    margin_bps: int


class ProductLine(Struct):
    product_id: uuid.UUID
    quantity: Annotated[int, Meta(ge=1, le=1_000_000)] = 1


class CustomerFields(Struct):
    customer_name: Name
    customer_website: Url | None = None
    customer_domain: Annotated[str, Meta(max_length=253)] | None = None
    customer_country: Country | None = None
    products: Annotated[list[ProductLine], Meta(max_length=50)] = msgspec.field(default_factory=list)


class RegistrationDetails(CustomerFields, kw_only=True):
    """Everything a partner tells about the deal (a resubmission repeats it, improved)."""

    contact_name: Name | None = None
    contact_email: Email | None = None
    contact_phone: Phone | None = None
    contact_title: Name | None = None
    estimated_amount_minor: MinorUnits | None = None
    currency: Currency | None = None
    current_situation: LongText | None = None
    expected_close_date: date | None = None


class RegistrationCreate(RegistrationDetails, kw_only=True):
    program_id: uuid.UUID
    submit: bool = False


class RegistrationUpdate(Struct):
    """Edits of a draft."""

    expected_version: Version
    customer_name: Name | UnsetType = UNSET
    customer_website: Url | UnsetType | None = UNSET
    customer_domain: Annotated[str, Meta(max_length=253)] | UnsetType | None = UNSET
    customer_country: Country | UnsetType | None = UNSET
    contact_name: Name | UnsetType | None = UNSET
    contact_email: Email | UnsetType | None = UNSET
    contact_phone: Phone | UnsetType | None = UNSET
    contact_title: Name | UnsetType | None = UNSET
    estimated_amount_minor: MinorUnits | UnsetType | None = UNSET
    currency: Currency | UnsetType = UNSET
    current_situation: LongText | UnsetType | None = UNSET
    expected_close_date: date | UnsetType | None = UNSET
    products: Annotated[list[ProductLine], Meta(max_length=50)] | UnsetType = UNSET


class Transition(Struct):
    expected_version: Version


class Approve(Transition, kw_only=True):
    note: Annotated[str, Meta(max_length=2000)] | None = None
    # Approving while another partner holds protection for this customer takes one of these.
    override_reason: OverrideReason | None = None


class Reject(Transition, kw_only=True):
    reason: RejectionReason
    explanation: Reason
    duplicate_of_id: uuid.UUID | None = None


class MarkDuplicate(Transition, kw_only=True):
    duplicate_of_id: uuid.UUID
    explanation: Reason


class Cancel(Transition, kw_only=True):
    reason: Annotated[str, Meta(max_length=2000)] | None = None


class CloseLost(Transition, kw_only=True):
    reason: Reason


class ExtensionCreate(Struct):
    expected_version: Version
    reason: Reason


class ExtensionDecision(Struct):
    approve: bool
    note: Annotated[str, Meta(max_length=2000)] | None = None


class ProofDecision(Transition, kw_only=True):
    approve: bool
    note: Annotated[str, Meta(max_length=2000)] | None = None


class ConflictCheckRequest(CustomerFields, kw_only=True):
    pass


class ProductLineRead(ReadStruct):
    product_id: uuid.UUID
    quantity: int


class ConflictRead(ReadStruct):
    """The full conflict, for channel managers and vendor admins."""

    kind: ConflictKind
    matched_on: list[str]
    overlapping_product_ids: list[str]
    other_registration_id: uuid.UUID | None = None
    other_registration_number: str | None = None
    other_partner_id: uuid.UUID | None = None
    other_partner_name: str | None = None
    other_state: str | None = None
    other_opportunity_id: uuid.UUID | None = None
    other_customer_name: str | None = None
    other_amount_minor: int | None = None
    detected_at: datetime | None = None


class OverrideRead(ReadStruct):
    """A protection override this registration is part of (approved despite, or overridden).
    Partners see the reason, when, and the other registration's number; never whose it is."""

    role: Literal["approved_despite", "overridden"]
    reason: OverrideReason
    decided_at: datetime
    other_registration_number: str
    other_registration_id: uuid.UUID | None = None
    note: str | None = None


class ConflictHint(ReadStruct):
    """What a partner may know: that a possible conflict exists, and its kind. Never whose."""

    kind: ConflictKind
    matched_on: list[str]


class RegistrationRead(ReadStruct, kw_only=True):
    id: uuid.UUID
    number: str
    program_id: uuid.UUID
    partner_id: uuid.UUID
    submitted_by_id: uuid.UUID
    state: RegistrationState
    customer_name: str
    customer_domain: str | None
    customer_website: str | None
    customer_country: str | None
    contact_name: str | None
    contact_email: str | None
    contact_phone: str | None
    contact_title: str | None
    estimated_amount_minor: int | None
    currency: str
    current_situation: str | None
    expected_close_date: date | None
    products: list[ProductLineRead] = msgspec.field(default_factory=list)
    submitted_at: datetime | None
    review_due_at: datetime | None
    overdue_at: datetime | None
    decided_at: datetime | None
    approved_at: datetime | None
    expires_at: datetime | None
    remind_at: datetime | None
    extensions_used: int
    terms: ProtectionTerms | None = None
    decided_by_rule: str | None = None
    first_approved_at: datetime | None = None
    first_approved_by_id: uuid.UUID | None = None
    awaiting_second_approval: bool = False
    overrides: list[OverrideRead] = msgspec.field(default_factory=list)
    rejection_reason: RejectionReason | None
    decision_note: str | None
    duplicate_of_id: uuid.UUID | None
    original_id: uuid.UUID | None
    resubmission_of_id: uuid.UUID | None
    resubmission_number: int
    opportunity_id: uuid.UUID | None
    closed_at: datetime | None
    lost_reason: str | None
    won_amount_minor: int | None
    proof_status: ProofStatus
    invoice_number: str | None
    purchase_order_number: str | None
    proof_amount_minor: int | None
    proof_date: date | None
    proof_document_id: uuid.UUID | None
    proof_note: str | None
    version: int
    created_at: datetime
    updated_at: datetime
    conflicts: list[ConflictRead] = msgspec.field(default_factory=list)
    conflict_hints: list[ConflictHint] = msgspec.field(default_factory=list)
    # What the caller may do with it now (service/actions.py); anything else is refused.
    allowed_actions: list[str] = msgspec.field(default_factory=list)


class ExtensionRead(ReadStruct):
    id: uuid.UUID
    registration_id: uuid.UUID
    requested_by_id: uuid.UUID
    reason: str
    status: ExtensionStatus
    decided_by_id: uuid.UUID | None
    decided_at: datetime | None
    decision_note: str | None
    new_expires_at: datetime | None
    created_at: datetime


class ConflictCheckResult(ReadStruct):
    possible_conflict: bool
    conflicts: list[ConflictHint]
