"""Two real `prm serve` processes (separate OS processes, one database) share one sign-in limit:
a burst of wrong passwords for one account, split across both at once, gets exactly the limit
of 401s and 429 for the rest. On the SQLite file database, or on PostgreSQL with
PRM_TEST_DATABASE_URL (a fresh database, dropped after)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from tests.connect.harness import PASSWORD, Instance

LIMIT = 4
TRIES = 12
# Per account only: every try comes from 127.0.0.1, so the per-address limit is set out of reach.
LIMITS = {
    "PRM_SIGNIN_ACCOUNT_FAILURES": str(LIMIT),
    "PRM_SIGNIN_CLIENT_FAILURES": "1000",
    "PRM_SIGNIN_BASE_DELAY_SECONDS": "600",  # the wait outlasts the test on a slow machine
    "PRM_RUN_SCHEDULER": "false",
}


@pytest.fixture(scope="module")
def processes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Instance, Instance]]:
    first = Instance("throttle", tmp_path_factory.mktemp("first"), **LIMITS)
    second = Instance("throttle", tmp_path_factory.mktemp("second"), twin_of=first, **LIMITS)
    try:
        first.set_up()
        first.start()
        second.start()
        yield first, second
    finally:
        for instance in (second, first):
            instance.stop()
        first.drop_database()


async def wrong_password(url: str, email: str) -> int:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        reply = await client.post("/api/v1/auth/token", data={"username": email, "password": "not the password"})
        return reply.status_code


def test_a_burst_split_across_two_processes_meets_one_limit(processes: tuple[Instance, Instance]) -> None:
    first, second = processes
    assert first.process is not None
    assert second.process is not None
    assert first.process.pid != second.process.pid

    async def burst() -> list[int]:
        tries = [wrong_password(instance.url, first.admin_email) for instance in (first, second) * (TRIES // 2)]
        return await asyncio.gather(*tries)

    codes = asyncio.run(burst())
    assert sorted(codes) == [401] * LIMIT + [429] * (TRIES - LIMIT), codes
    right = second.http.post(
        "/api/v1/auth/token", data={"grant_type": "password", "username": first.admin_email, "password": PASSWORD}
    )
    assert right.status_code == 429  # the account waits on both processes, even with the right password
    assert first.database_url == second.database_url  # one database, two processes
