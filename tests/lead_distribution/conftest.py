"""Lead distribution fixtures: products, a lead program with both partners, and request helpers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import select

from prm.core.auth import Role
from prm.core.outbox import OutboxKind, OutboxMessage
from tests.conftest import Actor, World

API = "/api/v1/distribution"


@dataclass
class Setup:
    products: dict[str, str]  # sku -> id
    program: dict[str, Any]


async def ok(reply: httpx.Response, status: int = 200) -> Any:
    assert reply.status_code == status, reply.text
    return reply.json()


@pytest.fixture
async def setup(client: httpx.AsyncClient, world: World) -> Setup:
    """Two products; a lead program (48 h, hot 4 h) with partners A and B certified for the firewall."""
    products = {}
    for sku in ("FW-100", "SD-WAN"):
        body = {"sku": sku, "name": sku, "list_price_minor": 100_00, "currency": "USD"}
        products[sku] = (await ok(await client.post("/api/v1/products", json=body, headers=world.admin.headers), 201))[
            "id"
        ]
    program = await ok(
        await client.post(f"{API}/programs", json={"name": "Northwind Leads"}, headers=world.admin.headers), 201
    )
    for partner in (world.partner_a, world.partner_b):
        await ok(
            await client.put(
                f"{API}/programs/{program['id']}/members/{partner}", json={"weight": 100}, headers=world.admin.headers
            )
        )
        await ok(
            await client.put(
                f"{API}/partners/{partner}/certified-products",
                json={"product_ids": [products["FW-100"]]},
                headers=world.admin.headers,
            )
        )
    return Setup(products, program)


def lead_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "first_name": "Peter",
        "last_name": "Gibbons",
        "company": "Initech",
        "email": "peter@initech.example",
        "phone": "+1 555 0100",
        "title": "Engineer",
        "country": "US",
        "region": "Texas",
        "source": "web",
    }
    body.update(overrides)
    return body


async def new_lead(client: httpx.AsyncClient, actor: Actor, **overrides: Any) -> dict[str, Any]:
    result: dict[str, Any] = await ok(
        await client.post(f"{API}/leads", json=lead_body(**overrides), headers=actor.headers), 201
    )
    return result


async def qualified_lead(
    client: httpx.AsyncClient, actor: Actor, *, facts: dict[str, Any] | None = None, **overrides: Any
) -> dict[str, Any]:
    """A sales-qualified lead (warm with the default criteria unless `facts` say otherwise)."""
    lead = await new_lead(client, actor, **overrides)
    body = {
        "expected_version": lead["version"],
        "stage": "sales_qualified",
        "current_situation": "Firewalls at end of life",
        "time_frame": "this_quarter",
    } | (facts or {})
    result: dict[str, Any] = await ok(
        await client.post(f"{API}/leads/{lead['id']}/qualify", json=body, headers=actor.headers)
    )
    return result


async def route(client: httpx.AsyncClient, actor: Actor, lead: dict[str, Any], **target: Any) -> httpx.Response:
    fresh = await ok(await client.get(f"{API}/leads/{lead['id']}", headers=actor.headers))
    return await client.post(
        f"{API}/leads/{lead['id']}/route", json={"expected_version": fresh["version"], **target}, headers=actor.headers
    )


async def lead_of(client: httpx.AsyncClient, actor: Actor, lead: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = await ok(await client.get(f"{API}/leads/{lead['id']}", headers=actor.headers))
    return result


async def offers_for(client: httpx.AsyncClient, actor: Actor, **params: Any) -> list[dict[str, Any]]:
    reply = await ok(await client.get(f"{API}/offers", params={"limit": 200, **params}, headers=actor.headers))
    return list(reply["items"])


async def emails_to(app: Litestar, address: str) -> list[dict[str, Any]]:
    async with app.state.db.session() as session:
        rows = await session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.kind == OutboxKind.EMAIL, OutboxMessage.destination == address)
            .order_by(OutboxMessage.created_at)
        )
        return [row.payload for row in rows]


async def make_partner(
    client: httpx.AsyncClient, world: World, app: Litestar, name: str, *, tier: str = "gold", country: str = "US"
) -> tuple[str, Actor]:
    """A partner made by the vendor admin through the API, with one partner admin signed in."""
    partner = await ok(
        await client.post(
            "/api/v1/partners", json={"name": name, "tier": tier, "country": country}, headers=world.admin.headers
        ),
        201,
    )
    slug = "".join(c for c in name.lower() if c.isalnum())
    user = await ok(
        await client.post(
            "/api/v1/users",
            json={
                "email": f"admin@{slug}.test",
                "name": f"{name} admin",
                "role": "partner_admin",
                "password": "correct horse battery",
                "partner_id": partner["id"],
            },
            headers=world.admin.headers,
        ),
        201,
    )
    actor = Actor(uuid.UUID(user["id"]), user["email"], Role.PARTNER_ADMIN, uuid.UUID(partner["id"]), app.state.tokens)
    return partner["id"], actor


async def run_job(app: Litestar, name: str) -> int | None:
    result: int | None = await app.state.runtime.jobs.run(f"lead_distribution.{name}")
    return result
