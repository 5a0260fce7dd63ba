"""No input makes a 5xx, and a 5xx says nothing of what went wrong but the request id.

Found by Schemathesis and by hand: OPTIONS without a token (and so every CORS preflight) was a
500 carrying Litestar's "'user' is not defined in scope..." text; JSON nested a thousand levels
deep was a 500 from the decoder's recursion. Now OPTIONS answers with the path's methods, CORS
follows `PRM_CORS_ORIGINS`, deep JSON is a 400 naming the limit, and a real server error's reply
gives only a request id, the one its log line is under.
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

import httpx
import pytest
from litestar import Litestar, get, post
from sqlalchemy.ext.asyncio import AsyncSession

from prm.app import create_app
from prm.core.clock import ManualClock
from prm.core.json_depth import MAX_JSON_DEPTH
from prm.core.seeds import SeededSeeds
from prm.crm.models import Contact
from prm.settings import Settings
from tests.conftest import World

Client = httpx.AsyncClient
ORIGIN = "https://partners.example.com"


async def api_paths(client: Client) -> list[str]:
    """Every path of the OpenAPI document under /api/v1, with any uuid in its path parameters."""
    schema = (await client.get("/schema/openapi.json")).json()
    uuid = "0190e5a2-0000-7000-8000-000000000000"
    return [re.sub(r"\{[^}]+\}", uuid, path) for path in schema["paths"] if path.startswith("/api/v1/")]


async def test_options_without_a_token_lists_the_methods_of_every_api_path(client: Client, world: World) -> None:
    paths = await api_paths(client)
    assert len(paths) > 50
    for path in paths:
        reply = await client.options(path)
        assert reply.status_code == 204, f"{path}: {reply.status_code} {reply.text}"
        assert "OPTIONS" in reply.headers["allow"], path
        assert "access-control-allow-origin" not in reply.headers  # no origins configured


async def test_options_leave_the_other_methods_guarded(client: Client, world: World) -> None:
    assert (await client.get("/api/v1/outbox")).status_code == 401
    assert (await client.get("/api/v1/outbox", headers=world.pa_user.headers)).status_code == 403


async def test_without_cors_origins_a_preflight_gets_no_cors_headers(client: Client, world: World) -> None:
    preflight = {"Origin": ORIGIN, "Access-Control-Request-Method": "POST"}
    reply = await client.options("/api/v1/accounts", headers=preflight)
    assert reply.status_code < 500
    assert "access-control-allow-origin" not in reply.headers


@pytest.mark.parametrize("settings_overrides", [{"cors_origins": f"{ORIGIN}, http://localhost:5173"}])
async def test_a_listed_origin_passes_the_preflight_and_reads_the_reply(client: Client, world: World) -> None:
    preflight = {
        "Origin": ORIGIN,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type, idempotency-key",
    }
    reply = await client.options("/api/v1/accounts", headers=preflight)
    assert reply.status_code == 204, reply.text
    assert reply.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in reply.headers["access-control-allow-methods"]
    assert "authorization" in reply.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in reply.headers  # bearer tokens, never cookies
    listed = await client.get("/api/v1/accounts", headers={"Origin": ORIGIN, **world.pa_user.headers})
    assert listed.status_code == 200
    assert listed.headers["access-control-allow-origin"] == ORIGIN
    assert "x-request-id" in listed.headers["access-control-expose-headers"].lower()
    other = await client.options("/api/v1/accounts", headers={**preflight, "Origin": "https://evil.example"})
    assert other.headers.get("access-control-allow-origin") != "https://evil.example"


def nested(depth: int, *, kind: str) -> bytes:
    if kind == "array":
        return b"[" * depth + b"]" * depth
    return b'{"a":' * depth + b"1" + b"}" * depth


@pytest.mark.parametrize("kind", ["array", "object"])
async def test_json_nested_past_the_limit_is_a_400(client: Client, world: World, kind: str) -> None:
    headers = {**world.pa_user.headers, "content-type": "application/json"}
    for depth in (MAX_JSON_DEPTH + 1, 1000, 100_000):
        reply = await client.post("/api/v1/accounts", content=nested(depth, kind=kind), headers=headers)
        assert reply.status_code == 400, f"depth {depth}: {reply.text[:300]}"
        problem = reply.json()
        assert problem["errors"] == [{"field": "body", "message": problem["detail"]}]
        assert f"deeper than {MAX_JSON_DEPTH} levels" in problem["detail"]
    unclosed = await client.post("/api/v1/accounts", content=b"[" * 100_000, headers=headers)
    assert unclosed.status_code == 400, unclosed.text[:300]


async def test_json_at_the_limit_reaches_the_handler(client: Client, world: World) -> None:
    """Depth alone is no fault up to the limit: the account's own validation answers (a list of
    lists is no account), and brackets inside strings do not count."""
    headers = {**world.pa_user.headers, "content-type": "application/json"}
    reply = await client.post("/api/v1/accounts", content=nested(MAX_JSON_DEPTH, kind="array"), headers=headers)
    assert reply.status_code == 400
    assert "deeper" not in reply.json()["detail"]
    body = {"name": "[" * 90 + "{" * 90, "industry": "Brackets"}
    created = await client.post("/api/v1/accounts", json=body, headers=world.pa_user.headers)
    assert created.status_code == 201, created.text
    routed = {"leads": [{"id": "0190e5a2-0000-7000-8000-000000000000", "expected_version": 1}] * 100}
    many = await client.post("/api/v1/distribution/leads/auto-route", json=routed, headers=world.cm_a.headers)
    assert many.status_code in (404, 422), many.text  # many brackets, but shallow: the leads are looked at
    assert "deeper" not in many.text


class Boom(RuntimeError):
    pass


@get("/api/v1/test-only/boom", sync_to_thread=False)
def boom() -> None:
    """A handler that fails as a bug would: its text must reach the log and never the caller."""
    raise Boom("password=hunter2 at /srv/prm/secret.py line 7")


@post("/api/v1/test-only/orphan", status_code=201)
async def orphan(db_session: AsyncSession) -> None:
    """A write no service checked: a contact of an account that does not exist."""
    db_session.add(Contact(account_id=uuid.uuid4(), first_name="Orphan", last_name="Contact"))
    await db_session.flush()


@pytest.fixture
async def app(settings: Settings, clock: ManualClock, seeds: SeededSeeds) -> Litestar:
    """An app of this module's own: the routes added here must not stay in the one other tests share."""
    failing = create_app(settings, clock=clock, seeds=seeds)
    failing.register(boom)
    failing.register(orphan)
    return failing


@pytest.fixture
def failing_app(app: Litestar) -> Litestar:
    return app


async def test_a_foreign_key_no_service_checked_is_a_422_naming_the_column(
    failing_app: Litestar, client: Client, world: World, settings: Settings
) -> None:
    """The safety net under the services' own checks (see test_unknown_ids): PostgreSQL names the
    column, SQLite only says a foreign key failed."""
    reply = await client.post("/api/v1/test-only/orphan", headers=world.admin.headers)
    assert reply.status_code == 422, reply.text
    assert reply.json()["errors"][0]["field"] == ("body" if settings.is_sqlite else "account_id")


async def test_a_server_error_replies_with_a_request_id_and_logs_the_rest(
    failing_app: Litestar, client: Client, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="prm.errors"):
        reply = await client.get("/api/v1/test-only/boom", headers=world.admin.headers)
    assert reply.status_code == 500
    assert reply.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, Any] = reply.json()
    rid = reply.headers["x-request-id"]
    assert problem["request_id"] == rid
    assert set(problem) == {"type", "title", "status", "detail", "request_id"}
    for internal in ("hunter2", "Boom", "secret.py", "Traceback"):
        assert internal not in reply.text
    [record] = [r for r in caplog.records if r.name == "prm.errors"]
    assert rid in record.getMessage()
    assert record.exc_info is not None
    assert "hunter2" in str(record.exc_info[1])


async def test_a_sane_incoming_request_id_is_kept_and_an_odd_one_replaced(
    failing_app: Litestar, client: Client, world: World
) -> None:
    kept = await client.get("/api/v1/test-only/boom", headers={**world.admin.headers, "X-Request-ID": "lb-7f3a.91"})
    assert kept.headers["x-request-id"] == "lb-7f3a.91"
    assert kept.json()["request_id"] == "lb-7f3a.91"
    for odd in ("has space", "x" * 200, "new\tline"):
        replaced = await client.get("/api/v1/test-only/boom", headers={**world.admin.headers, "X-Request-ID": odd})
        assert replaced.headers["x-request-id"] != odd
        assert re.fullmatch(r"[0-9a-f]{32}", replaced.headers["x-request-id"])
    fine = await client.get("/api/v1/accounts", headers=world.pa_user.headers)
    other = await client.get("/api/v1/accounts", headers=world.pa_user.headers)
    assert fine.headers["x-request-id"] != other.headers["x-request-id"]  # every reply has its own
