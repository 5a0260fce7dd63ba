"""The lead referral program: programs, partner memberships (apply / invite, approve), referrals."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, patch, post
from litestar.params import QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.activity import ActivityRead
from prm.core.auth import EVERYONE, PARTNERS, STAFF, Principal, Role, allow
from prm.core.convert import to_page, to_read
from prm.core.history import history_of
from prm.core.idempotency import idempotent_create
from prm.core.pagination import Page, PageRequest
from prm.lead_distribution.models import MembershipStatus, ReferralStatus
from prm.lead_distribution.repository import ReferralProgramRepository, ReferralRepository
from prm.lead_distribution.schemas import (
    Application,
    Invitation,
    MembershipDecision,
    MembershipRead,
    ReferralCreate,
    ReferralDecision,
    ReferralProgramCreate,
    ReferralProgramRead,
    ReferralProgramUpdate,
    ReferralRead,
)
from prm.lead_distribution.service import referrals


class ReferralProgramController(Controller):
    path = "/distribution/referral-programs"
    tags = ["lead referrals"]
    guards = [allow(*EVERYONE)]

    @post("/", guards=[allow(Role.VENDOR_ADMIN)], summary="Create a referral program: terms and fee")
    async def create_program(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        principal: Principal,
        data: ReferralProgramCreate,
    ) -> Response[ReferralProgramRead]:
        async def create() -> ReferralProgramRead:
            program = await referrals.create_program(db_session, principal=principal, data=data)
            return to_read(program, ReferralProgramRead)

        return await idempotent_create(request, db_session, principal, create, ReferralProgramRead)

    @get("/", summary="Referral programs (partners: the active ones)")
    async def list_programs(
        self, db_session: AsyncSession, principal: Principal, page: PageRequest
    ) -> Page[ReferralProgramRead]:
        rows, cursor = await referrals.list_programs(db_session, principal=principal, page=page)
        return to_page(rows, cursor, ReferralProgramRead)

    @get("/{program_id:uuid}")
    async def get_program(
        self, db_session: AsyncSession, principal: Principal, program_id: uuid.UUID
    ) -> ReferralProgramRead:
        program = await referrals.get_program(db_session, principal=principal, program_id=program_id)
        return to_read(program, ReferralProgramRead)

    @get("/{program_id:uuid}/history", summary="Every change: who, when (UTC), what")
    async def program_history(
        self, db_session: AsyncSession, principal: Principal, program_id: uuid.UUID, page: PageRequest
    ) -> Page[ActivityRead]:
        return await history_of(
            db_session, ReferralProgramRepository(db_session, principal), program_id, page, entity="referral_program"
        )

    @patch("/{program_id:uuid}", guards=[allow(Role.VENDOR_ADMIN)])
    async def update_program(
        self, db_session: AsyncSession, principal: Principal, program_id: uuid.UUID, data: ReferralProgramUpdate
    ) -> ReferralProgramRead:
        program = await referrals.update_program(db_session, principal=principal, program_id=program_id, data=data)
        return to_read(program, ReferralProgramRead)

    @post("/{program_id:uuid}/invitations", guards=[allow(*STAFF)], summary="Invite a partner to the program")
    async def invite(
        self, db_session: AsyncSession, principal: Principal, program_id: uuid.UUID, data: Invitation
    ) -> MembershipRead:
        membership = await referrals.invite(db_session, principal=principal, program_id=program_id, data=data)
        return to_read(membership, MembershipRead)

    @post("/{program_id:uuid}/applications", guards=[allow(*PARTNERS)], summary="Apply to become a referral partner")
    async def apply(
        self, db_session: AsyncSession, principal: Principal, program_id: uuid.UUID, data: Application
    ) -> MembershipRead:
        membership = await referrals.apply(db_session, principal=principal, program_id=program_id, data=data)
        return to_read(membership, MembershipRead)


class MembershipController(Controller):
    path = "/distribution/referral-memberships"
    tags = ["lead referrals"]
    guards = [allow(*EVERYONE)]

    @get("/", summary="Memberships you may see (partners: their own)")
    async def list_memberships(
        self,
        db_session: AsyncSession,
        principal: Principal,
        page: PageRequest,
        program_id: uuid.UUID | None = None,
        membership_status: Annotated[MembershipStatus | None, QueryParameter(name="status")] = None,
    ) -> Page[MembershipRead]:
        rows, cursor = await referrals.list_memberships(
            db_session, principal=principal, page=page, program_id=program_id, status=membership_status
        )
        return to_page(rows, cursor, MembershipRead)

    @post(
        "/{membership_id:uuid}/decision",
        status_code=200,
        guards=[allow(*STAFF)],
        summary="Approve or reject a partner's application",
    )
    async def decide(
        self, db_session: AsyncSession, principal: Principal, membership_id: uuid.UUID, data: MembershipDecision
    ) -> MembershipRead:
        membership = await referrals.decide_application(
            db_session, principal=principal, membership_id=membership_id, data=data
        )
        return to_read(membership, MembershipRead)

    @post(
        "/{membership_id:uuid}/answer",
        status_code=200,
        guards=[allow(*PARTNERS)],
        summary="Accept (approve=true) or decline an invitation",
    )
    async def answer(
        self, db_session: AsyncSession, principal: Principal, membership_id: uuid.UUID, data: MembershipDecision
    ) -> MembershipRead:
        membership = await referrals.answer_invitation(
            db_session, principal=principal, membership_id=membership_id, data=data
        )
        return to_read(membership, MembershipRead)


class ReferralController(Controller):
    path = "/distribution/referrals"
    tags = ["lead referrals"]
    guards = [allow(*EVERYONE)]

    @post("/", guards=[allow(*PARTNERS)], summary="Refer a lead to the vendor (approved referral partners)")
    async def submit(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, data: ReferralCreate
    ) -> Response[ReferralRead]:
        async def create() -> ReferralRead:
            referral = await referrals.submit(db_session, principal=principal, data=data)
            return (await referrals.read_many(db_session, [referral]))[0]

        return await idempotent_create(request, db_session, principal, create, ReferralRead)

    @get("/", summary="Referrals you may see (partners: their own)")
    async def list_referrals(
        self,
        db_session: AsyncSession,
        principal: Principal,
        page: PageRequest,
        referral_status: Annotated[ReferralStatus | None, QueryParameter(name="status")] = None,
    ) -> Page[ReferralRead]:
        rows, cursor = await referrals.list_referrals(
            db_session, principal=principal, page=page, status=referral_status
        )
        return Page(items=await referrals.read_many(db_session, rows), next_cursor=cursor)

    @get("/{referral_id:uuid}")
    async def get_referral(
        self, db_session: AsyncSession, principal: Principal, referral_id: uuid.UUID
    ) -> ReferralRead:
        referral = await referrals.get_referral(db_session, principal=principal, referral_id=referral_id)
        return (await referrals.read_many(db_session, [referral]))[0]

    @get("/{referral_id:uuid}/history", summary="Every change: who, when (UTC), what")
    async def referral_history(
        self, db_session: AsyncSession, principal: Principal, referral_id: uuid.UUID, page: PageRequest
    ) -> Page[ActivityRead]:
        return await history_of(
            db_session, ReferralRepository(db_session, principal), referral_id, page, entity="referral"
        )

    @post(
        "/{referral_id:uuid}/decision",
        status_code=200,
        guards=[allow(*STAFF)],
        summary="Accept the referral into the pipeline, or reject it",
    )
    async def decide(
        self, db_session: AsyncSession, principal: Principal, referral_id: uuid.UUID, data: ReferralDecision
    ) -> ReferralRead:
        referral = await referrals.decide(db_session, principal=principal, referral_id=referral_id, data=data)
        return (await referrals.read_many(db_session, [referral]))[0]
