"""Routing several leads by the rules in one request (POST /distribution/leads/auto-route), through
HTTP: each lead gets its own decision, as one auto-route each would give it (capacity counts the
picks made earlier in the same request); all or nothing, the error naming the lead; staff only,
and a lead the caller may not see is one that does not exist."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.conftest import World
from tests.lead_distribution.conftest import API, Setup, lead_of, ok, qualified_lead, route
from tests.lead_distribution.test_routing import rule

ROUTE_MANY = f"{API}/leads/auto-route"


def entries(*leads: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"id": lead["id"], "expected_version": lead["version"]} for lead in leads]


async def capped_pool(client: httpx.AsyncClient, world: World, setup: Setup, cap: int) -> None:
    """Everything to the program's pool; each partner may hold `cap` open leads."""
    program = setup.program
    body = {"expected_version": program["version"], "max_open_leads": cap}
    await ok(await client.patch(f"{API}/programs/{program['id']}", json=body, headers=world.admin.headers))
    await rule(client, world, name="Pool", target_kind="program_pool", program_id=program["id"])


async def test_each_lead_gets_its_own_decision_and_capacity_counts_earlier_picks(
    client: httpx.AsyncClient, world: World, setup: Setup
) -> None:
    await capped_pool(client, world, setup, cap=1)
    leads = [await qualified_lead(client, world.cm_a, company=f"Batch {n} Co") for n in range(3)]
    reply = await ok(await client.post(ROUTE_MANY, json={"leads": entries(*leads)}, headers=world.cm_a.headers))
    items = reply["items"]
    assert [i["lead_id"] for i in items] == [lead["id"] for lead in leads]
    # One lead each for A and B (each at its cap of 1), the third back to the queue.
    assert [i["outcome"] for i in items] == ["offered", "offered", "returned_to_queue"]
    assert {items[0]["partner_id"], items[1]["partner_id"]} == {str(world.partner_a), str(world.partner_b)}
    assert "no rule routed it" in items[2]["explanation"]
    for lead, item in zip(leads, items, strict=True):
        decisions = await ok(await client.get(f"{API}/leads/{lead['id']}/decisions", headers=world.admin.headers))
        [decision] = decisions["items"]
        assert (decision["id"], decision["mode"], decision["explanation"]) == (
            item["decision_id"],
            "rules",
            item["explanation"],
        )
        assert decision["rules"][0]["matched"] is True
        assert decision["rules"][0]["routed"] is (item["outcome"] == "offered")
        assert (await lead_of(client, world.admin, lead))["version"] == item["lead_version"]
    third = await ok(await client.get(f"{API}/decisions/{items[2]['decision_id']}", headers=world.admin.headers))
    assert third["rules"][0]["reason"].startswith("no eligible partner in program")
    replay = await ok(
        await client.get(f"{API}/decisions/{items[0]['decision_id']}/replay", headers=world.admin.headers)
    )
    assert replay["matches"] is True
    # The routed ones can go again in a batch (their open offers withdrawn first).
    again = [await lead_of(client, world.cm_a, lead) for lead in leads[:2]]
    redo = await ok(await client.post(ROUTE_MANY, json={"leads": entries(*again)}, headers=world.cm_a.headers))
    assert [i["outcome"] for i in redo["items"]] == ["offered", "offered"]


async def test_all_or_nothing_with_the_error_naming_the_lead(
    client: httpx.AsyncClient, world: World, setup: Setup
) -> None:
    await capped_pool(client, world, setup, cap=10)
    first = await qualified_lead(client, world.cm_a, company="First Co")
    second = await qualified_lead(client, world.cm_a, company="Second Co")
    stale = entries(first, second)
    stale[1]["expected_version"] = second["version"] - 1
    reply = await client.post(ROUTE_MANY, json={"leads": stale}, headers=world.cm_a.headers)
    assert reply.status_code == 409
    assert reply.headers["content-type"].startswith("application/problem+json")
    assert reply.json()["errors"][0]["field"] == "leads[1].expected_version"
    assert (await lead_of(client, world.cm_a, first))["status"] == "sales_qualified"  # nothing routed
    assert await ok(await client.get(f"{API}/leads/{first['id']}/decisions", headers=world.admin.headers)) == {
        "items": [],
        "next_cursor": None,
    }

    twice = await client.post(ROUTE_MANY, json={"leads": entries(first, first)}, headers=world.cm_a.headers)
    assert (twice.status_code, twice.json()["errors"][0]["field"]) == (422, "leads[1].id")

    unqualified = await ok(
        await client.post(
            f"{API}/leads",
            json={"first_name": "N", "last_name": "Q", "company": "Fresh Co", "source": "web"},
            headers=world.cm_a.headers,
        ),
        201,
    )
    new = await client.post(ROUTE_MANY, json={"leads": entries(first, unqualified)}, headers=world.cm_a.headers)
    assert new.status_code == 409
    assert (new.json()["current_state"], new.json()["errors"][0]["field"]) == ("new", "leads[1].id")


async def test_bad_input_is_refused_naming_the_field(client: httpx.AsyncClient, world: World) -> None:
    lead = {"id": str(uuid.uuid4()), "expected_version": 1}
    for body, field, named in (
        ({"leads": []}, "leads", "length"),
        ({}, "leads", "`leads`"),
        ({"leads": [{"id": lead["id"]}]}, "leads[0].expected_version", "`expected_version`"),
        ({"leads": [{"id": "not-an-id", "expected_version": 1}]}, "leads[0].id", "UUID"),
        ({"leads": [{**lead, "expected_version": 0}]}, "leads[0].expected_version", ">= 1"),
        ({"leads": [lead], "extra": 1}, "extra", "`extra`"),
        ({"leads": [lead] * 501}, "leads", "length"),
    ):
        reply = await client.post(ROUTE_MANY, json=body, headers=world.cm_a.headers)
        assert reply.status_code == 400, (body, reply.text)
        assert reply.headers["content-type"].startswith("application/problem+json")
        [error] = reply.json()["errors"]
        assert error["field"] == field, reply.text
        assert named in error["message"], reply.text


async def test_staff_only_and_an_unseen_lead_is_one_that_does_not_exist(
    client: httpx.AsyncClient, world: World, setup: Setup
) -> None:
    await capped_pool(client, world, setup, cap=10)
    lead = await qualified_lead(client, world.cm_a, company="Held Co")
    for partner in (world.pa_admin, world.pa_user, world.pb_admin):
        refused = await client.post(ROUTE_MANY, json={"leads": entries(lead)}, headers=partner.headers)
        assert refused.status_code == 403
    assert (
        await client.post(ROUTE_MANY, json={"leads": entries(lead)}, headers=world.leader.headers)
    ).status_code == 403
    # Held by partner B now: channel manager A (who manages only A) may not see it.
    await ok(await route(client, world.admin, lead, target_kind="partner", partner_id=str(world.partner_b)))
    [offer] = [
        o
        for o in (await ok(await client.get(f"{API}/offers", headers=world.pb_admin.headers)))["items"]
        if o["lead_id"] == lead["id"]
    ]
    await ok(await client.post(f"{API}/offers/{offer['id']}/accept", headers=world.pb_admin.headers))
    held = await lead_of(client, world.admin, lead)
    unseen = await client.post(ROUTE_MANY, json={"leads": entries(held)}, headers=world.cm_a.headers)
    missing_id = str(uuid.uuid4())
    missing = await client.post(
        ROUTE_MANY,
        json={"leads": [{"id": missing_id, "expected_version": held["version"]}]},
        headers=world.cm_a.headers,
    )
    assert unseen.status_code == missing.status_code == 404
    assert unseen.json() == {**missing.json(), "detail": missing.json()["detail"].replace(missing_id, lead["id"])} | {
        "errors": [{"field": "leads[0].id", "message": f"Lead {lead['id']} not found."}]
    }
    # The admin sees it, and it is not routable any more: accepted.
    accepted = await client.post(ROUTE_MANY, json={"leads": entries(held)}, headers=world.admin.headers)
    assert (accepted.status_code, accepted.json()["current_state"]) == (409, "accepted")
