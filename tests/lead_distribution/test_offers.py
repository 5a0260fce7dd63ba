"""Offers through HTTP: accept reveals the contact, decline re-routes (never back), unanswered
offers are recalled by the timer with one effect however often, late or doubly it runs."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from typing import Any

import httpx
from litestar import Litestar

from prm.core.clock import ManualClock
from prm.core.db import Database
from prm.core.scheduler import JobRunner
from prm.lead_distribution.jobs import register_jobs
from tests.conftest import World
from tests.lead_distribution.conftest import (
    API,
    Setup,
    emails_to,
    lead_of,
    offers_for,
    ok,
    qualified_lead,
    route,
    run_job,
)

UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


async def pool_rule(client: httpx.AsyncClient, world: World, setup: Setup) -> None:
    """Re-routing follows the rules: everything goes to the program's pool."""
    body = {"name": "Pool", "target_kind": "program_pool", "program_id": setup.program["id"]}
    await ok(await client.post(f"{API}/routing-rules", json=body, headers=world.admin.headers), 201)


async def test_accepting_reveals_the_contact_and_hands_the_lead_over(
    client: httpx.AsyncClient, world: World, setup: Setup
) -> None:
    lead = await qualified_lead(client, world.cm_a)
    await ok(await route(client, world.cm_a, lead, target_kind="partner_user", user_id=str(world.pa_user.user_id)))
    [offer] = await offers_for(client, world.pa_admin, status="open")
    # Offered to one rep: another ordinary user of the partner may not take it, its admin may.
    other = await client.post(f"{API}/offers/{offer['id']}/accept", headers=world.pb_user.headers)
    assert other.status_code == 404
    staff = await client.post(f"{API}/offers/{offer['id']}/accept", headers=world.cm_a.headers)
    assert staff.status_code == 403
    accepted = await ok(await client.post(f"{API}/offers/{offer['id']}/accept", headers=world.pa_user.headers))
    assert accepted["status"] == "accepted"
    assert accepted["contact"] == {
        "first_name": "Peter",
        "last_name": "Gibbons",
        "email": "peter@initech.example",
        "phone": "+1 555 0100",
        "title": "Engineer",
    }
    again = await client.post(f"{API}/offers/{offer['id']}/accept", headers=world.pa_user.headers)
    assert again.status_code == 409
    assert again.json()["current_state"] == "accepted"
    crm = await ok(await client.get(f"/api/v1/leads/{lead['id']}", headers=world.pa_user.headers))
    assert (crm["status"], crm["partner_id"], crm["owner_id"]) == (
        "accepted",
        str(world.partner_a),
        str(world.pa_user.user_id),
    )
    assert (await client.get(f"/api/v1/leads/{lead['id']}", headers=world.pb_user.headers)).status_code == 404
    history = (await ok(await client.get(f"/api/v1/leads/{lead['id']}/history?sort=at", headers=world.cm_a.headers)))[
        "items"
    ]
    assert [h["action"] for h in history] == ["created", "qualified", "routed", "accepted"]
    assert history[-1]["actor_id"] == str(world.pa_user.user_id)


async def test_declining_reroutes_never_back_to_the_decliner(
    client: httpx.AsyncClient, world: World, setup: Setup, app: Litestar
) -> None:
    await pool_rule(client, world, setup)
    lead = await qualified_lead(client, world.cm_a)
    await ok(await route(client, world.cm_a, lead, target_kind="partner", partner_id=str(world.partner_a)))
    [offer] = await offers_for(client, world.pa_user, status="open")
    unknown = await client.post(
        f"{API}/offers/{offer['id']}/decline", json={"reason": "busy"}, headers=world.pa_user.headers
    )
    assert unknown.status_code == 400
    no_note = await client.post(
        f"{API}/offers/{offer['id']}/decline", json={"reason": "other"}, headers=world.pa_user.headers
    )
    assert no_note.status_code == 422
    declined = await ok(
        await client.post(
            f"{API}/offers/{offer['id']}/decline",
            json={"reason": "outside_territory", "note": "We do not cover Texas"},
            headers=world.pa_user.headers,
        )
    )
    assert (declined["status"], declined["decline_reason"], declined["contact"]) == (
        "declined",
        "outside_territory",
        None,
    )
    # Straight to the only other eligible partner, by the rules.
    [b_offer] = await offers_for(client, world.pb_user, status="open")
    assert b_offer["lead_id"] == lead["id"]
    decisions = (await ok(await client.get(f"{API}/leads/{lead['id']}/decisions", headers=world.admin.headers)))[
        "items"
    ]
    recall = decisions[-1]
    assert (recall["mode"], recall["partner_id"]) == ("recall", str(world.partner_b))
    # Names, never ids: the explanation is read by people.
    assert "declined by partner Acme Resellers" in recall["explanation"]
    assert "partner Globex Integrators" in recall["explanation"]
    assert not UUID_TEXT.search(recall["explanation"])
    assert {"partner_id": str(world.partner_a), "reasons": ["already declined this lead or let it expire"]} in recall[
        "excluded"
    ]
    # B declines too: nobody is left, so the lead goes back to the channel managers.
    await ok(
        await client.post(
            f"{API}/offers/{b_offer['id']}/decline", json={"reason": "no_capacity"}, headers=world.pb_admin.headers
        )
    )
    back = await lead_of(client, world.cm_a, lead)
    assert back["status"] == "sales_qualified"
    assert back["current_offer"] is None
    assert any("back in your queue" in m["subject"] for m in await emails_to(app, world.cm_a.email))
    manual_a = await route(
        client, world.cm_a, lead, target_kind="partner", partner_id=str(world.partner_a), override_eligibility=True
    )
    assert manual_a.status_code == 422  # even a channel manager cannot hand it back to a decliner
    assert await offers_for(client, world.pa_user, status="open") == []


async def expiring_offers(client: httpx.AsyncClient, world: World, count: int) -> list[dict[str, Any]]:
    leads = []
    for index in range(count):
        lead = await qualified_lead(client, world.cm_a, company=f"Expiring {index}")
        await ok(await route(client, world.cm_a, lead, target_kind="partner", partner_id=str(world.partner_a)))
        leads.append(lead)
    return leads


async def test_unanswered_offers_are_recalled_once_and_rerouted(
    client: httpx.AsyncClient, world: World, setup: Setup, app: Litestar, clock: ManualClock
) -> None:
    await pool_rule(client, world, setup)
    [lead] = await expiring_offers(client, world, 1)
    clock.advance(timedelta(hours=47, minutes=59))
    assert await run_job(app, "expire_offers") == 0
    clock.advance(timedelta(minutes=1))
    late = await client.post(
        f"{API}/offers/{(await offers_for(client, world.pa_user))[0]['id']}/accept", headers=world.pa_user.headers
    )
    assert late.status_code == 409  # the clock ran out even before the timer came round
    assert late.json()["current_state"] == "expired"
    clock.advance(timedelta(hours=5))  # and the timer comes late
    assert await run_job(app, "expire_offers") == 1
    assert await run_job(app, "expire_offers") == 0
    [expired] = await offers_for(client, world.pa_user)
    assert expired["status"] == "expired"
    [b_offer] = await offers_for(client, world.pb_user, status="open")
    assert b_offer["lead_id"] == lead["id"]
    clock.advance(timedelta(hours=48))
    assert await run_job(app, "expire_offers") == 1
    back = await lead_of(client, world.cm_a, lead)
    assert back["status"] == "sales_qualified"
    url = f"{API}/leads/{lead['id']}/decisions"
    first = await ok(await client.get(url, params={"limit": 2}, headers=world.admin.headers))
    rest = await ok(
        await client.get(url, params={"limit": 2, "cursor": first["next_cursor"]}, headers=world.admin.headers)
    )
    assert rest["next_cursor"] is None
    assert [d["mode"] for d in first["items"] + rest["items"]] == ["manual", "recall", "recall"]  # oldest first


async def test_hot_leads_get_a_shorter_response_time(client: httpx.AsyncClient, world: World, setup: Setup) -> None:
    hot = await qualified_lead(
        client,
        world.cm_a,
        facts={"time_frame": "immediate", "budget_minor": 20_000_000, "product_id": setup.products["FW-100"]},
    )
    assert hot["band"] == "hot"
    await ok(await route(client, world.cm_a, hot, target_kind="partner", partner_id=str(world.partner_a)))
    [offer] = await offers_for(client, world.pa_user)
    assert offer["seconds_left"] == 4 * 3600


async def test_two_timer_runners_at_once_recall_each_offer_once(
    client: httpx.AsyncClient, world: World, setup: Setup, app: Litestar, clock: ManualClock
) -> None:
    leads = await expiring_offers(client, world, 6)
    clock.advance(timedelta(hours=49))
    other_db = Database(app.state.settings.database_url, clock=clock)
    try:
        runners = [app.state.runtime.jobs, JobRunner(other_db)]
        register_jobs(runners[1])
        name = "lead_distribution.expire_offers"
        results = await asyncio.gather(runners[0].run(name), runners[1].run(name), runners[0].run(name))
        assert sum(r or 0 for r in results) == 6
    finally:
        await other_db.dispose()
    for lead in leads:
        decisions = (await ok(await client.get(f"{API}/leads/{lead['id']}/decisions", headers=world.admin.headers)))[
            "items"
        ]
        assert [d["mode"] for d in decisions] == ["manual", "recall"]
        assert decisions[-1]["outcome"] == "returned_to_queue"  # no rules: back to the channel manager
        history = (await ok(await client.get(f"/api/v1/leads/{lead['id']}/history", headers=world.cm_a.headers)))[
            "items"
        ]
        assert [h["action"] for h in history].count("returned_to_queue") == 1
    returned = [m for m in await emails_to(app, world.cm_a.email) if "back in your queue" in m["subject"]]
    assert len(returned) == 6
    assert [o["status"] for o in await offers_for(client, world.pa_user)] == ["expired"] * 6
