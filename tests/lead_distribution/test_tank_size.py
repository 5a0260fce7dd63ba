"""A route into a shark-tank group writes in set-based statements: one offer, a candidate row per
eligible member and an email to each of their active admins, in as many SQL statements for a
group of 50 as for a group of 10."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from litestar import Litestar
from sqlalchemy import event, select

from prm.core.auth import Role
from prm.core.outbox import OutboxKind, OutboxMessage
from prm.crm.models import Partner, PartnerTier, User
from tests.conftest import START, Actor, World
from tests.lead_distribution.conftest import API, offers_for, ok, qualified_lead
from tests.lead_distribution.test_routing import rule
from tests.lead_distribution.test_shark_tank import group


@dataclass
class Member:
    partner_id: uuid.UUID
    admins: list[Actor]
    others: list[str]  # addresses that must get no shark-tank email (a seller, an inactive admin)


async def members(world: World, app: Litestar, password_hash: str, prefix: str, count: int) -> list[Member]:
    """`count` active partners with an admin each; every fifth also has a second admin, a seller
    and an inactive admin."""
    made: list[Member] = []
    async with world.db.unit_of_work() as session:
        partners = [
            Partner(name=f"{prefix} {i:02d}", tier=PartnerTier.GOLD, country="US", active=True) for i in range(count)
        ]
        session.add_all(partners)
        await session.flush()
        for i, partner in enumerate(partners):
            people = [(f"admin{i}@{prefix}.test", Role.PARTNER_ADMIN, True)]
            if i % 5 == 0:
                people += [
                    (f"second{i}@{prefix}.test", Role.PARTNER_ADMIN, True),
                    (f"seller{i}@{prefix}.test", Role.PARTNER_USER, True),
                    (f"gone{i}@{prefix}.test", Role.PARTNER_ADMIN, False),
                ]
            rows = [
                User(email=e, name=e, role=r, partner_id=partner.id, password_hash=password_hash, active=a)
                for e, r, a in people
            ]
            session.add_all(rows)
            await session.flush()
            admins = [
                Actor(u.id, u.email, u.role, u.partner_id, app.state.tokens)
                for u in rows
                if u.active and u.role is Role.PARTNER_ADMIN
            ]
            made.append(
                Member(partner.id, admins, [u.email for u in rows if not (u.active and u.role is Role.PARTNER_ADMIN)])
            )
    return made


@contextmanager
def counted(app: Litestar) -> Iterator[list[str]]:
    statements: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        statements.append(statement)

    engine = app.state.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", note)


async def shark_tank_emails(app: Litestar) -> dict[str, list[dict[str, Any]]]:
    async with app.state.db.session() as session:
        rows = await session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.kind == OutboxKind.EMAIL, OutboxMessage.topic == "lead_distribution.shark_tank"
            )
        )
        found: dict[str, list[dict[str, Any]]] = {}
        ids = set()
        for row in rows:
            found.setdefault(row.destination, []).append(row.payload)
            assert (row.status, row.attempts, row.next_attempt_at) == ("pending", 0, START)
            assert row.id.version == 7  # time-ordered ids, as every other message's
            ids.add(row.id)
        assert len(ids) == sum(len(payloads) for payloads in found.values())
        return found


async def route_into(
    client: httpx.AsyncClient, world: World, app: Litestar, tank: dict[str, Any], company: str
) -> tuple[dict[str, Any], dict[str, Any], int]:
    """A new lead routed into the group: (lead, decision, statements the route sent)."""
    lead = await qualified_lead(client, world.admin, company=company)
    body = {"expected_version": lead["version"], "target_kind": "shark_tank", "group_id": tank["id"]}
    with counted(app) as statements:
        reply = await client.post(f"{API}/leads/{lead['id']}/route", json=body, headers=world.admin.headers)
    decision = await ok(reply)
    assert decision["outcome"] == "offered_to_group"
    return lead, decision, len(statements)


async def test_a_group_route_offers_every_eligible_member_in_statements_independent_of_its_size(
    client: httpx.AsyncClient, world: World, app: Litestar, password_hash: str
) -> None:
    small = await members(world, app, password_hash, "small", 10)
    large = await members(world, app, password_hash, "large", 50)
    # An inactive partner in the large group: excluded, no candidate row, no email.
    async with world.db.unit_of_work() as session:
        (await session.get_one(Partner, large[-1].partner_id)).active = False
    eligible, dropped = large[:-1], large[-1]
    small_tank = await group(client, world, [str(m.partner_id) for m in small], name="Small tank")
    large_tank = await group(client, world, [str(m.partner_id) for m in large], name="Large tank")

    _, small_decision, small_count = await route_into(client, world, app, small_tank, "Small Co")
    lead, decision, large_count = await route_into(client, world, app, large_tank, "Large Co")

    assert small_count == large_count, (small_count, large_count)
    assert len(small_decision["candidates"]) == 10
    assert sorted(c["partner_id"] for c in decision["candidates"]) == sorted(str(m.partner_id) for m in eligible)
    assert decision["excluded"] == [{"partner_id": str(dropped.partner_id), "reasons": ["partner is inactive"]}]

    # Every eligible member's admins see the one open offer on their board; the dropped one's do not.
    offer_ids = set()
    for member in eligible:
        for admin in member.admins:
            [offer] = [o for o in await offers_for(client, admin, kind="shark_tank") if o["lead_id"] == lead["id"]]
            assert (offer["status"], offer["allowed_actions"]) == ("open", ["claim"])
            offer_ids.add(offer["id"])
    assert len(offer_ids) == 1
    assert [o for o in await offers_for(client, dropped.admins[0]) if o["lead_id"] == lead["id"]] == []

    # One email to each active admin of an eligible member, none to sellers, inactive admins or
    # the excluded partner's admin.
    emails = await shark_tank_emails(app)
    large_emails = {to: payloads for to, payloads in emails.items() if "Large Co" in payloads[0]["subject"]}
    assert sorted(large_emails) == sorted(a.email for m in eligible for a in m.admins)
    assert all(len(payloads) == 1 for payloads in large_emails.values())
    [payload] = large_emails[eligible[0].admins[0].email]
    assert (sorted(payload), payload["to"], payload["html"]) == (
        ["html", "subject", "text", "to"],
        eligible[0].admins[0].email,
        None,
    )
    assert payload["subject"].startswith("Shark tank: Large Co is open to claim until ")
    assert "The first eligible partner to claim it gets it." in payload["text"]
    assert "peter@initech.example" not in payload["text"]  # limited details only
    assert not any(to in emails for m in large for to in m.others)
    assert dropped.admins[0].email not in emails
    assert (
        len([to for to, p in emails.items() if "Small Co" in p[0]["subject"]]) == 10 + 2
    )  # two partners of ten have a second admin


async def test_leads_routed_together_into_groups_each_get_their_own_candidates_and_emails(
    client: httpx.AsyncClient, world: World, app: Litestar, password_hash: str
) -> None:
    """Several shark-tank offers in one unit of work (bulk auto-route): one statement writes all
    their candidate rows, each offer's emails go to its own group's admins with its own text."""
    north = await members(world, app, password_hash, "north", 6)
    south = await members(world, app, password_hash, "south", 4)
    north_tank = await group(client, world, [str(m.partner_id) for m in north], name="North tank")
    south_tank = await group(client, world, [str(m.partner_id) for m in [*south, north[0]]], name="South tank")
    await rule(
        client, world, name="South", countries=["MX"], target_kind="shark_tank", target_group_id=south_tank["id"]
    )
    await rule(client, world, name="North", target_kind="shark_tank", target_group_id=north_tank["id"])
    leads = [
        await qualified_lead(client, world.admin, company="Alpha Co", country="US"),
        await qualified_lead(client, world.admin, company="Beta Co", country="MX"),
        await qualified_lead(client, world.admin, company="Gamma Co", country="CA"),
    ]
    body = {"leads": [{"id": lead["id"], "expected_version": lead["version"]} for lead in leads]}
    items = (await ok(await client.post(f"{API}/leads/auto-route", json=body, headers=world.admin.headers)))["items"]
    assert [i["outcome"] for i in items] == ["offered_to_group"] * 3

    emails = await shark_tank_emails(app)
    north_admins = sorted(a.email for m in north for a in m.admins)
    south_admins = sorted(a.email for m in [*south, north[0]] for a in m.admins)
    for company, admins in (("Alpha Co", north_admins), ("Beta Co", south_admins), ("Gamma Co", north_admins)):
        assert (
            sorted(to for to, sent in emails.items() for p in sent if f"Shark tank: {company} " in p["subject"])
            == admins
        )
    # Each member sees exactly the offers of its groups' leads.
    for admin, companies in (
        (north[0].admins[0], {"Alpha Co", "Beta Co", "Gamma Co"}),
        (south[0].admins[0], {"Beta Co"}),
    ):
        board = await offers_for(client, admin, kind="shark_tank")
        assert {o["lead"]["company"] for o in board} == companies
