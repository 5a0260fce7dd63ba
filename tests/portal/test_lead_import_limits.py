"""The portal's CSV import streams its upload like the API's: PRM_MAX_IMPORT_BYTES is its limit
(not the general request body limit), an oversize file is a 413 page naming the limit next to the
file field, and the form's CSRF token, read from the stream, must be the session's own."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import World
from tests.lead_distribution.salesforce import OYVIND, export
from tests.portal.conftest import SignIn
from tests.portal.forms import csrf_token
from tests.portal.lead_data import API, ok
from tests.portal.test_lead_pages import field_error, post_form

IMPORT_LIMIT = 64_000
BODY_LIMIT = 16_000  # every other form's limit: the import must not be held to it


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"max_import_bytes": IMPORT_LIMIT, "max_request_body_bytes": BODY_LIMIT}


def leads_csv(count: int) -> bytes:
    return export(*(OYVIND | {"Email": f"lead{i}@fjordkraft.example"} for i in range(count)))


async def new_leads(client: httpx.AsyncClient, world: World) -> list[dict[str, Any]]:
    reply = await ok(
        await client.get(f"{API}/leads", params={"status": "new", "limit": 200}, headers=world.cm_a.headers)
    )
    items: list[dict[str, Any]] = reply["items"]
    return items


async def test_an_upload_over_the_import_limit_is_a_413_page_and_one_under_it_is_imported(
    client: httpx.AsyncClient, world: World, sign_in: SignIn
) -> None:
    await sign_in(world.cm_a)
    too_big = leads_csv(200)
    assert len(too_big) > IMPORT_LIMIT
    upload = {"file": ("big.csv", too_big, "text/csv")}
    reply = await post_form(client, "/lead-import", {"mode": "skip_bad_rows"}, page="/lead-import", **upload)
    assert reply.status_code == 413
    assert reply.headers["content-type"].startswith("text/html")
    assert field_error(reply.text, "file") == (
        f"The upload is larger than {IMPORT_LIMIT:,} bytes (PRM_MAX_IMPORT_BYTES); split the file."
    )
    assert await new_leads(client, world) == []

    fits = leads_csv(100)
    assert BODY_LIMIT < len(fits) < IMPORT_LIMIT
    upload = {"file": ("fits.csv", fits, "text/csv")}
    reply = await post_form(client, "/lead-import", {"mode": "skip_bad_rows"}, page="/lead-import", **upload)
    assert reply.status_code == 200, reply.text
    assert "Imported 100 of 100 rows from fits.csv" in reply.text
    assert len(await new_leads(client, world)) == 100


async def test_the_streamed_import_takes_only_the_sessions_own_csrf_token(
    client: httpx.AsyncClient, world: World, sign_in: SignIn
) -> None:
    upload = {"file": ("leads.csv", leads_csv(2), "text/csv")}
    await sign_in(world.cm_b)
    other_sessions_token = await csrf_token(client, "/lead-import")
    await sign_in(world.cm_a)
    await csrf_token(client, "/lead-import")  # the browser loaded the form: the CSRF cookie is set

    for sent in ({}, {"_csrf_token": other_sessions_token}):
        reply = await client.post("/lead-import", data={"mode": "skip_bad_rows", **sent}, files=upload)
        assert reply.status_code == 403
        assert "CSRF" in reply.text
    assert await new_leads(client, world) == []

    reply = await post_form(client, "/lead-import", {"mode": "skip_bad_rows"}, page="/lead-import", **upload)
    assert reply.status_code == 200, reply.text
    assert "Imported 2 of 2 rows from leads.csv" in reply.text
