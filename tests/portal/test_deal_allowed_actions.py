"""The deal registration state machine is stated once: for each state and viewer the API's reply
names the actions allowed (`allowed_actions`), the pages show exactly those, and the API refuses
an action that is not among them with 409."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.conftest import Actor, World
from tests.portal.conftest import SignIn
from tests.portal.deal_data import API, Catalog, make_catalog, read_via_api, register_via_api

NONE: set[str] = set()


def shown_actions(page: str) -> set[str]:
    """The actions a registration page offers: each action card names the ones it carries."""
    return {name for names in re.findall(r'data-actions="([^"]+)"', page) for name in names.split()}


async def check(client: httpx.AsyncClient, sign_in: SignIn, actor: Actor, registration_id: str, path: str) -> set[str]:
    """The API's allowed actions for `actor`, asserted equal to what `actor`'s page shows."""
    allowed = set((await read_via_api(client, actor, registration_id))["allowed_actions"])
    await sign_in(actor)
    reply = await client.get(f"{path}/{registration_id}")
    assert reply.status_code == 200, reply.text
    assert shown_actions(reply.text) == allowed, (actor.email, registration_id)
    return allowed


async def post(client: httpx.AsyncClient, actor: Actor, path: str, body: dict[str, Any]) -> httpx.Response:
    return await client.post(f"{API}/{path}", json=body, headers=actor.headers)


async def registration(client: httpx.AsyncClient, world: World, catalog: Catalog, name: str, **more: Any) -> str:
    body = {"customer_name": name, "customer_website": f"https://{name.lower().replace(' ', '')}.example"}
    return str((await register_via_api(client, world.pa_user, catalog, **body, **more))["id"])


async def version(client: httpx.AsyncClient, world: World, registration_id: str) -> int:
    return int((await read_via_api(client, world.admin, registration_id))["version"])


async def test_each_role_and_state_sees_the_actions_the_api_allows_and_nothing_else_is_taken(
    client: httpx.AsyncClient, world: World, sign_in: SignIn
) -> None:
    catalog = await make_catalog(client, world.admin)
    program_id = catalog.program["id"]
    second = {"above_minor": 40_000_00, "approver": "vendor_admin"}
    rules = {"expected_version": catalog.program["version"], "second_approval": second}
    reply = await client.put(
        f"/api/v1/deal-programs/{program_id}/approval-rules", json=rules, headers=world.admin.headers
    )
    assert reply.status_code == 200, reply.text
    partner, reviewer = world.pa_user, world.cm_a

    draft = await registration(client, world, catalog, "Draft Co", submit=False)
    assert await check(client, sign_in, partner, draft, "/deals") == {"edit", "submit", "cancel"}
    assert set((await read_via_api(client, world.leader, draft))["allowed_actions"]) == NONE
    assert (
        await post(client, partner, f"{draft}/close-lost", {"expected_version": 1, "reason": "gone"})
    ).status_code == 409

    submitted = await registration(client, world, catalog, "Submitted Co")
    assert await check(client, sign_in, partner, submitted, "/deals") == {"cancel"}
    assert await check(client, sign_in, reviewer, submitted, "/reviews") == {"approve", "reject", "mark_duplicate"}
    body = {"expected_version": await version(client, world, submitted), "customer_name": "Edited"}
    reply = await client.patch(f"{API}/{submitted}", json=body, headers=partner.headers)
    assert reply.status_code == 409, reply.text  # only drafts are edited

    # Above 40,000 the second approval is a vendor admin's: the first approver is offered no Approve.
    big = await registration(client, world, catalog, "Big Co", estimated_amount_minor=48_000_00)
    reply = await post(client, reviewer, f"{big}/approve", {"expected_version": await version(client, world, big)})
    assert reply.status_code == 200, reply.text
    assert await check(client, sign_in, reviewer, big, "/reviews") == {"reject", "mark_duplicate"}
    assert await check(client, sign_in, world.admin, big, "/reviews") == {"approve", "reject", "mark_duplicate"}

    reply = await post(
        client, reviewer, f"{submitted}/approve", {"expected_version": await version(client, world, submitted)}
    )
    assert reply.status_code == 200, reply.text
    approved = submitted
    assert await check(client, sign_in, partner, approved, "/deals") == {"close_won", "close_lost", "request_extension"}
    assert await check(client, sign_in, reviewer, approved, "/reviews") == NONE
    current = await version(client, world, approved)
    for path, body in (
        (f"{approved}/approve", {"expected_version": current}),
        (f"{approved}/reject", {"expected_version": current, "reason": "other", "explanation": "too late"}),
    ):
        assert (await post(client, reviewer, path, body)).status_code == 409, path
    for path in (f"{approved}/submit", f"{approved}/cancel"):
        assert (await post(client, partner, path, {"expected_version": current})).status_code == 409, path
    again = {"customer_name": "Submitted Co", "products": [{"product_id": catalog.products["FW-100"], "quantity": 1}]}
    assert (await post(client, partner, f"{approved}/resubmit", again)).status_code == 409

    rejected = await registration(client, world, catalog, "Rejected Co")
    body = {
        "expected_version": await version(client, world, rejected),
        "reason": "incomplete",
        "explanation": "Say more",
    }
    assert (await post(client, reviewer, f"{rejected}/reject", body)).status_code == 200
    assert await check(client, sign_in, partner, rejected, "/deals") == {"resubmit"}
    assert await check(client, sign_in, reviewer, rejected, "/reviews") == NONE
    resubmission = {
        "customer_name": "Rejected Co",
        "contact_email": "buyer@rejected.example",
        "products": [{"product_id": catalog.products["FW-100"], "quantity": 5}],
        "estimated_amount_minor": 30_000_00,
        "expected_close_date": "2026-07-31",
    }
    reply = await post(client, partner, f"{rejected}/resubmit", resubmission)
    assert reply.status_code == 201, reply.text
    assert reply.json()["allowed_actions"] == ["cancel"]
    assert await check(client, sign_in, partner, rejected, "/deals") == NONE  # replaced by its resubmission
    assert (await post(client, partner, f"{rejected}/resubmit", resubmission)).status_code == 409

    # Another partner's viewer sees neither the registration nor its actions.
    assert (await client.get(f"{API}/{approved}", headers=world.pb_admin.headers)).status_code == 404


async def test_the_comparison_names_a_direct_opportunitys_company_and_domain_and_dates_read_one_way(
    client: httpx.AsyncClient, world: World, sign_in: SignIn
) -> None:
    catalog = await make_catalog(client, world.admin)
    body = {"name": "Umbrella Corporation", "domain": "umbrella.example"}
    account = await client.post("/api/v1/accounts", json=body, headers=world.admin.headers)
    assert account.status_code == 201, account.text
    body = {"name": "Direct", "account_id": account.json()["id"], "amount_minor": 1_000, "currency": "USD"}
    assert (await client.post("/api/v1/opportunities", json=body, headers=world.admin.headers)).status_code == 201
    registration_id = (await register_via_api(client, world.pa_user, catalog))["id"]

    await sign_in(world.cm_a)
    page = (await client.get(f"/reviews/{registration_id}")).text
    customer = re.search(
        r'<th scope="row">Customer</th>\s*<td class="this-col">[^<]*</td>\s*<td class="conflict-col">([^<]*)', page
    )
    domain = re.search(
        r'<th scope="row">Web domain</th>\s*<td class="this-col">[^<]*</td>\s*<td class="conflict-col">([^<]*)', page
    )
    assert customer, "no comparison column"
    assert domain, "no comparison column"
    assert (customer.group(1).strip(), domain.group(1).strip()) == ("Umbrella Corporation", "umbrella.example")
    assert "The vendor (direct sales)" in page
    # One date format: the expected close date as a day, a moment with its UTC time behind it.
    assert "<dt>Expected close</dt><dd>31 Jul 2026</dd>" in page
    assert re.search(
        r'<time datetime="2026-03-02T09:00:00Z" title="2 Mar 2026, 09:00 UTC">2 Mar 2026, 09:00 UTC</time>', page
    )
    assert "2026-07-31" not in page
