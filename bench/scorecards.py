"""Scorecards at volume: every report's latency over 1M opportunities, 1M deal registrations
and 1M leads on PostgreSQL, and the dashboard page's.

    nice python -m bench.scorecards            # 1M of each (seeding takes minutes)
    nice python -m bench.scorecards --quick    # 20k of each

Starts a fresh PostgreSQL database, migrates it (`prm db upgrade`), fills it with COPY
(opportunities over two years, a third won, a quarter lost, the rest open and closing over
the next year, 15 % in EUR, 60 % through 200 partners, half of them in EMEA; registrations in
every state, half of the approved, won and lost ones linked to a partner's opportunity; leads
from five sources and twenty campaigns, a third offered to partners in one lead program) with the scorecard
triggers off, computes the maintained cells with `prm scorecards rebuild`, runs VACUUM ANALYZE, starts
`prm serve` on a free loopback port and, signed in as leadership (everything, the worst
case) and as a channel manager (5 partners), asks each report `--requests` times in a row
after two warm-ups, then the dashboard page (session cookie) the same way. Prints each
one's p50 and p99. Goals (issue 14): every report p99 <= 500 ms, the page < 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from bench._harness import (
    PROJECT_ROOT,
    Report,
    Seeder,
    fresh_database,
    migrate,
    running_service,
    service_env,
    token_for,
    workdir,
)
from prm.core.auth import Role
from prm.core.db import new_id
from prm.core.tenancy import channel_manager_partners

REPORT_GOAL_MS = 500.0
PAGE_GOAL_MS = 1000.0
PARTNERS = 200
CAMPAIGNS = 20
SOURCES = ["web", "campaign", "import", "referral", "partner"]
NOW = datetime.now(UTC)


@dataclass
class World:
    partner_ids: list[uuid.UUID]
    program_id: uuid.UUID
    lead_program_id: uuid.UUID
    leader: str
    manager: str


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _ago(rng: random.Random, days: int) -> datetime:
    return NOW - timedelta(seconds=rng.randint(0, days * 86400))


async def _copy(connection: asyncpg.Connection, table: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
    await connection.copy_records_to_table(table, records=rows, columns=columns)


async def seed(database_url: str, rows: int) -> World:
    seeder = Seeder(database_url)
    partner_ids = [await seeder.partner(f"Partner {n:03d}") for n in range(PARTNERS)]
    leader = await seeder.user("ceo@bench.example", Role.LEADERSHIP)
    manager = await seeder.user("cm@bench.example", Role.CHANNEL_MANAGER)
    partner_user = await seeder.user("seller@bench.example", Role.PARTNER_ADMIN, partner_ids[0])
    await seeder.close()
    rng = random.Random(14)
    connection = await asyncpg.connect(_dsn(database_url))
    try:
        # COPY without the scorecard triggers (a row at a time would double the seeding time);
        # `prm scorecards rebuild` then computes the cells from the records in one pass.
        await connection.execute("SET session_replication_role = replica")
        manager_id = await connection.fetchval("SELECT id FROM users WHERE email = $1", manager)
        await connection.execute(
            "UPDATE partners SET region = CASE WHEN name < 'Partner 100' THEN 'EMEA' ELSE 'Americas' END"
        )
        submitter = await connection.fetchval("SELECT id FROM users WHERE email = $1", partner_user)
        await _copy(connection, channel_manager_partners.name, ["user_id", "partner_id"],
                    [(manager_id, p) for p in partner_ids[:5]])  # fmt: skip
        account = new_id()
        account_columns = ["id", "name", "normalized_name", "kind", "created_at", "updated_at", "version"]
        await _copy(connection, "accounts", account_columns,
                    [(account, "Bench customer", "bench customer", "customer", NOW, NOW, 1)])  # fmt: skip
        partnered = await _opportunities(connection, rng, rows, account, partner_ids)
        program_id = await _registrations(connection, rng, rows, partner_ids, submitter, partnered)
        lead_program_id = await _leads(connection, rng, rows, partner_ids)
        # A database in steady state has been vacuumed (visibility map set: index-only scans).
        await connection.execute("VACUUM ANALYZE")
    finally:
        await connection.close()
    return World(partner_ids=partner_ids, program_id=program_id, lead_program_id=lead_program_id, leader=leader,
                 manager=manager)  # fmt: skip


async def _opportunities(
    connection: asyncpg.Connection, rng: random.Random, rows: int, account: uuid.UUID, partners: list[uuid.UUID]
) -> list[uuid.UUID]:
    """The opportunities; the ids of those through a partner (for registrations to link)."""
    partnered: list[uuid.UUID] = []
    columns = ["id", "name", "account_id", "partner_id", "stage", "amount_minor", "currency", "close_date",
               "closed_at", "created_at", "updated_at", "version"]  # fmt: skip
    batch: list[tuple[Any, ...]] = []
    for n in range(rows):
        pick = rng.random()
        stage = "Closed Won" if pick < 0.35 else "Closed Lost" if pick < 0.6 else rng.choice(
            ["Prospecting", "Presentation", "Proposal", "Negotiation"])  # fmt: skip
        closed = _ago(rng, 730) if stage.startswith("Closed") else None
        close_date = (closed or NOW + timedelta(days=rng.randint(0, 365))).date()
        partner = rng.choice(partners) if rng.random() < 0.6 else None
        currency = "EUR" if rng.random() < 0.15 else "USD"
        created = closed - timedelta(days=30) if closed else _ago(rng, 90)
        deal = new_id()
        if partner is not None:
            partnered.append(deal)
        batch.append((deal, f"Deal {n}", account, partner, stage, rng.randint(1_000, 5_000_000), currency,
                      close_date, closed, created, created, 1))  # fmt: skip
        if len(batch) == 50_000:
            await _copy(connection, "opportunities", columns, batch)
            batch = []
    await _copy(connection, "opportunities", columns, batch)
    return partnered


async def _registrations(
    connection: asyncpg.Connection,
    rng: random.Random,
    rows: int,
    partners: list[uuid.UUID],
    submitter: uuid.UUID,
    deals: list[uuid.UUID],
) -> uuid.UUID:
    program = new_id()
    await connection.execute(
        "INSERT INTO deal_programs (id, name, description, active, margin_bps, benefits, required_fields,"
        " eligible_tiers, min_deal_minor, currency, review_hours, protection_days, reminder_days, extension_days,"
        " max_extensions, max_resubmissions, created_at, updated_at, version)"
        " VALUES ($1, 'Bench', '', true, 250, '', '[]', '[]', 0, 'USD', 48, 90, 14, 30, 1, 2, $2, $2, 1)",
        program,
        NOW,
    )
    columns = ["id", "number", "program_id", "partner_id", "submitted_by_id", "state", "customer_name",
               "customer_normalized", "currency", "submitted_at", "review_due_at", "decided_at", "approved_at",
               "expires_at", "expired_at", "closed_at", "won_amount_minor", "extensions_used", "resubmission_number",
               "proof_status", "created_at", "updated_at", "version", "opportunity_id"]  # fmt: skip
    states = ["submitted", "approved", "rejected", "expired", "won", "lost", "cancelled", "draft"]
    weights = [3, 20, 15, 15, 25, 15, 5, 2]
    batch: list[tuple[Any, ...]] = []
    for n in range(rows):
        state = rng.choices(states, weights)[0]
        submitted = _ago(rng, 730)
        due = submitted + timedelta(hours=48)
        decided = None if state in ("submitted", "draft") else submitted + timedelta(hours=rng.randint(1, 96))
        approved = decided if state in ("approved", "expired", "won", "lost") else None
        expires = approved + timedelta(days=90) if approved else None
        closed = approved + timedelta(days=rng.randint(5, 80)) if approved and state in ("won", "lost") else None
        batch.append((new_id(), f"B{n:09d}", program, rng.choice(partners), submitter, state, f"Customer {n}",
                      f"customer {n}", "USD", submitted, due, decided, approved, expires,
                      expires if state == "expired" else None, closed,
                      rng.randint(1_000, 900_000) if state == "won" else None, 0, 0, "none", submitted, submitted,
                      1, rng.choice(deals) if state in ("approved", "won", "lost") and rng.random() < 0.5
                      else None))  # fmt: skip
        if len(batch) == 50_000:
            await _copy(connection, "deal_registrations", columns, batch)
            batch = []
    await _copy(connection, "deal_registrations", columns, batch)
    return program


async def _leads(connection: asyncpg.Connection, rng: random.Random, rows: int, partners: list[uuid.UUID]) -> uuid.UUID:
    program = new_id()
    await connection.execute(
        "INSERT INTO lead_programs (id, name, description, active, eligible_tiers, response_hours,"
        " hot_response_hours, claim_window_hours, max_open_leads, created_at, updated_at, version)"
        " VALUES ($1, 'Bench leads', '', true, '[]', 48, 4, 24, 100, $2, $2, 1)",
        program,
        NOW,
    )
    campaigns = [new_id() for _ in range(CAMPAIGNS)]
    await _copy(connection, "campaigns", ["id", "name", "type", "status", "budget_minor", "currency", "created_at",
                                          "updated_at", "version"],
                [(c, f"Campaign {i}", "event", "completed", 1_000_000, "USD", NOW, NOW, 1)
                 for i, c in enumerate(campaigns)])  # fmt: skip
    lead_columns = ["id", "first_name", "last_name", "company", "source", "status", "score", "campaign_id",
                    "partner_id", "created_at", "updated_at", "version"]  # fmt: skip
    decision_columns = ["id", "lead_id", "decided_at", "mode", "outcome", "partner_id", "candidates", "excluded",
                        "rules", "override", "explanation"]  # fmt: skip
    offer_columns = ["id", "lead_id", "decision_id", "kind", "status", "partner_id", "offered_at", "respond_by",
                     "responded_at", "response_seconds", "created_at", "updated_at", "version",
                     "program_id"]  # fmt: skip
    leads: list[tuple[Any, ...]] = []
    decisions: list[tuple[Any, ...]] = []
    offers: list[tuple[Any, ...]] = []
    for n in range(rows):
        lead, created = new_id(), _ago(rng, 730)
        source = rng.choice(SOURCES)
        offered = rng.random() < 0.33
        partner = rng.choice(partners) if offered else None
        outcome = rng.choice(["accepted", "converted", "declined", "expired"]) if offered else None
        status = {"accepted": "accepted", "converted": "converted"}.get(outcome or "", rng.choice(
            ["new", "marketing_qualified", "sales_qualified", "disqualified"]))  # fmt: skip
        holder = partner if outcome in ("accepted", "converted") else None
        leads.append((lead, "Lead", f"N{n}", f"Company {n}", source, status, rng.randint(0, 100),
                      rng.choice(campaigns) if source == "campaign" else None, holder, created, created,
                      1))  # fmt: skip
        if offered:
            decision, at = new_id(), created + timedelta(minutes=5)
            seconds = None if outcome == "expired" else rng.randint(60, 20_000)
            decisions.append((decision, lead, at, "manual", "offered", partner, "[]", "[]", "[]", False, "bench"))
            offers.append((new_id(), lead, decision, "direct", outcome, partner, at, at + timedelta(hours=48),
                           at + timedelta(seconds=seconds) if seconds else None, seconds, at, at, 1,
                           program))  # fmt: skip
        if len(leads) == 50_000:
            await _flush_leads(connection, lead_columns, leads, decision_columns, decisions, offer_columns, offers)
            leads, decisions, offers = [], [], []
    await _flush_leads(connection, lead_columns, leads, decision_columns, decisions, offer_columns, offers)
    return program


async def _flush_leads(connection: asyncpg.Connection, *parts: Any) -> None:
    lead_columns, leads, decision_columns, decisions, offer_columns, offers = parts
    await _copy(connection, "leads", lead_columns, leads)
    await _copy(connection, "routing_decisions", decision_columns, decisions)
    await _copy(connection, "lead_offers", offer_columns, offers)


def reports(world: World) -> dict[str, str]:
    partner = world.partner_ids[0]
    return {
        "sales_channels": "/api/v1/scorecards/sales/channels",
        # A zone whose months are not UTC months: the UTC-month cells, and the records near each
        # month's start moved to their month in the zone (prm.scorecards.edges).
        "sales_channels_berlin": "/api/v1/scorecards/sales/channels?tz=Europe/Berlin",
        "lead_quality_berlin": "/api/v1/scorecards/leads/quality?tz=Europe/Berlin",
        # Filtered by program (the program cells) and by region (the cells of the region's partners).
        "sales_channels_program": f"/api/v1/scorecards/sales/channels?program_id={world.program_id}",
        "pipeline_program": f"/api/v1/scorecards/pipeline?program_id={world.program_id}",
        "deal_status_program": f"/api/v1/scorecards/deal-status?program_id={world.program_id}",
        "lead_quality_program": f"/api/v1/scorecards/leads/quality?program_id={world.lead_program_id}",
        "sales_channels_emea": "/api/v1/scorecards/sales/channels?region=EMEA",
        "closed_business": "/api/v1/scorecards/sales/closed",
        "partner_sales": "/api/v1/scorecards/sales/partners",
        "top_partners": "/api/v1/scorecards/sales/top-partners",
        "top_deals": "/api/v1/scorecards/sales/top-deals",
        "pipeline": "/api/v1/scorecards/pipeline",
        "forecast": "/api/v1/scorecards/forecast?from_month={this}&to_month={ahead}",
        "deal_status": "/api/v1/scorecards/deal-status",
        "lead_quality_source": "/api/v1/scorecards/leads/quality",
        "lead_quality_campaign": "/api/v1/scorecards/leads/quality?by=campaign",
        "campaign_return": "/api/v1/scorecards/campaigns/return",
        "partner_scorecard": f"/api/v1/scorecards/partners/{partner}",
    }


async def timed(client: httpx.AsyncClient, url: str, count: int) -> list[float]:
    for _ in range(2):
        (await client.get(url)).raise_for_status()
    spent = []
    for _ in range(count):
        started = time.perf_counter()
        reply = await client.get(url)
        spent.append((time.perf_counter() - started) * 1000)
        reply.raise_for_status()
    return spent


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


async def drive(base_url: str, world: World, count: int, report: Report) -> None:
    this = f"{NOW:%Y-%m}"
    ahead_date = NOW + timedelta(days=150)
    worst_p99 = 0.0
    for who, email in (("leadership", world.leader), ("channel_manager", world.manager)):
        token = await token_for(base_url, email)
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=120.0) as client:
            for name, url in reports(world).items():
                spent = await timed(client, url.format(this=this, ahead=f"{ahead_date:%Y-%m}"), count)
                report.figure(f"{who}.{name}.p50", statistics.median(spent), "ms")
                report.figure(f"{who}.{name}.p99", p99(spent), "ms")
                worst_p99 = max(worst_p99, p99(spent))
        async with httpx.AsyncClient(base_url=base_url, cookies={"prm_session": token}, timeout=120.0) as client:
            spent = await timed(client, "/dashboard", count)
            report.figure(f"{who}.dashboard_page.p50", statistics.median(spent), "ms")
            report.figure(f"{who}.dashboard_page.p99", p99(spent), "ms")
    report.figure("reports.worst_p99", worst_p99, "ms")
    report.figure("reports.goal_p99", REPORT_GOAL_MS, "ms")
    report.figure("page.goal", PAGE_GOAL_MS, "ms")


def rebuild_cells(env: dict[str, str]) -> None:
    """`prm scorecards rebuild`, then ANALYZE so the planner knows the cells."""
    subprocess.run([sys.executable, "-m", "prm.cli", "scorecards", "rebuild"], env=env, cwd=PROJECT_ROOT, check=True)
    asyncio.run(_analyze(env["PRM_DATABASE_URL"]))


async def _analyze(database_url: str) -> None:
    connection = await asyncpg.connect(_dsn(database_url))
    try:
        await connection.execute("ANALYZE")
    finally:
        await connection.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scorecards", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="20k rows of each, 10 requests per report")
    parser.add_argument("--rows", type=int, help="opportunities, registrations and leads each (default 1M)")
    parser.add_argument("--requests", type=int, help="timed requests per report (default 30)")
    args = parser.parse_args(argv)
    rows = args.rows or (20_000 if args.quick else 1_000_000)
    count = args.requests or (10 if args.quick else 30)
    report = Report(bench="scorecards", settings={"rows": rows, "requests": count, "database": "postgresql"})
    with workdir() as folder, fresh_database("postgresql", folder) as database_url:
        # No timers: the review-overdue job would otherwise work through the seeded overdue
        # registrations while the reports are measured (CPU, and dead rows under the indexes).
        env = service_env(database_url, folder, PRM_RUN_SCHEDULER="false")
        migrate(env)
        started = time.perf_counter()
        world = asyncio.run(seed(database_url, rows))
        report.figure("seed.seconds", time.perf_counter() - started, "s")
        started = time.perf_counter()
        rebuild_cells(env)
        report.figure("rebuild.seconds", time.perf_counter() - started, "s")
        report.figure("seed.rows", rows * 3, "rows")
        with running_service(env, folder) as service:
            asyncio.run(drive(service.base_url, world, count, report))
    report.finish()


if __name__ == "__main__":
    main()
