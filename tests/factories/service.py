"""Shared factories for service-level tests: records made through the services, as users would.

Each takes an open session (a unit of work) and the `World`'s actors; what it makes is exactly
what the same request through the API would leave (history, outbox rows, protected opportunity).
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.auth import Principal
from prm.crm.schemas import ProductCreate
from prm.crm.services.products import create_product
from prm.deal_registration.models import DealProgram, DealRegistration
from prm.deal_registration.schemas import Approve, ProductLine, ProgramCreate, RegistrationCreate
from prm.deal_registration.service import programs, registrations, review
from tests.conftest import Actor


def principal(actor: Actor) -> Principal:
    return Principal(user_id=actor.user_id, role=actor.role, partner_id=actor.partner_id, email=actor.email)


async def make_products(session: AsyncSession, admin: Actor, *skus: str) -> list[uuid.UUID]:
    made = []
    for sku in skus or ("FW-100",):
        data = ProductCreate(sku=sku, name=sku, list_price_minor=500_00, currency="USD")
        made.append((await create_product(session, principal=principal(admin), data=data)).id)
    return made


async def make_program(session: AsyncSession, admin: Actor, **overrides: Any) -> DealProgram:
    values: dict[str, Any] = {"name": "Rules program", "margin_bps": 500, "currency": "USD"}
    values.update(overrides)
    return await programs.create_program(
        session, principal=principal(admin), data=msgspec.convert(values, ProgramCreate)
    )


def registration_data(
    program: DealProgram, product_ids: list[uuid.UUID], today: date, **overrides: Any
) -> RegistrationCreate:
    values: dict[str, Any] = {
        "program_id": program.id,
        "customer_name": "Umbrella Corporation",
        "customer_website": "https://umbrella.example",
        "customer_country": "US",
        "contact_name": "Albert Wesker",
        "contact_email": "wesker@umbrella.example",
        "products": [ProductLine(product_id=p) for p in product_ids],
        "estimated_amount_minor": 20_000_00,
        "currency": "USD",
        "current_situation": "Replacing a firewall fleet",
        "expected_close_date": today + timedelta(days=60),
        "submit": True,
    }
    values.update(overrides)
    return RegistrationCreate(**values)


async def register(
    session: AsyncSession, seller: Actor, program: DealProgram, product_ids: list[uuid.UUID], **overrides: Any
) -> DealRegistration:
    today = session.info["clock"].now().date()
    data = registration_data(program, product_ids, today, **overrides)
    return (await registrations.create_registration(session, principal=principal(seller), data=data)).registration


async def approved(
    session: AsyncSession,
    seller: Actor,
    manager: Actor,
    program: DealProgram,
    product_ids: list[uuid.UUID],
    **overrides: Any,
) -> DealRegistration:
    registration = await register(session, seller, program, product_ids, **overrides)
    decision = Approve(expected_version=registration.version)
    return await review.approve(session, principal=principal(manager), registration_id=registration.id, data=decision)
