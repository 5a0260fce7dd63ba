from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, Response, get, patch, post
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.activity import ActivityRead
from prm.core.auth import EVERYONE, Principal, Role, allow
from prm.core.convert import to_page, to_read
from prm.core.history import history_of
from prm.core.idempotency import idempotent_create
from prm.core.pagination import Page, PageRequest
from prm.crm.repository import UserRepository
from prm.crm.schemas import UserCreate, UserRead, UserUpdate
from prm.crm.services import users as service


class UserController(Controller):
    path = "/users"
    tags = ["users"]
    guards = [allow(*EVERYONE)]

    @post("/", guards=[allow(Role.VENDOR_ADMIN, Role.PARTNER_ADMIN)], summary="Create a user")
    async def create_user(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, data: UserCreate
    ) -> Response[UserRead]:
        async def create() -> UserRead:
            return to_read(await service.create_user(db_session, principal=principal, data=data), UserRead)

        return await idempotent_create(request, db_session, principal, create, UserRead)

    @get("/", summary="List users you may see")
    async def list_users(
        self,
        db_session: AsyncSession,
        principal: Principal,
        page: PageRequest,
        role: Role | None = None,
        partner_id: uuid.UUID | None = None,
    ) -> Page[UserRead]:
        rows, cursor = await service.list_users(
            db_session, principal=principal, page=page, role=role, partner_id=partner_id
        )
        return to_page(rows, cursor, UserRead)

    @get("/me", summary="The signed-in user")
    async def me(self, db_session: AsyncSession, principal: Principal) -> UserRead:
        return to_read(await service.get_user(db_session, principal=principal, user_id=principal.user_id), UserRead)

    @get("/{user_id:uuid}")
    async def get_user(self, db_session: AsyncSession, principal: Principal, user_id: uuid.UUID) -> UserRead:
        return to_read(await service.get_user(db_session, principal=principal, user_id=user_id), UserRead)

    @patch("/{user_id:uuid}")
    async def update_user(
        self, db_session: AsyncSession, principal: Principal, user_id: uuid.UUID, data: UserUpdate
    ) -> UserRead:
        return to_read(await service.update_user(db_session, principal=principal, user_id=user_id, data=data), UserRead)

    @post("/me/sign-out", status_code=204, summary="Sign out everywhere: end all of your sessions")
    async def sign_out_me(self, db_session: AsyncSession, principal: Principal) -> None:
        await service.sign_out_everywhere(db_session, principal=principal, user_id=principal.user_id)

    @post(
        "/{user_id:uuid}/sign-out",
        status_code=204,
        summary="Sign a user out everywhere (yourself, or a user you manage)",
        description="Every access token and portal session the user holds stops working at once.",
    )
    async def sign_out_user(self, db_session: AsyncSession, principal: Principal, user_id: uuid.UUID) -> None:
        await service.sign_out_everywhere(db_session, principal=principal, user_id=user_id)

    @get("/{user_id:uuid}/history")
    async def user_history(
        self, db_session: AsyncSession, principal: Principal, user_id: uuid.UUID, page: PageRequest
    ) -> Page[ActivityRead]:
        return await history_of(db_session, UserRepository(db_session, principal), user_id, page, entity="user")
