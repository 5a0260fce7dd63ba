"""Deal registration tables: programs, registrations, their products, conflicts, extensions, proof."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, ForeignKey, Index, LargeBinary, String, Text, literal, text
from sqlalchemy.orm import Mapped, mapped_column

from prm.core.db import Base, IdMixin, TimestampMixin, VersionMixin, enum_column

DEFAULT_REVIEW_HOURS = 48
DEFAULT_PROTECTION_DAYS = 90
DEFAULT_REMINDER_DAYS = 14


class DealProgram(IdMixin, TimestampMixin, VersionMixin, Base):
    __tablename__ = "deal_programs"

    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(default=True)
    # Benefit: additional margin, in basis points of the won amount (250 = 2.5 %).
    margin_bps: Mapped[int]
    benefits: Mapped[str] = mapped_column(Text, default="")
    # Requirements
    required_fields: Mapped[list[str]]
    eligible_tiers: Mapped[list[str]]
    min_deal_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3))
    review_hours: Mapped[int] = mapped_column(default=DEFAULT_REVIEW_HOURS)
    protection_days: Mapped[int] = mapped_column(default=DEFAULT_PROTECTION_DAYS)
    reminder_days: Mapped[int] = mapped_column(default=DEFAULT_REMINDER_DAYS)
    extension_days: Mapped[int] = mapped_column(default=30)
    max_extensions: Mapped[int] = mapped_column(default=1)
    max_resubmissions: Mapped[int] = mapped_column(default=2)
    # How the program decides by itself (see service/rules.py); {} decides nothing automatically.
    approval_rules: Mapped[dict[str, Any]] = mapped_column(default=dict)


class RegistrationState(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    WON = "won"
    LOST = "lost"
    CANCELLED = "cancelled"


LIVE_STATES = (RegistrationState.SUBMITTED, RegistrationState.APPROVED)


class RejectionReason(StrEnum):
    DUPLICATE = "duplicate"
    INCOMPLETE = "incomplete"
    NOT_ELIGIBLE = "not_eligible"
    EXISTING_DIRECT_OPPORTUNITY = "existing_direct_opportunity"
    CUSTOMER_NOT_QUALIFIED = "customer_not_qualified"
    OTHER = "other"


class ProofStatus(StrEnum):
    NONE = "none"
    SUBMITTED = "submitted"
    VERIFIED = "verified"
    REJECTED = "rejected"


SCORECARD_FIGURES = [
    "state",
    "program_id",
    "currency",
    "submitted_at",
    "approved_at",
    "decided_at",
    "expired_at",
    "closed_at",
    "review_due_at",
    "won_amount_minor",
]


def only_while(state: str, *also: str) -> dict[str, Any]:
    """A partial index over the registrations in `state` (and `also`), SQLite and PostgreSQL alike."""
    where = text(" AND ".join([f"state = '{state}'", *also]))
    return {"postgresql_where": where, "sqlite_where": where}


class DealRegistration(IdMixin, TimestampMixin, VersionMixin, Base):
    __tablename__ = "deal_registrations"
    __table_args__ = (
        Index("ix_deal_registrations_customer", "customer_normalized", "state"),
        Index("ix_deal_registrations_domain", "customer_domain", "state"),
        # The clocks' indexes hold only the rows their timer (or the review queue) reads: a row
        # leaving that state drops out of them instead of adding an entry to each.
        Index("ix_deal_registrations_review", "review_due_at", **only_while("submitted")),
        Index("ix_deal_registrations_expiry", "expires_at", **only_while("approved")),
        # Reminders: the approved rows not reminded yet, by expiry, so the timer starts past the
        # ones already expired and reads the soonest-expiring first (a reminded row drops out).
        Index("ix_deal_registrations_unreminded", "expires_at", **only_while("approved", "reminder_sent_at IS NULL")),
        Index("ix_deal_registrations_partner", "partner_id", "created_at"),
        # Scorecards: registrations by state (deal status), per partner.
        Index("ix_deal_registrations_state_partner", "state", "partner_id"),
        # A partner's scorecard reads its registrations from this index alone (PostgreSQL).
        Index("ix_deal_registrations_partner_scorecard", "partner_id", postgresql_include=SCORECARD_FIGURES),
        # The scorecard triggers find an opportunity's registrations (and their programs) here.
        Index(
            "ix_deal_registrations_opportunity",
            "opportunity_id",
            "program_id",
            postgresql_where=text("opportunity_id IS NOT NULL"),
            sqlite_where=text("opportunity_id IS NOT NULL"),
        ),
    )

    number: Mapped[str] = mapped_column(String(20), unique=True)
    program_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("deal_programs.id"))
    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partners.id"))
    submitted_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    state: Mapped[RegistrationState] = enum_column(RegistrationState)
    # The customer and the deal
    customer_name: Mapped[str] = mapped_column(String(200))
    customer_normalized: Mapped[str] = mapped_column(String(200))
    customer_domain: Mapped[str | None] = mapped_column(String(253))
    customer_website: Mapped[str | None] = mapped_column(String(500))
    customer_country: Mapped[str | None] = mapped_column(String(2))
    contact_name: Mapped[str | None] = mapped_column(String(200))
    contact_email: Mapped[str | None] = mapped_column(String(320))
    contact_phone: Mapped[str | None] = mapped_column(String(50))
    contact_title: Mapped[str | None] = mapped_column(String(200))
    estimated_amount_minor: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    current_situation: Mapped[str | None] = mapped_column(Text)
    expected_close_date: Mapped[date | None]
    # Clocks
    submitted_at: Mapped[datetime | None]
    review_due_at: Mapped[datetime | None]
    overdue_at: Mapped[datetime | None]
    decided_at: Mapped[datetime | None]
    decided_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    approved_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    remind_at: Mapped[datetime | None]
    reminder_sent_at: Mapped[datetime | None]
    expired_at: Mapped[datetime | None]
    extensions_used: Mapped[int] = mapped_column(default=0)
    # The program's protection terms as they stood at approval: later program edits do not move them.
    approved_terms: Mapped[dict[str, Any] | None]
    # Decisions
    # The rule that decided automatically (auto_approve, auto_reject_...); None for a person's decision.
    decided_by_rule: Mapped[str | None] = mapped_column(String(40))
    # The first of two approvals, for a registration above the program's second-approval amount.
    first_approved_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    first_approved_at: Mapped[datetime | None]
    rejection_reason: Mapped[RejectionReason | None] = enum_column(RejectionReason, nullable=True)
    decision_note: Mapped[str | None] = mapped_column(Text)
    duplicate_of_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("deal_registrations.id"))
    # The first registration of a resubmission chain, and how many resubmissions precede this one.
    original_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("deal_registrations.id"), index=True)
    resubmission_of_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("deal_registrations.id"))
    resubmission_number: Mapped[int] = mapped_column(default=0)
    opportunity_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("opportunities.id"))
    # Close
    closed_at: Mapped[datetime | None]
    lost_reason: Mapped[str | None] = mapped_column(Text)
    won_amount_minor: Mapped[int | None] = mapped_column(BigInteger)
    proof_status: Mapped[ProofStatus] = enum_column(ProofStatus, default=ProofStatus.NONE)
    invoice_number: Mapped[str | None] = mapped_column(String(100))
    purchase_order_number: Mapped[str | None] = mapped_column(String(100))
    proof_amount_minor: Mapped[int | None] = mapped_column(BigInteger)
    proof_date: Mapped[date | None]
    proof_document_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("deal_documents.id"))
    proof_note: Mapped[str | None] = mapped_column(Text)


class RegistrationProduct(Base):
    __tablename__ = "deal_registration_products"
    __table_args__ = (Index("ix_deal_registration_products_product", "product_id", "registration_id"),)

    registration_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("deal_registrations.id", ondelete="CASCADE"), primary_key=True
    )
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id"), primary_key=True)
    quantity: Mapped[int]


class ConflictKind(StrEnum):
    REGISTRATION = "registration"
    OPPORTUNITY = "opportunity"
    DIRECT_OPPORTUNITY = "direct_opportunity"


class OverrideReason(StrEnum):
    """Why a channel manager approved a second partner while another holds protection (a fixed list)."""

    CO_SELL = "co_sell"
    DIFFERENT_SCOPE = "different_scope"
    CUSTOMER_REQUEST = "customer_request"
    HOLDER_INACTIVE = "holder_inactive"


class ProtectionOverride(IdMixin, Base):
    """A registration approved although another partner's registration held protection for the
    same customer: kept so both registrations show it, with who decided and why."""

    __tablename__ = "deal_protection_overrides"

    registration_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("deal_registrations.id", ondelete="CASCADE"), index=True
    )
    holder_registration_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("deal_registrations.id", ondelete="CASCADE"), index=True
    )
    reason: Mapped[OverrideReason] = enum_column(OverrideReason)
    note: Mapped[str | None] = mapped_column(Text)
    decided_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime]


class ExtensionStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class ExtensionRequest(IdMixin, TimestampMixin, VersionMixin, Base):
    __tablename__ = "deal_extension_requests"

    registration_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("deal_registrations.id", ondelete="CASCADE"), index=True
    )
    requested_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[ExtensionStatus] = enum_column(ExtensionStatus, default=ExtensionStatus.PENDING)
    decided_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    decision_note: Mapped[str | None] = mapped_column(Text)
    new_expires_at: Mapped[datetime | None]


class DealDocument(IdMixin, Base):
    """An uploaded proof-of-performance file, kept in the database with its checked type."""

    __tablename__ = "deal_documents"

    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partners.id"), index=True)
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    uploaded_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[datetime]


def in_state(state: RegistrationState) -> ColumnElement[bool]:
    """`state = '<state>'` with the state written into the SQL: a query reading a partial index
    (`only_while`) must say which state it wants, which a bound parameter would not tell the
    planner once the statement is prepared."""
    return DealRegistration.state == literal(state.value, literal_execute=True)


def registration_snapshot(registration: DealRegistration) -> dict[str, Any]:
    """What a webhook consumer needs to know about a registration after a transition."""
    return {
        "id": str(registration.id),
        "number": registration.number,
        "state": registration.state.value,
        "partner_id": str(registration.partner_id),
        "program_id": str(registration.program_id),
        "customer_name": registration.customer_name,
        "estimated_amount_minor": registration.estimated_amount_minor,
        "currency": registration.currency,
        "expires_at": registration.expires_at.isoformat() if registration.expires_at else None,
    }
