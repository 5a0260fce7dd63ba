"""Deal registration data for page tests, made through the API as the vendor admin and partners would."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from tests.conftest import Actor

API = "/api/v1/deal-registrations"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@dataclass
class Catalog:
    program: dict[str, Any]
    products: dict[str, str]  # sku -> id


async def make_catalog(client: httpx.AsyncClient, admin: Actor) -> Catalog:
    """Three products and a program that requires products, amount, contact email and close date."""
    products = {}
    for sku, name, price in (("FW-100", "Firewall 100", 500_00), ("FW-200", "Firewall 200", 1_200_00)):
        reply = await client.post(
            "/api/v1/products",
            json={"sku": sku, "name": name, "list_price_minor": price, "currency": "USD"},
            headers=admin.headers,
        )
        assert reply.status_code == 201, reply.text
        products[sku] = reply.json()["id"]
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
        headers=admin.headers,
    )
    assert program.status_code == 201, program.text
    return Catalog(program=program.json(), products=products)


def form_fields(catalog: Catalog, **overrides: Any) -> dict[str, Any]:
    """The registration form as a browser sends it (product rows repeat product_id/quantity)."""
    fields: dict[str, Any] = {
        "program_id": catalog.program["id"],
        "customer_name": "Umbrella Corporation",
        "customer_website": "www.umbrella.example",
        "customer_country": "us",
        "contact_name": "Albert Wesker",
        "contact_title": "CIO",
        "contact_email": "wesker@umbrella.example",
        "contact_phone": "",
        "product_id": [catalog.products["FW-100"], "", ""],
        "quantity": ["20", "1", "1"],
        "estimated_amount": "48,000.00",
        "expected_close_date": "2026-06-30",
        "current_situation": "Replacing an end-of-life firewall fleet",
        "action": "submit",
    }
    fields.update(overrides)
    return fields


async def register_via_api(
    client: httpx.AsyncClient, actor: Actor, catalog: Catalog, **overrides: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "program_id": catalog.program["id"],
        "customer_name": "Umbrella Corporation",
        "customer_website": "https://www.umbrella.example",
        "customer_country": "US",
        "contact_email": "buyer@umbrella.example",
        "products": [{"product_id": catalog.products["FW-100"], "quantity": 5}],
        "estimated_amount_minor": 30_000_00,
        "expected_close_date": "2026-07-31",
        "submit": True,
    }
    body.update(overrides)
    reply = await client.post(API, json=body, headers=actor.headers)
    assert reply.status_code == 201, reply.text
    return dict(reply.json())


async def read_via_api(client: httpx.AsyncClient, actor: Actor, registration_id: str) -> dict[str, Any]:
    reply = await client.get(f"{API}/{registration_id}", headers=actor.headers)
    assert reply.status_code == 200, reply.text
    return dict(reply.json())
