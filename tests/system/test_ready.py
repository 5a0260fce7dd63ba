"""`/ready` is readiness (503 when the database is unreachable, its schema is behind the code,
or the instance is shutting down); `/health` is liveness and answers whatever the database does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import text

from prm.app import create_app
from prm.core.clock import ManualClock
from prm.core.dbcheck import schema_needed
from prm.settings import Settings, load_settings
from tests.conftest import SECRET

OLDER_REVISION = "8b3f0d6e2a17"  # a real revision before this code's head


async def test_ready_when_the_database_is_at_the_code_schema(client: httpx.AsyncClient) -> None:
    assert (await client.get("/ready")).json() == {"status": "ready"}
    assert (await client.get("/health")).json() == {"status": "ok"}


async def test_not_ready_when_the_schema_is_behind_the_code(client: httpx.AsyncClient, app: Litestar) -> None:
    assert OLDER_REVISION in schema_needed().known
    assert OLDER_REVISION not in schema_needed().heads
    engine = app.state.db.engine
    async with engine.begin() as connection:
        head = (await connection.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()
        await connection.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": OLDER_REVISION})
    try:
        reply = await client.get("/ready")
        assert reply.status_code == 503
        assert reply.headers["content-type"] == "application/problem+json"
        assert OLDER_REVISION in reply.json()["detail"]
        assert "prm db upgrade" in reply.json()["detail"]
        assert (await client.get("/health")).status_code == 200
    finally:  # the PostgreSQL run shares one migrated database between tests
        async with engine.begin() as connection:
            await connection.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": head})
    assert (await client.get("/ready")).status_code == 200


async def test_not_ready_while_draining_for_shutdown(client: httpx.AsyncClient, app: Litestar) -> None:
    app.state.runtime.lifecycle.draining = True
    reply = await client.get("/ready")
    assert reply.status_code == 503
    assert "shutting down" in reply.json()["detail"]
    assert (await client.get("/health")).status_code == 200


@pytest.fixture
def unreachable(key_file: Path) -> Settings:
    """Port 1 on the loopback: nothing listens, the connection is refused at once."""
    return load_settings(
        {},
        database_url="postgresql+asyncpg://postgres@127.0.0.1:1/prm",
        jwt_private_key_file=str(key_file),
        secret_key=SECRET,
        run_scheduler=False,
    )


@pytest.fixture
async def unreachable_client(unreachable: Settings, clock: ManualClock) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(unreachable, clock=clock)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://prm.test") as client:
            yield client
    finally:
        await app.state.runtime.close()


async def test_not_ready_but_alive_when_the_database_is_unreachable(unreachable_client: httpx.AsyncClient) -> None:
    reply = await unreachable_client.get("/ready")
    assert reply.status_code == 503
    assert reply.json()["detail"] == "The database is not reachable."
    assert (await unreachable_client.get("/health")).status_code == 200
