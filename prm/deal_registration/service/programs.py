"""Deal registration programs: benefits, requirements and clocks, set by vendor admins."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.auth import Principal
from prm.core.errors import Conflict
from prm.core.pagination import PageRequest
from prm.core.records import record_created, record_updated
from prm.crm.services.directory import partner_tier
from prm.deal_registration.models import DealProgram, DealRegistration
from prm.deal_registration.repository import ProgramRepository
from prm.deal_registration.schemas import ProgramCreate, ProgramUpdate

FIELDS = (
    "name",
    "margin_bps",
    "currency",
    "required_fields",
    "eligible_tiers",
    "review_hours",
    "protection_days",
    "reminder_days",
    "extension_days",
    "max_extensions",
    "max_resubmissions",
)


async def programs_for(session: AsyncSession, principal: Principal) -> ProgramRepository:
    tier = await partner_tier(session, principal.partner_id) if principal.partner_id else None
    return ProgramRepository(session, principal, partner_tier=tier)


async def create_program(session: AsyncSession, *, principal: Principal, data: ProgramCreate) -> DealProgram:
    if await session.scalar(select(DealProgram.id).where(DealProgram.name == data.name)):
        raise Conflict(f"A program named {data.name!r} already exists.", field="name")
    program = DealProgram(
        name=data.name,
        description=data.description,
        active=True,
        margin_bps=data.margin_bps,
        benefits=data.benefits,
        required_fields=sorted(set(data.required_fields)),
        eligible_tiers=sorted({t.value for t in data.eligible_tiers}),
        min_deal_minor=data.min_deal_minor,
        currency=data.currency,
        review_hours=data.review_hours,
        protection_days=data.protection_days,
        reminder_days=data.reminder_days,
        extension_days=data.extension_days,
        max_extensions=data.max_extensions,
        max_resubmissions=data.max_resubmissions,
    )
    session.add(program)
    await record_created(session, program, entity="deal_program", principal=principal, fields=FIELDS)
    return program


async def update_program(
    session: AsyncSession, *, principal: Principal, program_id: uuid.UUID, data: ProgramUpdate
) -> DealProgram:
    program = await ProgramRepository(session, principal).get(program_id)
    await record_updated(session, program, data, entity="deal_program", principal=principal)
    return program


async def get_program(session: AsyncSession, *, principal: Principal, program_id: uuid.UUID) -> DealProgram:
    return await (await programs_for(session, principal)).get(program_id)


async def list_programs(
    session: AsyncSession, *, principal: Principal, page: PageRequest, active: bool | None = None
) -> tuple[list[DealProgram], str | None]:
    filters = [DealProgram.active.is_(active)] if active is not None else []
    return await (await programs_for(session, principal)).page(page, *filters)


async def program_of(session: AsyncSession, registration: DealRegistration) -> DealProgram:
    """The program a registration belongs to (a foreign key: it always exists)."""
    program = await session.get(DealProgram, registration.program_id)
    if program is None:  # pragma: no cover - the foreign key forbids it
        raise LookupError(f"program {registration.program_id} of {registration.number} is missing")
    return program


TERMS = ("protection_days", "reminder_days", "extension_days", "max_extensions", "margin_bps")


def terms_snapshot(program: DealProgram) -> dict[str, Any]:
    """The program's protection terms now, kept with a registration at its approval."""
    return {name: getattr(program, name) for name in TERMS}


def terms_of(registration: DealRegistration, program: DealProgram) -> dict[str, Any]:
    """The terms a registration was approved under; the program's current ones for a registration
    approved before the terms were kept (or not approved yet)."""
    return {**terms_snapshot(program), **(registration.approved_terms or {})}
