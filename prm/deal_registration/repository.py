"""Deal registration queries, scoped to what the caller may see."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, ClassVar

from sqlalchemy import BindParameter, ColumnElement, Row, String, and_, bindparam, cast, false, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.auth import Principal, Role
from prm.core.pagination import PageRequest, page_of, paginate_statement
from prm.core.repository import ScopedRepository
from prm.core.tenancy import partner_scope
from prm.deal_registration.models import (
    LIVE_STATES,
    DealDocument,
    DealProgram,
    DealRegistration,
    ExtensionRequest,
    RegistrationConflict,
    RegistrationProduct,
    RegistrationState,
    in_state,
)


def tier_is_eligible(token: str | BindParameter[str]) -> ColumnElement[bool]:
    # eligible_tiers is a JSON list of tier names; its text form contains '"gold"' exactly when
    # "gold" is listed, on SQLite and PostgreSQL alike.
    return cast(DealProgram.eligible_tiers, String).contains(token)


def tier_token(tier: str) -> str:
    return f'"{tier}"'


def _open_to_tier(token: str | BindParameter[str]) -> ColumnElement[bool]:
    return and_(DealProgram.active.is_(True), tier_is_eligible(token))


_OPEN_PROGRAM = select(DealProgram).where(
    DealProgram.id == bindparam("program_id"), _open_to_tier(bindparam("tier_token"))
)


class ProgramRepository(ScopedRepository[DealProgram]):
    """Staff see every program; partners see the active programs their tier is eligible for."""

    model = DealProgram
    label = "Program"
    sortable: ClassVar[dict[str, str]] = {"created_at": "created_at", "name": "name"}

    def __init__(self, session: AsyncSession, principal: Principal, partner_tier: str | None = None) -> None:
        super().__init__(session, principal)
        self.partner_tier = partner_tier

    def scope(self) -> ColumnElement[bool]:
        if not self.principal.is_partner:
            return true()
        if self.partner_tier is None:
            return false()
        return _open_to_tier(tier_token(self.partner_tier))

    async def open_to_partner(self, program_id: uuid.UUID) -> DealProgram | None:
        """The partner scope's program by id, through a statement built once (the submit path)."""
        if self.partner_tier is None:
            return None
        params = {"program_id": program_id, "tier_token": tier_token(self.partner_tier)}
        program: DealProgram | None = await self.session.scalar(_OPEN_PROGRAM, params)
        return program


@dataclass(frozen=True)
class RegistrationSummary:
    """What a reviewer sees of the other side of a conflict."""

    id: uuid.UUID
    number: str
    partner_id: uuid.UUID
    state: RegistrationState
    customer_name: str
    customer_domain: str | None
    estimated_amount_minor: int | None
    currency: str


# The read side's statements, built once (a page of 50 runs each of them).
_IDS: BindParameter[list[uuid.UUID]] = bindparam("ids", expanding=True)
# Rows, not entities: a page's lines and conflicts are only read, and rows cost a fraction to load.
_LINES_OF = select(*RegistrationProduct.__table__.columns).where(RegistrationProduct.registration_id.in_(_IDS))
_CONFLICTS_OF = select(*RegistrationConflict.__table__.columns).where(RegistrationConflict.registration_id.in_(_IDS))
_SUMMARIES = select(
    DealRegistration.id,
    DealRegistration.number,
    DealRegistration.partner_id,
    DealRegistration.state,
    DealRegistration.customer_name,
    DealRegistration.customer_domain,
    DealRegistration.estimated_amount_minor,
    DealRegistration.currency,
).where(DealRegistration.id.in_(_IDS))


class RegistrationRepository(ScopedRepository[DealRegistration]):
    model = DealRegistration
    label = "Deal registration"
    sortable: ClassVar[dict[str, str]] = {
        "created_at": "created_at",
        "review_due_at": "review_due_at",
        "number": "number",
        "customer_name": "customer_name",
    }

    def scope(self) -> ColumnElement[bool]:
        # Registrations always belong to a partner: managers see only their partners'.
        return partner_scope(self.principal, DealRegistration.partner_id, vendor_rows_visible_to_managers=False)

    async def review_queue(self, page: PageRequest) -> tuple[list[DealRegistration], str | None]:
        """Submitted registrations, oldest deadline first (review_due_at is set on submit)."""
        stmt = self.select().where(in_state(RegistrationState.SUBMITTED))
        stmt = paginate_statement(stmt, page, {"review_due_at": DealRegistration.review_due_at}, DealRegistration.id)
        rows = (await self.session.scalars(stmt)).all()
        return page_of(rows, page, "review_due_at")

    async def products_of(self, registration_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[Row[Any]]]:
        """Product lines (registration_id, product_id, quantity) per registration."""
        found: dict[uuid.UUID, list[Row[Any]]] = defaultdict(list)
        if registration_ids:
            for line in await self.session.execute(_LINES_OF, {"ids": registration_ids}):
                found[line.registration_id].append(line)
        return found

    async def conflicts_of(self, registration_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[Row[Any]]]:
        """Stored conflicts (the conflict table's columns) per registration."""
        found: dict[uuid.UUID, list[Row[Any]]] = defaultdict(list)
        if registration_ids:
            for conflict in await self.session.execute(_CONFLICTS_OF, {"ids": registration_ids}):
                found[conflict.registration_id].append(conflict)
        return found

    async def unscoped(self, registration_ids: list[uuid.UUID]) -> dict[uuid.UUID, RegistrationSummary]:
        """Other partners' registrations, only for showing conflicts to staff who may see them."""
        if not registration_ids:
            return {}
        rows = await self.session.execute(_SUMMARIES, {"ids": registration_ids})
        return {row.id: RegistrationSummary(*row) for row in rows}

    async def chain_length(self, original_id: uuid.UUID) -> int:
        stmt = select(DealRegistration.id).where(
            or_(DealRegistration.id == original_id, DealRegistration.original_id == original_id)
        )
        return len((await self.session.scalars(stmt)).all())

    async def extensions(self, registration_id: uuid.UUID) -> list[ExtensionRequest]:
        stmt = select(ExtensionRequest).where(ExtensionRequest.registration_id == registration_id)
        return list((await self.session.scalars(stmt.order_by(ExtensionRequest.created_at))).all())

    async def extension_page(
        self, registration_id: uuid.UUID, page: PageRequest
    ) -> tuple[list[ExtensionRequest], str | None]:
        stmt = select(ExtensionRequest).where(ExtensionRequest.registration_id == registration_id)
        stmt = paginate_statement(stmt, page, {"created_at": ExtensionRequest.created_at}, ExtensionRequest.id)
        return page_of((await self.session.scalars(stmt)).all(), page)

    async def document(self, document_id: uuid.UUID) -> DealDocument | None:
        return await self.session.get(DealDocument, document_id)


@dataclass(frozen=True)
class LiveMatch:
    """A live registration of the same customer, with the products it names."""

    id: uuid.UUID
    partner_id: uuid.UUID
    customer_normalized: str
    customer_domain: str | None
    product_ids: frozenset[str]


MATCHES_SHOWN = 20
_R = DealRegistration
_matches = (
    select(_R.id, _R.partner_id, _R.customer_normalized, _R.customer_domain)
    .where(
        # A NULL :domain matches nothing, as a customer without a domain should.
        or_(_R.customer_normalized == bindparam("normalized"), _R.customer_domain == bindparam("domain")),
        _R.state.in_(LIVE_STATES),
        _R.id.not_in(bindparam("exclude", expanding=True)),
    )
    .limit(MATCHES_SHOWN)
    .subquery()
)
# Built once: building and keying a statement this size costs several times what running it does.
_LIVE_MATCHES = select(_matches, RegistrationProduct.product_id).outerjoin(
    RegistrationProduct, RegistrationProduct.registration_id == _matches.c.id
)


async def live_registrations_matching(
    session: AsyncSession, *, normalized: str, domain: str | None, exclude: list[uuid.UUID]
) -> list[LiveMatch]:
    """Submitted or approved registrations (any partner) for the same customer, with their
    products: one round trip (the first MATCHES_SHOWN matches, joined to their product lines)."""
    params = {"normalized": normalized, "domain": domain, "exclude": exclude}
    products: dict[uuid.UUID, set[str]] = defaultdict(set)
    rows: dict[uuid.UUID, Any] = {}
    for row in await session.execute(_LIVE_MATCHES, params):
        rows.setdefault(row.id, row)
        if row.product_id is not None:
            products[row.id].add(str(row.product_id))
    return [
        LiveMatch(r.id, r.partner_id, r.customer_normalized, r.customer_domain, frozenset(products[r.id]))
        for r in rows.values()
    ]


def manager_may_review(principal: Principal) -> bool:
    return principal.role in (Role.CHANNEL_MANAGER, Role.VENDOR_ADMIN)
