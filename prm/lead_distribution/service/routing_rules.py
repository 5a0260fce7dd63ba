"""Routing rules, as the vendor admin writes and orders them: conditions -> one target."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import msgspec
from msgspec import UNSET
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.activity import record_activity
from prm.core.auth import PARTNER_ROLES, Principal
from prm.core.errors import RuleViolation
from prm.core.locks import hold_lock
from prm.core.pagination import PageRequest
from prm.core.records import record_created, record_updated
from prm.crm.services import lead_pipeline
from prm.lead_distribution.models import RoutingRule, TargetKind
from prm.lead_distribution.repository import ConfigStore, GroupRepository, RuleRepository
from prm.lead_distribution.schemas import RuleCreate, RuleOrder, RuleUpdate
from prm.lead_distribution.service.setup import check_program, partner_exists, products_exist
from prm.lead_distribution.service.targets import VENDOR_REPS

ROUTING_RULES_LOCK = "routing_rules"

RULE_FIELDS = (
    "name",
    "position",
    "active",
    "countries",
    "regions",
    "size_bands",
    "product_ids",
    "score_bands",
    "sources",
    "target_kind",
    "target_user_id",
    "target_partner_id",
    "target_group_id",
    "program_id",
)


NEEDS = {
    TargetKind.PARTNER_USER: "target_user_id",
    TargetKind.INTERNAL_REP: "target_user_id",
    TargetKind.PARTNER: "target_partner_id",
    TargetKind.PROGRAM_POOL: "program_id",
    TargetKind.NEAREST_PARTNERS: "program_id",
    TargetKind.SHARK_TANK: "target_group_id",
}


@dataclass(frozen=True)
class RuleTarget:
    """What a rule routes to and the products it matches, as they will be once written."""

    target_kind: TargetKind
    target_user_id: uuid.UUID | None
    target_partner_id: uuid.UUID | None
    target_group_id: uuid.UUID | None
    program_id: uuid.UUID | None
    product_ids: list[uuid.UUID]

    @classmethod
    def of(cls, rule: RoutingRule, data: RuleCreate | RuleUpdate | None = None) -> RuleTarget:
        """The rule's target, with what `data` changes: checked before anything is written, so an
        unknown id is a 422 naming its field, not a foreign key failing at the flush."""

        def value(name: str) -> Any:
            given = getattr(data, name, UNSET)
            return getattr(rule, name) if given is UNSET else given

        return cls(
            value("target_kind"),
            value("target_user_id"),
            value("target_partner_id"),
            value("target_group_id"),
            value("program_id"),
            [uuid.UUID(str(p)) for p in value("product_ids") or []],
        )


async def _check_rule_target(session: AsyncSession, principal: Principal, rule: RuleTarget) -> None:
    """The target the kind needs is there and fits it; the others are empty; every id is known."""
    needed = NEEDS[rule.target_kind]
    if getattr(rule, needed) is None:
        raise RuleViolation(f"A {rule.target_kind.value} rule needs {needed}.", field=needed)
    extra = [f for f in ("target_user_id", "target_partner_id", "target_group_id") if f != needed and getattr(rule, f)]
    if extra:
        raise RuleViolation(f"A {rule.target_kind.value} rule takes no {extra[0]}.", field=extra[0])
    if rule.target_user_id is not None:
        user = await lead_pipeline.user_standing(session, rule.target_user_id)
        roles = PARTNER_ROLES if rule.target_kind is TargetKind.PARTNER_USER else VENDOR_REPS
        if user is None or user.role not in roles:
            raise RuleViolation("The user does not fit this kind of target.", field="target_user_id")
    if rule.target_partner_id is not None:
        await partner_exists(session, principal, rule.target_partner_id, field="target_partner_id")
    if rule.target_group_id is not None and not await GroupRepository(session, principal).exists(rule.target_group_id):
        raise RuleViolation(f"Group {rule.target_group_id} not found.", field="target_group_id")
    await check_program(session, principal, rule.program_id)
    await products_exist(session, principal, rule.product_ids)


async def create_rule(session: AsyncSession, *, principal: Principal, data: RuleCreate) -> RoutingRule:
    rule = RoutingRule(
        name=data.name,
        position=0,  # placed below, once the rule is known to be valid
        active=data.active,
        countries=list(data.countries),
        regions=list(data.regions),
        size_bands=[b.value for b in data.size_bands],
        product_ids=[str(p) for p in data.product_ids],
        score_bands=[b.value for b in data.score_bands],
        sources=[s.value for s in data.sources],
        target_kind=data.target_kind,
        target_user_id=data.target_user_id,
        target_partner_id=data.target_partner_id,
        target_group_id=data.target_group_id,
        program_id=data.program_id,
    )
    await _check_rule_target(session, principal, RuleTarget.of(rule))
    rule.position = await _make_room(session, principal, data.position)
    session.add(rule)
    await record_created(session, rule, entity="routing_rule", principal=principal, fields=RULE_FIELDS)
    return rule


async def _make_room(session: AsyncSession, principal: Principal, position: int | None) -> int:
    """The position a new rule takes; the rules at or after it move down one.

    Positions stay 1..n with no ties, so "rule #2" means one rule. The lock keeps two admins
    inserting at once from both counting the same rules."""
    await hold_lock(session, ROUTING_RULES_LOCK)
    current = await ConfigStore(session).rules(active_only=False)
    place = min(position or len(current) + 1, len(current) + 1)
    for index, rule in enumerate(current, start=1):
        _move(session, principal, rule, index if index < place else index + 1)
    return place


def _move(session: AsyncSession, principal: Principal, rule: RoutingRule, position: int) -> None:
    if rule.position == position:
        return
    record_activity(
        session,
        entity_type="routing_rule",
        entity_id=rule.id,
        action="reordered",
        actor=principal,
        changes={"position": [rule.position, position]},
    )
    rule.position = position


async def update_rule(
    session: AsyncSession, *, principal: Principal, rule_id: uuid.UUID, data: RuleUpdate
) -> RoutingRule:
    rule = await RuleRepository(session, principal).get(rule_id)
    await _check_rule_target(session, principal, RuleTarget.of(rule, data))
    # Enum and id lists are stored as plain strings, so JSON and comparisons stay simple.
    plain = {
        name: [str(getattr(v, "value", v)) for v in value]
        for name in ("size_bands", "score_bands", "sources", "product_ids")
        if isinstance(value := getattr(data, name), list)
    }
    await record_updated(
        session, rule, msgspec.structs.replace(data, **plain), entity="routing_rule", principal=principal
    )
    return rule


async def get_rule(session: AsyncSession, *, principal: Principal, rule_id: uuid.UUID) -> RoutingRule:
    return await RuleRepository(session, principal).get(rule_id)


async def list_rules(session: AsyncSession) -> list[RoutingRule]:
    return await ConfigStore(session).rules(active_only=False)


async def page_rules(
    session: AsyncSession, *, principal: Principal, page: PageRequest
) -> tuple[list[RoutingRule], str | None]:
    """A page of the rules, by default in the order they are tried (sort=position)."""
    return await RuleRepository(session, principal).page(page)


async def reorder_rules(session: AsyncSession, *, principal: Principal, data: RuleOrder) -> list[RoutingRule]:
    """Positions 1..n in the order given; the list must name every rule exactly once."""
    await hold_lock(session, ROUTING_RULES_LOCK)
    current = await ConfigStore(session).rules(active_only=False)
    if sorted(map(str, data.rule_ids)) != sorted(str(r.id) for r in current):
        raise RuleViolation("List every routing rule exactly once.", field="rule_ids")
    by_id = {r.id: r for r in current}
    for position, rule_id in enumerate(data.rule_ids, start=1):
        _move(session, principal, by_id[rule_id], position)
    await session.flush()
    return sorted(current, key=lambda r: r.position)
