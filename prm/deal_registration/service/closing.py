"""Closing a registration: lost with a reason, or won with proof of performance that earns credit."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.auth import Principal
from prm.core.changes import expect_version
from prm.core.errors import Conflict, Forbidden, NotFound, RuleViolation
from prm.credits.service import record_credit
from prm.crm.services.deal_protection import close_opportunity
from prm.deal_registration.models import (
    DealDocument,
    DealRegistration,
    ProofStatus,
    RegistrationState,
)
from prm.deal_registration.repository import RegistrationRepository, manager_may_review
from prm.deal_registration.schemas import CloseLost, ProofDecision
from prm.deal_registration.service import notify
from prm.deal_registration.service.programs import program_of, terms_of
from prm.deal_registration.service.state import ENTITY, ensure_state, record_event, transition

MAX_DOCUMENT_BYTES = 5 * 1024 * 1024
# Accepted proof documents, recognised by their first bytes, never by name or declared type.
SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
)


@dataclass(frozen=True)
class Proof:
    invoice_number: str | None
    purchase_order_number: str | None
    amount_minor: int
    proof_date: date
    filename: str
    content: bytes


def detect_type(content: bytes) -> str | None:
    return next((kind for magic, kind in SIGNATURES if content.startswith(magic)), None)


def _safe_name(filename: str) -> str:
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(c for c in base if c.isalnum() or c in "._- ").strip(" .")
    return cleaned[:120] or "document"


def margin_credit(amount_minor: int, margin_bps: int) -> int:
    """amount x bps / 10 000, rounded half-even to the minor unit: exact, no floats."""
    value = Decimal(amount_minor) * Decimal(margin_bps) / Decimal(10_000)
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def _validate(proof: Proof) -> str:
    if not (proof.invoice_number or proof.purchase_order_number):
        raise RuleViolation("Give the invoice or the purchase-order number.", field="invoice_number")
    if proof.amount_minor <= 0:
        raise RuleViolation("The won amount must be positive.", field="amount_minor")
    if not proof.content:
        raise RuleViolation("Attach the proof document.", field="document")
    if len(proof.content) > MAX_DOCUMENT_BYTES:
        raise RuleViolation(f"The document is larger than {MAX_DOCUMENT_BYTES // (1024 * 1024)} MiB.", field="document")
    content_type = detect_type(proof.content)
    if content_type is None:
        raise RuleViolation("The document must be a PDF, PNG or JPEG file.", field="document")
    return content_type


async def close_won(
    session: AsyncSession,
    *,
    principal: Principal,
    registration_id: uuid.UUID,
    expected_version: int,
    proof: Proof,
) -> DealRegistration:
    if not principal.is_partner:
        raise Forbidden("The partner closes its registration.")
    registration = await RegistrationRepository(session, principal).get(registration_id)
    expect_version(registration, expected_version)
    content_type = _validate(proof)
    if registration.state is RegistrationState.APPROVED:
        await transition(session, registration, "close_won", actor=principal, expected_version=None)
        registration.closed_at = session.info["clock"].now()
    else:
        # A rejected proof may be replaced; anything else is a state conflict.
        ensure_state(registration, "submit proof for", frozenset({RegistrationState.WON}))
        if registration.proof_status is not ProofStatus.REJECTED:
            raise Conflict(f"The proof is {registration.proof_status.value}.", current_state="won")
        await record_event(session, registration, "proof_resubmitted", actor=principal)
    await _attach_proof(session, registration, principal, proof, content_type)
    if registration.opportunity_id:
        await close_opportunity(
            session,
            actor=principal,
            opportunity_id=registration.opportunity_id,
            won=True,
            amount_minor=proof.amount_minor,
        )
    return registration


async def _attach_proof(
    session: AsyncSession, registration: DealRegistration, principal: Principal, proof: Proof, content_type: str
) -> None:
    document = DealDocument(
        partner_id=registration.partner_id,
        filename=_safe_name(proof.filename),
        content_type=content_type,
        size=len(proof.content),
        sha256=hashlib.sha256(proof.content).hexdigest(),
        content=proof.content,
        uploaded_by_id=principal.user_id,
        uploaded_at=session.info["clock"].now(),
    )
    session.add(document)
    await session.flush()
    registration.proof_document_id = document.id
    registration.invoice_number = proof.invoice_number
    registration.purchase_order_number = proof.purchase_order_number
    registration.proof_amount_minor = proof.amount_minor
    registration.won_amount_minor = proof.amount_minor
    registration.proof_date = proof.proof_date
    registration.proof_status = ProofStatus.SUBMITTED
    registration.proof_note = None
    await session.flush()


async def close_lost(
    session: AsyncSession, *, principal: Principal, registration_id: uuid.UUID, data: CloseLost
) -> DealRegistration:
    if not principal.is_partner:
        raise Forbidden("The partner closes its registration.")
    registration = await RegistrationRepository(session, principal).get(registration_id)
    await transition(
        session, registration, "close_lost", actor=principal, expected_version=data.expected_version, reason=data.reason
    )
    registration.closed_at = session.info["clock"].now()
    registration.lost_reason = data.reason
    if registration.opportunity_id:
        await close_opportunity(
            session, actor=principal, opportunity_id=registration.opportunity_id, won=False, amount_minor=None
        )
    return registration


async def decide_proof(
    session: AsyncSession, *, principal: Principal, registration_id: uuid.UUID, data: ProofDecision
) -> DealRegistration:
    if not manager_may_review(principal):
        raise Forbidden("Channel managers and vendor admins verify proof of performance.")
    registration = await RegistrationRepository(session, principal).get(registration_id)
    expect_version(registration, data.expected_version)
    if registration.proof_status is not ProofStatus.SUBMITTED:
        raise Conflict(
            f"There is no proof waiting for a decision (it is {registration.proof_status.value}).",
            current_state=registration.state.value,
        )
    registration.proof_status = ProofStatus.VERIFIED if data.approve else ProofStatus.REJECTED
    registration.proof_note = data.note
    await session.flush()
    credit = None
    if data.approve:
        credit = await _credit_for(session, registration)
    await record_event(
        session, registration, f"proof_{registration.proof_status.value}", actor=principal, reason=data.note
    )
    await notify.proof_decided(session, registration, credit)
    return registration


async def _credit_for(session: AsyncSession, registration: DealRegistration) -> int:
    # The margin the registration was approved under, whatever the program says today.
    margin_bps: int = terms_of(registration, await program_of(session, registration))["margin_bps"]
    if registration.won_amount_minor is None:
        raise Conflict("won_amount_minor is not set.")
    amount = margin_credit(registration.won_amount_minor, margin_bps)
    await record_credit(
        session,
        partner_id=registration.partner_id,
        source_type=ENTITY,
        source_id=registration.id,
        description=f"Margin credit for {registration.number} ({margin_bps} bps of the won amount)",
        basis_minor=registration.won_amount_minor,
        rate_bps=margin_bps,
        amount_minor=amount,
        currency=registration.currency,
    )
    return amount


async def proof_document(session: AsyncSession, *, principal: Principal, registration_id: uuid.UUID) -> DealDocument:
    repo = RegistrationRepository(session, principal)
    registration = await repo.get(registration_id)
    document = await repo.document(registration.proof_document_id) if registration.proof_document_id else None
    if document is None:
        raise NotFound(f"Registration {registration_id} has no proof document.")
    return document
