"""Deal registration queries, scoped to what the caller may see (the protection timers' claims,
system work, act on every tenant's due rows)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

import msgspec
from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Row,
    String,
    and_,
    bindparam,
    case,
    cast,
    false,
    func,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, aliased

from prm.core.auth import Principal, Role
from prm.core.locks import hold_lock
from prm.core.pagination import PageRequest, page_of, paginate_statement
from prm.core.repository import ScopedRepository
from prm.core.rows import read_rows
from prm.core.tenancy import partner_scope
from prm.deal_registration.models import (
    DealDocument,
    DealProgram,
    DealRegistration,
    ExtensionRequest,
    ExtensionStatus,
    ProofStatus,
    ProtectionOverride,
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
    expires_at: datetime | None = None


# The read side's statements, built once (a page of 50 runs each of them).
_IDS: BindParameter[list[uuid.UUID]] = bindparam("ids", expanding=True)
# Rows, not entities: a page's lines and conflicts are only read, and rows cost a fraction to load.
_LINES_OF = select(*RegistrationProduct.__table__.columns).where(RegistrationProduct.registration_id.in_(_IDS))
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

    async def chain_lengths(self, original_ids: set[uuid.UUID]) -> dict[uuid.UUID, int]:
        """How many submissions each resubmission chain has (its original included), in one query."""
        if not original_ids:
            return {}
        head = func.coalesce(DealRegistration.original_id, DealRegistration.id)
        ids = list(original_ids)
        stmt = (
            select(head.label("original_id"), func.count().label("length"))
            .where(or_(DealRegistration.id.in_(ids), DealRegistration.original_id.in_(ids)))
            .group_by(head)
        )
        return {row.original_id: row.length for row in await self.session.execute(stmt)}

    async def resubmitted(self, registration_ids: list[uuid.UUID]) -> set[uuid.UUID]:
        """Which of these registrations a resubmission has already replaced."""
        if not registration_ids:
            return set()
        stmt = select(DealRegistration.resubmission_of_id).where(
            DealRegistration.resubmission_of_id.in_(registration_ids)
        )
        return {found for found in await self.session.scalars(stmt) if found is not None}

    async def with_pending_extension(self, registration_ids: list[uuid.UUID]) -> set[uuid.UUID]:
        """Which of these registrations have an extension request waiting for a decision."""
        if not registration_ids:
            return set()
        stmt = select(ExtensionRequest.registration_id).where(
            ExtensionRequest.registration_id.in_(registration_ids),
            ExtensionRequest.status == ExtensionStatus.PENDING,
        )
        return set(await self.session.scalars(stmt))

    async def programs(self, program_ids: set[uuid.UUID]) -> dict[uuid.UUID, DealProgram]:
        if not program_ids:
            return {}
        stmt = select(DealProgram).where(DealProgram.id.in_(list(program_ids)))
        return {program.id: program for program in await self.session.scalars(stmt)}

    async def extensions(self, registration_id: uuid.UUID) -> list[ExtensionRequest]:
        stmt = select(ExtensionRequest).where(ExtensionRequest.registration_id == registration_id)
        return list((await self.session.scalars(stmt.order_by(ExtensionRequest.created_at))).all())

    async def extension(self, registration_id: uuid.UUID, extension_id: uuid.UUID) -> ExtensionRequest | None:
        """The registration's extension request (None when it is another registration's)."""
        extension = await self.session.get(ExtensionRequest, extension_id)
        return extension if extension is not None and extension.registration_id == registration_id else None

    async def extension_page(
        self, registration_id: uuid.UUID, page: PageRequest
    ) -> tuple[list[ExtensionRequest], str | None]:
        stmt = select(ExtensionRequest).where(ExtensionRequest.registration_id == registration_id)
        stmt = paginate_statement(stmt, page, {"created_at": ExtensionRequest.created_at}, ExtensionRequest.id)
        return page_of((await self.session.scalars(stmt)).all(), page)

    async def document(self, document_id: uuid.UUID) -> DealDocument | None:
        return await self.session.get(DealDocument, document_id)

    async def proof_to_verify(self, limit: int) -> list[DealRegistration]:
        """Won registrations whose proof of performance waits for the reviewer, oldest close first."""
        stmt = (
            self.select()
            .where(DealRegistration.proof_status == ProofStatus.SUBMITTED)
            .order_by(DealRegistration.closed_at, DealRegistration.id)
            .limit(limit)
        )
        return list((await self.session.scalars(stmt)).all())

    async def pending_extensions(self, limit: int) -> list[tuple[DealRegistration, ExtensionRequest]]:
        """Extension requests waiting for a decision, oldest first, with their registrations."""
        stmt = (
            self.select()
            .join(ExtensionRequest, ExtensionRequest.registration_id == DealRegistration.id)
            .where(ExtensionRequest.status == ExtensionStatus.PENDING)
            .add_columns(ExtensionRequest)
            .order_by(ExtensionRequest.created_at, ExtensionRequest.id)
            .limit(limit)
        )
        return [(row[0], row[1]) for row in await self.session.execute(stmt)]

    async def chain_links(
        self, registration: DealRegistration
    ) -> tuple[DealRegistration | None, DealRegistration | None]:
        """The submission this one resubmits, and the resubmission that replaced it (each if visible)."""
        previous = None
        if registration.resubmission_of_id is not None:
            stmt = self.select().where(DealRegistration.id == registration.resubmission_of_id)
            previous = await self.session.scalar(stmt)
        stmt = self.select().where(DealRegistration.resubmission_of_id == registration.id).limit(1)
        return previous, await self.session.scalar(stmt)


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


def is_live(row: type[DealRegistration], now: BindParameter[datetime]) -> ColumnElement[bool]:
    """Still claims the customer: submitted, or approved with its protection running (an
    approval whose protection ended counts no more, even before the expiry timer has run)."""
    return or_(
        row.state == RegistrationState.SUBMITTED,
        and_(row.state == RegistrationState.APPROVED, row.expires_at > now),
    )


_matches = (
    select(_R.id, _R.partner_id, _R.customer_normalized, _R.customer_domain)
    .where(
        # A NULL :domain matches nothing, as a customer without a domain should.
        or_(_R.customer_normalized == bindparam("normalized"), _R.customer_domain == bindparam("domain")),
        is_live(_R, bindparam("now")),
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
    session: AsyncSession, *, normalized: str, domain: str | None, exclude: list[uuid.UUID], now: datetime
) -> list[LiveMatch]:
    """Live registrations (any partner) for the same customer, with their products: one round
    trip (the first MATCHES_SHOWN matches, joined to their product lines)."""
    params = {"normalized": normalized, "domain": domain, "exclude": exclude, "now": now}
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


@dataclass(frozen=True)
class CurrentMatch:
    """A live registration of the same customer as one of a page's registrations (outside its
    resubmission chain), read by column name."""

    registration_id: uuid.UUID
    other: RegistrationSummary
    customer_normalized: str
    submitted_at: datetime | None


_me, _other = aliased(DealRegistration), aliased(DealRegistration)
# One statement for a whole page: each registration joined to the live registrations that match
# its customer by name or domain (a NULL domain equals nothing). A chain's own submissions never
# conflict with one another, whichever side is asked about: so the pair is seen from both ends.
# Each registration shows its first MATCHES_SHOWN matches, protected (approved) ones first, so a
# popular customer costs a page no more than that and the exclusivity check still sees the holder.
_ranked = (
    select(
        _me.id.label("registration_id"),
        _other.id,
        _other.number,
        _other.partner_id,
        _other.state,
        _other.customer_name,
        _other.customer_domain,
        _other.estimated_amount_minor,
        _other.currency,
        _other.expires_at,
        _other.customer_normalized,
        _other.submitted_at,
        func.row_number()
        .over(
            partition_by=_me.id,
            order_by=(case((_other.state == RegistrationState.APPROVED, 0), else_=1), _other.submitted_at, _other.id),
        )
        .label("rank"),
    )
    .join(
        _other,
        and_(
            or_(_other.customer_normalized == _me.customer_normalized, _other.customer_domain == _me.customer_domain),
            func.coalesce(_other.original_id, _other.id) != func.coalesce(_me.original_id, _me.id),
        ),
    )
    .where(_me.id.in_(_IDS), is_live(_other, bindparam("now")))
    .subquery()
)
_CURRENT_MATCHES = (
    select(_ranked).where(_ranked.c.rank <= MATCHES_SHOWN).order_by(_ranked.c.registration_id, _ranked.c.rank)
)


async def current_matches(
    session: AsyncSession, registration_ids: list[uuid.UUID], now: datetime
) -> list[CurrentMatch]:
    if not registration_ids:
        return []
    rows = await session.execute(_CURRENT_MATCHES, {"ids": registration_ids, "now": now})
    return [
        CurrentMatch(
            registration_id=row.registration_id,
            other=RegistrationSummary(
                id=row.id,
                number=row.number,
                partner_id=row.partner_id,
                state=row.state,
                customer_name=row.customer_name,
                customer_domain=row.customer_domain,
                estimated_amount_minor=row.estimated_amount_minor,
                currency=row.currency,
                expires_at=row.expires_at,
            ),
            customer_normalized=row.customer_normalized,
            submitted_at=row.submitted_at,
        )
        for row in rows
    ]


_OVERRIDES_OF = (
    select(
        ProtectionOverride,
        _me.number.label("registration_number"),
        _other.number.label("holder_number"),
    )
    .join(_me, _me.id == ProtectionOverride.registration_id)
    .join(_other, _other.id == ProtectionOverride.holder_registration_id)
    .where(or_(ProtectionOverride.registration_id.in_(_IDS), ProtectionOverride.holder_registration_id.in_(_IDS)))
)


@dataclass(frozen=True)
class OverrideRow:
    override: ProtectionOverride
    registration_number: str
    holder_number: str


async def overrides_of(session: AsyncSession, registration_ids: list[uuid.UUID]) -> list[OverrideRow]:
    """Protection overrides either side of which is one of these registrations (one query)."""
    if not registration_ids:
        return []
    rows = await session.execute(_OVERRIDES_OF.order_by(ProtectionOverride.decided_at), {"ids": registration_ids})
    return [OverrideRow(row.ProtectionOverride, row.registration_number, row.holder_number) for row in rows]


async def product_ids_of(session: AsyncSession, registration_ids: list[uuid.UUID]) -> dict[uuid.UUID, set[str]]:
    """The products each registration names (any partner's: for matching, never shown as such)."""
    found: dict[uuid.UUID, set[str]] = defaultdict(set)
    if registration_ids:
        for line in await session.execute(_LINES_OF, {"ids": registration_ids}):
            found[line.registration_id].add(str(line.product_id))
    return found


async def lock_customer(session: AsyncSession, *, normalized: str, domain: str | None) -> None:
    """Serialise the decisions about one customer until this transaction ends, so two approvals
    for it cannot both pass the exclusivity check unseen by each other: a named lock per key
    (name and domain), taken in one order everywhere so two of them never deadlock."""
    keys = sorted({f"name:{normalized}", *([f"domain:{domain}"] if domain else [])})
    for key in keys:
        await hold_lock(session, f"deal-registration-customer:{key}")


# The protection timers' claims --------------------------------------------------------------

TIMER_BATCH = 5_000


class DueRegistration(msgspec.Struct, frozen=True, gc=False):
    """A registration a protection timer took, as its UPDATE ... RETURNING gave it back (by column name)."""

    id: uuid.UUID
    number: str
    partner_id: uuid.UUID
    submitted_by_id: uuid.UUID
    customer_name: str
    opportunity_id: uuid.UUID | None
    expires_at: datetime | None
    review_due_at: datetime | None


async def _claim(
    session: AsyncSession, where: ColumnElement[bool], order: InstrumentedAttribute[Any], values: dict[str, Any]
) -> Sequence[DueRegistration]:
    """One conditional UPDATE ... RETURNING over a batch of due rows, in `order` (the most
    pressing first): a timer that repeats, comes late or races another instance changes each
    row once.

    The order also picks the plan: without it PostgreSQL may read the batch off a sequential
    scan of the whole table (the due rows can be anywhere in it); with it the timer's partial
    index hands over the batch already in order."""
    ids = select(_R.id).where(where).order_by(order).limit(TIMER_BATCH)
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        ids = ids.with_for_update(skip_locked=True)
    stmt = (
        update(_R)
        .where(_R.id.in_(ids.scalar_subquery()), where)
        .values(**values, version=_R.version + 1)
        .returning(
            _R.id,
            _R.number,
            _R.partner_id,
            _R.submitted_by_id,
            _R.customer_name,
            _R.opportunity_id,
            _R.expires_at,
            _R.review_due_at,
        )
        .execution_options(synchronize_session=False)
    )
    return read_rows(DueRegistration, (await session.execute(stmt)).all())


async def claim_overdue_reviews(session: AsyncSession, now: datetime) -> Sequence[DueRegistration]:
    """A batch of submitted registrations past review_due_at and not flagged yet, flagged overdue."""
    where = and_(in_state(RegistrationState.SUBMITTED), _R.review_due_at <= now, _R.overdue_at.is_(None))
    return await _claim(session, where, _R.review_due_at, {"overdue_at": now})


async def claim_due_reminders(session: AsyncSession, now: datetime) -> Sequence[DueRegistration]:
    """A batch of approved registrations, not reminded, inside the reminder window and not yet
    expired, marked reminded: the soonest-expiring first (through the unreminded-by-expiry index:
    the ones already past expiry, which the expiry timer takes, lie before its range instead of in
    the way)."""
    where = and_(
        in_state(RegistrationState.APPROVED), _R.reminder_sent_at.is_(None), _R.expires_at > now, _R.remind_at <= now
    )
    return await _claim(session, where, _R.expires_at, {"reminder_sent_at": now})


async def claim_expired(session: AsyncSession, now: datetime) -> Sequence[DueRegistration]:
    """A batch of approved registrations past expires_at, moved to expired."""
    where = and_(in_state(RegistrationState.APPROVED), _R.expires_at <= now)
    return await _claim(session, where, _R.expires_at, {"state": RegistrationState.EXPIRED, "expired_at": now})
