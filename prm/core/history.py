"""The activity history of one record, for any domain's `/{id}/history` route."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.activity import ActivityRead, history_page
from prm.core.pagination import Page, PageRequest
from prm.core.repository import ScopedRepository


async def history_of(
    session: AsyncSession, repository: ScopedRepository[Any], record_id: uuid.UUID, page: PageRequest, *, entity: str
) -> Page[ActivityRead]:
    """404 unless the caller may see the record; then its history, oldest first by default."""
    await repository.get(record_id)
    items, cursor = await history_page(session, entity_type=entity, entity_id=record_id, page=page)
    return Page(items=items, next_cursor=cursor)
