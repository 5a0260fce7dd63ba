"""Lead distribution on PostgreSQL: CSV import of 100k rows, rule routing of the imported leads
through 50 rules and 1,000 partners, and a shark-tank claim storm of 100 concurrent claims.

    python -m bench.lead_distribution            # 100k rows, 1,000 partners
    python -m bench.lead_distribution --quick    # 5k rows, 1,000 partners, shorter storm

One fresh PostgreSQL database for the run (created, migrated with `prm db upgrade`, dropped
after); partners (with a user each), products, certifications, country programs plus a global
pool, two shark-tank groups, 90 days of answered offers (acceptance rates and times the
weights use) and 50 ordered routing rules are written straight into the tables
(bench/_lead_seed.py). Then the service in its own process (`prm serve`, scheduler off):

- import: the CSV (made in memory, all rows valid) through POST /api/v1/distribution/imports
  as the vendor admin, all-or-nothing: scores, duplicate checks, history and events included;
- route: the imported leads, marked sales qualified in bulk (qualification is not measured);
  the first half (1 - --bulk-share) each through POST /api/v1/distribution/leads/{id}/auto-route
  by concurrent clients, as the product routes them one by one (figures route.*), the rest
  --bulk-size at a time through POST /api/v1/distribution/leads/auto-route (route_bulk.*);
  afterwards every routed lead's one stored decision and explanation are counted, each
  partner's stored load is checked against its offers, and a sample of the weighted picks is
  replayed through the API (each must pick the same partner again);
- claim_storm: a lead offered to a group of 100 partners, then 100 concurrent claims (one per
  partner, each by its own user, each on its own new connection); exactly one must win, 99 get
  409; next to it the floor storm (POST /bench/floor, the cheapest authenticated write).

`--workers N` runs the service with N worker processes (`prm serve --workers`; default 1).
Goals (from the issue): import of 100k rows well under a minute; routing at least 200 leads/s
(4 clients); claim p99 <= 100 ms.
The machine has 2 cores shared with others: the load average is printed next to each figure.
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
from collections import Counter
from collections.abc import Awaitable, Callable

import httpx
import msgspec
from sqlalchemy import func, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bench._harness import (
    LOOPBACK,
    CpuMeter,
    CpuUse,
    Report,
    Service,
    fresh_database,
    migrate,
    python_speed_ms,
    running_service,
    service_env,
    token_for,
    workdir,
)
from bench._lead_seed import LeadWorld, leads_csv, seed_world
from prm.core.activity import ActivityEntry
from prm.crm.models import Lead, LeadSource, LeadStatus
from prm.lead_distribution.models import HOLDING, LeadOffer, OfferStatus, PartnerLoad, RoutingMode
from prm.lead_distribution.models import RoutingDecision as D

API = "/api/v1/distribution"
FLOOR = "/api/v1/bench/floor"
FLOOR_BODY = {"note": "bench"}
IMPORT_GOAL_S = 60.0
CLAIM_P99_GOAL_MS = 100.0
ROUTE_GOAL_PER_S = 200.0
REPLAY_SAMPLE = 200


def loadavg() -> float:
    return os.getloadavg()[0]


def percentile(values: list[float], fraction: float) -> float:
    """Nearest rank, as the harness does."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(max(int(-(-fraction * len(ordered) // 1)), 1), len(ordered)) - 1]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def client_for(service: Service, connections: int, timeout: float = 60.0) -> httpx.AsyncClient:
    if httpx.URL(service.base_url).host != LOOPBACK:
        raise ValueError("the bench only drives services on loopback")
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(base_url=service.base_url, limits=limits, timeout=timeout)


def report_cpu(report: Report, prefix: str, cpu: CpuUse) -> None:
    report.figure(f"{prefix}.cpu.client", cpu.client, "cores")
    report.figure(f"{prefix}.cpu.service", cpu.server, "cores")
    report.figure(f"{prefix}.cpu.database", cpu.database, "cores")
    report.figure(f"{prefix}.cpu.other", cpu.other, "cores")


# --- import -----------------------------------------------------------------------------------


async def run_import(
    service: Service, meter: CpuMeter, token: str, world: LeadWorld, rows: int, report: Report
) -> None:
    content = leads_csv(rows, world.product_skus, seed=7)
    report.figure("import.file_bytes", len(content), "bytes")
    report.figure("import.loadavg_1m", loadavg(), "")
    files = {"file": ("bench-leads.csv", content, "text/csv")}
    async with client_for(service, 1, timeout=900.0) as client:
        before = meter.sample()
        started = time.perf_counter()
        reply = await client.post(
            f"{API}/imports", files=files, data={"mode": "all_or_nothing", "source": "import"}, headers=bearer(token)
        )
        seconds = time.perf_counter() - started
        cpu = CpuMeter.between(before, meter.sample())
    if reply.status_code != 201:
        raise RuntimeError(f"the import answered {reply.status_code}: {reply.text[:500]}")
    body = reply.json()
    goal = "met" if seconds <= IMPORT_GOAL_S else "missed"
    report.figure("import.seconds", seconds, f"s (goal well under {IMPORT_GOAL_S:.0f} s: {goal})")
    report.figure("import.rows_per_s", rows / seconds, "rows/s")
    report.figure("import.created", body["created"], "rows")
    report.figure("import.duplicates_flagged", body["duplicates_flagged"], "rows")
    report_cpu(report, "import", cpu)
    if body["created"] != rows or body["errors_total"]:
        raise RuntimeError(f"the import created {body['created']} of {rows} rows: {body['errors'][:3]}")


# --- routing ----------------------------------------------------------------------------------


async def qualify_imported(engine: AsyncEngine) -> list[tuple[uuid.UUID, int]]:
    """The imported leads, sales qualified in one UPDATE (what a channel manager would do lead by
    lead, not measured here): (id, version) in import order."""
    async with engine.begin() as connection:
        await connection.execute(
            update(Lead)
            .where(Lead.status == LeadStatus.NEW, Lead.source == LeadSource.IMPORT)
            .values(status=LeadStatus.SALES_QUALIFIED, version=Lead.version + 1)
        )
        rows = await connection.execute(
            select(Lead.id, Lead.version).where(Lead.status == LeadStatus.SALES_QUALIFIED).order_by(Lead.id)
        )
        found = [(row.id, row.version) for row in rows]
        await connection.exec_driver_sql("ANALYZE")
    return found


class Routed(msgspec.Struct):
    outcome: str


class RoutedMany(msgspec.Struct):
    items: list[Routed]


async def route_chunk(client: httpx.AsyncClient, chunk: list[tuple[uuid.UUID, int]]) -> tuple[list[str], str]:
    """One request: a single lead through its auto-route, several through the bulk one. The
    outcomes, or an error text. Only the outcomes are decoded (msgspec skips the rest of a
    decision quickly): the load generator shares the machine's two cores with the service."""
    if len(chunk) == 1:
        [(lead_id, version)] = chunk
        reply = await client.post(f"{API}/leads/{lead_id}/auto-route", json={"expected_version": version})
        if reply.status_code != 200:
            return [], f"{reply.status_code} {reply.text[:300]}"
        return [msgspec.json.decode(reply.content, type=Routed).outcome], ""
    body = {"leads": [{"id": str(lead_id), "expected_version": version} for lead_id, version in chunk]}
    reply = await client.post(f"{API}/leads/auto-route", json=body)
    if reply.status_code != 200:
        return [], f"{reply.status_code} {reply.text[:300]}"
    return [item.outcome for item in msgspec.json.decode(reply.content, type=RoutedMany).items], ""


async def run_routing(
    service: Service,
    meter: CpuMeter,
    token: str,
    leads: list[tuple[uuid.UUID, int]],
    args: argparse.Namespace,
    report: Report,
    *,
    prefix: str = "route",
    batch: int = 1,
) -> list[uuid.UUID]:
    """The leads through auto-route, `batch` per request (1: POST /leads/{id}/auto-route, more:
    POST /leads/auto-route), `concurrency` requests at a time, until all are done or the budget ends."""
    pending = [leads[i : i + batch] for i in range(0, len(leads), batch)][::-1]
    latencies: list[float] = []
    outcomes: Counter[str] = Counter()
    errors: list[str] = []
    done: list[uuid.UUID] = []
    deadline = time.perf_counter() + args.route_seconds
    report.figure(f"{prefix}.leads_per_request", batch, "leads")
    report.figure(f"{prefix}.loadavg_1m.start", loadavg(), "")

    async def worker(client: httpx.AsyncClient) -> None:
        while pending and time.perf_counter() < deadline:
            chunk = pending.pop()
            started = time.perf_counter()
            routed, error = await route_chunk(client, chunk)
            latencies.append((time.perf_counter() - started) * 1000.0)
            if error:
                errors.append(error)
                continue
            outcomes.update(routed)
            done.extend(lead_id for lead_id, _ in chunk)

    async with client_for(service, args.concurrency) as client:
        client.headers.update(bearer(token))
        before = meter.sample()
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(args.concurrency)))
        seconds = time.perf_counter() - started
        cpu = CpuMeter.between(before, meter.sample())
    report_routing(report, prefix, leads, done, pending, latencies, outcomes, errors, seconds, cpu)
    return done


def report_routing(
    report: Report,
    prefix: str,
    leads: list[tuple[uuid.UUID, int]],
    done: list[uuid.UUID],
    pending: list[list[tuple[uuid.UUID, int]]],
    latencies: list[float],
    outcomes: Counter[str],
    errors: list[str],
    seconds: float,
    cpu: CpuUse,
) -> None:
    report.figure(f"{prefix}.leads_attempted", len(leads) - sum(len(c) for c in pending), "leads")
    report.figure(f"{prefix}.leads_left_unrouted_by_time_budget", sum(len(c) for c in pending), "leads")
    report.figure(f"{prefix}.seconds", seconds, "s")
    rate = len(done) / seconds if seconds else 0.0
    goal = "met" if rate >= ROUTE_GOAL_PER_S else "missed"
    report.figure(f"{prefix}.leads_per_s", rate, f"leads/s (goal >= {ROUTE_GOAL_PER_S:.0f}: {goal})")
    if rate:
        report.figure(f"{prefix}.estimated_seconds_for_all", len(leads) / rate, f"s (for {len(leads)} leads)")
    report.figure(f"{prefix}.p50", percentile(latencies, 0.50), "ms (per request)")
    report.figure(f"{prefix}.p99", percentile(latencies, 0.99), "ms (per request)")
    report.figure(f"{prefix}.errors", len(errors), "requests")
    for outcome, n in sorted(outcomes.items()):
        report.figure(f"{prefix}.outcome.{outcome}", n, "leads")
    report_cpu(report, prefix, cpu)
    if done:
        report.figure(f"{prefix}.cpu.service_per_lead", 1000 * cpu.server * seconds / len(done), "ms")
        report.figure(f"{prefix}.cpu.database_per_lead", 1000 * cpu.database * seconds / len(done), "ms")
    report.figure(f"{prefix}.loadavg_1m.end", loadavg(), "")
    if errors:
        print(f"# {prefix}: first error: {errors[0]}", file=sys.stderr, flush=True)


async def verify_routing(engine: AsyncEngine, routed: list[uuid.UUID], report: Report) -> None:
    """Every lead routed in the run has exactly one rules decision with an explanation, and the
    leads' statuses and open offers agree with the decisions' outcomes."""

    async with engine.connect() as connection:
        imported = Lead.source == LeadSource.IMPORT
        statuses = {
            row[0]: row[1]
            for row in await connection.execute(select(Lead.status, func.count()).where(imported).group_by(Lead.status))
        }
        ours = D.lead_id.in_(select(Lead.id).where(imported).scalar_subquery())
        explained = await connection.scalar(
            select(func.count(func.distinct(D.lead_id))).where(ours, D.mode == RoutingMode.RULES, D.explanation != "")
        )
        decisions = await connection.scalar(
            select(func.count()).select_from(D).where(ours, D.mode == RoutingMode.RULES)
        )
        with_rules_log = await connection.scalar(
            select(func.count())
            .select_from(D)
            .where(ours, D.mode == RoutingMode.RULES, func.jsonb_array_length(D.rules) > 0)
        )
        open_offers = await connection.scalar(
            select(func.count()).select_from(LeadOffer).where(LeadOffer.status == OfferStatus.OPEN)
        )
    for status, n in sorted(statuses.items()):
        report.figure(f"route.leads_now.{status}", n, "leads")
    report.figure("route.decisions_stored", decisions or 0, "decisions")
    report.figure("route.leads_with_explained_decision", explained or 0, "leads")
    report.figure("route.decisions_with_rules_log", with_rules_log or 0, "decisions")
    report.figure("route.open_offers", open_offers or 0, "offers")
    routed_now = statuses.get(LeadStatus.ROUTED, 0) + statuses.get(LeadStatus.ACCEPTED, 0)
    report.figure("route.leads_routed", routed_now, "leads")
    if explained != len(routed) or decisions != len(routed) or with_rules_log != len(routed):
        raise RuntimeError(
            f"{len(routed)} leads routed but {decisions} rules decisions, {explained} leads with an explanation"
        )
    await verify_loads(engine, report)


async def verify_loads(engine: AsyncEngine, report: Report) -> None:
    """The leads each partner holds, as stored for routing, equal its open and accepted offers;
    and what a stored decision weighs."""
    async with engine.connect() as connection:
        stored = {
            row[0]: row[1] for row in await connection.execute(select(PartnerLoad.partner_id, PartnerLoad.holding))
        }
        holding = (
            select(LeadOffer.partner_id, func.count())
            .where(LeadOffer.status.in_(HOLDING), LeadOffer.partner_id.is_not(None))
            .group_by(LeadOffer.partner_id)
        )
        counted = {row[0]: row[1] for row in await connection.execute(holding)}
        size = await connection.scalar(select(func.pg_total_relation_size("routing_decisions")))
        rows = await connection.scalar(select(func.count()).select_from(D))
    wrong = {p for p in stored.keys() | counted.keys() if stored.get(p, 0) != counted.get(p, 0)}
    report.figure("route.partner_loads_checked", len(stored.keys() | counted.keys()), "partners")
    report.figure("route.partner_loads_wrong", len(wrong), "partners")
    report.figure(
        "db.routing_decisions.bytes_per_row", (size or 0) / max(rows or 1, 1), "bytes (table, TOAST, indexes)"
    )
    if wrong:
        raise RuntimeError(f"{len(wrong)} partners' stored loads differ from their offers")


async def verify_replays(
    service: Service, token: str, engine: AsyncEngine, routed: list[uuid.UUID], report: Report
) -> None:
    """A sample of the weighted picks, replayed through the API from their stored seed and
    weights: the same partner must come out of each."""
    sample = random.Random(5).sample(routed, min(len(routed), REPLAY_SAMPLE))
    async with engine.connect() as connection:
        ids = (
            await connection.scalars(
                select(D.id).where(D.lead_id.in_(sample), D.mode == RoutingMode.RULES, D.seed.is_not(None))
            )
        ).all()
    async with client_for(service, 4) as client:
        client.headers.update(bearer(token))
        replies = await asyncio.gather(*(client.get(f"{API}/decisions/{i}/replay") for i in ids))
    matched = sum(1 for r in replies if r.status_code == 200 and r.json()["matches"])
    report.figure("route.replays_checked", len(ids), "weighted picks")
    report.figure("route.replays_matching", matched, "weighted picks")
    if matched != len(ids):
        raise RuntimeError(f"{len(ids) - matched} of {len(ids)} replayed picks came out differently")


# --- claim storm ------------------------------------------------------------------------------


async def storm_lead(client: httpx.AsyncClient, admin: str, group_id: uuid.UUID, n: int) -> str:
    """A lead offered to the storm group through the API (created, qualified, routed by hand)."""
    headers = bearer(admin)
    body = {
        "first_name": "Storm",
        "last_name": f"Lead {n}",
        "company": f"Storm Target {n}",
        "country": "DE",
        "source": "web",
        "email": f"storm{n}@target.example",
    }
    lead = await client.post(f"{API}/leads", json=body, headers=headers)
    lead.raise_for_status()
    made = lead.json()
    qualified = await client.post(
        f"{API}/leads/{made['id']}/qualify",
        json={"expected_version": made["version"], "stage": "sales_qualified", "time_frame": "immediate"},
        headers=headers,
    )
    qualified.raise_for_status()
    routed = await client.post(
        f"{API}/leads/{made['id']}/route",
        json={"expected_version": qualified.json()["version"], "target_kind": "shark_tank", "group_id": str(group_id)},
        headers=headers,
    )
    routed.raise_for_status()
    if routed.json()["outcome"] != "offered_to_group":
        raise RuntimeError(f"the storm lead was not offered to the group: {routed.text[:300]}")
    return str(made["id"])


async def open_offer_of(client: httpx.AsyncClient, token: str, lead_id: str) -> str:
    reply = await client.get(
        f"{API}/offers", params={"kind": "shark_tank", "status": "open", "limit": 200}, headers=bearer(token)
    )
    reply.raise_for_status()
    [offer] = [o for o in reply.json()["items"] if o["lead_id"] == lead_id]
    return str(offer["id"])


Send = Callable[[httpx.AsyncClient, dict[str, str]], Awaitable[httpx.Response]]


async def storm(
    service: Service, tokens: list[str], meter: CpuMeter, send: Send
) -> tuple[list[tuple[int, float]], float]:
    """One request per token, all at once, each on its own new connection (a loopback connect is
    well under a millisecond; a reused one may meet the server's keep-alive timeout under load):
    (status, ms) each, and the service CPU ms per request."""

    async def one(client: httpx.AsyncClient, token: str) -> tuple[int, float]:
        started = time.perf_counter()
        reply = await send(client, bearer(token))
        return reply.status_code, (time.perf_counter() - started) * 1000.0

    async with client_for(service, len(tokens), timeout=60.0) as client:
        before = meter.sample()
        results = await asyncio.gather(*(one(client, t) for t in tokens))
        after = meter.sample()
    return list(results), 1000.0 * (after.server - before.server) / len(tokens)


def claimer(offer_id: str) -> Send:
    def send(client: httpx.AsyncClient, headers: dict[str, str]) -> Awaitable[httpx.Response]:
        return client.post(f"{API}/offers/{offer_id}/claim", headers=headers)

    return send


async def run_storm(
    service: Service, meter: CpuMeter, admin: str, world: LeadWorld, rounds: int, report: Report
) -> None:
    """Each round: a floor storm (POST /bench/floor: same auth, a tiny INSERT), then the claims."""
    tokens: list[str] = []
    for start in range(0, len(world.storm_emails), 4):  # argon2 sign-ins, a few at a time
        batch = world.storm_emails[start : start + 4]
        tokens += await asyncio.gather(*(token_for(service.base_url, email) for email in batch))
    claims: list[float] = []
    floors: list[float] = []
    cpu = {"claim": 0.0, "floor": 0.0}
    for n in range(rounds):
        # A new client each round: an idle keep-alive connection may have been closed meanwhile.
        async with client_for(service, 2, timeout=60.0) as client:
            lead_id = await storm_lead(client, admin, world.storm_group_id, n)
            offer_id = await open_offer_of(client, tokens[0], lead_id)
            prefix = f"claim_storm.round{n}"
            report.figure(f"{prefix}.loadavg_1m", loadavg(), "")
            floor, floor_cpu = await storm(
                service, tokens, meter, lambda c, h: c.post(FLOOR, json=FLOOR_BODY, headers=h)
            )
            claim, claim_cpu = await storm(service, tokens, meter, claimer(offer_id))
            cpu["floor"] += floor_cpu / rounds
            cpu["claim"] += claim_cpu / rounds
            floors += [ms for _, ms in floor]
            claims += [ms for _, ms in claim]
            statuses = Counter(status for status, _ in claim)
            report.figure(f"{prefix}.floor_p99", percentile([ms for _, ms in floor], 0.99), "ms")
            report.figure(f"{prefix}.p50", percentile([ms for _, ms in claim], 0.5), "ms")
            report.figure(f"{prefix}.p99", percentile([ms for _, ms in claim], 0.99), "ms")
            report.figure(f"{prefix}.statuses", " ".join(f"{k}x{v}" for k, v in sorted(statuses.items())))
            if statuses != {200: 1, 409: len(tokens) - 1}:
                raise RuntimeError(f"claim storm round {n}: {dict(statuses)} (want one 200, the rest 409)")
        async with client_for(service, 2, timeout=60.0) as client:
            await check_one_winner(client, admin, lead_id)
    p99 = percentile(claims, 0.99)
    report.figure("claim_storm.claims", len(claims), "claims")
    report.figure("claim_storm.winners_per_lead", 1, "winner (checked each round)")
    report.figure("claim_storm.p50", percentile(claims, 0.5), "ms")
    goal = "met" if p99 <= CLAIM_P99_GOAL_MS else "missed"
    report.figure("claim_storm.p99", p99, f"ms (goal <= {CLAIM_P99_GOAL_MS:.0f} ms: {goal})")
    report.figure("claim_storm.max", max(claims), "ms")
    report.figure("claim_storm.floor.p50", percentile(floors, 0.5), "ms")
    report.figure("claim_storm.floor.p99", percentile(floors, 0.99), "ms")
    report.figure("claim_storm.cpu.service_per_claim", cpu["claim"], "ms")
    report.figure("claim_storm.cpu.service_per_floor_request", cpu["floor"], "ms")


async def check_one_winner(client: httpx.AsyncClient, admin: str, lead_id: str) -> None:
    """The lead is held by one partner and its history says accepted once."""
    lead = (await client.get(f"{API}/leads/{lead_id}", headers=bearer(admin))).json()
    history = await client.get(f"/api/v1/leads/{lead_id}/history", params={"limit": 200}, headers=bearer(admin))
    accepted = [h for h in history.json()["items"] if h["action"] == "accepted"]
    if lead["status"] != "accepted" or lead["partner_id"] is None or len(accepted) != 1:
        raise RuntimeError(f"storm lead {lead_id}: status {lead['status']}, {len(accepted)} accepted entries")


# --- the run ----------------------------------------------------------------------------------


async def drive(
    service: Service, meter: CpuMeter, database_url: str, world: LeadWorld, args: argparse.Namespace, report: Report
) -> None:
    admin = await token_for(service.base_url, world.admin)
    await run_import(service, meter, admin, world, args.rows, report)
    engine = create_async_engine(database_url)
    try:
        leads = await qualify_imported(engine)
        report.figure("route.leads_qualified", len(leads), "leads")
        one_by_one = int(len(leads) * (1 - args.bulk_share))
        routed = await run_routing(service, meter, admin, leads[:one_by_one], args, report)
        if one_by_one < len(leads):
            many = leads[one_by_one:]
            routed += await run_routing(
                service, meter, admin, many, args, report, prefix="route_bulk", batch=args.bulk_size
            )
        await verify_routing(engine, routed, report)
        await verify_replays(service, admin, engine, routed, report)
        async with engine.connect() as connection:
            entries = await connection.scalar(select(func.count()).select_from(ActivityEntry))
        report.figure("db.activity_entries", entries or 0, "rows")
    finally:
        await engine.dispose()
    await run_storm(service, meter, admin, world, args.storm_rounds, report)


def run(args: argparse.Namespace, report: Report) -> None:
    with workdir() as folder, fresh_database("postgresql", folder) as database_url:
        env = service_env(database_url, folder, PRM_RUN_SCHEDULER="false")
        migrate(env)
        started = time.perf_counter()
        world = asyncio.run(seed_world(database_url, partners=args.partners, history=args.history, seed=20261123))
        report.figure("seed.seconds", time.perf_counter() - started, "s")
        report.figure("seed.partners", len(world.partner_ids), "partners")
        report.figure("seed.rules", world.rules, "rules")
        report.figure("seed.programs", world.programs, "programs")
        report.figure("seed.history_offers", world.history_offers, "offers")
        with running_service(env, folder, workers=args.workers) as service:
            meter = CpuMeter(service.pid, make_url(database_url).database)
            asyncio.run(drive(service, meter, database_url, world, args, report))


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.lead_distribution", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small run: 5k rows, 2 storm rounds")
    parser.add_argument("--rows", type=int, help="CSV rows imported, then routed (default 100000)")
    parser.add_argument("--partners", type=int, default=1000, help="partners (default 1000)")
    parser.add_argument("--history", type=int, help="answered offers of the last 90 days (default 20000)")
    parser.add_argument("--concurrency", type=int, default=4, help="concurrent auto-route clients (default 4)")
    parser.add_argument(
        "--route-seconds", type=float, help="time budget for routing; the rest stays unrouted (600, quick 60)"
    )
    parser.add_argument("--storm-rounds", type=int, help="claim storms, one lead each (default 5)")
    parser.add_argument("--workers", type=int, default=1, help="service worker processes (prm serve --workers)")
    parser.add_argument(
        "--bulk-share", type=float, default=0.5, help="share of the leads routed in bulk (the rest one by one)"
    )
    parser.add_argument("--bulk-size", type=int, default=100, help="leads per bulk auto-route request (default 100)")
    args = parser.parse_args(argv)
    args.rows = args.rows or (5_000 if args.quick else 100_000)
    args.history = args.history if args.history is not None else (2_000 if args.quick else 20_000)
    args.route_seconds = args.route_seconds or (60.0 if args.quick else 600.0)
    args.storm_rounds = args.storm_rounds or (2 if args.quick else 5)
    return args


def main(argv: list[str] | None = None) -> None:
    args = _arguments(argv)
    command = "python -m bench.lead_distribution " + shlex.join(argv if argv is not None else sys.argv[1:])
    report = Report(bench="lead_distribution", settings={**vars(args), "command": command.strip()})
    report.figure("host.cpus", os.cpu_count() or 0, "cores")
    report.figure("host.loadavg_1m.start", loadavg(), "")
    report.figure("host.python_speed.start", python_speed_ms(), "ms (fixed workload; lower is faster)")
    run(args, report)
    report.figure("host.loadavg_1m.end", loadavg(), "")
    report.figure("host.python_speed.end", python_speed_ms(), "ms (fixed workload; lower is faster)")
    report.finish()


if __name__ == "__main__":
    main()
