"""`prm demo` seeds the CRM core, deal registration and lead distribution through the services;
what each demo login then sees over HTTP."""

from __future__ import annotations

import httpx

from prm.demo import DEMO_PASSWORD, load_demo
from prm.settings import Settings

Client = httpx.AsyncClient


async def _headers(client: Client, email: str) -> dict[str, str]:
    reply = await client.post("/api/v1/auth/token", data={"username": email, "password": DEMO_PASSWORD})
    assert reply.status_code == 200, reply.text
    return {"Authorization": f"Bearer {reply.json()['access_token']}"}


async def _all(client: Client, url: str, headers: dict[str, str], **params: str) -> list[dict[str, object]]:
    reply = await client.get(url, params={"limit": 200, **params}, headers=headers)
    assert reply.status_code == 200, reply.text
    items: list[dict[str, object]] = reply.json()["items"]
    return items


async def test_demo_seeds_products_deals_leads_and_a_campaign_once(client: Client, settings: Settings) -> None:
    await load_demo(settings)
    await load_demo(settings)  # the second run finds the data and adds nothing
    ceo = await _headers(client, "ceo@northwind.example")

    products = await _all(client, "/api/v1/products", ceo)
    assert len(products) >= 5
    assert all(isinstance(p["list_price_minor"], int) and p["list_price_minor"] > 0 for p in products)

    deals = await _all(client, "/api/v1/opportunities", ceo)
    indirect = await _all(client, "/api/v1/opportunities", ceo, channel="indirect")
    assert 0 < len(indirect) < len(deals)
    assert len({d["partner_id"] for d in indirect}) == 3
    won = await _all(client, "/api/v1/opportunities", ceo, stage="Closed Won")
    assert len(won) >= 4
    assert all(d["closed_at"] and d["amount_minor"] for d in won)
    assert len({d["stage"] for d in deals}) >= 5

    acme_seller = await _headers(client, "seller@acme.example")
    [acme] = await _all(client, "/api/v1/partners", acme_seller)
    acme_deals = await _all(client, "/api/v1/opportunities", acme_seller)
    assert acme_deals
    assert {d["partner_id"] for d in acme_deals} == {acme["id"]}

    leads = await _all(client, "/api/v1/leads", ceo)
    assert len({lead["source"] for lead in leads}) >= 4
    campaigns = await _all(client, "/api/v1/campaigns", ceo, sort="name")
    child = next(c for c in campaigns if c["parent_id"] is not None)
    members = await _all(client, f"/api/v1/campaigns/{child['id']}/members", ceo)
    assert {m["status"] for m in members} == {"Sent", "Responded"}
    assert all((m["responded_at"] is not None) == (m["status"] == "Responded") for m in members)


async def test_demo_leaves_registrations_to_review_and_leads_to_take(client: Client, settings: Settings) -> None:
    await load_demo(settings)
    alex = await _headers(client, "cm.alex@northwind.example")
    queue = await _all(client, "/api/v1/deal-registrations/review-queue", alex)
    by_customer = {r["customer_name"]: r for r in queue}
    assert set(by_customer) == {"Wingtip Hotels", "Woodgrove Bank", "Alpine Ski House"}
    # The vendor's own Wingtip deals, as they stand now (the year of history opened more since).
    wingtip_conflicts = by_customer["Wingtip Hotels"]["conflicts"]
    assert wingtip_conflicts
    assert {c["kind"] for c in wingtip_conflicts} == {"direct_opportunity"}
    assert by_customer["Woodgrove Bank"]["conflicts"] == []
    # Globex's Alpine Ski House meets Acme's protected one: refused unless overridden, seen from both sides.
    alpine = by_customer["Alpine Ski House"]
    holder = next(c for c in alpine["conflicts"] if c["kind"] == "registration")
    assert (holder["other_partner_name"], holder["other_state"]) == ("Acme Resellers", "approved")
    refused = await client.post(
        f"/api/v1/deal-registrations/{alpine['id']}/approve", json={"expected_version": alpine["version"]}, headers=alex
    )
    assert refused.status_code == 409
    assert holder["other_registration_number"] in refused.json()["detail"]
    protected = await client.get(f"/api/v1/deal-registrations/{holder['other_registration_id']}", headers=alex)
    assert [c["other_registration_number"] for c in protected.json()["conflicts"]] == [alpine["number"]]
    assert protected.json()["terms"]["protection_days"] == 90
    rules = await client.get(f"/api/v1/deal-programs/{alpine['program_id']}/approval-rules", headers=alex)
    assert rules.json()["second_approval"] == {"above_minor": 5_000_000, "approver": "vendor_admin"}

    globex = await _headers(client, "seller@globex.example")
    own = {r["customer_name"]: r for r in await _all(client, "/api/v1/deal-registrations", globex)}
    assert {name: r["state"] for name, r in own.items()} == {
        "Woodgrove Bank": "submitted",
        "Alpine Ski House": "submitted",
        "Fabrikam Logistics": "rejected",
        "Humongous Insurance": "draft",
    }
    assert own["Fabrikam Logistics"]["rejection_reason"] == "other"
    assert "Acme" not in str(own["Fabrikam Logistics"])  # the other partner stays unnamed
    acme = await _headers(client, "seller@acme.example")
    acme_states = {r["customer_name"]: r["state"] for r in await _all(client, "/api/v1/deal-registrations", acme)}
    assert acme_states == {"Wingtip Hotels": "submitted", "Alpine Ski House": "approved"}
    initech = await _headers(client, "seller@initech.example")
    assert await _all(client, "/api/v1/deal-programs", initech) == []  # a registered-tier partner is not eligible

    # Open offers: the demo's year of history adds answered ones.
    globex_offers = await _all(client, "/api/v1/distribution/offers", globex, status="open")
    assert sorted((o["kind"], o["lead"]["country"]) for o in globex_offers) == [
        ("direct", "DE"),
        ("direct", "DE"),
        ("shark_tank", "US"),
    ]
    [tank_offer] = await _all(client, "/api/v1/distribution/offers", acme, status="open")
    assert tank_offer["kind"] == "shark_tank"
    claimed = await client.post(f"/api/v1/distribution/offers/{tank_offer['id']}/claim", headers=acme)
    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["status"] == "accepted"
