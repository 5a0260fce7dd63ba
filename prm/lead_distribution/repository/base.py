"""What the lead distribution stores share."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from prm.lead_distribution.models import GroupMember, ProgramMember

BATCH = 500


def is_postgres(session: AsyncSession) -> bool:
    return session.bind is not None and session.bind.dialect.name == "postgresql"


@dataclass(frozen=True)
class Circle:
    """The partners a routing looks at: a program's members, a group's members, or one partner.
    Queries about them filter by membership in SQL, never by a long list of ids."""

    program_id: uuid.UUID | None = None
    group_id: uuid.UUID | None = None
    partner_id: uuid.UUID | None = None

    def holds(self, column: Any) -> ColumnElement[bool]:
        if self.program_id is not None:
            members = select(ProgramMember.partner_id).where(ProgramMember.program_id == self.program_id)
            return column.in_(members.scalar_subquery())  # type: ignore[no-any-return]
        if self.group_id is not None:
            members = select(GroupMember.partner_id).where(GroupMember.group_id == self.group_id)
            return column.in_(members.scalar_subquery())  # type: ignore[no-any-return]
        return column == self.partner_id  # type: ignore[no-any-return]
