"""Conversion through HTTP: an accepted lead becomes account + contact + an indirect opportunity
carrying the partner, reusing the partner's matching account and contact; only through here."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import Actor, World
from tests.lead_distribution.conftest import API, Setup, lead_of, offers_for, ok, qualified_lead, route


async def accepted_by_a(client: httpx.AsyncClient, world: World, **lead: Any) -> dict[str, Any]:
    made = await qualified_lead(client, world.cm_a, **lead)
    await ok(await route(client, world.cm_a, made, target_kind="partner", partner_id=str(world.partner_a)))
    [offer] = [o for o in await offers_for(client, world.pa_user, status="open") if o["lead_id"] == made["id"]]
    await ok(await client.post(f"{API}/offers/{offer['id']}/accept", headers=world.pa_user.headers))
    return await lead_of(client, world.pa_user, made)


async def convert(client: httpx.AsyncClient, actor: Actor, lead: dict[str, Any], **body: Any) -> httpx.Response:
    return await client.post(
        f"{API}/leads/{lead['id']}/convert", json={"expected_version": lead["version"], **body}, headers=actor.headers
    )


async def test_conversion_makes_an_indirect_opportunity_for_the_partner(
    client: httpx.AsyncClient, world: World, setup: Setup
) -> None:
    earlier = await qualified_lead(client, world.cm_b)  # the same person: a possible duplicate
    lead = await accepted_by_a(client, world, facts={"budget_minor": 4_500_000, "currency": "USD"})
    assert (await lead_of(client, world.cm_a, lead))["possible_duplicates"][0]["lead_id"] == earlier["id"]
    assert lead["possible_duplicates"] == []  # never shown to the partner
    for outsider in (world.pb_user, world.cm_b):
        assert (await convert(client, outsider, lead)).status_code == 404
    manager = await convert(client, world.cm_a, lead)
    assert manager.status_code == 422  # the partner that accepted it converts it
    done = await ok(await convert(client, world.pa_user, lead, close_date="2026-09-30"))
    assert (done["account_reused"], done["contact_reused"]) == (False, False)

    opportunity = await ok(
        await client.get(f"/api/v1/opportunities/{done['opportunity_id']}", headers=world.pa_user.headers)
    )
    assert (opportunity["partner_id"], opportunity["amount_minor"], opportunity["currency"]) == (
        str(world.partner_a),
        4_500_000,
        "USD",
    )
    assert (opportunity["stage"], opportunity["lead_source"], opportunity["account_id"]) == (
        "Prospecting",
        "web",
        done["account_id"],
    )
    account = await ok(await client.get(f"/api/v1/accounts/{done['account_id']}", headers=world.pa_user.headers))
    assert (account["name"], account["partner_id"], account["domain"]) == (
        "Initech",
        str(world.partner_a),
        "initech.example",
    )
    contact = await ok(await client.get(f"/api/v1/contacts/{done['contact_id']}", headers=world.pa_user.headers))
    assert (contact["email"], contact["account_id"]) == ("peter@initech.example", done["account_id"])
    converted = await lead_of(client, world.pa_user, lead)
    assert converted["status"] == "converted"
    assert converted["converted_opportunity_id"] == done["opportunity_id"]
    assert converted["current_offer"]["status"] == "converted"
    again = await convert(client, world.pa_user, converted)
    assert again.status_code == 409
    assert again.json()["current_state"] == "converted"
    indirect = await ok(
        await client.get("/api/v1/opportunities", params={"channel": "indirect"}, headers=world.leader.headers)
    )
    assert [o["id"] for o in indirect["items"]] == [done["opportunity_id"]]


async def test_a_matching_account_and_contact_are_reused(client: httpx.AsyncClient, world: World, setup: Setup) -> None:
    account = await ok(
        await client.post("/api/v1/accounts", json={"name": "INITECH Inc."}, headers=world.pa_admin.headers), 201
    )
    contact = await ok(
        await client.post(
            "/api/v1/contacts",
            json={
                "account_id": account["id"],
                "first_name": "Peter",
                "last_name": "Gibbons",
                "email": "peter@initech.example",
            },
            headers=world.pa_admin.headers,
        ),
        201,
    )
    vendor_account = await ok(
        await client.post("/api/v1/accounts", json={"name": "Initrode"}, headers=world.admin.headers), 201
    )
    lead = await accepted_by_a(client, world)
    done = await ok(await convert(client, world.pa_user, lead, amount_minor=100_000, currency="EUR"))
    assert (done["account_id"], done["contact_id"]) == (account["id"], contact["id"])
    assert (done["account_reused"], done["contact_reused"]) == (True, True)

    other = await accepted_by_a(client, world, company="Initrode", first_name="Bill", email="bill@initrode.example")
    not_theirs = await convert(client, world.pa_user, other, currency="USD", account_id=vendor_account["id"])
    assert not_theirs.status_code == 422
    assert not_theirs.json()["errors"][0]["field"] == "account_id"
    no_currency = await convert(client, world.pa_user, other)
    assert no_currency.status_code == 422
    assert no_currency.json()["errors"][0]["field"] == "currency"
    mine = await ok(await convert(client, world.pa_user, other, currency="USD"))
    assert mine["account_id"] != vendor_account["id"]  # the vendor's account is not the partner's to use


async def test_an_internal_rep_converts_into_a_direct_opportunity(
    client: httpx.AsyncClient, world: World, setup: Setup
) -> None:
    lead = await qualified_lead(client, world.cm_a, facts={"budget_minor": 900_000, "currency": "USD"})
    await ok(await route(client, world.cm_a, lead, target_kind="internal_rep", user_id=str(world.cm_b.user_id)))
    held = await lead_of(client, world.cm_b, lead)
    done = await ok(await convert(client, world.cm_b, held, opportunity_name="Initech firewalls"))
    opportunity = await ok(
        await client.get(f"/api/v1/opportunities/{done['opportunity_id']}", headers=world.admin.headers)
    )
    assert (opportunity["partner_id"], opportunity["name"], opportunity["amount_minor"]) == (
        None,
        "Initech firewalls",
        900_000,
    )
    assert (
        await client.get(f"/api/v1/opportunities/{done['opportunity_id']}", headers=world.pa_admin.headers)
    ).status_code == 404


async def test_only_an_accepted_lead_converts(client: httpx.AsyncClient, world: World, setup: Setup) -> None:
    lead = await qualified_lead(client, world.cm_a, facts={"currency": "USD"})
    early = await convert(client, world.cm_a, lead)
    assert early.status_code == 409
    assert early.json()["current_state"] == "sales_qualified"
