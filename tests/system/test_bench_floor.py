"""The benchmark floor endpoint: off unless PRM_BENCH_ENDPOINTS asks for it, one row when on."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import func, select

from prm.core.activity import ActivityEntry
from prm.core.auth import BENCH_SKIP_LIVE_CHECK
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


async def _signed_out_token_with_the_skip_header(client: httpx.AsyncClient, world: World) -> int:
    token = world.pa_user.token
    assert (await client.post("/api/v1/users/me/sign-out", headers=world.pa_user.headers)).status_code in (200, 204)
    headers = {"Authorization": f"Bearer {token}", BENCH_SKIP_LIVE_CHECK: "1"}
    return (await client.get("/api/v1/users/me", headers=headers)).status_code


async def test_the_live_check_skip_header_is_ignored_unless_bench_endpoints_are_on(
    client: httpx.AsyncClient, world: World
) -> None:
    assert await _signed_out_token_with_the_skip_header(client, world) == 401


@pytest.mark.parametrize("settings_overrides", [ON])
async def test_with_bench_endpoints_on_the_header_skips_the_live_check(client: httpx.AsyncClient, world: World) -> None:
    """What bench.opportunities --live-check compares against: the claims alone (a signed-out token works)."""
    assert await _signed_out_token_with_the_skip_header(client, world) == 200
