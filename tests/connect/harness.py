"""Two real `prm serve` processes, each with its own database, key and secret, driven over HTTP.

Each instance's database is migrated and given a vendor admin by the code behind `prm db upgrade`
and `prm user create`, run in this process (a new process per command would import the whole
app twice more per instance, most of the set-up time on a busy machine), and serves on a free
port with PRM_BASE_URL set to its own address (the audience of the peer tokens it accepts).
`kill()` is SIGKILL: no shutdown hook runs, as in a crash.

A free port is found by binding port 0 and closing it; the server binds it a moment later, so
another process may take it in between: an instance that has never served and could not bind
starts again on another port (a restarted one keeps its address, which its peers know).
`link` connects a vendor's instance to a partner's through HTTP, as their admins would.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from prm.cli import upgrade_database
from prm.core.tokens import generate_private_key_pem
from prm.demo import create_operator_user
from prm.settings import load_settings
from tests.conftest import PG_URL, _asyncpg_dsn, _pg_admin

T = TypeVar("T")
PRM = str(Path(sys.executable).parent / "prm")
START_DEADLINE_SECONDS = 180  # start-up alone took over 60 s on a 2-core machine at load 20
PASSWORD = "connect-test-password-1"
CONNECTIONS = "/api/v1/connect/connections"
BIND_ATTEMPTS = 3  # a start-up whose port another process took meanwhile tries another, this often
_handed_out: set[int] = set()


class ServerExited(Exception):
    """The server process ended while it was awaited (not an assertion: `eventually` stops at once)."""


def free_port() -> int:
    """A port nothing listens on now, and never one this process handed out before."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def eventually(check: Callable[[], T], *, within: float = 45.0, what: str = "condition") -> T:
    """Poll another process until `check` returns something truthy without failing an assert."""
    deadline = time.monotonic() + within
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
        except (AssertionError, httpx.HTTPError) as exc:
            last = exc
        else:
            if result:
                return result
        time.sleep(0.05)  # waiting for the other process, not for time to pass
    raise AssertionError(f"{what} not reached within {within}s (last: {last!r})")


class Instance:
    """One prm deployment's process; `twin_of` makes a second process of the same deployment
    (its database, key and secret: what two `prm serve` behind one load balancer share)."""

    def __init__(self, name: str, folder: Path, *, twin_of: Instance | None = None, **settings: str) -> None:
        self.name = name
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_file = folder / f"{name}.log"
        self.serve_args = ["--log-level", "warning"]  # what `prm serve` gets after --port
        self.served = False  # once it has, peers may know its address: it keeps its port
        self.admin_email = twin_of.admin_email if twin_of else f"admin@{name}.example"
        self.database_url = twin_of.database_url if twin_of else self._new_database()
        key_file = Path(twin_of.env["PRM_JWT_PRIVATE_KEY_FILE"]) if twin_of else folder / "jwt.pem"
        if twin_of is None:
            key_file.write_text(generate_private_key_pem())
        self.password = PASSWORD
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("PRM_")},
            "PRM_DATABASE_URL": self.database_url,
            "PRM_JWT_PRIVATE_KEY_FILE": str(key_file),
            "PRM_SECRET_KEY": twin_of.env["PRM_SECRET_KEY"] if twin_of else secrets.token_urlsafe(48),
            "PRM_BASE_URL": self.url,
            # Delivery wakes on commit; the poll and the retries of a peer that was down are
            # short here so a restarted peer is caught up within a second, not 30.
            "PRM_OUTBOX_POLL_SECONDS": "0.2",
            "PRM_PEER_RETRY_MAX_SECONDS": "1",
            # ... and with retries that often, a peer kept down for minutes on a busy machine must
            # not see messages dead-lettered (tests/connect/test_delivery.py covers dead letters).
            "PRM_PEER_MAX_ATTEMPTS": "100000",
            # Stopped at the end of a test, nothing routes to it: no drain (the shutdown tests set one).
            "PRM_SHUTDOWN_DRAIN_SECONDS": "0",
            **settings,
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.http = httpx.Client(base_url=self.url, timeout=30)
        self._token = ""

    def _new_database(self) -> str:
        if not PG_URL:
            return f"sqlite+aiosqlite:///{self.folder / 'prm.db'}"
        name = f"prm_connect_{self.name}_{uuid.uuid4().hex[:8]}"
        asyncio.run(_pg_admin(PG_URL, f'CREATE DATABASE "{name}"'))
        return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)

    def drop_database(self) -> None:
        if PG_URL:
            name = make_url(self.database_url).database
            asyncio.run(_pg_admin(PG_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def prm(self, *args: str) -> None:
        subprocess.run([PRM, *args], env=self.env, check=True, capture_output=True)  # noqa: S603 - our own CLI

    def set_up(self) -> None:
        upgrade_database(self.database_url)
        settings = load_settings({k: v for k, v in self.env.items() if k.startswith("PRM_")})
        asyncio.run(create_operator_user(settings, self.admin_email, "Admin", "vendor_admin", self.password, None))

    def start(self) -> None:
        """Start `prm serve` and wait until it serves; on another port if its own was taken."""
        for attempt in range(1, BIND_ATTEMPTS + 1):
            logged = self.log_file.stat().st_size if self.log_file.exists() else 0
            with self.log_file.open("ab") as log:
                self.process = subprocess.Popen(  # noqa: S603 - our own CLI
                    [PRM, "serve", "--port", str(self.port), *self.serve_args],
                    env=self.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            try:
                eventually(self._healthy, within=START_DEADLINE_SECONDS, what=f"{self.name} serving")
            except ServerExited:
                if self.served or attempt == BIND_ATTEMPTS or not self._lost_its_port(logged):
                    raise
                self._move_to(free_port())
            else:
                self.served = True
                return

    def _healthy(self) -> bool:
        if self.process is None:
            raise ServerExited(f"{self.name} is not started")
        if (code := self.process.poll()) is not None:
            raise ServerExited(f"{self.name} exited with {code}; its log: {self.log_file}")
        return self.http.get("/health").status_code == 200

    def _lost_its_port(self, logged: int) -> bool:
        with self.log_file.open("rb") as log:
            log.seek(logged)
            return b"address already in use" in log.read().lower()

    def _move_to(self, port: int) -> None:
        old_url, self.port = self.url, port
        self.url = f"http://127.0.0.1:{port}"
        if self.env.get("PRM_BASE_URL") == old_url:  # not when a test gave it another address
            self.env["PRM_BASE_URL"] = self.url
        self.http.close()
        self.http = httpx.Client(base_url=self.url, timeout=30)

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to finish anything."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)
        self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.process = None
        self.http.close()

    @property
    def headers(self) -> dict[str, str]:
        if not self._token:
            reply = self.http.post(
                "/api/v1/auth/token",
                data={"grant_type": "password", "username": self.admin_email, "password": self.password},
            )
            reply.raise_for_status()
            self._token = reply.json()["access_token"]
        return {"authorization": f"Bearer {self._token}"}

    def get(self, path: str, **kwargs: Any) -> Any:
        reply = self.http.get(path, headers=self.headers, **kwargs)
        assert reply.status_code == 200, reply.text
        return reply.json()

    def call(self, method: str, path: str, body: Any = None, *, expect: int = 200) -> Any:
        reply = self.http.request(method, path, json=body, headers=self.headers)
        assert reply.status_code == expect, f"{method} {path}: {reply.status_code} {reply.text}"
        return reply.json() if reply.content else None

    def connection_key(self, connection_id: str) -> str:
        """An attacker's positive control for the token tests: the connection's private key,
        read straight from this instance's database (never exposed over HTTP)."""
        query = "SELECT private_key_pem FROM connect_connections WHERE id = {}"
        if not PG_URL:
            path = self.database_url.split("///", 1)[1]
            with sqlite3.connect(path) as db:
                row = db.execute(query.format("?"), (uuid.UUID(connection_id).bytes,)).fetchone()
            return str(row[0])
        return str(self.query(query.format("$1"), uuid.UUID(connection_id))[0]["private_key_pem"])

    def query(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        """Read this instance's PostgreSQL database directly (what no API shows)."""

        async def run() -> list[asyncpg.Record]:
            connection = await asyncpg.connect(_asyncpg_dsn(self.database_url))
            try:
                return list(await connection.fetch(sql, *args))
            finally:
                await connection.close()

        return asyncio.run(run())


def patch(instance: Instance, path: str, *, headers: dict[str, str] | None = None, **values: Any) -> dict[str, Any]:
    """Read, then change; a change synced in from the peer in between is a 409: read again."""
    for _attempt in range(20):
        current = instance.get(path)
        body = {"expected_version": current["version"], **values}
        reply = instance.http.patch(path, json=body, headers=instance.headers | (headers or {}))
        if reply.status_code != 409:
            assert reply.status_code == 200, reply.text
            return dict(reply.json())
    raise AssertionError(f"PATCH {path} lost 20 races in a row")


def link(
    vendor: Instance, partner: Instance, *, partner_id: str, objects: tuple[str, ...], auto_accept: bool
) -> tuple[str, str]:
    """The vendor invites the partner's instance for its partner organisation `partner_id`, the
    partner accepts; the vendor publishes `objects` and the partner subscribes to them. Returns
    the connection's id on the vendor's side and on the partner's."""
    invitation = {"peer_url": partner.url, "contact_email": "owner@partner.example", "partner_id": partner_id}
    invited = vendor.call("POST", CONNECTIONS, invitation, expect=201)
    assert invited["status"] == "sent"
    received = eventually(lambda: partner.get(CONNECTIONS)["items"], what="the invitation on the partner")
    assert received[0]["status"] == "received"
    ours, theirs = invited["id"], received[0]["id"]
    partner.call("POST", f"{CONNECTIONS}/{theirs}/accept", {})
    eventually(lambda: vendor.get(f"{CONNECTIONS}/{ours}")["status"] == "accepted", what="accepted on the vendor")
    for object_name in objects:
        vendor.call("PUT", f"{CONNECTIONS}/{ours}/publications", {"object": object_name})
    subscriptions = f"{CONNECTIONS}/{theirs}/subscriptions"
    eventually(lambda: len(partner.get(subscriptions)) == len(objects), what="publications on the partner")
    for object_name in objects:
        partner.call("PUT", f"{subscriptions}/{object_name}", {"auto_accept": auto_accept})
    publications = f"{CONNECTIONS}/{ours}/publications"
    eventually(lambda: all(p["peer_subscribed"] for p in vendor.get(publications)), what="subscriptions on the vendor")
    return ours, theirs


def received_share(partner: Instance, connection: str, object_name: str, origin_id: str) -> dict[str, Any]:
    """The partner's share of the vendor's record `origin_id` (fails until it has arrived)."""
    shares = partner.get(f"{CONNECTIONS}/{connection}/shares", params={"limit": 200, "sort": "-started_at"})
    found = [s for s in shares["items"] if s["object"] == object_name and s["origin_id"] == origin_id]
    assert found, f"{object_name} {origin_id} has not arrived"
    return dict(found[0])


def local_copy(partner: Instance, connection: str, object_name: str, origin_id: str) -> dict[str, Any]:
    """The partner's own record made from the vendor's `origin_id` (fails until accepted)."""
    share = received_share(partner, connection, object_name, origin_id)
    assert share["local_id"], "not accepted yet"
    plural = "opportunities" if object_name == "opportunity" else f"{object_name}s"
    return dict(partner.get(f"/api/v1/{plural}/{share['local_id']}"))
