"""Two real `prm serve` processes, each with its own database, key and secret, driven over HTTP.

Each instance's database is migrated and given a vendor admin by the code behind `prm db upgrade`
and `prm user create`, run in this process (a new process per command would import the whole
app twice more per instance, most of the set-up time on a busy machine), and serves on a free
port with PRM_BASE_URL set to its own address (the audience of the peer tokens it accepts).
`kill()` is SIGKILL: no shutdown hook runs, as in a crash.
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


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
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
        self.admin_email = twin_of.admin_email if twin_of else f"admin@{name}.example"
        self.database_url = twin_of.database_url if twin_of else self._new_database()
        key_file = Path(twin_of.env["PRM_JWT_PRIVATE_KEY_FILE"]) if twin_of else folder / "jwt.pem"
        if twin_of is None:
            key_file.write_text(generate_private_key_pem())
        self.env = {
            **os.environ,
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
        asyncio.run(create_operator_user(settings, self.admin_email, "Admin", "vendor_admin", PASSWORD, None))

    def start(self) -> None:
        log = (self.folder / "server.log").open("ab")
        self.process = subprocess.Popen(  # noqa: S603 - our own CLI
            [PRM, "serve", "--port", str(self.port), "--log-level", "warning"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        eventually(self._healthy, within=START_DEADLINE_SECONDS, what=f"{self.name} serving")

    def _healthy(self) -> bool:
        assert self.process is not None, f"{self.name} is not started"
        assert self.process.poll() is None, f"{self.name} exited"
        return self.http.get("/health").status_code == 200

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
                data={"grant_type": "password", "username": self.admin_email, "password": PASSWORD},
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

        async def read() -> str:
            connection = await asyncpg.connect(_asyncpg_dsn(self.database_url))
            try:
                return str(await connection.fetchval(query.format("$1"), uuid.UUID(connection_id)))
            finally:
                await connection.close()

        return asyncio.run(read())
