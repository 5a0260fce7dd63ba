"""Opportunities: create and keyset-list throughput and latency against the write floor.

    python -m bench.opportunities            # 100k rows, SQLite and PostgreSQL
    python -m bench.opportunities --quick    # a small run (what `make bench` does)

For each database this starts the service in its own process (`prm serve` on a free loopback
port, PRM_BENCH_ENDPOINTS=true), on a fresh database (a temp SQLite file, or a PostgreSQL
database created for the run and dropped after), migrates it with `prm db upgrade`, seeds
the opportunities with bulk INSERTs, signs in through POST /api/v1/auth/token and measures
with concurrent keep-alive clients, after a warm-up:

- floor:     POST /api/v1/bench/floor, the same auth and unit of work, one tiny INSERT;
- create:    POST /api/v1/opportunities as a partner admin (tenant rules, history, event);
- list:      GET /api/v1/opportunities?limit=50 walking pages by next_cursor from the first;
- list_deep: the same page size started from cursors spread over the whole list;
- list_all_deep: the vendor admin's view (every partner's rows, no tenant filter), deep.

Goals (from the issue): create >= 60% of the floor's requests/s; list p99 <= 20 ms.

`--live-check` measures instead what the live-user check (the session-epoch read every
authenticated request makes, prm.crm.sessions) costs: create and list (page 1 then next_cursor)
with the check and without it (the bench-only X-PRM-Bench-Skip-Live-Check header, honoured only
with PRM_BENCH_ENDPOINTS), all four in turns on one service so other load weighs on each alike;
p50/p99, service CPU per request, and the ratios checked / unchecked.

Processes: the service runs in its own process (one uvicorn worker unless --workers), the
load generator (httpx AsyncClient workers) in this one, so they never share an interpreter.
On a 2-core machine the client is not free (about half a core per busy service core here), so
every figure comes with the CPU the client, the service, PostgreSQL's backends for the bench
database and everything else used (`cpu.other`: a run that other work distorted shows it).
`create.floor_ratio_by_cpu` compares service CPU per request, which moves far less than
requests/s when the machine is shared. Four clients by default keep one worker busy, so
requests/s is its throughput while p50/p99 include only a short queue.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import httpx
from sqlalchemy.engine import make_url

from bench._harness import (
    CpuMeter,
    Load,
    Report,
    Request,
    Seeder,
    Service,
    api_client,
    fresh_database,
    measure,
    measure_interleaved,
    migrate,
    running_service,
    service_env,
    token_for,
    workdir,
)
from prm.core.auth import BENCH_SKIP_LIVE_CHECK, Role
from prm.crm.models import Account, AccountKind, Opportunity, OpportunityStage

PAGE = 50
WALK_PAGES = 20  # a list walker reads this many pages by next_cursor, then starts over
POOL_PAGE = 200  # page size used once, before measuring, to collect cursors at every depth
CREATE_GOAL = 0.60
LIST_P99_GOAL_MS = 20.0
OPEN_STAGES = [s for s in OpportunityStage if not s.is_closed]


@dataclass(frozen=True)
class World:
    """What the seed made: who signs in, which accounts a partner may sell to, how many rows."""

    seller: str
    admin: str
    seller_accounts: list[uuid.UUID]
    seller_rows: int
    all_rows: int


async def seed(database_url: str, rows: int) -> World:
    """`rows` opportunities for partner A (the seller's), a tenth each for partner B and direct."""
    seeder = Seeder(database_url)
    rng = random.Random(20260302)
    try:
        partner_a = await seeder.partner("Bench Partner A")
        partner_b = await seeder.partner("Bench Partner B")
        seller = await seeder.user("seller@bench.example", Role.PARTNER_ADMIN, partner_a)
        admin = await seeder.user("admin@bench.example", Role.VENDOR_ADMIN)
        owners: list[uuid.UUID | None] = [partner_a, partner_b, None]
        accounts = {owner: [_account(seeder, owner, i) for i in range(200)] for owner in owners}
        await seeder.insert(Account, [row for rows_ in accounts.values() for row in rows_])
        plan = [partner_a] * rows + [partner_b] * (rows // 10) + [None] * (rows // 10)
        rng.shuffle(plan)
        start = seeder.now - timedelta(days=400)
        step = timedelta(days=365) / len(plan)
        opportunities = [
            _opportunity(seeder, rng, owner, rng.choice(accounts[owner])["id"], start + step * i)
            for i, owner in enumerate(plan)
        ]
        await seeder.insert(Opportunity, opportunities)
        await seeder.analyze()
        return World(
            seller=seller,
            admin=admin,
            seller_accounts=[row["id"] for row in accounts[partner_a]],
            seller_rows=rows,
            all_rows=len(plan),
        )
    finally:
        await seeder.close()


def _account(seeder: Seeder, owner: uuid.UUID | None, n: int) -> dict[str, Any]:
    name = f"Customer {n} of {owner or 'vendor'}"
    return {
        **seeder.stamps(),
        "name": name,
        "normalized_name": name.lower(),
        "country": "DE",
        "kind": AccountKind.CUSTOMER,
        "partner_id": owner,
    }


def _opportunity(
    seeder: Seeder, rng: random.Random, owner: uuid.UUID | None, account_id: uuid.UUID, created: Any
) -> dict[str, Any]:
    row = seeder.stamps()
    row.update(created_at=created, updated_at=created)
    row.update(
        name=f"Deal {rng.randrange(10**9)}",
        account_id=account_id,
        partner_id=owner,
        stage=rng.choice(OPEN_STAGES),
        amount_minor=rng.randrange(1_000_00, 500_000_00),
        currency="EUR",
        close_date=date(2027, 1, 1) + timedelta(days=rng.randrange(365)),
    )
    return row


# --- what each worker sends -------------------------------------------------------------------


def floor_worker(_: int) -> Request:
    async def request(client: httpx.AsyncClient) -> httpx.Response:
        return await client.post("/api/v1/bench/floor", json={"note": "bench"})

    return request


def create_worker(world: World) -> Any:
    def make(index: int) -> Request:
        rng = random.Random(index)

        async def request(client: httpx.AsyncClient) -> httpx.Response:
            body = {
                "name": f"Bench deal {rng.randrange(10**9)}",
                "account_id": str(rng.choice(world.seller_accounts)),
                "amount_minor": rng.randrange(1_000_00, 500_000_00),
                "currency": "EUR",
                "close_date": "2027-06-30",
            }
            return await client.post("/api/v1/opportunities", json=body)

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
        reply = await client.get("/api/v1/opportunities", params=params)
        state["cursor"] = reply.json().get("next_cursor") if reply.is_success else None
        state["pages"] += 1
        return reply

    return request


def deep_worker(cursors: list[str]) -> Any:
    def make(index: int) -> Request:
        rng = random.Random(1000 + index)

        async def request(client: httpx.AsyncClient) -> httpx.Response:
            params: dict[str, Any] = {"limit": PAGE, "cursor": rng.choice(cursors)}
            return await client.get("/api/v1/opportunities", params=params)

        return request

    return make


async def walk_everything(client: httpx.AsyncClient) -> tuple[int, list[str]]:
    """Read the whole list once: how many rows it has, and a cursor at every depth."""
    rows, cursor = 0, None
    cursors: list[str] = []
    while True:
        params: dict[str, Any] = {"limit": POOL_PAGE}
        if cursor:
            params["cursor"] = cursor
        reply = await client.get("/api/v1/opportunities", params=params)
        reply.raise_for_status()
        page = reply.json()
        rows += len(page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            return rows, cursors
        cursors.append(cursor)


# --- one database -----------------------------------------------------------------------------


async def drive(
    kind: str, service: Service, meter: CpuMeter, world: World, load: Load, rounds: int, report: Report
) -> None:
    seller_token = await token_for(service.base_url, world.seller)
    admin_token = await token_for(service.base_url, world.admin)
    connections = load.concurrency
    async with (
        api_client(service.base_url, seller_token, connections) as seller,
        api_client(service.base_url, admin_token, connections) as admin,
    ):
        seen, seller_cursors = await walk_everything(seller)
        report.figure(f"{kind}.list.rows_visible", seen, "rows")
        if seen != world.seller_rows:
            raise RuntimeError(f"the seller's list walked {seen} rows, the seed made {world.seller_rows}")
        _, all_cursors = await walk_everything(admin)

        pair = [("floor", seller, floor_worker), ("create", seller, create_worker(world))]
        measured = await measure_interleaved(pair, load, meter, rounds)
        floor, create = measured["floor"], measured["create"]
        report.stats(f"{kind}.floor", floor)
        report.stats(f"{kind}.create", create)
        ratio = create.rps / floor.rps if floor.rps else 0.0
        report.figure(f"{kind}.create.floor_ratio", ratio, f"x floor (goal >= {CREATE_GOAL})")
        # The same ratio from service CPU per request: steadier when other work shares the
        # machine, and what requests/s converge to once the service is CPU-bound.
        if floor.requests and create.requests:
            cpu_ratio = (floor.cpu.server / floor.rps) / (create.cpu.server / create.rps)
            report.figure(f"{kind}.create.floor_ratio_by_cpu", cpu_ratio, "x floor")

        for name, client, factory in (
            ("list", seller, walk_worker),
            ("list_deep", seller, deep_worker(seller_cursors)),
            ("list_all_deep", admin, deep_worker(all_cursors)),
        ):
            stats = await measure(f"{kind}.{name}", client, factory, load, meter)
            report.stats(f"{kind}.{name}", stats)


async def live_check(
    kind: str, service: Service, meter: CpuMeter, load: Load, rounds: int, world: World, report: Report
) -> None:
    """Create and list with and without the live-user check, interleaved."""
    token = await token_for(service.base_url, world.seller)
    async with (
        api_client(service.base_url, token, load.concurrency) as checked,
        api_client(service.base_url, token, load.concurrency) as unchecked,
    ):
        unchecked.headers[BENCH_SKIP_LIVE_CHECK] = "1"
        scenarios = [
            ("create", checked, create_worker(world)),
            ("create_unchecked", unchecked, create_worker(world)),
            ("list", checked, walk_worker),
            ("list_unchecked", unchecked, walk_worker),
        ]
        measured = await measure_interleaved(scenarios, load, meter, rounds)
    for name, stats in measured.items():
        report.stats(f"{kind}.live_check.{name}", stats)
    for what in ("create", "list"):
        with_check, without = measured[what], measured[f"{what}_unchecked"]
        for label, fraction in (("p50", 0.50), ("p99", 0.99)):
            base = without.percentile(fraction)
            ratio = with_check.percentile(fraction) / base if base else 0.0
            report.figure(f"{kind}.live_check.{what}.{label}_ratio", ratio, "x without the check")
        if with_check.requests and without.requests:
            extra = 1000 * (with_check.cpu.server / with_check.rps - without.cpu.server / without.rps)
            report.figure(f"{kind}.live_check.{what}.service_cpu_per_request_added", extra, "ms")


def run_database(
    kind: str, rows: int, load: Load, rounds: int, workers: int, report: Report, *, live: bool = False
) -> None:
    with workdir() as folder, fresh_database(kind, folder) as database_url:
        env = service_env(database_url, folder)
        migrate(env)
        world = asyncio.run(seed(database_url, rows))
        report.figure(f"{kind}.seeded_rows", world.all_rows, "rows")
        with running_service(env, folder, workers=workers) as service:
            database_name = None if kind == "sqlite" else make_url(database_url).database
            meter = CpuMeter(service.pid, database_name)
            if live:
                asyncio.run(live_check(kind, service, meter, load, rounds, world, report))
            else:
                asyncio.run(drive(kind, service, meter, world, load, rounds, report))


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.opportunities", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small run: 5k rows, 3 s per figure")
    parser.add_argument("--databases", default="sqlite,postgresql", help="comma-separated: sqlite,postgresql")
    parser.add_argument("--rows", type=int, help="opportunities of the measured partner (default 100000)")
    parser.add_argument("--seconds", type=float, help="measuring time per figure (default 10)")
    parser.add_argument("--warmup", type=float, help="warm-up time per figure, discarded (default 2)")
    parser.add_argument("--concurrency", type=int, default=4, help="concurrent clients (default 4)")
    parser.add_argument("--rounds", type=int, default=3, help="floor and create measured in turns (default 3)")
    parser.add_argument("--max-requests", type=int, default=1_000_000, help="request budget per figure")
    parser.add_argument("--workers", type=int, default=1, help="service worker processes (PostgreSQL only)")
    parser.add_argument("--live-check", action="store_true", help="the live-user check's cost, with vs without")
    args = parser.parse_args(argv)
    args.rows = args.rows or (5_000 if args.quick else 100_000)
    args.seconds = args.seconds or (3.0 if args.quick else 10.0)
    args.warmup = args.warmup if args.warmup is not None else (1.0 if args.quick else 2.0)
    return args


def main(argv: list[str] | None = None) -> None:
    args = _arguments(argv)
    load = Load(
        concurrency=args.concurrency, seconds=args.seconds, warmup_seconds=args.warmup, max_requests=args.max_requests
    )
    databases = [d.strip() for d in args.databases.split(",") if d.strip()]
    report = Report(
        bench="opportunities",
        settings={
            "quick": args.quick,
            "rows": args.rows,
            "seconds": args.seconds,
            "warmup": args.warmup,
            "concurrency": args.concurrency,
            "rounds": args.rounds,
            "workers": args.workers,
            "page": PAGE,
            "databases": databases,
            "live_check": args.live_check,
        },
    )
    for kind in databases:
        workers = args.workers if kind != "sqlite" else 1
        run_database(kind, args.rows, load, args.rounds, workers, report, live=args.live_check)
    report.finish()


if __name__ == "__main__":
    main()
