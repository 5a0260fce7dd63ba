"""Scoring criteria (configured by the vendor admin) and the score of a lead."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from enum import Enum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.auth import Principal
from prm.core.errors import RuleViolation
from prm.core.pagination import PageRequest
from prm.core.records import record_created, record_updated
from prm.lead_distribution import rules
from prm.lead_distribution.models import ScoreAttribute, ScoreOperator, ScoringCriterion
from prm.lead_distribution.repository import ConfigStore, CriterionRepository
from prm.lead_distribution.schemas import CriterionCreate, CriterionUpdate

ENTITY = "lead_scoring_criterion"
FIELDS = ("name", "attribute", "operator", "values", "points", "active")


def _check_values(operator: ScoreOperator, values: list[Any]) -> None:
    if operator is ScoreOperator.AT_LEAST and (len(values) != 1 or not isinstance(values[0], int)):
        raise RuleViolation("at_least takes exactly one whole number.", field="values")
    if operator in (ScoreOperator.ONE_OF, ScoreOperator.CONTAINS) and not values:
        raise RuleViolation(f"{operator.value} needs at least one value.", field="values")


async def create_criterion(session: AsyncSession, *, principal: Principal, data: CriterionCreate) -> ScoringCriterion:
    _check_values(data.operator, list(data.values))
    criterion = ScoringCriterion(
        name=data.name,
        attribute=data.attribute,
        operator=data.operator,
        values=list(data.values),
        points=data.points,
        active=data.active,
    )
    session.add(criterion)
    await record_created(session, criterion, entity=ENTITY, principal=principal, fields=FIELDS)
    return criterion


async def update_criterion(
    session: AsyncSession, *, principal: Principal, criterion_id: uuid.UUID, data: CriterionUpdate
) -> ScoringCriterion:
    criterion = await CriterionRepository(session, principal).get(criterion_id)
    if isinstance(data.values, list):
        _check_values(criterion.operator, list(data.values))
    await record_updated(session, criterion, data, entity=ENTITY, principal=principal)
    return criterion


async def list_criteria(
    session: AsyncSession, *, principal: Principal, page: PageRequest
) -> tuple[list[ScoringCriterion], str | None]:
    return await CriterionRepository(session, principal).page(page)


async def criteria_in_force(session: AsyncSession) -> list[rules.Criterion]:
    """The active configured criteria; the defaults while none has ever been configured."""
    store = ConfigStore(session)
    if not await store.any_criteria():
        return list(rules.DEFAULT_CRITERIA)
    return [
        rules.Criterion(c.name, c.attribute.value, c.operator.value, tuple(c.values), c.points)
        for c in await store.active_criteria()
    ]


def attributes_of(source: Any) -> dict[str, Any]:
    """The scored attributes of a lead, a create body or an import row (enums as their values)."""
    values = {
        a.value: source.get(a.value) if isinstance(source, Mapping) else getattr(source, a.value, None)
        for a in ScoreAttribute
    }
    return {name: _plain(value) for name, value in values.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    return str(value) if isinstance(value, uuid.UUID) else value


async def score_of(session: AsyncSession, source: Any) -> rules.Score:
    return rules.score(attributes_of(source), await criteria_in_force(session))
