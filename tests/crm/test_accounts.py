"""Accounts through HTTP: create, read, update with versions, list with cursors, history, idempotency."""

from __future__ import annotations

import asyncio

import httpx

from tests.conftest import World

Client = httpx.AsyncClient


async def test_partner_creates_account_owned_by_its_organisation(client: Client, world: World) -> None:
    reply = await client.post(
        "/api/v1/accounts",
        json={"name": "Initrode, Inc.", "website": "https://www.initrode.com/about"},
        headers=world.pa_user.headers,
    )
    assert reply.status_code == 201, reply.text
    body = reply.json()
    assert body["partner_id"] == str(world.partner_a)
    assert body["domain"] == "initrode.com"
    assert body["version"] == 1

    fetched = await client.get(f"/api/v1/accounts/{body['id']}", headers=world.pa_admin.headers)
    assert fetched.status_code == 200
    assert fetched.json()["name"] == "Initrode, Inc."


async def test_other_partner_gets_404_for_the_same_account(client: Client, world: World) -> None:
    created = await client.post("/api/v1/accounts", json={"name": "Hooli"}, headers=world.pa_user.headers)
    account_id = created.json()["id"]
    for actor in (world.pb_user, world.pb_admin, world.cm_b):
        reply = await client.get(f"/api/v1/accounts/{account_id}", headers=actor.headers)
        assert reply.status_code == 404, actor.email
        assert reply.headers["content-type"].startswith("application/problem+json")
        assert account_id in reply.json()["detail"]  # only echoes the id the caller sent
    assert (await client.get(f"/api/v1/accounts/{account_id}", headers=world.cm_a.headers)).status_code == 200


async def test_update_needs_the_current_version_and_records_history(client: Client, world: World) -> None:
    account = (await client.post("/api/v1/accounts", json={"name": "Vandelay"}, headers=world.admin.headers)).json()
    url = f"/api/v1/accounts/{account['id']}"
    first = await client.patch(
        url, json={"expected_version": 1, "industry": "Import/Export"}, headers=world.admin.headers
    )
    assert first.status_code == 200, first.text
    assert first.json()["version"] == 2
    stale = await client.patch(url, json={"expected_version": 1, "industry": "Latex"}, headers=world.admin.headers)
    assert stale.status_code == 409
    assert stale.json()["current_version"] == 2

    history = (await client.get(f"{url}/history?sort=at", headers=world.admin.headers)).json()["items"]
    assert [h["action"] for h in history] == ["created", "updated"]
    assert history[1]["changes"] == {"industry": [None, "Import/Export"]}
    assert history[1]["actor_id"] == str(world.admin.user_id)
    assert history[1]["at"].endswith("Z") or "+00:00" in history[1]["at"]


async def test_concurrent_updates_one_wins_one_gets_409(client: Client, world: World) -> None:
    account = (await client.post("/api/v1/accounts", json={"name": "Race Co"}, headers=world.admin.headers)).json()
    url = f"/api/v1/accounts/{account['id']}"
    replies = await asyncio.gather(
        *[
            client.patch(url, json={"expected_version": 1, "industry": f"industry {i}"}, headers=world.admin.headers)
            for i in range(4)
        ]
    )
    codes = sorted(r.status_code for r in replies)
    assert codes == [200, 409, 409, 409], [r.text for r in replies]


async def test_keyset_pages_cover_every_row_once(client: Client, world: World) -> None:
    names = [f"Company {i:02d}" for i in range(23)]
    for name in names:
        await client.post("/api/v1/accounts", json={"name": name}, headers=world.pa_user.headers)
    await client.post("/api/v1/accounts", json={"name": "Not mine"}, headers=world.pb_user.headers)
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 10, "sort": "name"} | ({"cursor": cursor} if cursor else {})
        reply = await client.get("/api/v1/accounts", params=params, headers=world.pa_user.headers)
        assert reply.status_code == 200, reply.text
        seen += [a["name"] for a in reply.json()["items"]]
        cursor = reply.json()["next_cursor"]
        if not cursor:
            break
    assert seen == sorted(names)


async def test_bad_cursor_and_sort_are_named_in_the_problem(client: Client, world: World) -> None:
    bad_cursor = await client.get("/api/v1/accounts?cursor=not-a-cursor", headers=world.admin.headers)
    assert bad_cursor.status_code == 400
    assert bad_cursor.json()["errors"][0]["field"] == "cursor"
    bad_sort = await client.get("/api/v1/accounts?sort=password", headers=world.admin.headers)
    assert bad_sort.status_code == 400
    assert bad_sort.json()["errors"][0]["field"] == "sort"


async def test_idempotency_key_replays_and_refuses_a_different_body(client: Client, world: World) -> None:
    headers = world.pa_user.headers | {"Idempotency-Key": "abc-123"}
    first = await client.post("/api/v1/accounts", json={"name": "Once Only"}, headers=headers)
    again = await client.post("/api/v1/accounts", json={"name": "Once Only"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers.get("idempotent-replayed") == "true"
    listed = (await client.get("/api/v1/accounts", headers=world.pa_user.headers)).json()["items"]
    assert [a["name"] for a in listed].count("Once Only") == 1
    other = await client.post("/api/v1/accounts", json={"name": "Another"}, headers=headers)
    assert other.status_code == 422
    assert other.json()["errors"][0]["field"] == "Idempotency-Key"


async def test_bad_input_names_the_field_and_writes_nothing(client: Client, world: World) -> None:
    cases = [
        ({"name": ""}, "name"),
        ({"name": "X", "country": "Atlantis"}, "country"),
        ({"name": "X", "employees": "many"}, "employees"),
        ({"name": "X", "kind": "alien"}, "kind"),
        ({"name": "X", "colour": "red"}, "colour"),
    ]
    for body, field in cases:
        reply = await client.post("/api/v1/accounts", json=body, headers=world.admin.headers)
        assert reply.status_code == 400, (body, reply.text)
        problem = reply.json()
        assert reply.headers["content-type"].startswith("application/problem+json")
        assert field in problem["detail"], problem
    malformed = await client.post(
        "/api/v1/accounts", content=b'{"name": ', headers=world.admin.headers | {"Content-Type": "application/json"}
    )
    assert malformed.status_code == 400
    listed = (await client.get("/api/v1/accounts", headers=world.admin.headers)).json()["items"]
    assert listed == []
