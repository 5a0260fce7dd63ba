"""Products through HTTP: the vendor admin keeps the price list, everyone signed in reads it."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.conftest import World

Client = httpx.AsyncClient
URL = "/api/v1/products"


def _product(sku: str, **extra: Any) -> dict[str, Any]:
    return {"sku": sku, "name": f"Product {sku}", "list_price_minor": 49_900, "currency": "USD"} | extra


async def test_vendor_admin_creates_and_everyone_reads(client: Client, world: World) -> None:
    reply = await client.post(URL, json=_product("NW-CORE", family="Platform"), headers=world.admin.headers)
    assert reply.status_code == 201, reply.text
    product = reply.json()
    assert product["list_price_minor"] == 49_900
    assert product["active"] is True
    assert product["version"] == 1
    for actor in world.all():
        fetched = await client.get(f"{URL}/{product['id']}", headers=actor.headers)
        assert fetched.status_code == 200, actor.email
        assert fetched.json()["sku"] == "NW-CORE"
    assert (await client.get(URL)).status_code == 401


async def test_only_the_vendor_admin_writes(client: Client, world: World) -> None:
    for actor in (world.cm_a, world.leader, world.pa_admin, world.pa_user):
        reply = await client.post(URL, json=_product(f"X-{actor.role.value}"), headers=actor.headers)
        assert reply.status_code == 403, actor.email
    product = (await client.post(URL, json=_product("NW-1"), headers=world.admin.headers)).json()
    patched = await client.patch(
        f"{URL}/{product['id']}", json={"expected_version": 1, "name": "Mine"}, headers=world.pa_admin.headers
    )
    assert patched.status_code == 403
    assert [p["sku"] for p in (await client.get(URL, headers=world.admin.headers)).json()["items"]] == ["NW-1"]


async def test_duplicate_sku_is_409_naming_sku(client: Client, world: World) -> None:
    first = await client.post(URL, json=_product("NW-DUP"), headers=world.admin.headers)
    assert first.status_code == 201
    again = await client.post(URL, json=_product("NW-DUP", name="Other"), headers=world.admin.headers)
    assert again.status_code == 409
    assert again.json()["errors"][0]["field"] == "sku"
    assert len((await client.get(URL, headers=world.admin.headers)).json()["items"]) == 1


async def test_price_change_needs_the_version_and_is_in_the_history(client: Client, world: World) -> None:
    product = (await client.post(URL, json=_product("NW-PRICE"), headers=world.admin.headers)).json()
    url = f"{URL}/{product['id']}"
    raised = await client.patch(
        url, json={"expected_version": 1, "list_price_minor": 59_900}, headers=world.admin.headers
    )
    assert raised.status_code == 200, raised.text
    assert raised.json()["version"] == 2
    stale = await client.patch(url, json={"expected_version": 1, "active": False}, headers=world.admin.headers)
    assert stale.status_code == 409
    assert stale.json()["current_version"] == 2

    history = (await client.get(f"{url}/history?sort=at", headers=world.pa_user.headers)).json()["items"]
    assert [h["action"] for h in history] == ["created", "updated"]
    assert history[1]["changes"] == {"list_price_minor": [49_900, 59_900]}


async def test_pages_filters_and_unknown_id(client: Client, world: World) -> None:
    skus = [f"SKU-{i:02d}" for i in range(12)]
    for i, sku in enumerate(skus):
        family = "Platform" if i % 3 == 0 else "Add-on"
        await client.post(URL, json=_product(sku, family=family), headers=world.admin.headers)
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 5, "sort": "-sku"} | ({"cursor": cursor} if cursor else {})
        reply = await client.get(URL, params=params, headers=world.pb_user.headers)
        assert reply.status_code == 200, reply.text
        seen += [p["sku"] for p in reply.json()["items"]]
        cursor = reply.json()["next_cursor"]
        if not cursor:
            break
    assert seen == sorted(skus, reverse=True)

    platform = await client.get(URL, params={"family": "Platform", "sort": "sku"}, headers=world.admin.headers)
    assert [p["sku"] for p in platform.json()["items"]] == ["SKU-00", "SKU-03", "SKU-06", "SKU-09"]
    retired = (await client.get(URL, params={"q": "SKU-03"}, headers=world.admin.headers)).json()["items"][0]
    await client.patch(
        f"{URL}/{retired['id']}", json={"expected_version": 1, "active": False}, headers=world.admin.headers
    )
    inactive = await client.get(URL, params={"active": "false"}, headers=world.admin.headers)
    assert [p["sku"] for p in inactive.json()["items"]] == ["SKU-03"]
    missing = await client.get(f"{URL}/{uuid.uuid4()}", headers=world.pa_user.headers)
    assert missing.status_code == 404


async def test_bad_input_names_the_field_and_writes_nothing(client: Client, world: World) -> None:
    cases = [
        (_product("has space"), "sku"),
        (_product(""), "sku"),
        (_product("OK-1", list_price_minor=-5), "list_price_minor"),
        (_product("OK-1", list_price_minor=19.99), "list_price_minor"),
        (_product("OK-1", currency="dollars"), "currency"),
        (_product("OK-1", name=""), "name"),
        (_product("OK-1", colour="red"), "colour"),
    ]
    for body, field in cases:
        reply = await client.post(URL, json=body, headers=world.admin.headers)
        assert reply.status_code == 400, (body, reply.text)
        assert field in reply.json()["detail"], reply.json()
    assert (await client.get(URL, headers=world.admin.headers)).json()["items"] == []
