"""A year of sales and lead history for the dashboard: direct and indirect deals won and lost
month by month (Globex sells in euros too), open deals closing over the coming months, and
leads from every source and two costed campaigns, some accepted by partners and won.

Deals and leads are created through the CRM services with the session's clock moved back to
the day they happened (so closed_at and created_at are that day); the lead distribution
trail of a historical lead (its offer and how fast the partner answered) is written as rows,
since the routing services act only on the present.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.auth import Principal
from prm.core.clock import Clock, ManualClock
from prm.crm.models import CampaignStatus, Lead, LeadSource, LeadStatus, Opportunity, OpportunityStage, Partner
from prm.crm.schemas import CampaignCreate, LeadCreate, OpportunityCreate
from prm.crm.services import campaigns, leads, opportunities
from prm.lead_distribution.models import (
    LeadOffer,
    OfferKind,
    OfferStatus,
    RoutingDecision,
    RoutingMode,
    RoutingOutcome,
)
from prm.lead_distribution.repository.loads import note_move

SEED = 2026
MONTHS = 12
# who sells, in which currency, on which account, and a typical deal size (minor units)
SELLERS = [
    (None, "USD", "Contoso Pharmaceuticals", 2_400_000),
    (None, "USD", "Wingtip Hotels", 1_500_000),
    ("acme", "USD", "Fabrikam Logistics", 1_800_000),
    ("acme", "USD", "Adventure Works", 1_100_000),
    ("globex", "EUR", "Tailspin Toys", 1_300_000),
    ("globex", "USD", "Proseware", 900_000),
    ("initech", "USD", "Litware Labs", 600_000),
]
SOURCES = [LeadSource.WEB, LeadSource.CAMPAIGN, LeadSource.IMPORT, LeadSource.REFERRAL, LeadSource.PARTNER]
FIRST_NAMES = ["Alex", "Bea", "Cato", "Dora", "Emil", "Fay", "Gus", "Hana", "Ivo", "Jun", "Kai", "Lia"]


@contextmanager
def backdated(session: AsyncSession, moment: datetime) -> Iterator[None]:
    """The session's clock shows `moment` while the block runs (the services stamp times from it)."""
    real: Clock = session.info["clock"]
    session.info["clock"] = ManualClock(moment)
    try:
        yield
    finally:
        session.info["clock"] = real


async def seed_history(
    session: AsyncSession,
    *,
    admin: Principal,
    sellers: dict[str, Principal],
    partners: dict[str, Partner],
    account_ids: dict[str, uuid.UUID],
) -> None:
    rng = random.Random(SEED)  # noqa: S311 - demo figures, not secrets
    now: datetime = session.info["clock"].now()
    won = await _closed_deals(session, rng, now, admin, sellers, account_ids)
    await _open_deals(session, rng, now, admin, sellers, account_ids)
    await _leads(session, rng, now, admin, partners, won)


async def _deal(session: AsyncSession, principal: Principal, data: OpportunityCreate, when: datetime) -> Opportunity:
    with backdated(session, when):
        return await opportunities.create_opportunity(session, principal=principal, data=data)


async def _closed_deals(
    session: AsyncSession,
    rng: random.Random,
    now: datetime,
    admin: Principal,
    sellers: dict[str, Principal],
    account_ids: dict[str, uuid.UUID],
) -> list[Opportunity]:
    """Each seller closes a deal or two most months; the channel grows through the year."""
    won: list[Opportunity] = []
    for months_ago in range(MONTHS, 0, -1):
        growth = 1 + (MONTHS - months_ago) / 20
        for slug, currency, account, size in SELLERS:
            for nth in range(rng.choice((1, 1, 2))):
                when = now - timedelta(days=30 * months_ago - rng.randint(0, 27), hours=rng.randint(0, 9))
                win_rate = 0.7 if nth == 0 else 0.5
                stage = OpportunityStage.CLOSED_WON if rng.random() < win_rate else OpportunityStage.CLOSED_LOST
                amount = int(size * growth * rng.uniform(0.5, 1.6)) // 100 * 100
                data = OpportunityCreate(
                    name=f"{account.split()[0]} {when:%b %Y} {'expansion' if rng.random() < 0.5 else 'order'}",
                    account_id=account_ids[account],
                    amount_minor=amount,
                    currency=currency,
                    stage=stage,
                    close_date=when.date(),
                    lead_source="partner" if slug else "direct",
                )
                deal = await _deal(session, sellers[slug] if slug else admin, data, when)
                if stage is OpportunityStage.CLOSED_WON:
                    won.append(deal)
    return won


async def _open_deals(
    session: AsyncSession,
    rng: random.Random,
    now: datetime,
    admin: Principal,
    sellers: dict[str, Principal],
    account_ids: dict[str, uuid.UUID],
) -> None:
    """Deals in every open stage, expected to close over the next six months (the forecast)."""
    stages = [OpportunityStage.PROSPECTING, OpportunityStage.PRESENTATION, OpportunityStage.PROPOSAL,
              OpportunityStage.NEGOTIATION]  # fmt: skip
    for months_ahead in range(6):
        for slug, currency, account, size in SELLERS:
            if rng.random() < 0.45:
                continue
            data = OpportunityCreate(
                name=f"{account.split()[0]} pipeline {months_ahead + 1}",
                account_id=account_ids[account],
                amount_minor=int(size * rng.uniform(0.6, 1.5)) // 100 * 100,
                currency=currency,
                stage=stages[min(3, max(0, 3 - months_ahead + rng.randint(-1, 1)))],
                close_date=(now + timedelta(days=30 * months_ahead + rng.randint(1, 28))).date(),
                lead_source="partner" if slug else "direct",
            )
            await _deal(session, sellers[slug] if slug else admin, data, now - timedelta(days=rng.randint(5, 60)))


async def _campaigns(session: AsyncSession, admin: Principal, now: datetime) -> list[uuid.UUID]:
    created = []
    for name, budget, currency in (
        ("Partner summit 2026", 4_000_000, "USD"),
        ("Hannover trade fair", 3_500_000, "EUR"),
    ):
        data = CampaignCreate(
            name=name,
            type="event",
            status=CampaignStatus.COMPLETED,
            start_date=(now - timedelta(days=300)).date(),
            budget_minor=budget,
            currency=currency,
        )
        created.append((await campaigns.create_campaign(session, principal=admin, data=data)).id)
    return created


async def _leads(
    session: AsyncSession,
    rng: random.Random,
    now: datetime,
    admin: Principal,
    partners: dict[str, Partner],
    won: list[Opportunity],
) -> None:
    """About ten leads a month; partners accept most of those offered (some within the hour),
    and some of the accepted ones became the won deals above."""
    campaign_ids = await _campaigns(session, admin, now)
    winners = [deal for deal in won if deal.partner_id is not None]
    rng.shuffle(winners)
    for months_ago in range(MONTHS, 0, -1):
        for n in range(rng.randint(7, 12)):
            when = now - timedelta(days=30 * months_ago - rng.randint(0, 27), hours=rng.randint(0, 9))
            source = rng.choice(SOURCES)
            name = FIRST_NAMES[(months_ago + n) % len(FIRST_NAMES)]
            data = LeadCreate(
                first_name=name,
                last_name=f"History{months_ago:02d}{n:02d}",
                company=f"{name} & Co {months_ago}-{n}",
                source=source,
                campaign_id=rng.choice(campaign_ids) if source is LeadSource.CAMPAIGN else None,
            )
            with backdated(session, when):
                lead = await leads.create_lead(session, principal=admin, data=data)
            lead.created_at, lead.score = when, rng.randint(0, 100)
            await _work_lead(session, rng, lead, when, list(partners.values()), winners)


async def _work_lead(
    session: AsyncSession,
    rng: random.Random,
    lead: Lead,
    when: datetime,
    partners: list[Partner],
    winners: list[Opportunity],
) -> None:
    if lead.score < 25 or rng.random() < 0.15:
        lead.status = LeadStatus.DISQUALIFIED if lead.score < 25 else LeadStatus.MARKETING_QUALIFIED
        return
    partner = rng.choice(partners)
    outcome = rng.choices([OfferStatus.ACCEPTED, OfferStatus.DECLINED, OfferStatus.EXPIRED], [70, 15, 15])[0]
    seconds = None if outcome is OfferStatus.EXPIRED else rng.choice((900, 2400, 3000, 5400, 14_400, 40_000))
    if outcome is OfferStatus.ACCEPTED:
        lead.partner_id = partner.id
        lead.status = LeadStatus.ACCEPTED
        match = next((deal for deal in winners if deal.partner_id == partner.id), None)
        if rng.random() < 0.8:  # most accepted leads were converted; the rest stalled with the partner
            if match is not None and rng.random() < 0.6:
                winners.remove(match)
                lead.converted_opportunity_id = match.id
            lead.status, lead.converted_at = LeadStatus.CONVERTED, when + timedelta(days=7)
            outcome = OfferStatus.CONVERTED
    else:
        lead.status = LeadStatus.SALES_QUALIFIED
    await _offer(session, lead, partner, outcome, when + timedelta(minutes=10), seconds)


async def _offer(
    session: AsyncSession, lead: Lead, partner: Partner, status: OfferStatus, offered_at: datetime, seconds: int | None
) -> None:
    await session.flush()
    decision = RoutingDecision(
        lead_id=lead.id,
        decided_at=offered_at,
        mode=RoutingMode.MANUAL,
        outcome=RoutingOutcome.OFFERED,
        partner_id=partner.id,
        candidates=[],
        excluded=[],
        rules=[],
        explanation="Demo history: offered by the channel manager.",
    )
    session.add(decision)
    await session.flush()
    note_move(session, before=None, after=(partner.id, status))  # an accepted lead counts against capacity
    session.add(
        LeadOffer(
            lead_id=lead.id,
            decision_id=decision.id,
            kind=OfferKind.DIRECT,
            status=status,
            partner_id=partner.id,
            offered_at=offered_at,
            respond_by=offered_at + timedelta(hours=48),
            responded_at=None if seconds is None else offered_at + timedelta(seconds=seconds),
            response_seconds=seconds,
            created_at=offered_at,
        )
    )
