"""Every API write that takes a country understands its name (in English or its own language) as
well as its ISO code, stores the alpha-2 code, and refuses an unknown country naming the field."""

from __future__ import annotations

import httpx

from tests.conftest import World

Client = httpx.AsyncClient
LEAD = {"first_name": "Jürgen", "last_name": "Müller", "company": "Müller GmbH", "source": "web"}


async def test_a_country_by_name_is_stored_as_its_code_never_cut_to_two_letters(client: Client, world: World) -> None:
    lead = await client.post("/api/v1/leads", json=LEAD | {"country": "Germany"}, headers=world.admin.headers)
    assert lead.status_code == 201, lead.text
    assert lead.json()["country"] == "DE"  # not GE, Georgia
    moved = await client.patch(
        f"/api/v1/leads/{lead.json()['id']}",
        json={"expected_version": lead.json()["version"], "country": "Norge"},
        headers=world.admin.headers,
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["country"] == "NO"
    account = await client.post(
        "/api/v1/accounts", json={"name": "Hekla", "country": "Ísland"}, headers=world.admin.headers
    )
    assert account.status_code == 201, account.text
    assert account.json()["country"] == "IS"
    partner = await client.post(
        "/api/v1/partners", json={"name": "Ромашка", "country": "Россия"}, headers=world.admin.headers
    )
    assert partner.status_code == 201, partner.text
    assert partner.json()["country"] == "RU"
    rule = await client.post(
        "/api/v1/distribution/routing-rules",
        json={
            "name": "DACH and Nordics",
            "countries": ["Deutschland", "Schweiz", "AUT", "Norway"],
            "target_kind": "partner",
            "target_partner_id": str(world.partner_a),
        },
        headers=world.admin.headers,
    )
    assert rule.status_code == 201, rule.text
    assert rule.json()["countries"] == ["DE", "CH", "AT", "NO"]


async def test_an_unknown_country_is_refused_naming_the_field(client: Client, world: World) -> None:
    reply = await client.post("/api/v1/leads", json=LEAD | {"country": "Atlantis"}, headers=world.admin.headers)
    assert reply.status_code == 400, reply.text
    assert reply.headers["content-type"].startswith("application/problem+json")
    [error] = reply.json()["errors"]
    assert error["field"] == "country"
    assert "Atlantis" in error["message"]
    rule = await client.post(
        "/api/v1/distribution/routing-rules",
        json={
            "name": "x",
            "countries": ["DE", "Narnia"],
            "target_kind": "partner",
            "target_partner_id": str(world.partner_a),
        },
        headers=world.admin.headers,
    )
    assert rule.status_code == 400, rule.text
    assert rule.json()["errors"][0]["field"] == "countries[1]"
    listed = await client.get("/api/v1/leads", headers=world.admin.headers)
    assert listed.json()["items"] == []
