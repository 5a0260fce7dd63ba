"""Webhook endpoints registered by vendor admins, and signed delivery of events to them.

Signature: `X-PRM-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">` with the
endpoint's secret, and `X-PRM-Timestamp`, so receivers can check both origin and freshness.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from datetime import datetime
from typing import Any

import httpx
import msgspec
from sqlalchemy import String, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from prm.core.db import Base, Database, IdMixin, TimestampMixin, VersionMixin
from prm.core.outbox import Claimed, OutboxKind, OutboxMessage, OutboxStatus, enqueue, enqueue_bulk
from prm.core.repository import ScopedRepository


class WebhookEndpoint(IdMixin, TimestampMixin, VersionMixin, Base):
    __tablename__ = "webhook_endpoints"

    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(200))
    event_types: Mapped[list[str]]
    active: Mapped[bool] = mapped_column(default=True)
    description: Mapped[str] = mapped_column(String(500), default="")


class WebhookRepository(ScopedRepository[WebhookEndpoint]):
    """Endpoints are the vendor's, not tenant data: the routes and pages admit vendor admins only."""

    model = WebhookEndpoint
    label = "Webhook"


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def _subscribed(endpoint: WebhookEndpoint, event_type: str) -> bool:
    return "*" in endpoint.event_types or event_type in endpoint.event_types


_ENDPOINTS = "webhook_endpoints"
_ACTIVE = select(WebhookEndpoint).where(WebhookEndpoint.active.is_(True))


async def _active_endpoints(session: AsyncSession) -> list[WebhookEndpoint]:
    """The active endpoints, read once per unit of work: a request that publishes several
    events (a registration created and submitted at once) asks the database one time."""
    endpoints: list[WebhookEndpoint] | None = session.info.get(_ENDPOINTS)
    if endpoints is None:
        endpoints = list((await session.scalars(_ACTIVE)).all())
        session.info[_ENDPOINTS] = endpoints
    return endpoints


def forget_endpoints(session: AsyncSession) -> None:
    """After an endpoint is added or changed in this unit of work, read them afresh."""
    session.info.pop(_ENDPOINTS, None)


async def _subscribers(session: AsyncSession, event_type: str) -> list[WebhookEndpoint]:
    return [e for e in await _active_endpoints(session) if _subscribed(e, event_type)]


def _event(event_type: str, occurred_at: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"type": event_type, "occurred_at": occurred_at, "data": msgspec.to_builtins(data)}


def _now(session: AsyncSession) -> str:
    now: datetime = session.info["clock"].now()
    return now.isoformat()


async def publish_event(session: AsyncSession, event_type: str, data: dict[str, Any]) -> int:
    """Queue `event_type` for every active endpoint that subscribed to it."""
    endpoints = await _subscribers(session, event_type)
    if endpoints:
        payload = _event(event_type, _now(session), data)
        for endpoint in endpoints:
            enqueue(session, kind=OutboxKind.WEBHOOK, topic=event_type, destination=str(endpoint.id), payload=payload)
    return len(endpoints)


async def publish_events(session: AsyncSession, event_type: str, items: list[dict[str, Any]]) -> int:
    """The same event for many records, with one query for the endpoints and one INSERT."""
    endpoints = await _subscribers(session, event_type)
    occurred_at = _now(session)
    rows = [
        (OutboxKind.WEBHOOK, event_type, str(endpoint.id), _event(event_type, occurred_at, data))
        for endpoint in endpoints
        for data in items
    ]
    await enqueue_bulk(session, rows)
    return len(rows)


async def dead_letter_counts(session: AsyncSession, endpoint_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """How many dead letters each of these endpoints has, in one grouped read."""
    if not endpoint_ids:
        return {}
    stmt = (
        select(OutboxMessage.destination, func.count())
        .where(
            OutboxMessage.kind == OutboxKind.WEBHOOK,
            OutboxMessage.status == OutboxStatus.DEAD,
            OutboxMessage.destination.in_([str(i) for i in endpoint_ids]),
        )
        .group_by(OutboxMessage.destination)
    )
    return {uuid.UUID(destination): count for destination, count in await session.execute(stmt)}


class WebhookDeliverer:
    def __init__(self, db: Database, client: httpx.AsyncClient) -> None:
        self._db = db
        self._client = client

    async def __call__(self, message: Claimed) -> None:
        async with self._db.session() as session:
            endpoint = await session.get(WebhookEndpoint, uuid.UUID(message.destination))
        if endpoint is None or not endpoint.active:
            raise RuntimeError("webhook endpoint is gone or inactive")
        body = msgspec.json.encode({"id": str(message.id), **message.payload})
        timestamp = str(int(self._db.clock.now().timestamp()))
        response = await self._client.post(
            endpoint.url,
            content=body,
            headers={
                "Content-Type": "application/json",
                "X-PRM-Event": message.topic,
                "X-PRM-Delivery": str(message.id),
                "X-PRM-Timestamp": timestamp,
                "X-PRM-Signature": sign(endpoint.secret, timestamp, body),
            },
        )
        response.raise_for_status()
