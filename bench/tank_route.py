"""Routing a lead into a shark-tank group of 1,000 partners: CPU and SQL statements per route.

    python -m bench.tank_route                 # SQLite, 1,000 partners, 40 routes per group
    python -m bench.tank_route --quick         # 10 routes per group
    python -m bench.tank_route --postgresql    # the same on a fresh PostgreSQL database
                                                 (PRM_BENCH_POSTGRES_URL, default the local server)

A fresh database (migrated with alembic), then straight into the tables: a lead program with no
tier or capacity limits, `--partners` partners with an admin each (each admin gets the
shark-tank email), one group holding all of them and one of 10 (the floor: the same request
with a hundredth of the rows), and sales-qualified leads. The app runs in this process (no
scheduler, no outbox delivery); each lead is routed with POST /leads/{id}/route, target
`shark_tank`, as the vendor admin, through an in-process ASGI transport, the groups taking
turns so machine noise falls on both alike. Per route: CPU seconds of this process
(time.process_time: the service's work plus the little the in-process client adds, the same in
both groups) and the statements sent to the database (a `before_cursor_execute` listener: an
executemany is one). Routes are checked: one offer per lead, one candidate row and one email
per member.

CPU time is the figure to compare on a busy machine; the wall time is printed for reference.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event, func, select

from bench._harness import Report, Seeder, fresh_database, workdir
from prm.app import create_app
from prm.cli import upgrade_database
from prm.core.auth import Principal, Role
from prm.core.outbox import OutboxMessage
from prm.core.tokens import generate_private_key_pem
from prm.crm.models import Lead, LeadSource, LeadStatus, Partner, PartnerTier, User
from prm.lead_distribution.models import GroupMember, LeadOffer, LeadProgram, OfferCandidate, PartnerGroup
from prm.settings import load_settings

API = "/api/v1/distribution"
FLOOR_PARTNERS = 10
WARMUP = 3


@dataclass
class TankWorld:
    admin: Principal
    groups: dict[str, tuple[uuid.UUID, int]]  # name -> (group id, members)
    leads: list[uuid.UUID]


@dataclass
class Figures:
    cpu: list[float] = field(default_factory=list)
    wall: list[float] = field(default_factory=list)
    statements: list[int] = field(default_factory=list)


async def seed(database_url: str, *, partners: int, leads: int) -> TankWorld:
    seeder = Seeder(database_url)
    try:
        program = {**seeder.stamps(), "name": "Tank program", "eligible_tiers": [], "max_open_leads": 1_000_000}
        await seeder.insert(LeadProgram, [program])
        partner_rows = [
            {**seeder.stamps(), "name": f"Tank {i:04d}", "tier": PartnerTier.GOLD, "country": "DE", "active": True}
            for i in range(partners)
        ]
        await seeder.insert(Partner, partner_rows)
        ids = [row["id"] for row in partner_rows]
        admin_id = uuid.uuid4()
        users = [_user(seeder, admin_id, "admin@vendor.tank.example", Role.VENDOR_ADMIN, None)]
        users += [
            _user(seeder, uuid.uuid4(), f"admin@p{i:04d}.tank.example", Role.PARTNER_ADMIN, pid)
            for i, pid in enumerate(ids)
        ]
        await seeder.insert(User, users)
        groups = {"tank": ids, "floor": ids[:FLOOR_PARTNERS]}
        group_rows = {
            name: {**seeder.stamps(), "name": f"{name} group", "program_id": program["id"], "claim_window_hours": 24}
            for name in groups
        }
        await seeder.insert(PartnerGroup, list(group_rows.values()))
        added = seeder.now - timedelta(days=10)
        await seeder.insert(
            GroupMember,
            [
                {"group_id": group_rows[name]["id"], "partner_id": pid, "added_at": added}
                for name, members in groups.items()
                for pid in members
            ],
        )
        lead_rows = [_lead(seeder, i) for i in range(leads)]
        await seeder.insert(Lead, lead_rows)
        await seeder.analyze()
        return TankWorld(
            admin=Principal(user_id=admin_id, role=Role.VENDOR_ADMIN, partner_id=None, email=users[0]["email"]),
            groups={name: (group_rows[name]["id"], len(members)) for name, members in groups.items()},
            leads=[row["id"] for row in lead_rows],
        )
    finally:
        await seeder.close()


def _user(seeder: Seeder, user_id: uuid.UUID, email: str, role: Role, partner_id: uuid.UUID | None) -> dict[str, Any]:
    return {
        **seeder.stamps(),
        "id": user_id,
        "email": email,
        "name": email.partition("@")[0],
        "role": role,
        "partner_id": partner_id,
        "password_hash": "not-for-signing-in",
        "active": True,
    }


def _lead(seeder: Seeder, index: int) -> dict[str, Any]:
    return {
        **seeder.stamps(age=timedelta(days=1)),
        "first_name": "Peter",
        "last_name": f"Gibbons {index}",
        "company": f"Initech {index}",
        "company_normalized": f"initech {index}",
        "email": f"peter{index}@initech.example",
        "country": "DE",
        "source": LeadSource.WEB,
        "status": LeadStatus.SALES_QUALIFIED,
        "current_situation": "Firewalls at end of life",
        "score": 40,
    }


class StatementCounter:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, *_args: Any) -> None:
        self.count += 1


async def drive(database_url: str, key_file: Path, world: TankWorld, report: Report, per_group: int) -> None:
    settings = load_settings(
        {},
        database_url=database_url,
        jwt_private_key_file=str(key_file),
        secret_key="tank-bench-" + "x" * 40,
        run_scheduler=False,
    )
    app = create_app(settings)
    counter = StatementCounter()
    engine = app.state.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", counter)
    token = app.state.tokens.issue(str(world.admin.user_id), world.admin.claims())
    headers = {"Authorization": f"Bearer {token}"}
    figures = {name: Figures() for name in world.groups}
    leads = iter(world.leads)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://prm.bench") as client:
            for turn in range(WARMUP + per_group):
                for name, (group_id, _) in world.groups.items():
                    body = {"expected_version": 1, "target_kind": "shark_tank", "group_id": str(group_id)}
                    url = f"{API}/leads/{next(leads)}/route"
                    counter.count, cpu, wall = 0, time.process_time(), time.perf_counter()
                    reply = await client.post(url, json=body, headers=headers)
                    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                    if reply.status_code != 200 or reply.json()["outcome"] != "offered_to_group":
                        sys.exit(f"route into {name} failed: {reply.status_code} {reply.text[:500]}")
                    if turn >= WARMUP:
                        figures[name].cpu.append(cpu)
                        figures[name].wall.append(wall)
                        figures[name].statements.append(counter.count)
        await _check(app, world, per_group + WARMUP)
    finally:
        event.remove(engine, "before_cursor_execute", counter)
        await app.state.runtime.close()
    _print(report, world, figures)


async def _check(app: Any, world: TankWorld, routes: int) -> None:
    """Every route made one offer, a candidate row per member and an email to each member's admin."""
    members = sum(size for _, size in world.groups.values())
    async with app.state.db.session() as session:
        offers = await session.scalar(select(func.count()).select_from(LeadOffer))
        candidates = await session.scalar(select(func.count()).select_from(OfferCandidate))
        emails = await session.scalar(select(func.count()).select_from(OutboxMessage))
    expected = (routes * len(world.groups), routes * members, routes * members)
    if (offers, candidates, emails) != expected:
        sys.exit(f"rows written (offers, candidates, emails) {(offers, candidates, emails)}, expected {expected}")


def _print(report: Report, world: TankWorld, figures: dict[str, Figures]) -> None:
    for name, found in figures.items():
        size = world.groups[name][1]
        report.figure(f"{name}.partners", size, "partners")
        report.figure(f"{name}.routes", len(found.cpu), "routes")
        report.figure(f"{name}.cpu_per_route.median", 1000 * statistics.median(found.cpu), "ms")
        report.figure(f"{name}.cpu_per_route.mean", 1000 * statistics.fmean(found.cpu), "ms")
        report.figure(f"{name}.wall_per_route.median", 1000 * statistics.median(found.wall), "ms")
        report.figure(f"{name}.statements_per_route.max", max(found.statements), "statements")
    tank, floor = figures["tank"], figures["floor"]
    extra = world.groups["tank"][1] - world.groups["floor"][1]
    per_partner = (statistics.median(tank.cpu) - statistics.median(floor.cpu)) / extra
    report.figure("cpu_per_member", 1e6 * per_partner, "us")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 routes per group")
    parser.add_argument("--postgresql", action="store_true", help="a fresh PostgreSQL database instead of SQLite")
    parser.add_argument("--partners", type=int, default=1000)
    parser.add_argument("--routes", type=int, default=40, help="routes measured per group")
    args = parser.parse_args(argv)
    per_group = 10 if args.quick else args.routes
    kind = "postgresql" if args.postgresql else "sqlite"
    report = Report("tank_route", {"database": kind, "partners": args.partners, "routes_per_group": per_group})
    with workdir() as folder, fresh_database(kind, folder) as url:
        key_file = folder / "jwt.pem"
        key_file.write_text(generate_private_key_pem())
        upgrade_database(url)
        world = asyncio.run(seed(url, partners=args.partners, leads=2 * (WARMUP + per_group)))
        asyncio.run(drive(url, key_file, world, report, per_group))
    report.finish()


if __name__ == "__main__":
    main()
