"""Opportunities through HTTP: direct and indirect, stages and closing, paging, filters, history."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx

from prm.core.clock import ManualClock
from tests.conftest import Actor, World

Client = httpx.AsyncClient
URL = "/api/v1/opportunities"


async def _account(client: Client, actor: Actor, name: str = "Initrode", **extra: Any) -> str:
    reply = await client.post("/api/v1/accounts", json={"name": name, **extra}, headers=actor.headers)
    assert reply.status_code == 201, reply.text
    return str(reply.json()["id"])


async def _opportunity(client: Client, actor: Actor, account_id: str, **extra: Any) -> dict[str, Any]:
    body = {"name": "Deal", "account_id": account_id, "amount_minor": 100_000, "currency": "USD"} | extra
    reply = await client.post(URL, json=body, headers=actor.headers)
    assert reply.status_code == 201, reply.text
    result: dict[str, Any] = reply.json()
    return result


async def test_partner_registers_an_indirect_opportunity_for_its_own_organisation(client: Client, world: World) -> None:
    account_id = await _account(client, world.pa_user)
    created = await _opportunity(client, world.pa_user, account_id, name="Initrode rollout", close_date="2026-06-30")
    assert created["partner_id"] == str(world.partner_a)
    assert created["owner_id"] == str(world.pa_user.user_id)
    assert created["stage"] == "Prospecting"
    assert created["closed_at"] is None
    assert created["version"] == 1

    fetched = await client.get(f"{URL}/{created['id']}", headers=world.pa_admin.headers)
    assert fetched.status_code == 200
    assert fetched.json()["name"] == "Initrode rollout"
    assert fetched.json()["close_date"] == "2026-06-30"


async def test_partner_cannot_name_another_partner(client: Client, world: World) -> None:
    account_id = await _account(client, world.pa_user)
    body = {
        "name": "X",
        "account_id": account_id,
        "amount_minor": 1,
        "currency": "USD",
        "partner_id": str(world.partner_b),
    }
    reply = await client.post(URL, json=body, headers=world.pa_user.headers)
    assert reply.status_code == 422
    assert reply.json()["errors"][0]["field"] == "partner_id"


async def test_an_account_the_caller_cannot_see_is_refused_like_a_missing_one(client: Client, world: World) -> None:
    others = await _account(client, world.pb_user, "Globex customer")
    vendors = await _account(client, world.admin, "Vendor customer")
    missing = str(uuid.uuid4())
    for account_id in (others, vendors, missing):
        body = {"name": "X", "account_id": account_id, "amount_minor": 1, "currency": "USD"}
        reply = await client.post(URL, json=body, headers=world.pa_user.headers)
        assert reply.status_code == 422, reply.text
        problem = reply.json()
        assert problem["errors"][0]["field"] == "account_id"
        assert problem["detail"] == f"Account {account_id} not found."
    listed = (await client.get(URL, headers=world.admin.headers)).json()["items"]
    assert listed == []


async def test_staff_create_direct_and_indirect_for_partners_they_act_for(client: Client, world: World) -> None:
    vendor_account = await _account(client, world.admin, "Contoso")
    direct = await _opportunity(client, world.admin, vendor_account)
    assert direct["partner_id"] is None
    indirect = await _opportunity(client, world.cm_a, vendor_account, partner_id=str(world.partner_a))
    assert indirect["partner_id"] == str(world.partner_a)
    assert (await client.get(f"{URL}/{indirect['id']}", headers=world.pa_user.headers)).status_code == 200
    assert (await client.get(f"{URL}/{direct['id']}", headers=world.pa_user.headers)).status_code == 404

    body = {"name": "X", "account_id": vendor_account, "amount_minor": 1, "currency": "USD"}
    not_managed = await client.post(URL, json=body | {"partner_id": str(world.partner_a)}, headers=world.cm_b.headers)
    assert not_managed.status_code == 422
    assert not_managed.json()["errors"][0]["field"] == "partner_id"
    b_account = await _account(client, world.pb_user, "Globex customer")
    wrong_owner = await client.post(
        URL, json=body | {"account_id": b_account, "partner_id": str(world.partner_a)}, headers=world.admin.headers
    )
    assert wrong_owner.status_code == 422
    assert wrong_owner.json()["errors"][0]["field"] == "partner_id"
    leader = await client.post(URL, json=body, headers=world.leader.headers)
    assert leader.status_code == 403


async def test_closing_sets_closed_at_from_the_clock_and_closed_is_final(
    client: Client, world: World, clock: ManualClock
) -> None:
    account_id = await _account(client, world.pa_user)
    opportunity = await _opportunity(client, world.pa_user, account_id)
    url = f"{URL}/{opportunity['id']}"
    clock.advance(timedelta(minutes=3))  # tokens last 30 minutes
    moved = await client.patch(url, json={"expected_version": 1, "stage": "Negotiation"}, headers=world.pa_user.headers)
    assert moved.status_code == 200, moved.text
    assert moved.json()["closed_at"] is None
    clock.advance(timedelta(minutes=2))
    won = await client.patch(
        url, json={"expected_version": 2, "stage": "Closed Won", "amount_minor": 250_000}, headers=world.pa_user.headers
    )
    assert won.status_code == 200, won.text
    assert won.json()["closed_at"].startswith("2026-03-02T09:05:00")
    assert won.json()["amount_minor"] == 250_000

    for stage in ("Negotiation", "Closed Lost"):
        back = await client.patch(url, json={"expected_version": 3, "stage": stage}, headers=world.pa_user.headers)
        assert back.status_code == 409, back.text
        assert back.json()["current_stage"] == "Closed Won"
        assert back.json()["errors"][0]["field"] == "stage"
    still = await client.patch(
        url, json={"expected_version": 3, "stage": "Closed Won", "name": "Renamed"}, headers=world.pa_user.headers
    )
    assert still.status_code == 200
    assert still.json()["closed_at"] == won.json()["closed_at"]


async def test_created_closed_gets_closed_at(client: Client, world: World) -> None:
    account_id = await _account(client, world.admin)
    lost = await _opportunity(client, world.admin, account_id, stage="Closed Lost")
    assert lost["closed_at"].startswith("2026-03-02T09:00:00")


async def test_stale_version_is_409_and_history_records_each_change(client: Client, world: World) -> None:
    account_id = await _account(client, world.admin)
    opportunity = await _opportunity(client, world.admin, account_id)
    url = f"{URL}/{opportunity['id']}"
    first = await client.patch(url, json={"expected_version": 1, "stage": "Proposal"}, headers=world.admin.headers)
    assert first.status_code == 200
    stale = await client.patch(url, json={"expected_version": 1, "amount_minor": 5}, headers=world.admin.headers)
    assert stale.status_code == 409
    assert stale.json()["current_version"] == 2

    history = (await client.get(f"{url}/history?sort=at", headers=world.admin.headers)).json()["items"]
    assert [h["action"] for h in history] == ["created", "updated"]
    assert history[0]["changes"]["amount_minor"] == [None, 100_000]
    assert history[0]["changes"]["stage"] == [None, "Prospecting"]
    assert history[1]["changes"] == {"stage": ["Prospecting", "Proposal"]}
    assert history[1]["actor_id"] == str(world.admin.user_id)


async def test_other_partners_get_404_on_read_update_and_history(client: Client, world: World) -> None:
    account_id = await _account(client, world.pa_user)
    opportunity = await _opportunity(client, world.pa_user, account_id)
    url = f"{URL}/{opportunity['id']}"
    for actor in (world.pb_user, world.pb_admin, world.cm_b):
        assert (await client.get(url, headers=actor.headers)).status_code == 404, actor.email
        assert (await client.get(f"{url}/history", headers=actor.headers)).status_code == 404
        patched = await client.patch(url, json={"expected_version": 1, "name": "Mine"}, headers=actor.headers)
        assert patched.status_code == 404
    assert (await client.get(url, headers=world.cm_a.headers)).status_code == 200
    assert (await client.get(url, headers=world.leader.headers)).status_code == 200


async def test_keyset_pages_by_amount_cover_every_row_once(client: Client, world: World) -> None:
    account_id = await _account(client, world.pa_user)
    amounts = [(i * 7919) % 1000 * 100 for i in range(25)]
    for i, amount in enumerate(amounts):
        await _opportunity(client, world.pa_user, account_id, name=f"Deal {i:02d}", amount_minor=amount)
    other = await _account(client, world.pb_user, "Theirs")
    await _opportunity(client, world.pb_user, other, amount_minor=999_999)
    seen: list[int] = []
    cursor = None
    while True:
        params = {"limit": 10, "sort": "-amount_minor"} | ({"cursor": cursor} if cursor else {})
        reply = await client.get(URL, params=params, headers=world.pa_user.headers)
        assert reply.status_code == 200, reply.text
        seen += [o["amount_minor"] for o in reply.json()["items"]]
        cursor = reply.json()["next_cursor"]
        if not cursor:
            break
    assert seen == sorted(amounts, reverse=True)


async def test_sort_by_stage_pages_through_enum_values(client: Client, world: World) -> None:
    account_id = await _account(client, world.admin)
    stages = ["Proposal", "Closed Won", "Prospecting", "Negotiation", "Closed Lost", "Presentation"] * 2
    for stage in stages:
        await _opportunity(client, world.admin, account_id, stage=stage)
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 4, "sort": "stage"} | ({"cursor": cursor} if cursor else {})
        reply = await client.get(URL, params=params, headers=world.admin.headers)
        assert reply.status_code == 200, reply.text
        seen += [o["stage"] for o in reply.json()["items"]]
        cursor = reply.json()["next_cursor"]
        if not cursor:
            break
    assert seen == sorted(stages)


async def test_filters_stage_channel_partner_account_and_close_dates(client: Client, world: World) -> None:
    vendor_account = await _account(client, world.admin, "Contoso")
    a_account = await _account(client, world.pa_user, "Fabrikam")
    b_account = await _account(client, world.pb_user, "Tailspin")
    await _opportunity(client, world.admin, vendor_account, name="direct-may", close_date="2026-05-10")
    await _opportunity(client, world.admin, vendor_account, name="a-on-vendor", partner_id=str(world.partner_a))
    await _opportunity(client, world.pa_user, a_account, name="a-june", stage="Proposal", close_date="2026-06-15")
    await _opportunity(client, world.pb_user, b_account, name="b-july", stage="Proposal", close_date="2026-07-01")

    async def names(actor: Actor, **params: str) -> list[str]:
        reply = await client.get(URL, params={"sort": "name", **params}, headers=actor.headers)
        assert reply.status_code == 200, reply.text
        return [o["name"] for o in reply.json()["items"]]

    assert await names(world.admin, channel="direct") == ["direct-may"]
    assert await names(world.admin, channel="indirect") == ["a-june", "a-on-vendor", "b-july"]
    assert await names(world.admin, stage="Proposal") == ["a-june", "b-july"]
    assert await names(world.admin, partner_id=str(world.partner_a)) == ["a-june", "a-on-vendor"]
    assert await names(world.admin, account_id=vendor_account) == ["a-on-vendor", "direct-may"]
    assert await names(world.admin, close_date_from="2026-06-01") == ["a-june", "b-july"]
    assert await names(world.admin, close_date_from="2026-05-01", close_date_to="2026-06-30") == [
        "a-june",
        "direct-may",
    ]
    assert await names(world.pa_user) == ["a-june", "a-on-vendor"]
    assert await names(world.pa_user, partner_id=str(world.partner_b)) == []
    assert await names(world.cm_b, channel="indirect") == ["b-july"]

    bad = await client.get(URL, params={"channel": "sideways"}, headers=world.admin.headers)
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "channel"
    inverted = await client.get(
        URL, params={"close_date_from": "2026-07-01", "close_date_to": "2026-06-01"}, headers=world.admin.headers
    )
    assert inverted.status_code == 422
    assert inverted.json()["errors"][0]["field"] == "close_date_to"


async def test_bad_input_names_the_field_and_writes_nothing(client: Client, world: World) -> None:
    account_id = await _account(client, world.admin)
    good = {"name": "X", "account_id": account_id, "amount_minor": 1, "currency": "USD"}
    cases = [
        (good | {"name": ""}, "name"),
        (good | {"amount_minor": -1}, "amount_minor"),
        (good | {"amount_minor": 10.5}, "amount_minor"),
        (good | {"currency": "usd"}, "currency"),
        (good | {"stage": "Won"}, "stage"),
        (good | {"account_id": "nope"}, "account_id"),
        (good | {"close_date": "30/06/2026"}, "close_date"),
        (good | {"probability": 50}, "probability"),
        ({k: v for k, v in good.items() if k != "account_id"}, "account_id"),
    ]
    for body, field in cases:
        reply = await client.post(URL, json=body, headers=world.admin.headers)
        assert reply.status_code == 400, (body, reply.text)
        assert field in reply.json()["detail"], reply.json()
    assert (await client.get(URL, headers=world.admin.headers)).json()["items"] == []
