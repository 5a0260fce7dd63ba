"""The lead referral program through HTTP: the vendor's program and fee, partners applying or
invited and approved, referrals submitted and decided, and the fee credited once on Closed Won."""

from __future__ import annotations

from typing import Any

import httpx
from litestar import Litestar

from tests.conftest import Actor, World
from tests.lead_distribution.conftest import API, Setup, lead_of, offers_for, ok, route, run_job

PROGRAMS = f"{API}/referral-programs"
MEMBERSHIPS = f"{API}/referral-memberships"
REFERRALS = f"{API}/referrals"


async def program(client: httpx.AsyncClient, world: World, **fee: Any) -> dict[str, Any]:
    body = {"name": "Refer a friend", "terms": "A fee for every referred lead we win.", "currency": "USD"} | fee
    return dict(await ok(await client.post(PROGRAMS, json=body, headers=world.admin.headers), 201))


async def approved(client: httpx.AsyncClient, world: World, actor: Actor, program_id: str) -> None:
    applied = await ok(await client.post(f"{PROGRAMS}/{program_id}/applications", json={}, headers=actor.headers), 201)
    await ok(
        await client.post(
            f"{MEMBERSHIPS}/{applied['id']}/decision",
            json={"expected_version": applied["version"], "approve": True},
            headers=world.admin.headers,
        )
    )


def referral_body(program_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "program_id": program_id,
        "first_name": "Milton",
        "last_name": "Waddams",
        "company": "Initrode",
        "email": "milton@initrode.example",
        "country": "US",
        "current_situation": "Wants a new stapler fleet",
    } | extra


async def test_programs_memberships_and_who_may_do_what(client: httpx.AsyncClient, world: World) -> None:
    both = await client.post(
        PROGRAMS,
        json={"name": "x", "terms": "t", "currency": "USD", "fee_minor": 1, "fee_bps": 1},
        headers=world.admin.headers,
    )
    assert both.status_code == 422
    assert both.json()["errors"][0]["field"] == "fee_minor"
    assert (
        await client.post(
            PROGRAMS, json={"name": "x", "terms": "t", "currency": "USD", "fee_minor": 1}, headers=world.cm_a.headers
        )
    ).status_code == 403
    refer = await program(client, world, fee_minor=500_00)

    applied = await ok(
        await client.post(
            f"{PROGRAMS}/{refer['id']}/applications", json={"note": "We know many CIOs"}, headers=world.pa_user.headers
        ),
        201,
    )
    assert applied["status"] == "applied"
    twice = await client.post(f"{PROGRAMS}/{refer['id']}/applications", json={}, headers=world.pa_admin.headers)
    assert twice.status_code == 409
    assert (await client.get(f"{MEMBERSHIPS}", headers=world.pb_admin.headers)).json()["items"] == []
    decide = f"{MEMBERSHIPS}/{applied['id']}/decision"
    assert (
        await client.post(decide, json={"expected_version": 1, "approve": True}, headers=world.cm_b.headers)
    ).status_code == 404
    assert (
        await client.post(decide, json={"expected_version": 1, "approve": True}, headers=world.pa_admin.headers)
    ).status_code == 403
    yes = await ok(await client.post(decide, json={"expected_version": 1, "approve": True}, headers=world.cm_a.headers))
    assert yes["status"] == "approved"

    invited = await ok(
        await client.post(
            f"{PROGRAMS}/{refer['id']}/invitations",
            json={"partner_id": str(world.partner_b)},
            headers=world.cm_b.headers,
        ),
        201,
    )
    assert invited["status"] == "invited"
    answer = f"{MEMBERSHIPS}/{invited['id']}/answer"
    assert (
        await client.post(answer, json={"expected_version": 1, "approve": True}, headers=world.pa_admin.headers)
    ).status_code == 404
    declined = await ok(
        await client.post(answer, json={"expected_version": 1, "approve": False}, headers=world.pb_admin.headers)
    )
    assert declined["status"] == "declined"
    reinvited = await ok(
        await client.post(
            f"{PROGRAMS}/{refer['id']}/invitations",
            json={"partner_id": str(world.partner_b)},
            headers=world.admin.headers,
        ),
        201,
    )
    accepted = await ok(
        await client.post(
            answer, json={"expected_version": reinvited["version"], "approve": True}, headers=world.pb_admin.headers
        )
    )
    assert accepted["status"] == "approved"


async def test_a_won_referral_earns_its_fee_once(
    client: httpx.AsyncClient, world: World, setup: Setup, app: Litestar
) -> None:
    refer = await program(client, world, fee_bps=250)  # 2.5 % of the won amount
    not_yet = await client.post(REFERRALS, json=referral_body(refer["id"]), headers=world.pa_user.headers)
    assert not_yet.status_code == 422
    assert not_yet.json()["errors"][0]["field"] == "program_id"
    await approved(client, world, world.pa_admin, refer["id"])
    referral = await ok(
        await client.post(REFERRALS, json=referral_body(refer["id"]), headers=world.pa_user.headers), 201
    )
    assert (referral["status"], referral["company"], referral["partner_id"]) == (
        "submitted",
        "Initrode",
        str(world.partner_a),
    )
    # The referred lead is the vendor's: the referring partner does not see it, the vendor does.
    assert (await client.get(f"/api/v1/leads/{referral['lead_id']}", headers=world.pa_user.headers)).status_code == 404
    lead = await lead_of(client, world.cm_b, {"id": referral["lead_id"]})
    assert (lead["source"], lead["status"]) == ("referral", "new")
    assert (await client.get(f"{REFERRALS}/{referral['id']}", headers=world.pb_admin.headers)).status_code == 404

    decided = await ok(
        await client.post(
            f"{REFERRALS}/{referral['id']}/decision",
            json={"expected_version": referral["version"], "accept": True},
            headers=world.cm_a.headers,
        )
    )
    assert decided["status"] == "accepted"

    # The vendor qualifies it and hands it to partner B, which wins it.
    qualified = await ok(
        await client.post(
            f"{API}/leads/{lead['id']}/qualify",
            json={"expected_version": lead["version"], "stage": "sales_qualified"},
            headers=world.cm_b.headers,
        )
    )
    await ok(await route(client, world.cm_b, qualified, target_kind="partner", partner_id=str(world.partner_b)))
    [offer] = await offers_for(client, world.pb_user, status="open")
    await ok(await client.post(f"{API}/offers/{offer['id']}/accept", headers=world.pb_user.headers))
    held = await lead_of(client, world.pb_user, lead)
    done = await ok(
        await client.post(
            f"{API}/leads/{lead['id']}/convert",
            json={"expected_version": held["version"], "amount_minor": 1_234_567, "currency": "USD"},
            headers=world.pb_user.headers,
        )
    )
    assert await run_job(app, "credit_won_referrals") == 0  # not won yet
    opportunity = await ok(
        await client.get(f"/api/v1/opportunities/{done['opportunity_id']}", headers=world.pb_user.headers)
    )
    await ok(
        await client.patch(
            f"/api/v1/opportunities/{done['opportunity_id']}",
            json={"expected_version": opportunity["version"], "stage": "Closed Won"},
            headers=world.pb_user.headers,
        )
    )
    assert await run_job(app, "credit_won_referrals") == 1
    assert await run_job(app, "credit_won_referrals") == 0

    won = await ok(await client.get(f"{REFERRALS}/{referral['id']}", headers=world.pa_user.headers))
    assert (won["status"], won["opportunity_id"], won["fee_minor"]) == ("won", done["opportunity_id"], 30_864)
    credits = (await ok(await client.get("/api/v1/credits", headers=world.pa_admin.headers)))["items"]
    assert [(c["source_type"], c["amount_minor"], c["id"]) for c in credits] == [("referral", 30_864, won["credit_id"])]
    assert (await ok(await client.get("/api/v1/credits", headers=world.pb_admin.headers)))["items"] == []


async def test_a_rejected_referral_disqualifies_its_lead(client: httpx.AsyncClient, world: World) -> None:
    refer = await program(client, world, fee_minor=100_00)
    await approved(client, world, world.pb_admin, refer["id"])
    referral = await ok(
        await client.post(REFERRALS, json=referral_body(refer["id"]), headers=world.pb_user.headers), 201
    )
    rejected = await ok(
        await client.post(
            f"{REFERRALS}/{referral['id']}/decision",
            json={"expected_version": referral["version"], "accept": False, "note": "Already a direct customer"},
            headers=world.cm_b.headers,
        )
    )
    assert (rejected["status"], rejected["decision_note"]) == ("rejected", "Already a direct customer")
    lead = await lead_of(client, world.admin, {"id": referral["lead_id"]})
    assert lead["status"] == "disqualified"
    again = await client.post(
        f"{REFERRALS}/{referral['id']}/decision",
        json={"expected_version": rejected["version"], "accept": True},
        headers=world.cm_b.headers,
    )
    assert again.status_code == 409
    assert (
        await client.post(
            f"{REFERRALS}/{referral['id']}/decision",
            json={"expected_version": rejected["version"], "accept": True},
            headers=world.cm_a.headers,
        )
    ).status_code == 404
