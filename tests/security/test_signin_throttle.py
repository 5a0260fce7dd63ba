"""Sign-in throttling on POST /api/v1/auth/token and the portal's login form.

Every test runs twice: counters in the database (SQLite, or PostgreSQL with
PRM_TEST_DATABASE_URL) and in Redis on 127.0.0.1:6379 (PRM_REDIS_URL), under a prefix of its own.
Time moves on the injected clock only.
"""

from __future__ import annotations

import asyncio
import statistics
import time
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
from tests.conftest import PASSWORD, World
from tests.portal.forms import post_login

TOKEN = "/api/v1/auth/token"
WRONG = "not the password"
REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(params=["database", "redis"])
def settings_overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    # A roomy limit per address, so the per-account tests (all from one address) meet only
    # theirs; the per-address test sets its own with the `client_failures` mark.
    mark = request.node.get_closest_marker("client_failures")
    client_failures = mark.args[0] if mark else 1000
    limits = {"signin_account_failures": 5, "signin_client_failures": client_failures, "signin_base_delay_seconds": 5}
    if request.param == "redis":
        return {**limits, "redis_url": REDIS_URL, "redis_prefix": f"prm-test-{uuid.uuid4().hex}:"}
    return limits


async def sign_in(client: httpx.AsyncClient, email: str, password: str = WRONG) -> httpx.Response:
    return await client.post(TOKEN, data={"username": email, "password": password})


async def statuses(client: httpx.AsyncClient, email: str, times: int) -> list[int]:
    return [(await sign_in(client, email)).status_code for _ in range(times)]


def wait_of(reply: httpx.Response) -> int:
    assert reply.status_code == 429, reply.text
    assert reply.headers["content-type"].startswith("application/problem+json")
    return int(reply.headers["retry-after"])


async def test_failures_per_account_get_429_with_a_growing_capped_retry_after(
    client: httpx.AsyncClient, world: World, clock: ManualClock, settings: Settings
) -> None:
    email = world.pa_user.email
    assert await statuses(client, email, 5) == [401] * 5

    waits = []
    for _ in range(4):
        blocked = await sign_in(client, email, PASSWORD)  # even the right password waits
        waits.append(wait_of(blocked))
        clock.advance(timedelta(seconds=waits[-1] - 1))
        assert (await sign_in(client, email, PASSWORD)).status_code == 429  # not yet
        clock.advance(timedelta(seconds=1))
        assert (await sign_in(client, email)).status_code == 401  # one more try, which fails
    assert waits == [5, 10, 20, 40]

    # Doubling stops at the cap; after the wait, the right password gets in and resets the count.
    for _ in range(6):
        clock.advance(timedelta(seconds=wait_of(await sign_in(client, email))))
        assert (await sign_in(client, email)).status_code == 401
    assert wait_of(await sign_in(client, email)) == settings.signin_max_delay_seconds == 900
    clock.advance(timedelta(seconds=900))
    assert (await sign_in(client, email, PASSWORD)).status_code == 200
    assert await statuses(client, email, 5) == [401] * 5


async def test_a_success_resets_the_accounts_count(client: httpx.AsyncClient, world: World) -> None:
    email = world.pb_admin.email
    assert await statuses(client, email, 4) == [401] * 4
    assert (await sign_in(client, email, PASSWORD)).status_code == 200
    assert await statuses(client, email, 5) == [401] * 5
    assert (await sign_in(client, email)).status_code == 429


async def test_failures_are_forgotten_after_the_window(
    client: httpx.AsyncClient, world: World, clock: ManualClock
) -> None:
    email = world.pb_user.email
    assert await statuses(client, email, 5) == [401] * 5
    assert (await sign_in(client, email)).status_code == 429
    clock.advance(timedelta(hours=1, seconds=1))
    assert await statuses(client, email, 5) == [401] * 5


@pytest.mark.client_failures(12)
async def test_failures_per_client_address_are_limited_across_accounts(
    client: httpx.AsyncClient, world: World, app: Litestar
) -> None:
    # Twelve guesses, each at a different account, from one address: then the address waits.
    emails = [f"guess{n}@acme.test" for n in range(12)]
    assert [(await sign_in(client, e)).status_code for e in emails] == [401] * 12
    assert wait_of(await sign_in(client, world.pa_admin.email, PASSWORD)) == 5
    # Another address is not held up (the ASGI transport's client address is set per client).
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://prm.test") as elsewhere:
        assert (await sign_in(elsewhere, world.pa_admin.email, PASSWORD)).status_code == 200


async def test_an_unknown_email_gets_the_same_answer_and_timing_as_a_wrong_password(
    client: httpx.AsyncClient, world: World
) -> None:
    known, unknown = world.pa_user.email, "nobody@acme.test"
    wrong, missing = await sign_in(client, known), await sign_in(client, unknown)
    assert (wrong.status_code, wrong.json()) == (missing.status_code, missing.json())

    # An unknown email is hashed against a dummy password: without it, it would answer in a
    # small fraction of the time an Argon2 check takes. The work is timed in CPU seconds of this
    # process (the app runs in it), which other processes on a loaded machine do not stretch.
    durations: dict[str, list[float]] = {known: [], unknown: []}
    for _ in range(5):
        for email in (known, unknown):
            started = time.process_time()
            await sign_in(client, email)
            durations[email].append(time.process_time() - started)
    ratio = statistics.median(durations[unknown]) / statistics.median(durations[known])
    assert 0.5 < ratio < 2.0, durations

    # ... and both are throttled alike.
    assert (await sign_in(client, known)).status_code == 429
    assert (await sign_in(client, unknown)).status_code == 429


async def test_failed_sign_ins_are_in_the_users_history(client: httpx.AsyncClient, world: World) -> None:
    assert await statuses(client, world.pa_user.email, 2) == [401, 401]
    history = await client.get(f"/api/v1/users/{world.pa_user.user_id}/history", headers=world.admin.headers)
    failed = [e for e in history.json()["items"] if e["action"] == "signin_failed"]
    assert len(failed) == 2
    assert failed[0]["actor_id"] is None
    assert "127.0.0.1" in failed[0]["note"]


async def test_the_portal_login_is_throttled_with_the_same_counts(
    client: httpx.AsyncClient, world: World, clock: ManualClock
) -> None:
    email = world.pb_user.email
    assert await statuses(client, email, 3) == [401] * 3  # through the API
    for _ in range(2):
        assert (await post_login(client, email, WRONG)).status_code == 400
    page = await post_login(client, email)
    assert page.status_code == 429
    assert page.headers["retry-after"] == "5"
    assert "Too many failed sign-ins; try again in 5 seconds." in page.text
    assert "prm_session" not in client.cookies
    clock.advance(timedelta(seconds=5))
    assert (await post_login(client, email)).status_code == 303


@pytest.fixture
async def second_instance(settings: Settings, clock: ManualClock) -> AsyncIterator[httpx.AsyncClient]:
    """A second service on the same database (and Redis): its own engine, pool and throttle."""
    other: Litestar = create_app(settings, clock=clock)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=other), base_url="http://prm.test") as client:
        yield client
    await other.state.runtime.close()


async def test_two_instances_share_one_limit_even_in_a_burst(
    client: httpx.AsyncClient, second_instance: httpx.AsyncClient, world: World
) -> None:
    email = world.cm_a.email
    burst = [sign_in(c, email) for c in (client, second_instance) * 6]
    replies = await asyncio.gather(*burst)
    codes = sorted(r.status_code for r in replies)
    assert codes == [401] * 5 + [429] * 7
    assert (await sign_in(second_instance, email, PASSWORD)).status_code == 429
