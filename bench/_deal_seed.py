"""Seeding for the deal registration bench: a book of registrations written straight into the
tables, COPY on PostgreSQL and multi-row INSERTs on SQLite.

The book looks like a channel program after a few years: registrations spread over many
partners, customers (a few big ones attract many registrations) and every state, with their
product lines; accounts carrying
normalised names and domains, and opportunities on them, direct and through partners. One
channel manager manages a third of the partners, so their review queue is long.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache
from operator import itemgetter
from typing import Any

import asyncpg
from sqlalchemy import JSON, Table, select, update
from sqlalchemy.engine import make_url

from bench._harness import Seeder
from prm.core.auth import Role
from prm.core.db import new_id
from prm.core.tenancy import channel_manager_partners
from prm.core.webhooks import WebhookEndpoint
from prm.crm.models import Account, AccountKind, Opportunity, OpportunityStage, Partner, PartnerTier, Product, User
from prm.crm.normalize import normalize_company
from prm.deal_registration.models import (
    DealProgram,
    DealRegistration,
    ProofStatus,
    RegistrationProduct,
    RegistrationState,
    RejectionReason,
)

CHUNK = 20_000
PROTECTION = timedelta(days=90)
REMINDER = timedelta(days=14)
REVIEW = timedelta(hours=48)
# Share of each state in the book (per mille).
STATE_MIX = {
    RegistrationState.DRAFT: 50,
    RegistrationState.SUBMITTED: 100,
    RegistrationState.APPROVED: 250,
    RegistrationState.REJECTED: 100,
    RegistrationState.EXPIRED: 250,
    RegistrationState.WON: 150,
    RegistrationState.LOST: 70,
    RegistrationState.CANCELLED: 30,
}
DECIDED = (RegistrationState.APPROVED, RegistrationState.EXPIRED, RegistrationState.WON, RegistrationState.LOST)
OPEN_STAGES = [s for s in OpportunityStage if not s.is_closed]
CLOSED_STAGES = [s for s in OpportunityStage if s.is_closed]
LEGAL_SUFFIXES = ["", " GmbH", " Inc.", " Ltd", ", LLC", " AG", " Corporation", " S.A."]
FIRST_WORDS = ["Northwind", "Contoso", "Fabrikam", "Tailspin", "Litware", "Adatum", "Proseware", "Wingtip"]
SECOND_WORDS = ["Logistics", "Health", "Energy", "Retail", "Systems", "Foods", "Motors", "Capital", "Labs"]


# --- writing rows -----------------------------------------------------------------------------


def _chunks(rows: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class BulkWriter:
    """Rows (column -> value dicts) into a table: COPY on PostgreSQL, executemany on SQLite."""

    def __init__(self, seeder: Seeder, database_url: str) -> None:
        self.seeder = seeder
        self._url = make_url(database_url)
        self._copy: asyncpg.Connection | None = None

    async def open(self) -> None:
        if self._url.get_backend_name() == "postgresql":
            dsn = self._url.set(drivername="postgresql").render_as_string(hide_password=False)
            self._copy = await asyncpg.connect(dsn)
            # The seed is consistent by construction; checking each foreign key row by row
            # would only make seeding a million rows slower.
            await self._copy.execute("SET session_replication_role = replica")

    async def close(self) -> None:
        if self._copy is not None:
            await self._copy.close()

    async def write(self, table: Table | Any, rows: Iterable[dict[str, Any]]) -> int:
        target: Table = table if isinstance(table, Table) else table.__table__
        written = 0
        for chunk in _chunks(rows, CHUNK):
            if self._copy is None:
                await self.seeder.insert(target, chunk)
            else:
                await self._copy_chunk(target, chunk)
            written += len(chunk)
        return written

    async def _copy_chunk(self, table: Table, chunk: list[dict[str, Any]]) -> None:
        """Binary COPY: asyncpg takes enums (str subclasses) as they are; JSON goes as text."""
        assert self._copy is not None
        columns = list(chunk[0])
        for column in (c.name for c in table.columns if isinstance(c.type, JSON) and c.name in chunk[0]):
            for row in chunk:
                row[column] = json.dumps(row[column])
        values = itemgetter(*columns)
        records = [values(row) for row in chunk] if len(columns) > 1 else [(values(row),) for row in chunk]
        await self._copy.copy_records_to_table(table.name, records=records, columns=columns)


# --- who and what -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Customer:
    name: str
    normalized: str
    domain: str


@cache
def customer(index: int) -> Customer:
    """The index-th customer of the book: a stable name, its normalised form and a web domain."""
    first = FIRST_WORDS[index % len(FIRST_WORDS)]
    second = SECOND_WORDS[(index // len(FIRST_WORDS)) % len(SECOND_WORDS)]
    name = f"{first} {second} {index}"
    return Customer(name, normalize_company(name), f"{first}{second}{index}.example".lower())


def skewed(rng: random.Random, size: int) -> int:
    """0..size-1, low indexes far more often: a few big customers, a long tail."""
    return int(size * rng.random() ** 2)


def popular(rng: random.Random, items: list[Any], count: int) -> list[Any]:
    """`count` different items, the first ones (a vendor's flagship products) far more often."""
    chosen: dict[int, Any] = {}
    while len(chosen) < min(count, len(items)):
        index = skewed(rng, len(items))
        chosen[index] = items[index]
    return list(chosen.values())


@dataclass
class DealWorld:
    """What the seed made, for the load and for checking the figures."""

    program_id: uuid.UUID
    product_ids: list[uuid.UUID]
    partner_ids: list[uuid.UUID]
    user_of_partner: dict[uuid.UUID, uuid.UUID]
    sellers: list[str]  # one partner user per partner, in partner order
    manager: str  # the channel manager of many partners (the review queue figure)
    managed_partner_ids: list[uuid.UUID]
    customers: int
    registrations: int = 0
    opportunities: int = 0
    accounts: int = 0
    queue_rows: int = 0  # submitted registrations of the managed partners
    counts: dict[str, int] = field(default_factory=dict)


# --- seeding ----------------------------------------------------------------------------------


class BookSeeder:
    """Writes the book; `world` describes what was written."""

    def __init__(self, seeder: Seeder, writer: BulkWriter, rng: random.Random) -> None:
        self.seeder = seeder
        self.writer = writer
        self.rng = rng
        self.now = seeder.now

    def _days(self, low: float, high: float) -> timedelta:
        return timedelta(days=self.rng.uniform(low, high))

    async def people(
        self, partners: int, managed: int
    ) -> tuple[list[uuid.UUID], list[str], dict[uuid.UUID, uuid.UUID]]:
        """Partners with one partner user each; two channel managers; a vendor admin."""
        tiers = [PartnerTier.GOLD, PartnerTier.SILVER, PartnerTier.PLATINUM, PartnerTier.REGISTERED]
        rows = [
            {
                **self.seeder.stamps(timedelta(days=800)),
                "name": f"Bench Partner {i:04d}",
                "tier": tiers[i % 4],
                "country": "DE",
                "region": None,
                "website": None,
                "active": True,
            }
            for i in range(partners)
        ]
        await self.writer.write(Partner, rows)
        partner_ids = [row["id"] for row in rows]
        sellers = [
            await self.seeder.user(f"seller{i:04d}@bench.example", Role.PARTNER_USER, partner_id)
            for i, partner_id in enumerate(partner_ids)
        ]
        for email in ("manager@bench.example", "manager2@bench.example"):
            await self.seeder.user(email, Role.CHANNEL_MANAGER)
        await self.seeder.user("admin@bench.example", Role.VENDOR_ADMIN)
        async with self.seeder.engine.connect() as connection:
            ids = {row.email: row.id for row in await connection.execute(select(User.email, User.id))}
        managers = [
            ids["manager@bench.example"] if i < managed else ids["manager2@bench.example"] for i in range(partners)
        ]
        await self.writer.write(
            channel_manager_partners,
            ({"user_id": m, "partner_id": p} for m, p in zip(managers, partner_ids, strict=True)),
        )
        return partner_ids, sellers, {p: ids[s] for p, s in zip(partner_ids, sellers, strict=True)}

    async def catalog(self, products: int) -> tuple[uuid.UUID, list[uuid.UUID]]:
        """One program every tier may use, its products, and a webhook subscriber to every event."""
        program = {
            **self.seeder.stamps(timedelta(days=800)),
            "name": "Bench Deal Registration",
            "description": "",
            "active": True,
            "margin_bps": 300,
            "benefits": "3% additional margin",
            "required_fields": ["products", "estimated_amount_minor", "expected_close_date"],
            "eligible_tiers": [t.value for t in PartnerTier],
            "min_deal_minor": 0,
            "currency": "EUR",
            "review_hours": 48,
            "protection_days": 90,
            "reminder_days": 14,
            "extension_days": 30,
            "max_extensions": 1,
            "max_resubmissions": 2,
        }
        await self.writer.write(DealProgram, [program])
        rows = [
            {
                **self.seeder.stamps(timedelta(days=800)),
                "sku": f"BENCH-{i:03d}",
                "name": f"Bench product {i}",
                "family": None,
                "list_price_minor": 1_000_00 * (1 + i % 7),
                "currency": "EUR",
                "active": True,
            }
            for i in range(products)
        ]
        await self.writer.write(Product, rows)
        hook = {
            **self.seeder.stamps(),
            "url": "http://127.0.0.1:9/bench-webhook",
            "secret": "whsec_bench",
            "event_types": ["*"],
            "active": True,
            "description": "bench subscriber (never delivered to)",
        }
        await self.writer.write(WebhookEndpoint, [hook])
        return program["id"], [row["id"] for row in rows]

    async def accounts(
        self, customers: int, partner_ids: list[uuid.UUID]
    ) -> list[tuple[uuid.UUID, uuid.UUID | None, int]]:
        """Accounts for four in five customers of the book, and a quarter as many other companies.

        Returns (account id, owning partner or None for the vendor, customer index) in an order
        where the book's customers come first, so skewed picks favour the big customers."""
        made: list[tuple[uuid.UUID, uuid.UUID | None, int]] = []

        def rows() -> Iterator[dict[str, Any]]:
            indexes = [k for k in range(customers) if k % 5 != 4] + list(range(customers, customers + customers // 4))
            for k in indexes:
                company = customer(k)
                owner = None if self.rng.random() < 0.3 else self.rng.choice(partner_ids)
                row = {
                    **self.seeder.stamps(self._days(30, 900)),
                    "name": company.name + " GmbH",
                    "normalized_name": company.normalized,
                    "domain": company.domain,
                    "website": f"https://www.{company.domain}",
                    "country": "DE",
                    "industry": None,
                    "employees": None,
                    "kind": AccountKind.CUSTOMER,
                    "partner_id": owner,
                }
                made.append((row["id"], owner, k))
                yield row

        await self.writer.write(Account, rows())
        return made

    async def opportunities(
        self, count: int, accounts: list[tuple[uuid.UUID, uuid.UUID | None, int]], partner_ids: list[uuid.UUID]
    ) -> dict[int, tuple[uuid.UUID, uuid.UUID | None]]:
        """`count` opportunities over the accounts, three in five open; returns, per customer
        index, one open opportunity (what a submit for that customer conflicts with)."""
        open_of: dict[int, tuple[uuid.UUID, uuid.UUID | None]] = {}

        def rows() -> Iterator[dict[str, Any]]:
            for _ in range(count):
                account_id, owner, k = accounts[skewed(self.rng, len(accounts))]
                partner = owner if owner or self.rng.random() < 0.5 else self.rng.choice(partner_ids)
                is_open = self.rng.random() < 0.6
                stage = self.rng.choice(OPEN_STAGES if is_open else CLOSED_STAGES)
                created = self.now - self._days(1, 730)
                row = {
                    **self.seeder.stamps(),
                    "created_at": created,
                    "updated_at": created,
                    "name": f"Opportunity {self.rng.randrange(10**9)}",
                    "account_id": account_id,
                    "partner_id": partner,
                    "stage": stage,
                    "amount_minor": self.rng.randrange(1_000_00, 900_000_00),
                    "currency": "EUR",
                    "close_date": date(2027, 1, 1) + timedelta(days=self.rng.randrange(365)),
                    "owner_id": None,
                    "lead_source": None,
                    "closed_at": None if is_open else created + self._days(1, 90),
                    "protected_until": None,
                    "protection_lapsed_at": None,
                }
                if is_open:
                    open_of.setdefault(k, (row["id"], partner))
                yield row

        await self.writer.write(Opportunity, rows())
        return open_of

    def _clocks(self, state: RegistrationState) -> tuple[datetime, dict[str, Any]]:
        """When the registration was made, and the clock columns its state implies."""
        if state is RegistrationState.DRAFT:
            return self.now - self._days(0, 30), {}
        if state is RegistrationState.SUBMITTED:
            submitted = self.now - self._days(0, 14)
            due = submitted + REVIEW
            overdue = due if due <= self.now else None
            return submitted - self._days(0, 0.1), {
                "submitted_at": submitted,
                "review_due_at": due,
                "overdue_at": overdue,
            }
        if state in DECIDED:
            # Live approvals spread over the protection period: about one in six is past its
            # reminder (sent), as in a program in steady state.
            recent = state is RegistrationState.APPROVED
            approved = self.now - (self._days(1, 89) if recent else self._days(95, 700))
            return self._approved_clocks(approved, state)
        submitted = self.now - self._days(3, 700)
        clocks: dict[str, Any] = {"submitted_at": submitted, "review_due_at": submitted + REVIEW}
        if state is RegistrationState.REJECTED:
            clocks.update(
                decided_at=submitted + self._days(0.1, 3),
                rejection_reason=self.rng.choice(list(RejectionReason)),
                decision_note="Rejected in the bench seed.",
            )
        return submitted - self._days(0, 0.1), clocks

    def _approved_clocks(self, approved: datetime, state: RegistrationState) -> tuple[datetime, dict[str, Any]]:
        submitted = approved - self._days(0.05, 3)
        expires = approved + PROTECTION
        remind = expires - REMINDER
        clocks: dict[str, Any] = {
            "submitted_at": submitted,
            "review_due_at": submitted + REVIEW,
            "decided_at": approved,
            "approved_at": approved,
            "expires_at": expires,
            "remind_at": remind,
            "reminder_sent_at": remind if remind <= self.now else None,
        }
        if state is RegistrationState.EXPIRED:
            clocks["expired_at"] = expires
        if state in (RegistrationState.WON, RegistrationState.LOST):
            clocks["closed_at"] = approved + self._days(1, 85)
        if state is RegistrationState.WON:
            clocks.update(won_amount_minor=self.rng.randrange(1_000_00, 900_000_00), proof_status=ProofStatus.VERIFIED)
        return submitted - self._days(0, 0.1), clocks

    def registration(
        self,
        number: str,
        state: RegistrationState,
        partner_id: uuid.UUID,
        user_id: uuid.UUID,
        k: int,
        program_id: uuid.UUID,
        clocks: tuple[datetime, dict[str, Any]],
    ) -> dict[str, Any]:
        """One registrations row with every column present (COPY and executemany want the same keys)."""
        company = customer(k)
        has_domain = self.rng.random() < 0.9
        created, columns = clocks
        row: dict[str, Any] = dict.fromkeys(c.name for c in DealRegistration.__table__.columns)
        row.update(
            id=new_id(),
            created_at=created,
            updated_at=created,
            version=2,
            number=number,
            program_id=program_id,
            partner_id=partner_id,
            submitted_by_id=user_id,
            state=state,
            customer_name=company.name + self.rng.choice(LEGAL_SUFFIXES),
            customer_normalized=company.normalized,
            customer_domain=company.domain if has_domain else None,
            customer_website=f"https://www.{company.domain}" if has_domain else None,
            customer_country="DE",
            contact_name="Bench Buyer",
            contact_email=f"buyer{k}@{company.domain}" if has_domain else None,
            estimated_amount_minor=self.rng.randrange(1_000_00, 900_000_00),
            currency="EUR",
            current_situation="Seeded for the benchmark.",
            expected_close_date=date(2027, 1, 1) + timedelta(days=self.rng.randrange(365)),
            extensions_used=0,
            resubmission_number=0,
            proof_status=ProofStatus.NONE,
        )
        row.update(columns)
        return row

    def _lines(self, registration_id: uuid.UUID, products: list[uuid.UUID]) -> list[dict[str, Any]]:
        chosen = popular(self.rng, products, self.rng.choice((1, 1, 2, 3)))
        return [
            {"registration_id": registration_id, "product_id": p, "quantity": self.rng.randrange(1, 200)}
            for p in chosen
        ]

    async def book(self, world: DealWorld, count: int) -> None:
        """`count` registrations in every state and their product lines (their conflicts are
        computed when they are read, from the registrations and opportunities of the customer)."""
        states, weights = list(STATE_MIX), list(STATE_MIX.values())
        managed = set(world.managed_partner_ids)
        for start in range(0, count, CHUNK):
            registrations, lines = [], []
            for i in range(start, min(start + CHUNK, count)):
                state = self.rng.choices(states, weights)[0]
                partner_id = world.partner_ids[skewed(self.rng, len(world.partner_ids))]
                k = skewed(self.rng, world.customers)
                row = self.registration(
                    f"DR-B{i:09d}",
                    state,
                    partner_id,
                    world.user_of_partner[partner_id],
                    k,
                    world.program_id,
                    self._clocks(state),
                )
                registrations.append(row)
                lines.extend(self._lines(row["id"], world.product_ids))
                if state is RegistrationState.SUBMITTED:
                    world.queue_rows += partner_id in managed
                world.counts[state.value] = world.counts.get(state.value, 0) + 1
            await self.writer.write(DealRegistration, registrations)
            await self.writer.write(RegistrationProduct, lines)
        world.registrations += count

    async def due(self, world: DealWorld, count: int, purpose: str) -> list[uuid.UUID]:
        """`count` approved registrations whose timer fell due while nobody ran it.

        purpose "expire": expires_at passed (each protecting an open partner opportunity);
        purpose "remind": the reminder is due, the protection still runs."""
        opportunities: list[tuple[uuid.UUID, uuid.UUID]] = []
        if purpose == "expire":
            async with self.seeder.engine.connect() as connection:
                stmt = select(Opportunity.id, Opportunity.partner_id).where(
                    Opportunity.partner_id.is_not(None), Opportunity.stage.in_(OPEN_STAGES)
                )
                opportunities = [(r.id, r.partner_id) for r in await connection.execute(stmt.limit(count))]
        prefix = {"expire": "E", "remind": "M"}[purpose]
        made: list[uuid.UUID] = []

        def rows() -> Iterator[dict[str, Any]]:
            for i in range(count):
                if purpose == "expire":
                    expires = self.now - self._days(0.001, 3)
                else:
                    expires = self.now + REMINDER - self._days(0.001, 3)
                opportunity_id, partner_id = opportunities[i] if i < len(opportunities) else (None, None)
                partner_id = partner_id or world.partner_ids[skewed(self.rng, len(world.partner_ids))]
                created, clocks = self._approved_clocks(expires - PROTECTION, RegistrationState.APPROVED)
                clocks["reminder_sent_at"] = clocks["remind_at"] if purpose == "expire" else None
                row = self.registration(
                    f"DR-{prefix}{i:09d}",
                    RegistrationState.APPROVED,
                    partner_id,
                    world.user_of_partner[partner_id],
                    skewed(self.rng, world.customers),
                    world.program_id,
                    (created, clocks),
                )
                row["opportunity_id"] = opportunity_id
                made.append(row["id"])
                yield row

        await self.writer.write(DealRegistration, rows())
        if opportunities:
            await self._protect([o for o, _ in opportunities])
        return made

    async def _protect(self, opportunity_ids: list[uuid.UUID]) -> None:
        """The opportunities the expiring registrations protect are marked protected."""
        async with self.seeder.engine.begin() as connection:
            for start in range(0, len(opportunity_ids), CHUNK):
                chunk = opportunity_ids[start : start + CHUNK]
                await connection.execute(
                    update(Opportunity)
                    .where(Opportunity.id.in_(chunk))
                    .values(protected_until=self.now, protection_lapsed_at=None)
                )


async def seed_book(
    database_url: str, *, registrations: int, opportunities: int, partners: int, managed: int, products: int, seed: int
) -> DealWorld:
    """The whole book: people, catalog, accounts, opportunities, registrations; then ANALYZE."""
    seeder = Seeder(database_url)
    writer = BulkWriter(seeder, database_url)
    await writer.open()
    try:
        book = BookSeeder(seeder, writer, random.Random(seed))
        partner_ids, sellers, user_of_partner = await book.people(partners, managed)
        program_id, product_ids = await book.catalog(products)
        world = DealWorld(
            program_id=program_id,
            product_ids=product_ids,
            partner_ids=partner_ids,
            user_of_partner=user_of_partner,
            sellers=sellers,
            manager="manager@bench.example",
            managed_partner_ids=partner_ids[:managed],
            customers=max(registrations // 4, 50),
        )
        accounts = await book.accounts(world.customers, partner_ids)
        world.accounts = len(accounts)
        await book.opportunities(opportunities, accounts, partner_ids)
        world.opportunities = opportunities
        await book.book(world, registrations)
        await seeder.analyze()
        return world
    finally:
        await writer.close()
        await seeder.close()


async def seed_due(database_url: str, world: DealWorld, count: int, purpose: str, seed: int) -> list[uuid.UUID]:
    seeder = Seeder(database_url)
    writer = BulkWriter(seeder, database_url)
    await writer.open()
    try:
        made = await BookSeeder(seeder, writer, random.Random(seed)).due(world, count, purpose)
        await seeder.analyze()
        return made
    finally:
        await writer.close()
        await seeder.close()
