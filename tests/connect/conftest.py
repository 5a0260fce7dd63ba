"""Two prm apps in one process, each with its own database, linked through the real peer
inbox: each app's outbox delivers with the real PeerDeliverer over an httpx client that routes
`http://a.test` and `http://b.test` to the two apps (ASGI), so nothing of ours is mocked. Delivery
runs when a test says (`linked.deliver()`), and time moves by the shared ManualClock.

A network cut is the only stand-in: `linked.network.down` names hosts whose requests fail as a
refused connection would.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar
from sqlalchemy.engine import make_url

from prm.cli import upgrade_database
from prm.connect.client import PeerDeliverer
from prm.core.auth import Role
from prm.core.clock import ManualClock
from prm.core.mail import keep_in_mailbox
from prm.core.outbox import OutboxDispatcher, OutboxKind
from prm.core.seeds import SeededSeeds
from prm.crm.models import User
from prm.settings import Settings, load_settings
from tests.conftest import EMPTY_EVERY_TABLE, PG_URL, TEST_SEED, Actor, World, _pg_admin, app_of

A_URL, B_URL = "http://a.test", "http://b.test"
CONNECTIONS = "/api/v1/connect/connections"
SUSPEND_AFTER = timedelta(minutes=30)


def a_settings() -> dict[str, Any]:
    """App A (the test's usual `app` and `world`) answers at http://a.test: a module using `linked`
    returns this from its `settings_overrides` fixture."""
    return {"base_url": A_URL, "connect_suspend_after_seconds": int(SUSPEND_AFTER.total_seconds())}


class Network(httpx.AsyncBaseTransport):
    """Routes each request to the app serving its host; a host in `down` refuses connections."""

    def __init__(self, apps: dict[str, Litestar]) -> None:
        self.transports = {host: httpx.ASGITransport(app=app) for host, app in apps.items()}
        self.down: set[str] = set()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        if host in self.down or host not in self.transports:
            raise httpx.ConnectError(f"connection refused: {host}", request=request)
        return await self.transports[host].handle_async_request(request)


@dataclass
class Side:
    app: Litestar
    admin: Actor
    client: httpx.AsyncClient
    outbox: OutboxDispatcher = field(init=False)

    async def call(self, method: str, path: str, body: Any = None, *, expect: int = 200, **kw: Any) -> Any:
        reply = await self.client.request(method, path, json=body, headers=self.admin.headers, **kw)
        assert reply.status_code == expect, f"{method} {path}: {reply.status_code} {reply.text}"
        return reply.json() if reply.content else None

    async def get(self, path: str, **params: Any) -> Any:
        return await self.call("GET", path, params=params)


@dataclass
class Linked:
    a: Side
    b: Side
    network: Network
    clock: ManualClock
    partner_id: uuid.UUID  # B is partner A of A's world
    a_connection: str = ""
    b_connection: str = ""

    async def deliver(self) -> None:
        """Deliver what is due on both sides until neither has anything left to send now."""
        for _round in range(50):
            sent = await self.a.outbox.run_once() + await self.b.outbox.run_once()
            if not sent:
                return
        raise AssertionError("the outboxes did not settle in 50 rounds")

    async def b_share(self, object_name: str, origin_id: str) -> dict[str, Any]:
        return await _share(self.b, self.b_connection, object_name, origin_id)

    async def a_share(self, object_name: str, origin_id: str) -> dict[str, Any]:
        return await _share(self.a, self.a_connection, object_name, origin_id)


async def _share(side: Side, connection: str, object_name: str, origin_id: str) -> dict[str, Any]:
    page = await side.get(f"{CONNECTIONS}/{connection}/shares", limit=200, sort="-started_at")
    found = [s for s in page["items"] if s["object"] == object_name and s["origin_id"] == origin_id]
    assert found, f"{object_name} {origin_id} is not shared on {connection}"
    return dict(found[0])


@pytest.fixture(scope="session")
def b_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """B's schema, migrated once per run (PostgreSQL: its own database)."""
    if PG_URL:
        name = f"prm_test_b_{uuid.uuid4().hex[:10]}"
        asyncio.run(_pg_admin(PG_URL, f'CREATE DATABASE "{name}"'))
        url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
        upgrade_database(url)
        yield url
        asyncio.run(_pg_admin(PG_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    else:
        path = tmp_path_factory.mktemp("template_b") / "b.db"
        upgrade_database(f"sqlite+aiosqlite:///{path}")
        yield str(path)


async def _b_database(template: str, tmp_path: Path) -> str:
    if PG_URL:
        await _pg_admin(template, EMPTY_EVERY_TABLE)
        return template
    target = tmp_path / "b.db"
    shutil.copyfile(template, target)
    return f"sqlite+aiosqlite:///{target}"


def _dispatcher(app: Litestar, network: Network, settings: Settings) -> OutboxDispatcher:
    http = httpx.AsyncClient(transport=network)
    deliverer = PeerDeliverer(
        app.state.db, http, suspend_after=timedelta(seconds=settings.connect_suspend_after_seconds)
    )
    deliverers = {OutboxKind.EMAIL: keep_in_mailbox, OutboxKind.PEER: deliverer}
    return OutboxDispatcher(app.state.db, deliverers, max_attempts=settings.outbox_max_attempts)


@pytest.fixture
def b_accepts() -> dict[str, Any]:
    """B's acceptance body (a test parametrizes `b_accepts` to change it)."""
    return {}


@pytest.fixture
async def linked(
    app: Litestar,
    client: httpx.AsyncClient,
    world: World,
    settings: Settings,
    clock: ManualClock,
    b_template: str,
    tmp_path: Path,
    password_hash: str,
    b_accepts: dict[str, Any],
) -> AsyncIterator[Linked]:
    """A (the vendor, the usual app) invited B (a partner's instance); B accepted; A publishes
    accounts, contacts, opportunities and leads and B subscribed to them (nothing auto-accepted)."""
    b_settings = load_settings(
        {}, **{**_settings_values(settings), "database_url": await _b_database(b_template, tmp_path), "base_url": B_URL}
    )
    b_app = app_of("peer", b_settings, clock, SeededSeeds(TEST_SEED + 1))
    network = Network({"a.test": app, "b.test": b_app})
    b_admin = await _admin_of(b_app, password_hash)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=b_app), base_url=B_URL) as b_client:
        a = Side(app, world.admin, client)
        b = Side(b_app, b_admin, b_client)
        a.outbox, b.outbox = _dispatcher(app, network, settings), _dispatcher(b_app, network, b_settings)
        pair = Linked(a, b, network, clock, world.partner_a)
        await _link(pair, b_accepts)
        yield pair
    await b_app.state.runtime.close()


def _settings_values(settings: Settings) -> dict[str, Any]:
    keys = ("jwt_private_key_file", "secret_key", "run_scheduler", "db_pool_size", "connect_suspend_after_seconds")
    return {key: getattr(settings, key) for key in keys}


async def _admin_of(app: Litestar, password_hash: str) -> Actor:
    async with app.state.db.unit_of_work() as session:
        user = User(email="admin@partner.test", name="admin", role=Role.VENDOR_ADMIN, partner_id=None,
                    password_hash=password_hash, active=True)  # fmt: skip
        session.add(user)
        await session.flush()
        return Actor(user.id, user.email, user.role, None, app.state.tokens)


async def _link(pair: Linked, b_accepts: dict[str, Any]) -> None:
    a, b = pair.a, pair.b
    invitation = {"peer_url": B_URL, "contact_email": "o@b.test", "partner_id": str(pair.partner_id)}
    invited = await a.call("POST", CONNECTIONS, invitation, expect=201)
    pair.a_connection = invited["id"]
    await pair.deliver()
    pair.b_connection = (await b.get(CONNECTIONS))["items"][0]["id"]
    await b.call("POST", f"{CONNECTIONS}/{pair.b_connection}/accept", b_accepts)
    await pair.deliver()
    for object_name in ("account", "contact", "opportunity", "lead"):
        await a.call("PUT", f"{CONNECTIONS}/{pair.a_connection}/publications", {"object": object_name})
    await pair.deliver()
    for object_name in ("account", "contact", "opportunity", "lead"):
        await b.call("PUT", f"{CONNECTIONS}/{pair.b_connection}/subscriptions/{object_name}", {"auto_accept": True})
    await pair.deliver()
