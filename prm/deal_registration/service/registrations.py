"""Partners register deals: draft, submit (with conflict check and auto-response), cancel, resubmit."""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import msgspec
from sqlalchemy import ColumnElement, Row, bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.auth import Principal
from prm.core.changes import apply_changes, expect_version
from prm.core.db import insert_rows
from prm.core.errors import Conflict, Forbidden, RuleViolation
from prm.core.pagination import PageRequest
from prm.crm.models import Product
from prm.crm.normalize import normalize_company, normalize_domain
from prm.crm.services.directory import partner_tier
from prm.deal_registration.conflicts import FoundConflict, current_conflicts, find_conflicts
from prm.deal_registration.models import (
    DealProgram,
    DealRegistration,
    RegistrationProduct,
    RegistrationState,
)
from prm.deal_registration.repository import RegistrationRepository, lock_customer
from prm.deal_registration.schemas import (
    ConflictCheckRequest,
    CustomerFields,
    ProductLine,
    RegistrationCreate,
    RegistrationDetails,
    RegistrationUpdate,
)
from prm.deal_registration.service import notify, review
from prm.deal_registration.service.actions import RESUBMITTABLE
from prm.deal_registration.service.programs import program_of, programs_for
from prm.deal_registration.service.rules import rules_of
from prm.deal_registration.service.state import ALLOWED, ensure_state, record_event, transition

S = RegistrationState
EDITABLE_FIELDS = [f for f in RegistrationUpdate.__struct_fields__ if f not in ("expected_version", "products")]


def _new_number() -> str:
    return "DR-" + base64.b32encode(secrets.token_bytes(5)).decode()


def _require_partner(principal: Principal) -> uuid.UUID:
    if principal.partner_id is None:
        raise Forbidden("Only partner users register deals.")
    return principal.partner_id


def _customer_keys(data: CustomerFields) -> tuple[str, str | None]:
    domain = normalize_domain(data.customer_domain or data.customer_website)
    return normalize_company(data.customer_name), domain


_ACTIVE_PRODUCTS = select(Product.id).where(Product.id.in_(bindparam("ids", expanding=True)), Product.active)


async def _check_products(session: AsyncSession, lines: list[ProductLine]) -> None:
    ids = [line.product_id for line in lines]
    if len(set(ids)) != len(ids):
        raise RuleViolation("Each product may be listed once.", field="products")
    if ids:
        known = set((await session.scalars(_ACTIVE_PRODUCTS, {"ids": ids})).all())
        missing = [str(i) for i in ids if i not in known]
        if missing:
            raise RuleViolation(f"Unknown or inactive products: {', '.join(missing)}.", field="products")


def missing_required(program: DealProgram, registration: DealRegistration, product_count: int) -> list[str]:
    missing = []
    for name in program.required_fields:
        present = product_count > 0 if name == "products" else getattr(registration, name, None) not in (None, "")
        if not present:
            missing.append(name)
    return missing


def _check_requirements(program: DealProgram, registration: DealRegistration, product_count: int, today: date) -> None:
    """Every program requirement at once, so the partner fixes them in one go (422 names each)."""
    missing = missing_required(program, registration, product_count)
    errors = [{"field": name, "message": "required by the program"} for name in missing]
    close = registration.expected_close_date
    if close is not None and close < today:
        errors.append({"field": "expected_close_date", "message": f"{close} is in the past (today is {today}, UTC)"})
    amount = registration.estimated_amount_minor
    if program.min_deal_minor and (amount is None or amount < program.min_deal_minor):
        errors.append(
            {
                "field": "estimated_amount_minor",
                "message": f"the program needs at least {program.min_deal_minor} minor units",
            }
        )
    if registration.currency != program.currency:
        errors.append({"field": "currency", "message": f"the program works in {program.currency}"})
    if errors:
        fields = ", ".join(e["field"] for e in errors)
        raise RuleViolation(f"The registration is incomplete for this program: {fields}.", errors=errors)


async def _program_for(session: AsyncSession, principal: Principal, program_id: uuid.UUID) -> DealProgram:
    """The program, when it is open to the partner's organisation (active, its tier eligible)."""
    program = await (await programs_for(session, principal)).open_to_partner(program_id)
    if program is None:
        raise RuleViolation("No such program open to your organisation.", field="program_id")
    return program


async def _set_products(session: AsyncSession, registration: DealRegistration, lines: list[ProductLine]) -> None:
    await _check_products(session, lines)
    await session.execute(delete(RegistrationProduct).where(RegistrationProduct.registration_id == registration.id))
    session.add_all(
        RegistrationProduct(registration_id=registration.id, product_id=line.product_id, quantity=line.quantity)
        for line in lines
    )
    await session.flush()


def _registration_from(
    data: RegistrationDetails, program: DealProgram, partner_id: uuid.UUID, principal: Principal
) -> DealRegistration:
    normalized, domain = _customer_keys(data)
    return DealRegistration(
        number=_new_number(),
        program_id=program.id,
        partner_id=partner_id,
        submitted_by_id=principal.user_id,
        state=RegistrationState.DRAFT,
        customer_name=data.customer_name,
        customer_normalized=normalized,
        customer_domain=domain,
        customer_website=data.customer_website,
        customer_country=data.customer_country,
        contact_name=data.contact_name,
        contact_email=data.contact_email,
        contact_phone=data.contact_phone,
        contact_title=data.contact_title,
        estimated_amount_minor=data.estimated_amount_minor,
        currency=data.currency or program.currency,
        current_situation=data.current_situation,
        expected_close_date=data.expected_close_date,
        extensions_used=0,
        resubmission_number=0,
    )


@dataclass(frozen=True)
class Registered:
    """A registration this request wrote, with its product lines and the conflicts found, so
    the reply shows them without reading back what was just written."""

    registration: DealRegistration
    lines: list[ProductLine]
    conflicts: list[FoundConflict]


async def create_registration(session: AsyncSession, *, principal: Principal, data: RegistrationCreate) -> Registered:
    partner_id = _require_partner(principal)
    program = await _program_for(session, principal, data.program_id)
    await _check_products(session, data.products)
    registration = _registration_from(data, program, partner_id, principal)
    return await _write_new(session, registration, program, data.products, principal, submit=data.submit)


async def _write_new(
    session: AsyncSession,
    registration: DealRegistration,
    program: DealProgram,
    lines: list[ProductLine],
    principal: Principal,
    *,
    submit: bool,
    action: str = "created",
    reason: str | None = None,
) -> Registered:
    """Insert a new registration with its lines, submitted at once when asked.

    The program came through `_program_for`, which only finds programs open to the partner's
    tier, so eligibility needs no second look. A registration submitted on creation is written
    in its submitted state (one INSERT, no UPDATE after it); its history and events still tell
    both steps: created as a draft, then submitted.
    """
    if submit:
        _check_requirements(program, registration, len(lines), _today(session))
        registration.state = S.SUBMITTED
        _start_review_clock(session, registration, program)
    session.add(registration)
    await session.flush()
    await _insert_lines(session, registration.id, lines)
    await record_event(session, registration, action, actor=principal, reason=reason, shown_state=S.DRAFT)
    if not submit:
        return Registered(registration, lines, [])
    await record_event(session, registration, "submit", actor=principal, before=S.DRAFT)
    conflicts = await _after_submit(session, registration, program, _product_ids(lines))
    return Registered(registration, lines, conflicts)


def _today(session: AsyncSession) -> date:
    today: date = session.info["clock"].now().date()
    return today


async def _after_submit(
    session: AsyncSession, registration: DealRegistration, program: DealProgram, product_ids: set[str]
) -> list[FoundConflict]:
    """The auto-response, then the program's rules (which decide and email as a reviewer would),
    then, if no rule decided, the heads-up to the partner's channel managers."""
    if rules_of(program).auto_approve is not None:  # a rule may approve: decide as a reviewer would
        await lock_customer(session, normalized=registration.customer_normalized, domain=registration.customer_domain)
    conflicts = (await current_conflicts(session, [registration], {registration.id: product_ids}))[registration.id]
    await notify.received(session, registration, program.review_hours)
    decided = await review.decide_by_rules(
        session, registration, program, product_count=len(product_ids), conflicts=conflicts
    )
    if not decided:
        await notify.to_review(session, registration)
    return conflicts


def _start_review_clock(session: AsyncSession, registration: DealRegistration, program: DealProgram) -> None:
    now = session.info["clock"].now()
    registration.submitted_at = now
    registration.review_due_at = now + timedelta(hours=program.review_hours)


def _product_ids(lines: Iterable[ProductLine | Row[Any]]) -> set[str]:
    return {str(line.product_id) for line in lines}


async def _insert_lines(session: AsyncSession, registration_id: uuid.UUID, lines: list[ProductLine]) -> None:
    rows = [{"registration_id": registration_id, "product_id": x.product_id, "quantity": x.quantity} for x in lines]
    await insert_rows(session, RegistrationProduct, rows)


async def update_draft(
    session: AsyncSession, *, principal: Principal, registration_id: uuid.UUID, data: RegistrationUpdate
) -> DealRegistration:
    registration = await RegistrationRepository(session, principal).get(registration_id)
    expect_version(registration, data.expected_version)
    if registration.state is not RegistrationState.DRAFT:
        raise Conflict(
            "Only drafts can be edited; resubmit a rejected or expired registration instead.",
            current_state=registration.state.value,
        )
    changes = apply_changes(registration, msgspec.structs.replace(data, products=msgspec.UNSET))
    if isinstance(data.products, list):
        await _set_products(session, registration, data.products)
        changes["products"] = [None, [str(p.product_id) for p in data.products]]
    registration.customer_normalized = normalize_company(registration.customer_name)
    if "customer_website" in changes and "customer_domain" not in changes:
        registration.customer_domain = None  # follow the new website unless a domain was given too
    registration.customer_domain = normalize_domain(registration.customer_domain or registration.customer_website)
    if changes:
        registration.updated_at = session.info["clock"].now()  # a product-only edit bumps the version too
        await session.flush()
        await record_event(session, registration, "updated", actor=principal)
    return registration


async def submit_registration(
    session: AsyncSession, *, principal: Principal, registration_id: uuid.UUID, expected_version: int
) -> DealRegistration:
    """Submit a saved draft: the program's rules as they stand now, then the review clock."""
    repo = RegistrationRepository(session, principal)
    registration = await repo.get(registration_id)
    # A state conflict first: what is no longer a draft is not judged by today's program rules.
    expect_version(registration, expected_version)
    ensure_state(registration, "submit", ALLOWED["submit"][0])
    program = await program_of(session, registration)
    await _check_eligibility(session, program, registration.partner_id)
    lines = (await repo.products_of([registration.id])).get(registration.id, [])
    _check_requirements(program, registration, len(lines), _today(session))
    _start_review_clock(session, registration, program)
    await transition(session, registration, "submit", actor=principal, expected_version=expected_version)
    await _after_submit(session, registration, program, _product_ids(lines))
    return registration


async def _check_eligibility(session: AsyncSession, program: DealProgram, partner_id: uuid.UUID) -> None:
    tier = await partner_tier(session, partner_id)
    if not program.active or tier not in program.eligible_tiers:
        raise RuleViolation("Your organisation is not eligible for this program.", field="program_id")


async def check_conflicts(
    session: AsyncSession, *, principal: Principal, data: ConflictCheckRequest
) -> list[FoundConflict]:
    """Before submitting: would this customer and these products conflict? (kinds only, for partners)"""
    _require_partner(principal)
    await _check_products(session, data.products)
    normalized, domain = _customer_keys(data)
    return await find_conflicts(
        session, normalized=normalized, domain=domain, product_ids={str(p.product_id) for p in data.products}
    )


async def cancel_registration(
    session: AsyncSession,
    *,
    principal: Principal,
    registration_id: uuid.UUID,
    expected_version: int,
    reason: str | None,
) -> DealRegistration:
    registration = await RegistrationRepository(session, principal).get(registration_id)
    if not principal.is_partner:
        raise Forbidden("Only the partner cancels its own registration; reject it instead.")
    await transition(session, registration, "cancel", actor=principal, expected_version=expected_version, reason=reason)
    return registration


async def resubmit_registration(
    session: AsyncSession, *, principal: Principal, registration_id: uuid.UUID, data: RegistrationDetails
) -> Registered:
    """A rejected or expired registration comes back as a new submission linked to the original."""
    repo = RegistrationRepository(session, principal)
    previous = await repo.get(registration_id)
    if previous.state not in RESUBMITTABLE:
        raise Conflict(
            f"Only rejected or expired registrations can be resubmitted; {previous.number} is {previous.state.value}.",
            current_state=previous.state.value,
        )
    if await repo.resubmitted([previous.id]):
        raise Conflict(
            f"{previous.number} has been resubmitted already; resubmit the latest of its chain.",
            current_state=previous.state.value,
        )
    original_id = previous.original_id or previous.id
    program = await _program_for(session, principal, previous.program_id)
    used = await repo.chain_length(original_id) - 1
    if used >= program.max_resubmissions:
        raise RuleViolation(
            f"The program allows {program.max_resubmissions} resubmissions; all are used.", field="registration_id"
        )
    await _check_products(session, data.products)
    fresh = _registration_from(data, program, previous.partner_id, principal)
    fresh.original_id, fresh.resubmission_of_id, fresh.resubmission_number = original_id, previous.id, used + 1
    reason = f"resubmission of {previous.number}"
    return await _write_new(
        session, fresh, program, data.products, principal, submit=True, action="resubmitted", reason=reason
    )


async def list_registrations(
    session: AsyncSession,
    *,
    principal: Principal,
    page: PageRequest,
    state: RegistrationState | None = None,
    partner_id: uuid.UUID | None = None,
    program_id: uuid.UUID | None = None,
) -> tuple[list[DealRegistration], str | None]:
    filters: list[ColumnElement[bool]] = []
    if state is not None:
        filters.append(DealRegistration.state == state)
    if partner_id is not None:
        filters.append(DealRegistration.partner_id == partner_id)
    if program_id is not None:
        filters.append(DealRegistration.program_id == program_id)
    return await RegistrationRepository(session, principal).page(page, *filters)
