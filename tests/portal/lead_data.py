"""Setting the scene for lead pages through the API, as the vendor admin and channel managers would."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from tests.conftest import World

API = "/api/v1/distribution"


async def ok(reply: httpx.Response, status: int = 200) -> Any:
    assert reply.status_code == status, reply.text
    return reply.json()


@dataclass
class LeadScene:
    product_id: str
    program_id: str
    group_id: str


async def lead_scene(client: httpx.AsyncClient, world: World) -> LeadScene:
    """A firewall product, a lead program with partners A and B (certified for it), and a shark-tank
    group "Firewall tank" of both partners."""
    admin = world.admin.headers
    body = {"sku": "FW-100", "name": "Firewall 100", "list_price_minor": 100_00, "currency": "USD"}
    product = await ok(await client.post("/api/v1/products", json=body, headers=admin), 201)
    program = await ok(await client.post(f"{API}/programs", json={"name": "Northwind Leads"}, headers=admin), 201)
    partners = [str(world.partner_a), str(world.partner_b)]
    for partner in partners:
        await ok(await client.put(f"{API}/programs/{program['id']}/members/{partner}", json={}, headers=admin))
        certified = {"product_ids": [product["id"]]}
        await ok(await client.put(f"{API}/partners/{partner}/certified-products", json=certified, headers=admin))
    group_body = {"name": "Firewall tank", "partner_ids": partners, "program_id": program["id"]}
    group = await ok(await client.post(f"{API}/groups", json=group_body, headers=admin), 201)
    return LeadScene(product["id"], program["id"], group["id"])


async def new_lead(client: httpx.AsyncClient, world: World, **overrides: Any) -> dict[str, Any]:
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
    } | overrides
    result: dict[str, Any] = await ok(await client.post(f"{API}/leads", json=body, headers=world.cm_a.headers), 201)
    return result


async def qualified_lead(client: httpx.AsyncClient, world: World, scene: LeadScene, **overrides: Any) -> dict[str, Any]:
    """A sales-qualified lead for the firewall, buying this quarter."""
    lead = await new_lead(client, world, **overrides)
    body = {
        "expected_version": lead["version"],
        "stage": "sales_qualified",
        "current_situation": "Firewalls at end of life",
        "product_id": scene.product_id,
        "time_frame": "this_quarter",
    }
    reply = await client.post(f"{API}/leads/{lead['id']}/qualify", json=body, headers=world.cm_a.headers)
    result: dict[str, Any] = await ok(reply)
    return result


async def route_via_api(client: httpx.AsyncClient, world: World, lead: dict[str, Any], **target: Any) -> None:
    fresh = await ok(await client.get(f"{API}/leads/{lead['id']}", headers=world.cm_a.headers))
    body = {"expected_version": fresh["version"], **target}
    await ok(await client.post(f"{API}/leads/{lead['id']}/route", json=body, headers=world.cm_a.headers))


async def lead_via_api(client: httpx.AsyncClient, world: World, lead_id: str) -> dict[str, Any]:
    result: dict[str, Any] = await ok(await client.get(f"{API}/leads/{lead_id}", headers=world.cm_a.headers))
    return result
