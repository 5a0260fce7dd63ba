"""Request and response Structs of lead distribution (refused at the edge when malformed)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any

import msgspec
from msgspec import UNSET, Meta, UnsetType

from prm.crm.models import LeadSource, TimeFrame
from prm.crm.schemas import (
    Country,
    Currency,
    Email,
    Employees,
    LeadNotes,
    LeadRead,
    LongText,
    MinorUnits,
    Name,
    Phone,
    ReadStruct,
    ShortText,
    Struct,
    Url,
    Version,
    normalize_countries,
)
from prm.lead_distribution.models import (
    DeclineReason,
    MembershipStatus,
    OfferKind,
    OfferStatus,
    ReferralStatus,
    RoutingMode,
    RoutingOutcome,
    ScoreAttribute,
    ScoreOperator,
    TargetKind,
)
from prm.lead_distribution.rules import Band, SizeBand

Hours = Annotated[int, Meta(ge=1, le=24 * 60)]
Note = Annotated[str, Meta(min_length=1, max_length=2000)]
Tier = Annotated[str, Meta(pattern=r"^(registered|silver|gold|platinum)$")]
Territory = Annotated[str, Meta(min_length=1, max_length=100)]
Pct = Annotated[int, Meta(ge=0, le=100)]
Ids = Annotated[list[uuid.UUID], Meta(max_length=1000)]
ScoreValue = Annotated[str, Meta(max_length=200)] | Annotated[int, Meta(ge=0, le=10**15)]


# Scoring -------------------------------------------------------------------------------------


class CriterionCreate(Struct):
    name: Name
    attribute: ScoreAttribute
    operator: ScoreOperator
    points: Annotated[int, Meta(ge=-100, le=100)]
    values: Annotated[list[ScoreValue], Meta(max_length=50)] = []
    active: bool = True


class CriterionUpdate(Struct):
    expected_version: Version
    name: Name | UnsetType = UNSET
    values: Annotated[list[ScoreValue], Meta(max_length=50)] | UnsetType = UNSET
    points: Annotated[int, Meta(ge=-100, le=100)] | UnsetType = UNSET
    active: bool | UnsetType = UNSET


class CriterionRead(ReadStruct):
    id: uuid.UUID
    name: str
    attribute: ScoreAttribute
    operator: ScoreOperator
    values: list[Any]
    points: int
    active: bool
    version: int
    created_at: datetime


# Programs, members, certifications, groups --------------------------------------------------


class ProgramCreate(Struct):
    name: Name
    description: Annotated[str, Meta(max_length=4000)] = ""
    eligible_tiers: Annotated[list[Tier], Meta(max_length=4)] = []
    response_hours: Hours = 48
    hot_response_hours: Hours = 4
    claim_window_hours: Hours = 24
    max_open_leads: Annotated[int, Meta(ge=1, le=100_000)] = 25
    min_acceptance_pct: Pct | None = None
    auto_qualify_bands: Annotated[list[Band], Meta(max_length=3)] = []


class ProgramUpdate(Struct):
    expected_version: Version
    name: Name | UnsetType = UNSET
    description: Annotated[str, Meta(max_length=4000)] | UnsetType = UNSET
    active: bool | UnsetType = UNSET
    eligible_tiers: Annotated[list[Tier], Meta(max_length=4)] | UnsetType = UNSET
    response_hours: Hours | UnsetType = UNSET
    hot_response_hours: Hours | UnsetType = UNSET
    claim_window_hours: Hours | UnsetType = UNSET
    max_open_leads: Annotated[int, Meta(ge=1, le=100_000)] | UnsetType = UNSET
    min_acceptance_pct: Pct | UnsetType | None = UNSET
    auto_qualify_bands: Annotated[list[Band], Meta(max_length=3)] | UnsetType = UNSET


class ProgramRead(ReadStruct):
    id: uuid.UUID
    name: str
    description: str
    active: bool
    eligible_tiers: list[str]
    response_hours: int
    hot_response_hours: int
    claim_window_hours: int
    max_open_leads: int
    min_acceptance_pct: int | None
    auto_qualify_bands: list[str]
    version: int
    created_at: datetime


class MemberPut(Struct):
    weight: Annotated[int, Meta(ge=1, le=10_000)] = 100
    max_open_leads: Annotated[int, Meta(ge=0, le=100_000)] | None = None
    territories: Annotated[list[Territory], Meta(max_length=300)] = []


class MemberRead(ReadStruct):
    program_id: uuid.UUID
    partner_id: uuid.UUID
    weight: int
    max_open_leads: int | None
    territories: list[str]
    joined_at: datetime


class CertificationsPut(Struct):
    product_ids: Ids


class CertificationsRead(ReadStruct):
    partner_id: uuid.UUID
    product_ids: list[uuid.UUID]


class GroupCreate(Struct):
    name: Name
    partner_ids: Ids = []
    program_id: uuid.UUID | None = None
    claim_window_hours: Hours | None = None
    max_open_claims_per_partner: Annotated[int, Meta(ge=1, le=10_000)] = 3


class GroupUpdate(Struct):
    expected_version: Version
    name: Name | UnsetType = UNSET
    program_id: uuid.UUID | UnsetType | None = UNSET
    claim_window_hours: Hours | UnsetType | None = UNSET
    max_open_claims_per_partner: Annotated[int, Meta(ge=1, le=10_000)] | UnsetType = UNSET
    active: bool | UnsetType = UNSET


class GroupMembersPut(Struct):
    partner_ids: Ids


class GroupRead(ReadStruct):
    id: uuid.UUID
    name: str
    program_id: uuid.UUID | None
    claim_window_hours: int | None
    max_open_claims_per_partner: int
    active: bool
    version: int
    created_at: datetime
    partner_ids: list[uuid.UUID] = []


# Routing rules -------------------------------------------------------------------------------


class RuleCreate(Struct):
    name: Name
    target_kind: TargetKind
    countries: Annotated[list[Country], Meta(max_length=300)] = []
    regions: Annotated[list[ShortText], Meta(max_length=300)] = []
    size_bands: Annotated[list[SizeBand], Meta(max_length=4)] = []
    product_ids: Ids = []
    score_bands: Annotated[list[Band], Meta(max_length=3)] = []
    sources: Annotated[list[LeadSource], Meta(max_length=10)] = []
    target_user_id: uuid.UUID | None = None
    target_partner_id: uuid.UUID | None = None
    target_group_id: uuid.UUID | None = None
    program_id: uuid.UUID | None = None
    position: Annotated[int, Meta(ge=1, le=100_000)] | None = None
    active: bool = True


class RuleUpdate(Struct):
    expected_version: Version
    name: Name | UnsetType = UNSET
    active: bool | UnsetType = UNSET
    countries: Annotated[list[Country], Meta(max_length=300)] | UnsetType = UNSET
    regions: Annotated[list[ShortText], Meta(max_length=300)] | UnsetType = UNSET
    size_bands: Annotated[list[SizeBand], Meta(max_length=4)] | UnsetType = UNSET
    product_ids: Ids | UnsetType = UNSET
    score_bands: Annotated[list[Band], Meta(max_length=3)] | UnsetType = UNSET
    sources: Annotated[list[LeadSource], Meta(max_length=10)] | UnsetType = UNSET
    target_kind: TargetKind | UnsetType = UNSET
    target_user_id: uuid.UUID | UnsetType | None = UNSET
    target_partner_id: uuid.UUID | UnsetType | None = UNSET
    target_group_id: uuid.UUID | UnsetType | None = UNSET
    program_id: uuid.UUID | UnsetType | None = UNSET


class RuleOrder(Struct):
    """Every rule's id, in the order the rules are to be tried."""

    rule_ids: Ids


class RuleRead(ReadStruct):
    id: uuid.UUID
    name: str
    position: int
    active: bool
    countries: list[str]
    regions: list[str]
    size_bands: list[str]
    product_ids: list[str]
    score_bands: list[str]
    sources: list[str]
    target_kind: TargetKind
    target_user_id: uuid.UUID | None
    target_partner_id: uuid.UUID | None
    target_group_id: uuid.UUID | None
    program_id: uuid.UUID | None
    version: int
    created_at: datetime


# Leads ---------------------------------------------------------------------------------------


class QualificationStage(StrEnum):
    MARKETING_QUALIFIED = "marketing_qualified"
    SALES_QUALIFIED = "sales_qualified"


class DisqualifyReason(StrEnum):
    NO_NEED = "no_need"
    NO_BUDGET = "no_budget"
    NO_AUTHORITY = "no_authority"
    WRONG_TIMING = "wrong_timing"
    COMPETITOR = "competitor"
    INVALID_CONTACT = "invalid_contact"
    SPAM = "spam"
    DUPLICATE = "duplicate"
    OTHER = "other"


class DuplicateRead(ReadStruct):
    lead_id: uuid.UUID
    matched_on: list[str]


class OfferSummary(ReadStruct):
    id: uuid.UUID
    kind: OfferKind
    status: OfferStatus
    partner_id: uuid.UUID | None
    user_id: uuid.UUID | None
    group_id: uuid.UUID | None
    respond_by: datetime


class LeadDetails(LeadRead):
    """The CRM lead with what distribution knows about it."""

    band: Band = Band.COLD
    size_band: SizeBand | None = None
    possible_duplicates: list[DuplicateRead] = []
    current_offer: OfferSummary | None = None


class Qualify(Struct):
    expected_version: Version
    stage: QualificationStage
    current_situation: LeadNotes | UnsetType | None = UNSET
    product_id: uuid.UUID | UnsetType | None = UNSET
    time_frame: TimeFrame | UnsetType | None = UNSET
    budget_minor: MinorUnits | UnsetType | None = UNSET
    currency: Currency | UnsetType | None = UNSET
    employees: Employees | UnsetType | None = UNSET
    country: Country | UnsetType | None = UNSET
    region: ShortText | UnsetType | None = UNSET
    note: Note | None = None


class Disqualify(Struct):
    expected_version: Version
    reason: DisqualifyReason
    note: Note | None = None


class RouteRequest(Struct):
    expected_version: Version
    target_kind: TargetKind
    partner_id: uuid.UUID | None = None
    user_id: uuid.UUID | None = None
    group_id: uuid.UUID | None = None
    program_id: uuid.UUID | None = None
    # A channel manager may route past soft eligibility limits (capacity, tier, territory,
    # certification, acceptance rate); the decision records that they did and why.
    override_eligibility: bool = False
    note: Note | None = None


class AutoRoute(Struct):
    expected_version: Version


MAX_LEADS_PER_ROUTING = 500


class LeadToRoute(Struct):
    id: uuid.UUID
    expected_version: Version


class AutoRouteMany(Struct):
    """Route these leads by the rules, each with its own decision; all or none (one 4xx names the lead)."""

    leads: Annotated[list[LeadToRoute], Meta(min_length=1, max_length=MAX_LEADS_PER_ROUTING)]


class RoutedLead(ReadStruct):
    """Where one lead went (its decision in full: GET /distribution/decisions/{decision_id})."""

    lead_id: uuid.UUID
    lead_version: int
    decision_id: uuid.UUID
    outcome: RoutingOutcome
    rule_id: uuid.UUID | None
    partner_id: uuid.UUID | None
    user_id: uuid.UUID | None
    group_id: uuid.UUID | None
    explanation: str


class RoutedLeads(ReadStruct):
    items: list[RoutedLead]


class MergeRequest(Struct):
    expected_version: Version
    duplicate_id: uuid.UUID
    duplicate_version: Version


class ConvertRequest(Struct):
    expected_version: Version
    opportunity_name: Name | None = None
    amount_minor: MinorUnits | None = None
    currency: Currency | None = None
    close_date: date | None = None
    account_id: uuid.UUID | None = None


class ConversionRead(ReadStruct):
    lead_id: uuid.UUID
    account_id: uuid.UUID
    contact_id: uuid.UUID
    opportunity_id: uuid.UUID
    account_reused: bool
    contact_reused: bool


# Decisions -----------------------------------------------------------------------------------


class DecisionRead(ReadStruct):
    id: uuid.UUID
    lead_id: uuid.UUID
    decided_at: datetime
    mode: RoutingMode
    actor_id: uuid.UUID | None
    rule_id: uuid.UUID | None
    target_kind: TargetKind | None
    outcome: RoutingOutcome
    partner_id: uuid.UUID | None
    user_id: uuid.UUID | None
    group_id: uuid.UUID | None
    program_id: uuid.UUID | None
    seed: int | None
    candidates: list[Any]
    excluded: list[Any]
    rules: list[Any]
    override: bool
    explanation: str


class ReplayRead(ReadStruct):
    decision_id: uuid.UUID
    seed: int | None
    weights: list[int]
    picked_partner_id: uuid.UUID | None
    replayed_partner_id: uuid.UUID | None
    matches: bool


# Offers --------------------------------------------------------------------------------------


class OfferLead(ReadStruct):
    """What a partner sees of an offered lead before accepting it."""

    company: str
    need: str | None
    product_id: uuid.UUID | None
    time_frame: TimeFrame | None
    country: str | None
    region: str | None
    size_band: SizeBand | None
    band: Band


class OfferContact(ReadStruct):
    """Revealed to the partner once it has accepted (or claimed) the lead."""

    first_name: str
    last_name: str
    email: str | None
    phone: str | None
    title: str | None


class OfferRead(ReadStruct):
    id: uuid.UUID
    lead_id: uuid.UUID
    kind: OfferKind
    status: OfferStatus
    partner_id: uuid.UUID | None
    user_id: uuid.UUID | None
    group_id: uuid.UUID | None
    offered_at: datetime
    respond_by: datetime
    seconds_left: int
    responded_at: datetime | None
    decline_reason: DeclineReason | None
    decline_note: str | None
    version: int
    lead: OfferLead
    contact: OfferContact | None = None
    program_id: uuid.UUID | None = None  # the lead program it came through, if any
    allowed_actions: list[str] = msgspec.field(default_factory=list)  # accept, decline, claim, convert


class Decline(Struct):
    reason: DeclineReason
    note: Note | None = None


# Imports -------------------------------------------------------------------------------------


class ImportMode(StrEnum):
    ALL_OR_NOTHING = "all_or_nothing"
    SKIP_BAD_ROWS = "skip_bad_rows"


class RowError(ReadStruct):
    line: int
    field: str
    message: str


class DuplicateRow(ReadStruct):
    """A row kept but flagged: it duplicates an earlier line of the same file or a lead already held."""

    line: int
    matched_on: list[str]
    duplicate_of_line: int | None = None
    duplicate_of_lead_id: uuid.UUID | None = None


class ImportReport(ReadStruct):
    import_id: uuid.UUID
    filename: str
    mode: ImportMode
    rows: int
    created: int
    skipped: int
    duplicates_flagged: int
    errors: list[RowError]
    errors_total: int
    ignored_columns: list[str]
    duplicates: list[DuplicateRow] = []


# Web forms -----------------------------------------------------------------------------------


class WebFormCreate(Struct):
    name: Name
    campaign_id: uuid.UUID
    program_id: uuid.UUID | None = None
    thank_you_url: Url | None = None
    auto_response_subject: Name = "Thank you for your interest"
    auto_response_text: Annotated[str, Meta(min_length=1, max_length=4000)] = (
        "Thank you for getting in touch. One of our partners or our own team will contact you shortly."
    )


class WebFormUpdate(Struct):
    expected_version: Version
    name: Name | UnsetType = UNSET
    active: bool | UnsetType = UNSET
    auto_response_subject: Name | UnsetType = UNSET
    auto_response_text: Annotated[str, Meta(min_length=1, max_length=4000)] | UnsetType = UNSET
    program_id: uuid.UUID | UnsetType | None = UNSET
    thank_you_url: Url | UnsetType | None = UNSET


class WebFormRead(ReadStruct):
    id: uuid.UUID
    key: str
    name: str
    campaign_id: uuid.UUID
    program_id: uuid.UUID | None
    thank_you_url: str | None
    active: bool
    auto_response_subject: str
    auto_response_text: str
    version: int
    created_at: datetime


class WebLeadSubmission(msgspec.Struct, kw_only=True):
    """A public form post. `homepage` is the honeypot: hidden from people, filled in by bots.
    Other fields a web page sends (a submit button's name) are ignored."""

    first_name: ShortText
    last_name: ShortText
    email: Email
    company: Name
    phone: Phone | None = None
    title: Name | None = None
    country: Country | None = None
    message: LongText | None = None
    homepage: Annotated[str, Meta(max_length=500)] | None = None

    def __post_init__(self) -> None:
        normalize_countries(self)


class WebLeadReceived(ReadStruct):
    received: bool = True


# Referrals -----------------------------------------------------------------------------------


class ReferralProgramCreate(Struct):
    name: Name
    terms: Annotated[str, Meta(min_length=1, max_length=20_000)]
    currency: Currency
    fee_minor: MinorUnits | None = None
    fee_bps: Annotated[int, Meta(ge=1, le=10_000)] | None = None


class ReferralProgramUpdate(Struct):
    expected_version: Version
    name: Name | UnsetType = UNSET
    terms: Annotated[str, Meta(min_length=1, max_length=20_000)] | UnsetType = UNSET
    active: bool | UnsetType = UNSET


class ReferralProgramRead(ReadStruct):
    id: uuid.UUID
    name: str
    terms: str
    fee_minor: int | None
    fee_bps: int | None
    currency: str
    active: bool
    version: int
    created_at: datetime


class Invitation(Struct):
    partner_id: uuid.UUID
    note: Note | None = None


class Application(Struct):
    note: Note | None = None


class MembershipDecision(Struct):
    expected_version: Version
    approve: bool
    note: Note | None = None


class MembershipRead(ReadStruct):
    id: uuid.UUID
    program_id: uuid.UUID
    partner_id: uuid.UUID
    status: MembershipStatus
    note: str | None
    decided_at: datetime | None
    version: int
    created_at: datetime


class ReferralCreate(Struct):
    program_id: uuid.UUID
    first_name: ShortText
    last_name: ShortText
    company: Name
    email: Email | None = None
    phone: Phone | None = None
    title: Name | None = None
    country: Country | None = None
    region: ShortText | None = None
    employees: Employees | None = None
    current_situation: LeadNotes | None = None
    product_id: uuid.UUID | None = None
    time_frame: TimeFrame | None = None
    budget_minor: MinorUnits | None = None
    currency: Currency | None = None


class ReferralDecision(Struct):
    expected_version: Version
    accept: bool
    note: Note | None = None


class ReferralRead(ReadStruct):
    id: uuid.UUID
    program_id: uuid.UUID
    partner_id: uuid.UUID
    lead_id: uuid.UUID
    status: ReferralStatus
    decided_at: datetime | None
    decision_note: str | None
    opportunity_id: uuid.UUID | None
    won_at: datetime | None
    fee_minor: int | None
    credit_id: uuid.UUID | None
    version: int
    created_at: datetime
    company: str = ""
