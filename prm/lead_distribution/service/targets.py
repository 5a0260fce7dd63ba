"""Trying one routing target: a partner rep, a partner, a program's pool (the seeded weighted
pick), a shark-tank group, or an internal rep. Each says where the lead can go, or why not."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from prm.core.auth import PARTNER_ROLES, Role
from prm.crm.models import Lead
from prm.lead_distribution import rules
from prm.lead_distribution.models import PartnerGroup, RoutingOutcome, TargetKind
from prm.lead_distribution.repository.base import Circle
from prm.lead_distribution.service.eligibility import Pool, facts_of, overridable, split
from prm.lead_distribution.service.lookups import ActiveRule, Lookups

VENDOR_REPS = (Role.VENDOR_ADMIN, Role.CHANNEL_MANAGER)


@dataclass(frozen=True)
class Target:
    kind: TargetKind
    partner_id: uuid.UUID | None = None
    user_id: uuid.UUID | None = None
    group_id: uuid.UUID | None = None
    program_id: uuid.UUID | None = None

    @classmethod
    def of_rule(cls, rule: ActiveRule) -> Target:
        return cls(rule.target_kind, rule.target_partner_id, rule.target_user_id, rule.target_group_id, rule.program_id)


@dataclass
class Placement:
    """What trying one target found: where the lead can go, or why it cannot."""

    target: Target
    reason: str
    outcome: RoutingOutcome | None = None
    partner_id: uuid.UUID | None = None
    user_id: uuid.UUID | None = None
    pool: Pool | None = None
    group: PartnerGroup | None = None
    group_candidates: list[uuid.UUID] = field(default_factory=list)
    seed: int | None = None
    candidates: list[dict[str, Any]] = field(default_factory=list)
    excluded: list[dict[str, Any]] = field(default_factory=list)
    overridden: bool = False

    @property
    def usable(self) -> bool:
        return self.outcome is not None


def _candidate(profile: rules.PartnerProfile) -> dict[str, Any]:
    return {
        "partner_id": profile.partner_id,
        "weight": rules.weight(profile),
        "base_weight": profile.base_weight,
        "acceptance_pct": profile.acceptance_pct,
        "avg_accept_seconds": profile.avg_accept_seconds,
        "open_leads": profile.holding,
        "cap": profile.cap,
    }


# Trying a target -----------------------------------------------------------------------------


async def _to_partner(look: Lookups, lead: Lead, target: Target, partner_id: uuid.UUID, *, override: bool) -> Placement:
    pool = Pool(await look.program(target.program_id or await look.program_of_partner(partner_id)))
    [profile] = await look.profiles(Circle(partner_id=partner_id), pool, lead=lead)
    reasons = rules.ineligibility(profile, facts_of(lead), pool.terms)
    excluded = [{"partner_id": profile.partner_id, "reasons": reasons}] if reasons else []
    if reasons and not (override and overridable(reasons)):
        why = f"partner {await look.partner_name(partner_id)} is not eligible: {'; '.join(reasons)}"
        return Placement(target, why, excluded=excluded)
    why = f"offered to partner {await look.partner_name(partner_id)}"
    if target.user_id:
        why += f" (rep {await look.user_name(target.user_id)})"
    if reasons:
        why += f", overriding: {'; '.join(reasons)}"
    return Placement(
        target,
        why,
        RoutingOutcome.OFFERED,
        partner_id=partner_id,
        user_id=target.user_id,
        pool=pool,
        candidates=[_candidate(profile)],
        excluded=excluded,
        overridden=bool(reasons),
    )


async def _to_partner_user(look: Lookups, lead: Lead, target: Target, *, override: bool) -> Placement:
    user = await look.user(target.user_id) if target.user_id else None
    if user is None or not user.active or user.role not in PARTNER_ROLES or user.partner_id is None:
        return Placement(target, f"user {await look.user_name(target.user_id)} is not an active partner rep")
    return await _to_partner(look, lead, target, user.partner_id, override=override)


async def _to_pool(look: Lookups, lead: Lead, target: Target) -> Placement:
    pool = Pool(await look.program(target.program_id))
    if pool.program is None:
        return Placement(target, "the rule's program does not exist or is inactive")
    found = await look.profiles(Circle(program_id=pool.program.id), pool, lead=lead)
    eligible, excluded = split(found, facts_of(lead), pool.terms)
    if not eligible:
        return Placement(target, f"no eligible partner in program {pool.program.name}", excluded=excluded)
    candidates = [_candidate(p) for p in eligible]
    weights = [c["weight"] for c in candidates]
    seed = look.seeds.next_seed()
    chosen = eligible[rules.pick(seed, weights)]
    why = (
        f"weighted pick among {len(eligible)} eligible partners of program {pool.program.name} "
        f"(seed {seed}): partner {await look.partner_name(chosen.partner_id)} "
        f"with weight {rules.weight(chosen)} of {sum(weights)}"
    )
    return Placement(
        target,
        why,
        RoutingOutcome.OFFERED,
        partner_id=uuid.UUID(chosen.partner_id),
        pool=pool,
        seed=seed,
        candidates=candidates,
        excluded=excluded,
    )


async def _to_group(look: Lookups, lead: Lead, target: Target) -> Placement:
    group = await look.group(target.group_id) if target.group_id else None
    if group is None or not group.active:
        return Placement(target, "the shark-tank group does not exist or is inactive")
    pool = Pool(await look.program(group.program_id))
    # Group membership is the membership here: the program only lends its terms.
    found = await look.profiles(Circle(group_id=group.id), pool, lead=lead, group=group)
    for profile in found:
        profile.member = True
    eligible, excluded = split(found, facts_of(lead), pool.terms)
    if not eligible:
        return Placement(target, f"no eligible member in group {group.name}", excluded=excluded)
    why = f"offered to shark-tank group {group.name}: {len(eligible)} eligible of {len(found)} members may claim it"
    return Placement(
        target,
        why,
        RoutingOutcome.OFFERED_TO_GROUP,
        pool=pool,
        group=group,
        group_candidates=[uuid.UUID(p.partner_id) for p in eligible],
        candidates=[_candidate(p) for p in eligible],
        excluded=excluded,
    )


async def _to_internal(look: Lookups, target: Target) -> Placement:
    user = await look.user(target.user_id) if target.user_id else None
    if user is None or not user.active or user.role not in VENDOR_REPS:
        return Placement(target, f"user {await look.user_name(target.user_id)} is not an active internal rep")
    return Placement(
        target,
        f"assigned to internal rep {user.name} (direct sale)",
        RoutingOutcome.ASSIGNED_INTERNAL,
        user_id=user.id,
    )


async def place(look: Lookups, lead: Lead, target: Target, *, override: bool = False) -> Placement:
    if target.kind is TargetKind.PARTNER_USER:
        return await _to_partner_user(look, lead, target, override=override)
    if target.kind is TargetKind.PARTNER and target.partner_id is not None:
        return await _to_partner(look, lead, target, target.partner_id, override=override)
    if target.kind is TargetKind.PROGRAM_POOL:
        return await _to_pool(look, lead, target)
    if target.kind is TargetKind.SHARK_TANK:
        return await _to_group(look, lead, target)
    if target.kind is TargetKind.INTERNAL_REP:
        return await _to_internal(look, target)
    return Placement(target, f"{target.kind.value} needs its target")
