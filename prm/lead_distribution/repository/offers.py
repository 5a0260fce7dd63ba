"""Routing decisions and offers: scoped reads for callers, and the conditional updates that make
offers, claims and timers take effect exactly once."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime
from functools import cache
from typing import Any, ClassVar

from sqlalchemy import (
    ColumnElement,
    Insert,
    Row,
    Select,
    and_,
    bindparam,
    exists,
    false,
    func,
    insert,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.auth import Role
from prm.core.db import insert_rows
from prm.core.pagination import PageRequest
from prm.core.repository import ScopedRepository
from prm.core.tenancy import managed_partner_ids, partner_scope
from prm.lead_distribution.models import (
    HOLDING,
    LeadOffer,
    OfferCandidate,
    OfferKind,
    OfferStatus,
    RoutingDecision,
)
from prm.lead_distribution.repository.base import BATCH, is_postgres
from prm.lead_distribution.repository.loads import note_load, note_move

# Routing decisions and offers ----------------------------------------------------------------


class DecisionRepository(ScopedRepository[RoutingDecision]):
    """Vendor staff only (guarded); a channel manager sees decisions that picked no partner or one
    of theirs."""

    model = RoutingDecision
    label = "Routing decision"
    sortable: ClassVar[dict[str, str]] = {"created_at": "decided_at", "decided_at": "decided_at"}

    def scope(self) -> ColumnElement[bool]:
        return partner_scope(self.principal, RoutingDecision.partner_id)

    async def for_lead(self, lead_id: uuid.UUID) -> list[RoutingDecision]:
        stmt = self.select().where(RoutingDecision.lead_id == lead_id).order_by(RoutingDecision.decided_at)
        return list((await self.session.scalars(stmt)).all())

    async def page_for_lead(self, lead_id: uuid.UUID, page: PageRequest) -> tuple[list[RoutingDecision], str | None]:
        return await self.page(page, RoutingDecision.lead_id == lead_id)


class OfferRepository(ScopedRepository[LeadOffer]):
    """Partners see the offers made to them, and the open shark-tank offers they are eligible for;
    a channel manager those to their partners and the open group offers."""

    model = LeadOffer
    label = "Lead offer"
    sortable: ClassVar[dict[str, str]] = {"created_at": "created_at", "respond_by": "respond_by"}

    def scope(self) -> ColumnElement[bool]:
        principal = self.principal
        if principal.role in (Role.VENDOR_ADMIN, Role.LEADERSHIP):
            return true()
        if principal.role is Role.CHANNEL_MANAGER:
            return or_(LeadOffer.partner_id.is_(None), LeadOffer.partner_id.in_(managed_partner_ids(principal)))
        if principal.partner_id is None:
            return false()
        candidate = exists().where(
            OfferCandidate.offer_id == LeadOffer.id, OfferCandidate.partner_id == principal.partner_id
        )
        open_to_me = and_(LeadOffer.kind == OfferKind.SHARK_TANK, LeadOffer.status == OfferStatus.OPEN, candidate)
        return or_(LeadOffer.partner_id == principal.partner_id, open_to_me)


@cache
def _candidates_from_arrays() -> Insert:
    """PostgreSQL: INSERT ... SELECT * FROM unnest(:offers, :partners), the pairs side by side."""
    ids = postgresql.ARRAY(postgresql.UUID(as_uuid=True))
    pairs = func.unnest(bindparam("offers", type_=ids), bindparam("partners", type_=ids))
    table = pairs.table_valued("offer_id", "partner_id").render_derived()
    return insert(OfferCandidate).from_select(["offer_id", "partner_id"], select(table.c.offer_id, table.c.partner_id))


class OfferStore:
    """Unscoped offer queries for routing and timers; every state change is a conditional UPDATE."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, offer_id: uuid.UUID) -> LeadOffer | None:
        return await self.session.get(LeadOffer, offer_id)

    async def current(self, lead_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, LeadOffer]:
        """The open or accepted offer of each lead (at most one exists at a time)."""
        if not lead_ids:
            return {}
        stmt = select(LeadOffer).where(
            LeadOffer.lead_id.in_(list(lead_ids)), LeadOffer.status.in_([*HOLDING, OfferStatus.CONVERTED])
        )
        return {offer.lead_id: offer for offer in await self.session.scalars(stmt)}

    async def add_decisions(self, decisions: Sequence[dict[str, Any]]) -> None:
        """Routing decisions (column values, ids included), with one INSERT."""
        if decisions:
            await self.session.execute(insert(RoutingDecision).execution_options(render_nulls=True), list(decisions))

    async def add_candidates(self, rows: list[dict[str, Any]]) -> None:
        """(offer_id, partner_id) rows: who may see and claim each shark-tank offer, in one
        statement: on PostgreSQL from two array parameters (a group of a thousand members is two
        values to bind, not two thousand), elsewhere a Core executemany."""
        if rows and is_postgres(self.session):
            arrays = {"offers": [r["offer_id"] for r in rows], "partners": [r["partner_id"] for r in rows]}
            await (await self.session.connection()).execute(_candidates_from_arrays(), arrays)
        else:
            await insert_rows(self.session, OfferCandidate, rows)

    async def candidates_of(self, offer_id: uuid.UUID) -> list[uuid.UUID]:
        return list((await self.session.scalars(self.candidate_ids(offer_id))).all())

    @staticmethod
    def candidate_ids(offer_id: uuid.UUID) -> Select[tuple[uuid.UUID]]:
        """The query of a shark-tank offer's candidates (to use as a subquery)."""
        return select(OfferCandidate.partner_id).where(OfferCandidate.offer_id == offer_id)

    async def add(self, offers: Sequence[dict[str, Any]]) -> None:
        """New offers (column values, ids included), each counted against its partner at once."""
        if offers:
            await self.session.execute(insert(LeadOffer).execution_options(render_nulls=True), list(offers))
            for offer in offers:
                note_move(self.session, before=None, after=(offer.get("partner_id"), offer["status"]))

    async def transition(
        self,
        offer_id: uuid.UUID,
        where: ColumnElement[bool],
        values: dict[str, Any],
        *,
        before: tuple[uuid.UUID | None, OfferStatus],
    ) -> bool:
        """One conditional UPDATE of one offer: True when this call changed it, False when the
        condition no longer held (someone else answered, claimed, or the clock ran out).
        `before` is the (partner, status) that `where` requires of it."""
        stmt = (
            update(LeadOffer)
            .where(LeadOffer.id == offer_id, where)
            .values(**values, version=LeadOffer.version + 1)
            .returning(LeadOffer.partner_id, LeadOffer.status)
            .execution_options(synchronize_session=False)
        )
        changed = (await self.session.execute(stmt)).first()
        if changed is not None:
            note_move(self.session, before=before, after=(changed.partner_id, changed.status))
        return changed is not None

    async def withdraw_open(self, lead_id: uuid.UUID, now: datetime) -> list[uuid.UUID]:
        return await self.withdraw_open_of([lead_id], now)

    async def withdraw_open_of(self, lead_ids: Collection[uuid.UUID], now: datetime) -> list[uuid.UUID]:
        """The leads' open offers -> withdrawn (they are routed elsewhere or disqualified)."""
        stmt = (
            update(LeadOffer)
            .where(LeadOffer.lead_id.in_(list(lead_ids)), LeadOffer.status == OfferStatus.OPEN)
            .values(status=OfferStatus.WITHDRAWN, responded_at=now, updated_at=now, version=LeadOffer.version + 1)
            .returning(LeadOffer.id, LeadOffer.partner_id)
            .execution_options(synchronize_session=False)
        )
        rows = (await self.session.execute(stmt)).all()
        for row in rows:
            note_load(self.session, row.partner_id, -1)
        return [row.id for row in rows]

    async def mark_converted(self, lead_id: uuid.UUID, now: datetime) -> None:
        stmt = (
            update(LeadOffer)
            .where(LeadOffer.lead_id == lead_id, LeadOffer.status == OfferStatus.ACCEPTED)
            .values(status=OfferStatus.CONVERTED, updated_at=now, version=LeadOffer.version + 1)
            .returning(LeadOffer.partner_id)
            .execution_options(synchronize_session=False)
        )
        for partner_id in (await self.session.scalars(stmt)).all():
            note_load(self.session, partner_id, -1)

    async def close_due(self, kind: OfferKind, target: OfferStatus, now: datetime) -> Sequence[Row[Any]]:
        """Open offers of `kind` past their response time -> `target`, one batch; SKIP LOCKED on
        PostgreSQL, so a second runner takes other rows (or none), never the same ones."""
        where = and_(LeadOffer.kind == kind, LeadOffer.status == OfferStatus.OPEN, LeadOffer.respond_by <= now)
        ids = select(LeadOffer.id).where(where).order_by(LeadOffer.respond_by).limit(BATCH)
        if is_postgres(self.session):
            ids = ids.with_for_update(skip_locked=True)
        stmt = (
            update(LeadOffer)
            .where(LeadOffer.id.in_(ids.scalar_subquery()), where)
            .values(status=target, updated_at=now, version=LeadOffer.version + 1)
            .returning(LeadOffer.id, LeadOffer.lead_id, LeadOffer.partner_id, LeadOffer.group_id)
            .execution_options(synchronize_session=False)
        )
        rows = (await self.session.execute(stmt)).all()
        for row in rows:
            note_load(self.session, row.partner_id, -1)
        return rows
