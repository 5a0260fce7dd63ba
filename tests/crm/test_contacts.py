"""Contacts through HTTP: they live on an account the caller can see and inherit its owner."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.conftest import Actor, World

Client = httpx.AsyncClient
URL = "/api/v1/contacts"


async def _account(client: Client, actor: Actor, name: str = "Initrode", **extra: Any) -> str:
    reply = await client.post("/api/v1/accounts", json={"name": name, **extra}, headers=actor.headers)
    assert reply.status_code == 201, reply.text
    return str(reply.json()["id"])


async def _contact(client: Client, actor: Actor, account_id: str, **extra: Any) -> dict[str, Any]:
    body = {"account_id": account_id, "first_name": "Peter", "last_name": "Gibbons"} | extra
    reply = await client.post(URL, json=body, headers=actor.headers)
    assert reply.status_code == 201, reply.text
    result: dict[str, Any] = reply.json()
    return result


async def test_contact_takes_the_partner_of_its_account(client: Client, world: World) -> None:
    a_account = await _account(client, world.pa_user)
    mine = await _contact(client, world.pa_user, a_account, email="Peter@Initrode.example", title="Engineer")
    assert mine["partner_id"] == str(world.partner_a)
    assert mine["email"] == "peter@initrode.example"
    # Staff adding a contact to a partner's account: it is still that partner's contact.
    by_staff = await _contact(client, world.cm_a, a_account, first_name="Joanna")
    assert by_staff["partner_id"] == str(world.partner_a)
    vendor_account = await _account(client, world.admin, "Contoso")
    vendors = await _contact(client, world.admin, vendor_account)
    assert vendors["partner_id"] is None

    listed = (await client.get(URL, params={"sort": "created_at"}, headers=world.pa_admin.headers)).json()["items"]
    assert [c["id"] for c in listed] == [mine["id"], by_staff["id"]]


async def test_an_account_the_caller_cannot_see_is_refused_like_a_missing_one(client: Client, world: World) -> None:
    b_account = await _account(client, world.pb_user, "Globex customer")
    vendor_account = await _account(client, world.admin, "Vendor customer")
    for account_id in (b_account, vendor_account, str(uuid.uuid4())):
        body = {"account_id": account_id, "first_name": "A", "last_name": "B"}
        reply = await client.post(URL, json=body, headers=world.pa_user.headers)
        assert reply.status_code == 422, reply.text
        assert reply.json()["errors"][0]["field"] == "account_id"
        assert reply.json()["detail"] == f"Account {account_id} not found."
    assert (await client.get(URL, headers=world.admin.headers)).json()["items"] == []


async def test_other_partners_get_404(client: Client, world: World) -> None:
    contact = await _contact(client, world.pa_user, await _account(client, world.pa_user))
    url = f"{URL}/{contact['id']}"
    for actor in (world.pb_user, world.pb_admin, world.cm_b):
        assert (await client.get(url, headers=actor.headers)).status_code == 404, actor.email
        assert (await client.get(f"{url}/history", headers=actor.headers)).status_code == 404
        patched = await client.patch(url, json={"expected_version": 1, "title": "Boss"}, headers=actor.headers)
        assert patched.status_code == 404
    assert (await client.get(url, headers=world.cm_a.headers)).status_code == 200


async def test_update_needs_the_version_and_records_history(client: Client, world: World) -> None:
    contact = await _contact(client, world.pa_user, await _account(client, world.pa_user))
    url = f"{URL}/{contact['id']}"
    first = await client.patch(
        url,
        json={"expected_version": 1, "email": "PG@Initrode.example", "phone": "+1 555 0100"},
        headers=world.pa_user.headers,
    )
    assert first.status_code == 200, first.text
    assert first.json()["email"] == "pg@initrode.example"
    stale = await client.patch(url, json={"expected_version": 1, "title": "Manager"}, headers=world.pa_user.headers)
    assert stale.status_code == 409
    assert stale.json()["current_version"] == 2

    history = (await client.get(f"{url}/history?sort=at", headers=world.pa_admin.headers)).json()["items"]
    assert [h["action"] for h in history] == ["created", "updated"]
    assert history[0]["changes"]["partner_id"] == [None, str(world.partner_a)]
    assert history[1]["changes"] == {"email": [None, "pg@initrode.example"], "phone": [None, "+1 555 0100"]}


async def test_pages_and_filters(client: Client, world: World) -> None:
    first = await _account(client, world.pa_user, "First")
    second = await _account(client, world.pa_user, "Second")
    last_names = [f"Name{i:02d}" for i in range(13)]
    for i, last in enumerate(last_names):
        await _contact(client, world.pa_user, first if i % 2 else second, last_name=last, email=f"p{i}@x.example")
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 5, "sort": "last_name"} | ({"cursor": cursor} if cursor else {})
        reply = await client.get(URL, params=params, headers=world.pa_user.headers)
        assert reply.status_code == 200, reply.text
        seen += [c["last_name"] for c in reply.json()["items"]]
        cursor = reply.json()["next_cursor"]
        if not cursor:
            break
    assert seen == last_names

    by_account = await client.get(URL, params={"account_id": first, "limit": 200}, headers=world.pa_user.headers)
    assert len(by_account.json()["items"]) == 6
    by_email = await client.get(URL, params={"email": "P3@X.example"}, headers=world.pa_user.headers)
    assert [c["last_name"] for c in by_email.json()["items"]] == ["Name03"]
    by_name = await client.get(URL, params={"q": "name1"}, headers=world.pa_user.headers)
    assert sorted(c["last_name"] for c in by_name.json()["items"]) == ["Name10", "Name11", "Name12"]
    assert (await client.get(URL, headers=world.pb_user.headers)).json()["items"] == []


async def test_bad_input_names_the_field_and_writes_nothing(client: Client, world: World) -> None:
    account_id = await _account(client, world.admin)
    good = {"account_id": account_id, "first_name": "A", "last_name": "B"}
    cases = [
        (good | {"first_name": ""}, "first_name"),
        (good | {"last_name": "x" * 101}, "last_name"),
        (good | {"email": "not-an-email"}, "email"),
        (good | {"account_id": "123"}, "account_id"),
        (good | {"partner_id": str(world.partner_a)}, "partner_id"),
        ({"first_name": "A", "last_name": "B"}, "account_id"),
    ]
    for body, field in cases:
        reply = await client.post(URL, json=body, headers=world.admin.headers)
        assert reply.status_code == 400, (body, reply.text)
        assert field in reply.json()["detail"], reply.json()
    assert (await client.get(URL, headers=world.admin.headers)).json()["items"] == []
