"""The web-to-lead form's limit per client address is one limit for every instance.

Two apps on one database (and, in the second run, one Redis) take posts from the same address
in turns; the eleventh post inside the minute is refused wherever it lands, and the next
minute (moved on the injected clock) lets posts in again.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from litestar import Litestar

from prm.app import create_app
from prm.core.clock import ManualClock
from prm.settings import Settings
from tests.conftest import World
from tests.lead_distribution.test_intake import FIELDS, FORM, _form

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(params=["database", "redis"])
def settings_overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    if request.param == "redis":
        return {"redis_url": REDIS_URL, "redis_prefix": f"prm-test-{uuid.uuid4().hex}:"}
    return {}


@pytest.fixture
async def second_instance(settings: Settings, clock: ManualClock) -> AsyncIterator[httpx.AsyncClient]:
    other: Litestar = create_app(settings, clock=clock)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=other), base_url="http://prm.test") as client:
        yield client
    await other.state.runtime.close()


async def test_two_instances_share_the_web_form_limit(
    client: httpx.AsyncClient, second_instance: httpx.AsyncClient, world: World, clock: ManualClock
) -> None:
    form = await _form(client, world)
    url = f"{FORM}/{form['key']}"
    clock.set(clock.now().replace(second=0, microsecond=0))  # the Redis windows are whole minutes
    posts = [
        c.post(url, data=FIELDS | {"email": f"p{i}@ok.example"}) for i, c in enumerate((client, second_instance) * 6)
    ]
    replies = await asyncio.gather(*posts)
    assert sorted(r.status_code for r in replies) == [202] * 10 + [429] * 2
    refused = next(r for r in replies if r.status_code == 429)
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert (await client.post(url, data=FIELDS)).status_code == 429
    clock.advance(timedelta(seconds=61))
    assert (await second_instance.post(url, data=FIELDS | {"email": "later@ok.example"})).status_code == 202
