"""Offers (the partner's inbox and the shark-tank board) and routing decisions (with replay)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from litestar import Controller, get, post
from litestar.params import QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.auth import EVERYONE, PARTNERS, VENDOR_READERS, Principal, allow
from prm.core.convert import to_read
from prm.core.pagination import Page, PageRequest
from prm.lead_distribution.models import OfferKind, OfferStatus
from prm.lead_distribution.repository import DecisionRepository
from prm.lead_distribution.schemas import DecisionRead, Decline, OfferRead, ReplayRead
from prm.lead_distribution.service import offers, routing


class OfferController(Controller):
    """Partners see the offers made to them with company, need and region only; the contact is
    revealed once they accept (or claim). Open shark-tank offers show to their eligible members."""

    path = "/distribution/offers"
    tags = ["lead distribution"]
    guards = [allow(*EVERYONE)]

    @get(
        "/",
        summary="Offers you may see: your inbox (status=open), the shark-tank board (kind=shark_tank); "
        "program_id, and offered_from / offered_to (UTC days, both included) narrow them",
    )
    async def list_offers(
        self,
        db_session: AsyncSession,
        principal: Principal,
        page: PageRequest,
        offer_status: Annotated[OfferStatus | None, QueryParameter(name="status")] = None,
        kind: OfferKind | None = None,
        program_id: uuid.UUID | None = None,
        offered_from: date | None = None,
        offered_to: date | None = None,
    ) -> Page[OfferRead]:
        where = offers.OfferFilter(offer_status, kind, program_id, offered_from, offered_to)
        items, cursor = await offers.list_offers(db_session, principal=principal, page=page, where=where)
        return Page(items=items, next_cursor=cursor)

    @get("/{offer_id:uuid}")
    async def get_offer(self, db_session: AsyncSession, principal: Principal, offer_id: uuid.UUID) -> OfferRead:
        return await offers.get_offer(db_session, principal=principal, offer_id=offer_id)

    @post(
        "/{offer_id:uuid}/accept",
        status_code=200,
        guards=[allow(*PARTNERS)],
        summary="Accept within the response time; the contact details are revealed",
    )
    async def accept(self, db_session: AsyncSession, principal: Principal, offer_id: uuid.UUID) -> OfferRead:
        return await offers.accept(db_session, principal=principal, offer_id=offer_id)

    @post(
        "/{offer_id:uuid}/decline",
        status_code=200,
        guards=[allow(*PARTNERS)],
        summary="Decline with a reason; the lead is re-routed, never back to you",
    )
    async def decline(
        self, db_session: AsyncSession, principal: Principal, offer_id: uuid.UUID, data: Decline
    ) -> OfferRead:
        return await offers.decline(db_session, principal=principal, offer_id=offer_id, data=data)

    @post(
        "/{offer_id:uuid}/claim",
        status_code=200,
        guards=[allow(*PARTNERS)],
        summary="Claim a shark-tank lead: the first claim wins, every later one gets 409",
    )
    async def claim(self, db_session: AsyncSession, principal: Principal, offer_id: uuid.UUID) -> OfferRead:
        return await offers.claim(db_session, principal=principal, offer_id=offer_id)


class DecisionController(Controller):
    path = "/distribution/decisions"
    tags = ["lead distribution"]
    guards = [allow(*VENDOR_READERS)]

    @get("/{decision_id:uuid}", summary="A routing decision: rules tried, candidates, weights, seed, explanation")
    async def get_decision(
        self, db_session: AsyncSession, principal: Principal, decision_id: uuid.UUID
    ) -> DecisionRead:
        return to_read(await DecisionRepository(db_session, principal).get(decision_id), DecisionRead)

    @get("/{decision_id:uuid}/replay", summary="Draw again with the stored seed and weights: the same partner")
    async def replay(self, db_session: AsyncSession, principal: Principal, decision_id: uuid.UUID) -> ReplayRead:
        return await routing.replay(db_session, principal=principal, decision_id=decision_id)
