"""The shark-tank claim's queries, built once. In a claim storm every request but one loses, so
a loser costs one plain SELECT (no ORM object) or, racing the winner, that and one conditional
UPDATE that finds the offer taken; the winner's claim is that UPDATE."""

from __future__ import annotations

import uuid
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Row, Select, Update, bindparam, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from prm.lead_distribution.models import (
    GroupMember,
    LeadOffer,
    OfferCandidate,
    OfferKind,
    OfferStatus,
    PartnerGroup,
)
from prm.lead_distribution.repository.base import is_postgres
from prm.lead_distribution.repository.loads import note_move


@cache
def _sighting() -> Select[Any]:
    o, c = LeadOffer, OfferCandidate
    candidate = exists().where(c.offer_id == o.id, c.partner_id == bindparam("partner"))
    return (
        select(o.kind, o.status, o.partner_id, o.group_id, o.respond_by, o.offered_at)
        .add_columns(candidate.label("candidate"))
        .where(o.id == bindparam("offer"))
    )


@cache
def _take() -> Update:
    o, now = LeadOffer, bindparam("now", type_=LeadOffer.respond_by.type)
    return (
        update(o)
        .where(o.id == bindparam("offer"), o.kind == OfferKind.SHARK_TANK, o.status == OfferStatus.OPEN)
        .where(o.partner_id.is_(None), o.respond_by > now)
        .values(
            status=OfferStatus.ACCEPTED,
            partner_id=bindparam("partner"),
            user_id=bindparam("user"),
            responded_at=now,
            responded_by_id=bindparam("user"),
            response_seconds=bindparam("seconds"),
            updated_at=now,
            version=o.version + 1,
        )
        .returning(*LeadOffer.__table__.columns)
    )


@cache
def _member(*, lock: bool) -> Select[Any]:
    m = GroupMember
    stmt = select(m.partner_id).where(m.group_id == bindparam("group"), m.partner_id == bindparam("partner"))
    return stmt.with_for_update() if lock else stmt


@cache
def _cap() -> Select[Any]:
    o, g = LeadOffer, PartnerGroup
    held = (
        select(func.count())
        .where(o.group_id == g.id, o.partner_id == bindparam("partner"), o.status == OfferStatus.ACCEPTED)
        .scalar_subquery()
    )
    return select(g.max_open_claims_per_partner, held.label("held")).where(g.id == bindparam("group"))


class ClaimStore:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def sighting(self, offer_id: uuid.UUID, partner_id: uuid.UUID) -> Row[Any] | None:
        """(kind, status, partner_id, group_id, respond_by, offered_at, candidate) of the offer,
        candidate saying whether the partner was eligible for it when it was made."""
        connection = await self.session.connection()  # a plain row: no ORM object, no identity map
        return (await connection.execute(_sighting(), {"offer": offer_id, "partner": partner_id})).first()

    async def take(
        self, offer_id: uuid.UUID, *, partner_id: uuid.UUID, user_id: uuid.UUID, now: datetime, seconds: int
    ) -> LeadOffer | None:
        """Open, unclaimed and within its window -> accepted by this partner; the offer as it is
        now (not attached to the session), or None when someone else was first or time ran out."""
        values = {"offer": offer_id, "partner": partner_id, "user": user_id, "now": now, "seconds": seconds}
        row = (await (await self.session.connection()).execute(_take(), values)).first()
        if row is None:
            return None
        note_move(self.session, before=(None, OfferStatus.OPEN), after=(partner_id, OfferStatus.ACCEPTED))
        return LeadOffer(**row._asdict())

    async def claims_held(self, group_id: uuid.UUID, partner_id: uuid.UUID) -> tuple[int, int] | None:
        """(cap, claims held) of the partner in the group, its claims queued behind each other
        (its membership row locked on PostgreSQL; SQLite writers queue anyway); None: no group."""
        values = {"group": group_id, "partner": partner_id}
        connection = await self.session.connection()
        await connection.execute(_member(lock=is_postgres(self.session)), values)
        row = (await connection.execute(_cap(), values)).first()
        return (int(row[0]), int(row[1])) if row is not None else None
