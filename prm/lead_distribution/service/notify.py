"""Who hears about what: partners about offers (limited details only), channel managers about
leads back in their queue, a web lead about its submission. Queued in the outbox, sent after commit."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.auth import Role
from prm.core.outbox import Email, enqueue_email, enqueue_emails
from prm.crm.models import Lead
from prm.crm.services import lead_pipeline
from prm.lead_distribution.models import LeadOffer, WebForm
from prm.lead_distribution.rules import band_of


def _teaser(lead: Lead) -> str:
    """Company, need and region: what a partner learns before accepting."""
    where = ", ".join(x for x in (lead.region, lead.country) if x) or "unknown region"
    need = lead.current_situation or "not stated"
    return f"Company: {lead.company}\nRegion: {where}\nNeed: {need}\nRating: {band_of(lead.score).value}\n"


async def offer_made(session: AsyncSession, offer: LeadOffer, lead: Lead) -> None:
    """The targeted rep (if any) and the partner's admins."""
    if offer.partner_id is None:
        return
    people = await lead_pipeline.partner_contacts(session, [offer.partner_id])
    to = sorted({p.email for p in people if p.role is Role.PARTNER_ADMIN or p.id == offer.user_id})
    await enqueue_emails(
        session,
        [
            Email(
                to=address,
                topic="lead_distribution.offer",
                subject=f"New lead for you: {lead.company} (answer by {offer.respond_by:%Y-%m-%d %H:%M} UTC)",
                text=_teaser(lead) + f"\nAccept or decline it in your leads inbox by {offer.respond_by:%Y-%m-%d %H:%M} "
                "UTC; the contact details are revealed when you accept. Unanswered, it goes to another partner.\n",
            )
            for address in to
        ],
    )


async def group_offer_made(
    session: AsyncSession, offer: LeadOffer, lead: Lead, partner_ids: Sequence[uuid.UUID]
) -> None:
    people = await lead_pipeline.partner_contacts(session, partner_ids, admins_only=True)
    await enqueue_emails(
        session,
        [
            Email(
                to=person.email,
                topic="lead_distribution.shark_tank",
                subject=f"Shark tank: {lead.company} is open to claim until {offer.respond_by:%Y-%m-%d %H:%M} UTC",
                text=_teaser(lead) + "\nThe first eligible partner to claim it gets it.\n",
            )
            for person in people
        ],
    )


async def returned_to_queue(session: AsyncSession, lead: Lead, reason: str) -> None:
    managers = await lead_pipeline.vendor_staff_emails(session, [Role.CHANNEL_MANAGER])
    await enqueue_emails(
        session,
        [
            Email(
                to=address,
                topic="lead_distribution.returned",
                subject=f"Lead back in your queue: {lead.company}",
                text=f"{reason}\n\n{_teaser(lead)}\nRoute it by hand or disqualify it.\n",
            )
            for address in managers
        ],
    )


def auto_response(session: AsyncSession, form: WebForm, *, to: str, first_name: str) -> None:
    enqueue_email(
        session,
        to=to,
        topic="lead_distribution.auto_response",
        subject=form.auto_response_subject,
        text=f"Dear {first_name},\n\n{form.auto_response_text}\n",
    )
