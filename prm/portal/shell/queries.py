"""Read-side queries the pages need that no domain service offers yet (counts, the mailbox).

Counts start from a scoped repository's `select()`, so the tenant filter always applies.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.outbox import OutboxKind, OutboxMessage
from prm.core.pagination import PageRequest, page_of, paginate_statement
from prm.core.repository import ScopedRepository

MAILBOX_PAGE_SIZE = 20


async def count_visible(repository: ScopedRepository[Any]) -> int:
    """How many rows of the repository's model the principal may see."""
    visible = repository.select().with_only_columns(repository.model.id).subquery()
    return int(await repository.session.scalar(select(func.count()).select_from(visible)) or 0)


async def count_rows(session: AsyncSession, model: type[Any], *conditions: ColumnElement[bool]) -> int:
    """Rows of a table that is not tenant data (the outbox, webhook endpoints): vendor admins only."""
    stmt = select(func.count()).select_from(model).where(*conditions)
    return int(await session.scalar(stmt) or 0)


async def mailbox_page(session: AsyncSession, *, cursor: str | None) -> tuple[list[OutboxMessage], str | None]:
    """Emails the outbox holds, newest first, one keyset page at a time."""
    page = PageRequest(limit=MAILBOX_PAGE_SIZE, cursor=cursor, sort="-created_at")
    stmt = select(OutboxMessage).where(OutboxMessage.kind == OutboxKind.EMAIL)
    stmt = paginate_statement(stmt, page, {"created_at": OutboxMessage.created_at}, OutboxMessage.id)
    return page_of((await session.scalars(stmt)).all(), page)
