from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, Response, delete, get, patch, post
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.activity import ActivityRead
from prm.core.auth import EVERYONE, STAFF, WRITERS, Principal, Role, allow
from prm.core.convert import to_page, to_read
from prm.core.history import history_of
from prm.core.idempotency import idempotent_create
from prm.core.pagination import Page, PageRequest
from prm.crm.models import LeadSource, LeadStatus
from prm.crm.repository import LeadRepository
from prm.crm.schemas import LeadCreate, LeadRead, LeadUpdate
from prm.crm.services import leads as service


class LeadController(Controller):
    path = "/leads"
    tags = ["leads"]
    guards = [allow(*EVERYONE)]

    @post("/", guards=[allow(*STAFF)], summary="Create a vendor lead (unassigned)")
    async def create_lead(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, data: LeadCreate
    ) -> Response[LeadRead]:
        async def create() -> LeadRead:
            return to_read(await service.create_lead(db_session, principal=principal, data=data), LeadRead)

        return await idempotent_create(request, db_session, principal, create, LeadRead)

    @get("/", summary="List leads you may see (partners: those assigned to them)")
    async def list_leads(
        self,
        db_session: AsyncSession,
        principal: Principal,
        page: PageRequest,
        status: LeadStatus | None = None,
        source: LeadSource | None = None,
        campaign_id: uuid.UUID | None = None,
        partner_id: uuid.UUID | None = None,
    ) -> Page[LeadRead]:
        rows, cursor = await service.list_leads(
            db_session,
            principal=principal,
            page=page,
            status=status,
            source=source,
            campaign_id=campaign_id,
            partner_id=partner_id,
        )
        return to_page(rows, cursor, LeadRead)

    @get("/{lead_id:uuid}")
    async def get_lead(self, db_session: AsyncSession, principal: Principal, lead_id: uuid.UUID) -> LeadRead:
        return to_read(await service.get_lead(db_session, principal=principal, lead_id=lead_id), LeadRead)

    @delete("/{lead_id:uuid}", guards=[allow(Role.VENDOR_ADMIN)], summary="Delete (a connected peer gets a tombstone)")
    async def delete_lead(
        self, db_session: AsyncSession, principal: Principal, lead_id: uuid.UUID, expected_version: int | None = None
    ) -> None:
        await service.delete_lead(db_session, principal=principal, lead_id=lead_id, expected_version=expected_version)

    @patch("/{lead_id:uuid}", guards=[allow(*WRITERS)])
    async def update_lead(
        self, db_session: AsyncSession, principal: Principal, lead_id: uuid.UUID, data: LeadUpdate
    ) -> LeadRead:
        lead = await service.update_lead(db_session, principal=principal, lead_id=lead_id, data=data)
        return to_read(lead, LeadRead)

    @get("/{lead_id:uuid}/history")
    async def lead_history(
        self, db_session: AsyncSession, principal: Principal, lead_id: uuid.UUID, page: PageRequest
    ) -> Page[ActivityRead]:
        repo = LeadRepository(db_session, principal)
        return await history_of(db_session, repo, lead_id, page, entity="lead")
