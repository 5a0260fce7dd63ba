"""A known data set for the scorecards: every figure the tests expect is worked out by hand
in the tests from the records listed here.

Opportunities are created through the API with the clock moved to each close (so closed_at
is what the service stamps); registrations, leads, offers and credits, whose clocks the
service would set over weeks of transitions, are written as rows with their timestamps.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.clock import ManualClock
from prm.credits.models import Credit, CreditStatus
from prm.crm.models import Campaign, Lead, LeadSource, LeadStatus, Partner
from prm.deal_registration.models import DealProgram, DealRegistration, RegistrationState
from prm.lead_distribution.models import (
    LeadOffer,
    LeadProgram,
    OfferKind,
    OfferStatus,
    ProgramMember,
    RoutingDecision,
    RoutingMode,
    RoutingOutcome,
)
from tests.conftest import World

NOW = datetime(2027, 4, 30, 12, 0, tzinfo=UTC)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@dataclass
class DataSet:
    opportunities: dict[str, uuid.UUID] = field(default_factory=dict)
    campaigns: dict[str, uuid.UUID] = field(default_factory=dict)
    deal_program: uuid.UUID | None = None
    lead_program: uuid.UUID | None = None


# name, when (UTC), channel partner ('A', 'B' or None), stage, amount, currency, close date
OPPORTUNITIES: list[tuple[str, str, str | None, str, int, str, date | None]] = [
    ("O1", "2026-03-10T12:00", None, "Closed Won", 100_000, "USD", None),
    ("O2", "2026-03-15T12:00", "A", "Closed Won", 50_000, "USD", None),
    # 23:30 UTC on 31 March is 01:30 on 1 April in Berlin (summer time since 29 March).
    ("O3", "2026-03-31T23:30", "B", "Closed Won", 30_000, "USD", None),
    ("O4", "2026-04-05T12:00", "A", "Closed Won", 70_000, "EUR", None),
    ("O5", "2026-04-20T12:00", "A", "Closed Lost", 20_000, "USD", None),
    ("O13", "2027-01-15T12:00", "A", "Closed Won", 40_000, "USD", None),
    ("O6", "2027-03-12T12:00", None, "Closed Won", 150_000, "USD", None),
    ("O7", "2027-03-20T12:00", "A", "Closed Won", 80_000, "USD", None),
    ("O8", "2027-04-02T12:00", "B", "Closed Won", 40_000, "USD", None),
    ("O9", "2027-04-29T12:00", "A", "Negotiation", 60_000, "USD", date(2027, 5, 15)),
    ("O10", "2027-04-29T12:00", None, "Proposal", 25_000, "USD", date(2027, 5, 20)),
    ("O11", "2027-04-29T12:00", "B", "Prospecting", 10_000, "USD", date(2027, 6, 1)),
    ("O12", "2027-04-29T12:00", "A", "Presentation", 5_000, "EUR", date(2027, 5, 31)),
]


async def build(client: httpx.AsyncClient, world: World, clock: ManualClock) -> DataSet:
    data = DataSet()
    partners = {"A": world.partner_a, "B": world.partner_b}
    account = await client.post("/api/v1/accounts", json={"name": "Initech"}, headers=world.admin.headers)
    assert account.status_code == 201, account.text
    for name, when, partner, stage, amount, currency, close_date in OPPORTUNITIES:
        clock.advance(at(when) - clock.now())
        body: dict[str, Any] = {
            "name": f"Deal {name}",
            "account_id": account.json()["id"],
            "amount_minor": amount,
            "currency": currency,
            "stage": stage,
            "partner_id": str(partners[partner]) if partner else None,
            "close_date": close_date.isoformat() if close_date else None,
        }
        reply = await client.post("/api/v1/opportunities", json=body, headers=world.admin.headers)
        assert reply.status_code == 201, reply.text
        data.opportunities[name] = uuid.UUID(reply.json()["id"])
    clock.advance(NOW - clock.now())
    async with world.db.unit_of_work() as session:
        await session.execute(update(Partner).where(Partner.id == world.partner_a).values(region="Americas"))
        await session.execute(update(Partner).where(Partner.id == world.partner_b).values(region="EMEA"))
        await _registrations(session, world, data)
        await _leads(session, world, data)
        _credits(session, world)
    return data


async def _registrations(session: AsyncSession, world: World, data: DataSet) -> None:
    program = DealProgram(name="Deal program", margin_bps=250, required_fields=[], eligible_tiers=[], currency="USD")
    session.add(program)
    await session.flush()
    data.deal_program = program.id
    # number, partner, state, submitted, decided (= approved unless rejected), closed, expires, expired;
    # review is due 48 hours after submission.
    rows: list[tuple[str, uuid.UUID, RegistrationState, str, str | None, str | None, str | None, str | None]] = [
        (
            "R1",
            world.partner_a,
            RegistrationState.WON,
            "2027-03-01T10:00",
            "2027-03-02T10:00",
            "2027-03-21T10:00",
            None,
            None,
        ),
        ("R2", world.partner_a, RegistrationState.REJECTED, "2027-03-05T10:00", "2027-03-08T10:00", None, None, None),
        (
            "R3",
            world.partner_a,
            RegistrationState.EXPIRED,
            "2027-03-10T10:00",
            "2027-03-11T10:00",
            None,
            "2027-04-10T10:00",
            "2027-04-10T10:00",
        ),
        (
            "R4",
            world.partner_a,
            RegistrationState.LOST,
            "2027-04-01T10:00",
            "2027-04-02T22:00",
            "2027-04-20T10:00",
            None,
            None,
        ),
        (
            "R5",
            world.partner_a,
            RegistrationState.WON,
            "2027-04-10T10:00",
            "2027-04-11T10:00",
            "2027-04-20T10:00",
            None,
            None,
        ),
        ("R6", world.partner_a, RegistrationState.SUBMITTED, "2027-04-25T10:00", None, None, None, None),
        (
            "R7",
            world.partner_a,
            RegistrationState.APPROVED,
            "2027-04-26T10:00",
            "2027-04-27T10:00",
            None,
            "2027-05-05T12:00",
            None,
        ),
        (
            "R8",
            world.partner_a,
            RegistrationState.APPROVED,
            "2027-02-01T10:00",
            "2027-02-02T10:00",
            None,
            "2027-05-20T12:00",
            None,
        ),
        ("R9", world.partner_b, RegistrationState.SUBMITTED, "2027-04-28T10:00", None, None, None, None),
    ]
    won_amounts = {"R1": 80_000, "R5": 40_000}
    # The opportunities the registrations are linked to (the program's deals): O9 twice, counted once.
    linked = {"R1": "O7", "R5": "O13", "R7": "O9", "R8": "O9"}
    for number, partner, state, submitted, decided, closed, expires, expired in rows:
        submitted_at = at(submitted)
        decided_at = at(decided) if decided else None
        approved = decided_at if state not in (RegistrationState.REJECTED, RegistrationState.SUBMITTED) else None
        session.add(
            DealRegistration(
                number=number,
                program_id=program.id,
                partner_id=partner,
                submitted_by_id=world.pa_admin.user_id if partner == world.partner_a else world.pb_admin.user_id,
                state=state,
                customer_name=f"Customer {number}",
                customer_normalized=f"customer {number.lower()}",
                currency="USD",
                submitted_at=submitted_at,
                review_due_at=submitted_at + timedelta(hours=48),
                decided_at=decided_at,
                approved_at=approved,
                expires_at=at(expires) if expires else None,
                expired_at=at(expired) if expired else None,
                closed_at=at(closed) if closed else None,
                won_amount_minor=won_amounts.get(number),
                opportunity_id=data.opportunities[linked[number]] if number in linked else None,
            )
        )


async def _leads(session: AsyncSession, world: World, data: DataSet) -> None:
    spring = Campaign(name="Spring webinar", budget_minor=10_000, currency="USD")
    show = Campaign(name="Trade show", budget_minor=50_000, currency="EUR")
    unpriced = Campaign(name="Newsletter")
    program = LeadProgram(name="Lead program", eligible_tiers=[])
    session.add_all([spring, show, unpriced, program])
    await session.flush()
    data.lead_program = program.id
    data.campaigns = {"spring": spring.id, "show": show.id, "newsletter": unpriced.id}
    session.add_all(
        [
            ProgramMember(program_id=program.id, partner_id=world.partner_a, weight=100, territories=[], joined_at=NOW),
            ProgramMember(program_id=program.id, partner_id=world.partner_b, weight=300, territories=[], joined_at=NOW),
        ]
    )
    a, b = world.partner_a, world.partner_b
    o7, o8 = data.opportunities["O7"], data.opportunities["O8"]
    # name, source, campaign, score, status, holder, created, converted opp, offer (partner, status, offered, seconds)
    leads: list[tuple[Any, ...]] = [
        ("L1", LeadSource.WEB, spring.id, 20, LeadStatus.NEW, None, "2027-03-02T09:00", None, None),
        (
            "L2",
            LeadSource.WEB,
            spring.id,
            50,
            LeadStatus.CONVERTED,
            a,
            "2027-03-03T09:00",
            o7,
            (a, OfferStatus.CONVERTED, "2027-03-03T10:00", 1800),
        ),
        (
            "L3",
            LeadSource.CAMPAIGN,
            show.id,
            80,
            LeadStatus.ACCEPTED,
            a,
            "2027-03-09T09:00",
            None,
            (a, OfferStatus.ACCEPTED, "2027-03-09T10:00", 7200),
        ),
        (
            "L4",
            LeadSource.CAMPAIGN,
            show.id,
            90,
            LeadStatus.SALES_QUALIFIED,
            None,
            "2027-04-01T09:00",
            None,
            (a, OfferStatus.DECLINED, "2027-04-01T10:00", 600),
        ),
        (
            "L5",
            LeadSource.REFERRAL,
            None,
            31,
            LeadStatus.DISQUALIFIED,
            None,
            "2027-04-02T09:00",
            None,
            (a, OfferStatus.EXPIRED, "2027-04-02T10:00", None),
        ),
        (
            "L6",
            LeadSource.WEB,
            spring.id,
            75,
            LeadStatus.ACCEPTED,
            a,
            "2027-04-24T09:00",
            None,
            (a, OfferStatus.ACCEPTED, "2027-04-25T10:00", 3600),
        ),
        (
            "L7",
            LeadSource.WEB,
            spring.id,
            100,
            LeadStatus.MARKETING_QUALIFIED,
            None,
            "2027-04-28T09:00",
            None,
            (b, OfferStatus.OPEN, "2027-04-28T10:00", None),
        ),
        ("L8", LeadSource.WEB, spring.id, 10, LeadStatus.NEW, None, "2027-02-10T09:00", None, None),
        (
            "L9",
            LeadSource.CAMPAIGN,
            show.id,
            60,
            LeadStatus.CONVERTED,
            b,
            "2027-04-05T09:00",
            o8,
            (b, OfferStatus.CONVERTED, "2027-04-05T10:00", 1200),
        ),
    ]
    # 23:30 UTC on 28 February 2026 is 00:30 on 1 March in Berlin (winter time, UTC+1).
    leads.append(("L10", LeadSource.PARTNER, None, 40, LeadStatus.MARKETING_QUALIFIED, None, "2026-02-28T23:30", None,
                  None))  # fmt: skip
    for name, source, campaign, score, status, holder, created, converted, offer in leads:
        lead = Lead(
            first_name=name,
            last_name="Lead",
            company=f"Company {name}",
            source=source,
            status=status,
            score=score,
            campaign_id=campaign,
            partner_id=holder,
            created_at=at(created),
            converted_opportunity_id=converted,
        )
        session.add(lead)
        await session.flush()
        if offer is not None:
            await _offer(session, lead, program.id, *offer)


async def _offer(
    session: AsyncSession,
    lead: Lead,
    program_id: uuid.UUID,
    partner: uuid.UUID,
    status: OfferStatus,
    offered: str,
    seconds: int | None,
) -> None:
    offered_at = at(offered)
    decision = RoutingDecision(
        lead_id=lead.id,
        decided_at=offered_at,
        mode=RoutingMode.RULES,
        outcome=RoutingOutcome.OFFERED,
        partner_id=partner,
        program_id=program_id,
        candidates=[],
        excluded=[],
        rules=[],
        explanation="test",
    )
    session.add(decision)
    await session.flush()
    responded = None if seconds is None else datetime.fromtimestamp(offered_at.timestamp() + seconds, UTC)
    session.add(
        LeadOffer(
            lead_id=lead.id,
            decision_id=decision.id,
            kind=OfferKind.DIRECT,
            status=status,
            partner_id=partner,
            program_id=program_id,
            offered_at=offered_at,
            respond_by=datetime.fromtimestamp(offered_at.timestamp() + 48 * 3600, UTC),
            responded_at=responded,
            response_seconds=seconds,
        )
    )


def _credits(session: AsyncSession, world: World) -> None:
    # partner, source type, amount, created, paid
    credits = [
        (world.partner_a, "deal_registration", 2_000, "2027-03-21T10:00", "2027-04-15T10:00"),
        (world.partner_a, "deal_registration", 1_000, "2027-04-20T10:00", None),
        (world.partner_a, "deal_registration", 500, "2027-02-01T10:00", "2027-03-05T10:00"),
        (world.partner_a, "referral", 9_999, "2027-03-25T10:00", "2027-03-26T10:00"),
        (world.partner_b, "deal_registration", 700, "2027-04-21T10:00", None),
    ]
    for partner, source_type, amount, created, paid in credits:
        session.add(
            Credit(
                partner_id=partner,
                source_type=source_type,
                source_id=uuid.uuid4(),
                description="margin",
                basis_minor=amount * 40,
                rate_bps=250,
                amount_minor=amount,
                currency="USD",
                status=CreditStatus.PAID if paid else CreditStatus.PENDING,
                created_at=at(created),
                paid_at=at(paid) if paid else None,
            )
        )
