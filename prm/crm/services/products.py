"""Products and their list prices: the vendor's price list, the same for everyone who reads it."""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.auth import Principal
from prm.core.errors import Conflict
from prm.core.pagination import PageRequest
from prm.core.records import record_created, record_updated
from prm.crm.models import Product
from prm.crm.repository import ProductRepository
from prm.crm.schemas import ProductCreate, ProductUpdate

FIELDS = ("sku", "name", "family", "list_price_minor", "currency", "active")


def _sku_conflict(sku: str) -> Conflict:
    return Conflict(f"A product with SKU {sku!r} already exists.", field="sku")


async def create_product(session: AsyncSession, *, principal: Principal, data: ProductCreate) -> Product:
    if await ProductRepository(session, principal).sku_taken(data.sku):
        raise _sku_conflict(data.sku)
    product = Product(
        sku=data.sku,
        name=data.name,
        family=data.family,
        list_price_minor=data.list_price_minor,
        currency=data.currency,
        active=True,
    )
    session.add(product)
    try:
        await record_created(session, product, entity="product", principal=principal, fields=FIELDS)
    except IntegrityError as exc:  # a concurrent create took the SKU between the check and the insert
        raise _sku_conflict(data.sku) from exc
    return product


async def update_product(
    session: AsyncSession, *, principal: Principal, product_id: uuid.UUID, data: ProductUpdate
) -> Product:
    product = await ProductRepository(session, principal).get(product_id)
    await record_updated(session, product, data, entity="product", principal=principal)
    return product


async def get_product(session: AsyncSession, *, principal: Principal, product_id: uuid.UUID) -> Product:
    return await ProductRepository(session, principal).get(product_id)


async def list_products(
    session: AsyncSession,
    *,
    principal: Principal,
    page: PageRequest,
    active: bool | None = None,
    family: str | None = None,
    q: str | None = None,
) -> tuple[list[Product], str | None]:
    filters: list[ColumnElement[bool]] = []
    if active is not None:
        filters.append(Product.active.is_(active))
    if family:
        filters.append(Product.family == family)
    if q:
        filters.append(Product.name.ilike(f"%{q}%") | Product.sku.ilike(f"%{q}%"))
    return await ProductRepository(session, principal).page(page, *filters)
