"""A connection's health as its deliveries see it, and each share's last sync and last error.

    accepted --peer unreachable for `suspend_after`--> suspended --a delivery succeeds--> accepted

A suspended connection still queues its changes (they go out once the peer answers); it only
tells both admins that nothing has arrived for a while. A peer that answers with an error is
reachable: its answer becomes the `last_error` of the shares the message was about, not a
suspension. Each outcome is one conditional UPDATE, so deliveries racing on several workers or
instances agree.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from prm.connect.models import Connection, ConnectionStatus, Share
from prm.core.activity import record_activity


def shares_in(envelope: dict[str, Any]) -> list[tuple[str, uuid.UUID]]:
    """(object, origin id) of each shared record a peer message is about."""
    body = envelope.get("body") or {}
    items = body.get("items") if envelope.get("type") == "records" else [body]
    return [
        (str(item["object"]), uuid.UUID(str(item["origin_id"])))
        for item in items or []
        if isinstance(item, dict) and "object" in item and "origin_id" in item
    ]


def combined(envelopes: list[dict[str, Any]]) -> dict[str, Any]:
    """One envelope standing for several (a batch) as far as `shares_in` reads it."""
    items = [
        {"object": name, "origin_id": str(origin)} for envelope in envelopes for name, origin in shares_in(envelope)
    ]
    return {"type": "records", "body": {"items": items}}


def _share_rows(connection_id: uuid.UUID, keys: list[tuple[str, uuid.UUID]]) -> Any:
    return and_(Share.connection_id == connection_id, tuple_(Share.object, Share.origin_id).in_(keys))


async def delivered(session: AsyncSession, *, connection: Connection, envelope: dict[str, Any]) -> None:
    """The peer took the message: the shares it was about synced now, the connection answers."""
    now = session.info["clock"].now()
    keys = shares_in(envelope)
    if keys:
        await session.execute(
            update(Share).where(_share_rows(connection.id, keys)).values(last_sync_at=now, last_error=None)
        )
    if connection.unreachable_since is None and connection.status is not ConnectionStatus.SUSPENDED:
        return  # the usual case: nothing to clear, no write
    resumed = await session.execute(
        update(Connection)
        .where(Connection.id == connection.id, Connection.status == ConnectionStatus.SUSPENDED)
        .values(status=ConnectionStatus.ACCEPTED, version=Connection.version + 1)
    )
    await session.execute(
        update(Connection).where(Connection.id == connection.id).values(unreachable_since=None, last_error=None)
    )
    if getattr(resumed, "rowcount", 0):
        _history(session, connection.id, "resumed", "The peer answers again; the connection is accepted.")


async def failed(
    session: AsyncSession,
    *,
    connection: Connection,
    envelope: dict[str, Any],
    reason: str,
    unreachable: bool,
    suspend_after: timedelta,
) -> None:
    """A delivery failed: the reason goes on the shares it was about and on the connection; a
    peer unreachable since longer than `suspend_after` suspends the connection."""
    now = session.info["clock"].now()
    keys = shares_in(envelope)
    if keys:
        await session.execute(update(Share).where(_share_rows(connection.id, keys)).values(last_error=reason))
    stmt = update(Connection).where(Connection.id == connection.id)
    await session.execute(stmt.values(last_error=reason))
    if unreachable:
        await session.execute(stmt.where(Connection.unreachable_since.is_(None)).values(unreachable_since=now))
    if unreachable:
        await _suspend_if_long(session, connection.id, now - suspend_after)


# The start of a share's last error when this side could not apply what its peer sent.
NOT_APPLIED = "Not applied here: "


async def not_applied(session: AsyncSession, *, connection: Connection, envelope: dict[str, Any], reason: str) -> None:
    """A peer's message this side refused: the reason goes on this side's shares it was about too
    (the sender's shows it as well), so the admin here sees why the copy is behind."""
    try:
        keys = shares_in(envelope)
    except (ValueError, TypeError, AttributeError):
        return  # a message too broken to name its records (the reply to the sender says why)
    if keys:
        values = {"last_error": f"{NOT_APPLIED}{reason}"[:2000]}
        await session.execute(update(Share).where(_share_rows(connection.id, keys)).values(**values))


async def _suspend_if_long(session: AsyncSession, connection_id: uuid.UUID, since: datetime) -> None:
    suspended = await session.execute(
        update(Connection)
        .where(
            Connection.id == connection_id,
            Connection.status == ConnectionStatus.ACCEPTED,
            Connection.unreachable_since <= since,
        )
        .values(status=ConnectionStatus.SUSPENDED, version=Connection.version + 1)
    )
    if getattr(suspended, "rowcount", 0):
        _history(session, connection_id, "suspended", "The peer has not been reachable for too long.")


def _history(session: AsyncSession, connection_id: uuid.UUID, action: str, note: str) -> None:
    record_activity(session, entity_type="connection", entity_id=connection_id, action=action, actor=None, note=note)
