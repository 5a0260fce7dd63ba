"""Receiving a peer's message: authenticate it, refuse a replay, apply it once.

Every message is a POST of a JSON envelope with a bearer JWT signed by the sender's key for
this connection (ES256, audience = our base URL, key id = that key's, `jti` single-use, `bh`
= SHA-256 of the exact body). Anything wrong (bad signature, other key, other audience,
expired, reused `jti`, body changed, connection not live) is a 401 and nothing is written:
the whole request is one unit of work. A message id seen before is acknowledged and skipped,
so the sender's retries never apply a change twice.

A batch (`receive_batch`) is many messages of one live connection under one token: verified
once, applied in order in one unit of work; redeliveries are found with one query and answered
"duplicate". Consecutive `records` (or `accepted`) messages are applied together, set-based, in
one savepoint (a number of queries that does not grow with the batch); if the rules refuse
anything in them, those messages are applied again one at a time, each in its own savepoint, so
one the rules refuse is answered "refused" with the reason (the sender retries it, and the
reason also becomes the last error of this side's shares it was about) and the others still
apply. Any other message is applied alone in its own savepoint the same way.
"""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import msgspec
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from prm.connect.client import HANDSHAKE_TYPES, body_hash
from prm.connect.models import SYNCING, Connection, ConnectionStatus
from prm.connect.repository import ConnectRepository
from prm.connect.schemas import PeerBatch, PeerEnvelope, PeerResult
from prm.connect.service import connections, health, publishing, receiving, registrations, sharing, tombstones
from prm.core.db import savepoint
from prm.core.errors import DomainError, Unauthenticated
from prm.core.outbox import OutboxKind, release_waiting
from prm.core.tokens import InvalidToken, verify_peer_token

# An ending message may arrive again (a retry) after the connection already ended.
ENDING_TYPES = frozenset({"cancel", "decline", "deactivate"})


# A shared record's later life: its end, and a deal registered from a partner's instance.
LIFE_HANDLERS: dict[str, Callable[[AsyncSession, Connection, dict[str, Any]], Awaitable[None]]] = {
    "tombstone": tombstones.peer_tombstone,
    "deal_registration": registrations.received_deal,
    "registration": registrations.peer_registration,
}


# What a message the rules refuse raises: it is answered "refused" with the reason.
REFUSALS = (DomainError, IntegrityError, msgspec.ValidationError, KeyError, TypeError, ValueError)


# Message kinds applied many at once (consecutive ones of a batch): a number of queries that
# does not grow with the number of messages or records in them.
BULK_HANDLERS: dict[str, Callable[[AsyncSession, Connection, list[dict[str, Any]]], Awaitable[None]]] = {
    "records": receiving.receive_records,
    "accepted": sharing.peer_accepted_records,
}


class PeerRejected(Unauthenticated):
    """Why a peer request was refused; the reply says only that it was unauthorised."""


def _refuse(reason: str) -> PeerRejected:
    return PeerRejected(f"The peer token is not accepted ({reason}).")


def parse_envelope(raw: bytes) -> PeerEnvelope:
    try:
        return msgspec.json.decode(raw, type=PeerEnvelope)
    except msgspec.DecodeError as exc:
        raise _refuse("malformed message") from exc


async def receive(session: AsyncSession, *, authorization: str, raw: bytes, base_url: str) -> str:
    """Apply one peer message; 'applied' or 'duplicate'."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise _refuse("no bearer token")
    envelope = parse_envelope(raw)
    repo = ConnectRepository(session)
    connection = await _connection_for(repo, envelope)
    claims = _verify(session, token, raw, envelope, connection, base_url)
    if not await repo.remember_token(str(claims["jti"]), datetime.fromtimestamp(float(claims["exp"]) + 60, UTC)):
        raise _refuse("token already used")
    if envelope.type == "invite":
        connection = await connections.received_invitation(
            session, sender_connection_id=envelope.sender_connection_id, body=envelope.body
        )
    assert connection is not None
    now = session.info["clock"].now()
    if not await repo.remember_message(envelope.message_id, connection.id, now):
        return "duplicate"
    if envelope.type != "invite":
        await _dispatch(session, connection, envelope)
    return "applied"


async def _connection_for(repo: ConnectRepository, envelope: PeerEnvelope) -> Connection | None:
    if envelope.type == "invite":
        return None
    connection = await repo.find_connection(envelope.receiver_connection_id)
    if connection is None:
        raise _refuse("unknown connection")
    if connection.peer_connection_id not in (None, envelope.sender_connection_id):
        raise _refuse("another connection")
    if envelope.type not in HANDSHAKE_TYPES and connection.status not in SYNCING:
        raise _refuse(f"connection {connection.status.value}")
    ended = connection.status in (ConnectionStatus.INACTIVE, ConnectionStatus.DECLINED)
    if ended and envelope.type not in ENDING_TYPES:
        raise _refuse(f"connection {connection.status.value}")
    return connection


def _signing_key(envelope: PeerEnvelope, connection: Connection | None) -> str:
    """The invitation and its acceptance carry the sender's new public key; all else is
    verified with the key the handshake stored."""
    if connection is None:
        return str(envelope.body.get("public_key", ""))
    if envelope.type == "accept" and connection.status is ConnectionStatus.SENT:
        secret = str(envelope.body.get("invite_secret", ""))
        if not hmac.compare_digest(secret.encode(), connection.invite_secret.encode()):
            raise _refuse("not an answer to our invitation")
        return str(envelope.body.get("public_key", ""))
    if connection.peer_public_key_pem is None:
        raise _refuse("no key for this connection yet")
    return connection.peer_public_key_pem


def _verify(
    session: AsyncSession,
    token: str,
    raw: bytes,
    envelope: PeerEnvelope,
    connection: Connection | None,
    base_url: str,
) -> dict[str, Any]:
    claims = _decode(session, token, _signing_key(envelope, connection), base_url)
    _check_binding(claims, raw, envelope.sender_connection_id, connection)
    return claims


def _decode(session: AsyncSession, token: str, key: str, base_url: str) -> dict[str, Any]:
    try:
        return verify_peer_token(token, key, audience=base_url.rstrip("/"), now=session.info["clock"].now().timestamp())
    except (InvalidToken, ValueError) as exc:
        raise _refuse(str(exc)) from exc


def _check_binding(
    claims: dict[str, Any], raw: bytes, sender_connection_id: uuid.UUID, connection: Connection | None
) -> None:
    """The token covers exactly this body, from this connection of this instance."""
    if claims.get("bh") != body_hash(raw):
        raise _refuse("the body does not match the token")
    if claims.get("sub") != str(sender_connection_id):
        raise _refuse("the token is for another connection")
    if connection is not None and connection.peer_instance_id not in (None, _uuid(claims.get("iss"))):
        raise _refuse("the token is from another instance")


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


async def _dispatch(session: AsyncSession, connection: Connection, envelope: PeerEnvelope) -> None:
    kind, body = envelope.type, envelope.body
    if kind == "accept":
        await connections.peer_accepted(
            session, connection, sender_connection_id=envelope.sender_connection_id, body=body
        )
    elif kind == "decline":
        await connections.peer_declined(session, connection)
    elif kind in ("cancel", "deactivate"):
        await connections.peer_ended(session, connection)
    elif kind == "publish":
        await publishing.peer_published(session, connection, body)
    elif kind == "unpublish":
        await publishing.peer_unpublished(session, connection, body)
    elif kind in ("subscribe", "unsubscribe"):
        await publishing.peer_subscribed(session, connection, body, on=kind == "subscribe")
    elif kind in BULK_HANDLERS:
        await BULK_HANDLERS[kind](session, connection, [body])
    elif kind == "stop":
        await sharing.peer_stopped(session, connection, body)
    elif kind in LIFE_HANDLERS:
        await LIFE_HANDLERS[kind](session, connection, body)
    elif kind == "hello":
        await _peer_is_back(session, connection)
    else:
        raise _refuse(f"unknown message type {kind!r}")


async def _peer_is_back(session: AsyncSession, connection: Connection) -> None:
    """The peer (re)started: what waits for it after failed tries goes now."""
    now = session.info["clock"].now()
    await release_waiting(session, kind=OutboxKind.PEER, destinations={connection.peer_url}, now=now)


# Batches


def parse_batch(raw: bytes) -> PeerBatch:
    try:
        return msgspec.json.decode(raw, type=PeerBatch)
    except msgspec.DecodeError as exc:  # a ValidationError too: a batch is refused whole
        raise _refuse("malformed batch") from exc


async def receive_batch(session: AsyncSession, *, authorization: str, raw: bytes, base_url: str) -> list[PeerResult]:
    """Apply a batch of one connection's messages in order; a result per message."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise _refuse("no bearer token")
    batch = parse_batch(raw)
    repo = ConnectRepository(session)
    connection = await _live_connection(repo, batch)
    claims = _decode(session, token, connection.peer_public_key_pem or "", base_url)
    _check_binding(claims, raw, batch.sender_connection_id, connection)
    if not await repo.remember_token(str(claims["jti"]), datetime.fromtimestamp(float(claims["exp"]) + 60, UTC)):
        raise _refuse("token already used")
    seen = await repo.seen_message_ids([m.message_id for m in batch.messages])
    results: list[PeerResult] = []
    run: list[PeerEnvelope] = []  # consecutive new messages of one bulk kind: applied together
    for envelope in batch.messages:
        if _joins_run(batch, envelope, seen, run):
            run.append(envelope)
            continue
        results += await _apply_run(session, connection, batch, run, seen)
        run = []
        results.append(await _apply_in_batch(session, connection, batch, envelope, seen))
    return results + await _apply_run(session, connection, batch, run, seen)


def _joins_run(batch: PeerBatch, envelope: PeerEnvelope, seen: set[uuid.UUID], run: list[PeerEnvelope]) -> bool:
    ids = (envelope.sender_connection_id, envelope.receiver_connection_id)
    return (
        envelope.type in BULK_HANDLERS
        and (not run or run[0].type == envelope.type)
        and ids == (batch.sender_connection_id, batch.receiver_connection_id)
        and envelope.message_id not in seen
        and all(m.message_id != envelope.message_id for m in run)
    )


async def _apply_run(
    session: AsyncSession, connection: Connection, batch: PeerBatch, run: list[PeerEnvelope], seen: set[uuid.UUID]
) -> list[PeerResult]:
    """Messages of one kind applied set-based in one savepoint; if the rules refuse any of them,
    one at a time instead, so the reply names the refused one and the others still apply."""
    if run:
        try:
            async with savepoint(session):
                await BULK_HANDLERS[run[0].type](session, connection, [envelope.body for envelope in run])
        except REFUSALS:
            pass
        else:
            now = session.info["clock"].now()
            for envelope in run:
                seen.add(envelope.message_id)
                ConnectRepository(session).remember_message_at_commit(envelope.message_id, connection.id, now)
            return [PeerResult(envelope.message_id, "applied") for envelope in run]
    return [await _apply_in_batch(session, connection, batch, envelope, seen) for envelope in run]


async def _live_connection(repo: ConnectRepository, batch: PeerBatch) -> Connection:
    connection = await repo.find_connection(batch.receiver_connection_id)
    if connection is None:
        raise _refuse("unknown connection")
    if connection.peer_connection_id != batch.sender_connection_id:
        raise _refuse("another connection")
    if connection.status is not ConnectionStatus.ACCEPTED or connection.peer_public_key_pem is None:
        raise _refuse(f"connection {connection.status.value}")
    return connection


async def _apply_in_batch(
    session: AsyncSession, connection: Connection, batch: PeerBatch, envelope: PeerEnvelope, seen: set[uuid.UUID]
) -> PeerResult:
    ids = (envelope.sender_connection_id, envelope.receiver_connection_id)
    if ids != (batch.sender_connection_id, batch.receiver_connection_id):
        return PeerResult(envelope.message_id, "refused", "the message belongs to another connection")
    if envelope.type in HANDSHAKE_TYPES:
        return PeerResult(envelope.message_id, "refused", f"a {envelope.type} message travels alone")
    if envelope.message_id in seen:
        return PeerResult(envelope.message_id, "duplicate")
    try:
        async with savepoint(session):
            await _dispatch(session, connection, envelope)
    except REFUSALS as exc:
        reason = _reason(exc)
        await health.not_applied(
            session, connection=connection, envelope={"type": envelope.type, "body": envelope.body}, reason=reason
        )
        return PeerResult(envelope.message_id, "refused", reason)
    seen.add(envelope.message_id)
    ConnectRepository(session).remember_message_at_commit(
        envelope.message_id, connection.id, session.info["clock"].now()
    )
    return PeerResult(envelope.message_id, "applied")


def _reason(exc: Exception) -> str:
    detail = exc.detail if isinstance(exc, DomainError) else f"{type(exc).__name__}: {exc}"
    return detail[:500]
