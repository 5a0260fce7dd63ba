"""What routing reads about the partners it may pick: the active rules, and a roster of a circle of
partners (a program's or a group's members, or one partner) with each one's program terms, the
leads it holds, its recent answers, and for one lead whether it is certified for the lead's
product and whether it passed on the lead before.

Plain rows, no ORM objects: routing reads these for every lead, often for hundreds of partners,
and only looks at them. The statements are built once with bound parameters (building and
keying a statement costs more than running it), and partners are chosen by circle in SQL,
never by a long list of ids. Every column is labelled as the field it fills, and the rows are read
by those labels (prm.core.rows), never by position.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any

import msgspec
from advanced_alchemy.types import GUID
from sqlalchemy import Row, Select, Text, and_, bindparam, case, cast, exists, func, literal_column, null, select
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.rows import fetch_rows
from prm.lead_distribution.models import (
    CertifiedProduct,
    GroupMember,
    LeadOffer,
    LeadProgram,
    OfferKind,
    OfferStatus,
    PartnerLoad,
    ProgramMember,
    RoutingRule,
)
from prm.lead_distribution.repository.base import Circle

ANSWERED = (OfferStatus.ACCEPTED, OfferStatus.CONVERTED, OfferStatus.DECLINED, OfferStatus.EXPIRED)
TOOK_IT = (OfferStatus.ACCEPTED, OfferStatus.CONVERTED)
PASSED = (OfferStatus.DECLINED, OfferStatus.EXPIRED)


PROGRAM = "program_"  # the prefix of the program columns' labels: `program_name` fills ProgramTerms.name


def _program_terms(p: Any) -> tuple[Any, ...]:
    """The program columns routing uses, labelled as ProgramTerms' fields after PROGRAM (the
    tiers as JSON text); the id first."""
    columns = (p.name, p.active, p.min_acceptance_pct, p.max_open_leads)
    hours = (p.response_hours, p.hot_response_hours, p.claim_window_hours)
    tiers = cast(p.eligible_tiers, Text).label(f"{PROGRAM}eligible_tiers")
    return (p.id.label(f"{PROGRAM}id"), *(c.label(PROGRAM + c.key) for c in (*columns, *hours)), tiers)


@cache
def _rules() -> Select[Any]:
    """The active rules in order, each with its program's terms; a rule's six condition lists as
    one JSON text (parsed only when the rule is tried, and one parse instead of six)."""
    r, comma = RoutingRule, literal_column("','", Text)
    conditions: Any = literal_column("'['", Text) + cast(r.countries, Text) + comma + cast(r.regions, Text) + comma
    conditions += cast(r.size_bands, Text) + comma + cast(r.product_ids, Text) + comma + cast(r.score_bands, Text)
    conditions += comma + cast(r.sources, Text) + literal_column("']'")
    return (
        select(r.id, r.name, r.position, conditions.label("conditions_json"), r.target_kind, r.target_user_id)
        .add_columns(r.target_partner_id, r.target_group_id, r.program_id, *_program_terms(LeadProgram)[1:])
        .outerjoin(LeadProgram, LeadProgram.id == r.program_id)
        .where(r.active.is_(True))
        .order_by(r.position, r.created_at)
    )


@cache
def _program() -> Select[Any]:
    return select(*_program_terms(LeadProgram)).where(LeadProgram.id == bindparam("program"))


def _members(kind: str) -> Any:
    """The partner ids of a circle of `kind`, the circle's id bound as :circle."""
    if kind == "program":
        return select(ProgramMember.partner_id).where(ProgramMember.program_id == bindparam("circle"))
    if kind == "group":
        return select(GroupMember.partner_id).where(GroupMember.group_id == bindparam("circle"))
    return select(bindparam("circle", type_=GUID()).label("partner_id"))


@cache
def _roster(kind: str, for_one_lead: bool) -> Select[Any]:
    """One row per partner of the circle (see RoutingStore.roster)."""
    o, m, load = LeadOffer, ProgramMember, PartnerLoad
    ids = _members(kind).subquery("circle")
    took = o.status.in_(TOOK_IT)
    answered = (
        select(
            o.partner_id,
            func.count().label("decided"),
            func.sum(case((took, 1), else_=0)).label("accepted"),
            func.avg(case((took, o.response_seconds))).label("avg_seconds"),
        )
        .where(o.partner_id.in_(select(ids.c.partner_id)), o.kind == OfferKind.DIRECT)
        .where(o.offered_at >= bindparam("since"), o.status.in_(ANSWERED))
        .group_by(o.partner_id)
        .subquery("answered")
    )
    stmt = (
        select(ids.c.partner_id, m.partner_id.is_not(None).label("member"), m.weight, m.max_open_leads)
        .add_columns(cast(m.territories, Text).label("territories"))
        .add_columns(func.coalesce(load.holding, 0).label("holding"), answered.c.decided, answered.c.accepted)
        .add_columns(answered.c.avg_seconds)
        .outerjoin(m, and_(m.partner_id == ids.c.partner_id, m.program_id == bindparam("program")))
        .outerjoin(load, load.partner_id == ids.c.partner_id)
        .outerjoin(answered, answered.c.partner_id == ids.c.partner_id)
    )
    if not for_one_lead:
        return stmt.add_columns(null().label("certified"), null().label("passed"))
    c = CertifiedProduct
    certified = exists().where(c.partner_id == ids.c.partner_id, c.product_id == bindparam("product", type_=GUID()))
    passed = exists().where(o.lead_id == bindparam("lead"), o.partner_id == ids.c.partner_id, o.status.in_(PASSED))
    return stmt.add_columns(certified.label("certified"), passed.label("passed"))


def _kind(circle: Circle) -> tuple[str, uuid.UUID | None]:
    if circle.program_id is not None:
        return "program", circle.program_id
    if circle.group_id is not None:
        return "group", circle.group_id
    return "partner", circle.partner_id


class RosterRow(msgspec.Struct, frozen=True, gc=False):
    """A partner of a circle as routing reads it (see RoutingStore.roster), filled by column name."""

    partner_id: uuid.UUID
    member: bool  # whether it belongs to the program; its terms there are None when not
    weight: int | None
    max_open_leads: int | None
    territories: str | None  # JSON text
    holding: int
    decided: int | None
    accepted: int | None
    avg_seconds: float | Decimal | None
    certified: bool | None  # None unless read for one lead
    passed: bool | None


class RoutingStore:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _rows(self, stmt: Any, values: dict[str, Any] | None = None) -> list[Row[Any]]:
        """Plain rows through the session's connection (the ORM's row handling is not needed)."""
        connection = await self.session.connection()
        return list((await connection.execute(stmt, values or {})).all())

    async def active_rules(self) -> list[Row[Any]]:
        """The rule's columns (conditions_json: its six condition lists as one JSON text), then
        its program's terms labelled after PROGRAM (None without a program row)."""
        return await self._rows(_rules())

    async def program(self, program_id: uuid.UUID) -> Row[Any] | None:
        """The program's terms, labelled after PROGRAM (eligible_tiers as JSON text)."""
        rows = await self._rows(_program(), {"program": program_id})
        return rows[0] if rows else None

    async def roster(
        self,
        circle: Circle,
        *,
        program_id: uuid.UUID | None,
        since: datetime,
        lead: tuple[uuid.UUID, uuid.UUID | None] | None = None,
    ) -> list[RosterRow]:
        """Per partner of the circle: partner_id; member (whether it belongs to the program), weight,
        max_open_leads, territories (its terms there, the territories as JSON text); holding (the leads it
        holds, as stored); decided, accepted, avg_seconds (its direct offers offered since `since`
        and answered: how many, how many taken, average seconds to accept; None without any).
        With `lead` = (lead id, product id): certified (for that product) and passed (it
        declined that lead or let an offer of it expire); without it both are None."""
        kind, key = _kind(circle)
        values: dict[str, Any] = {"circle": key, "program": program_id, "since": since}
        if lead is not None:
            values |= {"lead": lead[0], "product": lead[1]}
        return await fetch_rows(self.session, RosterRow, _roster(kind, lead is not None), values)

    async def certified_for(self, among: Circle, product_id: uuid.UUID) -> set[uuid.UUID]:
        """The circle's partners certified for the product (routing many leads asks once per pair)."""
        c = CertifiedProduct
        stmt = select(c.partner_id).where(c.product_id == product_id, among.holds(c.partner_id))
        return set((await self.session.scalars(stmt)).all())

    async def passed_on(self, lead_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, set[uuid.UUID]]:
        """Per lead, the partners that declined it or let an offer of it expire: never offered it again."""
        found: dict[uuid.UUID, set[uuid.UUID]] = defaultdict(set)
        if lead_ids:
            o = LeadOffer
            stmt = select(o.lead_id, o.partner_id).where(
                o.lead_id.in_(list(lead_ids)), o.status.in_(PASSED), o.partner_id.is_not(None)
            )
            for row in await self.session.execute(stmt):
                found[row.lead_id].add(row.partner_id)
        return found

    async def open_claims(self, group_id: uuid.UUID) -> dict[uuid.UUID, int]:
        """Per partner, the leads it claimed from the group and still holds."""
        o = LeadOffer
        stmt = (
            select(o.partner_id, func.count())
            .where(o.group_id == group_id, o.status == OfferStatus.ACCEPTED, o.partner_id.is_not(None))
            .group_by(o.partner_id)
        )
        return {row[0]: int(row[1]) for row in await self.session.execute(stmt)}
