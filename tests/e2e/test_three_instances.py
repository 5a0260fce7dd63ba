"""Three real `prm serve` instances on one fresh PostgreSQL database, one of them killed mid-timer.

The instances share the database, the signing key and the secret, as instances behind a load
balancer do; their email goes to a real SMTP server (aiosmtpd) and their webhooks to a real
receiver, both in this process, both counting what they get by the outbox id (Message-ID,
X-PRM-Delivery). The demo data gives the world (programs, partners, rules, a shark tank).

1. Traffic through all three in turns: deal registrations submitted (an Idempotency-Key retried on
   another instance), leads routed by the rules into the shark tank and claimed by two partners
   at once on two instances, and the emails and webhooks all that sends.
2. The servers run on real time (no injected clock crosses a process), so instead of moving time
   the test moves the submitted registrations' review deadlines into the past. Holding the
   history table in SHARE mode, it lets the escalation timer start on whichever instance takes
   the job's advisory lock and stop mid-run at its first history insert; the lock holder is found
   in pg_locks (each connection names its process) and SIGKILLed. Released, the two survivors
   must escalate every overdue registration exactly once within the job interval.
3. Nothing accepted is lost; every outbox message is delivered, each exactly once.

It runs in the PostgreSQL pass of `make test` only (marked `postgres_pass`): it needs nothing of
the SQLite pass, and running it twice would only cost CI minutes.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy.engine import make_url

from prm.core.locks import lock_key
from prm.core.tokens import generate_private_key_pem
from tests.conftest import _asyncpg_dsn, _pg_admin

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.postgres_pass]

T = TypeVar("T")
SERVER_URL = make_url(os.environ.get("PRM_TEST_DATABASE_URL") or "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
PRM = str(Path(sys.executable).parent / "prm")
PASSWORD = "demo-password-1"
JOB_INTERVAL_SECONDS = 2.0
CATCH_UP_GRACE_SECONDS = 3.0  # the run itself, on a shared two-core machine
ESCALATION = "deal_registration.escalate_overdue_reviews"
REGISTRATIONS = 12
LEADS = 3  # the demo tank lets a partner hold three claims: every race has a winner


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def eventually(check: Callable[[], T], *, within: float, what: str) -> T:
    """Poll the other processes until `check` gives something truthy, up to a deadline."""
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
        time.sleep(0.05)  # waiting for other processes, not for time to pass
    raise AssertionError(f"{what} not reached within {within}s (last: {last!r})")


# --- what the instances send -------------------------------------------------------------------


class Inbox:
    """The SMTP server's handler: every message's Message-ID (the outbox id) and subject."""

    def __init__(self) -> None:
        self.ids: Counter[str] = Counter()
        self.subjects: list[str] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd API
        message = message_from_bytes(envelope.content)
        with self._lock:
            self.ids[str(message["Message-ID"]).strip("<>").removesuffix("@prm")] += 1
            self.subjects.append(str(message["Subject"]))
        return "250 OK"


class Hooks:
    """The webhook receiver's tally: deliveries by X-PRM-Delivery, and event types."""

    def __init__(self) -> None:
        self.ids: Counter[str] = Counter()
        self.events: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add(self, delivery: str, event: str) -> None:
        with self._lock:
            self.ids[delivery] += 1
            self.events[event] += 1


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    handler, port = Inbox(), _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


@pytest.fixture
def hooks() -> Iterator[tuple[Hooks, str]]:
    tally = Hooks()

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            tally.add(self.headers["X-PRM-Delivery"], self.headers["X-PRM-Event"])
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield tally, f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


# --- the instances -----------------------------------------------------------------------------


@dataclass
class Instance:
    name: str
    env: dict[str, str]
    folder: Path
    port: int = field(default_factory=_free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = (self.folder / f"{self.name}.log").open("ab")
        self.process = subprocess.Popen(  # noqa: S603 - our own CLI
            [PRM, "serve", "--port", str(self.port), "--log-level", "warning"],
            env=self.env | {"PRM_BASE_URL": self.url},
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def healthy(self) -> bool:
        assert self.process is not None
        assert self.process.poll() is None, f"{self.name} exited"
        return httpx.get(f"{self.url}/health", timeout=5).status_code == 200

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class Cluster:
    instances: list[Instance]
    database_url: str
    _tokens: dict[str, str] = field(default_factory=dict)
    _turn: int = 0

    def next(self) -> Instance:
        """Round robin over the live instances, as a load balancer would."""
        live = [i for i in self.instances if i.process is not None and i.process.poll() is None]
        self._turn += 1
        return live[self._turn % len(live)]

    def headers(self, email: str) -> dict[str, str]:
        """A token from one instance is good on every other: they share the key."""
        if email not in self._tokens:
            reply = httpx.post(
                f"{self.next().url}/api/v1/auth/token", data={"username": email, "password": PASSWORD}, timeout=30
            )
            assert reply.status_code == 200, reply.text
            self._tokens[email] = reply.json()["access_token"]
        return {"Authorization": f"Bearer {self._tokens[email]}"}

    def call(
        self, who: str, method: str, path: str, body: Any = None, *, on: Instance | None = None, **kw: Any
    ) -> httpx.Response:
        headers = self.headers(who) | kw.pop("headers", {})
        target = on or self.next()
        return httpx.request(method, f"{target.url}{path}", json=body, headers=headers, timeout=60, **kw)

    def ok(self, who: str, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        reply = self.call(who, method, path, body, **kw)
        assert reply.is_success, f"{method} {path}: {reply.status_code} {reply.text}"
        return reply.json()

    def query(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        async def run() -> list[asyncpg.Record]:
            connection = await asyncpg.connect(_asyncpg_dsn(self.database_url))
            try:
                return list(await connection.fetch(sql, *args))
            finally:
                await connection.close()

        return asyncio.run(run())


def _prm(env: dict[str, str], *args: str) -> None:
    done = subprocess.run([PRM, *args], env=env, capture_output=True, text=True, check=False)  # noqa: S603
    assert done.returncode == 0, done.stderr


@pytest.fixture
def cluster(tmp_path: Path, inbox: tuple[Inbox, int], hooks: tuple[Hooks, str]) -> Iterator[Cluster]:
    name = f"prm_scale_{uuid.uuid4().hex[:10]}"
    admin_url = SERVER_URL.set(database="postgres").render_as_string(hide_password=False)
    asyncio.run(_pg_admin(admin_url, f'CREATE DATABASE "{name}"'))
    database_url = SERVER_URL.set(database=name).render_as_string(hide_password=False)
    key_file = tmp_path / "jwt.pem"
    key_file.write_text(generate_private_key_pem())
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRM_")} | {
        "PRM_DATABASE_URL": database_url,
        "PRM_JWT_PRIVATE_KEY_FILE": str(key_file),
        "PRM_SECRET_KEY": secrets.token_urlsafe(48),
        "PRM_SMTP_HOST": "127.0.0.1",
        "PRM_SMTP_PORT": str(inbox[1]),
        "PRM_OUTBOX_POLL_SECONDS": "0.5",
        "PRM_JOB_INTERVAL_SECONDS": str(JOB_INTERVAL_SECONDS),
        "PRM_DB_POOL_SIZE": "4",
    }
    instances = [Instance(n, env, tmp_path) for n in ("a", "b", "c")]
    try:
        _prm(env, "db", "upgrade")
        _prm(env, "demo")
        for instance in instances:
            instance.start()
        for instance in instances:
            eventually(instance.healthy, within=90, what=f"instance {instance.name} serving")
        yield Cluster(instances, database_url)
    finally:
        for instance in instances:
            instance.stop()
        asyncio.run(_pg_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# --- the traffic -------------------------------------------------------------------------------

ADMIN = "admin@northwind.example"
MANAGER = "cm.alex@northwind.example"
SELLERS = ("seller@acme.example", "seller@globex.example")
CLAIMERS = ("admin@acme.example", "admin@globex.example")


def register_deals(cluster: Cluster) -> list[str]:
    """Registrations submitted through every instance; one retried on the next with its key."""
    [program] = cluster.ok(SELLERS[0], "GET", "/api/v1/deal-programs")["items"]
    product = cluster.ok(SELLERS[0], "GET", "/api/v1/products")["items"][0]

    def submit(n: int) -> str:
        body = {
            "program_id": program["id"],
            "customer_name": f"Scale Customer {n} {uuid.uuid4().hex[:6]}",
            "customer_country": "US",
            "contact_name": "Pat Buyer",
            "products": [{"product_id": product["id"], "quantity": 3}],
            "estimated_amount_minor": 5_000_000 + n,
            "currency": "USD",
            "expected_close_date": "2027-06-30",
            "submit": True,
        }
        key = {"Idempotency-Key": f"scale-{n}"}
        first = cluster.call(SELLERS[n % 2], "POST", "/api/v1/deal-registrations", body, headers=key)
        assert first.status_code == 201, first.text
        again = cluster.call(SELLERS[n % 2], "POST", "/api/v1/deal-registrations", body, headers=key)
        assert again.status_code == 201, again.text
        assert again.json()["id"] == first.json()["id"]
        assert again.headers["idempotent-replayed"] == "true"
        return str(first.json()["id"])

    with ThreadPoolExecutor(max_workers=3) as pool:
        return list(pool.map(submit, range(REGISTRATIONS)))


def route_and_claim(cluster: Cluster, n: int) -> tuple[str, Counter[int]]:
    """A lead the demo's rules send to the Americas shark tank, claimed by two partners at once,
    each on another instance."""
    body = {
        "first_name": "Sam",
        "last_name": f"Storm {n}",
        "company": f"Scale Target {n} {uuid.uuid4().hex[:6]}",
        "country": "US",
        "source": "web",
        "email": f"scale{n}-{uuid.uuid4().hex[:6]}@target.example",
    }
    lead = cluster.ok(MANAGER, "POST", "/api/v1/distribution/leads", body)
    qualified = cluster.ok(
        MANAGER,
        "POST",
        f"/api/v1/distribution/leads/{lead['id']}/qualify",
        {"expected_version": lead["version"], "stage": "sales_qualified", "time_frame": "immediate"},
    )
    routed = cluster.ok(
        MANAGER,
        "POST",
        f"/api/v1/distribution/leads/{lead['id']}/auto-route",
        {"expected_version": qualified["version"]},
    )
    assert routed["outcome"] == "offered_to_group", routed
    board = cluster.ok(
        CLAIMERS[0], "GET", "/api/v1/distribution/offers", params={"kind": "shark_tank", "status": "open"}
    )
    [offer] = [o for o in board["items"] if o["lead_id"] == lead["id"]]
    targets = [cluster.next(), cluster.next()]
    with ThreadPoolExecutor(max_workers=2) as pool:
        replies = list(
            pool.map(
                lambda pair: cluster.call(
                    pair[0], "POST", f"/api/v1/distribution/offers/{offer['id']}/claim", on=pair[1]
                ),
                zip(CLAIMERS, targets, strict=True),
            )
        )
    return str(lead["id"]), Counter(r.status_code for r in replies)


# --- the timer, stopped mid-run and its instance killed ----------------------------------------


def _holder_of(cluster: Cluster, job: str) -> tuple[int, str] | None:
    """The process id (from its connection's application_name) holding `job`'s advisory lock,
    and what that connection is waiting for."""
    key = lock_key(job)
    rows = cluster.query(
        "SELECT a.application_name, a.wait_event_type FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
        " WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1 AND l.objid = $2"
        " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        (key >> 32) & 0xFFFFFFFF,
        key & 0xFFFFFFFF,
    )
    if not rows:
        return None
    return int(rows[0]["application_name"].rsplit(" ", 1)[1]), str(rows[0]["wait_event_type"])


def kill_the_instance_mid_escalation(cluster: Cluster, due: list[str]) -> tuple[Instance, datetime]:
    """Make `due` overdue while history inserts wait; SIGKILL whoever runs the escalation then.
    Returns the killed instance and the moment (the database's clock) the survivors were let go."""

    async def run() -> tuple[Instance, datetime]:
        blocker = await asyncpg.connect(_asyncpg_dsn(cluster.database_url))
        try:
            transaction = blocker.transaction()
            await transaction.start()
            await blocker.execute("LOCK TABLE activity IN SHARE MODE")
            # Committed on its own, after the lock: no timer can act on the deadlines before it holds.
            await asyncio.to_thread(
                cluster.query,
                "UPDATE deal_registrations SET review_due_at = now() - interval '1 minute' WHERE id = ANY($1::uuid[])",
                [uuid.UUID(i) for i in due],
            )
            holder = await asyncio.to_thread(
                eventually,
                lambda: (h := _holder_of(cluster, ESCALATION)) and h[1] == "Lock" and h,
                within=6 * JOB_INTERVAL_SECONDS,
                what="an instance running the escalation, waiting mid-run",
            )
            [victim] = [i for i in cluster.instances if i.process is not None and i.process.pid == holder[0]]
            victim.kill()
            await transaction.rollback()
            released: datetime = await blocker.fetchval("SELECT clock_timestamp()")
            return victim, released
        finally:
            await blocker.close()

    return asyncio.run(run())


def escalated(cluster: Cluster, due: list[str]) -> list[asyncpg.Record]:
    """Each registration's escalations (history entries) and when it was marked overdue."""
    return cluster.query(
        "SELECT r.id, r.overdue_at, (SELECT count(*) FROM activity a WHERE a.entity_id = r.id"
        " AND a.action = 'review_overdue') AS entries FROM deal_registrations r WHERE r.id = ANY($1::uuid[])",
        [uuid.UUID(i) for i in due],
    )


def escalations(cluster: Cluster, registration_id: str) -> int:
    history = cluster.ok(ADMIN, "GET", f"/api/v1/deal-registrations/{registration_id}/history", params={"limit": 200})
    return sum(1 for entry in history["items"] if entry["action"] == "review_overdue")


# --- the test ----------------------------------------------------------------------------------


def test_three_instances_share_the_work_and_survive_a_killed_timer(
    cluster: Cluster, inbox: tuple[Inbox, int], hooks: tuple[Hooks, str]
) -> None:
    mail, hook_tally = inbox[0], hooks[0]
    cluster.ok(ADMIN, "POST", "/api/v1/webhooks", {"url": hooks[1], "event_types": ["*"]})

    registrations = register_deals(cluster)
    claims = [route_and_claim(cluster, n) for n in range(LEADS)]
    for lead_id, statuses in claims:
        assert statuses == Counter({200: 1, 409: 1}), (lead_id, statuses)

    victim, released = kill_the_instance_mid_escalation(cluster, registrations)
    survivors = [i for i in cluster.instances if i is not victim]
    assert len(survivors) == 2

    # Every overdue registration escalated by a survivor, once, within the job interval (a run
    # starts at most one interval after the lock is free; a little more for the run itself).
    done = eventually(
        lambda: (rows := escalated(cluster, registrations)) and all(r["overdue_at"] for r in rows) and rows,
        within=JOB_INTERVAL_SECONDS + 30,
        what="every overdue registration escalated",
    )
    caught_up = max(r["overdue_at"] for r in done) - released
    assert caught_up.total_seconds() <= JOB_INTERVAL_SECONDS + CATCH_UP_GRACE_SECONDS, caught_up
    assert [escalations(cluster, r) for r in registrations] == [1] * REGISTRATIONS

    # No accepted request lost: every registration and claimed lead is there, as accepted.
    for registration_id in registrations:
        read = cluster.ok(ADMIN, "GET", f"/api/v1/deal-registrations/{registration_id}")
        assert read["state"] == "submitted"
    for lead_id, _ in claims:
        lead = cluster.ok(ADMIN, "GET", f"/api/v1/distribution/leads/{lead_id}")
        assert lead["status"] == "accepted"
        assert lead["partner_id"] is not None

    # Every outbox message delivered, each exactly once, to the SMTP server or the receiver.
    eventually(
        lambda: not cluster.query("SELECT 1 FROM outbox WHERE status <> 'delivered' AND kind <> 'peer'"),
        within=30,
        what="the outbox drained",
    )
    sent = cluster.query("SELECT id::text AS id, kind FROM outbox WHERE kind <> 'peer'")
    emails = {r["id"] for r in sent if r["kind"] == "email"}
    webhooks = {r["id"] for r in sent if r["kind"] == "webhook"}
    assert set(mail.ids) == emails
    assert set(mail.ids.values()) == {1}
    assert set(hook_tally.ids) == webhooks
    assert set(hook_tally.ids.values()) == {1}
    assert hook_tally.events["deal_registration.review_overdue"] == REGISTRATIONS
    overdue_mails = [s for s in mail.subjects if s.startswith("Overdue review: deal registration")]
    admins = cluster.query("SELECT count(*) AS n FROM users WHERE role = 'vendor_admin' AND active")[0]["n"]
    assert len(overdue_mails) == REGISTRATIONS * admins
