"""What the deal pages show beside a registration: the programs and products a partner may pick,
and the records a conflict points at when the viewer may see them. The reads go through the
domain services, so the tenant filter always applies."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.auth import Principal
from prm.core.errors import NotFound
from prm.core.pagination import PageRequest
from prm.crm.models import Account, Opportunity
from prm.crm.repository import ProductRepository
from prm.crm.services.accounts import get_account
from prm.crm.services.opportunities import get_opportunity
from prm.crm.services.products import list_products
from prm.deal_registration.service.programs import list_programs
from prm.portal.deals.forms import ProductChoice, ProgramChoice

CHOICES_SHOWN = 200  # the paging limit; a price list or program list longer than this needs a search box
WORK_SHOWN = 50


async def program_choices(session: AsyncSession, principal: Principal) -> dict[str, ProgramChoice]:
    """Active programs open to the partner (its tier is eligible), as plain values for the form."""
    rows, _ = await list_programs(
        session, principal=principal, page=PageRequest(limit=CHOICES_SHOWN, sort="name"), active=True
    )
    return {
        str(p.id): ProgramChoice(
            id=str(p.id),
            name=p.name,
            currency=p.currency,
            margin_bps=p.margin_bps,
            benefits=p.benefits,
            required_fields=tuple(p.required_fields),
            min_deal_minor=p.min_deal_minor,
        )
        for p in rows
    }


async def product_choices(session: AsyncSession, principal: Principal) -> dict[str, ProductChoice]:
    rows, _ = await list_products(
        session, principal=principal, page=PageRequest(limit=CHOICES_SHOWN, sort="name"), active=True
    )
    return {str(p.id): ProductChoice(id=str(p.id), name=p.name, sku=p.sku) for p in rows}


async def visible_opportunity(
    session: AsyncSession, principal: Principal, opportunity_id: uuid.UUID
) -> Opportunity | None:
    """An opportunity a conflict points at, when the reviewer may see it (else only its kind shows)."""
    try:
        return await get_opportunity(session, principal=principal, opportunity_id=opportunity_id)
    except NotFound:
        return None


async def visible_account(session: AsyncSession, principal: Principal, account_id: uuid.UUID) -> Account | None:
    """The customer account of a conflicting opportunity, when the reviewer may see it."""
    try:
        return await get_account(session, principal=principal, account_id=account_id)
    except NotFound:
        return None


async def product_labels(session: AsyncSession, principal: Principal, ids: Iterable[Any]) -> dict[str, str]:
    """ "Name (SKU)" by product id (as text, as the templates hold ids) for the products the viewer may read."""
    labels = await ProductRepository(session, principal).labels(uuid.UUID(str(i)) for i in ids)
    return {str(product_id): label for product_id, label in labels.items()}
