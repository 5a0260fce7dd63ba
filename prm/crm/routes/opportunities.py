from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from litestar import Controller, Request, Response, delete, get, patch, post
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.activity import ActivityRead
from prm.core.auth import EVERYONE, WRITERS, Principal, Role, allow
from prm.core.convert import to_page, to_read
from prm.core.history import history_of
from prm.core.idempotency import idempotent_create
from prm.core.pagination import Page, PageRequest
from prm.crm.models import OpportunityStage
from prm.crm.repository import OpportunityRepository
from prm.crm.schemas import OpportunityCreate, OpportunityRead, OpportunityUpdate
from prm.crm.services import opportunities as service
from prm.crm.services.opportunities import Channel


class OpportunityController(Controller):
    path = "/opportunities"
    tags = ["opportunities"]
    guards = [allow(*EVERYONE)]

    @post("/", guards=[allow(*WRITERS)], summary="Create an opportunity (a partner on it makes it indirect)")
    async def create_opportunity(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, data: OpportunityCreate
    ) -> Response[OpportunityRead]:
        async def create() -> OpportunityRead:
            opportunity = await service.create_opportunity(db_session, principal=principal, data=data)
            return to_read(opportunity, OpportunityRead)

        return await idempotent_create(request, db_session, principal, create, OpportunityRead)

    @get("/", summary="List opportunities you may see")
    async def list_opportunities(
        self,
        db_session: AsyncSession,
        principal: Principal,
        page: PageRequest,
        stage: OpportunityStage | None = None,
        partner_id: uuid.UUID | None = None,
        account_id: uuid.UUID | None = None,
        channel: Channel | None = None,
        close_date_from: date | None = None,
        close_date_to: date | None = None,
    ) -> Page[OpportunityRead]:
        rows, cursor = await service.list_opportunities(
            db_session,
            principal=principal,
            page=page,
            stage=stage,
            partner_id=partner_id,
            account_id=account_id,
            channel=channel,
            close_date_from=close_date_from,
            close_date_to=close_date_to,
        )
        return to_page(rows, cursor, OpportunityRead)

    @get("/{opportunity_id:uuid}")
    async def get_opportunity(
        self, db_session: AsyncSession, principal: Principal, opportunity_id: uuid.UUID
    ) -> OpportunityRead:
        opportunity = await service.get_opportunity(db_session, principal=principal, opportunity_id=opportunity_id)
        return to_read(opportunity, OpportunityRead)

    @delete(
        "/{opportunity_id:uuid}",
        guards=[allow(Role.VENDOR_ADMIN)],
        summary="Delete (a connected peer gets a tombstone)",
    )
    async def delete_opportunity(
        self,
        db_session: AsyncSession,
        principal: Principal,
        opportunity_id: uuid.UUID,
        expected_version: int | None = None,
    ) -> None:
        await service.delete_opportunity(
            db_session, principal=principal, opportunity_id=opportunity_id, expected_version=expected_version
        )

    @patch("/{opportunity_id:uuid}", guards=[allow(*WRITERS)])
    async def update_opportunity(
        self, db_session: AsyncSession, principal: Principal, opportunity_id: uuid.UUID, data: OpportunityUpdate
    ) -> OpportunityRead:
        opportunity = await service.update_opportunity(
            db_session, principal=principal, opportunity_id=opportunity_id, data=data
        )
        return to_read(opportunity, OpportunityRead)

    @get("/{opportunity_id:uuid}/history")
    async def opportunity_history(
        self, db_session: AsyncSession, principal: Principal, opportunity_id: uuid.UUID, page: PageRequest
    ) -> Page[ActivityRead]:
        repo = OpportunityRepository(db_session, principal)
        return await history_of(db_session, repo, opportunity_id, page, entity="opportunity")
