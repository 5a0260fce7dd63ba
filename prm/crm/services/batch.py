"""Many creates or updates of one kind of record at once (a peer instance's batch): the same
rules, normalisation, history and events as one at a time, with a number of queries that does
not grow with the number of records."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.auth import Principal
from prm.core.changes import apply_changes, expect_version
from prm.core.errors import RuleViolation
from prm.core.records import records_created, records_updated
from prm.crm.models import Account, Contact, Lead, LeadStatus, Opportunity, OpportunityStage
from prm.crm.normalize import normalize_company, normalize_domain
from prm.crm.repository import AccountRepository
from prm.crm.schemas import AccountCreate, ContactCreate, LeadCreate, OpportunityCreate
from prm.crm.services import accounts, contacts, leads, opportunities
from prm.crm.services.places import placed_on_create, placed_on_update


async def create_many(session: AsyncSession, *, principal: Principal, entity: str, bodies: list[Any]) -> list[Any]:
    """New records of `entity` ("account", "contact", "opportunity" or "lead"), in body order."""
    if not bodies:
        return []
    records: list[Any]
    fields: tuple[str, ...]
    if entity == "account":
        records, fields = await _new_accounts(session, principal, bodies), accounts.FIELDS
    elif entity == "contact":
        records, fields = await _new_contacts(session, principal, bodies), contacts.FIELDS
    elif entity == "opportunity":
        records, fields = await _new_opportunities(session, principal, bodies), opportunities.FIELDS
    else:
        records, fields = await _new_leads(session, principal, bodies), leads.FIELDS
    await records_created(session, records, entity=entity, principal=principal, fields=fields)
    return records


async def _new_accounts(session: AsyncSession, principal: Principal, bodies: list[AccountCreate]) -> list[Account]:
    owners = {p: await accounts.owning_partner(session, principal, p) for p in {b.partner_id for b in bodies}}
    return [accounts.new_account(data, owners[data.partner_id]) for data in bodies]


async def _visible_accounts(
    session: AsyncSession, principal: Principal, account_ids: set[uuid.UUID]
) -> dict[uuid.UUID, Account]:
    found = await AccountRepository(session, principal).get_many(account_ids)
    for account_id in sorted(account_ids - found.keys()):
        raise RuleViolation(f"Account {account_id} not found.", field="account_id")
    return found


async def _new_contacts(session: AsyncSession, principal: Principal, bodies: list[ContactCreate]) -> list[Contact]:
    found = await _visible_accounts(session, principal, {b.account_id for b in bodies})
    return [
        Contact(
            account_id=data.account_id,
            partner_id=found[data.account_id].partner_id,
            first_name=data.first_name,
            last_name=data.last_name,
            email=contacts._normalize_email(data.email),
            phone=data.phone,
            title=data.title,
        )
        for data in bodies
    ]


async def _new_opportunities(
    session: AsyncSession, principal: Principal, bodies: list[OpportunityCreate]
) -> list[Opportunity]:
    if principal.is_partner or any(b.partner_id is not None for b in bodies):
        partners = [await opportunities._partner_for(session, principal, b) for b in bodies]
    else:  # the vendor for itself: the accounts need only be there
        await _visible_accounts(session, principal, {b.account_id for b in bodies})
        partners = [None] * len(bodies)
    now = session.info["clock"].now()
    return [
        opportunities.new_opportunity(data, partner_id, principal, now)
        for data, partner_id in zip(bodies, partners, strict=True)
    ]


async def _new_leads(session: AsyncSession, principal: Principal, bodies: list[LeadCreate]) -> list[Lead]:
    made = []
    for data in bodies:  # each check asks the database only when its field is given
        await leads._check_campaign(session, principal, data.campaign_id)
        await leads._check_product(session, data.product_id)
        await leads._check_owner(session, principal, data.owner_id, None)
        placed = await placed_on_create(data)
        made.append(
            Lead(
                first_name=placed.first_name,
                last_name=placed.last_name,
                company=placed.company,
                company_normalized=normalize_company(placed.company),
                email=leads._normalize_email(placed.email),
                phone=placed.phone,
                title=placed.title,
                country=placed.country,
                region=placed.region,
                city=placed.city,
                latitude=placed.latitude,
                longitude=placed.longitude,
                employees=placed.employees,
                source=placed.source,
                status=LeadStatus.NEW,
                campaign_id=placed.campaign_id,
                owner_id=placed.owner_id,
                partner_id=None,
                current_situation=placed.current_situation,
                product_id=placed.product_id,
                time_frame=placed.time_frame,
                budget_minor=placed.budget_minor,
                currency=placed.currency,
                score=0,
            )
        )
    return made


async def update_many(
    session: AsyncSession, *, principal: Principal, entity: str, items: list[tuple[Any, Any]]
) -> None:
    """Apply an update body to each of these loaded (and locked) records of `entity`."""
    changed = [(record, await _changed(session, principal, entity, record, data)) for record, data in items]
    await records_updated(session, changed, entity=entity, principal=principal)


async def _changed(session: AsyncSession, principal: Principal, entity: str, record: Any, data: Any) -> dict[str, Any]:
    expect_version(record, data.expected_version)
    if entity in ("contact", "lead") and isinstance(data.email, str):
        data = msgspec.structs.replace(data, email=contacts._normalize_email(data.email))
    if entity == "opportunity":
        opportunities._check_stage_move(record, data.stage)
        if isinstance(data.stage, OpportunityStage) and data.stage.is_closed and record.closed_at is None:
            record.closed_at = session.info["clock"].now()
    if entity == "lead":
        if isinstance(data.owner_id, uuid.UUID) and data.owner_id != record.owner_id:
            await leads._check_owner(session, principal, data.owner_id, record.partner_id)
        data = await placed_on_update(data, record)
    changes = apply_changes(record, data)
    if entity == "account":
        record.normalized_name = normalize_company(record.name)
        record.domain = normalize_domain(record.domain or record.website)
    elif entity == "lead":
        record.company_normalized = normalize_company(record.company)
    return changes
