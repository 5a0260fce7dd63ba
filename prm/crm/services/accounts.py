"""Accounts: end customers, prospects and partner companies."""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.auth import Principal, Role
from prm.core.changes import expect_version
from prm.core.errors import RuleViolation
from prm.core.pagination import PageRequest
from prm.core.records import record_created, record_deleted, record_updated
from prm.crm.models import Account, AccountKind
from prm.crm.normalize import normalize_company, normalize_domain
from prm.crm.repository import AccountRepository, PartnerRepository
from prm.crm.schemas import AccountCreate, AccountUpdate

FIELDS = ("name", "domain", "website", "country", "industry", "employees", "kind", "partner_id")


async def owning_partner(session: AsyncSession, principal: Principal, requested: uuid.UUID | None) -> uuid.UUID | None:
    """Which partner owns a new record: a partner's own organisation, or one the caller may act for."""
    if principal.is_partner:
        if requested not in (None, principal.partner_id):
            raise RuleViolation("You can only create records for your own organisation.", field="partner_id")
        return principal.partner_id
    if requested is not None and not await PartnerRepository(session, principal).exists(requested):
        raise RuleViolation("No such partner.", field="partner_id")
    return requested


def new_account(data: AccountCreate, partner_id: uuid.UUID | None) -> Account:
    """The account a create body makes (its names and domain normalised), owned by `partner_id`."""
    return Account(
        name=data.name,
        normalized_name=normalize_company(data.name),
        domain=normalize_domain(data.domain or data.website),
        website=data.website,
        country=data.country,
        industry=data.industry,
        employees=data.employees,
        kind=data.kind,
        partner_id=partner_id,
    )


async def create_account(session: AsyncSession, *, principal: Principal, data: AccountCreate) -> Account:
    account = new_account(data, await owning_partner(session, principal, data.partner_id))
    session.add(account)
    await record_created(session, account, entity="account", principal=principal, fields=FIELDS)
    return account


async def update_account(
    session: AsyncSession, *, principal: Principal, account_id: uuid.UUID, data: AccountUpdate
) -> Account:
    account = await AccountRepository(session, principal).get(account_id)
    await record_updated(session, account, data, entity="account", principal=principal)
    account.normalized_name = normalize_company(account.name)
    account.domain = normalize_domain(account.domain or account.website)
    return account


async def get_account(session: AsyncSession, *, principal: Principal, account_id: uuid.UUID) -> Account:
    return await AccountRepository(session, principal).get(account_id)


async def list_accounts(
    session: AsyncSession,
    *,
    principal: Principal,
    page: PageRequest,
    q: str | None = None,
    kind: AccountKind | None = None,
    country: str | None = None,
    partner_id: uuid.UUID | None = None,
) -> tuple[list[Account], str | None]:
    filters: list[ColumnElement[bool]] = []
    if q:
        filters.append(Account.normalized_name.contains(normalize_company(q)))
    if kind is not None:
        filters.append(Account.kind == kind)
    if country:
        filters.append(Account.country == country.upper())
    if partner_id is not None and principal.role is not Role.PARTNER_USER:
        filters.append(Account.partner_id == partner_id)
    return await AccountRepository(session, principal).page(page, *filters)


async def delete_account(
    session: AsyncSession, *, principal: Principal, account_id: uuid.UUID, expected_version: int | None
) -> None:
    """Delete the account (a peer it is shared with gets a tombstone); 409 while records refer to it."""
    account = await AccountRepository(session, principal).get(account_id)
    if expected_version is not None:
        expect_version(account, expected_version)
    await record_deleted(session, account, entity="account", principal=principal)
