"""The objects a connection can share, their fields and types, and how a local record of
each is read, created and changed (always through the CRM services, so history, webhooks and
validation are the same as for a user's edit)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.activity import plain
from prm.core.auth import Principal
from prm.core.errors import RuleViolation
from prm.core.repository import ScopedRepository
from prm.crm import schemas as crm
from prm.crm.models import Account, Contact, Lead, LeadSource, Opportunity
from prm.crm.repository import AccountRepository, ContactRepository, LeadRepository, OpportunityRepository
from prm.crm.services import accounts, contacts, leads, opportunities


@dataclass(frozen=True)
class ObjectSpec:
    name: str
    fields: dict[str, str]  # field -> type: text, integer, date, stage
    defaults: tuple[str, ...]  # published by default, as S2S does
    parent: str | None  # must be shared first (an opportunity's or contact's account)
    model: type[Any]


OBJECTS: dict[str, ObjectSpec] = {
    "account": ObjectSpec(
        "account",
        {
            "name": "text",
            "domain": "text",
            "website": "text",
            "country": "text",
            "industry": "text",
            "employees": "integer",
        },
        ("name",),
        None,
        Account,
    ),
    "contact": ObjectSpec(
        "contact",
        {"first_name": "text", "last_name": "text", "email": "text", "phone": "text", "title": "text"},
        ("last_name",),
        "account",
        Contact,
    ),
    "opportunity": ObjectSpec(
        "opportunity",
        {"name": "text", "close_date": "date", "stage": "stage", "amount_minor": "integer", "currency": "text"},
        ("name", "close_date", "stage"),
        "account",
        Opportunity,
    ),
    "lead": ObjectSpec(
        "lead",
        {
            "first_name": "text",
            "last_name": "text",
            "company": "text",
            "email": "text",
            "phone": "text",
            "title": "text",
            "country": "text",
            "employees": "integer",
        },
        ("last_name", "company"),
        None,
        Lead,
    ),
}


def spec_for(name: str, *, field: str = "object") -> ObjectSpec:
    spec = OBJECTS.get(name)
    if spec is None:
        raise RuleViolation(f"{name!r} cannot be shared; choose one of {sorted(OBJECTS)}.", field=field)
    return spec


def values_of(record: Any, fields: list[str]) -> dict[str, Any]:
    return {name: plain(getattr(record, name)) for name in fields}


def parent_id_of(object_name: str, record: Any) -> uuid.UUID | None:
    return record.account_id if OBJECTS[object_name].parent == "account" else None


async def load(session: AsyncSession, object_name: str, record_id: uuid.UUID) -> Any | None:
    return await session.get(OBJECTS[object_name].model, record_id)


def create_struct(object_name: str, values: dict[str, Any], parent_local_id: uuid.UUID | None) -> Any:
    """The CRM create payload for a received record; required fields the peer does not share
    get a neutral placeholder (the receiving side completes them)."""
    base: dict[str, Any]
    if object_name == "account":
        return msgspec.convert({"name": "(shared)", **values}, crm.AccountCreate)
    if object_name == "contact":
        base = {"first_name": "-", "last_name": "(shared)", "account_id": str(parent_local_id)}
        return msgspec.convert({**base, **values}, crm.ContactCreate)
    if object_name == "opportunity":
        base = {
            "name": "(shared)",
            "amount_minor": 0,
            "currency": "USD",
            "account_id": str(parent_local_id),
        }
        return msgspec.convert({**base, **values}, crm.OpportunityCreate)
    base = {"first_name": "-", "last_name": "(shared)", "company": "(shared)", "source": LeadSource.PARTNER.value}
    return msgspec.convert({**base, **values}, crm.LeadCreate)


async def create_local(
    session: AsyncSession,
    principal: Principal,
    object_name: str,
    values: dict[str, Any],
    parent_local_id: uuid.UUID | None,
) -> Any:
    data = create_struct(object_name, values, parent_local_id)
    if object_name == "account":
        return await accounts.create_account(session, principal=principal, data=data)
    if object_name == "contact":
        return await contacts.create_contact(session, principal=principal, data=data)
    if object_name == "opportunity":
        return await opportunities.create_opportunity(session, principal=principal, data=data)
    return await leads.create_lead(session, principal=principal, data=data)


UPDATES: dict[str, type[msgspec.Struct]] = {
    "account": crm.AccountUpdate,
    "contact": crm.ContactUpdate,
    "opportunity": crm.OpportunityUpdate,
    "lead": crm.LeadUpdate,
}


def update_struct(object_name: str, body: dict[str, Any]) -> Any:
    """The CRM update payload (with `expected_version`) for a received change."""
    return msgspec.convert(body, UPDATES[object_name])


async def update_local(
    session: AsyncSession, principal: Principal, object_name: str, record: Any, values: dict[str, Any]
) -> None:
    body = {"expected_version": record.version, **values}
    if object_name == "account":
        await accounts.update_account(
            session, principal=principal, account_id=record.id, data=msgspec.convert(body, crm.AccountUpdate)
        )
    elif object_name == "contact":
        await contacts.update_contact(
            session, principal=principal, contact_id=record.id, data=msgspec.convert(body, crm.ContactUpdate)
        )
    elif object_name == "opportunity":
        await opportunities.update_opportunity(
            session, principal=principal, opportunity_id=record.id, data=msgspec.convert(body, crm.OpportunityUpdate)
        )
    else:
        await leads.update_lead(
            session, principal=principal, lead_id=record.id, data=msgspec.convert(body, crm.LeadUpdate)
        )


def check_type(value: Any, kind: str) -> bool:
    """Whether a wire value fits a field type (used when a mapping is saved, and on receipt)."""
    if value is None:
        return True
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "date":
        return isinstance(value, (str, date))
    return isinstance(value, str)


REPOSITORIES: dict[str, type[ScopedRepository[Any]]] = {
    "account": AccountRepository,
    "contact": ContactRepository,
    "opportunity": OpportunityRepository,
    "lead": LeadRepository,
}


async def visible_many(
    session: AsyncSession, principal: Principal, object_name: str, record_ids: set[uuid.UUID]
) -> tuple[dict[uuid.UUID, Any], str]:
    """Those of the records `principal` may see, by id, in one query; and the object's label."""
    repository = REPOSITORIES[object_name](session, principal)
    return await repository.get_many(record_ids), repository.label


async def get_visible(session: AsyncSession, principal: Principal, object_name: str, record_id: uuid.UUID) -> Any:
    """The record if `principal` may see it (404 otherwise, as everywhere)."""
    if object_name == "account":
        return await accounts.get_account(session, principal=principal, account_id=record_id)
    if object_name == "contact":
        return await contacts.get_contact(session, principal=principal, contact_id=record_id)
    if object_name == "opportunity":
        return await opportunities.get_opportunity(session, principal=principal, opportunity_id=record_id)
    return await leads.get_lead(session, principal=principal, lead_id=record_id)
