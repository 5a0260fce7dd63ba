"""The one httpx client to peer instances: signs each message with the connection's key and
POSTs it to the peer's inbox. Used by the outbox dispatcher (kind `peer`), so a message is
sent only after the transaction that wrote it committed, retried with backoff while the peer
is down, and dead-lettered (with the peer's answer as the reason) after the attempt limit.

`PeerBatchDeliverer` is what the dispatcher uses: per connection, the due messages go in id
order (the order they were written, so per record too), consecutive ones in one signed
request to the peer's batch inbox that applies them in one transaction and answers per
message; a handshake message goes alone through the single inbox. The first failed request
to a peer stops that peer's round, so nothing overtakes a message still waiting."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from prm.connect.models import SYNCING, Connection
from prm.connect.repository import ConnectRepository
from prm.connect.schemas import PeerBatchReply
from prm.connect.service import health
from prm.core.db import Database, new_id
from prm.core.outbox import REFUSED, Claimed, OutboxKind, enqueue
from prm.core.tokens import issue_peer_token

INBOX_PATH = "/peer/v1/messages"
BATCH_INBOX_PATH = "/peer/v1/batches"
# One request carries at most this many messages and records in them (a message forwarding many
# records counts each), and roughly this many bytes: the peer applies it in one transaction, and
# it should answer well within BATCH_TIMEOUT_SECONDS even when busy.
BATCH_MESSAGES = 200
BATCH_RECORDS = 200
BATCH_BYTES = 1024 * 1024
BATCH_TIMEOUT_SECONDS = 60.0
# Messages that must still go out while the connection is not (or no longer) accepted.
HANDSHAKE_TYPES = frozenset({"invite", "accept", "decline", "cancel", "deactivate"})


class PeerRefused(Exception):
    """The peer answered with an error; the outbox keeps the reason and retries."""


def body_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def sign(connection: Connection, instance_id: str, body: bytes, *, now: float) -> str:
    """The short-lived token for one request to the connection's peer: signed with this side's
    key, from this instance (`iss`) and connection (`sub`), for the peer (`aud`), bound to the
    exact body (`bh`)."""
    return issue_peer_token(
        connection.private_key_pem,
        issuer=instance_id,
        subject=str(connection.id),
        audience=connection.peer_url,
        now=now,
        claims={"bh": body_hash(body)},
    )


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
        token = sign(connection, str(instance_id), body, now=self._db.clock.now().timestamp())
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


class PeerBatchDeliverer:
    """Delivers claimed peer messages: per connection in order, many per signed request."""

    def __init__(self, db: Database, http: httpx.AsyncClient, *, suspend_after: timedelta = timedelta(hours=1)) -> None:
        self._db = db
        self._http = http
        self._suspend_after = suspend_after
        self._single = PeerDeliverer(db, http, suspend_after=suspend_after)

    async def __call__(self, messages: list[Claimed]) -> dict[uuid.UUID, str | None]:
        by_connection: dict[str, list[Claimed]] = defaultdict(list)
        for message in sorted(messages, key=lambda m: m.id):
            by_connection[str(message.payload["connection_id"])].append(message)
        rounds = await asyncio.gather(*(self._to_peer(uuid.UUID(c), ms) for c, ms in by_connection.items()))
        return {message_id: outcome for results in rounds for message_id, outcome in results.items()}

    async def _to_peer(self, connection_id: uuid.UUID, messages: list[Claimed]) -> dict[uuid.UUID, str | None]:
        results: dict[uuid.UUID, str | None] = {}
        for group in _runs(messages):
            try:
                results.update(await self._send_group(connection_id, group))
            except Exception as exc:  # unreachable or refused whole: this and every later one wait
                error = f"{type(exc).__name__}: {exc}"[:2000]
                results.update(dict.fromkeys((m.id for m in messages if m.id not in results), error))
                break
        return results

    async def _send_group(self, connection_id: uuid.UUID, group: list[Claimed]) -> dict[uuid.UUID, str | None]:
        if len(group) == 1 and group[0].payload["envelope"]["type"] in HANDSHAKE_TYPES:
            await self._single(group[0])
            return {group[0].id: None}
        async with self._db.session() as session:
            connection = await session.get(Connection, connection_id)
            instance_id = await ConnectRepository(session).instance_id()
            await session.commit()
        if connection is None or connection.peer_connection_id is None:
            return {m.id: None for m in group}  # gone, or never answered: nothing more is sent
        if connection.status not in SYNCING:
            return {m.id: None for m in group}  # deactivated: later changes are no longer sent
        return await self._post_batch(connection, str(instance_id), group)

    async def _post_batch(
        self, connection: Connection, instance_id: str, group: list[Claimed]
    ) -> dict[uuid.UUID, str | None]:
        envelopes = [
            {**m.payload["envelope"], "receiver_connection_id": str(connection.peer_connection_id)} for m in group
        ]
        batch = {
            "sender_connection_id": str(connection.id),
            "receiver_connection_id": str(connection.peer_connection_id),
            "messages": envelopes,
        }
        body = msgspec.json.encode(batch)
        token = sign(connection, instance_id, body, now=self._db.clock.now().timestamp())
        try:
            response = await self._http.post(
                connection.peer_url + BATCH_INBOX_PATH,
                content=body,
                headers=_headers(token, group[0].request_id),
                timeout=BATCH_TIMEOUT_SECONDS,
            )
        except httpx.TransportError as exc:
            await self._failed(connection, envelopes, f"{type(exc).__name__}: {exc}", unreachable=True)
            raise
        if response.status_code >= 300:
            reason = f"{response.status_code} from {connection.peer_url}: {response.text[:500]}"
            await self._failed(connection, envelopes, reason, unreachable=response.status_code >= 500)
            raise PeerRefused(reason)
        outcomes = _outcomes(group, response.content)
        await self._settled(connection, group, envelopes, outcomes)
        return outcomes

    async def _settled(
        self,
        connection: Connection,
        group: list[Claimed],
        envelopes: list[dict[str, Any]],
        outcomes: dict[uuid.UUID, str | None],
    ) -> None:
        """Last sync on the shares the peer took, its reason on those it refused (one unit of work)."""
        taken = [e for m, e in zip(group, envelopes, strict=True) if outcomes[m.id] is None]
        async with self._db.unit_of_work() as session:
            await health.delivered(session, connection=connection, envelope=health.combined(taken))
            for message, envelope in zip(group, envelopes, strict=True):
                if (reason := outcomes[message.id]) is not None:
                    await health.failed(
                        session,
                        connection=connection,
                        envelope=envelope,
                        reason=reason,
                        unreachable=False,
                        suspend_after=self._suspend_after,
                    )

    async def _failed(
        self, connection: Connection, envelopes: list[dict[str, Any]], reason: str, *, unreachable: bool
    ) -> None:
        async with self._db.unit_of_work() as session:
            await health.failed(
                session,
                connection=connection,
                envelope=health.combined(envelopes),
                reason=reason[:2000],
                unreachable=unreachable,
                suspend_after=self._suspend_after,
            )


def _runs(messages: list[Claimed]) -> Iterator[list[Claimed]]:
    """Consecutive messages that may share a request; a handshake message goes on its own."""
    group: list[Claimed] = []
    size = records = 0
    for message in messages:
        envelope = message.payload["envelope"]
        alone = envelope["type"] in HANDSHAKE_TYPES
        message_size = len(msgspec.json.encode(envelope))
        message_records = max(1, len(envelope["body"].get("items", ())))
        full = (
            len(group) >= BATCH_MESSAGES
            or size + message_size > BATCH_BYTES
            or records + message_records > BATCH_RECORDS
        )
        if group and (alone or full):
            yield group
            group, size, records = [], 0, 0
        group.append(message)
        size, records = size + message_size, records + message_records
        if alone:
            yield group
            group, size, records = [], 0, 0
    if group:
        yield group


def _outcomes(group: list[Claimed], content: bytes) -> dict[uuid.UUID, str | None]:
    """Per message: delivered (applied or already applied), or the peer's reason for refusing it."""
    answered = {r.message_id: r for r in msgspec.json.decode(content, type=PeerBatchReply).results}
    outcomes: dict[uuid.UUID, str | None] = {}
    for message in group:
        result = answered.get(uuid.UUID(message.payload["envelope"]["message_id"]))
        if result is None:
            outcomes[message.id] = "the peer did not answer for this message"
        elif result.status in ("applied", "duplicate"):
            outcomes[message.id] = None
        else:
            outcomes[message.id] = f"{REFUSED}{result.detail or result.status}"[:2000]
    return outcomes
