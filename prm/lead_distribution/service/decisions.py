"""Recording routing decisions and carrying them out: an offer, an internal assignment, or back to
the queue. Every decision is stored with its explanation, and a weighted pick with its seed,
candidates and weights, so it can be replayed.

The decisions of one request or timer run are written together (`Outcomes.write`): one INSERT
for the decisions, one for the offers, one for shark-tank candidates, the leads' versioned UPDATEs
in one flush with their history and events, and one for the emails.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.auth import Principal
from prm.core.db import new_id
from prm.crm.models import Lead, LeadStatus
from prm.crm.services import lead_pipeline
from prm.lead_distribution import rules
from prm.lead_distribution.models import (
    LeadOffer,
    OfferKind,
    OfferStatus,
    RoutingDecision,
    RoutingMode,
    RoutingOutcome,
)
from prm.lead_distribution.repository import OfferStore
from prm.lead_distribution.service import notify
from prm.lead_distribution.service.eligibility import Pool
from prm.lead_distribution.service.targets import Placement


@dataclass(frozen=True)
class Context:
    mode: RoutingMode
    actor: Principal | None
    now: datetime
    rule: Any = None  # the rule that routed it (a row of RoutingStore.active_rules)
    rules_log: tuple[dict[str, Any], ...] = ()
    note: str | None = None

    def having(self, **changes: Any) -> Context:
        return replace(self, **changes)


def _explanation(context: Context, placement: Placement | None, lead: Lead) -> str:
    parts = [f"{context.mode.value} routing of a {rules.band_of(lead.score).value} lead (score {lead.score})"]
    if context.note:
        parts.append(context.note)
    if context.rule is not None:
        parts.append(f"rule #{context.rule.position} {context.rule.name!r} matched")
    parts.append(placement.reason if placement else "no rule routed it: back to the channel manager's queue")
    return "; ".join(parts)


def _decision(lead: Lead, placement: Placement | None, context: Context) -> dict[str, Any]:
    target, p = (placement.target if placement else None), placement
    return {
        "id": new_id(),
        "lead_id": lead.id,
        "decided_at": context.now,
        "mode": context.mode,
        "actor_id": context.actor.user_id if context.actor else None,
        "rule_id": context.rule.id if context.rule is not None else None,
        "target_kind": target.kind if target else None,
        "outcome": p.outcome if p and p.outcome else RoutingOutcome.RETURNED_TO_QUEUE,
        "partner_id": p.partner_id if p else None,
        "user_id": p.user_id if p else None,
        "group_id": p.group.id if p and p.group else None,
        "program_id": p.pool.program.id if p and p.pool and p.pool.program else None,
        "seed": p.seed if p else None,
        "candidates": p.candidates if p else [],
        "excluded": p.excluded if p else [],
        "rules": list(context.rules_log),
        "override": bool(p and p.overridden),
        "explanation": _explanation(context, placement, lead),
    }


def _offer(decision: dict[str, Any], placement: Placement, lead: Lead, now: datetime) -> dict[str, Any]:
    pool = placement.pool or Pool(None)
    if placement.group is not None:
        kind, due = OfferKind.SHARK_TANK, now + timedelta(hours=pool.claim_window_hours(placement.group))
    else:
        kind, due = OfferKind.DIRECT, now + timedelta(hours=pool.response_hours(rules.band_of(lead.score)))
    return _offer_row(decision, kind, OfferStatus.OPEN, now, placement.partner_id, placement.user_id) | {
        "group_id": decision["group_id"],
        "program_id": decision["program_id"],
        "respond_by": due,
    }


def _offer_row(
    decision: dict[str, Any],
    kind: OfferKind,
    status: OfferStatus,
    now: datetime,
    partner_id: uuid.UUID | None,
    user_id: uuid.UUID | None,
) -> dict[str, Any]:
    """Every column of a new offer (one INSERT takes many rows, all with the same columns)."""
    return {
        "id": new_id(),
        "created_at": now,
        "updated_at": now,
        "version": 1,
        "lead_id": decision["lead_id"],
        "decision_id": decision["id"],
        "kind": kind,
        "status": status,
        "partner_id": partner_id,
        "user_id": user_id,
        "group_id": None,
        "program_id": None,
        "offered_at": now,
        "respond_by": now,
        "responded_at": None,
        "responded_by_id": None,
        "response_seconds": None,
        "decline_reason": None,
        "decline_note": None,
    }


@dataclass
class Outcomes:
    """Decisions taken in one unit of work, written together by `write`."""

    session: AsyncSession
    decisions: list[dict[str, Any]] = field(default_factory=list)
    offers: list[dict[str, Any]] = field(default_factory=list)
    candidates: list[dict[str, Any]] = field(default_factory=list)
    changes: list[lead_pipeline.LeadChange] = field(default_factory=list)
    notices: list[notify.OfferNotice] = field(default_factory=list)
    returned: list[tuple[Lead, str]] = field(default_factory=list)

    def add(self, lead: Lead, placement: Placement | None, context: Context) -> RoutingDecision:
        """Record the decision and what carries it out; the RoutingDecision is what to reply with."""
        decision = _decision(lead, placement, context)
        self.decisions.append(decision)
        if placement is None or placement.outcome is None:
            self._back_to_queue(lead, decision, context)
        elif placement.outcome is RoutingOutcome.ASSIGNED_INTERNAL:
            self._assign_internal(lead, decision, placement, context)
        else:
            self._make_offer(lead, decision, placement, context)
        return RoutingDecision(**decision)

    def _back_to_queue(self, lead: Lead, decision: dict[str, Any], context: Context) -> None:
        if lead.status is LeadStatus.ROUTED:
            self.changes.append(
                lead_pipeline.LeadChange(
                    lead, "returned_to_queue", context.actor, LeadStatus.SALES_QUALIFIED, note=decision["explanation"]
                )
            )
        if context.mode is RoutingMode.RECALL:  # a person asking for the routing already knows
            self.returned.append((lead, decision["explanation"]))

    def _assign_internal(self, lead: Lead, decision: dict[str, Any], placement: Placement, context: Context) -> None:
        """A direct sale: the vendor rep holds the lead at once (an accepted offer records it)."""
        assert placement.user_id is not None  # an internal placement always names its rep
        now = context.now
        offer = _offer_row(decision, OfferKind.DIRECT, OfferStatus.ACCEPTED, now, None, placement.user_id)
        self.offers.append(offer | {"responded_at": now, "response_seconds": 0})
        self.changes.append(
            lead_pipeline.handed_over(lead, partner_id=None, owner_id=placement.user_id, actor=context.actor)
        )

    def _make_offer(self, lead: Lead, decision: dict[str, Any], placement: Placement, context: Context) -> None:
        offer = _offer(decision, placement, lead, context.now)
        self.offers.append(offer)
        self.changes.append(
            lead_pipeline.LeadChange(
                lead, "routed", context.actor, status=LeadStatus.ROUTED, note=decision["explanation"]
            )
        )
        shark_tank = offer["kind"] is OfferKind.SHARK_TANK
        if shark_tank:
            self.candidates += [{"offer_id": offer["id"], "partner_id": p} for p in placement.group_candidates]
        self.notices.append(notify.OfferNotice(LeadOffer(**offer), lead, to_group=shark_tank))

    async def write(self) -> None:
        store = OfferStore(self.session)
        await store.add_decisions(self.decisions)
        await store.add(self.offers)
        await store.add_candidates(self.candidates)
        await lead_pipeline.change_many(self.session, self.changes)
        await notify.offers_made(self.session, self.notices)
        await notify.returned_to_queue(self.session, self.returned)
