"""Offers from the partner's side: the inbox (limited details until accepted), accept, decline
with a reason, and the shark-tank claim where the first eligible partner wins."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import ColumnElement, and_
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.auth import Principal, Role
from prm.core.errors import Conflict, Forbidden, NotFound, RuleViolation
from prm.core.pagination import PageRequest
from prm.crm.models import Lead
from prm.crm.services import lead_pipeline
from prm.lead_distribution.models import LeadOffer, OfferKind, OfferStatus
from prm.lead_distribution.repository import OfferRepository, OfferStore
from prm.lead_distribution.repository.claims import ClaimStore
from prm.lead_distribution.rules import band_of, size_band
from prm.lead_distribution.schemas import Decline, OfferContact, OfferLead, OfferRead
from prm.lead_distribution.service.routing import reroute

REVEALED = (OfferStatus.ACCEPTED, OfferStatus.CONVERTED)


def _sees_contact(principal: Principal, offer: LeadOffer) -> bool:
    if not principal.is_partner:
        return True
    return offer.partner_id == principal.partner_id and offer.status in REVEALED


def allowed_actions(offer: LeadOffer, principal: Principal, now: datetime) -> list[str]:
    """What the viewer may do with an offer now: `accept` and `decline` (a direct offer to its
    organisation, for the rep it names or any rep when it names none, a partner admin always),
    `claim` (an open shark-tank lead), `convert` (its accepted lead). The inbox shows these; the
    services refuse anything else (409 once answered, taken or past its time)."""
    if not principal.is_partner:
        return []
    if offer.status is OfferStatus.ACCEPTED:
        return ["convert"] if offer.partner_id == principal.partner_id else []
    if offer.status is not OfferStatus.OPEN or offer.respond_by <= now:
        return []
    if offer.kind is OfferKind.SHARK_TANK:
        return ["claim"] if offer.partner_id is None else []
    for_me = offer.user_id in (None, principal.user_id) or principal.role is Role.PARTNER_ADMIN
    return ["accept", "decline"] if offer.partner_id == principal.partner_id and for_me else []


def view(offer: LeadOffer, lead: Lead, *, principal: Principal, now: datetime) -> OfferRead:
    left = int((offer.respond_by - now).total_seconds()) if offer.status is OfferStatus.OPEN else 0
    contact = None
    if _sees_contact(principal, offer):
        contact = OfferContact(
            first_name=lead.first_name, last_name=lead.last_name, email=lead.email, phone=lead.phone, title=lead.title
        )
    return OfferRead(
        id=offer.id,
        lead_id=offer.lead_id,
        kind=offer.kind,
        status=offer.status,
        partner_id=offer.partner_id,
        user_id=offer.user_id,
        group_id=offer.group_id,
        offered_at=offer.offered_at,
        respond_by=offer.respond_by,
        seconds_left=max(0, left),
        responded_at=offer.responded_at,
        decline_reason=offer.decline_reason,
        decline_note=offer.decline_note,
        version=offer.version,
        lead=OfferLead(
            company=lead.company,
            need=lead.current_situation,
            product_id=lead.product_id,
            time_frame=lead.time_frame,
            country=lead.country,
            region=lead.region,
            size_band=size_band(lead.employees),
            band=band_of(lead.score),
        ),
        contact=contact,
        program_id=offer.program_id,
        allowed_actions=allowed_actions(offer, principal, now),
    )


async def views(session: AsyncSession, principal: Principal, offers: list[LeadOffer]) -> list[OfferRead]:
    leads = await lead_pipeline.leads_by_id(session, [o.lead_id for o in offers])
    now = session.info["clock"].now()
    return [view(o, leads[o.lead_id], principal=principal, now=now) for o in offers]


@dataclass(frozen=True)
class OfferFilter:
    """Which offers a list shows: by status, kind, lead program, and the UTC days they came in
    (`offered_from` and `offered_to` both included)."""

    status: OfferStatus | None = None
    kind: OfferKind | None = None
    program_id: uuid.UUID | None = None
    offered_from: date | None = None
    offered_to: date | None = None

    def clauses(self) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = []
        if self.status is not None:
            found.append(LeadOffer.status == self.status)
        if self.kind is not None:
            found.append(LeadOffer.kind == self.kind)
        if self.program_id is not None:
            found.append(LeadOffer.program_id == self.program_id)
        if self.offered_from is not None:
            found.append(LeadOffer.offered_at >= _day_start(self.offered_from))
        if self.offered_to is not None:
            found.append(LeadOffer.offered_at < _day_start(self.offered_to + timedelta(days=1)))
        return found


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


async def list_offers(
    session: AsyncSession,
    *,
    principal: Principal,
    page: PageRequest,
    status: OfferStatus | None = None,
    kind: OfferKind | None = None,
    where: OfferFilter | None = None,
) -> tuple[list[OfferRead], str | None]:
    """The offers the viewer may see (the repository's scope), filtered, one keyset page."""
    where = where or OfferFilter()
    if status is not None or kind is not None:
        where = replace(where, status=status or where.status, kind=kind or where.kind)
    rows, cursor = await OfferRepository(session, principal).page(page, *where.clauses())
    return await views(session, principal, rows), cursor


async def get_offer(session: AsyncSession, *, principal: Principal, offer_id: uuid.UUID) -> OfferRead:
    offer = await OfferRepository(session, principal).get(offer_id)
    return (await views(session, principal, [offer]))[0]


def _partner(principal: Principal) -> uuid.UUID:
    if principal.partner_id is None:
        raise Forbidden("Only partners answer offers.")
    return principal.partner_id


async def _refusal(session: AsyncSession, offer: LeadOffer, now: datetime) -> Conflict:
    """Why a conditional update changed nothing: someone answered first, or the clock ran out."""
    await session.refresh(offer)
    if offer.status is OfferStatus.OPEN and offer.respond_by <= now:
        return Conflict(f"The response time ended at {offer.respond_by.isoformat()}.", current_state="expired")
    return Conflict(f"The offer is already {offer.status.value}.", current_state=offer.status.value)


def _answered(principal: Principal, offer: LeadOffer, now: datetime) -> dict[str, object]:
    return {
        "responded_at": now,
        "responded_by_id": principal.user_id,
        "response_seconds": int((now - offer.offered_at).total_seconds()),
        "updated_at": now,
    }


async def _direct_offer(session: AsyncSession, principal: Principal, offer_id: uuid.UUID) -> LeadOffer:
    offer = await OfferRepository(session, principal).get(offer_id)
    if offer.kind is not OfferKind.DIRECT:
        raise Conflict("A shark-tank lead is claimed, not accepted or declined.", current_state=offer.status.value)
    if offer.user_id not in (None, principal.user_id) and principal.role is not Role.PARTNER_ADMIN:
        raise Forbidden("This lead is offered to another rep of your organisation.")
    return offer


async def accept(session: AsyncSession, *, principal: Principal, offer_id: uuid.UUID) -> OfferRead:
    """Open and within the response time -> accepted; the contact details are revealed."""
    partner_id = _partner(principal)
    offer = await _direct_offer(session, principal, offer_id)
    now = session.info["clock"].now()
    owner = offer.user_id or principal.user_id
    still_open = and_(
        LeadOffer.status == OfferStatus.OPEN, LeadOffer.respond_by > now, LeadOffer.partner_id == partner_id
    )
    values = {"status": OfferStatus.ACCEPTED, "user_id": owner, **_answered(principal, offer, now)}
    if not await OfferStore(session).transition(offer.id, still_open, values, before=(partner_id, OfferStatus.OPEN)):
        raise await _refusal(session, offer, now)
    lead = await lead_pipeline.load(session, offer.lead_id)
    await lead_pipeline.hand_over(session, lead, partner_id=partner_id, owner_id=owner, actor=principal)
    await session.refresh(offer)
    return view(offer, lead, principal=principal, now=now)


async def decline(session: AsyncSession, *, principal: Principal, offer_id: uuid.UUID, data: Decline) -> OfferRead:
    """Declined with a reason: the lead is re-routed at once, never back to this partner."""
    partner_id = _partner(principal)
    offer = await _direct_offer(session, principal, offer_id)
    if data.reason.value == "other" and not data.note:
        raise RuleViolation("Say why when the reason is other.", field="note")
    now = session.info["clock"].now()
    still_open = and_(LeadOffer.status == OfferStatus.OPEN, LeadOffer.partner_id == partner_id)
    values = {
        "status": OfferStatus.DECLINED,
        "decline_reason": data.reason,
        "decline_note": data.note,
        **_answered(principal, offer, now),
    }
    if not await OfferStore(session).transition(offer.id, still_open, values, before=(partner_id, OfferStatus.OPEN)):
        raise await _refusal(session, offer, now)
    lead = await lead_pipeline.load(session, offer.lead_id)
    standing = (await lead_pipeline.partner_standing(session, [partner_id])).get(partner_id)
    who = standing.name if standing is not None else "the partner"
    await reroute(session, lead, why=f"declined by partner {who}: {data.reason.value}", now=now)
    await session.refresh(offer)
    return view(offer, lead, principal=principal, now=now)


def _taken() -> Conflict:
    return Conflict("Another partner claimed this lead first, or its claim window has closed.", current_state="taken")


async def claim(session: AsyncSession, *, principal: Principal, offer_id: uuid.UUID) -> OfferRead:
    """First eligible claim wins: one conditional UPDATE; every later claim finds it taken (409).

    The loser of a storm reads one row and answers; only a claim that took the offer goes on to
    the partner's per-group cap (over it: 422, and the claim is rolled back with the request)."""
    partner_id = _partner(principal)
    store = ClaimStore(session)
    seen = await store.sighting(offer_id, partner_id)
    if seen is None or seen.kind is not OfferKind.SHARK_TANK or not seen.candidate or seen.group_id is None:
        raise NotFound(f"Lead offer {offer_id} not found.")
    now = session.info["clock"].now()
    if seen.status is not OfferStatus.OPEN or seen.partner_id is not None or seen.respond_by <= now:
        raise _taken()
    seconds = int((now - seen.offered_at).total_seconds())
    offer = await store.take(offer_id, partner_id=partner_id, user_id=principal.user_id, now=now, seconds=seconds)
    if offer is None:
        raise _taken()
    await _within_cap(store, seen.group_id, partner_id, offer_id)
    lead = await lead_pipeline.load(session, offer.lead_id)
    await lead_pipeline.hand_over(session, lead, partner_id=partner_id, owner_id=principal.user_id, actor=principal)
    return view(offer, lead, principal=principal, now=now)


async def _within_cap(store: ClaimStore, group_id: uuid.UUID, partner_id: uuid.UUID, offer_id: uuid.UUID) -> None:
    """The partner's claims from the group, this one included, within the group's cap."""
    found = await store.claims_held(group_id, partner_id)
    if found is None:
        raise NotFound(f"Lead offer {offer_id} not found.")
    cap, held = found
    if held > cap:
        raise RuleViolation(
            f"Your organisation holds {held - 1} open leads claimed from this group; the cap is "
            f"{cap}. Convert or release some first.",
            field="offer_id",
        )
