"""A deal registration program and products, made through the API by the vendor admin."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import select

from prm.core.clock import ManualClock
from prm.core.outbox import OutboxKind, OutboxMessage
from tests.conftest import World
from tests.factories.deals import Deals, make_deals


@dataclass
class Catalog:
    program: dict[str, Any]
    product_ids: list[str]


@pytest.fixture
async def catalog(client: httpx.AsyncClient, world: World) -> Catalog:
    products = []
    for sku, price in (("FW-100", 500_00), ("FW-200", 1_200_00), ("SUP-1Y", 300_00)):
        reply = await client.post(
            "/api/v1/products",
            json={"sku": sku, "name": sku, "list_price_minor": price, "currency": "USD"},
            headers=world.admin.headers,
        )
        assert reply.status_code == 201, reply.text
        products.append(reply.json()["id"])
    program = await client.post(
        "/api/v1/deal-programs",
        json={
            "name": "Northwind Deal Registration",
            "margin_bps": 500,
            "currency": "USD",
            "benefits": "5% additional margin on registered deals",
            "required_fields": ["products", "estimated_amount_minor", "contact_email", "expected_close_date"],
            "eligible_tiers": ["gold", "silver"],
            "min_deal_minor": 10_000_00,
        },
        headers=world.admin.headers,
    )
    assert program.status_code == 201, program.text
    return Catalog(program=program.json(), product_ids=products)


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


@pytest.fixture
async def deals(client: httpx.AsyncClient, app: Litestar, world: World, clock: ManualClock) -> Deals:
    """Two products and a program with the default terms (5 %, 90 days, 14-day reminder, one extension)."""
    return await make_deals(client, app, world, clock)
