from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, patch, post
from litestar.params import QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.activity import ActivityRead
from prm.core.auth import STAFF, VENDOR_READERS, Principal, allow
from prm.core.convert import to_page, to_read
from prm.core.history import history_of
from prm.core.idempotency import idempotent_create
from prm.core.pagination import Page, PageRequest
from prm.crm.models import CampaignStatus, MemberStatus
from prm.crm.repository import CampaignRepository
from prm.crm.schemas import (
    CampaignCreate,
    CampaignMemberCreate,
    CampaignMemberRead,
    CampaignMemberUpdate,
    CampaignRead,
    CampaignUpdate,
)
from prm.crm.services import campaigns as service


class CampaignController(Controller):
    """Vendor marketing data: partners are turned away by role (403), before any id is looked at."""

    path = "/campaigns"
    tags = ["campaigns"]
    guards = [allow(*VENDOR_READERS)]

    @post("/", guards=[allow(*STAFF)], summary="Create a campaign (optionally under a parent campaign)")
    async def create_campaign(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, data: CampaignCreate
    ) -> Response[CampaignRead]:
        async def create() -> CampaignRead:
            return to_read(await service.create_campaign(db_session, principal=principal, data=data), CampaignRead)

        return await idempotent_create(request, db_session, principal, create, CampaignRead)

    @get("/", summary="List campaigns")
    async def list_campaigns(
        self,
        db_session: AsyncSession,
        principal: Principal,
        page: PageRequest,
        status: CampaignStatus | None = None,
        parent_id: uuid.UUID | None = None,
        campaign_type: Annotated[str | None, QueryParameter(name="type", max_length=100)] = None,
    ) -> Page[CampaignRead]:
        rows, cursor = await service.list_campaigns(
            db_session, principal=principal, page=page, status=status, parent_id=parent_id, campaign_type=campaign_type
        )
        return to_page(rows, cursor, CampaignRead)

    @get("/{campaign_id:uuid}")
    async def get_campaign(
        self, db_session: AsyncSession, principal: Principal, campaign_id: uuid.UUID
    ) -> CampaignRead:
        campaign = await service.get_campaign(db_session, principal=principal, campaign_id=campaign_id)
        return to_read(campaign, CampaignRead)

    @patch("/{campaign_id:uuid}", guards=[allow(*STAFF)])
    async def update_campaign(
        self, db_session: AsyncSession, principal: Principal, campaign_id: uuid.UUID, data: CampaignUpdate
    ) -> CampaignRead:
        campaign = await service.update_campaign(db_session, principal=principal, campaign_id=campaign_id, data=data)
        return to_read(campaign, CampaignRead)

    @get("/{campaign_id:uuid}/history")
    async def campaign_history(
        self, db_session: AsyncSession, principal: Principal, campaign_id: uuid.UUID, page: PageRequest
    ) -> Page[ActivityRead]:
        repo = CampaignRepository(db_session, principal)
        return await history_of(db_session, repo, campaign_id, page, entity="campaign")

    @post("/{campaign_id:uuid}/members", guards=[allow(*STAFF)], summary="Add a lead or a contact to a campaign")
    async def add_member(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        principal: Principal,
        campaign_id: uuid.UUID,
        data: CampaignMemberCreate,
    ) -> Response[CampaignMemberRead]:
        async def create() -> CampaignMemberRead:
            member = await service.add_member(db_session, principal=principal, campaign_id=campaign_id, data=data)
            return to_read(member, CampaignMemberRead)

        return await idempotent_create(request, db_session, principal, create, CampaignMemberRead)

    @get("/{campaign_id:uuid}/members", summary="The campaign's members")
    async def list_members(
        self,
        db_session: AsyncSession,
        principal: Principal,
        campaign_id: uuid.UUID,
        page: PageRequest,
        status: MemberStatus | None = None,
    ) -> Page[CampaignMemberRead]:
        rows, cursor = await service.list_members(
            db_session, principal=principal, campaign_id=campaign_id, page=page, status=status
        )
        return to_page(rows, cursor, CampaignMemberRead)

    @patch("/{campaign_id:uuid}/members/{member_id:uuid}", guards=[allow(*STAFF)])
    async def update_member(
        self,
        db_session: AsyncSession,
        principal: Principal,
        campaign_id: uuid.UUID,
        member_id: uuid.UUID,
        data: CampaignMemberUpdate,
    ) -> CampaignMemberRead:
        member = await service.update_member(
            db_session, principal=principal, campaign_id=campaign_id, member_id=member_id, data=data
        )
        return to_read(member, CampaignMemberRead)
