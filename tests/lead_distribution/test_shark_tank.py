"""The shark tank through HTTP: a lead offered to a group, visible to its eligible members for the
claim window; the first claim wins (one conditional UPDATE), every other gets 409; unclaimed, the
lead goes back to the channel manager; per-partner caps stop one partner taking everything."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from typing import Any

import httpx
from litestar import Litestar

from prm.core.clock import ManualClock
from tests.conftest import Actor, World
from tests.lead_distribution.conftest import (
    API,
    Setup,
    emails_to,
    lead_of,
    make_partner,
    offers_for,
    ok,
    qualified_lead,
    route,
    run_job,
)


async def group(client: httpx.AsyncClient, world: World, partner_ids: list[str], **extra: Any) -> dict[str, Any]:
    body = {"name": extra.pop("name", "Shark tank"), "partner_ids": partner_ids, "claim_window_hours": 24} | extra
    return dict(await ok(await client.post(f"{API}/groups", json=body, headers=world.admin.headers), 201))


async def offered(client: httpx.AsyncClient, world: World, tank: dict[str, Any], **lead: Any) -> dict[str, Any]:
    made = await qualified_lead(client, world.admin, **lead)
    decision = await ok(await route(client, world.admin, made, target_kind="shark_tank", group_id=tank["id"]))
    assert decision["outcome"] == "offered_to_group"
    return made


async def test_first_claim_wins_and_the_rest_get_409(
    client: httpx.AsyncClient, world: World, setup: Setup, app: Litestar
) -> None:
    partner_c, c_admin = await make_partner(client, world, app, "Uncertified Co")
    tank = await group(client, world, [str(world.partner_a), str(world.partner_b), partner_c])
    lead = await offered(client, world, tank, facts={"product_id": setup.products["FW-100"]})
    decision = (await ok(await client.get(f"{API}/leads/{lead['id']}/decisions", headers=world.admin.headers)))[
        "items"
    ][-1]
    assert {"partner_id": partner_c, "reasons": ["not certified for the product of interest"]} in decision["excluded"]
    [on_board] = await offers_for(client, world.pb_user, kind="shark_tank", status="open")
    assert on_board["contact"] is None
    assert await offers_for(client, c_admin) == []  # not eligible: does not even see it
    assert (await client.post(f"{API}/offers/{on_board['id']}/claim", headers=c_admin.headers)).status_code == 404
    accept = await client.post(f"{API}/offers/{on_board['id']}/accept", headers=world.pa_user.headers)
    assert accept.status_code == 409  # shark-tank leads are claimed

    won = await ok(await client.post(f"{API}/offers/{on_board['id']}/claim", headers=world.pb_user.headers))
    assert (won["status"], won["partner_id"]) == ("accepted", str(world.partner_b))
    assert won["contact"]["email"] == "peter@initech.example"
    lost = await client.post(f"{API}/offers/{on_board['id']}/claim", headers=world.pa_user.headers)
    assert lost.status_code == 409
    assert str(world.partner_b) not in lost.text
    assert await offers_for(client, world.pa_user) == []  # gone from A's board
    assert (await lead_of(client, world.pb_user, lead))["partner_id"] == str(world.partner_b)
    assert any("Shark tank" in m["subject"] for m in await emails_to(app, world.pa_admin.email))


async def claimer(client: httpx.AsyncClient, world: World, app: Litestar, index: int) -> tuple[str, Actor]:
    return await make_partner(client, world, app, f"Shark {index:02d}")


async def test_a_hundred_concurrent_claims_make_exactly_one_winner(
    client: httpx.AsyncClient, world: World, app: Litestar
) -> None:
    partners = [await claimer(client, world, app, i) for i in range(20)]
    tank = await group(client, world, [p for p, _ in partners], max_open_claims_per_partner=5)
    lead = await offered(client, world, tank)
    [offer] = await offers_for(client, partners[0][1], kind="shark_tank")

    async def claim(index: int) -> httpx.Response:
        _, actor = partners[index % len(partners)]
        return await client.post(f"{API}/offers/{offer['id']}/claim", headers=actor.headers)

    replies = await asyncio.gather(*(claim(i) for i in range(100)))
    statuses = Counter(r.status_code for r in replies)
    assert statuses == {200: 1, 409: 99}, [r.text for r in replies if r.status_code not in (200, 409)]
    [winner] = [r.json() for r in replies if r.status_code == 200]
    held = await lead_of(client, world.admin, lead)
    assert (held["status"], held["partner_id"]) == ("accepted", winner["partner_id"])
    history = (await ok(await client.get(f"/api/v1/leads/{lead['id']}/history", headers=world.admin.headers)))["items"]
    assert [h["action"] for h in history].count("accepted") == 1


async def test_an_unclaimed_lead_goes_back_to_the_channel_manager(
    client: httpx.AsyncClient, world: World, setup: Setup, app: Litestar, clock: ManualClock
) -> None:
    tank = await group(client, world, [str(world.partner_a), str(world.partner_b)], claim_window_hours=6)
    lead = await offered(client, world, tank)
    [offer] = await offers_for(client, world.pa_user, kind="shark_tank")
    clock.advance(timedelta(hours=6))
    late = await client.post(f"{API}/offers/{offer['id']}/claim", headers=world.pa_user.headers)
    assert late.status_code == 409
    assert await run_job(app, "lapse_claim_windows") == 1
    assert await run_job(app, "lapse_claim_windows") == 0
    back = await lead_of(client, world.cm_a, lead)
    assert (back["status"], back["current_offer"]) == ("sales_qualified", None)
    assert await offers_for(client, world.pa_user) == []
    assert [m for m in await emails_to(app, world.cm_b.email) if "back in your queue" in m["subject"]]
    decision = (await ok(await client.get(f"{API}/leads/{lead['id']}/decisions", headers=world.admin.headers)))[
        "items"
    ][-1]
    assert decision["outcome"] == "returned_to_queue"
    assert "claim window" in decision["explanation"]
    # The channel manager decides again: straight to a partner this time.
    await ok(await route(client, world.cm_a, lead, target_kind="partner", partner_id=str(world.partner_a)))


async def test_per_partner_caps_stop_one_partner_taking_everything(
    client: httpx.AsyncClient, world: World, setup: Setup
) -> None:
    tank = await group(client, world, [str(world.partner_a), str(world.partner_b)], max_open_claims_per_partner=1)
    first = await offered(client, world, tank, company="First Co")
    second = await offered(client, world, tank, company="Second Co")
    board = {o["lead_id"]: o for o in await offers_for(client, world.pa_user, kind="shark_tank")}
    await ok(await client.post(f"{API}/offers/{board[first['id']]['id']}/claim", headers=world.pa_user.headers))
    capped = await client.post(f"{API}/offers/{board[second['id']]['id']}/claim", headers=world.pa_admin.headers)
    assert capped.status_code == 422
    assert "the cap is 1" in capped.json()["detail"]
    await ok(await client.post(f"{API}/offers/{board[second['id']]['id']}/claim", headers=world.pb_user.headers))
    # Both partners are at their cap now: the next lead cannot be offered to the group at all.
    third = await qualified_lead(client, world.admin, company="Third Co")
    refused = await route(client, world.admin, third, target_kind="shark_tank", group_id=tank["id"])
    assert refused.status_code == 422
    assert (
        sorted(e["reasons"][0] for e in refused.json()["excluded"])
        == ["holds 1 open claims from this group (cap 1)"] * 2
    )
