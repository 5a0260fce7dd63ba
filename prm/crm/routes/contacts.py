from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.activity import ActivityRead
from prm.core.auth import EVERYONE, WRITERS, Principal, Role, allow
from prm.core.convert import to_page, to_read
from prm.core.history import history_of
from prm.core.idempotency import idempotent_create
from prm.core.pagination import Page, PageRequest
from prm.crm.repository import ContactRepository
from prm.crm.schemas import ContactCreate, ContactRead, ContactUpdate
from prm.crm.services import contacts as service


class ContactController(Controller):
    path = "/contacts"
    tags = ["contacts"]
    guards = [allow(*EVERYONE)]

    @post("/", guards=[allow(*WRITERS)], summary="Add a contact to an account you can see")
    async def create_contact(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, data: ContactCreate
    ) -> Response[ContactRead]:
        async def create() -> ContactRead:
            return to_read(await service.create_contact(db_session, principal=principal, data=data), ContactRead)

        return await idempotent_create(request, db_session, principal, create, ContactRead)

    @get("/", summary="List contacts you may see")
    async def list_contacts(
        self,
        db_session: AsyncSession,
        principal: Principal,
        page: PageRequest,
        account_id: uuid.UUID | None = None,
        email: Annotated[str | None, Parameter(max_length=320)] = None,
        q: Annotated[str | None, Parameter(max_length=100, description="First or last name contains")] = None,
    ) -> Page[ContactRead]:
        rows, cursor = await service.list_contacts(
            db_session, principal=principal, page=page, account_id=account_id, email=email, q=q
        )
        return to_page(rows, cursor, ContactRead)

    @get("/{contact_id:uuid}")
    async def get_contact(self, db_session: AsyncSession, principal: Principal, contact_id: uuid.UUID) -> ContactRead:
        return to_read(await service.get_contact(db_session, principal=principal, contact_id=contact_id), ContactRead)

    @delete(
        "/{contact_id:uuid}", guards=[allow(Role.VENDOR_ADMIN)], summary="Delete (a connected peer gets a tombstone)"
    )
    async def delete_contact(
        self, db_session: AsyncSession, principal: Principal, contact_id: uuid.UUID, expected_version: int | None = None
    ) -> None:
        await service.delete_contact(
            db_session, principal=principal, contact_id=contact_id, expected_version=expected_version
        )

    @patch("/{contact_id:uuid}", guards=[allow(*WRITERS)])
    async def update_contact(
        self, db_session: AsyncSession, principal: Principal, contact_id: uuid.UUID, data: ContactUpdate
    ) -> ContactRead:
        contact = await service.update_contact(db_session, principal=principal, contact_id=contact_id, data=data)
        return to_read(contact, ContactRead)

    @get("/{contact_id:uuid}/history")
    async def contact_history(
        self, db_session: AsyncSession, principal: Principal, contact_id: uuid.UUID, page: PageRequest
    ) -> Page[ActivityRead]:
        repo = ContactRepository(db_session, principal)
        return await history_of(db_session, repo, contact_id, page, entity="contact")
