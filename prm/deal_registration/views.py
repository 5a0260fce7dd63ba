"""Shaping registrations for the caller: full conflicts for staff, only hints for partners."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import msgspec
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.auth import Principal
from prm.crm.services.directory import partner_names
from prm.deal_registration.models import DealRegistration
from prm.deal_registration.repository import RegistrationRepository
from prm.deal_registration.schemas import ConflictHint, ConflictRead, ProductLineRead, RegistrationRead
from prm.deal_registration.service.registrations import Registered


def hints(conflicts: Sequence[object]) -> list[ConflictHint]:
    """Kinds and what matched, deduplicated; nothing that identifies the other party."""
    seen: dict[tuple[str, tuple[str, ...]], ConflictHint] = {}
    for conflict in conflicts:
        kind, matched = conflict.kind, tuple(conflict.matched_on)  # type: ignore[attr-defined]
        seen.setdefault((kind, matched), ConflictHint(kind=kind, matched_on=list(matched)))
    return list(seen.values())


async def _full_conflicts(
    repo: RegistrationRepository, conflicts: dict[uuid.UUID, list[Row[Any]]]
) -> dict[uuid.UUID, list[ConflictRead]]:
    other_ids = [c.other_registration_id for cs in conflicts.values() for c in cs if c.other_registration_id]
    others = await repo.unscoped(other_ids)
    names = await partner_names(repo.session, [o.partner_id for o in others.values()])
    shaped: dict[uuid.UUID, list[ConflictRead]] = {}
    for registration_id, items in conflicts.items():
        shaped[registration_id] = []
        for conflict in items:
            other = others.get(conflict.other_registration_id) if conflict.other_registration_id else None
            shaped[registration_id].append(
                ConflictRead(
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
            )
    return shaped


async def read_many(
    session: AsyncSession, principal: Principal, registrations: Sequence[DealRegistration]
) -> list[RegistrationRead]:
    await session.flush()  # the reply must carry the version the commit will store
    repo = RegistrationRepository(session, principal)
    ids = [r.id for r in registrations]
    products = await repo.products_of(ids)
    conflicts = await repo.conflicts_of(ids)
    full = {} if principal.is_partner else await _full_conflicts(repo, dict(conflicts))
    result = []
    for registration in registrations:
        read = msgspec.convert(registration, RegistrationRead, from_attributes=True)
        read.products = [
            ProductLineRead(product_id=p.product_id, quantity=p.quantity) for p in products.get(registration.id, [])
        ]
        if principal.is_partner:
            read.conflict_hints = hints(conflicts.get(registration.id, []))
        else:
            read.conflicts = full.get(registration.id, [])
            read.conflict_hints = hints(conflicts.get(registration.id, []))
        result.append(read)
    return result


def read_registered(registered: Registered) -> RegistrationRead:
    """The reply to the partner that just registered: what it wrote, and hints of conflicts."""
    read = msgspec.convert(registered.registration, RegistrationRead, from_attributes=True)
    read.products = [ProductLineRead(product_id=x.product_id, quantity=x.quantity) for x in registered.lines]
    read.conflict_hints = hints(registered.conflicts)
    return read


async def read_one(session: AsyncSession, principal: Principal, registration: DealRegistration) -> RegistrationRead:
    return (await read_many(session, principal, [registration]))[0]
