"""The benchmark floor endpoint: off unless PRM_BENCH_ENDPOINTS asks for it, one row when on."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import func, select

from prm.core.activity import ActivityEntry
from tests.conftest import World

FLOOR = "/api/v1/bench/floor"
ON = {"bench_endpoints": True}


async def test_the_floor_is_not_served_by_default(client: httpx.AsyncClient, world: World) -> None:
    reply = await client.post(FLOOR, json={"note": "x"}, headers=world.pa_admin.headers)
    assert reply.status_code == 404


@pytest.mark.parametrize("settings_overrides", [ON])
async def test_the_floor_writes_one_activity_row(client: httpx.AsyncClient, world: World) -> None:
    reply = await client.post(FLOOR, json={"note": "bench"}, headers=world.pa_admin.headers)
    assert reply.status_code == 201
    row_id = uuid.UUID(reply.json()["id"])
    async with world.db.session() as session:
        entry = await session.get(ActivityEntry, row_id)
        count = await session.scalar(
            select(func.count()).select_from(ActivityEntry).where(ActivityEntry.action == "floor")
        )
    assert entry is not None
    assert (entry.entity_type, entry.actor_id, entry.note) == ("bench", world.pa_admin.user_id, "bench")
    assert count == 1


@pytest.mark.parametrize("settings_overrides", [ON])
async def test_the_floor_needs_a_token_and_a_known_body(client: httpx.AsyncClient, world: World) -> None:
    assert (await client.post(FLOOR, json={"note": "x"})).status_code == 401
    reply = await client.post(FLOOR, json={"nope": 1}, headers=world.admin.headers)
    assert reply.status_code == 400
