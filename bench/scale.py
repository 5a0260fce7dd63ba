"""Scale-out on PostgreSQL: one mixed workload against 1, 2 and 4 `prm serve` instances behind
one load balancer (nginx, round robin per request), and the shark-tank claim storm at 100, 300
and 1,000 concurrent claims through it.

    python -m bench.scale            # 20 s of mixed load per instance count, storms 100/300/1000
    python -m bench.scale --quick    # 6 s per instance count, the same storms

One fresh PostgreSQL database for the run (created, migrated, dropped after) holds a small deal
book (bench/_deal_seed.py: partners, a program, registrations and opportunities) and a lead world
(bench/_lead_seed.py: 1,100 partners with an admin each, programs, rules, shark tanks); the
storm groups of 100, 300 and 1,000 partners are added to it. Tokens are minted with the
instances' own signing key (the same claims a sign-in gives), so 1,000 claimants need no 1,000
Argon2 sign-ins. Every instance runs with its scheduler off (the figures are the requests').

- mixed.<n>: each client repeats submit a registration (a partner seller), read the review
  queue (the channel manager), list opportunities (the vendor admin), then create, qualify and
  route a lead into a shark tank and claim it (a member partner): seven requests, each timed.
  Throughput (requests/s), p50/p99, and the ratio to one instance.
- storm<k>.<n>: one lead offered to a group of k partners, then k claims at once, one per
  partner, each on its own connection: exactly one 200 and k-1 409, else the bench stops.

The machine has 2 cores shared with other work: more instances cannot add cores, only spread
the same ones (and the load generator and nginx run on them too). The load average is printed
next to each figure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import random
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bench._deal_seed import DealWorld, seed_book
from bench._harness import (
    LOOPBACK,
    CpuMeter,
    CpuSample,
    Load,
    Report,
    Seeder,
    Service,
    Stats,
    free_port,
    fresh_database,
    measure,
    migrate,
    python_speed_ms,
    running_service,
    service_env,
    workdir,
)
from bench._lead_seed import LeadWorld, seed_world
from prm.core.auth import Principal
from prm.core.clock import SystemClock
from prm.core.tokens import TokenConfig, TokenService
from prm.crm.models import User
from prm.lead_distribution.models import GroupMember, PartnerGroup

DEALS = "/api/v1/deal-registrations"
LEADS = "/api/v1/distribution/leads"
OFFERS = "/api/v1/distribution/offers"
STORMS = (100, 300, 1000)
INSTANCE_COUNTS = (1, 2, 4)
TOKEN_TTL_SECONDS = 86400


def loadavg() -> float:
    return os.getloadavg()[0]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- the load balancer -------------------------------------------------------------------------

NGINX_CONF = """
worker_processes 1;
worker_rlimit_nofile 16384;
daemon off;
pid {folder}/nginx.pid;
error_log {folder}/nginx-error.log warn;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {folder}/nginx-body;
    proxy_temp_path {folder}/nginx-proxy;
    fastcgi_temp_path {folder}/nginx-fastcgi;
    uwsgi_temp_path {folder}/nginx-uwsgi;
    scgi_temp_path {folder}/nginx-scgi;
    upstream prm {{
{servers}
        keepalive 128;
        keepalive_timeout 3s;  # under uvicorn's 5 s: never reuse a connection it is closing
    }}
    server {{
        listen {host}:{port};
        location / {{
            proxy_pass http://prm;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_read_timeout 120s;
        }}
    }}
}}
"""


@contextlib.contextmanager
def load_balancer(backends: list[Service], folder: Path) -> Iterator[str]:
    """nginx in front of the instances, round robin per request, keep-alive to each."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        raise RuntimeError("the bench needs nginx as its load balancer (apt-get install -y nginx)")
    port = free_port()
    servers = "\n".join(f"        server {httpx.URL(b.base_url).host}:{httpx.URL(b.base_url).port};" for b in backends)
    conf = folder / f"nginx-{port}.conf"
    conf.write_text(NGINX_CONF.format(folder=folder, servers=servers, host=LOOPBACK, port=port))
    process = subprocess.Popen([nginx, "-p", str(folder), "-c", str(conf)], stderr=subprocess.STDOUT)
    url = f"http://{LOOPBACK}:{port}"
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            time.sleep(0.1)
        else:
            raise RuntimeError("nginx did not answer within 20 s")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=15)


@contextlib.contextmanager
def instances(env: dict[str, str], folder: Path, count: int) -> Iterator[list[Service]]:
    with contextlib.ExitStack() as stack:
        # A slow start is no figure here: a busy shared machine may take minutes to import the app.
        yield [stack.enter_context(running_service(env, folder, start_timeout=300.0)) for _ in range(count)]


class Meter(CpuMeter):
    """CPU of every instance together (and of the database's backends)."""

    def __init__(self, services: list[Service], database_name: str) -> None:
        super().__init__(services[0].pid, database_name)
        self._others = [CpuMeter(s.pid) for s in services[1:]]

    def sample(self) -> CpuSample:
        first = super().sample()
        others = sum(meter.sample().server for meter in self._others)
        return dataclasses.replace(first, server=first.server + others)


# --- the world ---------------------------------------------------------------------------------


async def mint_tokens(database_url: str, private_key_pem: str) -> dict[str, str]:
    """Every user's access token, signed with the instances' key (as a sign-in would issue)."""
    tokens = TokenService(
        TokenConfig(private_key_pem=private_key_pem, issuer="prm", audience="prm-api", ttl_seconds=TOKEN_TTL_SECONDS),
        SystemClock(),
    )
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            users = (
                await connection.execute(select(User.id, User.email, User.role, User.partner_id, User.session_epoch))
            ).all()
    finally:
        await engine.dispose()
    return {
        u.email: tokens.issue(
            str(u.id),
            Principal(
                user_id=u.id, role=u.role, partner_id=u.partner_id, email=u.email, epoch=u.session_epoch
            ).claims(),
        )
        for u in users
    }


async def storm_groups(database_url: str, world: LeadWorld) -> dict[int, tuple[uuid.UUID, list[str]]]:
    """A shark tank of k active partners for each storm size: (group id, its members' emails)."""
    seeder = Seeder(database_url)
    try:
        async with seeder.engine.connect() as connection:
            program = await connection.scalar(text("SELECT id FROM lead_programs WHERE name = 'Claim storm'"))
            active = set((await connection.execute(text("SELECT id FROM partners WHERE active"))).scalars())
        members = [pid for pid in world.partner_ids if pid in active]
        made: dict[int, tuple[uuid.UUID, list[str]]] = {}
        for size in STORMS:
            if len(members) < size:
                raise RuntimeError(f"only {len(members)} active partners for a storm of {size}")
            group = {**seeder.stamps(), "name": f"Storm of {size}", "program_id": program}
            group |= {"max_open_claims_per_partner": 1000, "active": True, "claim_window_hours": None}
            await seeder.insert(PartnerGroup, [group])
            rows = [
                {"group_id": group["id"], "partner_id": pid, "added_at": seeder.now - timedelta(days=10)}
                for pid in members[:size]
            ]
            await seeder.insert(GroupMember, rows)
            made[size] = (group["id"], [world.partner_users[pid] for pid in members[:size]])
        # Statistics that know the groups: without them the planner takes a group for one row and
        # profiles its members in a nested loop (1.4 s instead of 1.4 ms a route to the 1,000-group).
        await seeder.analyze()
        return made
    finally:
        await seeder.close()


async def seed(database_url: str, args: argparse.Namespace) -> tuple[DealWorld, LeadWorld]:
    deals = await seed_book(
        database_url,
        registrations=args.registrations,
        opportunities=args.registrations,
        partners=200,
        managed=50,
        products=20,
        seed=20261203,
    )
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as connection:  # the lead world names its partners the same way
            await connection.execute(text("UPDATE partners SET name = 'Deal ' || name"))
    finally:
        await engine.dispose()
    leads = await seed_world(database_url, partners=1100, history=1000, seed=20261204)
    return deals, leads


# --- the mixed workload ------------------------------------------------------------------------


class Mix:
    """The seven requests one client repeats, each a call of the harness's request function."""

    def __init__(
        self,
        index: int,
        deals: DealWorld,
        leads: LeadWorld,
        tokens: dict[str, str],
        tank: tuple[uuid.UUID, list[str]],
        steps_ms: dict[str, list[float]],
    ) -> None:
        self.rng = random.Random(9000 + index)
        self.steps_ms = steps_ms  # each step's latencies, shared by the clients: which step is slow
        self.deals, self.leads, self.tokens = deals, leads, tokens
        self.tank_id, self.claimants = tank
        self.step = 0
        self.lead: dict[str, Any] = {}
        self.offer_lead = ""

    async def __call__(self, client: httpx.AsyncClient) -> httpx.Response:
        steps = (self.submit, self.queue, self.opportunities, self.new_lead, self.qualify, self.route, self.claim)
        step = steps[self.step % len(steps)]
        started = time.perf_counter()
        reply = await step(client)
        self.steps_ms.setdefault(step.__name__, []).append((time.perf_counter() - started) * 1000)
        # A failed lead step starts the lead over instead of going on with nothing.
        self.step = self.step + 1 if reply.is_success or self.step % len(steps) < 3 else 0
        return reply

    def _as(self, email: str) -> dict[str, str]:
        return bearer(self.tokens[email])

    async def submit(self, client: httpx.AsyncClient) -> httpx.Response:
        tag = uuid.UUID(int=self.rng.getrandbits(128)).hex[:12]
        body = {
            "program_id": str(self.deals.program_id),
            "customer_name": f"Scaleco {tag}",
            "customer_website": f"https://scaleco-{tag}.example",
            "customer_country": "DE",
            "contact_name": "Bench Buyer",
            "products": [{"product_id": str(self.rng.choice(self.deals.product_ids)), "quantity": 5}],
            "estimated_amount_minor": self.rng.randrange(10_000_00, 900_000_00),
            "currency": "EUR",
            "expected_close_date": "2027-03-31",
            "submit": True,
        }
        seller = self.deals.sellers[self.rng.randrange(50)]  # the managed partners': into the queue
        return await client.post(DEALS, json=body, headers=self._as(seller))

    async def queue(self, client: httpx.AsyncClient) -> httpx.Response:
        return await client.get(f"{DEALS}/review-queue", params={"limit": 50}, headers=self._as(self.deals.manager))

    async def opportunities(self, client: httpx.AsyncClient) -> httpx.Response:
        return await client.get("/api/v1/opportunities", params={"limit": 50}, headers=self._as(self.leads.admin))

    async def new_lead(self, client: httpx.AsyncClient) -> httpx.Response:
        tag = uuid.UUID(int=self.rng.getrandbits(128)).hex[:10]
        body = {"first_name": "Mix", "last_name": tag, "company": f"Mix {tag}", "country": "DE", "source": "web"}
        reply = await client.post(
            LEADS, json=body | {"email": f"mix-{tag}@target.example"}, headers=self._as(self.leads.admin)
        )
        self.lead = reply.json() if reply.is_success else {}
        return reply

    async def qualify(self, client: httpx.AsyncClient) -> httpx.Response:
        body = {"expected_version": self.lead["version"], "stage": "sales_qualified", "time_frame": "immediate"}
        reply = await client.post(f"{LEADS}/{self.lead['id']}/qualify", json=body, headers=self._as(self.leads.admin))
        self.lead["version"] = reply.json().get("version") if reply.is_success else None
        return reply

    async def route(self, client: httpx.AsyncClient) -> httpx.Response:
        body = {"expected_version": self.lead["version"], "target_kind": "shark_tank", "group_id": str(self.tank_id)}
        return await client.post(f"{LEADS}/{self.lead['id']}/route", json=body, headers=self._as(self.leads.admin))

    async def claim(self, client: httpx.AsyncClient) -> httpx.Response:
        # The offer id from the lead (the admin sees its current offer), claimed by one member.
        lead = (await client.get(f"{LEADS}/{self.lead['id']}", headers=self._as(self.leads.admin))).json()
        offer = (lead.get("current_offer") or {}).get("id")
        claimant = self.claimants[self.rng.randrange(len(self.claimants))]
        return await client.post(f"{OFFERS}/{offer}/claim", headers=self._as(claimant))


async def mixed(
    url: str,
    meter: CpuMeter,
    deals: DealWorld,
    leads: LeadWorld,
    tokens: dict[str, str],
    tank: Any,
    args: argparse.Namespace,
    steps_ms: dict[str, list[float]],
) -> Stats:
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60.0) as client:
        load = Load(args.concurrency, args.seconds, args.warmup, 10**9)
        return await measure("mixed", client, lambda i: Mix(i, deals, leads, tokens, tank, steps_ms), load, meter)


# --- the storm ---------------------------------------------------------------------------------


async def storm_lead(client: httpx.AsyncClient, admin: str, group_id: uuid.UUID) -> tuple[str, str]:
    headers = bearer(admin)
    tag = uuid.uuid4().hex[:10]
    body = {"first_name": "Storm", "last_name": tag, "company": f"Storm {tag}", "country": "DE", "source": "web"}
    lead = (await client.post(LEADS, json=body | {"email": f"storm-{tag}@target.example"}, headers=headers)).json()
    qualified = await client.post(
        f"{LEADS}/{lead['id']}/qualify",
        json={"expected_version": lead["version"], "stage": "sales_qualified", "time_frame": "immediate"},
        headers=headers,
    )
    routed = await client.post(
        f"{LEADS}/{lead['id']}/route",
        json={"expected_version": qualified.json()["version"], "target_kind": "shark_tank", "group_id": str(group_id)},
        headers=headers,
    )
    if routed.json().get("outcome") != "offered_to_group":
        raise RuntimeError(f"the storm lead was not offered to the group: {routed.text[:300]}")
    offer = (await client.get(f"{LEADS}/{lead['id']}", headers=headers)).json()["current_offer"]["id"]
    return str(lead["id"]), str(offer)


async def storm(
    url: str, tokens: dict[str, str], admin: str, group: tuple[uuid.UUID, list[str]]
) -> tuple[list[float], Counter[int]]:
    """k claims at once, one per member, each on its own connection; (ms each, statuses)."""
    group_id, members = group
    async with httpx.AsyncClient(base_url=url, timeout=120.0) as setup:
        lead_id, offer_id = await storm_lead(setup, tokens[admin], group_id)
    limits = httpx.Limits(max_connections=len(members), max_keepalive_connections=0)

    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120.0) as client:

        async def one(email: str) -> tuple[int, float]:
            started = time.perf_counter()
            reply = await client.post(f"{OFFERS}/{offer_id}/claim", headers=bearer(tokens[email]))
            return reply.status_code, (time.perf_counter() - started) * 1000.0

        results = await asyncio.gather(*(one(m) for m in members))
    async with httpx.AsyncClient(base_url=url, timeout=60.0) as check:
        lead = (await check.get(f"{LEADS}/{lead_id}", headers=bearer(tokens[admin]))).json()
    statuses = Counter(status for status, _ in results)
    if statuses != Counter({200: 1, 409: len(members) - 1}) or lead["status"] != "accepted":
        raise RuntimeError(
            f"storm of {len(members)}: {dict(statuses)}, lead {lead['status']} (want one 200, the rest 409)"
        )
    return [ms for _, ms in results], statuses


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(max(int(-(-fraction * len(ordered) // 1)), 1), len(ordered)) - 1]


# --- the run -----------------------------------------------------------------------------------


async def drive(
    url: str, meter: CpuMeter, n: int, world: dict[str, Any], args: argparse.Namespace, report: Report
) -> float:
    deals, leads, tokens, groups = world["deals"], world["leads"], world["tokens"], world["groups"]
    report.figure(f"mixed.{n}.loadavg_1m.start", loadavg())
    steps_ms: dict[str, list[float]] = {}
    stats = await mixed(url, meter, deals, leads, tokens, groups[STORMS[-1]], args, steps_ms)
    report.stats(f"mixed.{n}", stats)
    for step, latencies in steps_ms.items():  # warm-up included: a slow step shows either way
        report.figure(f"mixed.{n}.step.{step}.p50", percentile(latencies, 0.5), "ms")
        report.figure(f"mixed.{n}.step.{step}.p99", percentile(latencies, 0.99), "ms")
    report.figure(f"mixed.{n}.loadavg_1m.end", loadavg())
    for size in args.storms:
        report.figure(f"storm{size}.{n}.loadavg_1m", loadavg())
        latencies, statuses = await storm(url, tokens, leads.admin, groups[size])
        report.figure(f"storm{size}.{n}.p50", percentile(latencies, 0.5), "ms")
        report.figure(f"storm{size}.{n}.p99", percentile(latencies, 0.99), "ms")
        report.figure(f"storm{size}.{n}.max", max(latencies), "ms")
        report.figure(
            f"storm{size}.{n}.statuses", " ".join(f"{k}x{v}" for k, v in sorted(statuses.items())), "(one winner)"
        )
    return stats.rps


def run(args: argparse.Namespace, report: Report) -> None:
    with workdir() as folder, fresh_database("postgresql", folder) as database_url:
        env = service_env(database_url, folder, PRM_RUN_SCHEDULER="false", PRM_DB_POOL_SIZE=str(args.pool))
        migrate(env)
        started = time.perf_counter()
        deals, leads = asyncio.run(seed(database_url, args))
        groups = asyncio.run(storm_groups(database_url, leads))
        tokens = asyncio.run(mint_tokens(database_url, Path(env["PRM_JWT_PRIVATE_KEY_FILE"]).read_text()))
        report.figure("seed.seconds", time.perf_counter() - started, "s")
        world = {"deals": deals, "leads": leads, "tokens": tokens, "groups": groups}
        throughput: dict[int, float] = {}
        for n in args.instances:
            with instances(env, folder, n) as services, load_balancer(services, folder) as url:
                meter = Meter(services, make_url(database_url).database or "")
                throughput[n] = asyncio.run(drive(url, meter, n, world, args, report))
        base = throughput.get(1)
        for n, rps in throughput.items():
            if base:
                report.figure(f"mixed.scaling.{n}_vs_1", rps / base, "x")


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="6 s of mixed load per instance count")
    parser.add_argument("--seconds", type=float, help="measured mixed load per instance count (20, quick 6)")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured mixed load first (s)")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent mixed-load clients (default 16)")
    parser.add_argument("--registrations", type=int, help="registrations and opportunities seeded (20000, quick 5000)")
    parser.add_argument("--pool", type=int, default=8, help="PRM_DB_POOL_SIZE per instance (default 8)")
    parser.add_argument(
        "--instances", type=lambda s: [int(x) for x in s.split(",")], default=list(INSTANCE_COUNTS), help="e.g. 1,2,4"
    )
    parser.add_argument(
        "--storms", type=lambda s: [int(x) for x in s.split(",")], default=list(STORMS), help="of 100,300,1000"
    )
    args = parser.parse_args(argv)
    args.seconds = args.seconds or (6.0 if args.quick else 20.0)
    args.registrations = args.registrations or (5_000 if args.quick else 20_000)
    return args


def main(argv: list[str] | None = None) -> None:
    args = _arguments(argv)
    command = "python -m bench.scale " + shlex.join(argv if argv is not None else sys.argv[1:])
    report = Report(bench="scale", settings={**vars(args), "command": command.strip()})
    report.figure("host.cpus", os.cpu_count() or 0, "cores")
    report.figure("host.loadavg_1m.start", loadavg(), "")
    report.figure("host.python_speed.start", python_speed_ms(), "ms (fixed workload; lower is faster)")
    run(args, report)
    report.figure("host.loadavg_1m.end", loadavg(), "")
    report.figure("host.python_speed.end", python_speed_ms(), "ms (fixed workload; lower is faster)")
    report.finish()


if __name__ == "__main__":
    main()
