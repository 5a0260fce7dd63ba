"""Partner profiles for routing: standing, program terms, certifications, load and recent performance."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from prm.crm.models import Lead
from prm.crm.services import lead_pipeline
from prm.lead_distribution import rules
from prm.lead_distribution.models import (
    DEFAULT_CLAIM_WINDOW_HOURS,
    DEFAULT_HOT_RESPONSE_HOURS,
    DEFAULT_MAX_OPEN_LEADS,
    DEFAULT_RESPONSE_HOURS,
    LeadProgram,
    PartnerGroup,
    ProgramMember,
)
from prm.lead_distribution.repository import ConfigStore, OfferStore

STATS_WINDOW = timedelta(days=90)
# Reasons a channel manager cannot override: the partner cannot take the lead at all.
HARD_REASONS = ("partner is inactive", "already declined this lead or let it expire")


@dataclass(frozen=True)
class Pool:
    """What a routing draws on: a program's terms and members (or the defaults without one)."""

    program: LeadProgram | None
    members: dict[uuid.UUID, ProgramMember]

    @property
    def terms(self) -> rules.Terms:
        if self.program is None:
            return rules.Terms()
        return rules.Terms(self.program.eligible_tiers, self.program.min_acceptance_pct)

    def cap(self, partner_id: uuid.UUID) -> int:
        member = self.members.get(partner_id)
        if member is not None and member.max_open_leads is not None:
            return member.max_open_leads
        return self.program.max_open_leads if self.program else DEFAULT_MAX_OPEN_LEADS

    def response_hours(self, band: rules.Band) -> int:
        if band is rules.Band.HOT:
            return self.program.hot_response_hours if self.program else DEFAULT_HOT_RESPONSE_HOURS
        return self.program.response_hours if self.program else DEFAULT_RESPONSE_HOURS

    def claim_window_hours(self, group: PartnerGroup) -> int:
        if group.claim_window_hours:
            return group.claim_window_hours
        return self.program.claim_window_hours if self.program else DEFAULT_CLAIM_WINDOW_HOURS


async def pool_of(session: AsyncSession, program_id: uuid.UUID | None) -> Pool:
    store = ConfigStore(session)
    program = await store.program(program_id)
    if program is None or not program.active:
        return Pool(None, {})
    return Pool(program, {m.partner_id: m for m in await store.program_members(program.id)})


def facts_of(lead: Lead) -> rules.LeadFacts:
    return rules.LeadFacts(
        country=lead.country,
        region=lead.region,
        employees=lead.employees,
        product_id=str(lead.product_id) if lead.product_id else None,
        score=lead.score,
        source=lead.source.value,
    )


async def profiles(
    session: AsyncSession,
    partner_ids: Sequence[uuid.UUID],
    *,
    lead: Lead,
    pool: Pool,
    now: datetime,
    group: PartnerGroup | None = None,
) -> list[rules.PartnerProfile]:
    """One profile per partner, in partner-id order (the order a weighted pick draws in)."""
    ids = sorted(set(partner_ids), key=str)
    offers = OfferStore(session)
    standing = await lead_pipeline.partner_standing(session, ids)
    holding = await offers.holding(ids)
    stats = await offers.recent_stats(ids, now - STATS_WINDOW)
    certified = await offers.certified(ids)
    passed = await offers.passed_on(lead.id)
    claims = await offers.open_claims(group.id, ids) if group is not None else {}
    found = []
    for pid in ids:
        row, member, stat = standing.get(pid), pool.members.get(pid), stats.get(pid)
        found.append(
            rules.PartnerProfile(
                partner_id=str(pid),
                active=bool(row and row.active),
                tier=row.tier.value if row else "unknown",
                territories=list(member.territories) if member else [],
                certified_products=certified.get(pid, frozenset()),
                holding=holding.get(pid, 0),
                cap=pool.cap(pid),
                decided=int(stat.decided) if stat else 0,
                accepted=int(stat.accepted or 0) if stat else 0,
                avg_accept_seconds=int(stat.avg_seconds) if stat and stat.avg_seconds is not None else None,
                base_weight=member.weight if member else 100,
                passed_on_this_lead=pid in passed,
                member=pool.program is None or member is not None,
                group_claims=claims.get(pid, 0),
                group_cap=group.max_open_claims_per_partner if group is not None else None,
            )
        )
    return found


def split(
    found: list[rules.PartnerProfile], facts: rules.LeadFacts, terms: rules.Terms
) -> tuple[list[rules.PartnerProfile], list[dict[str, Any]]]:
    """Eligible profiles, and every other partner with the reasons it was left out."""
    eligible: list[rules.PartnerProfile] = []
    excluded: list[dict[str, Any]] = []
    for profile in found:
        reasons = rules.ineligibility(profile, facts, terms)
        if reasons:
            excluded.append({"partner_id": profile.partner_id, "reasons": reasons})
        else:
            eligible.append(profile)
    return eligible, excluded


def overridable(reasons: Sequence[str]) -> bool:
    return not any(r in HARD_REASONS for r in reasons)
