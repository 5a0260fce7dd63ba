"""Converting an accepted lead: the CRM makes the account, contact and indirect opportunity;
distribution closes the offer and links a referral to the opportunity (for its fee)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.auth import Principal
from prm.core.changes import expect_version
from prm.core.errors import RuleViolation
from prm.crm.services import leads as crm_leads
from prm.crm.services.lead_conversion import Conversion, Converted, convert_lead
from prm.lead_distribution.repository import OfferStore, ReferralStore
from prm.lead_distribution.schemas import ConvertRequest


async def convert(
    session: AsyncSession, *, principal: Principal, lead_id: uuid.UUID, data: ConvertRequest
) -> Converted:
    lead = await crm_leads.get_lead(session, principal=principal, lead_id=lead_id)
    expect_version(lead, data.expected_version)
    if not principal.is_partner and lead.partner_id is not None:
        raise RuleViolation("A lead a partner accepted is converted by that partner.", field="lead_id")
    currency = data.currency or lead.currency
    if currency is None:
        raise RuleViolation("The lead has no currency; say which one.", field="currency")
    converted = await convert_lead(
        session,
        principal=principal,
        lead=lead,
        data=Conversion(
            opportunity_name=data.opportunity_name or f"{lead.company} (from lead)",
            amount_minor=data.amount_minor if data.amount_minor is not None else lead.budget_minor or 0,
            currency=currency,
            close_date=data.close_date,
            account_id=data.account_id,
        ),
    )
    now = session.info["clock"].now()
    await OfferStore(session).mark_converted(lead.id, now)
    await ReferralStore(session).link_opportunity(lead.id, converted.opportunity_id, now)
    return converted
