"""Converting an accepted lead into an account, a contact and an opportunity, through the CRM services.

The account is reused when the lead's holder (the accepting partner, or the vendor for an
internal rep) already has one with the same normalised name or email domain; so is a contact
with the same email on it. The opportunity carries the partner, which makes it indirect.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.auth import Principal
from prm.core.errors import NotFound, RuleViolation
from prm.core.records import record_ended
from prm.crm.models import Account, AccountKind, Contact, Lead, LeadStatus
from prm.crm.normalize import normalize_company, normalize_domain
from prm.crm.repository import AccountRepository, ContactRepository
from prm.crm.schemas import AccountCreate, ContactCreate, OpportunityCreate
from prm.crm.services.accounts import create_account
from prm.crm.services.contacts import create_contact
from prm.crm.services.lead_pipeline import change, ensure_status
from prm.crm.services.opportunities import create_opportunity


@dataclass(frozen=True)
class Conversion:
    opportunity_name: str
    amount_minor: int
    currency: str
    close_date: date | None = None
    account_id: uuid.UUID | None = None  # an account to use instead of matching one


@dataclass(frozen=True)
class Converted:
    account_id: uuid.UUID
    contact_id: uuid.UUID
    opportunity_id: uuid.UUID
    account_reused: bool
    contact_reused: bool


async def _chosen_account(session: AsyncSession, principal: Principal, lead: Lead, account_id: uuid.UUID) -> Account:
    try:
        account = await AccountRepository(session, principal).get(account_id)
    except NotFound as exc:
        raise RuleViolation(f"Account {account_id} not found.", field="account_id") from exc
    if account.partner_id != lead.partner_id:
        raise RuleViolation("The account must belong to whoever holds the lead.", field="account_id")
    return account


async def _account(session: AsyncSession, principal: Principal, lead: Lead, data: Conversion) -> tuple[Account, bool]:
    if data.account_id is not None:
        return await _chosen_account(session, principal, lead, data.account_id), True
    domain = normalize_domain(lead.email)
    normalized = lead.company_normalized or normalize_company(lead.company)
    found = await AccountRepository(session, principal).first_matching(normalized, domain, lead.partner_id)
    if found is not None:
        return found, True
    created = await create_account(
        session,
        principal=principal,
        data=AccountCreate(
            name=lead.company,
            domain=domain,
            country=lead.country,
            employees=lead.employees,
            kind=AccountKind.PROSPECT,
            partner_id=lead.partner_id,
        ),
    )
    return created, False


async def _contact(session: AsyncSession, principal: Principal, lead: Lead, account: Account) -> tuple[Contact, bool]:
    if lead.email:
        found = await ContactRepository(session, principal).on_account_with_email(account.id, lead.email)
        if found is not None:
            return found, True
    created = await create_contact(
        session,
        principal=principal,
        data=ContactCreate(
            account_id=account.id,
            first_name=lead.first_name,
            last_name=lead.last_name,
            email=lead.email,
            phone=lead.phone,
            title=lead.title,
        ),
    )
    return created, False


async def convert_lead(session: AsyncSession, *, principal: Principal, lead: Lead, data: Conversion) -> Converted:
    """Account + contact + opportunity for an accepted lead, then the lead is marked converted."""
    ensure_status(lead, "convert", (LeadStatus.ACCEPTED,))
    account, account_reused = await _account(session, principal, lead, data)
    contact, contact_reused = await _contact(session, principal, lead, account)
    opportunity = await create_opportunity(
        session,
        principal=principal,
        data=OpportunityCreate(
            name=data.opportunity_name,
            account_id=account.id,
            amount_minor=data.amount_minor,
            currency=data.currency,
            close_date=data.close_date,
            partner_id=lead.partner_id,
            lead_source=lead.source.value,
        ),
    )
    await change(
        session,
        lead,
        action="converted",
        actor=principal,
        status=LeadStatus.CONVERTED,
        values={
            "converted_at": session.info["clock"].now(),
            "converted_account_id": account.id,
            "converted_contact_id": contact.id,
            "converted_opportunity_id": opportunity.id,
        },
    )
    await record_ended(session, lead, entity="lead", how="converted")
    return Converted(account.id, contact.id, opportunity.id, account_reused, contact_reused)
