from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, patch, post
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.activity import ActivityRead
from prm.core.auth import EVERYONE, Principal, Role, allow
from prm.core.convert import to_page, to_read
from prm.core.history import history_of
from prm.core.idempotency import idempotent_create
from prm.core.pagination import Page, PageRequest
from prm.crm.repository import ProductRepository
from prm.crm.schemas import ProductCreate, ProductRead, ProductUpdate
from prm.crm.services import products as service


class ProductController(Controller):
    path = "/products"
    tags = ["products"]
    guards = [allow(*EVERYONE)]

    @post("/", guards=[allow(Role.VENDOR_ADMIN)], summary="Add a product to the price list")
    async def create_product(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, data: ProductCreate
    ) -> Response[ProductRead]:
        async def create() -> ProductRead:
            return to_read(await service.create_product(db_session, principal=principal, data=data), ProductRead)

        return await idempotent_create(request, db_session, principal, create, ProductRead)

    @get("/", summary="The price list")
    async def list_products(
        self,
        db_session: AsyncSession,
        principal: Principal,
        page: PageRequest,
        active: bool | None = None,
        family: Annotated[str | None, Parameter(max_length=100)] = None,
        q: Annotated[str | None, Parameter(max_length=200, description="Name or SKU contains")] = None,
    ) -> Page[ProductRead]:
        rows, cursor = await service.list_products(
            db_session, principal=principal, page=page, active=active, family=family, q=q
        )
        return to_page(rows, cursor, ProductRead)

    @get("/{product_id:uuid}")
    async def get_product(self, db_session: AsyncSession, principal: Principal, product_id: uuid.UUID) -> ProductRead:
        return to_read(await service.get_product(db_session, principal=principal, product_id=product_id), ProductRead)

    @patch("/{product_id:uuid}", guards=[allow(Role.VENDOR_ADMIN)])
    async def update_product(
        self, db_session: AsyncSession, principal: Principal, product_id: uuid.UUID, data: ProductUpdate
    ) -> ProductRead:
        product = await service.update_product(db_session, principal=principal, product_id=product_id, data=data)
        return to_read(product, ProductRead)

    @get("/{product_id:uuid}/history")
    async def product_history(
        self, db_session: AsyncSession, principal: Principal, product_id: uuid.UUID, page: PageRequest
    ) -> Page[ActivityRead]:
        repo = ProductRepository(db_session, principal)
        return await history_of(db_session, repo, product_id, page, entity="product")
