"""Who hears about what: partners about offers (limited details only), channel managers about
leads back in their queue, a web lead about its submission. Queued in the outbox, sent after commit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.auth import Role
from prm.core.dates import date_text
from prm.core.outbox import Email, enqueue_email, enqueue_email_to_each, enqueue_emails
from prm.crm.models import Lead
from prm.crm.services import lead_pipeline
from prm.lead_distribution.models import LeadOffer, WebForm
from prm.lead_distribution.repository import OfferStore
from prm.lead_distribution.rules import band_of


def _teaser(lead: Lead) -> str:
    """Company, need and region: what a partner learns before accepting."""
    where = ", ".join(x for x in (lead.region, lead.country) if x) or "unknown region"
    need = lead.current_situation or "not stated"
    return f"Company: {lead.company}\nRegion: {where}\nNeed: {need}\nRating: {band_of(lead.score).value}\n"


@dataclass(frozen=True)
class OfferNotice:
    """An offer just made: to one partner, or (`to_group`) to a shark-tank group, whose candidate
    rows are written before the notices are sent."""

    offer: LeadOffer
    lead: Lead
    to_group: bool = False


def _direct(notice: OfferNotice, people: Sequence[Any]) -> list[Email]:
    """The targeted rep (if any) and the partner's admins."""
    offer, lead = notice.offer, notice.lead
    mine = [p for p in people if p.partner_id == offer.partner_id]
    to = sorted({p.email for p in mine if p.role is Role.PARTNER_ADMIN or p.id == offer.user_id})
    due = date_text(offer.respond_by)
    return [
        Email(
            to=address,
            topic="lead_distribution.offer",
            subject=f"New lead for you: {notice.lead.company} (answer by {due})",
            text=_teaser(lead) + f"\nAccept or decline it in your leads inbox by {due}; the contact details are "
            "revealed when you accept. Unanswered, it goes to another partner.\n",
        )
        for address in to
    ]


async def _shark_tank(session: AsyncSession, notice: OfferNotice) -> None:
    """The active admins of every candidate (eligible member), found through the offer's
    candidate rows, in one INSERT ... SELECT: a group of a thousand costs Python one text."""
    due = date_text(notice.offer.respond_by)
    await enqueue_email_to_each(
        session,
        lead_pipeline.partner_admin_addresses(OfferStore.candidate_ids(notice.offer.id)),
        topic="lead_distribution.shark_tank",
        subject=f"Shark tank: {notice.lead.company} is open to claim until {due}",
        text=_teaser(notice.lead) + "\nThe first eligible partner to claim it gets it.\n",
    )


async def offers_made(session: AsyncSession, notices: Sequence[OfferNotice]) -> None:
    """Everyone the offers concern: the people of the partners offered a lead directly, read with
    one query and queued with one INSERT; the admins of each group's candidates with one
    INSERT ... SELECT per group offer."""
    direct = [notice for notice in notices if not notice.to_group]
    partners = {notice.offer.partner_id for notice in direct if notice.offer.partner_id is not None}
    people = await lead_pipeline.partner_contacts(session, partners)
    await enqueue_emails(session, [email for notice in direct for email in _direct(notice, people)])
    for notice in notices:
        if notice.to_group:
            await _shark_tank(session, notice)


async def returned_to_queue(session: AsyncSession, returned: Sequence[tuple[Lead, str]]) -> None:
    """Each (lead, why) back in the queue, to every channel manager."""
    if not returned:
        return
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
            for lead, reason in returned
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
