"""Webhook endpoints: register (with a fresh signing secret), list, change, delete.

Vendor admins only (the routes and pages guard it); the API and the portal's webhook page both
call these, so the rules live here once.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.auth import Principal
from prm.core.errors import NotFound
from prm.core.pagination import PageRequest, page_of, paginate_statement
from prm.core.records import record_created, record_deleted, record_updated
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
