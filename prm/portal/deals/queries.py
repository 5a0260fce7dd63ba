"""Read-side queries the deal pages need that the deal registration services do not offer.

Every query starts from a scoped repository's `select()`, so the tenant filter always applies:
a partner reads its own rows, a channel manager those of the partners assigned to them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.auth import Principal
from prm.core.errors import NotFound
from prm.core.pagination import PageRequest
from prm.credits.models import Credit
from prm.credits.service import CreditRepository
from prm.crm.models import Account, Opportunity, Product
from prm.crm.repository import ProductRepository
from prm.crm.services.accounts import get_account
from prm.crm.services.opportunities import get_opportunity
from prm.crm.services.products import list_products
from prm.deal_registration.models import (
    DealRegistration,
    ExtensionRequest,
    ExtensionStatus,
    ProofStatus,
)
from prm.deal_registration.repository import RegistrationRepository
from prm.deal_registration.service.programs import list_programs
from prm.deal_registration.service.state import ENTITY
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


async def product_names(session: AsyncSession, principal: Principal, ids: Iterable[Any]) -> dict[str, str]:
    wanted = {uuid.UUID(str(i)) for i in ids}
    if not wanted:
        return {}
    stmt = ProductRepository(session, principal).select().where(Product.id.in_(wanted))
    return {str(p.id): f"{p.name} ({p.sku})" for p in await session.scalars(stmt)}


async def credits_for(session: AsyncSession, principal: Principal, registration_id: uuid.UUID) -> list[Credit]:
    """The margin credit a registration earned, if the viewer may see it."""
    stmt = (
        CreditRepository(session, principal)
        .select()
        .where(Credit.source_type == ENTITY, Credit.source_id == registration_id)
    )
    return list((await session.scalars(stmt)).all())


async def proof_to_verify(session: AsyncSession, principal: Principal) -> list[DealRegistration]:
    """Won registrations whose proof of performance waits for the reviewer, oldest close first."""
    stmt = (
        RegistrationRepository(session, principal)
        .select()
        .where(DealRegistration.proof_status == ProofStatus.SUBMITTED)
        .order_by(DealRegistration.closed_at, DealRegistration.id)
        .limit(WORK_SHOWN)
    )
    return list((await session.scalars(stmt)).all())


async def pending_extensions(
    session: AsyncSession, principal: Principal
) -> list[tuple[DealRegistration, ExtensionRequest]]:
    """Extension requests waiting for a decision, oldest first, with their registrations."""
    stmt = (
        RegistrationRepository(session, principal)
        .select()
        .join(ExtensionRequest, ExtensionRequest.registration_id == DealRegistration.id)
        .where(ExtensionRequest.status == ExtensionStatus.PENDING)
        .add_columns(ExtensionRequest)
        .order_by(ExtensionRequest.created_at, ExtensionRequest.id)
        .limit(WORK_SHOWN)
    )
    return [(row[0], row[1]) for row in await session.execute(stmt)]


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


async def chain_links(
    session: AsyncSession, principal: Principal, registration: DealRegistration
) -> tuple[DealRegistration | None, DealRegistration | None]:
    """The submission this one resubmits, and the resubmission that replaced it (each if visible)."""
    repo = RegistrationRepository(session, principal)
    previous = None
    if registration.resubmission_of_id is not None:
        stmt = repo.select().where(DealRegistration.id == registration.resubmission_of_id)
        previous = await session.scalar(stmt)
    stmt = repo.select().where(DealRegistration.resubmission_of_id == registration.id).limit(1)
    return previous, await session.scalar(stmt)
