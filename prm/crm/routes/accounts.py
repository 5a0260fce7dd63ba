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
from prm.crm.models import AccountKind
from prm.crm.repository import AccountRepository
from prm.crm.schemas import AccountCreate, AccountRead, AccountUpdate
from prm.crm.services import accounts as service


class AccountController(Controller):
    path = "/accounts"
    tags = ["accounts"]
    guards = [allow(*EVERYONE)]

    @post("/", guards=[allow(*WRITERS)], summary="Create an account")
    async def create_account(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, data: AccountCreate
    ) -> Response[AccountRead]:
        async def create() -> AccountRead:
            return to_read(await service.create_account(db_session, principal=principal, data=data), AccountRead)

        return await idempotent_create(request, db_session, principal, create, AccountRead)

    @get("/", summary="List accounts you may see")
    async def list_accounts(
        self,
        db_session: AsyncSession,
        principal: Principal,
        page: PageRequest,
        q: Annotated[str | None, Parameter(max_length=200, description="Name contains")] = None,
        kind: AccountKind | None = None,
        country: Annotated[str | None, Parameter(pattern=r"^[A-Za-z]{2}$")] = None,
        partner_id: uuid.UUID | None = None,
    ) -> Page[AccountRead]:
        rows, cursor = await service.list_accounts(
            db_session, principal=principal, page=page, q=q, kind=kind, country=country, partner_id=partner_id
        )
        return to_page(rows, cursor, AccountRead)

    @get("/{account_id:uuid}")
    async def get_account(self, db_session: AsyncSession, principal: Principal, account_id: uuid.UUID) -> AccountRead:
        return to_read(await service.get_account(db_session, principal=principal, account_id=account_id), AccountRead)

    @delete(
        "/{account_id:uuid}", guards=[allow(Role.VENDOR_ADMIN)], summary="Delete (a connected peer gets a tombstone)"
    )
    async def delete_account(
        self, db_session: AsyncSession, principal: Principal, account_id: uuid.UUID, expected_version: int | None = None
    ) -> None:
        await service.delete_account(
            db_session, principal=principal, account_id=account_id, expected_version=expected_version
        )

    @patch("/{account_id:uuid}", guards=[allow(*WRITERS)])
    async def update_account(
        self, db_session: AsyncSession, principal: Principal, account_id: uuid.UUID, data: AccountUpdate
    ) -> AccountRead:
        account = await service.update_account(db_session, principal=principal, account_id=account_id, data=data)
        return to_read(account, AccountRead)

    @get("/{account_id:uuid}/history")
    async def account_history(
        self, db_session: AsyncSession, principal: Principal, account_id: uuid.UUID, page: PageRequest
    ) -> Page[ActivityRead]:
        repo = AccountRepository(db_session, principal)
        return await history_of(db_session, repo, account_id, page, entity="account")
