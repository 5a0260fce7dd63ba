"""Lead distribution tables: scoring, programs and eligibility, routing rules and decisions,
offers (with their response clocks), shark-tank groups, web forms, imports and referrals.

The lead itself is the CRM's `leads` row; everything here references it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from prm.core.db import Base, IdMixin, TimestampMixin, VersionMixin, enum_column

DEFAULT_RESPONSE_HOURS = 48
DEFAULT_HOT_RESPONSE_HOURS = 4
DEFAULT_CLAIM_WINDOW_HOURS = 24
DEFAULT_MAX_OPEN_LEADS = 25


# Scoring -------------------------------------------------------------------------------------


class ScoreAttribute(StrEnum):
    TIME_FRAME = "time_frame"
    BUDGET_MINOR = "budget_minor"
    EMPLOYEES = "employees"
    PRODUCT_ID = "product_id"
    CURRENT_SITUATION = "current_situation"
    SOURCE = "source"
    COUNTRY = "country"
    TITLE = "title"
    EMAIL = "email"
    PHONE = "phone"


class ScoreOperator(StrEnum):
    PRESENT = "present"  # the attribute has a value
    ONE_OF = "one_of"  # its value is in `values`
    AT_LEAST = "at_least"  # a number >= values[0]
    CONTAINS = "contains"  # text containing any of `values` (case-insensitive)


class ScoringCriterion(IdMixin, TimestampMixin, VersionMixin, Base):
    """One configurable scoring criterion: `points` when the lead's attribute meets it."""

    __tablename__ = "lead_scoring_criteria"

    name: Mapped[str] = mapped_column(String(200))
    attribute: Mapped[ScoreAttribute] = enum_column(ScoreAttribute)
    operator: Mapped[ScoreOperator] = enum_column(ScoreOperator)
    values: Mapped[list[Any]]
    points: Mapped[int]
    active: Mapped[bool] = mapped_column(default=True)


# Programs, eligibility, groups ---------------------------------------------------------------


class LeadProgram(IdMixin, TimestampMixin, VersionMixin, Base):
    """Which partners may receive leads, on what terms (tiers, response times, capacity)."""

    __tablename__ = "lead_programs"

    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(default=True)
    eligible_tiers: Mapped[list[str]]
    response_hours: Mapped[int] = mapped_column(default=DEFAULT_RESPONSE_HOURS)
    hot_response_hours: Mapped[int] = mapped_column(default=DEFAULT_HOT_RESPONSE_HOURS)
    claim_window_hours: Mapped[int] = mapped_column(default=DEFAULT_CLAIM_WINDOW_HOURS)
    max_open_leads: Mapped[int] = mapped_column(default=DEFAULT_MAX_OPEN_LEADS)
    # Partners with enough history and a lower acceptance rate stop receiving routed leads.
    min_acceptance_pct: Mapped[int | None]
    # Score bands whose web leads are sales-qualified and routed at once, without a human.
    auto_qualify_bands: Mapped[list[str]] = mapped_column(default=list, server_default="[]")


class ProgramMember(Base):
    __tablename__ = "lead_program_members"

    program_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("lead_programs.id", ondelete="CASCADE"), primary_key=True)
    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partners.id"), primary_key=True, index=True)
    weight: Mapped[int] = mapped_column(default=100)
    max_open_leads: Mapped[int | None]
    # Country codes or region names the partner covers; empty: everywhere.
    territories: Mapped[list[str]]
    joined_at: Mapped[datetime]


class CertifiedProduct(Base):
    """The products a partner is certified to sell (eligibility for leads interested in them)."""

    __tablename__ = "partner_products"

    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partners.id"), primary_key=True)
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id"), primary_key=True, index=True)
    certified_at: Mapped[datetime]


class PartnerGroup(IdMixin, TimestampMixin, VersionMixin, Base):
    """A shark tank: a lead offered to the group goes to the first eligible member that claims it."""

    __tablename__ = "partner_groups"

    name: Mapped[str] = mapped_column(String(200), unique=True)
    program_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("lead_programs.id"))
    claim_window_hours: Mapped[int | None]
    # How many claimed leads from this group one partner may hold open at once.
    max_open_claims_per_partner: Mapped[int] = mapped_column(default=3)
    active: Mapped[bool] = mapped_column(default=True)


class GroupMember(Base):
    __tablename__ = "partner_group_members"

    group_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partner_groups.id", ondelete="CASCADE"), primary_key=True)
    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partners.id"), primary_key=True, index=True)
    added_at: Mapped[datetime]


# Routing -------------------------------------------------------------------------------------


class TargetKind(StrEnum):
    PARTNER_USER = "partner_user"  # a specific partner rep
    PARTNER = "partner"  # a specific partner organisation
    PROGRAM_POOL = "program_pool"  # a weighted, seeded pick among a program's eligible partners
    NEAREST_PARTNERS = "nearest_partners"  # the same pick, among the program's partners nearest the lead
    SHARK_TANK = "shark_tank"  # a partner group: first eligible claim wins
    INTERNAL_REP = "internal_rep"  # a vendor user: the lead is sold direct


class RoutingRule(IdMixin, TimestampMixin, VersionMixin, Base):
    """Conditions (each list empty = any) -> a target. Rules are tried in `position` order."""

    __tablename__ = "routing_rules"

    name: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(index=True)
    active: Mapped[bool] = mapped_column(default=True)
    countries: Mapped[list[str]]
    regions: Mapped[list[str]]
    size_bands: Mapped[list[str]]
    product_ids: Mapped[list[str]]
    score_bands: Mapped[list[str]]
    sources: Mapped[list[str]]
    target_kind: Mapped[TargetKind] = enum_column(TargetKind)
    target_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    target_partner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("partners.id"))
    target_group_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("partner_groups.id"))
    program_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("lead_programs.id"))


class RoutingMode(StrEnum):
    MANUAL = "manual"
    RULES = "rules"
    RECALL = "recall"  # re-routing after a decline, an unanswered offer


class RoutingOutcome(StrEnum):
    OFFERED = "offered"
    OFFERED_TO_GROUP = "offered_to_group"
    ASSIGNED_INTERNAL = "assigned_internal"
    RETURNED_TO_QUEUE = "returned_to_queue"


class RoutingDecision(IdMixin, Base):
    """Why a lead went where it went: everything needed to replay the pick.

    `candidates` lists the eligible partners in pick order with their weights; `seed` drove the
    pick; `excluded` says why each other partner was not eligible; `rules` what each rule said.
    """

    __tablename__ = "routing_decisions"
    __table_args__ = (Index("ix_routing_decisions_lead", "lead_id", "decided_at"),)

    lead_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("leads.id"))
    decided_at: Mapped[datetime]
    mode: Mapped[RoutingMode] = enum_column(RoutingMode)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    rule_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("routing_rules.id"))
    target_kind: Mapped[TargetKind | None] = enum_column(TargetKind, nullable=True)
    outcome: Mapped[RoutingOutcome] = enum_column(RoutingOutcome)
    partner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("partners.id"), index=True)
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    group_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("partner_groups.id"))
    program_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("lead_programs.id"))
    seed: Mapped[int | None] = mapped_column(BigInteger)
    candidates: Mapped[list[Any]]
    excluded: Mapped[list[Any]]
    rules: Mapped[list[Any]]
    override: Mapped[bool] = mapped_column(default=False)
    explanation: Mapped[str] = mapped_column(Text)


class OfferKind(StrEnum):
    DIRECT = "direct"
    SHARK_TANK = "shark_tank"


class OfferStatus(StrEnum):
    OPEN = "open"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"  # nobody answered within the response time
    LAPSED = "lapsed"  # a shark-tank offer nobody claimed within the window
    WITHDRAWN = "withdrawn"  # the channel manager routed it elsewhere or disqualified it
    CONVERTED = "converted"


HOLDING = (OfferStatus.OPEN, OfferStatus.ACCEPTED)  # what counts against a partner's capacity


class DeclineReason(StrEnum):
    """A fixed list, after Microsoft Partner Center's referral decline reasons."""

    NO_CAPACITY = "no_capacity"
    NOT_A_FIT = "not_a_fit"
    OUTSIDE_TERRITORY = "outside_territory"
    INSUFFICIENT_INFORMATION = "insufficient_information"
    DUPLICATE = "duplicate"
    CUSTOMER_NOT_INTERESTED = "customer_not_interested"
    EXISTING_ENGAGEMENT = "existing_engagement"
    OTHER = "other"


class LeadOffer(IdMixin, TimestampMixin, VersionMixin, Base):
    """A lead offered to one partner (or rep), or to a shark-tank group, until `respond_by`."""

    __tablename__ = "lead_offers"
    __table_args__ = (
        Index("ix_lead_offers_due", "status", "respond_by"),
        Index("ix_lead_offers_partner", "partner_id", "status"),
        Index("ix_lead_offers_lead", "lead_id", "status"),
        # Scorecards: a partner's offers, and each program's offers, within a period.
        Index("ix_lead_offers_partner_offered", "partner_id", "offered_at"),
        Index("ix_lead_offers_program_offered", "program_id", "offered_at"),
    )

    lead_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("leads.id"))
    decision_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("routing_decisions.id"))
    kind: Mapped[OfferKind] = enum_column(OfferKind)
    status: Mapped[OfferStatus] = enum_column(OfferStatus)
    # The partner it is offered to (a shark-tank offer: the one that claimed it, once claimed).
    partner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("partners.id"))
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    group_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("partner_groups.id"))
    program_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("lead_programs.id"))
    offered_at: Mapped[datetime]
    respond_by: Mapped[datetime]
    responded_at: Mapped[datetime | None]
    responded_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    response_seconds: Mapped[int | None]
    decline_reason: Mapped[DeclineReason | None] = enum_column(DeclineReason, nullable=True)
    decline_note: Mapped[str | None] = mapped_column(Text)


class PartnerLoad(Base):
    """How many leads a partner holds now (its open offers plus accepted, unconverted leads: the
    HOLDING offers), what its capacity cap is checked against. The offer store keeps it with every
    offer it makes or moves, so routing reads one row per partner instead of counting offers."""

    __tablename__ = "lead_partner_loads"

    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partners.id"), primary_key=True)
    holding: Mapped[int] = mapped_column(default=0)


class OfferCandidate(Base):
    """The group members that were eligible when a shark-tank offer was made: who may see and claim it."""

    __tablename__ = "lead_offer_candidates"

    offer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("lead_offers.id", ondelete="CASCADE"), primary_key=True)
    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partners.id"), primary_key=True, index=True)


class DuplicateFlag(Base):
    """A possible duplicate found on intake, until a channel manager merges (or dismisses) it."""

    __tablename__ = "lead_duplicate_flags"

    lead_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), primary_key=True)
    other_lead_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), primary_key=True)
    matched_on: Mapped[list[str]]
    detected_at: Mapped[datetime]


# Intake --------------------------------------------------------------------------------------


class WebForm(IdMixin, TimestampMixin, VersionMixin, Base):
    """A public web-to-lead form: its key goes into the vendor's web page; leads join the campaign."""

    __tablename__ = "web_forms"

    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    campaign_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("campaigns.id"), index=True)
    active: Mapped[bool] = mapped_column(default=True)
    auto_response_subject: Mapped[str] = mapped_column(String(200))
    auto_response_text: Mapped[str] = mapped_column(Text)
    # The program whose auto-qualification applies to this form's leads (None: a human qualifies).
    program_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("lead_programs.id"), index=True)
    # Where a browser goes after posting (None: the app's own thank-you page).
    thank_you_url: Mapped[str | None] = mapped_column(String(500))


class LeadImport(IdMixin, Base):
    """One CSV import and its per-row report (the first errors), for the import page."""

    __tablename__ = "lead_imports"

    filename: Mapped[str] = mapped_column(String(200))
    mode: Mapped[str] = mapped_column(String(20))
    imported_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    imported_at: Mapped[datetime] = mapped_column(index=True)
    rows: Mapped[int]
    created: Mapped[int]
    skipped: Mapped[int]
    duplicates_flagged: Mapped[int]
    errors: Mapped[list[Any]]
    errors_total: Mapped[int]
    ignored_columns: Mapped[list[str]]
    # The first duplicates found: each row's line and the line or held lead it duplicates.
    duplicates: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")


# Referrals -----------------------------------------------------------------------------------


class ReferralProgram(IdMixin, TimestampMixin, VersionMixin, Base):
    """The vendor pays referral partners a fee (fixed, or a share of the won amount) for won leads."""

    __tablename__ = "referral_programs"

    name: Mapped[str] = mapped_column(String(200), unique=True)
    terms: Mapped[str] = mapped_column(Text)
    fee_minor: Mapped[int | None] = mapped_column(BigInteger)
    fee_bps: Mapped[int | None]
    currency: Mapped[str] = mapped_column(String(3))
    active: Mapped[bool] = mapped_column(default=True)


class MembershipStatus(StrEnum):
    APPLIED = "applied"
    INVITED = "invited"
    APPROVED = "approved"
    REJECTED = "rejected"
    DECLINED = "declined"  # the partner turned the invitation down


class ReferralMembership(IdMixin, TimestampMixin, VersionMixin, Base):
    __tablename__ = "referral_partners"
    __table_args__ = (UniqueConstraint("program_id", "partner_id"),)

    program_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("referral_programs.id"), index=True)
    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partners.id"), index=True)
    status: Mapped[MembershipStatus] = enum_column(MembershipStatus)
    note: Mapped[str | None] = mapped_column(Text)
    decided_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]


class ReferralStatus(StrEnum):
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    WON = "won"


class Referral(IdMixin, TimestampMixin, VersionMixin, Base):
    __tablename__ = "referrals"
    __table_args__ = (Index("ix_referrals_payable", "status", "opportunity_id"),)

    program_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("referral_programs.id"), index=True)
    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partners.id"), index=True)
    submitted_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    lead_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("leads.id"), unique=True)
    status: Mapped[ReferralStatus] = enum_column(ReferralStatus)
    decided_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    decision_note: Mapped[str | None] = mapped_column(Text)
    opportunity_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("opportunities.id"))
    won_at: Mapped[datetime | None]
    fee_minor: Mapped[int | None] = mapped_column(BigInteger)
    credit_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("credits.id"))
