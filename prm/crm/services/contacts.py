"""Contacts: people at an account; they belong to whoever owns the account."""

from __future__ import annotations

import uuid

import msgspec
from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.auth import Principal
from prm.core.changes import expect_version
from prm.core.errors import NotFound, RuleViolation
from prm.core.pagination import PageRequest
from prm.core.records import record_created, record_deleted, record_updated
from prm.crm.models import Account, Contact
from prm.crm.repository import AccountRepository, ContactRepository
from prm.crm.schemas import ContactCreate, ContactUpdate

FIELDS = ("account_id", "partner_id", "first_name", "last_name", "email", "phone", "title")


def _normalize_email(email: str | None) -> str | None:
    return email.strip().lower() if email else None


async def _visible_account(session: AsyncSession, principal: Principal, account_id: uuid.UUID) -> Account:
    """A hidden account and a missing one look the same: the reply never confirms it exists."""
    try:
        return await AccountRepository(session, principal).get(account_id)
    except NotFound as exc:
        raise RuleViolation(f"Account {account_id} not found.", field="account_id") from exc


async def create_contact(session: AsyncSession, *, principal: Principal, data: ContactCreate) -> Contact:
    account = await _visible_account(session, principal, data.account_id)
    contact = Contact(
        account_id=account.id,
        # Copied so the tenant filter needs no join: whoever sees the account sees its people.
        partner_id=account.partner_id,
        first_name=data.first_name,
        last_name=data.last_name,
        email=_normalize_email(data.email),
        phone=data.phone,
        title=data.title,
    )
    session.add(contact)
    await record_created(session, contact, entity="contact", principal=principal, fields=FIELDS)
    return contact


async def update_contact(
    session: AsyncSession, *, principal: Principal, contact_id: uuid.UUID, data: ContactUpdate
) -> Contact:
    contact = await ContactRepository(session, principal).get(contact_id)
    if isinstance(data.email, str):
        data = msgspec.structs.replace(data, email=_normalize_email(data.email))
    await record_updated(session, contact, data, entity="contact", principal=principal)
    return contact


async def get_contact(session: AsyncSession, *, principal: Principal, contact_id: uuid.UUID) -> Contact:
    return await ContactRepository(session, principal).get(contact_id)


async def list_contacts(
    session: AsyncSession,
    *,
    principal: Principal,
    page: PageRequest,
    account_id: uuid.UUID | None = None,
    email: str | None = None,
    q: str | None = None,
) -> tuple[list[Contact], str | None]:
    filters: list[ColumnElement[bool]] = []
    if account_id is not None:
        filters.append(Contact.account_id == account_id)
    if email:
        filters.append(Contact.email == _normalize_email(email))
    if q:
        pattern = f"%{q}%"
        filters.append(Contact.last_name.ilike(pattern) | Contact.first_name.ilike(pattern))
    return await ContactRepository(session, principal).page(page, *filters)


async def delete_contact(
    session: AsyncSession, *, principal: Principal, contact_id: uuid.UUID, expected_version: int | None
) -> None:
    """Delete the contact (a peer it is shared with gets a tombstone); 409 while records refer to it."""
    contact = await ContactRepository(session, principal).get(contact_id)
    if expected_version is not None:
        expect_version(contact, expected_version)
    await record_deleted(session, contact, entity="contact", principal=principal)
