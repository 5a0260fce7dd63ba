"""Qualification through HTTP: facts, score and band, MQL -> SQL, configurable criteria,
disqualification with a reason, and the channel manager's queue."""

from __future__ import annotations

import httpx

from tests.conftest import World
from tests.lead_distribution.conftest import API, Setup, lead_of, new_lead, ok, qualified_lead


async def test_qualify_scores_with_the_seed_bands_and_moves_mql_then_sql(
    client: httpx.AsyncClient, world: World, setup: Setup
) -> None:
    lead = await new_lead(client, world.cm_a)
    assert (lead["score"], lead["band"]) == (0, "cold")
    url = f"{API}/leads/{lead['id']}/qualify"
    mql = await ok(
        await client.post(
            url,
            json={
                "expected_version": lead["version"],
                "stage": "marketing_qualified",
                "current_situation": "Firewalls at end of life",
                "time_frame": "this_quarter",
            },
            headers=world.cm_a.headers,
        )
    )
    assert (mql["status"], mql["score"], mql["band"]) == ("marketing_qualified", 30, "cold")
    sql = await ok(
        await client.post(
            url,
            json={
                "expected_version": mql["version"],
                "stage": "sales_qualified",
                "product_id": setup.products["FW-100"],
                "budget_minor": 5_000_000,
                "currency": "USD",
                "employees": 600,
                "note": "Called the CIO",
            },
            headers=world.cm_a.headers,
        )
    )
    assert (sql["status"], sql["score"], sql["band"]) == ("sales_qualified", 30 + 15 + 20 + 10, "warm")
    assert sql["current_situation"] == "Firewalls at end of life"  # kept from the first pass
    hot = await ok(
        await client.post(
            url,
            json={"expected_version": sql["version"], "stage": "sales_qualified", "time_frame": "immediate"},
            headers=world.cm_a.headers,
        )
    )
    assert (hot["score"], hot["band"]) == (85, "hot")
    back = await client.post(
        url, json={"expected_version": hot["version"], "stage": "marketing_qualified"}, headers=world.cm_a.headers
    )
    assert back.status_code == 409
    assert back.json()["current_state"] == "sales_qualified"
    stale = await client.post(
        url, json={"expected_version": mql["version"], "stage": "sales_qualified"}, headers=world.cm_a.headers
    )
    assert stale.status_code == 409
    assert stale.json()["current_version"] == hot["version"]

    history = (await ok(await client.get(f"/api/v1/leads/{lead['id']}/history?sort=at", headers=world.cm_a.headers)))[
        "items"
    ]
    assert [h["action"] for h in history] == ["created", "qualified", "qualified", "qualified"]
    assert history[2]["changes"]["status"] == ["marketing_qualified", "sales_qualified"]
    assert history[2]["note"].startswith("Called the CIO; score 75 (warm): Buying this quarter (+20)")
    for actor in (world.pa_admin, world.leader):
        refused = await client.post(
            url, json={"expected_version": hot["version"], "stage": "sales_qualified"}, headers=actor.headers
        )
        assert refused.status_code == 403


async def test_configured_criteria_replace_the_defaults(client: httpx.AsyncClient, world: World) -> None:
    url = f"{API}/scoring-criteria"
    partner = await client.post(
        url,
        json={"name": "x", "attribute": "country", "operator": "present", "points": 5},
        headers=world.pa_admin.headers,
    )
    assert partner.status_code == 403
    bad = await client.post(
        url,
        json={"name": "Big", "attribute": "employees", "operator": "at_least", "values": ["many"], "points": 5},
        headers=world.admin.headers,
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "values"
    for body in (
        {
            "name": "Decision maker",
            "attribute": "title",
            "operator": "contains",
            "values": ["cto", "cio"],
            "points": 40,
        },
        {
            "name": "In the DACH region",
            "attribute": "country",
            "operator": "one_of",
            "values": ["DE", "AT", "CH"],
            "points": 40,
        },
        {"name": "Free mail", "attribute": "email", "operator": "contains", "values": ["@gmail."], "points": -30},
    ):
        await ok(await client.post(url, json=body, headers=world.admin.headers), 201)
    cto = await new_lead(client, world.cm_a, title="CTO", country="DE", time_frame="immediate")
    assert (cto["score"], cto["band"]) == (80, "hot")  # the default "buying now" no longer counts
    gmail = await new_lead(client, world.cm_a, first_name="Joe", email="joe@gmail.example", title="CIO", country="US")
    assert gmail["score"] == 10
    assert gmail["band"] == "cold"
    criteria = (await ok(await client.get(url, headers=world.cm_a.headers)))["items"]
    title = next(c for c in criteria if c["attribute"] == "title")
    off = await ok(
        await client.patch(
            f"{url}/{title['id']}",
            json={"expected_version": title["version"], "active": False},
            headers=world.admin.headers,
        )
    )
    assert off["active"] is False
    requalified = await ok(
        await client.post(
            f"{API}/leads/{cto['id']}/qualify",
            json={"expected_version": cto["version"], "stage": "sales_qualified"},
            headers=world.cm_a.headers,
        )
    )
    assert requalified["score"] == 40


async def test_disqualify_with_a_reason_ends_the_road(client: httpx.AsyncClient, world: World) -> None:
    lead = await qualified_lead(client, world.cm_a)
    url = f"{API}/leads/{lead['id']}/disqualify"
    no_note = await client.post(
        url, json={"expected_version": lead["version"], "reason": "other"}, headers=world.cm_a.headers
    )
    assert no_note.status_code == 422
    assert no_note.json()["errors"][0]["field"] == "note"
    unknown = await client.post(
        url, json={"expected_version": lead["version"], "reason": "bored"}, headers=world.cm_a.headers
    )
    assert unknown.status_code == 400
    done = await ok(
        await client.post(
            url,
            json={"expected_version": lead["version"], "reason": "no_budget", "note": "Budget frozen until 2027"},
            headers=world.cm_a.headers,
        )
    )
    assert (done["status"], done["disqualified_reason"]) == ("disqualified", "no_budget")
    for action, body in (
        ("qualify", {"stage": "sales_qualified"}),
        ("route", {"target_kind": "partner", "partner_id": str(world.partner_a)}),
        ("disqualify", {"reason": "spam"}),
    ):
        reply = await client.post(
            f"{API}/leads/{lead['id']}/{action}",
            json={"expected_version": done["version"], **body},
            headers=world.cm_a.headers,
        )
        assert reply.status_code == 409, (action, reply.text)
        assert reply.json()["current_state"] == "disqualified"
    history = (await ok(await client.get(f"/api/v1/leads/{lead['id']}/history?sort=at", headers=world.cm_a.headers)))[
        "items"
    ]
    assert history[-1]["action"] == "disqualified"
    assert history[-1]["note"] == "Budget frozen until 2027"


async def test_the_queue_filters_by_status_band_source_and_country(client: httpx.AsyncClient, world: World) -> None:
    cold = await new_lead(client, world.cm_a, company="Cold Co")
    hot = await new_lead(
        client,
        world.cm_a,
        company="Hot Co",
        time_frame="immediate",
        budget_minor=20_000_000,
        current_situation="x",
        employees=5000,
        country="DE",
        source="referral",
    )
    warm = await qualified_lead(client, world.cm_a, company="Warm Co", facts={"budget_minor": 2_000_000})

    async def companies(**params: object) -> list[str]:
        reply = await ok(
            await client.get(f"{API}/leads", params={"sort": "company", **params}, headers=world.cm_b.headers)
        )
        return [lead["company"] for lead in reply["items"]]

    assert await companies() == ["Cold Co", "Hot Co", "Warm Co"]
    assert await companies(band="hot") == ["Hot Co"]
    assert await companies(band="warm") == ["Warm Co"]
    assert await companies(status="sales_qualified") == ["Warm Co"]
    assert await companies(source="referral", country="DE") == ["Hot Co"]
    assert await companies(sort="-score") == ["Hot Co", "Warm Co", "Cold Co"]
    partner = await client.get(f"{API}/leads", headers=world.pa_admin.headers)
    assert partner.status_code == 403
    assert (cold["band"], hot["band"], warm["band"]) == ("cold", "hot", "warm")
    assert (await lead_of(client, world.leader, hot))["score"] == 90
