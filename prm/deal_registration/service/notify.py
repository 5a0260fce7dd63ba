"""The emails a registration sends, queued in the outbox with the business change."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.dates import date_text
from prm.core.outbox import enqueue_email
from prm.crm.services.directory import emails_of, user_and_channel_manager_emails
from prm.deal_registration.models import DealRegistration


def _when(moment: datetime | None) -> str:
    return date_text(moment)


async def _to_submitter(
    session: AsyncSession, registration: DealRegistration, topic: str, subject: str, text: str
) -> None:
    emails = await emails_of(session, [registration.submitted_by_id])
    address = emails.get(registration.submitted_by_id)
    if address:
        enqueue_email(session, to=address, topic=topic, subject=subject, text=text)


async def submitted(session: AsyncSession, registration: DealRegistration, review_hours: int) -> None:
    """The auto-response to the partner, and the heads-up to its channel managers."""
    await received(session, registration, review_hours)
    await to_review(session, registration)


async def received(session: AsyncSession, registration: DealRegistration, review_hours: int) -> None:
    """The auto-response to the partner: received, and when it hears back."""
    emails = await emails_of(session, [registration.submitted_by_id])
    own = emails.get(registration.submitted_by_id)
    if own:
        enqueue_email(
            session,
            to=own,
            topic="deal_registration.received",
            subject=f"Deal registration {registration.number} received",
            text=f"We received your deal registration {registration.number} for {registration.customer_name}.\n"
            f"You will hear back within {review_hours} hours (by {_when(registration.review_due_at)}).\n",
        )


async def to_review(session: AsyncSession, registration: DealRegistration) -> None:
    """The heads-up to the partner's channel managers: a registration waits for them."""
    _, managers = await user_and_channel_manager_emails(
        session, user_id=registration.submitted_by_id, partner_id=registration.partner_id
    )
    for address in managers:
        enqueue_email(
            session,
            to=address,
            topic="deal_registration.to_review",
            subject=f"New deal registration to review: {registration.number}",
            text=f"{registration.number} for {registration.customer_name} waits for your review; "
            f"decision due by {_when(registration.review_due_at)}.\n",
        )


async def decided(session: AsyncSession, registration: DealRegistration) -> None:
    if registration.state.value == "approved":
        text = (
            f"Your deal registration {registration.number} for {registration.customer_name} is approved.\n"
            f"It is protected until {_when(registration.expires_at)}.\n"
        )
    else:
        reason = registration.rejection_reason.value.replace("_", " ") if registration.rejection_reason else ""
        text = (
            f"Your deal registration {registration.number} for {registration.customer_name} was not "
            f"approved.\nReason: {reason}\n{registration.decision_note or ''}\n"
            "You may resubmit it with more information.\n"
        )
    await _to_submitter(
        session,
        registration,
        f"deal_registration.{registration.state.value}",
        f"Deal registration {registration.number}: {registration.state.value}",
        text,
    )


async def extension_decided(session: AsyncSession, registration: DealRegistration, approved: bool) -> None:
    verdict = f"approved: protected until {_when(registration.expires_at)}" if approved else "not approved"
    await _to_submitter(
        session,
        registration,
        "deal_registration.extension",
        f"Extension for {registration.number} {'approved' if approved else 'declined'}",
        f"Your extension request for {registration.number} was {verdict}.\n",
    )


async def proof_decided(session: AsyncSession, registration: DealRegistration, credit_minor: int | None) -> None:
    if credit_minor is not None:
        text = (
            f"The proof of performance for {registration.number} is verified. A margin credit of "
            f"{credit_minor / 100:.2f} {registration.currency} is on its way.\n"
        )
    else:
        text = f"The proof of performance for {registration.number} was not accepted: {registration.proof_note}\n"
    await _to_submitter(session, registration, "deal_registration.proof", f"Proof for {registration.number}", text)
