"""Intake: leads created through the API and the public web-to-lead form, scored, checked for
duplicates; and the channel manager's view of a lead."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.auth import Principal
from prm.core.errors import NotFound, RuleViolation
from prm.core.pagination import PageRequest
from prm.crm.models import Lead, LeadSource, LeadStatus
from prm.crm.normalize import normalize_company
from prm.crm.schemas import LeadCreate
from prm.crm.services import lead_pipeline
from prm.crm.services import leads as crm_leads
from prm.crm.services.lead_pipeline import DuplicateProbe
from prm.lead_distribution import rules
from prm.lead_distribution.models import WebForm
from prm.lead_distribution.repository import ConfigStore, DuplicateStore, OfferStore
from prm.lead_distribution.schemas import DuplicateRead, LeadDetails, OfferSummary, WebLeadSubmission
from prm.lead_distribution.service import notify, routing
from prm.lead_distribution.service.scoring import score_of


def probe_of(values: Any) -> DuplicateProbe:
    """What duplicate detection compares, from a create body or an import row."""
    fields = (
        values
        if isinstance(values, Mapping)
        else {k: getattr(values, k) for k in ("email", "company", "first_name", "last_name")}
    )
    email = fields.get("email")
    return DuplicateProbe(
        email=str(email).strip().lower() if email else None,
        company_normalized=normalize_company(str(fields["company"])),
        first_name=str(fields["first_name"]),
        last_name=str(fields["last_name"]),
    )


async def flag_duplicates(
    session: AsyncSession, found: Mapping[uuid.UUID, Sequence[tuple[uuid.UUID, list[str]]]]
) -> int:
    """Store each new lead's possible duplicates for the channel manager; returns how many leads were flagged."""
    now = session.info["clock"].now()
    rows = [
        {"lead_id": lead_id, "other_lead_id": other, "matched_on": matched, "detected_at": now}
        for lead_id, hits in found.items()
        for other, matched in hits
    ]
    await DuplicateStore(session).flag(rows)
    return sum(1 for hits in found.values() if hits)


async def create(session: AsyncSession, *, principal: Principal | None, data: LeadCreate) -> Lead:
    """Score it, look for duplicates among the leads already held, create it, flag what matched."""
    hits = (await lead_pipeline.find_duplicates(session, {0: probe_of(data)})).get(0, [])
    score = await score_of(session, data)
    lead = await crm_leads.create_lead(session, principal=principal, data=data, score=score.value)
    await flag_duplicates(session, {lead.id: [(h.lead_id, h.matched_on) for h in hits]})
    return lead


async def details_many(session: AsyncSession, leads: Sequence[Lead]) -> list[LeadDetails]:
    """Leads with their band, possible duplicates and current offer (three queries for any number)."""
    ids = [lead.id for lead in leads]
    flags = await DuplicateStore(session).of_many(ids)
    offers = await OfferStore(session).current(ids)
    return [_details(lead, flags.get(lead.id, []), offers.get(lead.id)) for lead in leads]


def _details(lead: Lead, flags: Sequence[Any], offer: Any) -> LeadDetails:
    duplicates = [
        DuplicateRead(lead_id=f.other_lead_id if f.lead_id == lead.id else f.lead_id, matched_on=f.matched_on)
        for f in flags
    ]
    summary = None
    if offer is not None:
        summary = OfferSummary(
            id=offer.id,
            kind=offer.kind,
            status=offer.status,
            partner_id=offer.partner_id,
            user_id=offer.user_id,
            group_id=offer.group_id,
            respond_by=offer.respond_by,
        )
    base = msgspec.convert(lead, LeadDetails, from_attributes=True)
    return msgspec.structs.replace(
        base,
        band=rules.band_of(lead.score),
        size_band=rules.size_band(lead.employees),
        possible_duplicates=duplicates,
        current_offer=summary,
    )


async def details(session: AsyncSession, lead: Lead) -> LeadDetails:
    return (await details_many(session, [lead]))[0]


async def get(session: AsyncSession, *, principal: Principal, lead_id: uuid.UUID) -> LeadDetails:
    found = await details(session, await crm_leads.get_lead(session, principal=principal, lead_id=lead_id))
    if principal.is_partner:
        # Possible duplicates may be other tenants' leads: their ids are the vendor's business only.
        found = msgspec.structs.replace(found, possible_duplicates=[])
    return found


async def queue(
    session: AsyncSession,
    *,
    principal: Principal,
    page: PageRequest,
    statuses: Sequence[LeadStatus],
    band: rules.Band | None,
    source: LeadSource | None,
    country: str | None,
) -> tuple[list[Lead], str | None]:
    return await crm_leads.list_leads(
        session,
        principal=principal,
        page=page,
        statuses=statuses,
        source=source,
        country=country,
        score_range=rules.BAND_RANGES[band] if band else None,
    )


# The public web-to-lead form -----------------------------------------------------------------


async def submit_web_lead(session: AsyncSession, *, form_key: str, data: WebLeadSubmission) -> WebForm:
    """A lead from the vendor's web page, through the form named by its key. A filled honeypot
    gets the same answer and nothing is kept."""
    form = await ConfigStore(session).web_form(form_key)
    if form is None:
        raise NotFound("No such form.")
    if data.homepage:
        return form  # a bot: answered like a person, so it learns nothing
    values = {name: getattr(data, name) for name in data.__struct_fields__ if name != "homepage"}
    if (name := rules.formula_field(values)) is not None:
        raise RuleViolation("Text starting with =, +, - or @ is not accepted.", field=name)
    lead_data = LeadCreate(
        first_name=data.first_name,
        last_name=data.last_name,
        company=data.company,
        email=data.email,
        phone=data.phone,
        title=data.title,
        country=data.country,
        source=LeadSource.WEB,
        campaign_id=form.campaign_id,
        current_situation=data.message,
    )
    lead = await create(session, principal=None, data=lead_data)
    notify.auto_response(session, form, to=lead.email or data.email, first_name=data.first_name)
    await _auto_qualify(session, form, lead)
    return form


async def _auto_qualify(session: AsyncSession, form: WebForm, lead: Lead) -> None:
    """A web lead in a band its form's program qualifies automatically is sales-qualified and
    routed by the rules now, as a channel manager would have; the history names the setting."""
    program = await ConfigStore(session).program(form.program_id)
    band = rules.band_of(lead.score)
    if program is None or not program.active or band.value not in program.auto_qualify_bands:
        return
    why = (
        f"qualified automatically: a {band.value} lead (score {lead.score}) from web form {form.name}; "
        f"program {program.name} qualifies {', '.join(program.auto_qualify_bands)} web leads"
    )
    await lead_pipeline.change(
        session, lead, action="qualified", actor=None, status=LeadStatus.SALES_QUALIFIED, note=why
    )
    await routing.route_on_arrival(session, lead, why="routed on arrival, " + why)
