"""What deal registration needs from the CRM: customer matching, the protected opportunity."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, bindparam, false, func, or_, select, union_all, update
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.activity import record_activity
from prm.core.auth import Principal
from prm.core.records import record_created
from prm.crm.models import Account, AccountKind, Opportunity, OpportunityStage

OPEN_STAGES = [s for s in OpportunityStage if not s.is_closed]


@dataclass(frozen=True)
class Customer:
    name: str
    normalized: str
    domain: str | None
    website: str | None
    country: str | None


@dataclass(frozen=True)
class OpenOpportunityMatch:
    opportunity_id: uuid.UUID
    partner_id: uuid.UUID | None
    customer_name: str
    amount_minor: int
    matched_on: list[str]


def _matches(normalized: str, domain: str | None) -> ColumnElement[bool]:
    by_domain = Account.domain == domain if domain else false()
    return or_(Account.normalized_name == normalized, by_domain)


_OPEN_MATCHES = (
    select(
        Opportunity.id,
        Opportunity.partner_id,
        Opportunity.amount_minor,
        Account.name,
        Account.normalized_name,
        Account.domain,
    )
    .join(Account, Account.id == Opportunity.account_id)
    # Built once, with a NULL :domain matching nothing (building it per call cost more than running it).
    .where(
        or_(Account.normalized_name == bindparam("normalized"), Account.domain == bindparam("domain")),
        Opportunity.stage.in_(OPEN_STAGES),
    )
    .limit(bindparam("limit"))
)


async def open_opportunities_for(
    session: AsyncSession, *, normalized: str, domain: str | None, limit: int = 20
) -> list[OpenOpportunityMatch]:
    """Open opportunities (any owner) whose account matches the customer by name or domain."""
    params = {"normalized": normalized, "domain": domain, "limit": limit}
    found = []
    for row in await session.execute(_OPEN_MATCHES, params):
        matched = [
            m
            for m, hit in (
                ("name", row.normalized_name == normalized),
                ("domain", domain is not None and row.domain == domain),
            )
            if hit
        ]
        found.append(OpenOpportunityMatch(row.id, row.partner_id, row.name, row.amount_minor, matched))
    return found


@dataclass(frozen=True)
class CustomerOpportunity:
    """An open opportunity with the keys of its account, to match against many customers at once."""

    opportunity_id: uuid.UUID
    partner_id: uuid.UUID | None
    customer_name: str
    normalized_name: str
    domain: str | None
    amount_minor: int
    currency: str
    created_at: datetime


CUSTOMER_MATCHES = 20  # open opportunities per name and per domain, the oldest first


def _open_ranked_by(key: Any, names: str) -> Any:
    """Open opportunities whose account's `key` is one of `:names`, numbered per key value."""
    return (
        select(
            Opportunity.id,
            Opportunity.partner_id,
            Opportunity.amount_minor,
            Opportunity.currency,
            Opportunity.created_at,
            Account.name,
            Account.normalized_name,
            Account.domain,
            func.row_number().over(partition_by=key, order_by=(Opportunity.created_at, Opportunity.id)).label("rank"),
        )
        .join(Account, Account.id == Opportunity.account_id)
        .where(key.in_(bindparam(names, expanding=True)), Opportunity.stage.in_(OPEN_STAGES))
        .subquery()
    )


_by_name = _open_ranked_by(Account.normalized_name, "names")
_by_domain = _open_ranked_by(Account.domain, "domains")
# A popular customer's hundreds of open deals would cost a page of registrations that many rows:
# the first CUSTOMER_MATCHES per name and per domain say enough (the caller drops the overlap).
_OPEN_FOR_CUSTOMERS = union_all(
    select(_by_name).where(_by_name.c.rank <= CUSTOMER_MATCHES),
    select(_by_domain).where(_by_domain.c.rank <= CUSTOMER_MATCHES),
)


async def open_opportunities_for_customers(
    session: AsyncSession, *, names: set[str], domains: set[str]
) -> list[CustomerOpportunity]:
    """Open opportunities (any owner) whose account matches any of these names or domains: one
    query for a page of registrations, each matched to its own customer by the caller."""
    if not names and not domains:
        return []
    rows = await session.execute(_OPEN_FOR_CUSTOMERS, {"names": sorted(names), "domains": sorted(domains)})
    return [
        CustomerOpportunity(
            opportunity_id=row.id,
            partner_id=row.partner_id,
            customer_name=row.name,
            normalized_name=row.normalized_name,
            domain=row.domain,
            amount_minor=row.amount_minor,
            currency=row.currency,
            created_at=row.created_at,
        )
        for row in rows
    ]


async def _account_for(
    session: AsyncSession, customer: Customer, partner_id: uuid.UUID, actor: Principal | None
) -> uuid.UUID:
    """Reuse the customer's account (the vendor's or this partner's), else create one for the partner."""
    stmt = (
        select(Account.id)
        .where(
            _matches(customer.normalized, customer.domain),
            or_(Account.partner_id.is_(None), Account.partner_id == partner_id),
        )
        .order_by(Account.partner_id.is_(None).desc(), Account.created_at)
        .limit(1)
    )
    existing = await session.scalar(stmt)
    if existing is not None:
        return existing
    account = Account(
        name=customer.name,
        normalized_name=customer.normalized,
        domain=customer.domain,
        website=customer.website,
        country=customer.country,
        kind=AccountKind.CUSTOMER,
        partner_id=partner_id,
    )
    session.add(account)
    await record_created(
        session, account, entity="account", principal=actor, fields=("name", "domain", "country", "partner_id")
    )
    return account.id


async def open_protected_opportunity(
    session: AsyncSession,
    *,
    actor: Principal | None,
    partner_id: uuid.UUID,
    customer: Customer,
    name: str,
    amount_minor: int,
    currency: str,
    close_date: date | None,
    protected_until: datetime,
) -> uuid.UUID:
    """Link the partner's open opportunity for this customer, or create one; mark it protected."""
    account_id = await _account_for(session, customer, partner_id, actor)
    stmt = (
        select(Opportunity)
        .where(
            Opportunity.account_id == account_id,
            Opportunity.partner_id == partner_id,
            Opportunity.stage.in_(OPEN_STAGES),
        )
        .limit(1)
    )
    opportunity = await session.scalar(stmt)
    if opportunity is None:
        opportunity = Opportunity(
            name=name,
            account_id=account_id,
            partner_id=partner_id,
            stage=OpportunityStage.PROSPECTING,
            amount_minor=amount_minor,
            currency=currency,
            close_date=close_date,
            lead_source="deal_registration",
        )
        session.add(opportunity)
        await record_created(
            session,
            opportunity,
            entity="opportunity",
            principal=actor,
            fields=("name", "account_id", "partner_id", "stage", "amount_minor", "currency"),
        )
    opportunity.protected_until = protected_until
    opportunity.protection_lapsed_at = None
    record_activity(
        session,
        entity_type="opportunity",
        entity_id=opportunity.id,
        action="protected",
        actor=actor,
        changes={"protected_until": [None, protected_until]},
    )
    return opportunity.id


async def extend_protection(session: AsyncSession, opportunity_id: uuid.UUID, until: datetime) -> None:
    await session.execute(
        update(Opportunity)
        .where(Opportunity.id == opportunity_id)
        .values(protected_until=until, version=Opportunity.version + 1)
    )


async def lapse_protection(session: AsyncSession, opportunity_ids: list[uuid.UUID], now: datetime) -> None:
    """The registration expired: the opportunity stays, marked unprotected."""
    if opportunity_ids:
        await session.execute(
            update(Opportunity)
            .where(Opportunity.id.in_(opportunity_ids))
            .values(protected_until=None, protection_lapsed_at=now, version=Opportunity.version + 1)
        )


async def close_opportunity(
    session: AsyncSession,
    *,
    actor: Principal,
    opportunity_id: uuid.UUID,
    won: bool,
    amount_minor: int | None,
) -> None:
    opportunity = await session.get(Opportunity, opportunity_id)
    if opportunity is None or opportunity.stage.is_closed:
        return
    before = opportunity.stage
    opportunity.stage = OpportunityStage.CLOSED_WON if won else OpportunityStage.CLOSED_LOST
    opportunity.closed_at = session.info["clock"].now()
    opportunity.protected_until = None
    if amount_minor is not None:
        opportunity.amount_minor = amount_minor
    record_activity(
        session,
        entity_type="opportunity",
        entity_id=opportunity.id,
        action="updated",
        actor=actor,
        changes={"stage": [before.value, opportunity.stage.value]},
        note="closed by deal registration",
    )
