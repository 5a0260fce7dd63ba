"""Qualification by a channel manager: the facts, the score and band, MQL/SQL; disqualification
with a reason; and merging a duplicate into the lead that stays."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.auth import Principal
from prm.core.changes import expect_version, sent_fields
from prm.core.errors import NotFound, RuleViolation
from prm.crm.models import Lead, LeadStatus
from prm.crm.services import lead_pipeline
from prm.crm.services import leads as crm_leads
from prm.crm.services.products import get_product
from prm.lead_distribution import rules
from prm.lead_distribution.repository import DuplicateStore, OfferStore, ReferralStore
from prm.lead_distribution.schemas import Disqualify, MergeRequest, Qualify
from prm.lead_distribution.service.scoring import attributes_of, criteria_in_force
from prm.lead_distribution.service.state import DISQUALIFIABLE, MERGEABLE, QUALIFY_FROM


async def qualify(session: AsyncSession, *, principal: Principal, lead_id: uuid.UUID, data: Qualify) -> Lead:
    """Record what is known, score it with the criteria in force, and move to MQL or SQL."""
    lead = await crm_leads.get_lead(session, principal=principal, lead_id=lead_id)
    expect_version(lead, data.expected_version)
    stage = LeadStatus(data.stage.value)
    lead_pipeline.ensure_status(lead, f"mark as {stage.value}", QUALIFY_FROM[stage])
    values = {k: v for k, v in sent_fields(data).items() if k not in ("stage", "note")}
    if isinstance(values.get("product_id"), uuid.UUID):
        try:
            await get_product(session, principal=principal, product_id=values["product_id"])
        except NotFound as exc:
            raise RuleViolation(exc.detail, field="product_id") from exc
    score = rules.score(attributes_of(attributes_of(lead) | values), await criteria_in_force(session))
    note = "; ".join(x for x in (data.note, score.explain()) if x)
    await lead_pipeline.change(
        session,
        lead,
        action="qualified",
        actor=principal,
        status=stage,
        values=values | {"score": score.value},
        note=note,
    )
    return lead


async def disqualify(session: AsyncSession, *, principal: Principal, lead_id: uuid.UUID, data: Disqualify) -> Lead:
    lead = await crm_leads.get_lead(session, principal=principal, lead_id=lead_id)
    expect_version(lead, data.expected_version)
    lead_pipeline.ensure_status(lead, "disqualify", DISQUALIFIABLE)
    if data.reason.value == "other" and not data.note:
        raise RuleViolation("Say why when the reason is other.", field="note")
    await OfferStore(session).withdraw_open(lead.id, session.info["clock"].now())
    await lead_pipeline.change(
        session,
        lead,
        action="disqualified",
        actor=principal,
        status=LeadStatus.DISQUALIFIED,
        values={"disqualified_reason": data.reason.value},
        note=data.note,
    )
    return lead


async def merge(session: AsyncSession, *, principal: Principal, lead_id: uuid.UUID, data: MergeRequest) -> Lead:
    """The duplicate's blanks-filling facts, campaign memberships and referral move to the lead
    that stays; the duplicate is kept (disqualified as duplicate, pointing at it) with its history."""
    if data.duplicate_id == lead_id:
        raise RuleViolation("A lead cannot be merged into itself.", field="duplicate_id")
    survivor = await crm_leads.get_lead(session, principal=principal, lead_id=lead_id)
    try:
        duplicate = await crm_leads.get_lead(session, principal=principal, lead_id=data.duplicate_id)
    except NotFound as exc:
        raise RuleViolation(exc.detail, field="duplicate_id") from exc
    expect_version(survivor, data.expected_version)
    expect_version(duplicate, data.duplicate_version)
    lead_pipeline.ensure_status(survivor, "merge into", MERGEABLE)
    lead_pipeline.ensure_status(duplicate, "merge", MERGEABLE)
    await lead_pipeline.merge(session, survivor, duplicate, actor=principal)
    await DuplicateStore(session).resolve(duplicate.id)
    await ReferralStore(session).move(duplicate.id, survivor.id)
    return survivor
