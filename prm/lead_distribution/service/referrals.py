"""The lead referral program: the vendor sets the terms and fee, partners apply or are invited
and approved, referral partners submit leads, the vendor accepts or rejects them, and a referral
whose opportunity is won earns the fee in the credit ledger (once)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.activity import record_activity
from prm.core.auth import Principal
from prm.core.changes import expect_version
from prm.core.errors import Conflict, Forbidden, NotFound, RuleViolation
from prm.core.pagination import PageRequest
from prm.core.records import record_created, record_updated
from prm.credits.service import record_credit
from prm.crm.models import LeadSource, LeadStatus
from prm.crm.schemas import LeadCreate
from prm.crm.services import lead_pipeline
from prm.crm.services.partners import get_partner
from prm.lead_distribution.models import (
    MembershipStatus,
    Referral,
    ReferralMembership,
    ReferralProgram,
    ReferralStatus,
)
from prm.lead_distribution.repository import (
    MembershipRepository,
    ReferralProgramRepository,
    ReferralRepository,
    ReferralStore,
)
from prm.lead_distribution.schemas import (
    Application,
    Invitation,
    MembershipDecision,
    ReferralCreate,
    ReferralDecision,
    ReferralProgramCreate,
    ReferralProgramUpdate,
    ReferralRead,
)
from prm.lead_distribution.service import intake
from prm.lead_distribution.service.state import DISQUALIFIABLE

M = MembershipStatus
REOPENABLE = (M.REJECTED, M.DECLINED)


# Programs ------------------------------------------------------------------------------------


async def create_program(
    session: AsyncSession, *, principal: Principal, data: ReferralProgramCreate
) -> ReferralProgram:
    if (data.fee_minor is None) == (data.fee_bps is None):
        raise RuleViolation("Give the referral fee either as fee_minor or as fee_bps.", field="fee_minor")
    if await ReferralProgramRepository(session, principal).name_taken(data.name):
        raise Conflict(f"A referral program named {data.name!r} already exists.", field="name")
    program = ReferralProgram(
        name=data.name,
        terms=data.terms,
        fee_minor=data.fee_minor,
        fee_bps=data.fee_bps,
        currency=data.currency,
        active=True,
    )
    session.add(program)
    await record_created(
        session,
        program,
        entity="referral_program",
        principal=principal,
        fields=("name", "fee_minor", "fee_bps", "currency"),
    )
    return program


async def update_program(
    session: AsyncSession, *, principal: Principal, program_id: uuid.UUID, data: ReferralProgramUpdate
) -> ReferralProgram:
    repo = ReferralProgramRepository(session, principal)
    program = await repo.get(program_id)
    if isinstance(data.name, str) and await repo.name_taken(data.name, program_id):
        raise Conflict(f"A referral program named {data.name!r} already exists.", field="name")
    await record_updated(session, program, data, entity="referral_program", principal=principal)
    return program


async def list_programs(
    session: AsyncSession, *, principal: Principal, page: PageRequest
) -> tuple[list[ReferralProgram], str | None]:
    return await ReferralProgramRepository(session, principal).page(page)


async def get_program(session: AsyncSession, *, principal: Principal, program_id: uuid.UUID) -> ReferralProgram:
    return await ReferralProgramRepository(session, principal).get(program_id)


# Memberships ---------------------------------------------------------------------------------


async def _open_membership(
    session: AsyncSession,
    principal: Principal,
    program_id: uuid.UUID,
    partner_id: uuid.UUID,
    status: MembershipStatus,
    note: str | None,
) -> ReferralMembership:
    existing = await MembershipRepository(session, principal).of(program_id, partner_id)
    if existing is not None and existing.status not in REOPENABLE:
        raise Conflict(
            f"The partner is already {existing.status.value} in this program.", current_state=existing.status.value
        )
    if existing is not None:
        existing.status, existing.note, existing.decided_at, existing.decided_by_id = status, note, None, None
        await session.flush()
        record_activity(
            session,
            entity_type="referral_membership",
            entity_id=existing.id,
            action=status.value,
            actor=principal,
            note=note,
        )
        return existing
    membership = ReferralMembership(program_id=program_id, partner_id=partner_id, status=status, note=note)
    session.add(membership)
    await record_created(
        session,
        membership,
        entity="referral_membership",
        principal=principal,
        fields=("program_id", "partner_id", "status"),
    )
    return membership


async def invite(
    session: AsyncSession, *, principal: Principal, program_id: uuid.UUID, data: Invitation
) -> ReferralMembership:
    await get_program(session, principal=principal, program_id=program_id)
    try:
        await get_partner(session, principal=principal, partner_id=data.partner_id)
    except NotFound as exc:
        raise RuleViolation(exc.detail, field="partner_id") from exc
    return await _open_membership(session, principal, program_id, data.partner_id, M.INVITED, data.note)


async def apply(
    session: AsyncSession, *, principal: Principal, program_id: uuid.UUID, data: Application
) -> ReferralMembership:
    if principal.partner_id is None:
        raise Forbidden("Partners apply to referral programs.")
    await get_program(session, principal=principal, program_id=program_id)
    return await _open_membership(session, principal, program_id, principal.partner_id, M.APPLIED, data.note)


async def _decide_membership(
    session: AsyncSession,
    principal: Principal,
    membership_id: uuid.UUID,
    data: MembershipDecision,
    *,
    waiting: MembershipStatus,
    yes: MembershipStatus,
    no: MembershipStatus,
) -> ReferralMembership:
    membership = await MembershipRepository(session, principal).get(membership_id)
    expect_version(membership, data.expected_version)
    if membership.status is not waiting:
        raise Conflict(
            f"The membership is {membership.status.value}, not {waiting.value}.", current_state=membership.status.value
        )
    before = membership.status
    membership.status = yes if data.approve else no
    membership.decided_at, membership.decided_by_id = session.info["clock"].now(), principal.user_id
    membership.note = data.note or membership.note
    await session.flush()
    record_activity(
        session,
        entity_type="referral_membership",
        entity_id=membership.id,
        action=membership.status.value,
        actor=principal,
        changes={"status": [before.value, membership.status.value]},
        note=data.note,
    )
    return membership


async def decide_application(
    session: AsyncSession, *, principal: Principal, membership_id: uuid.UUID, data: MembershipDecision
) -> ReferralMembership:
    """The vendor approves or rejects a partner's application."""
    return await _decide_membership(
        session, principal, membership_id, data, waiting=M.APPLIED, yes=M.APPROVED, no=M.REJECTED
    )


async def answer_invitation(
    session: AsyncSession, *, principal: Principal, membership_id: uuid.UUID, data: MembershipDecision
) -> ReferralMembership:
    """The invited partner accepts (and is approved) or declines."""
    if not principal.is_partner:
        raise Forbidden("The invited partner answers its invitation.")
    return await _decide_membership(
        session, principal, membership_id, data, waiting=M.INVITED, yes=M.APPROVED, no=M.DECLINED
    )


async def list_memberships(
    session: AsyncSession,
    *,
    principal: Principal,
    page: PageRequest,
    program_id: uuid.UUID | None,
    status: MembershipStatus | None,
) -> tuple[list[ReferralMembership], str | None]:
    filters = []
    if program_id is not None:
        filters.append(ReferralMembership.program_id == program_id)
    if status is not None:
        filters.append(ReferralMembership.status == status)
    return await MembershipRepository(session, principal).page(page, *filters)


# Referrals -----------------------------------------------------------------------------------


async def submit(session: AsyncSession, *, principal: Principal, data: ReferralCreate) -> Referral:
    """An approved referral partner hands a lead to the vendor."""
    if principal.partner_id is None:
        raise Forbidden("Referral partners submit referrals.")
    try:
        program = await get_program(session, principal=principal, program_id=data.program_id)
    except NotFound as exc:
        raise RuleViolation(exc.detail, field="program_id") from exc
    membership = await MembershipRepository(session, principal).of(program.id, principal.partner_id)
    if membership is None or membership.status is not M.APPROVED:
        raise RuleViolation(
            "Your organisation is not an approved partner of this referral program.", field="program_id"
        )
    fields = {k: getattr(data, k) for k in data.__struct_fields__ if k != "program_id"}
    lead = await intake.create(session, principal=principal, data=LeadCreate(**fields, source=LeadSource.REFERRAL))
    referral = Referral(
        program_id=program.id,
        partner_id=principal.partner_id,
        submitted_by_id=principal.user_id,
        lead_id=lead.id,
        status=ReferralStatus.SUBMITTED,
    )
    session.add(referral)
    await record_created(
        session,
        referral,
        entity="referral",
        principal=principal,
        fields=("program_id", "partner_id", "lead_id", "status"),
    )
    return referral


async def decide(
    session: AsyncSession, *, principal: Principal, referral_id: uuid.UUID, data: ReferralDecision
) -> Referral:
    """Accepted: the lead joins the vendor's pipeline. Rejected: the lead is disqualified."""
    referral = await ReferralRepository(session, principal).get(referral_id)
    expect_version(referral, data.expected_version)
    if referral.status is not ReferralStatus.SUBMITTED:
        raise Conflict(f"The referral is already {referral.status.value}.", current_state=referral.status.value)
    referral.status = ReferralStatus.ACCEPTED if data.accept else ReferralStatus.REJECTED
    referral.decided_at, referral.decided_by_id = session.info["clock"].now(), principal.user_id
    referral.decision_note = data.note
    await session.flush()
    record_activity(
        session,
        entity_type="referral",
        entity_id=referral.id,
        action=referral.status.value,
        actor=principal,
        changes={"status": ["submitted", referral.status.value]},
        note=data.note,
    )
    if not data.accept:
        lead = await lead_pipeline.load(session, referral.lead_id)
        if lead.status in DISQUALIFIABLE:
            await lead_pipeline.change(
                session,
                lead,
                action="disqualified",
                actor=principal,
                status=LeadStatus.DISQUALIFIED,
                values={"disqualified_reason": "other"},
                note=f"referral rejected: {data.note or 'no reason given'}",
            )
    return referral


async def list_referrals(
    session: AsyncSession, *, principal: Principal, page: PageRequest, status: ReferralStatus | None
) -> tuple[list[Referral], str | None]:
    filters = [Referral.status == status] if status is not None else []
    return await ReferralRepository(session, principal).page(page, *filters)


async def get_referral(session: AsyncSession, *, principal: Principal, referral_id: uuid.UUID) -> Referral:
    return await ReferralRepository(session, principal).get(referral_id)


async def read_many(session: AsyncSession, referrals: list[Referral]) -> list[ReferralRead]:

    leads = await lead_pipeline.leads_by_id(session, [r.lead_id for r in referrals])
    return [
        msgspec.structs.replace(
            msgspec.convert(r, ReferralRead, from_attributes=True),
            company=leads[r.lead_id].company if r.lead_id in leads else "",
        )
        for r in referrals
    ]


# The fee -------------------------------------------------------------------------------------


def fee_of(program: ReferralProgram, won_amount_minor: int) -> tuple[int, int]:
    """(basis, fee) in minor units: the fixed fee, or the share of the won amount, half-even to the unit."""
    if program.fee_minor is not None:
        return won_amount_minor, program.fee_minor
    share = Decimal(won_amount_minor) * Decimal(program.fee_bps or 0) / Decimal(10_000)
    return won_amount_minor, int(share.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


async def credit_won_referrals(session: AsyncSession, now: datetime) -> int:
    """Timer: accepted referrals whose opportunity is Closed Won -> won, and the fee credited once."""
    store = ReferralStore(session)
    waiting = await store.awaiting_win()
    won = await lead_pipeline.won_opportunities(session, [r.opportunity_id for r in waiting])
    rows = await store.mark_won([r.id for r in waiting if r.opportunity_id in won], now) if won else []
    for row in rows:
        program = await store.program(row.program_id)
        assert program is not None  # a foreign key
        opportunity = won[row.opportunity_id]
        basis, fee = fee_of(program, opportunity.amount_minor)
        credit = await record_credit(
            session,
            partner_id=row.partner_id,
            source_type="referral",
            source_id=row.id,
            description=f"Referral fee ({program.name})",
            basis_minor=basis,
            rate_bps=program.fee_bps,
            amount_minor=fee,
            currency=program.currency,
        )
        await store.record_fee(row.id, fee, credit.id)
        record_activity(
            session,
            entity_type="referral",
            entity_id=row.id,
            action="won",
            actor=None,
            changes={"status": ["accepted", "won"], "fee_minor": [None, fee]},
        )
    return len(rows)
