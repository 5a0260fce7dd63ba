"""Test harness: a real database built from the migrations, the app in-process, a movable clock.

SQLite by default (a migrated template file copied per test); PostgreSQL when
PRM_TEST_DATABASE_URL is set: a fresh database is created for the run, migrated once,
truncated before each test, and dropped at the end.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from litestar import Litestar
from sqlalchemy.engine import make_url

from prm.app import app_shape, create_app, rebind_app
from prm.cli import upgrade_database
from prm.core.auth import Principal, Role
from prm.core.clock import ManualClock
from prm.core.db import Database
from prm.core.passwords import hash_password
from prm.core.seeds import SeededSeeds
from prm.core.tenancy import channel_manager_partners
from prm.core.tokens import generate_private_key_pem
from prm.crm.models import Partner, PartnerTier, User
from prm.models import metadata
from prm.settings import Settings, load_settings
from tests.factories.deals import Deals, make_deals

PG_URL = os.environ.get("PRM_TEST_DATABASE_URL", "")
SECRET = "test-secret-" + "x" * 40
PASSWORD = "correct horse battery"
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TEST_SEED = 42  # the master seed of the seeds injected into every test app


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _pg_admin(url: str, sql: str) -> None:
    connection = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests that only ever use PostgreSQL and need nothing of the SQLite pass run once, in the
    PostgreSQL pass; the SQLite pass reports them as deselected."""
    if PG_URL:
        return
    kept = [item for item in items if item.get_closest_marker("postgres_pass") is None]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in kept])
        items[:] = kept


@pytest.fixture(scope="session")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "jwt.pem"
    path.write_text(generate_private_key_pem())
    return path


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The schema built once per run from the alembic migrations (never create_all)."""
    if PG_URL:
        name = f"prm_test_{uuid.uuid4().hex[:10]}"
        asyncio.run(_pg_admin(PG_URL, f'CREATE DATABASE "{name}"'))
        url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
        upgrade_database(url)
        yield url
        asyncio.run(_pg_admin(PG_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    else:
        path = tmp_path_factory.mktemp("template") / "template.db"
        upgrade_database(f"sqlite+aiosqlite:///{path}")
        yield str(path)


# DELETE, not TRUNCATE: the tables hold a test's few rows, and TRUNCATE's new files cost about
# half a second per test. Replica mode turns off the foreign keys' and aggregates' triggers meanwhile.
EMPTY_EVERY_TABLE = (
    "SET session_replication_role = replica; "
    + " ".join(f'DELETE FROM "{table.name}";' for table in metadata.sorted_tables)
    + " SET session_replication_role = DEFAULT;"
)


@pytest.fixture
def database_url(migrated_database: str, tmp_path: Path) -> str:
    if PG_URL:
        asyncio.run(_pg_admin(migrated_database, EMPTY_EVERY_TABLE))
        return migrated_database
    target = tmp_path / "prm.db"
    shutil.copyfile(migrated_database, target)
    return f"sqlite+aiosqlite:///{target}"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Override in a test module to change settings (e.g. SMTP)."""
    return {}


@pytest.fixture
def settings(database_url: str, key_file: Path, settings_overrides: dict[str, Any]) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "jwt_private_key_file": str(key_file),
        "secret_key": SECRET,
        "run_scheduler": False,
        "db_pool_size": 5,
    }
    values.update(settings_overrides)
    return load_settings({}, **values)


@pytest.fixture
def seeds() -> SeededSeeds:
    """The weighted pick's seeds: the same sequence in every test run, so every pick is too."""
    return SeededSeeds(TEST_SEED)


_APPS: dict[tuple[object, ...], Litestar] = {}


def app_of(role: str, settings: Settings, clock: ManualClock, seeds: SeededSeeds) -> Litestar:
    """An app for this test's settings, database, clock and seeds. Litestar's routes are built
    once per role and shape of settings (half a second each time); later tests give that app
    their own runtime. A role is one app alive at a time in a test (the vendor's, a peer's)."""
    key = (role, *app_shape(settings))
    if key not in _APPS:
        _APPS[key] = create_app(settings, clock=clock, seeds=seeds)
        return _APPS[key]
    return rebind_app(_APPS[key], settings, clock=clock, seeds=seeds)


@pytest.fixture
async def app(settings: Settings, clock: ManualClock, seeds: SeededSeeds) -> Litestar:
    return app_of("vendor", settings, clock, seeds)


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    """HTTP into the app on the test's own event loop (Litestar's AsyncTestClient runs the app
    on a portal thread's loop, which database connections made by fixtures cannot cross)."""
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://prm.test") as test_client:
            yield test_client
    finally:
        # What the app's lifespan would do on shutdown (anyio's cancel scopes in Litestar's
        # lifespan cannot span pytest-asyncio's separate setup and teardown tasks).
        await app.state.runtime.close()


@pytest.fixture(scope="session")
def password_hash() -> str:
    return hash_password(PASSWORD)


@dataclass
class Actor:
    user_id: uuid.UUID
    email: str
    role: Role
    partner_id: uuid.UUID | None
    tokens: Any = field(repr=False)
    token: str = field(default="", repr=False)  # issued once, when the world was made
    epoch: int = 0  # the user's session epoch, as a fresh sign-in would read it

    def __post_init__(self) -> None:
        self.token = self.fresh_token()

    def fresh_token(self) -> str:
        """A token issued at the (movable) clock's now, as a client that signs in again would hold."""
        principal = Principal(
            user_id=self.user_id, role=self.role, partner_id=self.partner_id, email=self.email, epoch=self.epoch
        )
        return str(self.tokens.issue(str(self.user_id), principal.claims()))

    async def sign_in_again(self, db: Database) -> None:
        """Read the user as a new sign-in would (its current epoch, role and partner), after a
        test changed it, so `headers` are those of a new, valid session."""
        async with db.unit_of_work() as session:
            user = await session.get_one(User, self.user_id)
            self.epoch, self.role, self.partner_id = user.session_epoch, user.role, user.partner_id
        self.token = self.fresh_token()

    @property
    def headers(self) -> dict[str, str]:
        """Fresh each time, so tests that move the clock by months still act as signed-in users."""
        return {"Authorization": f"Bearer {self.fresh_token()}"}


@dataclass
class World:
    """A vendor with two channel managers, leadership, and two partners with an admin and a user each.

    Channel manager A manages partner A; channel manager B manages partner B.
    """

    admin: Actor
    leader: Actor
    cm_a: Actor
    cm_b: Actor
    partner_a: uuid.UUID
    partner_b: uuid.UUID
    pa_admin: Actor
    pa_user: Actor
    pb_admin: Actor
    pb_user: Actor
    db: Database
    extra: dict[str, Any] = field(default_factory=dict)

    def all(self) -> list[Actor]:
        return [self.admin, self.leader, self.cm_a, self.cm_b, self.pa_admin, self.pa_user, self.pb_admin, self.pb_user]


@pytest.fixture
async def world(app: Litestar, password_hash: str) -> World:
    db: Database = app.state.db
    tokens = app.state.tokens

    async with db.unit_of_work() as session:
        partner_a = Partner(name="Acme Resellers", tier=PartnerTier.GOLD, country="US", active=True)
        partner_b = Partner(name="Globex Integrators", tier=PartnerTier.SILVER, country="DE", active=True)
        session.add_all([partner_a, partner_b])
        await session.flush()

        def user(email: str, role: Role, partner: Partner | None) -> User:
            row = User(
                email=email,
                name=email.split("@", maxsplit=1)[0],
                role=role,
                partner_id=partner.id if partner else None,
                password_hash=password_hash,
                active=True,
            )
            session.add(row)
            return row

        users = {
            "admin": user("admin@vendor.test", Role.VENDOR_ADMIN, None),
            "leader": user("ceo@vendor.test", Role.LEADERSHIP, None),
            "cm_a": user("cm.a@vendor.test", Role.CHANNEL_MANAGER, None),
            "cm_b": user("cm.b@vendor.test", Role.CHANNEL_MANAGER, None),
            "pa_admin": user("admin@acme.test", Role.PARTNER_ADMIN, partner_a),
            "pa_user": user("seller@acme.test", Role.PARTNER_USER, partner_a),
            "pb_admin": user("admin@globex.test", Role.PARTNER_ADMIN, partner_b),
            "pb_user": user("seller@globex.test", Role.PARTNER_USER, partner_b),
        }
        await session.flush()
        await session.execute(
            channel_manager_partners.insert(),
            [
                {"user_id": users["cm_a"].id, "partner_id": partner_a.id},
                {"user_id": users["cm_b"].id, "partner_id": partner_b.id},
            ],
        )

    def actor(row: User) -> Actor:
        return Actor(row.id, row.email, row.role, row.partner_id, tokens)

    actors = {name: actor(row) for name, row in users.items()}
    return World(partner_a=partner_a.id, partner_b=partner_b.id, db=db, **actors)


@pytest.fixture
async def deals(client: httpx.AsyncClient, app: Litestar, world: World, clock: ManualClock) -> Deals:
    """Deal registrations made through the API (tests/factories/deals.py): two products and a
    program with the default terms (5 % margin in USD, 90 days' protection, one extension)."""
    return await make_deals(client, app, world, clock)
