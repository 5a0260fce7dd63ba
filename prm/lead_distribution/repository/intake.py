"""Possible duplicates found on intake."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection
from typing import Any

from sqlalchemy import delete, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from prm.lead_distribution.models import (
    DuplicateFlag,
)

# Duplicates ----------------------------------------------------------------------------------


class DuplicateStore:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def flag(self, rows: list[dict[str, Any]]) -> None:
        for start in range(0, len(rows), 2000):
            await self.session.execute(insert(DuplicateFlag), rows[start : start + 2000])

    async def of_many(self, lead_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, list[DuplicateFlag]]:
        """Each lead's flags, whichever side of the pair it is on."""
        found: dict[uuid.UUID, list[DuplicateFlag]] = defaultdict(list)
        ids = list(lead_ids)
        if ids:
            stmt = select(DuplicateFlag).where(
                or_(DuplicateFlag.lead_id.in_(ids), DuplicateFlag.other_lead_id.in_(ids))
            )
            for flag in await self.session.scalars(stmt):
                for side in {flag.lead_id, flag.other_lead_id} & set(ids):
                    found[side].append(flag)
        return found

    async def resolve(self, lead_id: uuid.UUID) -> None:
        await self.session.execute(
            delete(DuplicateFlag).where(or_(DuplicateFlag.lead_id == lead_id, DuplicateFlag.other_lead_id == lead_id))
        )
