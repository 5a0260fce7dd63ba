"""A deal registration program and products, made through the API by the vendor admin."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import select

from prm.core.outbox import OutboxKind, OutboxMessage
from tests.conftest import World
from tests.factories.deals import make_products, make_program


@dataclass
class Catalog:
    program: dict[str, Any]
    product_ids: list[str]


@pytest.fixture
async def catalog(client: httpx.AsyncClient, world: World) -> Catalog:
    products = await make_products(client, world.admin, "FW-100", "FW-200", "SUP-1Y")
    program = await make_program(
        client,
        world.admin,
        name="Northwind Deal Registration",
        benefits="5% additional margin on registered deals",
        required_fields=["products", "estimated_amount_minor", "contact_email", "expected_close_date"],
        eligible_tiers=["gold", "silver"],
        min_deal_minor=10_000_00,
    )
    return Catalog(program=program, product_ids=products)


def registration_body(catalog: Catalog, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "program_id": catalog.program["id"],
        "customer_name": "Umbrella Corporation",
        "customer_website": "https://www.umbrella.example",
        "customer_country": "US",
        "contact_name": "Albert Wesker",
        "contact_email": "wesker@umbrella.example",
        "products": [{"product_id": catalog.product_ids[0], "quantity": 20}],
        "estimated_amount_minor": 48_000_00,
        "currency": "USD",
        "current_situation": "Replacing an end-of-life firewall fleet",
        "expected_close_date": "2026-06-30",
        "submit": True,
    }
    body.update(overrides)
    return body


async def emails_to(app: Litestar, address: str) -> list[dict[str, Any]]:
    """What the outbox holds for this address (the demo mailbox shows the same rows)."""
    async with app.state.db.session() as session:
        rows = await session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.kind == OutboxKind.EMAIL, OutboxMessage.destination == address)
            .order_by(OutboxMessage.created_at)
        )
        return [row.payload for row in rows]
