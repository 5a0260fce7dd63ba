"""Shaping registrations for the caller: full conflicts for staff, only hints for partners."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.auth import Principal
from prm.crm.services.directory import partner_names
from prm.deal_registration.conflicts import FoundConflict, current_conflicts
from prm.deal_registration.models import DealRegistration
from prm.deal_registration.repository import OverrideRow, RegistrationRepository, overrides_of
from prm.deal_registration.schemas import (
    ConflictHint,
    ConflictRead,
    OverrideRead,
    ProductLineRead,
    ProtectionTerms,
    RegistrationRead,
)
from prm.deal_registration.service.actions import actions_for
from prm.deal_registration.service.registrations import Registered


def hints(conflicts: Sequence[FoundConflict]) -> list[ConflictHint]:
    """Kinds and what matched, deduplicated; nothing that identifies the other party."""
    seen: dict[tuple[str, tuple[str, ...]], ConflictHint] = {}
    for conflict in conflicts:
        kind, matched = conflict.kind, tuple(conflict.matched_on)
        seen.setdefault((kind, matched), ConflictHint(kind=kind, matched_on=list(matched)))
    return list(seen.values())


def _conflict_read(conflict: FoundConflict, names: dict[uuid.UUID, str]) -> ConflictRead:
    other = conflict.other
    return ConflictRead(
        kind=conflict.kind,
        matched_on=list(conflict.matched_on),
        overlapping_product_ids=list(conflict.overlapping_product_ids),
        other_registration_id=conflict.other_registration_id,
        other_registration_number=other.number if other else None,
        other_partner_id=other.partner_id if other else None,
        other_partner_name=names.get(other.partner_id) if other else None,
        other_state=other.state.value if other else None,
        other_opportunity_id=conflict.other_opportunity_id,
        other_customer_name=other.customer_name if other else None,
        other_amount_minor=other.estimated_amount_minor if other else None,
        detected_at=conflict.detected_at,
    )


def _overrides_for(registration_id: uuid.UUID, rows: list[OverrideRow], *, partner: bool) -> list[OverrideRead]:
    """Both sides of an override show it; a partner reads the reason and the other number only."""
    shown = []
    for row in rows:
        item = row.override
        if registration_id == item.registration_id:
            role, other_id, other_number = "approved_despite", item.holder_registration_id, row.holder_number
        elif registration_id == item.holder_registration_id:
            role, other_id, other_number = "overridden", item.registration_id, row.registration_number
        else:
            continue
        shown.append(
            OverrideRead(
                role=role,  # type: ignore[arg-type]
                reason=item.reason,
                decided_at=item.decided_at,
                other_registration_number=other_number,
                other_registration_id=None if partner else other_id,
                note=None if partner else item.note,
            )
        )
    return shown


def _terms(registration: DealRegistration) -> ProtectionTerms | None:
    if registration.approved_terms is None:
        return None
    return msgspec.convert(registration.approved_terms, ProtectionTerms)


async def read_many(
    session: AsyncSession, principal: Principal, registrations: Sequence[DealRegistration]
) -> list[RegistrationRead]:
    await session.flush()  # the reply must carry the version the commit will store
    repo = RegistrationRepository(session, principal)
    ids = [r.id for r in registrations]
    products = await repo.products_of(ids)
    product_ids = {i: {str(line.product_id) for line in lines} for i, lines in products.items()}
    conflicts = await current_conflicts(session, registrations, product_ids)
    overrides = await overrides_of(session, ids)
    partner = principal.is_partner
    names = {} if partner else await _partner_names(session, conflicts)
    allowed = await actions_for(session, principal, registrations)
    result = []
    for registration in registrations:
        read = msgspec.convert(registration, RegistrationRead, from_attributes=True)
        read.products = [
            ProductLineRead(product_id=p.product_id, quantity=p.quantity) for p in products.get(registration.id, [])
        ]
        found = conflicts.get(registration.id, [])
        read.conflict_hints = hints(found)
        if not partner:
            read.conflicts = [_conflict_read(c, names) for c in found]
        read.terms = _terms(registration)
        read.awaiting_second_approval = registration.first_approved_at is not None and read.state.value == "submitted"
        read.overrides = _overrides_for(registration.id, overrides, partner=partner)
        if partner:
            read.first_approved_by_id = None
        read.allowed_actions = allowed[registration.id]
        result.append(read)
    return result


async def _partner_names(
    session: AsyncSession, conflicts: dict[uuid.UUID, list[FoundConflict]]
) -> dict[uuid.UUID, str]:
    return await partner_names(session, [c.other.partner_id for cs in conflicts.values() for c in cs if c.other])


async def read_registered(session: AsyncSession, principal: Principal, registered: Registered) -> RegistrationRead:
    """The reply to the partner that just registered: what it wrote, hints of conflicts, and
    what it may do next."""
    registration = registered.registration
    read = msgspec.convert(registration, RegistrationRead, from_attributes=True)
    read.products = [ProductLineRead(product_id=x.product_id, quantity=x.quantity) for x in registered.lines]
    read.conflict_hints = hints(registered.conflicts)
    read.terms = _terms(registration)
    read.allowed_actions = (await actions_for(session, principal, [registration]))[registration.id]
    return read


async def read_one(session: AsyncSession, principal: Principal, registration: DealRegistration) -> RegistrationRead:
    return (await read_many(session, principal, [registration]))[0]
