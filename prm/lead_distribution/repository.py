"""Lead distribution queries: scoped reads for callers, and the conditional updates that make
offers, claims and timers take effect exactly once."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import ColumnElement, Row, and_, case, delete, exists, false, func, insert, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.auth import Role
from prm.core.repository import ScopedRepository
from prm.core.tenancy import managed_partner_ids, partner_scope
from prm.lead_distribution.models import (
    HOLDING,
    CertifiedProduct,
    DuplicateFlag,
    GroupMember,
    LeadImport,
    LeadOffer,
    LeadProgram,
    OfferCandidate,
    OfferKind,
    OfferStatus,
    PartnerGroup,
    ProgramMember,
    Referral,
    ReferralMembership,
    ReferralProgram,
    ReferralStatus,
    RoutingDecision,
    RoutingRule,
    ScoringCriterion,
    WebForm,
)

BATCH = 500


def _is_postgres(session: AsyncSession) -> bool:
    return session.bind is not None and session.bind.dialect.name == "postgresql"


# Configuration: the guards in the routes decide who may read and write these. --------------


class CriterionRepository(ScopedRepository[ScoringCriterion]):
    model = ScoringCriterion
    label = "Scoring criterion"


class ProgramRepository(ScopedRepository[LeadProgram]):
    model = LeadProgram
    label = "Lead program"
    sortable: ClassVar[dict[str, str]] = {"created_at": "created_at", "name": "name"}

    async def name_taken(self, name: str, other_than: uuid.UUID | None = None) -> bool:
        stmt = select(LeadProgram.id).where(LeadProgram.name == name)
        if other_than is not None:
            stmt = stmt.where(LeadProgram.id != other_than)
        return await self.session.scalar(stmt) is not None

    async def member(self, program_id: uuid.UUID, partner_id: uuid.UUID) -> ProgramMember | None:
        return await self.session.get(ProgramMember, (program_id, partner_id))

    async def remove_member(self, program_id: uuid.UUID, partner_id: uuid.UUID) -> bool:
        result = await self.session.execute(
            delete(ProgramMember).where(ProgramMember.program_id == program_id, ProgramMember.partner_id == partner_id)
        )
        return bool(getattr(result, "rowcount", 0))


class GroupRepository(ScopedRepository[PartnerGroup]):
    model = PartnerGroup
    label = "Partner group"
    sortable: ClassVar[dict[str, str]] = {"created_at": "created_at", "name": "name"}

    async def set_members(self, group_id: uuid.UUID, partner_ids: Sequence[uuid.UUID], now: datetime) -> None:
        await self.session.execute(delete(GroupMember).where(GroupMember.group_id == group_id))
        if partner_ids:
            rows = [{"group_id": group_id, "partner_id": p, "added_at": now} for p in partner_ids]
            await self.session.execute(insert(GroupMember), rows)

    async def lock_member(self, group_id: uuid.UUID, partner_id: uuid.UUID) -> bool:
        """Take the partner's membership row: one partner's claims queue, other partners' do not."""
        stmt = select(GroupMember.partner_id).where(
            GroupMember.group_id == group_id, GroupMember.partner_id == partner_id
        )
        if _is_postgres(self.session):
            stmt = stmt.with_for_update()
        return await self.session.scalar(stmt) is not None


class RuleRepository(ScopedRepository[RoutingRule]):
    model = RoutingRule
    label = "Routing rule"
    sortable: ClassVar[dict[str, str]] = {"created_at": "created_at", "position": "position"}

    async def last_position(self) -> int:
        return int(await self.session.scalar(select(func.coalesce(func.max(RoutingRule.position), 0))) or 0)


class WebFormRepository(ScopedRepository[WebForm]):
    model = WebForm
    label = "Web form"
    sortable: ClassVar[dict[str, str]] = {"created_at": "created_at", "name": "name"}


class ImportRepository(ScopedRepository[LeadImport]):
    model = LeadImport
    label = "Lead import"
    sortable: ClassVar[dict[str, str]] = {"created_at": "imported_at"}


class ConfigStore:
    """Reads of the vendor's distribution configuration for system work (routing, timers, the
    public form), where no caller's scope applies: the configuration is the vendor's own."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def active_criteria(self) -> list[ScoringCriterion]:
        stmt = select(ScoringCriterion).where(ScoringCriterion.active.is_(True)).order_by(ScoringCriterion.created_at)
        return list((await self.session.scalars(stmt)).all())

    async def any_criteria(self) -> bool:
        return await self.session.scalar(select(ScoringCriterion.id).limit(1)) is not None

    async def rules(self, *, active_only: bool) -> list[RoutingRule]:
        stmt = select(RoutingRule).order_by(RoutingRule.position, RoutingRule.created_at)
        if active_only:
            stmt = stmt.where(RoutingRule.active.is_(True))
        return list((await self.session.scalars(stmt)).all())

    async def program(self, program_id: uuid.UUID | None) -> LeadProgram | None:
        return await self.session.get(LeadProgram, program_id) if program_id is not None else None

    async def program_of_partner(self, partner_id: uuid.UUID) -> uuid.UUID | None:
        """The active program the partner joined first (its terms apply when routing to it by name)."""
        stmt = (
            select(ProgramMember.program_id)
            .join(LeadProgram, LeadProgram.id == ProgramMember.program_id)
            .where(ProgramMember.partner_id == partner_id, LeadProgram.active.is_(True))
            .order_by(ProgramMember.joined_at)
            .limit(1)
        )
        found: uuid.UUID | None = await self.session.scalar(stmt)
        return found

    async def group(self, group_id: uuid.UUID) -> PartnerGroup | None:
        return await self.session.get(PartnerGroup, group_id)

    async def program_members(self, program_id: uuid.UUID) -> list[ProgramMember]:
        stmt = select(ProgramMember).where(ProgramMember.program_id == program_id).order_by(ProgramMember.partner_id)
        return list((await self.session.scalars(stmt)).all())

    async def group_member_ids(self, group_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
        found: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
        if group_ids:
            stmt = (
                select(GroupMember.group_id, GroupMember.partner_id)
                .where(GroupMember.group_id.in_(list(group_ids)))
                .order_by(GroupMember.partner_id)
            )
            for row in await self.session.execute(stmt):
                found[row.group_id].append(row.partner_id)
        return found

    async def web_form(self, key: str) -> WebForm | None:
        found: WebForm | None = await self.session.scalar(
            select(WebForm).where(WebForm.key == key, WebForm.active.is_(True))
        )
        return found


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

    async def holding(self, partner_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, int]:
        if not partner_ids:
            return {}
        stmt = (
            select(LeadOffer.partner_id, func.count())
            .where(LeadOffer.partner_id.in_(list(partner_ids)), LeadOffer.status.in_(HOLDING))
            .group_by(LeadOffer.partner_id)
        )
        return {row[0]: int(row[1]) for row in await self.session.execute(stmt)}

    async def open_claims(self, group_id: uuid.UUID, partner_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, int]:
        if not partner_ids:
            return {}
        stmt = (
            select(LeadOffer.partner_id, func.count())
            .where(
                LeadOffer.group_id == group_id,
                LeadOffer.partner_id.in_(list(partner_ids)),
                LeadOffer.status == OfferStatus.ACCEPTED,
            )
            .group_by(LeadOffer.partner_id)
        )
        return {row[0]: int(row[1]) for row in await self.session.execute(stmt)}

    async def recent_stats(self, partner_ids: Collection[uuid.UUID], since: datetime) -> dict[uuid.UUID, Row[Any]]:
        """Per partner since `since`: offers decided (accepted, declined, expired), accepted, avg seconds to accept."""
        if not partner_ids:
            return {}
        accepted = LeadOffer.status.in_([OfferStatus.ACCEPTED, OfferStatus.CONVERTED])
        stmt = (
            select(
                LeadOffer.partner_id,
                func.count().label("decided"),
                func.sum(case((accepted, 1), else_=0)).label("accepted"),
                func.avg(case((accepted, LeadOffer.response_seconds))).label("avg_seconds"),
            )
            .where(
                LeadOffer.partner_id.in_(list(partner_ids)),
                LeadOffer.kind == OfferKind.DIRECT,
                LeadOffer.offered_at >= since,
                LeadOffer.status.in_(
                    [OfferStatus.ACCEPTED, OfferStatus.CONVERTED, OfferStatus.DECLINED, OfferStatus.EXPIRED]
                ),
            )
            .group_by(LeadOffer.partner_id)
        )
        return {row.partner_id: row for row in await self.session.execute(stmt)}

    async def passed_on(self, lead_id: uuid.UUID) -> set[uuid.UUID]:
        """Partners that declined this lead or let an offer of it expire: never offered it again."""
        stmt = select(LeadOffer.partner_id).where(
            LeadOffer.lead_id == lead_id,
            LeadOffer.status.in_([OfferStatus.DECLINED, OfferStatus.EXPIRED]),
            LeadOffer.partner_id.is_not(None),
        )
        return {pid for pid in (await self.session.scalars(stmt)).all() if pid is not None}

    async def certified(self, partner_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, frozenset[str]]:
        found: dict[uuid.UUID, set[str]] = defaultdict(set)
        if partner_ids:
            stmt = select(CertifiedProduct.partner_id, CertifiedProduct.product_id).where(
                CertifiedProduct.partner_id.in_(list(partner_ids))
            )
            for row in await self.session.execute(stmt):
                found[row.partner_id].add(str(row.product_id))
        return {k: frozenset(v) for k, v in found.items()}

    async def is_candidate(self, offer_id: uuid.UUID, partner_id: uuid.UUID) -> bool:
        stmt = select(OfferCandidate.partner_id).where(
            OfferCandidate.offer_id == offer_id, OfferCandidate.partner_id == partner_id
        )
        return await self.session.scalar(stmt) is not None

    async def add_candidates(self, offer_id: uuid.UUID, partner_ids: Sequence[uuid.UUID]) -> None:
        if partner_ids:
            rows = [{"offer_id": offer_id, "partner_id": p} for p in partner_ids]
            await self.session.execute(insert(OfferCandidate), rows)

    async def candidates_of(self, offer_id: uuid.UUID) -> list[uuid.UUID]:
        stmt = select(OfferCandidate.partner_id).where(OfferCandidate.offer_id == offer_id)
        return list((await self.session.scalars(stmt)).all())

    async def transition(self, offer_id: uuid.UUID, where: ColumnElement[bool], values: dict[str, Any]) -> bool:
        """One conditional UPDATE of one offer: True when this call changed it, False when the
        condition no longer held (someone else answered, claimed, or the clock ran out)."""
        stmt = (
            update(LeadOffer)
            .where(LeadOffer.id == offer_id, where)
            .values(**values, version=LeadOffer.version + 1)
            .returning(LeadOffer.id)
            .execution_options(synchronize_session=False)
        )
        return (await self.session.execute(stmt)).first() is not None

    async def withdraw_open(self, lead_id: uuid.UUID, now: datetime) -> list[uuid.UUID]:
        stmt = (
            update(LeadOffer)
            .where(LeadOffer.lead_id == lead_id, LeadOffer.status == OfferStatus.OPEN)
            .values(status=OfferStatus.WITHDRAWN, responded_at=now, updated_at=now, version=LeadOffer.version + 1)
            .returning(LeadOffer.id)
            .execution_options(synchronize_session=False)
        )
        return list((await self.session.scalars(stmt)).all())

    async def mark_converted(self, lead_id: uuid.UUID, now: datetime) -> None:
        await self.session.execute(
            update(LeadOffer)
            .where(LeadOffer.lead_id == lead_id, LeadOffer.status == OfferStatus.ACCEPTED)
            .values(status=OfferStatus.CONVERTED, updated_at=now, version=LeadOffer.version + 1)
            .execution_options(synchronize_session=False)
        )

    async def close_due(self, kind: OfferKind, target: OfferStatus, now: datetime) -> Sequence[Row[Any]]:
        """Open offers of `kind` past their response time -> `target`, one batch; SKIP LOCKED on
        PostgreSQL, so a second runner takes other rows (or none), never the same ones."""
        where = and_(LeadOffer.kind == kind, LeadOffer.status == OfferStatus.OPEN, LeadOffer.respond_by <= now)
        ids = select(LeadOffer.id).where(where).order_by(LeadOffer.respond_by).limit(BATCH)
        if _is_postgres(self.session):
            ids = ids.with_for_update(skip_locked=True)
        stmt = (
            update(LeadOffer)
            .where(LeadOffer.id.in_(ids.scalar_subquery()), where)
            .values(status=target, updated_at=now, version=LeadOffer.version + 1)
            .returning(LeadOffer.id, LeadOffer.lead_id, LeadOffer.partner_id, LeadOffer.group_id)
            .execution_options(synchronize_session=False)
        )
        return (await self.session.execute(stmt)).all()


# Duplicates ----------------------------------------------------------------------------------


class DuplicateStore:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def flag(self, rows: list[dict[str, Any]]) -> None:
        for start in range(0, len(rows), 2000):
            await self.session.execute(insert(DuplicateFlag), rows[start : start + 2000])

    async def of_many(self, lead_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, list[DuplicateFlag]]:
        """Each lead's flags, whichever side of the pair it is on."""
        found: dict[uuid.UUID, list[DuplicateFlag]] = defaultdict(list)
        ids = list(lead_ids)
        if ids:
            stmt = select(DuplicateFlag).where(
                or_(DuplicateFlag.lead_id.in_(ids), DuplicateFlag.other_lead_id.in_(ids))
            )
            for flag in await self.session.scalars(stmt):
                for side in {flag.lead_id, flag.other_lead_id} & set(ids):
                    found[side].append(flag)
        return found

    async def resolve(self, lead_id: uuid.UUID) -> None:
        await self.session.execute(
            delete(DuplicateFlag).where(or_(DuplicateFlag.lead_id == lead_id, DuplicateFlag.other_lead_id == lead_id))
        )


# Certifications ------------------------------------------------------------------------------


class CertificationStore:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def of(self, partner_id: uuid.UUID) -> list[uuid.UUID]:
        stmt = (
            select(CertifiedProduct.product_id)
            .where(CertifiedProduct.partner_id == partner_id)
            .order_by(CertifiedProduct.product_id)
        )
        return list((await self.session.scalars(stmt)).all())

    async def replace(self, partner_id: uuid.UUID, product_ids: Sequence[uuid.UUID], now: datetime) -> None:
        await self.session.execute(delete(CertifiedProduct).where(CertifiedProduct.partner_id == partner_id))
        if product_ids:
            rows = [{"partner_id": partner_id, "product_id": p, "certified_at": now} for p in product_ids]
            await self.session.execute(insert(CertifiedProduct), rows)


# Referrals -----------------------------------------------------------------------------------


class ReferralProgramRepository(ScopedRepository[ReferralProgram]):
    """Partners see the active programs (to apply); staff see all."""

    model = ReferralProgram
    label = "Referral program"
    sortable: ClassVar[dict[str, str]] = {"created_at": "created_at", "name": "name"}

    def scope(self) -> ColumnElement[bool]:
        return ReferralProgram.active.is_(True) if self.principal.is_partner else true()

    async def name_taken(self, name: str, other_than: uuid.UUID | None = None) -> bool:
        stmt = select(ReferralProgram.id).where(ReferralProgram.name == name)
        if other_than is not None:
            stmt = stmt.where(ReferralProgram.id != other_than)
        return await self.session.scalar(stmt) is not None


class MembershipRepository(ScopedRepository[ReferralMembership]):
    model = ReferralMembership
    label = "Referral membership"

    def scope(self) -> ColumnElement[bool]:
        return partner_scope(self.principal, ReferralMembership.partner_id, vendor_rows_visible_to_managers=False)

    async def of(self, program_id: uuid.UUID, partner_id: uuid.UUID) -> ReferralMembership | None:
        stmt = self.select().where(
            ReferralMembership.program_id == program_id, ReferralMembership.partner_id == partner_id
        )
        found: ReferralMembership | None = await self.session.scalar(stmt)
        return found


class ReferralRepository(ScopedRepository[Referral]):
    model = Referral
    label = "Referral"

    def scope(self) -> ColumnElement[bool]:
        return partner_scope(self.principal, Referral.partner_id, vendor_rows_visible_to_managers=False)


class ReferralStore:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def program(self, program_id: uuid.UUID) -> ReferralProgram | None:
        return await self.session.get(ReferralProgram, program_id)

    async def for_lead(self, lead_id: uuid.UUID) -> Referral | None:
        found: Referral | None = await self.session.scalar(select(Referral).where(Referral.lead_id == lead_id))
        return found

    async def move(self, from_lead: uuid.UUID, to_lead: uuid.UUID) -> None:
        """A merged duplicate's referral follows the lead that stays (unless that one has its own)."""
        if await self.for_lead(to_lead) is None:
            await self.session.execute(
                update(Referral)
                .where(Referral.lead_id == from_lead)
                .values(lead_id=to_lead, version=Referral.version + 1)
                .execution_options(synchronize_session=False)
            )

    async def link_opportunity(self, lead_id: uuid.UUID, opportunity_id: uuid.UUID, now: datetime) -> None:
        await self.session.execute(
            update(Referral)
            .where(Referral.lead_id == lead_id, Referral.opportunity_id.is_(None))
            .values(opportunity_id=opportunity_id, updated_at=now, version=Referral.version + 1)
            .execution_options(synchronize_session=False)
        )

    async def awaiting_win(self) -> list[Row[Any]]:
        """Accepted referrals whose lead became an opportunity (checked for Closed Won by the timer)."""
        stmt = (
            select(Referral.id, Referral.opportunity_id)
            .where(Referral.status == ReferralStatus.ACCEPTED, Referral.opportunity_id.is_not(None))
            .limit(BATCH)
        )
        return list((await self.session.execute(stmt)).all())

    async def mark_won(self, referral_ids: Collection[uuid.UUID], now: datetime) -> Sequence[Row[Any]]:
        """accepted -> won, once: a repeated or concurrent run finds nothing left to mark."""
        stmt = (
            update(Referral)
            .where(Referral.id.in_(list(referral_ids)), Referral.status == ReferralStatus.ACCEPTED)
            .values(status=ReferralStatus.WON, won_at=now, updated_at=now, version=Referral.version + 1)
            .returning(Referral.id, Referral.program_id, Referral.partner_id, Referral.opportunity_id)
            .execution_options(synchronize_session=False)
        )
        return (await self.session.execute(stmt)).all()

    async def record_fee(self, referral_id: uuid.UUID, fee_minor: int, credit_id: uuid.UUID) -> None:
        await self.session.execute(
            update(Referral)
            .where(Referral.id == referral_id)
            .values(fee_minor=fee_minor, credit_id=credit_id)
            .execution_options(synchronize_session=False)
        )
