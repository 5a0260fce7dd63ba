"""Routing a lead: by hand (a channel manager), by the vendor admin's ordered rules, and again
after a recall (declined or unanswered). Every decision is stored with its explanation, and a
weighted pick with its seed, candidates and weights, so it can be replayed.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.auth import Principal
from prm.core.changes import expect_version
from prm.core.errors import Conflict, NotFound, RuleViolation
from prm.core.pagination import PageRequest
from prm.crm.models import Lead, LeadStatus
from prm.crm.services import lead_pipeline
from prm.crm.services import leads as crm_leads
from prm.crm.services.users import get_user
from prm.lead_distribution import rules
from prm.lead_distribution.models import RoutingDecision, RoutingMode, RoutingOutcome, TargetKind
from prm.lead_distribution.repository import DecisionRepository, GroupRepository, OfferStore
from prm.lead_distribution.schemas import LeadToRoute, ReplayRead, RouteRequest
from prm.lead_distribution.service.decisions import Context, Outcomes
from prm.lead_distribution.service.eligibility import facts_of
from prm.lead_distribution.service.lookups import Lookups
from prm.lead_distribution.service.setup import check_program, partner_exists
from prm.lead_distribution.service.state import ROUTABLE
from prm.lead_distribution.service.targets import Target, place

# Rules ---------------------------------------------------------------------------------------


async def run_rules(look: Lookups, outcomes: Outcomes, lead: Lead, context: Context) -> RoutingDecision:
    """Try the active rules in order; the first whose conditions hold and whose target can take
    the lead routes it. Nothing routes it: back to the channel manager's queue."""
    facts, log = facts_of(lead), []
    for rule in await look.rules():
        entry: dict[str, Any] = {"rule_id": str(rule.id), "name": rule.name, "position": rule.position}
        miss = rules.condition_miss(rule.conditions, facts)
        if miss is not None:
            log.append(entry | {"matched": False, "reason": miss})
            continue
        placement = await place(look, lead, Target.of_rule(rule))
        log.append(entry | {"matched": True, "routed": placement.usable, "reason": placement.reason})
        if placement.usable:
            if placement.outcome is RoutingOutcome.OFFERED:
                look.took(placement.partner_id)
            return outcomes.add(lead, placement, context.having(rule=rule, rules_log=tuple(log)))
    return outcomes.add(lead, None, context.having(rules_log=tuple(log)))


# The ways in ---------------------------------------------------------------------------------


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
        TargetKind.NEAREST_PARTNERS: "program_id",
        TargetKind.SHARK_TANK: "group_id",
    }[data.target_kind]
    if getattr(data, needed) is None:
        raise RuleViolation(f"Routing to {data.target_kind.value} needs {needed}.", field=needed)
    if data.partner_id is not None:
        await partner_exists(session, principal, data.partner_id, field="partner_id")
    if data.user_id is not None:
        try:
            await get_user(session, principal=principal, user_id=data.user_id)
        except NotFound as exc:
            raise RuleViolation(exc.detail, field="user_id") from exc
    if data.group_id is not None and not await GroupRepository(session, principal).exists(data.group_id):
        raise RuleViolation(f"Group {data.group_id} not found.", field="group_id")
    await check_program(session, principal, data.program_id)
    return Target(data.target_kind, data.partner_id, data.user_id, data.group_id, data.program_id)


async def _withdraw_if_routed(session: AsyncSession, leads: Sequence[Lead], now: datetime) -> None:
    """A routed lead's open offer is withdrawn before it goes elsewhere. Only a routed lead has
    one: every way back to the queue closes the offer first (declined, expired, lapsed, withdrawn)."""
    routed = [lead.id for lead in leads if lead.status is LeadStatus.ROUTED]
    if routed:
        await OfferStore(session).withdraw_open_of(routed, now)


async def route_manually(
    session: AsyncSession, *, principal: Principal, lead_id: uuid.UUID, data: RouteRequest
) -> RoutingDecision:
    lead = await _routable_lead(session, principal, lead_id, data.expected_version)
    target = await _check_target(session, principal, data)
    now = session.info["clock"].now()
    await _withdraw_if_routed(session, [lead], now)
    placement = await place(Lookups(session, now=now), lead, target, override=data.override_eligibility)
    if not placement.usable:
        raise RuleViolation(
            f"Cannot route there: {placement.reason}.", field="target_kind", excluded=placement.excluded
        )
    outcomes = Outcomes(session)
    decision = outcomes.add(lead, placement, Context(RoutingMode.MANUAL, principal, now, note=data.note))
    await outcomes.write()
    return decision


async def route_by_rules(
    session: AsyncSession, *, principal: Principal, lead_id: uuid.UUID, expected_version: int
) -> RoutingDecision:
    lead = await _routable_lead(session, principal, lead_id, expected_version)
    now = session.info["clock"].now()
    await _withdraw_if_routed(session, [lead], now)
    outcomes = Outcomes(session)
    decision = await run_rules(Lookups(session, now=now), outcomes, lead, Context(RoutingMode.RULES, principal, now))
    await outcomes.write()
    return decision


async def route_on_arrival(session: AsyncSession, lead: Lead, *, why: str) -> RoutingDecision:
    """A lead qualified without a human (web-to-lead auto-qualification) goes by the rules at once."""
    now = session.info["clock"].now()
    outcomes = Outcomes(session)
    decision = await run_rules(
        Lookups(session, now=now), outcomes, lead, Context(RoutingMode.RULES, None, now, note=why)
    )
    await outcomes.write()
    return decision


def _check_routable(lead: Lead | None, item: LeadToRoute, index: int) -> Lead:
    """The lead is visible, at the version the caller read, and routable; errors name leads[index]."""
    if lead is None:
        raise NotFound(f"Lead {item.id} not found.", field=f"leads[{index}].id")
    try:
        expect_version(lead, item.expected_version)
        lead_pipeline.ensure_status(lead, "route", ROUTABLE)
    except Conflict as exc:
        raise Conflict(exc.detail, field=f"leads[{index}].{exc.field or 'id'}", **exc.extra) from exc
    return lead


async def _routable_leads(session: AsyncSession, principal: Principal, wanted: Sequence[LeadToRoute]) -> list[Lead]:
    """The leads in the order asked; the first that cannot be routed stops them all."""
    found = await crm_leads.visible_leads(session, principal=principal, lead_ids=[w.id for w in wanted])
    seen: set[uuid.UUID] = set()
    for index, item in enumerate(wanted):
        if item.id in seen:
            raise RuleViolation(f"Lead {item.id} is listed twice.", field=f"leads[{index}].id")
        seen.add(item.id)
    return [_check_routable(found.get(item.id), item, index) for index, item in enumerate(wanted)]


async def route_many_by_rules(
    session: AsyncSession, *, principal: Principal, wanted: Sequence[LeadToRoute]
) -> list[tuple[Lead, RoutingDecision]]:
    """Several leads by the rules in one unit of work, each with its own decision, as one
    auto-route each would: one read of the configuration and rosters, and one write for them all."""
    leads = await _routable_leads(session, principal, wanted)
    now = session.info["clock"].now()
    await _withdraw_if_routed(session, leads, now)
    look, outcomes = Lookups(session, now=now, many=True), Outcomes(session)
    await look.read_passed([lead.id for lead in leads])
    context = Context(RoutingMode.RULES, principal, now)
    decisions = [(lead, await run_rules(look, outcomes, lead, context)) for lead in leads]
    await outcomes.write()
    return decisions


async def reroute_many(session: AsyncSession, recalls: Sequence[tuple[Lead, str]], *, now: datetime) -> None:
    """After declines or unanswered offers: the rules again for each (lead, why), never to a
    partner that passed on it; one read of the configuration and one write for them all."""
    look, outcomes = Lookups(session, now=now, many=len(recalls) > 1), Outcomes(session)
    await look.read_passed([lead.id for lead, _ in recalls])
    for lead, why in recalls:
        await run_rules(look, outcomes, lead, Context(RoutingMode.RECALL, None, now, note=why))
    await outcomes.write()


async def reroute(session: AsyncSession, lead: Lead, *, why: str, now: datetime) -> None:
    await reroute_many(session, [(lead, why)], now=now)


async def return_to_queue(session: AsyncSession, returned: Sequence[tuple[Lead, str]], *, now: datetime) -> None:
    """Shark-tank windows closed unclaimed: back to the channel manager, who decides again."""
    outcomes = Outcomes(session)
    for lead, why in returned:
        outcomes.add(lead, None, Context(RoutingMode.RECALL, None, now, note=why))
    await outcomes.write()


# Reading decisions ---------------------------------------------------------------------------


async def decisions_of(session: AsyncSession, *, principal: Principal, lead_id: uuid.UUID) -> list[RoutingDecision]:
    await crm_leads.get_lead(session, principal=principal, lead_id=lead_id)
    return await DecisionRepository(session, principal).for_lead(lead_id)


async def decision_page(
    session: AsyncSession, *, principal: Principal, lead_id: uuid.UUID, page: PageRequest
) -> tuple[list[RoutingDecision], str | None]:
    await crm_leads.get_lead(session, principal=principal, lead_id=lead_id)
    return await DecisionRepository(session, principal).page_for_lead(lead_id, page)


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
