"""Finding possible conflicts for a registration: same customer, overlapping products.

The customer matches on its normalised company name or its web/email domain. A live
registration (submitted or approved) of anyone conflicts when the products overlap (or either
side names none); an open opportunity for the same customer always does, since opportunities
carry no product lines.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from prm.crm.services.deal_protection import open_opportunities_for
from prm.deal_registration.models import ConflictKind
from prm.deal_registration.repository import live_registrations_matching


@dataclass(frozen=True)
class FoundConflict:
    kind: ConflictKind
    matched_on: list[str]
    overlapping_product_ids: list[str] = field(default_factory=list)
    other_registration_id: uuid.UUID | None = None
    other_opportunity_id: uuid.UUID | None = None


def _matched_on(normalized: str, domain: str | None, their_name: str, their_domain: str | None) -> list[str]:
    matched = []
    if their_name == normalized:
        matched.append("name")
    if domain and their_domain == domain:
        matched.append("domain")
    return matched


async def find_conflicts(
    session: AsyncSession,
    *,
    normalized: str,
    domain: str | None,
    product_ids: set[str],
    exclude: list[uuid.UUID] | None = None,
    own_opportunity_id: uuid.UUID | None = None,
) -> list[FoundConflict]:
    registrations = await live_registrations_matching(
        session, normalized=normalized, domain=domain, exclude=exclude or []
    )
    found: list[FoundConflict] = []
    for other in registrations:
        theirs = other.product_ids
        overlap = sorted(product_ids & theirs)
        if product_ids and theirs and not overlap:
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
        if opportunity.opportunity_id == own_opportunity_id:
            continue
        kind = ConflictKind.OPPORTUNITY if opportunity.partner_id else ConflictKind.DIRECT_OPPORTUNITY
        found.append(
            FoundConflict(kind=kind, matched_on=opportunity.matched_on, other_opportunity_id=opportunity.opportunity_id)
        )
    return found
