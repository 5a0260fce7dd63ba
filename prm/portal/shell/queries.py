"""Read-side queries the pages need that no domain service offers yet (counts, the mailbox).

Counts start from a scoped repository's `select()`, so the tenant filter always applies.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.outbox import OutboxKind, OutboxMessage
from prm.core.pagination import PageRequest, page_of, paginate_statement

MAILBOX_PAGE_SIZE = 20


async def mailbox_page(session: AsyncSession, *, cursor: str | None) -> tuple[list[OutboxMessage], str | None]:
    """Emails the outbox holds, newest first, one keyset page at a time."""
    page = PageRequest(limit=MAILBOX_PAGE_SIZE, cursor=cursor, sort="-created_at")
    stmt = select(OutboxMessage).where(OutboxMessage.kind == OutboxKind.EMAIL)
    stmt = paginate_statement(stmt, page, {"created_at": OutboxMessage.created_at}, OutboxMessage.id)
    return page_of((await session.scalars(stmt)).all(), page)
