"""The import's size limit is a setting (PRM_MAX_IMPORT_BYTES), answered with a 413 problem."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import World
from tests.lead_distribution.conftest import ok
from tests.lead_distribution.salesforce import OYVIND, export
from tests.lead_distribution.test_import import queue, upload

LIMIT = 64_000


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"max_import_bytes": LIMIT}


async def test_an_upload_over_the_limit_gets_413_and_one_under_it_is_imported(
    client: httpx.AsyncClient, world: World
) -> None:
    rows = [OYVIND | {"Email": f"lead{i}@fjordkraft.example"} for i in range(200)]
    too_big = export(*rows)
    assert len(too_big) > LIMIT
    reply = await upload(client, world, too_big)
    assert reply.status_code == 413, reply.text
    assert reply.headers["content-type"].startswith("application/problem+json")
    assert "PRM_MAX_IMPORT_BYTES" in reply.json()["detail"]
    assert reply.json()["errors"][0]["field"] == "file"
    assert await queue(client, world) == []
    report = await ok(await upload(client, world, export(*rows[:20])), 201)
    assert report["created"] == 20
