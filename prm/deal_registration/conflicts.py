"""Finding conflicts for a registration: same customer, overlapping products.

The customer matches on its normalised company name or its web/email domain. A live
registration of anyone (submitted, or approved with its protection running) conflicts when the
products overlap (or either side names none); an open opportunity for the same customer always
does, since opportunities carry no product lines.

Conflicts are computed when a registration is shown or decided, never stored: the earlier of two
conflicting registrations sees the later one, an opportunity opened or closed since counts as it
stands now, and a protection that ended no longer conflicts. A page of registrations costs three
queries (the matching registrations, their product lines, the matching opportunities), however
long the page.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from prm.crm.services.deal_protection import (
    CustomerOpportunity,
    open_opportunities_for,
    open_opportunities_for_customers,
)
from prm.deal_registration.models import ConflictKind, DealRegistration, RegistrationState
from prm.deal_registration.repository import (
    MATCHES_SHOWN,
    RegistrationSummary,
    current_matches,
    live_registrations_matching,
    product_ids_of,
)


@dataclass(frozen=True)
class FoundConflict:
    kind: ConflictKind
    matched_on: list[str]
    overlapping_product_ids: list[str] = field(default_factory=list)
    other_registration_id: uuid.UUID | None = None
    other_opportunity_id: uuid.UUID | None = None
    other: RegistrationSummary | None = None  # the other registration, for staff only
    opportunity: CustomerOpportunity | None = None
    detected_at: datetime | None = None  # when the later of the two came in

    @property
    def protects(self) -> bool:
        """The other side is an approved registration whose protection still runs."""
        return self.other is not None and self.other.state is RegistrationState.APPROVED


def _matched_on(normalized: str, domain: str | None, their_name: str, their_domain: str | None) -> list[str]:
    matched = []
    if their_name == normalized:
        matched.append("name")
    if domain and their_domain == domain:
        matched.append("domain")
    return matched


def _overlap(mine: set[str], theirs: set[str] | frozenset[str]) -> list[str] | None:
    """The products both name; None when both name products and none is shared (no conflict)."""
    overlap = sorted(mine & theirs)
    if mine and theirs and not overlap:
        return None
    return overlap


def _later(*moments: datetime | None) -> datetime | None:
    known = [m for m in moments if m is not None]
    return max(known) if known else None


async def find_conflicts(
    session: AsyncSession,
    *,
    normalized: str,
    domain: str | None,
    product_ids: set[str],
    exclude: list[uuid.UUID] | None = None,
) -> list[FoundConflict]:
    """Conflicts of a customer not registered yet (the partner's check before submitting)."""
    now = session.info["clock"].now()
    registrations = await live_registrations_matching(
        session, normalized=normalized, domain=domain, exclude=exclude or [], now=now
    )
    found: list[FoundConflict] = []
    for other in registrations:
        overlap = _overlap(product_ids, other.product_ids)
        if overlap is None:
            continue
        found.append(
            FoundConflict(
                kind=ConflictKind.REGISTRATION,
                matched_on=_matched_on(normalized, domain, other.customer_normalized, other.customer_domain),
                overlapping_product_ids=overlap,
                other_registration_id=other.id,
            )
        )
    for opportunity in await open_opportunities_for(session, normalized=normalized, domain=domain):
        kind = ConflictKind.OPPORTUNITY if opportunity.partner_id else ConflictKind.DIRECT_OPPORTUNITY
        found.append(
            FoundConflict(kind=kind, matched_on=opportunity.matched_on, other_opportunity_id=opportunity.opportunity_id)
        )
    return found


async def current_conflicts(
    session: AsyncSession,
    registrations: Sequence[DealRegistration],
    products: dict[uuid.UUID, set[str]],
) -> dict[uuid.UUID, list[FoundConflict]]:
    """Each registration's conflicts as they stand now, for a whole page at once."""
    now = session.info["clock"].now()
    ids = [r.id for r in registrations]
    found: dict[uuid.UUID, list[FoundConflict]] = {i: [] for i in ids}
    matches = await current_matches(session, ids, now)
    their_lines = await product_ids_of(session, sorted({m.other.id for m in matches}))
    by_id = {r.id: r for r in registrations}
    for match in matches:
        me = by_id[match.registration_id]
        overlap = _overlap(products.get(me.id, set()), their_lines.get(match.other.id, set()))
        if overlap is None:
            continue
        found[me.id].append(
            FoundConflict(
                kind=ConflictKind.REGISTRATION,
                matched_on=_matched_on(
                    me.customer_normalized, me.customer_domain, match.customer_normalized, match.other.customer_domain
                ),
                overlapping_product_ids=overlap,
                other_registration_id=match.other.id,
                other=match.other,
                detected_at=_later(me.submitted_at, match.submitted_at),
            )
        )
    await _add_opportunities(session, registrations, found)
    return found


async def _add_opportunities(
    session: AsyncSession, registrations: Sequence[DealRegistration], found: dict[uuid.UUID, list[FoundConflict]]
) -> None:
    opportunities = await open_opportunities_for_customers(
        session,
        names={r.customer_normalized for r in registrations},
        domains={r.customer_domain for r in registrations if r.customer_domain},
    )
    by_name: dict[str, list[CustomerOpportunity]] = defaultdict(list)
    by_domain: dict[str, list[CustomerOpportunity]] = defaultdict(list)
    for opportunity in opportunities:
        by_name[opportunity.normalized_name].append(opportunity)
        if opportunity.domain:
            by_domain[opportunity.domain].append(opportunity)
    for me in registrations:
        candidates = by_name.get(me.customer_normalized, []) + by_domain.get(me.customer_domain or "", [])
        seen: set[uuid.UUID] = set()
        for opportunity in candidates:
            if opportunity.opportunity_id in seen or opportunity.opportunity_id == me.opportunity_id:
                continue
            if len(seen) == MATCHES_SHOWN:
                break
            seen.add(opportunity.opportunity_id)
            kind = ConflictKind.OPPORTUNITY if opportunity.partner_id else ConflictKind.DIRECT_OPPORTUNITY
            found[me.id].append(
                FoundConflict(
                    kind=kind,
                    matched_on=_matched_on(
                        me.customer_normalized, me.customer_domain, opportunity.normalized_name, opportunity.domain
                    ),
                    other_opportunity_id=opportunity.opportunity_id,
                    opportunity=opportunity,
                    detected_at=_later(me.submitted_at, opportunity.created_at),
                )
            )
