"""The leads each partner holds are kept as a number (lead_partner_loads), not counted per routing.
Through HTTP, every way an offer opens or closes (route, accept, decline, re-route, withdraw by
routing elsewhere, disqualify, expire, claim, lapse, convert, an internal rep, a refused request)
must leave that number equal to the partner's open and accepted offers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from litestar import Litestar
from sqlalchemy import func, select

from prm.core.clock import ManualClock
from prm.lead_distribution.models import HOLDING, LeadOffer, PartnerLoad
from tests.conftest import World
from tests.lead_distribution.conftest import API, Setup, lead_of, offers_for, ok, qualified_lead, route, run_job
from tests.lead_distribution.test_conversion import convert
from tests.lead_distribution.test_offers import pool_rule


async def held(app: Litestar, world: World) -> tuple[int, int]:
    """(A, B): the stored numbers, checked against the offers themselves for every partner."""
    async with app.state.db.session() as session:
        stored = {row[0]: row[1] for row in await session.execute(select(PartnerLoad.partner_id, PartnerLoad.holding))}
        counted = {
            row[0]: row[1]
            for row in await session.execute(
                select(LeadOffer.partner_id, func.count())
                .where(LeadOffer.status.in_(HOLDING), LeadOffer.partner_id.is_not(None))
                .group_by(LeadOffer.partner_id)
            )
        }
    assert {p: n for p, n in stored.items() if n} == counted
    return stored.get(world.partner_a, 0), stored.get(world.partner_b, 0)


async def open_offer(client: httpx.AsyncClient, world: World, lead: dict[str, Any]) -> dict[str, Any]:
    for actor in (world.pa_admin, world.pb_admin):
        for offer in await offers_for(client, actor, status="open"):
            if offer["lead_id"] == lead["id"]:
                return offer
    raise AssertionError(f"no open offer of {lead['id']}")


async def test_direct_offers_keep_the_numbers_through_every_move(
    client: httpx.AsyncClient, world: World, setup: Setup, app: Litestar, clock: ManualClock
) -> None:
    await pool_rule(client, world, setup)
    first = await qualified_lead(client, world.cm_a, company="First Co")
    await ok(await route(client, world.cm_a, first, target_kind="partner", partner_id=str(world.partner_a)))
    assert await held(app, world) == (1, 0)
    offer = await open_offer(client, world, first)
    await ok(await client.post(f"{API}/offers/{offer['id']}/accept", headers=world.pa_user.headers))
    assert await held(app, world) == (1, 0)  # accepted still counts until converted
    await ok(await convert(client, world.pa_user, await lead_of(client, world.pa_user, first), currency="USD"))
    assert await held(app, world) == (0, 0)

    second = await qualified_lead(client, world.cm_a, company="Second Co")
    await ok(await route(client, world.cm_a, second, target_kind="partner", partner_id=str(world.partner_a)))
    offer = await open_offer(client, world, second)
    body = {"reason": "no_capacity"}
    await ok(await client.post(f"{API}/offers/{offer['id']}/decline", json=body, headers=world.pa_user.headers))
    assert await held(app, world) == (0, 1)  # re-routed by the rules to B
    stale = await client.post(
        f"{API}/leads/{second['id']}/route",
        json={"expected_version": second["version"], "target_kind": "partner", "partner_id": str(world.partner_a)},
        headers=world.cm_a.headers,
    )
    assert stale.status_code == 409
    assert await held(app, world) == (0, 1)  # a refused request changes nothing
    routed = await lead_of(client, world.admin, second)
    await ok(await route(client, world.admin, routed, target_kind="partner", partner_id=str(world.partner_b)))
    assert await held(app, world) == (0, 1)  # B's open offer withdrawn, a new one made
    routed = await lead_of(client, world.admin, second)
    await ok(
        await client.post(
            f"{API}/leads/{second['id']}/disqualify",
            json={"expected_version": routed["version"], "reason": "no_budget"},
            headers=world.admin.headers,
        )
    )
    assert await held(app, world) == (0, 0)

    third = await qualified_lead(client, world.cm_a, company="Third Co")
    await ok(await route(client, world.cm_a, third, target_kind="partner", partner_id=str(world.partner_a)))
    clock.advance(timedelta(hours=49))
    assert await run_job(app, "expire_offers") == 1
    assert await held(app, world) == (0, 1)  # expired at A, re-routed to B

    internal = await qualified_lead(client, world.cm_a, company="Direct Co")
    await ok(await route(client, world.cm_a, internal, target_kind="internal_rep", user_id=str(world.cm_b.user_id)))
    assert await held(app, world) == (0, 1)


async def test_shark_tank_offers_count_once_claimed(
    client: httpx.AsyncClient, world: World, setup: Setup, app: Litestar, clock: ManualClock
) -> None:
    body = {"name": "Tank", "partner_ids": [str(world.partner_a), str(world.partner_b)], "claim_window_hours": 6}
    tank = await ok(await client.post(f"{API}/groups", json=body, headers=world.admin.headers), 201)
    claimed = await qualified_lead(client, world.cm_a, company="Claimed Co")
    await ok(await route(client, world.cm_a, claimed, target_kind="shark_tank", group_id=tank["id"]))
    assert await held(app, world) == (0, 0)  # open to the group: nobody holds it yet
    [offer] = await offers_for(client, world.pb_user, kind="shark_tank", status="open")
    await ok(await client.post(f"{API}/offers/{offer['id']}/claim", headers=world.pb_user.headers))
    lost = await client.post(f"{API}/offers/{offer['id']}/claim", headers=world.pa_user.headers)
    assert lost.status_code == 409
    assert await held(app, world) == (0, 1)

    lapsing = await qualified_lead(client, world.cm_a, company="Lapsing Co")
    await ok(await route(client, world.cm_a, lapsing, target_kind="shark_tank", group_id=tank["id"]))
    clock.advance(timedelta(hours=6))
    assert await run_job(app, "lapse_claim_windows") == 1
    assert await held(app, world) == (0, 1)
