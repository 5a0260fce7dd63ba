"""The one httpx client to peer instances: signs each message with the connection's key and
POSTs it to the peer's inbox. Used by the outbox dispatcher (kind `peer`), so a message is
sent only after the transaction that wrote it committed, retried with backoff while the peer
is down, and dead-lettered (with the peer's answer as the reason) after the attempt limit."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta
from typing import Any

import httpx
import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from prm.connect.models import SYNCING, Connection
from prm.connect.repository import ConnectRepository
from prm.connect.service import health
from prm.core.db import Database, new_id
from prm.core.outbox import Claimed, OutboxKind, enqueue
from prm.core.tokens import issue_peer_token

INBOX_PATH = "/peer/v1/messages"
# Messages that must still go out while the connection is not (or no longer) accepted.
HANDSHAKE_TYPES = frozenset({"invite", "accept", "decline", "cancel", "deactivate"})


class PeerRefused(Exception):
    """The peer answered with an error; the outbox keeps the reason and retries."""


def body_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def normalize_url(url: str) -> str:
    return url.strip().rstrip("/")


def send(session: AsyncSession, connection: Connection, message_type: str, body: dict[str, Any]) -> uuid.UUID:
    """Queue one message to the connection's peer, in the caller's transaction."""
    envelope = {
        "message_id": str(new_id()),
        "type": message_type,
        "sender_connection_id": str(connection.id),
        "receiver_connection_id": str(connection.peer_connection_id) if connection.peer_connection_id else None,
        "body": body,
    }
    return enqueue(
        session,
        kind=OutboxKind.PEER,
        topic=f"connect.{message_type}",
        destination=connection.peer_url,
        payload={"connection_id": str(connection.id), "envelope": envelope},
    )


class PeerDeliverer:
    def __init__(self, db: Database, http: httpx.AsyncClient, *, suspend_after: timedelta = timedelta(hours=1)) -> None:
        self._db = db
        self._http = http
        self._suspend_after = suspend_after

    async def __call__(self, message: Claimed) -> None:
        envelope: dict[str, Any] = message.payload["envelope"]
        async with self._db.session() as session:
            connection = await session.get(Connection, uuid.UUID(message.payload["connection_id"]))
            instance_id = await ConnectRepository(session).instance_id()
            await session.commit()
        if connection is None or not _may_send(connection, envelope["type"]):
            return  # deactivated or gone: later changes are no longer sent
        if connection.peer_connection_id and envelope["receiver_connection_id"] is None:
            envelope = {**envelope, "receiver_connection_id": str(connection.peer_connection_id)}
        body = msgspec.json.encode(envelope)
        token = issue_peer_token(
            connection.private_key_pem,
            issuer=str(instance_id),
            subject=str(connection.id),
            audience=connection.peer_url,
            now=self._db.clock.now().timestamp(),
            claims={"bh": body_hash(body)},
        )
        try:
            response = await self._http.post(
                connection.peer_url + INBOX_PATH,
                content=body,
                headers=_headers(token, message.request_id),
            )
        except httpx.TransportError as exc:
            await self._failed(connection, envelope, f"{type(exc).__name__}: {exc}", unreachable=True)
            raise
        if response.status_code >= 300:
            reason = f"{response.status_code} from {connection.peer_url}: {response.text[:500]}"
            await self._failed(connection, envelope, reason, unreachable=response.status_code >= 500)
            raise PeerRefused(reason)
        async with self._db.unit_of_work() as session:
            await health.delivered(session, connection=connection, envelope=envelope)

    async def _failed(
        self, connection: Connection, envelope: dict[str, Any], reason: str, *, unreachable: bool
    ) -> None:
        async with self._db.unit_of_work() as session:
            await health.failed(
                session,
                connection=connection,
                envelope=envelope,
                reason=reason[:2000],
                unreachable=unreachable,
                suspend_after=self._suspend_after,
            )


def _headers(token: str, request_id: str | None) -> dict[str, str]:
    """The peer keeps our request id as its own, so both instances log the message under it."""
    headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    if request_id:
        headers["x-request-id"] = request_id
    return headers


def _may_send(connection: Connection, message_type: str) -> bool:
    if message_type in HANDSHAKE_TYPES:
        return True
    return connection.status in SYNCING
