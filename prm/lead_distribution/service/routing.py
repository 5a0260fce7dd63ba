"""Routing a lead: by hand (a channel manager), by the vendor admin's ordered rules, and again
after a recall (declined or unanswered). Every decision is stored with its explanation, and a
weighted pick with its seed, candidates and weights, so it can be replayed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.auth import Principal
from prm.core.changes import expect_version
from prm.core.errors import NotFound, RuleViolation
from prm.crm.models import Lead, LeadStatus
from prm.crm.services import lead_pipeline
from prm.crm.services import leads as crm_leads
from prm.crm.services.partners import get_partner
from prm.crm.services.users import get_user
from prm.lead_distribution import rules
from prm.lead_distribution.models import (
    LeadOffer,
    OfferKind,
    OfferStatus,
    RoutingDecision,
    RoutingMode,
    RoutingOutcome,
    RoutingRule,
    TargetKind,
)
from prm.lead_distribution.repository import ConfigStore, DecisionRepository, OfferStore
from prm.lead_distribution.schemas import ReplayRead, RouteRequest
from prm.lead_distribution.service import notify
from prm.lead_distribution.service.eligibility import Pool, facts_of
from prm.lead_distribution.service.state import ROUTABLE
from prm.lead_distribution.service.targets import Placement, Target, place

# Recording a decision ------------------------------------------------------------------------


@dataclass(frozen=True)
class Context:
    mode: RoutingMode
    actor: Principal | None
    now: datetime
    rule: RoutingRule | None = None
    rules_log: tuple[dict[str, Any], ...] = ()
    note: str | None = None


def _explanation(context: Context, placement: Placement | None, lead: Lead) -> str:
    parts = [f"{context.mode.value} routing of a {rules.band_of(lead.score).value} lead (score {lead.score})"]
    if context.note:
        parts.append(context.note)
    if context.rule is not None:
        parts.append(f"rule #{context.rule.position} {context.rule.name!r} matched")
    parts.append(placement.reason if placement else "no rule routed it: back to the channel manager's queue")
    return "; ".join(parts)


async def _record(session: AsyncSession, lead: Lead, placement: Placement | None, context: Context) -> RoutingDecision:
    target = placement.target if placement else None
    decision = RoutingDecision(
        lead_id=lead.id,
        decided_at=context.now,
        mode=context.mode,
        actor_id=context.actor.user_id if context.actor else None,
        rule_id=context.rule.id if context.rule else None,
        target_kind=target.kind if target else None,
        outcome=placement.outcome if placement and placement.outcome else RoutingOutcome.RETURNED_TO_QUEUE,
        partner_id=placement.partner_id if placement else None,
        user_id=placement.user_id if placement else None,
        group_id=placement.group.id if placement and placement.group else None,
        program_id=placement.pool.program.id if placement and placement.pool and placement.pool.program else None,
        seed=placement.seed if placement else None,
        candidates=placement.candidates if placement else [],
        excluded=placement.excluded if placement else [],
        rules=list(context.rules_log),
        override=bool(placement and placement.overridden),
        explanation=_explanation(context, placement, lead),
    )
    session.add(decision)
    await session.flush()
    return decision


def _offer(decision: RoutingDecision, placement: Placement, lead: Lead, now: datetime) -> LeadOffer:
    pool = placement.pool or Pool(None, {})
    if placement.group is not None:
        kind, due = OfferKind.SHARK_TANK, now + timedelta(hours=pool.claim_window_hours(placement.group))
    else:
        kind, due = OfferKind.DIRECT, now + timedelta(hours=pool.response_hours(rules.band_of(lead.score)))
    return LeadOffer(
        lead_id=lead.id,
        decision_id=decision.id,
        kind=kind,
        status=OfferStatus.OPEN,
        partner_id=placement.partner_id,
        user_id=placement.user_id,
        group_id=decision.group_id,
        program_id=decision.program_id,
        offered_at=now,
        respond_by=due,
    )


async def _apply(session: AsyncSession, lead: Lead, placement: Placement | None, context: Context) -> RoutingDecision:
    """Record the decision, then carry it out: an offer, an internal assignment, or back to the queue."""
    decision = await _record(session, lead, placement, context)
    if placement is None or placement.outcome is None:
        await _back_to_queue(session, lead, decision, context)
    elif placement.outcome is RoutingOutcome.ASSIGNED_INTERNAL:
        await _assign_internal(session, lead, decision, placement, context)
    else:
        await _make_offer(session, lead, decision, placement, context)
    return decision


async def _back_to_queue(session: AsyncSession, lead: Lead, decision: RoutingDecision, context: Context) -> None:
    if lead.status is LeadStatus.ROUTED:
        await lead_pipeline.change(
            session,
            lead,
            action="returned_to_queue",
            actor=context.actor,
            status=LeadStatus.SALES_QUALIFIED,
            note=decision.explanation,
        )
    if context.mode is RoutingMode.RECALL:  # a person asking for the routing already knows
        await notify.returned_to_queue(session, lead, decision.explanation)


async def _assign_internal(
    session: AsyncSession, lead: Lead, decision: RoutingDecision, placement: Placement, context: Context
) -> None:
    """A direct sale: the vendor rep holds the lead at once (an accepted offer records it)."""
    assert placement.user_id is not None  # an internal placement always names its rep
    now = context.now
    session.add(
        LeadOffer(
            lead_id=lead.id,
            decision_id=decision.id,
            kind=OfferKind.DIRECT,
            status=OfferStatus.ACCEPTED,
            user_id=placement.user_id,
            offered_at=now,
            respond_by=now,
            responded_at=now,
            response_seconds=0,
        )
    )
    await lead_pipeline.hand_over(session, lead, partner_id=None, owner_id=placement.user_id, actor=context.actor)


async def _make_offer(
    session: AsyncSession, lead: Lead, decision: RoutingDecision, placement: Placement, context: Context
) -> None:
    offer = _offer(decision, placement, lead, context.now)
    session.add(offer)
    await session.flush()
    await lead_pipeline.change(
        session, lead, action="routed", actor=context.actor, status=LeadStatus.ROUTED, note=decision.explanation
    )
    if offer.kind is OfferKind.SHARK_TANK:
        await OfferStore(session).add_candidates(offer.id, placement.group_candidates)
        await notify.group_offer_made(session, offer, lead, placement.group_candidates)
    else:
        await notify.offer_made(session, offer, lead)


# The three ways in ---------------------------------------------------------------------------


def _conditions(rule: RoutingRule) -> rules.Conditions:
    return rules.Conditions(
        rule.countries, rule.regions, rule.size_bands, rule.product_ids, rule.score_bands, rule.sources
    )


async def run_rules(session: AsyncSession, lead: Lead, context: Context) -> RoutingDecision:
    """Try the active rules in order; the first whose conditions hold and whose target can take
    the lead routes it. Nothing routes it: back to the channel manager's queue."""
    facts, log = facts_of(lead), []
    for rule in await ConfigStore(session).rules(active_only=True):
        entry: dict[str, Any] = {"rule_id": str(rule.id), "name": rule.name, "position": rule.position}
        miss = rules.condition_miss(_conditions(rule), facts)
        if miss is not None:
            log.append(entry | {"matched": False, "reason": miss})
            continue
        placement = await place(session, lead, Target.of_rule(rule), now=context.now)
        log.append(entry | {"matched": True, "routed": placement.usable, "reason": placement.reason})
        if placement.usable:
            return await _apply(session, lead, placement, _with(context, rule=rule, rules_log=tuple(log)))
    return await _apply(session, lead, None, _with(context, rules_log=tuple(log)))


def _with(context: Context, **changes: Any) -> Context:
    return Context(**{**context.__dict__, **changes})


async def _routable_lead(session: AsyncSession, principal: Principal, lead_id: uuid.UUID, version: int) -> Lead:
    lead = await crm_leads.get_lead(session, principal=principal, lead_id=lead_id)
    expect_version(lead, version)
    lead_pipeline.ensure_status(lead, "route", ROUTABLE)
    return lead


async def _check_target(session: AsyncSession, principal: Principal, data: RouteRequest) -> Target:
    """The target's ids are present and visible to the caller (a 422 naming the field otherwise)."""
    needed = {
        TargetKind.PARTNER_USER: "user_id",
        TargetKind.INTERNAL_REP: "user_id",
        TargetKind.PARTNER: "partner_id",
        TargetKind.PROGRAM_POOL: "program_id",
        TargetKind.SHARK_TANK: "group_id",
    }[data.target_kind]
    if getattr(data, needed) is None:
        raise RuleViolation(f"Routing to {data.target_kind.value} needs {needed}.", field=needed)
    try:
        if data.partner_id is not None:
            await get_partner(session, principal=principal, partner_id=data.partner_id)
        if data.user_id is not None:
            await get_user(session, principal=principal, user_id=data.user_id)
    except NotFound as exc:
        raise RuleViolation(exc.detail, field="partner_id" if data.partner_id else "user_id") from exc
    return Target(data.target_kind, data.partner_id, data.user_id, data.group_id, data.program_id)


async def route_manually(
    session: AsyncSession, *, principal: Principal, lead_id: uuid.UUID, data: RouteRequest
) -> RoutingDecision:
    lead = await _routable_lead(session, principal, lead_id, data.expected_version)
    target = await _check_target(session, principal, data)
    now = session.info["clock"].now()
    await OfferStore(session).withdraw_open(lead.id, now)
    placement = await place(session, lead, target, now=now, override=data.override_eligibility)
    if not placement.usable:
        raise RuleViolation(
            f"Cannot route there: {placement.reason}.", field="target_kind", excluded=placement.excluded
        )
    return await _apply(session, lead, placement, Context(RoutingMode.MANUAL, principal, now, note=data.note))


async def route_by_rules(
    session: AsyncSession, *, principal: Principal, lead_id: uuid.UUID, expected_version: int
) -> RoutingDecision:
    lead = await _routable_lead(session, principal, lead_id, expected_version)
    now = session.info["clock"].now()
    await OfferStore(session).withdraw_open(lead.id, now)
    return await run_rules(session, lead, Context(RoutingMode.RULES, principal, now))


async def reroute(session: AsyncSession, lead: Lead, *, why: str, now: datetime) -> RoutingDecision:
    """After a decline or an unanswered offer: the rules again, never to a partner that passed on it."""
    return await run_rules(session, lead, Context(RoutingMode.RECALL, None, now, note=why))


async def return_to_queue(session: AsyncSession, lead: Lead, *, why: str, now: datetime) -> RoutingDecision:
    """A shark-tank window closed unclaimed: back to the channel manager, who decides again."""
    return await _apply(session, lead, None, Context(RoutingMode.RECALL, None, now, note=why))


# Reading decisions ---------------------------------------------------------------------------


async def decisions_of(session: AsyncSession, *, principal: Principal, lead_id: uuid.UUID) -> list[RoutingDecision]:
    await crm_leads.get_lead(session, principal=principal, lead_id=lead_id)
    return await DecisionRepository(session, principal).for_lead(lead_id)


async def replay(session: AsyncSession, *, principal: Principal, decision_id: uuid.UUID) -> ReplayRead:
    """Draw again with the stored seed and weights: the same partner must come out."""
    decision = await DecisionRepository(session, principal).get(decision_id)
    weights = [int(c["weight"]) for c in decision.candidates]
    replayed: uuid.UUID | None = decision.partner_id
    if decision.seed is not None and weights:
        replayed = uuid.UUID(decision.candidates[rules.pick(decision.seed, weights)]["partner_id"])
    return ReplayRead(
        decision_id=decision.id,
        seed=decision.seed,
        weights=weights,
        picked_partner_id=decision.partner_id,
        replayed_partner_id=replayed,
        matches=replayed == decision.partner_id,
    )
