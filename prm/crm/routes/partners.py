from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, Response, get, patch, post, put
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.activity import ActivityRead
from prm.core.auth import EVERYONE, VENDOR_READERS, Principal, Role, allow
from prm.core.convert import to_page, to_read
from prm.core.history import history_of
from prm.core.idempotency import idempotent_create
from prm.core.pagination import Page, PageRequest
from prm.crm.models import PartnerTier
from prm.crm.repository import PartnerRepository
from prm.crm.schemas import ChannelManagerAssignment, PartnerCreate, PartnerRead, PartnerUpdate
from prm.crm.services import partners as service


class PartnerController(Controller):
    path = "/partners"
    tags = ["partners"]
    guards = [allow(*EVERYONE)]

    @post("/", guards=[allow(Role.VENDOR_ADMIN)], summary="Create a partner organisation")
    async def create_partner(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, data: PartnerCreate
    ) -> Response[PartnerRead]:
        async def create() -> PartnerRead:
            return to_read(await service.create_partner(db_session, principal=principal, data=data), PartnerRead)

        return await idempotent_create(request, db_session, principal, create, PartnerRead)

    @get("/", summary="List partners you may see")
    async def list_partners(
        self,
        db_session: AsyncSession,
        principal: Principal,
        page: PageRequest,
        tier: PartnerTier | None = None,
        active: bool | None = None,
        q: str | None = None,
    ) -> Page[PartnerRead]:
        rows, cursor = await service.list_partners(
            db_session, principal=principal, page=page, tier=tier, active=active, q=q
        )
        return to_page(rows, cursor, PartnerRead)

    @get("/{partner_id:uuid}")
    async def get_partner(self, db_session: AsyncSession, principal: Principal, partner_id: uuid.UUID) -> PartnerRead:
        return to_read(await service.get_partner(db_session, principal=principal, partner_id=partner_id), PartnerRead)

    @patch("/{partner_id:uuid}", guards=[allow(Role.VENDOR_ADMIN)])
    async def update_partner(
        self, db_session: AsyncSession, principal: Principal, partner_id: uuid.UUID, data: PartnerUpdate
    ) -> PartnerRead:
        partner = await service.update_partner(db_session, principal=principal, partner_id=partner_id, data=data)
        return to_read(partner, PartnerRead)

    @get("/{partner_id:uuid}/channel-managers", guards=[allow(*VENDOR_READERS)])
    async def get_channel_managers(
        self, db_session: AsyncSession, principal: Principal, partner_id: uuid.UUID
    ) -> ChannelManagerAssignment:
        ids = await service.channel_managers_of(db_session, principal=principal, partner_id=partner_id)
        return ChannelManagerAssignment(channel_manager_ids=ids)

    @put("/{partner_id:uuid}/channel-managers", guards=[allow(Role.VENDOR_ADMIN)])
    async def set_channel_managers(
        self, db_session: AsyncSession, principal: Principal, partner_id: uuid.UUID, data: ChannelManagerAssignment
    ) -> ChannelManagerAssignment:
        ids = await service.assign_channel_managers(
            db_session, principal=principal, partner_id=partner_id, manager_ids=data.channel_manager_ids
        )
        return ChannelManagerAssignment(channel_manager_ids=ids)

    @get("/{partner_id:uuid}/history")
    async def partner_history(
        self, db_session: AsyncSession, principal: Principal, partner_id: uuid.UUID, page: PageRequest
    ) -> Page[ActivityRead]:
        repo = PartnerRepository(db_session, principal)
        return await history_of(db_session, repo, partner_id, page, entity="partner")
