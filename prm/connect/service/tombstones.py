"""A shared record's end, on either side.

- The origin deletes its record: each connection sharing it gets a tombstone. The peer marks
  its copy's share `inactive_deleted` (the copy stays, with a history line saying so), or, when
  the connection says `delete_on_tombstone`, deletes the copy too. A copy never accepted simply
  goes from the peer's inbox.
- The receiver deletes its copy, or converts a received lead: the origin's share shows
  `inactive_deleted` or `inactive_converted`, and nothing more flows either way.

Either way the message is a `tombstone` with `how` ("deleted" or "converted"); who sent it
follows from which side shared the record first.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from prm.connect.client import send
from prm.connect.models import ACTIVE_SHARES, SYNCING, Connection, Share, ShareStatus
from prm.connect.objects import OBJECTS, load
from prm.connect.repository import ConnectRepository
from prm.connect.service.sharing import APPLYING, acting_for
from prm.core.activity import record_activity
from prm.core.errors import Conflict
from prm.core.records import record_deleted

ENDED_AS = {"deleted": ShareStatus.INACTIVE_DELETED, "converted": ShareStatus.INACTIVE_CONVERTED}


async def on_record_ended(session: AsyncSession, entity: str, record: Any, how: str) -> None:
    """The CRM's end point: end every live share of the record and tell each peer, in the same
    transaction (except the connection whose tombstone caused this end)."""
    if entity not in OBJECTS or how not in ENDED_AS:
        return
    repo = ConnectRepository(session)
    for share in await repo.shares_of_record(entity, record.id):
        if share.status not in ACTIVE_SHARES:
            continue
        _end(session, share, how)
        connection = await repo.find_connection(share.connection_id)
        if connection is None or connection.status not in SYNCING or connection.id == session.info.get(APPLYING):
            continue
        send(session, connection, "tombstone", {"object": share.object, "origin_id": str(share.origin_id), "how": how})


def _end(session: AsyncSession, share: Share, how: str) -> None:
    share.status, share.ended_at = ENDED_AS[how], session.info["clock"].now()


async def peer_tombstone(session: AsyncSession, connection: Connection, body: dict[str, Any]) -> None:
    how = str(body.get("how", "deleted"))
    if how not in ENDED_AS:
        raise Conflict(f"Unknown end {how!r}.", field="how")
    repo = ConnectRepository(session)
    share = await repo.share(connection.id, str(body["object"]), uuid.UUID(str(body["origin_id"])))
    if share is None or share.ended_at is not None:
        return  # never arrived, or already ended: nothing to do (a redelivery, or crossed ends)
    if share.status is ShareStatus.PENDING_RECEIVED:
        await session.delete(share)  # never accepted: it leaves the inbox
        return
    _end(session, share, how)
    if not share.ours and share.local_id is not None:
        await _origin_deleted(session, connection, share)


async def _origin_deleted(session: AsyncSession, connection: Connection, share: Share) -> None:
    """Our copy of a record its origin deleted: deleted too, if the connection says so and
    nothing else refers to it; else kept, with a history line saying the origin is gone."""
    record = await load(session, share.object, share.local_id) if share.local_id else None
    if record is None:
        return
    if connection.delete_on_tombstone:
        session.info[APPLYING] = connection.id
        try:
            await record_deleted(session, record, entity=share.object, principal=acting_for(connection))
            return
        except Conflict as exc:
            note = f"{connection.peer_url} deleted the original; this copy stays: {exc.detail}"
        finally:
            session.info.pop(APPLYING, None)
    else:
        note = f"{connection.peer_url} deleted the original; this copy stays, no longer synced."
    record_activity(
        session, entity_type=share.object, entity_id=record.id, action="connect_origin_deleted", actor=None, note=note
    )
