"""Partner profiles for routing: standing, program terms, certifications, load and recent performance."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
from sqlalchemy import Row

from prm.core.rows import read_row
from prm.crm.models import Lead, PartnerTier
from prm.crm.repository import PartnerStanding
from prm.lead_distribution import rules
from prm.lead_distribution.models import (
    DEFAULT_CLAIM_WINDOW_HOURS,
    DEFAULT_HOT_RESPONSE_HOURS,
    DEFAULT_MAX_OPEN_LEADS,
    DEFAULT_RESPONSE_HOURS,
    PartnerGroup,
)
from prm.lead_distribution.repository.routing import PROGRAM, RosterRow

_TIERS = {tier: tier.value for tier in PartnerTier}
# Reasons a channel manager cannot override: the partner cannot take the lead at all.
HARD_REASONS = ("partner is inactive", "already declined this lead or let it expire")


@dataclass(frozen=True)
class ProgramTerms:
    """What routing uses of a lead program (read as plain values, see RoutingStore)."""

    id: uuid.UUID
    name: str
    active: bool
    eligible_tiers: list[str]
    min_acceptance_pct: int | None
    max_open_leads: int
    response_hours: int
    hot_response_hours: int
    claim_window_hours: int

    @classmethod
    def of(cls, row: Row[Any]) -> ProgramTerms:
        """From a row of RoutingStore.program or .active_rules: its columns labelled after PROGRAM
        (the tiers as JSON text)."""
        tiers = msgspec.json.decode(row._mapping[f"{PROGRAM}eligible_tiers"], type=list[str])
        return read_row(cls, row, prefix=PROGRAM, eligible_tiers=tiers)


@dataclass(frozen=True)
class Pool:
    """The program a routing draws on, for its terms (the defaults without one)."""

    program: ProgramTerms | None

    @property
    def terms(self) -> rules.Terms:
        if self.program is None:
            return rules.Terms()
        return rules.Terms(self.program.eligible_tiers, self.program.min_acceptance_pct)

    def cap(self, member_cap: int | None) -> int:
        """A member's own cap of open leads, else the program's."""
        if member_cap is not None:
            return member_cap
        return self.program.max_open_leads if self.program else DEFAULT_MAX_OPEN_LEADS

    def response_hours(self, band: rules.Band) -> int:
        if band is rules.Band.HOT:
            return self.program.hot_response_hours if self.program else DEFAULT_HOT_RESPONSE_HOURS
        return self.program.response_hours if self.program else DEFAULT_RESPONSE_HOURS

    def claim_window_hours(self, group: PartnerGroup) -> int:
        if group.claim_window_hours:
            return group.claim_window_hours
        return self.program.claim_window_hours if self.program else DEFAULT_CLAIM_WINDOW_HOURS


def facts_of(lead: Lead) -> rules.LeadFacts:
    return rules.LeadFacts(
        country=lead.country,
        region=lead.region,
        employees=lead.employees,
        product_id=str(lead.product_id) if lead.product_id else None,
        score=lead.score,
        source=lead.source.value,
    )


@dataclass(frozen=True)
class Known:
    """What routing read about a circle of partners for one lead, besides the roster (see Lookups)."""

    standing: Mapping[uuid.UUID, PartnerStanding | None]  # None when the partner does not exist
    held: Mapping[uuid.UUID, int]  # leads taken on or given up in this unit of work, not yet stored
    certified: set[uuid.UUID] | None  # certified for the lead's product; None: it names none
    passed: set[uuid.UUID]
    claims: Mapping[uuid.UUID, int]
    territories: dict[str, list[str]] = field(default_factory=dict)  # parsed JSON texts, shared

    def territories_of(self, text: str) -> list[str]:
        if text not in self.territories:
            self.territories[text] = msgspec.json.decode(text, type=list[str])
        return self.territories[text]


def profiles(
    roster: Sequence[RosterRow], *, lead: Lead, pool: Pool, known: Known, group: PartnerGroup | None = None
) -> list[rules.PartnerProfile]:
    """One profile per partner of the roster (RoutingStore.roster rows), in partner-id order
    (the order a weighted pick draws in: a UUID's number orders as its text does)."""
    product = frozenset([str(lead.product_id)]) if lead.product_id else frozenset()
    no_product: frozenset[str] = frozenset()
    group_cap = group.max_open_claims_per_partner if group is not None else None
    program_cap, everyone = pool.cap(None), pool.program is None
    standing_of, held, certified, passed = known.standing.get, known.held, known.certified, known.passed
    found = []
    for row in sorted(roster, key=lambda row: row.partner_id.int):
        pid, member, member_cap, seconds = row.partner_id, row.member, row.max_open_leads, row.avg_seconds
        standing = standing_of(pid)
        found.append(
            rules.PartnerProfile(
                partner_id=str(pid),
                active=bool(standing and standing.active),
                tier=_TIERS[standing.tier] if standing else "unknown",
                territories=known.territories_of(row.territories) if member and row.territories else [],
                certified_products=product if certified is None or pid in certified else no_product,
                holding=row.holding + held.get(pid, 0),
                cap=member_cap if member and member_cap is not None else program_cap,
                decided=row.decided or 0,
                accepted=int(row.accepted or 0),
                avg_accept_seconds=int(seconds) if seconds is not None else None,
                base_weight=row.weight if member and row.weight is not None else 100,
                passed_on_this_lead=pid in passed,
                member=everyone or bool(member),
                group_claims=known.claims.get(pid, 0),
                group_cap=group_cap,
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
