"""Dead letters of the connector: peer messages the outbox gave up on, and their replay.

The outbox (prm.core.outbox) owns delivery; this module only narrows it to the messages sent
to peer instances, so the Connect pages can show why each failed and send it again.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.errors import NotFound
from prm.core.outbox import OutboxKind, OutboxMessage, OutboxStatus, retry_message

# The newest dead peer messages looked at; the connection a message belongs to lives in its
# JSON payload, so narrowing to one connection happens on these rows, not in SQL.
SCAN_LIMIT = 500


async def dead_letters(
    session: AsyncSession, *, connection_id: uuid.UUID | None = None, limit: int = 100
) -> list[OutboxMessage]:
    stmt = (
        select(OutboxMessage)
        .where(OutboxMessage.kind == OutboxKind.PEER, OutboxMessage.status == OutboxStatus.DEAD)
        .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
        .limit(SCAN_LIMIT)
    )
    rows = list((await session.scalars(stmt)).all())
    if connection_id is not None:
        rows = [m for m in rows if m.payload.get("connection_id") == str(connection_id)]
    return rows[:limit]


async def replay(session: AsyncSession, *, message_id: uuid.UUID) -> OutboxMessage:
    """Put a dead peer message back in line; the outbox sends it with its original message id,
    so a peer that did apply it after all acknowledges it without applying it twice."""
    message = await session.get(OutboxMessage, message_id)
    if message is None or message.kind is not OutboxKind.PEER:
        raise NotFound(f"Dead letter {message_id} not found.")
    await retry_message(session, message_id)
    return message
