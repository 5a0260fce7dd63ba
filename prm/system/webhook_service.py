"""Webhook endpoints: register (with a fresh signing secret), list, change, delete.

Vendor admins only (the routes and pages guard it); the API and the portal's webhook page both
call these, so the rules live here once.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.activity import record_activity
from prm.core.auth import Principal
from prm.core.errors import NotFound
from prm.core.outbox import OutboxKind, OutboxMessage, OutboxStatus, replay_dead, replay_message
from prm.core.pagination import PageRequest, page_of, paginate_statement
from prm.core.records import record_created, record_deleted, record_updated
from prm.core.repository import OutboxRepository
from prm.core.webhooks import WebhookEndpoint, forget_endpoints, new_secret
from prm.system.schemas import WebhookCreate, WebhookUpdate

SORTABLE = {"created_at": WebhookEndpoint.created_at}


async def create_webhook(session: AsyncSession, *, principal: Principal, data: WebhookCreate) -> WebhookEndpoint:
    endpoint = WebhookEndpoint(
        url=data.url,
        secret=new_secret(),
        event_types=list(data.event_types),
        description=data.description,
        active=True,
    )
    session.add(endpoint)
    forget_endpoints(session)
    await record_created(
        session, endpoint, entity="webhook", principal=principal, fields=("url", "event_types", "active")
    )
    return endpoint


async def list_webhooks(session: AsyncSession, *, page: PageRequest) -> tuple[list[WebhookEndpoint], str | None]:
    stmt = paginate_statement(select(WebhookEndpoint), page, SORTABLE, WebhookEndpoint.id)
    return page_of((await session.scalars(stmt)).all(), page)


async def get_webhook(session: AsyncSession, *, webhook_id: uuid.UUID) -> WebhookEndpoint:
    endpoint = await session.get(WebhookEndpoint, webhook_id)
    if endpoint is None:
        raise NotFound(f"Webhook {webhook_id} not found.")
    return endpoint


async def update_webhook(
    session: AsyncSession, *, principal: Principal, webhook_id: uuid.UUID, data: WebhookUpdate
) -> WebhookEndpoint:
    endpoint = await get_webhook(session, webhook_id=webhook_id)
    forget_endpoints(session)
    await record_updated(session, endpoint, data, entity="webhook", principal=principal)
    return endpoint


async def delete_webhook(session: AsyncSession, *, principal: Principal, webhook_id: uuid.UUID) -> None:
    """The endpoint gets no more events; what is already queued for it is still delivered."""
    endpoint = await get_webhook(session, webhook_id=webhook_id)
    forget_endpoints(session)
    await record_deleted(session, endpoint, entity="webhook", principal=principal)


async def deliveries(
    session: AsyncSession,
    *,
    principal: Principal,
    webhook_id: uuid.UUID,
    page: PageRequest,
    status: OutboxStatus | None = None,
) -> tuple[WebhookEndpoint, list[OutboxMessage], str | None]:
    """An endpoint and one page of its deliveries (newest first), optionally only those of a status."""
    endpoint = await get_webhook(session, webhook_id=webhook_id)
    rows, cursor = await OutboxRepository(session, principal).listed(
        page, status=status, kind=OutboxKind.WEBHOOK, destination=str(endpoint.id)
    )
    return endpoint, rows, cursor


async def replay_delivery(
    session: AsyncSession, *, principal: Principal, webhook_id: uuid.UUID, delivery_id: uuid.UUID
) -> OutboxMessage:
    """Send one delivery again now, whatever its state (a delivered event keeps its id)."""
    endpoint = await get_webhook(session, webhook_id=webhook_id)
    message = await replay_message(session, delivery_id, kind=OutboxKind.WEBHOOK, destination=str(endpoint.id))
    if message is None:
        raise NotFound(f"Delivery {delivery_id} of webhook {webhook_id} not found.")
    record_activity(
        session,
        entity_type="webhook",
        entity_id=endpoint.id,
        action="delivery_replayed",
        actor=principal,
        changes={"delivery": [None, str(delivery_id)], "event": [None, message.topic]},
    )
    return message


async def replay_dead_letters(session: AsyncSession, *, principal: Principal, webhook_id: uuid.UUID) -> int:
    """Every dead letter of the endpoint back in line; how many there were."""
    endpoint = await get_webhook(session, webhook_id=webhook_id)
    replayed = await replay_dead(session, kind=OutboxKind.WEBHOOK, destination=str(endpoint.id))
    if replayed:
        record_activity(
            session,
            entity_type="webhook",
            entity_id=endpoint.id,
            action="dead_letters_replayed",
            actor=principal,
            changes={"replayed": [0, replayed]},
        )
    return replayed
