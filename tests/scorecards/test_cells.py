"""The maintained aggregates (scorecard cells) equal a rebuild from the records after a mixed set
of writes through the API, some of them concurrent, whether their delta rows are compacted or
not; writers of one cell do not wait on each other, and a compaction beside an open writer
loses nothing.

The cells are kept by PostgreSQL triggers, so this module always runs on PostgreSQL: its own
throwaway database on the server of PRM_TEST_DATABASE_URL (127.0.0.1:5432 when unset), whatever
database the rest of the run uses.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from litestar import Litestar
from sqlalchemy import text
from sqlalchemy.engine import make_url

from prm.cli import upgrade_database
from prm.core.clock import ManualClock
from prm.models import metadata
from prm.scorecards import rollups
from tests.conftest import EMPTY_EVERY_TABLE, World, _pg_admin
from tests.deal_registration.conftest import Catalog, registration_body
from tests.lead_distribution.conftest import API as DISTRIBUTION
from tests.lead_distribution.conftest import Setup, offers_for, ok, qualified_lead, route, setup  # noqa: F401

# PostgreSQL only (its triggers keep the cells): once, in the PostgreSQL pass of `make test`.
pytestmark = pytest.mark.postgres_pass
SERVER = os.environ.get("PRM_TEST_DATABASE_URL") or "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
CONCURRENT = 8


@pytest.fixture(scope="module")
def postgres_database() -> Iterator[str]:
    name = f"prm_cells_{uuid.uuid4().hex[:10]}"
    asyncio.run(_pg_admin(SERVER, f'CREATE DATABASE "{name}"'))
    url = make_url(SERVER).set(database=name).render_as_string(hide_password=False)
    upgrade_database(url)
    yield url
    asyncio.run(_pg_admin(SERVER, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def database_url(postgres_database: str) -> str:
    asyncio.run(_pg_admin(postgres_database, EMPTY_EVERY_TABLE))
    return postgres_database


async def cells(world: World) -> dict[str, set[tuple[Any, ...]]]:
    """Every non-empty cell of each table (its key's rows summed), as comparable tuples: the key's
    columns, then the sums."""
    found: dict[str, set[tuple[Any, ...]]] = {}
    async with world.db.unit_of_work() as session:
        for table, (keys, measures) in rollups.CELL_KEYS.items():
            key = ", ".join(keys)
            sums = ", ".join(f"sum({m})" for m in measures)
            nonzero = " OR ".join(f"sum({m}) <> 0" for m in measures)
            statement = f"SELECT {key}, {sums} FROM {table} GROUP BY {key} HAVING {nonzero}"
            found[table] = {tuple(row) for row in await session.execute(text(statement))}
    return found


async def compacted(world: World) -> dict[str, set[tuple[Any, ...]]]:
    """The cells after a compaction, which leaves one row per non-empty cell."""
    async with world.db.unit_of_work() as session:
        await rollups.compact(session)
    found = await cells(world)
    async with world.db.unit_of_work() as session:
        for table in rollups.CELL_TABLES:
            rows = (await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()
            assert rows == len(found[table]), table
    return found


async def rebuilt(world: World) -> dict[str, set[tuple[Any, ...]]]:
    async with world.db.unit_of_work() as session:
        await rollups.rebuild(session)
    return await cells(world)


async def assert_exact(world: World) -> dict[str, set[tuple[Any, ...]]]:
    """The cells as the triggers left them equal the cells compacted, and a rebuild's."""
    kept = await cells(world)
    assert kept == await compacted(world)
    assert kept == await rebuilt(world)
    return kept


async def opportunity(client: httpx.AsyncClient, world: World, account: str, **fields: Any) -> dict[str, Any]:
    body = {"name": "Deal", "account_id": account, "amount_minor": 10_000, "currency": "USD"} | fields
    result: dict[str, Any] = await ok(
        await client.post("/api/v1/opportunities", json=body, headers=world.admin.headers), 201
    )
    return result


async def change(client: httpx.AsyncClient, world: World, deal: dict[str, Any], **fields: Any) -> dict[str, Any]:
    body = {"expected_version": deal["version"], **fields}
    url = f"/api/v1/opportunities/{deal['id']}"
    result: dict[str, Any] = await ok(await client.patch(url, json=body, headers=world.admin.headers))
    return result


async def opportunity_writes(client: httpx.AsyncClient, world: World, clock: ManualClock) -> None:
    account = (
        await ok(await client.post("/api/v1/accounts", json={"name": "Initech"}, headers=world.admin.headers), 201)
    )["id"]
    partner = str(world.partner_a)
    won = await opportunity(client, world, account, stage="Closed Won", partner_id=partner, amount_minor=50_000)
    open_deal = await opportunity(client, world, account, stage="Proposal", close_date="2026-05-20")
    euro = await opportunity(client, world, account, stage="Negotiation", currency="EUR", partner_id=partner)
    moving = await opportunity(client, world, account, stage="Prospecting", partner_id=partner)
    clock.advance(timedelta(days=40))
    await change(client, world, won, amount_minor=55_000)
    await change(client, world, open_deal, stage="Closed Lost")
    moving = await change(client, world, moving, stage="Negotiation", close_date="2026-06-10")
    await change(client, world, moving, stage="Closed Won")
    await change(client, world, euro, close_date="2026-07-01", amount_minor=7_000)
    # Concurrent writers landing in the same cells: each adds its own delta, none is lost.
    same_cell = [
        opportunity(client, world, account, stage="Proposal", amount_minor=1_000 + n) for n in range(CONCURRENT)
    ]
    created = await asyncio.gather(*same_cell)
    await asyncio.gather(*(change(client, world, deal, stage="Closed Won") for deal in created[: CONCURRENT // 2]))


async def deal_catalog(client: httpx.AsyncClient, world: World, setup: Setup) -> Catalog:  # noqa: F811
    """A deal registration program over the lead programme's products."""
    body = {"name": "Deal registration", "margin_bps": 500, "currency": "USD", "required_fields": [],
            "eligible_tiers": ["gold", "silver"]}  # fmt: skip
    program = await ok(await client.post("/api/v1/deal-programs", json=body, headers=world.admin.headers), 201)
    return Catalog(program=program, product_ids=list(setup.products.values()))


async def registration_writes(client: httpx.AsyncClient, world: World, catalog: Catalog) -> None:
    api = "/api/v1/deal-registrations"

    async def submit(n: int) -> dict[str, Any]:
        body = registration_body(catalog, customer_name=f"Customer {n}", customer_website=f"https://c{n}.example")
        result: dict[str, Any] = await ok(await client.post(api, json=body, headers=world.pa_user.headers), 201)
        return result

    submitted = await asyncio.gather(*(submit(n) for n in range(CONCURRENT)))
    decisions = [
        client.post(f"{api}/{r['id']}/approve", json={"expected_version": r["version"]}, headers=world.cm_a.headers)
        for r in submitted[:3]
    ]
    for reply in await asyncio.gather(*decisions):
        assert reply.status_code == 200, reply.text


async def lead_writes(client: httpx.AsyncClient, world: World) -> None:
    leads = await asyncio.gather(*(qualified_lead(client, world.cm_a, source="web") for _ in range(4)))
    await qualified_lead(client, world.cm_a, source="referral")
    for lead in leads:
        target = {"target_kind": "partner_user", "user_id": str(world.pa_user.user_id)}
        await ok(await route(client, world.cm_a, lead, **target))
    offers = await offers_for(client, world.pa_admin, status="open")
    assert len(offers) == len(leads)
    # Offers accepted at once (touched within the hour) and one declined, concurrently.
    accepts = [
        client.post(f"{DISTRIBUTION}/offers/{o['id']}/accept", headers=world.pa_user.headers) for o in offers[:3]
    ]
    decline = client.post(
        f"{DISTRIBUTION}/offers/{offers[3]['id']}/decline",
        json={"reason": "no_capacity"},
        headers=world.pa_user.headers,
    )
    for reply in await asyncio.gather(*accepts, decline):
        assert reply.status_code == 200, reply.text


async def test_cells_kept_by_the_writes_equal_a_rebuild_from_the_records(
    client: httpx.AsyncClient,
    world: World,
    clock: ManualClock,
    setup: Setup,  # noqa: F811
) -> None:
    await opportunity_writes(client, world, clock)
    await registration_writes(client, world, await deal_catalog(client, world, setup))
    await lead_writes(client, world)
    kept = await assert_exact(world)
    assert all(kept.values()), kept  # every kind of cell was written to
    opportunities = {row[0]: 0 for row in kept["scorecard_opportunity_cells"]}
    for row in kept["scorecard_opportunity_cells"]:
        opportunities[row[0]] += row[4]
    half = CONCURRENT // 2
    # (each of the three approved registrations opened a protected deal in Prospecting)
    expected = {
        "Closed Won": 2 + half,
        "Closed Lost": 1,
        "Negotiation": 1,
        "Proposal": CONCURRENT - half,
        "Prospecting": 3,
    }
    assert opportunities == expected


async def test_a_rebuild_repairs_cells_that_drifted(
    client: httpx.AsyncClient, world: World, clock: ManualClock
) -> None:
    await opportunity_writes(client, world, clock)
    before = await cells(world)
    async with world.db.unit_of_work() as session:
        await session.execute(text("UPDATE scorecard_opportunity_cells SET opportunities = opportunities + 5"))
    assert await cells(world) != before
    assert await rebuilt(world) == before


WAITING_ON_A_LOCK = text(
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
)


async def blocked_on_a_lock(world: World) -> None:
    """Wait (without sleeping: one query after another) until a session of this database waits on
    a row lock, so the race below is the one meant: the second writer really waits for the first."""
    async with world.db.engine.connect() as watcher:
        for _ in range(10_000):
            if (await watcher.execute(WAITING_ON_A_LOCK)).scalar_one():
                return
            await watcher.rollback()
    raise AssertionError("the second writer never waited for the first")


async def waited_on_a_lock(world: World, task: asyncio.Task[Any]) -> bool:
    """Watch (one query after another, no sleeping) until `task` is done (False) or a session of
    this database waits on a lock (True: the task is blocked by a transaction left open)."""
    async with world.db.engine.connect() as watcher:
        for _ in range(10_000):
            if task.done():
                return False
            if (await watcher.execute(WAITING_ON_A_LOCK)).scalar_one():
                return True
            await watcher.rollback()
    raise AssertionError("the task neither finished nor waited")


async def side_by_side(world: World, first: list[str], second: list[str], **params: Any) -> bool:
    """`first` in a transaction left open, then `second` in another, committed; then the first
    commits. Whether the second waited on a lock of the first."""
    async with world.db.engine.connect() as one, world.db.engine.connect() as two:
        for statement in first:
            await one.execute(text(statement), params)

        async def other() -> None:
            for statement in second:
                await two.execute(text(statement), params)
            await two.commit()

        task = asyncio.create_task(other())
        waited = await waited_on_a_lock(world, task)
        await one.commit()
        await task
    return waited


async def race(world: World, first: str, second: str, **params: Any) -> None:
    """`first` in a transaction left open, `second` in another (blocked by the first's lock), then both commit."""
    async with world.db.engine.connect() as one, world.db.engine.connect() as two:
        await one.execute(text(first), params)

        async def other() -> None:
            await two.execute(text(second), params)
            await two.commit()

        waiting = asyncio.create_task(other())
        await blocked_on_a_lock(world)
        await one.commit()
        await waiting


async def program_opportunities(world: World, stage: str = "Prospecting") -> int:
    """The opportunities in the program cells of a stage."""
    async with world.db.unit_of_work() as session:
        statement = text("SELECT coalesce(sum(opportunities), 0) FROM scorecard_program_opportunity_cells"
                         " WHERE stage = :stage")  # fmt: skip
        return int((await session.execute(statement, {"stage": stage})).scalar_one())


async def test_program_cells_stay_exact_when_links_race(
    client: httpx.AsyncClient,
    world: World,
    setup: Setup,  # noqa: F811
) -> None:
    """Two registrations of one program linked to one opportunity at once (and two in one
    statement) count it once; an opportunity moving while it is linked moves in the program."""
    await registration_writes(client, world, await deal_catalog(client, world, setup))
    async with world.db.unit_of_work() as session:
        approved = (await session.execute(text(
            "SELECT id, opportunity_id FROM deal_registrations WHERE opportunity_id IS NOT NULL ORDER BY number"
        ))).all()  # fmt: skip
        waiting = (await session.execute(text(
            "SELECT id FROM deal_registrations WHERE opportunity_id IS NULL ORDER BY number"
        ))).scalars().all()  # fmt: skip
    (first, deal_a), (_, deal_b) = approved[0], approved[1]
    link = "UPDATE deal_registrations SET opportunity_id = :deal WHERE id = :registration"
    # Three approved registrations: three deals in Prospecting (A, B, C), each counted once.
    assert await program_opportunities(world) == 3
    # Deal A loses its registration, then two others link it at once: it is counted once.
    async with world.db.unit_of_work() as session:
        await session.execute(text(link), {"deal": None, "registration": first})
    assert await program_opportunities(world) == 2
    await race(world, link.replace(":registration", ":one"), link.replace(":registration", ":two"),
               deal=deal_a, one=waiting[0], two=waiting[1])  # fmt: skip
    assert await program_opportunities(world) == 3
    # Both unlinked at once: deal A is counted nowhere.
    unlink = "UPDATE deal_registrations SET opportunity_id = NULL WHERE id = :registration"
    await race(world, unlink.replace(":registration", ":one"), unlink.replace(":registration", ":two"),
               one=waiting[0], two=waiting[1])  # fmt: skip
    assert await program_opportunities(world) == 2
    # Two links in one statement (each row's trigger sees only the rows before it).
    async with world.db.unit_of_work() as session:
        statement = "UPDATE deal_registrations SET opportunity_id = :deal WHERE id IN (:one, :two)"
        await session.execute(text(statement), {"deal": deal_a, "one": waiting[2], "two": waiting[3]})
    assert await program_opportunities(world) == 3
    # The linked deal B moves on while another registration links it.
    await race(world, "UPDATE opportunities SET stage = 'Negotiation' WHERE id = :deal",
               link.replace(":registration", ":one"), deal=deal_b, one=waiting[4])  # fmt: skip
    assert (await program_opportunities(world), await program_opportunities(world, "Negotiation")) == (2, 1)
    kept = await assert_exact(world)
    assert sum(row[5] for row in kept["scorecard_program_opportunity_cells"]) == 3  # deals A, B and C


def copy_offer(offer: str, status: str, seconds: int | None, lead: str | None = None) -> str:
    """An INSERT of copies of an offer (other ids; of another lead if given) with this status and response time."""
    copied = [c.name for c in metadata.tables["lead_offers"].columns]
    columns = [name for name in copied if name not in ("id", "status", "response_seconds", "lead_id")]
    names = ", ".join(columns)
    lead_id = f"'{lead}'::uuid" if lead else "lead_id"
    return (
        f"INSERT INTO lead_offers (id, status, response_seconds, lead_id, {names})"  # column names from metadata
        f" SELECT gen_random_uuid(), '{status}', {'NULL' if seconds is None else seconds}, {lead_id}, {names}"
        f" FROM lead_offers, generate_series(1, :copies) WHERE id = '{offer}'"
    )


async def test_lead_program_cells_stay_exact_when_offers_race(
    client: httpx.AsyncClient,
    world: World,
    setup: Setup,  # noqa: F811
) -> None:
    """Two touching offers of one lead made at once, and two of another in one statement: each
    lead is counted once, touched, in the program and in the plain cells."""
    await lead_writes(client, world)
    async with world.db.unit_of_work() as session:
        declined = (await session.execute(text(
            "SELECT id, lead_id FROM lead_offers WHERE status = 'declined'"
        ))).one()  # fmt: skip
        never_routed = (await session.execute(text(
            "SELECT id FROM leads WHERE id NOT IN (SELECT lead_id FROM lead_offers)"
        ))).scalar_one()  # fmt: skip
    kept = await cells(world)
    assert sum(row[-1] for row in kept["scorecard_lead_cells"] if row[-2]) == 3  # accepted within the hour
    assert sum(row[-1] for row in kept["scorecard_program_lead_cells"]) == 4  # the routed ones
    touching = copy_offer(str(declined.id), "accepted", 60)
    await race(world, touching, touching, copies=1)
    async with world.db.unit_of_work() as session:
        await session.execute(text(copy_offer(str(declined.id), "accepted", 120, str(never_routed))), {"copies": 2})
    kept = await assert_exact(world)
    plain, program = kept["scorecard_lead_cells"], kept["scorecard_program_lead_cells"]
    assert (sum(row[-1] for row in plain), sum(row[-1] for row in plain if row[-2])) == (5, 5)
    assert (sum(row[-1] for row in program), sum(row[-1] for row in program if row[-2])) == (5, 5)


def copy_lead(lead: str, copy: str) -> str:
    """An INSERT of a copy of a lead under another id: the same plain cell as the original."""
    columns = ", ".join(c.name for c in metadata.tables["leads"].columns if c.name != "id")
    return f"INSERT INTO leads (id, {columns}) SELECT '{copy}'::uuid, {columns} FROM leads WHERE id = '{lead}'"


async def leads_in_one_cell(client: httpx.AsyncClient, world: World, count: int) -> list[str]:
    """A qualified lead made through the API and `count` copies of it: the same plain cell."""
    lead = await qualified_lead(client, world.cm_a, source="web")
    copies = [str(uuid.uuid4()) for _ in range(count)]
    async with world.db.unit_of_work() as session:
        for copy in copies:
            await session.execute(text(copy_lead(lead["id"], copy)))
    return [lead["id"], *copies]


async def test_writers_of_leads_in_one_cell_do_not_wait_on_each_other(
    client: httpx.AsyncClient,
    world: World,
    setup: Setup,  # noqa: F811
) -> None:
    """Two transactions each create a lead and disqualify another, all in the same cells: the
    second commits while the first is still open, without waiting for it."""
    lead, one, two = await leads_in_one_cell(client, world, 2)
    disqualify = "UPDATE leads SET status = 'disqualified' WHERE id = :lead"
    first = [copy_lead(lead, str(uuid.uuid4())), disqualify.replace(":lead", ":one")]
    second = [copy_lead(lead, str(uuid.uuid4())), disqualify.replace(":lead", ":two")]
    assert not await side_by_side(world, first, second, one=one, two=two)
    kept = await assert_exact(world)
    plain = kept["scorecard_lead_cells"]
    assert (sum(row[-1] for row in plain), sum(row[-1] for row in plain if not row[5])) == (5, 2)


async def test_a_compaction_beside_an_open_writer_keeps_the_totals_exact(
    client: httpx.AsyncClient,
    world: World,
    clock: ManualClock,
    app: Litestar,
    setup: Setup,  # noqa: F811
) -> None:
    """A writer's delta rows not yet committed when the compaction timer runs are not folded (nor
    waited for): they count once the writer commits, and the folded rows still count."""
    await opportunity_writes(client, world, clock)
    lead, other = await leads_in_one_cell(client, world, 1)
    before = await cells(world)
    async with world.db.engine.connect() as writer:
        await writer.execute(text(copy_lead(lead, str(uuid.uuid4()))))
        await writer.execute(text("UPDATE leads SET status = 'disqualified' WHERE id = :lead"), {"lead": other})
        await writer.execute(text("UPDATE opportunities SET amount_minor = amount_minor + 1"))
        compaction = asyncio.create_task(app.state.runtime.jobs.run("scorecards.compact_cells"))
        assert not await waited_on_a_lock(world, compaction)
        assert await compaction > 0  # the opportunities' rows were folded
        assert await cells(world) == before  # the writer's rows are not seen yet
        await writer.commit()
    kept = await assert_exact(world)
    assert kept != before
    plain = kept["scorecard_lead_cells"]
    assert (sum(row[-1] for row in plain), sum(row[-1] for row in plain if not row[5])) == (3, 1)
    amounts = sum(row[-1] for row in kept["scorecard_opportunity_cells"])
    assert amounts == sum(row[-1] for row in before["scorecard_opportunity_cells"]) + len(await opportunity_ids(world))


async def row_ids(world: World) -> dict[str, set[str]]:
    """Where each cell row lies (its ctid): a row rewritten moves, a row left alone stays."""
    async with world.db.unit_of_work() as session:
        return {
            table: {str(r) for r in (await session.execute(text(f"SELECT ctid FROM {table}"))).scalars()}
            for table in rollups.CELL_TABLES
        }


async def test_a_compaction_rewrites_only_the_cells_that_changed(
    client: httpx.AsyncClient, world: World, clock: ManualClock, app: Litestar
) -> None:
    await opportunity_writes(client, world, clock)
    assert await app.state.runtime.jobs.run("scorecards.compact_cells") > 0
    folded = await row_ids(world)
    assert await app.state.runtime.jobs.run("scorecards.compact_cells") == 0
    assert await row_ids(world) == folded  # a quiet minute writes nothing

    account = await ok(await client.post("/api/v1/accounts", json={"name": "Hooli"}, headers=world.admin.headers), 201)
    await opportunity(client, world, account["id"], stage="Proposal", amount_minor=1_000)  # a cell that has a row
    assert await app.state.runtime.jobs.run("scorecards.compact_cells") > 0
    after = await row_ids(world)
    table = "scorecard_opportunity_cells"
    assert len(folded[table] - after[table]) == 1  # that one cell's row was rewritten, no other
    for other in rollups.CELL_TABLES:
        if other != table:
            assert after[other] == folded[other], other
    await assert_exact(world)


async def opportunity_ids(world: World) -> list[str]:
    async with world.db.unit_of_work() as session:
        return [str(i) for i in (await session.execute(text("SELECT id FROM opportunities"))).scalars()]


async def test_a_claim_and_a_route_of_two_leads_in_one_cell_do_not_deadlock(
    client: httpx.AsyncClient,
    world: World,
    setup: Setup,  # noqa: F811
) -> None:
    """Leads A and B share a plain cell and a program; A has an open offer there. B's route offers
    it in the program (its program cell) then marks it routed (its plain cell); meanwhile A's offer
    is taken within the hour (A's plain cells, then its program cells). The cells take delta rows,
    no lock: the claim commits without waiting for the route, and neither deadlocks."""
    await lead_writes(client, world)
    async with world.db.unit_of_work() as session:
        declined = (await session.execute(text(
            "SELECT id FROM lead_offers WHERE status = 'declined' AND program_id IS NOT NULL"
        ))).scalar_one()  # fmt: skip
        never_routed = (await session.execute(text(
            "SELECT id FROM leads WHERE id NOT IN (SELECT lead_id FROM lead_offers)"
        ))).scalar_one()  # fmt: skip
        lead_a, lead_b = str(uuid.uuid4()), str(uuid.uuid4())
        for lead in (lead_a, lead_b):
            await session.execute(text(copy_lead(str(never_routed), lead)))
        await session.execute(text(copy_offer(str(declined), "open", None, lead_a)), {"copies": 1})
        offer_of_a = text("SELECT id FROM lead_offers WHERE lead_id = :lead")
        open_offer = (await session.execute(offer_of_a, {"lead": lead_a})).scalar_one()

    async with world.db.engine.connect() as route, world.db.engine.connect() as claim:
        await route.execute(text(copy_offer(str(declined), "open", None, lead_b)), {"copies": 1})

        async def take_within_the_hour() -> None:
            taken = "UPDATE lead_offers SET status = 'accepted', response_seconds = 60 WHERE id = :offer"
            await claim.execute(text(taken), {"offer": open_offer})
            await claim.commit()

        taking = asyncio.create_task(take_within_the_hour())
        assert not await waited_on_a_lock(world, taking)
        await route.execute(text("UPDATE leads SET status = 'routed' WHERE id = :lead"), {"lead": lead_b})
        await route.commit()
        await taking

    await assert_exact(world)
