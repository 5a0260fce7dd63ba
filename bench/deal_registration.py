"""Deal registration: submit with conflict check against the write floor, conflict query and
review queue latency, and the expiry (and reminder) timers over 100k due registrations.

    python -m bench.deal_registration            # PostgreSQL 1M, SQLite 100k registrations
    python -m bench.deal_registration --quick    # a small run

For each database: a fresh database migrated with `prm db upgrade`, a book of registrations
and opportunities written straight into the tables (bench/_deal_seed.py), the query plans of
the conflict check and the review queue (captured from the service functions, EXPLAIN
ANALYZE on PostgreSQL), then the service in its own process (`prm serve`, scheduler off so
only the measured requests run) under concurrent keep-alive clients after a warm-up:

- conflict_check: POST /api/v1/deal-registrations/conflict-check as partner users, half of
  the customers already known (by normalised name or by domain), half new;
- review_queue: GET /api/v1/deal-registrations/review-queue?limit=50 as the channel manager of
  a third of the partners, walking pages by next_cursor; review_queue_deep starts from cursors
  spread over the whole queue;
  (the latency figures are measured from 1 client, `.c1`: the time a request takes, and from
  8 at once, `.c8`: with queueing for the service's CPU, on a 2-core machine shared with others)
- floor and submit, in alternating rounds: POST /api/v1/bench/floor, and POST
  /api/v1/deal-registrations with submit=true (program and product checks, conflict check,
  history, webhook events, auto-response and channel manager emails) as partner users.

Then, with the service stopped, 100k approved registrations whose protection ended while
nobody ran the timer (and 100k whose reminder is due) are added, and the job functions are
timed through JobRunner.run, as the scheduler runs them; the counts they leave are checked.

Goals (from the issue): submit >= 50% of the floor's requests/s; conflict check p99 <= 20 ms;
review queue page p99 <= 50 ms; 100k expiries with history and emails <= 30 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shlex
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import ColumnElement, func, select, text
from sqlalchemy.engine import make_url

from bench._deal_seed import LEGAL_SUFFIXES, DealWorld, customer, popular, seed_book, seed_due, skewed
from bench._harness import (
    CpuMeter,
    Load,
    Report,
    Request,
    Service,
    api_client,
    fresh_database,
    measure,
    measure_interleaved,
    migrate,
    python_speed_ms,
    running_service,
    service_env,
    token_for,
    workdir,
)
from bench._plans import Statement, explain, statements_of
from prm.core.activity import ActivityEntry
from prm.core.auth import Principal, Role
from prm.core.clock import SystemClock
from prm.core.db import Database
from prm.core.outbox import OutboxKind, OutboxMessage
from prm.core.pagination import PageRequest
from prm.core.scheduler import JobRunner
from prm.crm.models import Opportunity, User
from prm.deal_registration import views
from prm.deal_registration.jobs import register_jobs
from prm.deal_registration.models import DealRegistration, RegistrationState
from prm.deal_registration.schemas import ConflictCheckRequest, ProductLine
from prm.deal_registration.service import registrations, review

API = "/api/v1/deal-registrations"
PAGE = 50
WALK_PAGES = 20
SUBMIT_GOAL = 0.50
CONFLICT_P99_GOAL_MS = 20.0
QUEUE_P99_GOAL_MS = 50.0
EXPIRY_GOAL_S = 30.0
REMINDER_TOPIC = "deal_registration.expiry_reminder"
EXPIRED_TOPIC = "deal_registration.expired"
R = DealRegistration


def loadavg() -> float:
    return os.getloadavg()[0]


# --- what each worker sends -------------------------------------------------------------------


def customer_fields(rng: random.Random, world: DealWorld, collide: float) -> dict[str, Any]:
    """A customer the book knows (matched by normalised name, or only by web/email domain), or a new one."""
    if rng.random() < collide:
        known = customer(skewed(rng, world.customers))
        if rng.random() < 0.5:
            return {"customer_name": known.name.upper() + rng.choice(LEGAL_SUFFIXES), "customer_country": "DE"}
        return {
            "customer_name": f"{known.name.split()[0]} Holdings {rng.randrange(10**6)}",
            "customer_website": f"https://{known.domain}/about",
            "customer_country": "DE",
        }
    tag = uuid.UUID(int=rng.getrandbits(128)).hex[:12]
    return {
        "customer_name": f"Newco {tag}",
        "customer_website": f"https://newco-{tag}.example",
        "customer_country": "DE",
    }


def products(rng: random.Random, world: DealWorld) -> list[dict[str, Any]]:
    chosen = popular(rng, world.product_ids, rng.choice((1, 1, 2)))
    return [{"product_id": str(p), "quantity": rng.randrange(1, 100)} for p in chosen]


class Hits:
    """How many replies reported a possible conflict (the share of colliding customers)."""

    def __init__(self) -> None:
        self.seen = 0
        self.hit = 0

    def add(self, reply: httpx.Response, key: Callable[[dict[str, Any]], bool]) -> None:
        if reply.is_success:
            self.seen += 1
            self.hit += key(reply.json())

    @property
    def share(self) -> float:
        return self.hit / self.seen if self.seen else 0.0


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def floor_worker(tokens: list[str]) -> Callable[[int], Request]:
    def make(index: int) -> Request:
        headers = bearer(tokens[index % len(tokens)])

        async def request(client: httpx.AsyncClient) -> httpx.Response:
            return await client.post("/api/v1/bench/floor", json={"note": "bench"}, headers=headers)

        return request

    return make


def streams(seed: int) -> Callable[[int], random.Random]:
    """One random stream per worker index that goes on across warm-up and measuring rounds
    (the harness makes a worker's request function anew for each), so a "new" customer is
    never sent twice."""
    made: dict[int, random.Random] = {}
    return lambda index: made.setdefault(index, random.Random(seed + index))


def submit_worker(tokens: list[str], world: DealWorld, collide: float, hits: Hits) -> Callable[[int], Request]:
    stream = streams(2000)

    def make(index: int) -> Request:
        rng = stream(index)
        headers = bearer(tokens[index % len(tokens)])

        async def request(client: httpx.AsyncClient) -> httpx.Response:
            body = {
                "program_id": str(world.program_id),
                **customer_fields(rng, world, collide),
                "contact_name": "Bench Buyer",
                "products": products(rng, world),
                "estimated_amount_minor": rng.randrange(10_000_00, 900_000_00),
                "currency": "EUR",
                "expected_close_date": "2027-03-31",
                "submit": True,
            }
            reply = await client.post(API, json=body, headers=headers)
            hits.add(reply, lambda read: bool(read["conflict_hints"]))
            return reply

        return request

    return make


def conflict_worker(tokens: list[str], world: DealWorld, collide: float, hits: Hits) -> Callable[[int], Request]:
    stream = streams(3000)

    def make(index: int) -> Request:
        rng = stream(index)
        headers = bearer(tokens[index % len(tokens)])

        async def request(client: httpx.AsyncClient) -> httpx.Response:
            body = {**customer_fields(rng, world, collide), "products": products(rng, world)}
            reply = await client.post(f"{API}/conflict-check", json=body, headers=headers)
            hits.add(reply, lambda result: bool(result["possible_conflict"]))
            return reply

        return request

    return make


def walk_worker(index: int) -> Request:
    """Page 1, then next_cursor for WALK_PAGES pages, then page 1 again (workers start staggered)."""
    state: dict[str, Any] = {"cursor": None, "pages": index % WALK_PAGES}

    async def request(client: httpx.AsyncClient) -> httpx.Response:
        params: dict[str, Any] = {"limit": PAGE}
        if state["cursor"] and state["pages"] < WALK_PAGES:
            params["cursor"] = state["cursor"]
        else:
            state["pages"] = 0
        reply = await client.get(f"{API}/review-queue", params=params)
        state["cursor"] = reply.json().get("next_cursor") if reply.is_success else None
        state["pages"] += 1
        return reply

    return request


def deep_worker(cursors: list[str]) -> Callable[[int], Request]:
    def make(index: int) -> Request:
        rng = random.Random(4000 + index)

        async def request(client: httpx.AsyncClient) -> httpx.Response:
            return await client.get(f"{API}/review-queue", params={"limit": PAGE, "cursor": rng.choice(cursors)})

        return request

    return make


async def walk_queue(client: httpx.AsyncClient) -> tuple[int, int, list[str]]:
    """The whole queue once: its rows, how many carry conflicts, a cursor at every depth."""
    rows, with_conflicts, cursor = 0, 0, None
    cursors: list[str] = []
    while True:
        params: dict[str, Any] = {"limit": 200, **({"cursor": cursor} if cursor else {})}
        reply = await client.get(f"{API}/review-queue", params=params)
        reply.raise_for_status()
        page = reply.json()
        rows += len(page["items"])
        with_conflicts += sum(bool(item["conflicts"]) for item in page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            return rows, with_conflicts, cursors
        cursors.append(cursor)


# --- query plans ------------------------------------------------------------------------------


async def query_plans(database_url: str, world: DealWorld, kind: str, report: Report) -> None:
    """EXPLAIN what the conflict check and a review queue page (first and deep) send, as sent."""
    db = Database(database_url, clock=SystemClock())
    postgres = not db.is_sqlite
    try:
        async with db.session() as session:
            ids = {row.email: row.id for row in await session.execute(select(User.email, User.id))}
            seller = Principal(ids[world.sellers[0]], Role.PARTNER_USER, world.partner_ids[0])
            manager = Principal(ids[world.manager], Role.CHANNEL_MANAGER, None)
            calls = {
                "conflict_check.big_customer": _conflict_call(seller, world, 0),
                "conflict_check.typical_customer": _conflict_call(seller, world, world.customers // 3),
                "review_queue.first_page": _queue_call(manager, None),
                "review_queue.deep_page": _queue_call(manager, await _mid_cursor(session, manager, world)),
            }
            for scenario, call in calls.items():
                for n, statement in enumerate(await statements_of(db.engine, session, call), start=1):
                    plan = await explain(session, statement, postgres=postgres)
                    name = f"{kind}.plan.{scenario}.{n}.{statement.table}"
                    report.figure(f"{name}.ms", plan.milliseconds, "ms")
                    report.figure(f"{name}.nodes", plan.summary)
                    _print_plan(name, statement, plan.text)
            await session.rollback()
    finally:
        await db.dispose()


def _print_plan(name: str, statement: Statement, plan: str) -> None:
    """The statement, its parameters and its plan, to stderr (stdout keeps to figures)."""
    values = statement.parameters.values() if isinstance(statement.parameters, dict) else statement.parameters
    shown = [
        str(uuid.UUID(bytes=bytes(v))) if isinstance(v, bytes | memoryview) and len(v) == 16 else v for v in values
    ]
    lines = [f"# {name}", "#   " + " ".join(statement.sql.split()), f"#   parameters: {shown}"]
    lines += ["#   " + line for line in plan.splitlines()]
    print("\n".join(lines), file=sys.stderr, flush=True)


def _conflict_call(seller: Principal, world: DealWorld, k: int) -> Callable[[Any], Any]:
    known = customer(k)
    data = ConflictCheckRequest(
        customer_name=known.name,
        customer_website=f"https://{known.domain}",
        products=[ProductLine(product_id=world.product_ids[0])],
    )
    return lambda session: registrations.check_conflicts(session, principal=seller, data=data)


def _queue_call(manager: Principal, cursor: str | None) -> Callable[[Any], Any]:
    async def call(session: Any) -> None:
        page = PageRequest(limit=PAGE, cursor=cursor, sort="review_due_at")
        rows, _ = await review.review_queue(session, principal=manager, page=page)
        await views.read_many(session, manager, rows)

    return call


async def _mid_cursor(session: Any, manager: Principal, world: DealWorld) -> str | None:
    half = max(min(world.queue_rows // 2, 100_000), 1)
    page = PageRequest(limit=half, sort="review_due_at")
    _, cursor = await review.review_queue(session, principal=manager, page=page)
    return cursor


# --- HTTP -------------------------------------------------------------------------------------


async def drive(
    kind: str, service: Service, meter: CpuMeter, world: DealWorld, args: argparse.Namespace, report: Report
) -> None:
    sellers = [await token_for(service.base_url, email) for email in world.sellers[: args.concurrency]]
    manager_token = await token_for(service.base_url, world.manager)
    clients = max(args.concurrency, *args.latency_clients)
    async with (
        api_client(service.base_url, sellers[0], clients) as partners,
        api_client(service.base_url, manager_token, clients) as manager,
    ):
        queue_rows, with_conflicts, cursors = await walk_queue(manager)
        report.figure(f"{kind}.review_queue.rows_visible", queue_rows, "rows")
        report.figure(f"{kind}.review_queue.rows_with_conflicts", with_conflicts, "rows")
        if queue_rows != world.queue_rows:
            raise RuntimeError(f"the manager's queue holds {queue_rows} rows, the seed made {world.queue_rows}")

        hits = Hits()
        conflicts = conflict_worker(sellers, world, args.collide, hits)
        await latency(kind, "conflict_check", partners, conflicts, CONFLICT_P99_GOAL_MS, args, meter, report)
        report.figure(f"{kind}.conflict_check.possible_conflict_share", hits.share, "of replies")
        await latency(kind, "review_queue", manager, walk_worker, QUEUE_P99_GOAL_MS, args, meter, report)
        deep = deep_worker(cursors or [""])
        await latency(kind, "review_queue_deep", manager, deep, QUEUE_P99_GOAL_MS, args, meter, report)
        await throughput(kind, partners, sellers, world, args, meter, report)


async def latency(
    kind: str,
    name: str,
    client: httpx.AsyncClient,
    factory: Callable[[int], Request],
    goal_ms: float,
    args: argparse.Namespace,
    meter: CpuMeter,
    report: Report,
) -> None:
    """The same requests from 1 client (the latency alone) and from several (with queueing)."""
    for clients in args.latency_clients:
        prefix = f"{kind}.{name}.c{clients}"
        report.figure(f"{prefix}.loadavg_1m", loadavg(), "")
        stats = await measure(
            prefix, client, factory, Load(clients, args.seconds, args.warmup, args.max_requests), meter
        )
        report.stats(prefix, stats)
        report.figure(f"{prefix}.p90", stats.percentile(0.90), "ms")
        report.figure(f"{prefix}.max", max(stats.latencies_ms, default=float("nan")), "ms")
        goal = "met" if stats.percentile(0.99) <= goal_ms else "missed"
        report.figure(f"{prefix}.p99_goal", f"{goal} (<= {goal_ms} ms)")


async def throughput(
    kind: str,
    partners: httpx.AsyncClient,
    sellers: list[str],
    world: DealWorld,
    args: argparse.Namespace,
    meter: CpuMeter,
    report: Report,
) -> None:
    """Submit and the floor in alternating rounds, so other load on the machine weighs on both."""
    report.figure(f"{kind}.loadavg_1m.before_submit", loadavg(), "")
    hits = Hits()
    pair = [
        ("floor", partners, floor_worker(sellers)),
        ("submit", partners, submit_worker(sellers, world, args.collide, hits)),
    ]
    load = Load(args.concurrency, args.seconds, args.warmup, args.max_requests)
    measured = await measure_interleaved(pair, load, meter, args.rounds)
    floor, submit = measured["floor"], measured["submit"]
    report.stats(f"{kind}.floor", floor)
    report.stats(f"{kind}.submit", submit)
    report.figure(f"{kind}.submit.possible_conflict_share", hits.share, "of replies")
    ratio = submit.rps / floor.rps if floor.rps else 0.0
    goal = "met" if ratio >= SUBMIT_GOAL else "missed"
    report.figure(f"{kind}.submit.floor_ratio", ratio, f"x floor (goal >= {SUBMIT_GOAL}: {goal})")
    if floor.requests and submit.requests:
        # Service CPU per request: steadier than requests/s when others share the machine.
        cpu_ratio = (floor.cpu.server / floor.rps) / (submit.cpu.server / submit.rps)
        report.figure(f"{kind}.submit.floor_ratio_by_cpu", cpu_ratio, "x floor")


# --- timers -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobRun:
    done: int | None
    seconds: float
    python_seconds: float  # CPU of this (the job's) process
    database_seconds: float  # CPU of the PostgreSQL backend serving it (0 on SQLite: in-process)


async def timed_job(database_url: str, name: str) -> JobRun:
    """One run of a registered job, in its own unit of work, as the scheduler runs it."""
    db = Database(database_url, clock=SystemClock())
    runner = JobRunner(db)
    register_jobs(runner)
    postgres = database_url.startswith("postgresql")
    meter = CpuMeter(os.getpid(), make_url(database_url).database if postgres else None)
    try:
        before = meter.sample()
        done = await runner.run(name)
        after = meter.sample()  # the backend is still alive: its connection waits in the pool
        return JobRun(
            done,
            after.wall - before.wall,
            after.client - before.client,
            max(after.database - before.database, 0.0),
        )
    finally:
        await db.dispose()


async def count(database_url: str, model: Any, *where: ColumnElement[bool]) -> int:
    db = Database(database_url, clock=SystemClock())
    try:
        async with db.session() as session:
            return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)
    finally:
        await db.dispose()


def outbox(kind: OutboxKind, topic: str) -> tuple[ColumnElement[bool], ...]:
    return (OutboxMessage.kind == kind, OutboxMessage.topic == topic)


async def timers(kind: str, database_url: str, world: DealWorld, due: int, report: Report) -> None:
    """The reminder and expiry jobs over `due` registrations each that fell due at once.

    What each job leaves is counted afterwards: every seeded row acted on, and one history row,
    one email (and for expiry one webhook event) per row the job reports. A registration of the
    book whose reminder falls due while the bench runs is acted on too, and counted as such."""
    started = time.perf_counter()
    await seed_due(database_url, world, due, "remind", seed=11)
    await seed_due(database_url, world, due, "expire", seed=12)
    report.figure(f"{kind}.timers.seed_seconds", time.perf_counter() - started, "s")

    report.figure(f"{kind}.remind.loadavg_1m", loadavg(), "")
    run = await timed_job(database_url, "deal_registration.send_expiry_reminders")
    seeded = await count(database_url, R, R.number.like("DR-M%"), R.reminder_sent_at.is_not(None))
    effects = {
        "history_rows": await count(database_url, ActivityEntry, ActivityEntry.action == "expiry_reminder_sent"),
        "emails_queued": await count(database_url, OutboxMessage, *outbox(OutboxKind.EMAIL, REMINDER_TOPIC)),
    }
    _report_job(report, f"{kind}.remind", due, seeded, run, effects)

    report.figure(f"{kind}.expire.loadavg_1m", loadavg(), "")
    run = await timed_job(database_url, "deal_registration.expire_registrations")
    seeded = await count(database_url, R, R.number.like("DR-E%"), R.state == RegistrationState.EXPIRED)
    effects = {
        "history_rows": await count(database_url, ActivityEntry, ActivityEntry.action == "expire"),
        "emails_queued": await count(database_url, OutboxMessage, *outbox(OutboxKind.EMAIL, EXPIRED_TOPIC)),
        "webhook_events_queued": await count(
            database_url, OutboxMessage, *outbox(OutboxKind.WEBHOOK, "deal_registration.expire")
        ),
    }
    _report_job(report, f"{kind}.expire", due, seeded, run, effects)
    protecting = await count(database_url, R, R.number.like("DR-E%"), R.opportunity_id.is_not(None))
    lapsed = await count(database_url, Opportunity, Opportunity.protection_lapsed_at.is_not(None))
    report.figure(f"{kind}.expire.opportunities_unprotected", lapsed, f"of {protecting} protected")
    again = (await timed_job(database_url, "deal_registration.expire_registrations")).done
    report.figure(f"{kind}.expire.second_run_rows", again or 0, "rows")
    if lapsed != protecting or again:
        raise RuntimeError(
            f"{kind}.expire: {lapsed} of {protecting} opportunities unprotected; a rerun acted on {again}"
        )


def _report_job(report: Report, prefix: str, due: int, seeded: int, run: JobRun, effects: dict[str, int]) -> None:
    """The job's time (and whose CPU it took) and what it left behind; a count that is off makes the run fail."""
    done, seconds = run.done, run.seconds
    goal = f"goal <= {EXPIRY_GOAL_S} s: {'met' if seconds <= EXPIRY_GOAL_S else 'missed'}"
    report.figure(f"{prefix}.seconds", seconds, f"s ({goal})")
    report.figure(f"{prefix}.cpu.job_process", run.python_seconds, "s")
    report.figure(f"{prefix}.cpu.database", run.database_seconds, "s")
    report.figure(f"{prefix}.rows", done or 0, "rows")
    report.figure(f"{prefix}.rows_per_s", (done or 0) / seconds if seconds else 0.0, "rows/s")
    report.figure(f"{prefix}.seeded_rows_done", seeded, f"of {due}")
    report.figure(f"{prefix}.book_rows_due_meanwhile", (done or 0) - seeded, "rows")
    for name, value in effects.items():
        report.figure(f"{prefix}.{name}", value, "rows")
    wrong = {name: value for name, value in effects.items() if value != done}
    if seeded != due or (done or 0) < due or wrong:
        raise RuntimeError(f"{prefix}: acted on {done} rows, {seeded} of {due} seeded; counts off: {wrong}")


# --- one database -----------------------------------------------------------------------------


def run_database(kind: str, args: argparse.Namespace, report: Report) -> None:
    rows = args.registrations or (5_000 if args.quick else 1_000_000 if kind == "postgresql" else 100_000)
    opportunities = args.opportunities or rows
    due = args.due or (2_000 if args.quick else 100_000)
    with workdir() as folder, fresh_database(kind, folder) as database_url:
        # The scheduler stays off in the service: the timers are measured on their own below.
        env = service_env(database_url, folder, PRM_RUN_SCHEDULER="false")
        migrate(env)
        started = time.perf_counter()
        world = asyncio.run(
            seed_book(
                database_url,
                registrations=rows,
                opportunities=opportunities,
                partners=args.partners,
                managed=args.managed,
                products=40,
                seed=20261123,
            )
        )
        report.figure(f"{kind}.seed_seconds", time.perf_counter() - started, "s")
        report.figure(f"{kind}.seeded.registrations", world.registrations, "rows")
        report.figure(f"{kind}.seeded.opportunities", world.opportunities, "rows")
        report.figure(f"{kind}.seeded.accounts", world.accounts, "rows")
        report.figure(f"{kind}.seeded.customers", world.customers, "customers")
        report.figure(f"{kind}.seeded.partners", len(world.partner_ids), "partners")
        report.figure(f"{kind}.seeded.manager_partners", len(world.managed_partner_ids), "partners")
        report.figure(f"{kind}.seeded.manager_queue", world.queue_rows, "rows")
        for state, n in sorted(world.counts.items()):
            report.figure(f"{kind}.seeded.state.{state}", n, "rows")
        if args.sql:
            asyncio.run(run_sql(database_url, args.sql))
            report.figure(f"{kind}.extra_sql", " ; ".join(args.sql))
        asyncio.run(query_plans(database_url, world, kind, report))
        workers = args.workers if kind == "postgresql" else 1  # one process owns an SQLite file
        report.figure(f"{kind}.service_workers", workers, "processes")
        with running_service(env, folder, workers=workers) as service:
            meter = CpuMeter(service.pid, None if kind == "sqlite" else make_url(database_url).database)
            asyncio.run(drive(kind, service, meter, world, args, report))
        asyncio.run(timers(kind, database_url, world, due, report))


async def run_sql(database_url: str, statements: list[str]) -> None:
    """Extra SQL after seeding (e.g. a candidate index), then fresh planner statistics."""
    db = Database(database_url, clock=SystemClock())
    try:
        async with db.engine.begin() as connection:
            for statement in statements:
                await connection.execute(text(statement))
            await connection.exec_driver_sql("ANALYZE")
    finally:
        await db.dispose()


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.deal_registration", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small run: 5k registrations, 2k due, 3 s per figure")
    parser.add_argument("--databases", default="postgresql,sqlite", help="comma-separated: postgresql,sqlite")
    parser.add_argument("--registrations", type=int, help="book size (default 1M on PostgreSQL, 100k on SQLite)")
    parser.add_argument("--opportunities", type=int, help="opportunities (default: as many as registrations)")
    parser.add_argument("--due", type=int, help="registrations falling due for expiry, and for a reminder (100k)")
    parser.add_argument("--partners", type=int, default=300, help="partners in the book (default 300)")
    parser.add_argument("--managed", type=int, default=100, help="partners of the measured channel manager (100)")
    parser.add_argument("--collide", type=float, default=0.5, help="share of submits for known customers (0.5)")
    parser.add_argument("--seconds", type=float, help="measuring time per figure (default 10)")
    parser.add_argument("--warmup", type=float, help="warm-up time per figure, discarded (default 2)")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent clients for submit/floor (8)")
    parser.add_argument("--latency-clients", default="1,8", help="client counts for the latency figures (default 1,8)")
    parser.add_argument("--workers", type=int, default=1, help="service worker processes on PostgreSQL (1)")
    parser.add_argument("--rounds", type=int, default=3, help="floor and submit measured in turns (3)")
    parser.add_argument("--max-requests", type=int, default=1_000_000, help="request budget per figure")
    parser.add_argument("--sql", action="append", default=[], help="SQL to run after seeding (a candidate index)")
    args = parser.parse_args(argv)
    args.latency_clients = [int(n) for n in args.latency_clients.split(",") if n.strip()]
    args.seconds = args.seconds or (3.0 if args.quick else 10.0)
    args.warmup = args.warmup if args.warmup is not None else (1.0 if args.quick else 2.0)
    return args


def main(argv: list[str] | None = None) -> None:
    args = _arguments(argv)
    databases = [d.strip() for d in args.databases.split(",") if d.strip()]
    settings = {k: v for k, v in vars(args).items() if k != "databases"}
    command = shlex.join(["python", "-m", "bench.deal_registration", *(sys.argv[1:] if argv is None else argv)])
    report = Report(bench="deal_registration", settings={**settings, "databases": databases, "command": command})
    report.figure("host.cpus", os.cpu_count() or 0, "cores")
    report.figure("host.loadavg_1m.start", loadavg(), "")
    report.figure("host.python_speed.start", python_speed_ms(), "ms (fixed workload; lower is faster)")
    for kind in databases:
        run_database(kind, args, report)
    report.figure("host.loadavg_1m.end", loadavg(), "")
    report.figure("host.python_speed.end", python_speed_ms(), "ms (fixed workload; lower is faster)")
    report.finish()


if __name__ == "__main__":
    main()
