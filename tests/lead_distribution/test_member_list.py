"""A lead program's members come keyset-paged like every list: by partner id unless asked
otherwise, a page at a time, and an unknown sort is a 400 naming the field."""

from __future__ import annotations

import httpx

from tests.conftest import World
from tests.lead_distribution.conftest import API, Setup, ok


async def test_program_members_come_a_page_at_a_time(client: httpx.AsyncClient, world: World, setup: Setup) -> None:
    url = f"{API}/programs/{setup.program['id']}/members"
    first = await ok(await client.get(url, params={"limit": 1}, headers=world.admin.headers))
    assert first["next_cursor"]
    rest = await ok(
        await client.get(url, params={"limit": 1, "cursor": first["next_cursor"]}, headers=world.admin.headers)
    )
    assert rest["next_cursor"] is None
    listed = [m["partner_id"] for m in first["items"] + rest["items"]]
    assert listed == sorted([str(world.partner_a), str(world.partner_b)])

    by_joining = await ok(await client.get(url, params={"sort": "-joined_at"}, headers=world.admin.headers))
    assert sorted(m["partner_id"] for m in by_joining["items"]) == sorted(listed)
    refused = await client.get(url, params={"sort": "weight"}, headers=world.admin.headers)
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["field"] == "sort"
