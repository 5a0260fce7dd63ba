"""Three real `prm serve` instances on one fresh PostgreSQL database, one of them killed mid-timer,
and a partner's instance connected to them.

The instances share the database, the signing key and the secret, as instances behind a load
balancer do (tests/connect/harness.py's twins); their email goes to a real SMTP server (aiosmtpd)
and their webhooks to a real receiver, both in this process, both counting what they get by the
outbox id (Message-ID, X-PRM-Delivery). The demo data gives the world (programs, partners, rules,
a shark tank). A fourth `prm serve`, the partner Acme's own instance with its own database, is
connected to the vendor through HTTP as their admins would; it knows the vendor by one address,
a round-robin balancer in front of the three (PRM_BASE_URL, the audience of its peer tokens).

1. Traffic through all three in turns: deal registrations submitted (an Idempotency-Key retried on
   another instance), leads routed by the rules into the shark tank and claimed by two partners
   at once on two instances, and the emails and webhooks all that sends. Accounts, contacts and
   opportunities shared with the partner from every instance, and renamed on every instance:
   once with the partner up, once while it is down (so the messages wait in the outbox, some of
   them written by the instance about to be killed), once more on the survivors after the kill.
2. The servers run on real time (no injected clock crosses a process), so instead of moving time
   the test moves the submitted registrations' review deadlines into the past. Holding the
   history table in SHARE mode, it lets the escalation timer start on whichever instance takes
   the job's advisory lock and stop mid-run at its first history insert; the lock holder is found
   in pg_locks (each connection names its process) and SIGKILLed. Released, the two survivors
   must escalate every overdue registration exactly once within the job interval.
3. Nothing accepted is lost; every outbox message is delivered, each exactly once: the survivors'
   outbox dispatchers send the killed instance's waiting peer messages when the partner is back,
   the partner's copies equal the vendor's records, each share counts each update once, and the
   message ids each side remembers are exactly the ones the other sent.

It runs in the PostgreSQL pass of `make test` only (marked `postgres_pass`): it needs nothing of
the SQLite pass, and running it twice would only cost CI minutes.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiosmtpd.controller import Controller

from prm.cli import upgrade_database
from prm.core.locks import lock_key
from tests.conftest import PG_URL, _asyncpg_dsn
from tests.connect.harness import (
    CONNECTIONS,
    Instance,
    eventually,
    free_port,
    link,
    local_copy,
    patch,
    received_share,
)

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.postgres_pass]

PASSWORD = "demo-password-1"
JOB_INTERVAL_SECONDS = 2.0
CATCH_UP_GRACE_SECONDS = 3.0  # the run itself, on a shared two-core machine
ESCALATION = "deal_registration.escalate_overdue_reviews"
REGISTRATIONS = 12
LEADS = 3  # the demo tank lets a partner hold three claims: every race has a winner
DEALS = 6  # shared with the partner's instance, each renamed three times
PUBLISHED = ("account", "contact", "opportunity")


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
    handler, port = Inbox(), free_port()
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

# Not passed on: what belongs to one hop, and what http.server writes itself.
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "host", "server", "date"}
)


class RoundRobin:
    """The vendor's one address, as a load balancer's: each request goes to the next live
    instance. A refused connection (a killed instance: nothing was sent) moves the request to the
    next one; any other failure is the caller's 502, as a POST is never sent twice."""

    def __init__(self) -> None:
        self.instances: list[Instance] = []
        self._turn = 0
        self._lock = threading.Lock()
        self._http = httpx.Client(timeout=90)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def _next(self) -> list[Instance]:
        with self._lock:
            self._turn += 1
            turn = self._turn
        return [self.instances[(turn + k) % len(self.instances)] for k in range(len(self.instances))]

    def forward(self, method: str, path: str, headers: dict[str, str], body: bytes) -> httpx.Response | None:
        for target in self._next():
            try:
                return self._http.request(method, target.url + path, headers=headers, content=body)
            except httpx.ConnectError:
                continue
            except httpx.HTTPError:
                return None
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        balancer = self

        class Forward(BaseHTTPRequestHandler):
            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                reply = balancer.forward(self.command, self.path, headers, body)
                if reply is None:
                    self.send_error(502)
                    return
                self.send_response(reply.status_code)
                for name, value in reply.headers.items():
                    if name.lower() not in HOP_BY_HOP:
                        self.send_header(name, value)
                self.send_header("content-length", str(len(reply.content)))
                self.end_headers()
                self.wfile.write(reply.content)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward  # noqa: N815 - http.server API

            def log_message(self, *_: Any) -> None:
                return

        return Forward

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._http.close()


def _live(instances: list[Instance]) -> list[Instance]:
    return [i for i in instances if i.process is not None and i.process.poll() is None]


@dataclass
class Cluster:
    instances: list[Instance]
    database_url: str
    _tokens: dict[str, str] = field(default_factory=dict)
    _turn: int = 0

    def next(self) -> Instance:
        """Round robin over the live instances, as a load balancer would."""
        live = _live(self.instances)
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
        return self.instances[0].query(sql, *args)  # the database, whichever instance is alive


@pytest.fixture
def balancer() -> Iterator[RoundRobin]:
    front = RoundRobin()
    yield front
    front.close()


@pytest.fixture
def partner(tmp_path: Path) -> Iterator[Instance]:
    """The partner's instance: its own database and admin; started with the cluster."""
    assert PG_URL, "three instances on one database need PostgreSQL (PRM_TEST_DATABASE_URL)"
    (tmp_path / "partner").mkdir()
    instance = Instance("partner", tmp_path / "partner")
    try:
        instance.set_up()
        yield instance
    finally:
        instance.stop()
        instance.drop_database()


@pytest.fixture
def cluster(
    tmp_path: Path, inbox: tuple[Inbox, int], balancer: RoundRobin, partner: Instance, hooks: tuple[Hooks, str]
) -> Iterator[Cluster]:
    settings = {
        "PRM_SMTP_HOST": "127.0.0.1",
        "PRM_SMTP_PORT": str(inbox[1]),
        "PRM_OUTBOX_POLL_SECONDS": "0.5",
        "PRM_JOB_INTERVAL_SECONDS": str(JOB_INTERVAL_SECONDS),
        "PRM_DB_POOL_SIZE": "4",
        "PRM_BASE_URL": balancer.url,  # the one address the partner's instance knows
    }
    first = Instance("a", tmp_path, **settings)
    instances = [first, *(Instance(name, tmp_path, twin_of=first, **settings) for name in ("b", "c"))]
    for instance in instances:  # the demo's vendor admin, for the harness's calls
        instance.admin_email, instance.password = ADMIN, PASSWORD
    balancer.instances = instances
    try:
        upgrade_database(first.database_url)
        first.prm("demo")
        # All four start side by side: most of it is each process importing the app.
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(Instance.start, [*instances, partner]))
        yield Cluster(instances, first.database_url)
    finally:
        for instance in instances:
            instance.stop()
        first.drop_database()


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


# --- the connector: records shared with the partner's instance and renamed on every instance ---


@dataclass
class Deal:
    account: str
    contact: str
    opportunity: str
    n: int


@dataclass
class Connector:
    """The partner's instance linked to the vendor's cluster, the deals shared with it, and the
    rounds of renames sent so far."""

    partner: Instance
    ours: str  # the connection on the vendor's side
    theirs: str  # ... and on the partner's
    deals: list[Deal] = field(default_factory=list)
    renamed: list[str] = field(default_factory=list)  # the labels of each round of renames


def connect_the_partner(cluster: Cluster, partner: Instance) -> Connector:
    """Acme's instance, invited on one vendor instance, its answers taken by whichever the
    balancer picks; accounts, contacts and opportunities published, all auto-accepted there."""
    partners = cluster.ok(ADMIN, "GET", "/api/v1/partners", params={"limit": 100})["items"]
    [acme] = [p for p in partners if p["name"] == "Acme Resellers"]
    vendor = cluster.next()
    ours, theirs = link(vendor, partner, partner_id=acme["id"], objects=PUBLISHED, auto_accept=True)
    assert partner.get(f"{CONNECTIONS}/{theirs}")["peer_url"] == vendor.env["PRM_BASE_URL"]
    return Connector(partner, ours, theirs)


def share_deals(cluster: Cluster, connector: Connector) -> None:
    """An account, its contact and an opportunity made and shared on each instance in turn."""
    for n in range(DEALS):
        on = cluster.next()
        account = cluster.ok(ADMIN, "POST", "/api/v1/accounts", {"name": f"Linked {n} Corp"}, on=on)
        person = {"account_id": account["id"], "first_name": "Ada", "last_name": f"Linked{n}"}
        contact = cluster.ok(ADMIN, "POST", "/api/v1/contacts", person, on=on)
        deal = {"name": f"Linked deal {n}", "account_id": account["id"], "amount_minor": 500_000, "currency": "EUR",
                "close_date": "2027-06-30"}  # fmt: skip
        opportunity = cluster.ok(ADMIN, "POST", "/api/v1/opportunities", deal, on=on)
        made = zip(PUBLISHED, (account, contact, opportunity), strict=True)
        body = {"connection_ids": [connector.ours], "records": [{"object": o, "id": r["id"]} for o, r in made]}
        cluster.ok(ADMIN, "POST", "/api/v1/connect/shares", body, on=on)
        connector.deals.append(Deal(account["id"], contact["id"], opportunity["id"], n))


def rename_deals(connector: Connector, label: str, on: list[Instance]) -> None:
    """Each deal's opportunity renamed on `on`'s instances in turn; the request id (which the
    outbox message keeps) names the round and the instance."""
    for deal in connector.deals:
        instance = on[deal.n % len(on)]
        request_id = f"sync-{label}-{instance.name}-{deal.n}"
        patch(instance, f"/api/v1/opportunities/{deal.opportunity}", headers={"x-request-id": request_id},
              name=f"Linked deal {deal.n} {label}")  # fmt: skip
    connector.renamed.append(label)


def arrived(connector: Connector, label: str) -> bool:
    return all(
        local_copy(connector.partner, connector.theirs, "opportunity", deal.opportunity)["name"]
        == f"Linked deal {deal.n} {label}"
        for deal in connector.deals
    )


def peer_messages(cluster: Cluster, request_ids: str) -> list[asyncpg.Record]:
    """The vendor's peer messages written by the requests whose id is LIKE `request_ids`."""
    return cluster.query(
        "SELECT payload->'envelope'->>'message_id' AS message_id, status, last_error FROM outbox"
        " WHERE kind = 'peer' AND request_id LIKE $1",
        request_ids,
    )


def sent_ids(sender: Instance, *, delivered: bool) -> set[str]:
    """The peer message ids in the sender's outbox (only those it delivered, or all)."""
    rows = sender.query(
        "SELECT payload->'envelope'->>'message_id' AS message_id FROM outbox"
        " WHERE kind = 'peer' AND (status = 'delivered' OR NOT $1)",
        delivered,
    )
    return {str(r["message_id"]) for r in rows}


def check_each_message_once(sender: Instance, receiver: Instance, connection: str) -> None:
    """Every message the sender delivered is remembered by the receiver, once, and it remembers
    none the sender did not send. Read in this order: a message sent meanwhile (a timer's hello)
    may be remembered there before its delivery is recorded here."""
    delivered = sent_ids(sender, delivered=True)
    rows = receiver.query(
        "SELECT message_id FROM connect_inbound_messages WHERE connection_id = $1", uuid.UUID(connection)
    )
    remembered = Counter(str(r["message_id"]) for r in rows)
    assert [i for i, n in remembered.items() if n > 1] == []
    assert delivered <= set(remembered), delivered - set(remembered)
    assert set(remembered) <= sent_ids(sender, delivered=False)


def undelivered_peer_messages(instance: Instance) -> list[asyncpg.Record]:
    return instance.query("SELECT id, last_error FROM outbox WHERE kind = 'peer' AND status <> 'delivered'")


def check_in_sync(cluster: Cluster, connector: Connector) -> None:
    """Each update arrived exactly once, and the partner's copies equal the vendor's records."""
    partner, theirs = connector.partner, connector.theirs
    for deal in connector.deals:
        ours = cluster.ok(ADMIN, "GET", f"/api/v1/opportunities/{deal.opportunity}")
        copy = local_copy(partner, theirs, "opportunity", deal.opportunity)
        assert (copy["name"], copy["stage"], copy["close_date"]) == (ours["name"], ours["stage"], ours["close_date"])
        assert ours["name"] == f"Linked deal {deal.n} {connector.renamed[-1]}"
        account = cluster.ok(ADMIN, "GET", f"/api/v1/accounts/{deal.account}")
        assert local_copy(partner, theirs, "account", deal.account)["name"] == account["name"]
        contact = cluster.ok(ADMIN, "GET", f"/api/v1/contacts/{deal.contact}")
        assert local_copy(partner, theirs, "contact", deal.contact)["last_name"] == contact["last_name"]
        # The share itself, then one message per rename: each counted once, retries and all.
        counts = {o: received_share(partner, theirs, o, getattr(deal, o))["received_count"] for o in PUBLISHED}
        assert counts == {"account": 1, "contact": 1, "opportunity": 1 + len(connector.renamed)}, (deal, counts)


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
    cluster: Cluster, partner: Instance, inbox: tuple[Inbox, int], hooks: tuple[Hooks, str]
) -> None:
    mail, hook_tally = inbox[0], hooks[0]
    cluster.ok(ADMIN, "POST", "/api/v1/webhooks", {"url": hooks[1], "event_types": ["*"]})
    connector = connect_the_partner(cluster, partner)
    share_deals(cluster, connector)

    registrations = register_deals(cluster)
    claims = [route_and_claim(cluster, n) for n in range(LEADS)]
    for lead_id, statuses in claims:
        assert statuses == Counter({200: 1, 409: 1}), (lead_id, statuses)

    # Renames on every instance, delivered as they come; then more while the partner is down,
    # which wait in the outbox (each tried and failed once at least) when the timer's instance dies.
    rename_deals(connector, "v1", cluster.instances)
    eventually(lambda: arrived(connector, "v1"), within=60, what="the first renames on the partner")
    partner.kill()
    rename_deals(connector, "v2", cluster.instances)
    eventually(
        lambda: len(waiting := peer_messages(cluster, "sync-v2-%")) == DEALS and all(m["last_error"] for m in waiting),
        within=30,
        what="every v2 rename tried once at least",
    )

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

    # What the killed instance wrote for the partner still waits; the survivors rename once more,
    # then the partner comes back and gets it all from them, each message once.
    left_behind = peer_messages(cluster, f"sync-v2-{victim.name}-%")
    assert left_behind, "the killed instance wrote none of the waiting renames"
    assert {m["status"] for m in left_behind} == {"pending"}
    rename_deals(connector, "v3", survivors)
    partner.start()
    eventually(lambda: arrived(connector, "v3"), within=60, what="the last renames on the partner")
    eventually(
        lambda: not undelivered_peer_messages(cluster.instances[0]), within=60, what="the vendor's peer outbox drained"
    )
    eventually(lambda: not undelivered_peer_messages(partner), within=60, what="the partner's peer outbox drained")
    assert {m["status"] for m in peer_messages(cluster, f"sync-v2-{victim.name}-%")} == {"delivered"}
    check_in_sync(cluster, connector)
    check_each_message_once(cluster.instances[0], partner, connector.theirs)
    check_each_message_once(partner, cluster.instances[0], connector.ours)

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
