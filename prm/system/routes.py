"""Operations: health, readiness, the outbox (with its dead letters) and webhook endpoints."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, Response, delete, get, patch, post
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.activity import ActivityRead
from prm.core.auth import Principal, Role, allow
from prm.core.convert import to_page, to_read
from prm.core.dbcheck import DatabaseUnavailable, check_schema
from prm.core.errors import NotFound
from prm.core.history import history_of
from prm.core.idempotency import idempotent_create
from prm.core.outbox import OutboxKind, OutboxStatus, retry_message
from prm.core.pagination import Page, PageRequest
from prm.core.problems import problem
from prm.core.repository import OutboxRepository
from prm.core.runtime import Runtime
from prm.core.webhooks import WebhookRepository
from prm.system import webhook_service
from prm.system.schemas import (
    Health,
    OutboxRead,
    ReplayedCount,
    WebhookCreate,
    WebhookCreated,
    WebhookRead,
    WebhookUpdate,
)


@get("/health", tags=["operations"], summary="Alive", exclude_from_auth=True)
async def health() -> Health:
    return Health(status="ok")


@get("/ready", tags=["operations"], summary="Ready: the database answers at this code's schema", exclude_from_auth=True)
async def ready(request: Request[Any, Any, Any]) -> Response[Any]:
    """Readiness, for load balancers: 503 while shutting down, when the database does not answer,
    or when its schema is behind this code (a rolling deploy that ran ahead of `prm db upgrade`).
    `/health` is liveness: the process answers, whatever the database does."""
    runtime: Runtime = request.app.state.runtime
    if runtime.lifecycle.draining:
        return problem(503, "This instance is shutting down.")
    try:
        await check_schema(runtime.db.engine)
    except DatabaseUnavailable as exc:
        return problem(503, f"The database schema is not ready: {exc}")
    except Exception:  # any failure to reach the database means "not ready"
        return problem(503, "The database is not reachable.")
    return Response(Health(status="ready"))


class OutboxController(Controller):
    path = "/outbox"
    tags = ["operations"]
    guards = [allow(Role.VENDOR_ADMIN)]

    @get("/", summary="Outbox messages; status=dead lists the dead letters")
    async def list_outbox(
        self,
        db_session: AsyncSession,
        principal: Principal,
        page: PageRequest,
        status: OutboxStatus | None = None,
        kind: OutboxKind | None = None,
    ) -> Page[OutboxRead]:
        rows, cursor = await OutboxRepository(db_session, principal).listed(page, status=status, kind=kind)
        return to_page(rows, cursor, OutboxRead)

    @get("/{message_id:uuid}")
    async def get_message(self, db_session: AsyncSession, principal: Principal, message_id: uuid.UUID) -> OutboxRead:
        message = await OutboxRepository(db_session, principal).get(message_id)
        return to_read(message, OutboxRead)

    @post("/{message_id:uuid}/retry", status_code=200, summary="Send a dead or pending message again now")
    async def retry(self, db_session: AsyncSession, message_id: uuid.UUID) -> OutboxRead:
        message = await retry_message(db_session, message_id)
        if message is None:
            raise NotFound(f"Outbox message {message_id} not found.")
        return to_read(message, OutboxRead)


class WebhookController(Controller):
    path = "/webhooks"
    tags = ["operations"]
    guards = [allow(Role.VENDOR_ADMIN)]

    @post("/", summary="Register a webhook endpoint (the reply shows its signing secret once)")
    async def create_webhook(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, data: WebhookCreate
    ) -> Response[WebhookCreated]:
        async def create() -> WebhookCreated:
            endpoint = await webhook_service.create_webhook(db_session, principal=principal, data=data)
            return to_read(endpoint, WebhookCreated)

        return await idempotent_create(request, db_session, principal, create, WebhookCreated)

    @get("/")
    async def list_webhooks(self, db_session: AsyncSession, page: PageRequest) -> Page[WebhookRead]:
        rows, cursor = await webhook_service.list_webhooks(db_session, page=page)
        return to_page(rows, cursor, WebhookRead)

    @patch("/{webhook_id:uuid}")
    async def update_webhook(
        self, db_session: AsyncSession, principal: Principal, webhook_id: uuid.UUID, data: WebhookUpdate
    ) -> WebhookRead:
        endpoint = await webhook_service.update_webhook(
            db_session, principal=principal, webhook_id=webhook_id, data=data
        )
        return to_read(endpoint, WebhookRead)

    @delete("/{webhook_id:uuid}", summary="Delete a webhook endpoint (queued deliveries still go out)")
    async def delete_webhook(self, db_session: AsyncSession, principal: Principal, webhook_id: uuid.UUID) -> None:
        await webhook_service.delete_webhook(db_session, principal=principal, webhook_id=webhook_id)

    @get("/{webhook_id:uuid}/history", summary="Every change and replay: who, when (UTC), what")
    async def webhook_history(
        self, db_session: AsyncSession, principal: Principal, webhook_id: uuid.UUID, page: PageRequest
    ) -> Page[ActivityRead]:
        return await history_of(
            db_session, WebhookRepository(db_session, principal), webhook_id, page, entity="webhook"
        )

    @get(
        "/{webhook_id:uuid}/deliveries",
        summary="The endpoint's deliveries, newest first (status=dead: its dead letters)",
    )
    async def list_deliveries(
        self,
        db_session: AsyncSession,
        principal: Principal,
        webhook_id: uuid.UUID,
        page: PageRequest,
        status: OutboxStatus | None = None,
    ) -> Page[OutboxRead]:
        _, rows, cursor = await webhook_service.deliveries(
            db_session, principal=principal, webhook_id=webhook_id, page=page, status=status
        )
        return to_page(rows, cursor, OutboxRead)

    @post(
        "/{webhook_id:uuid}/deliveries/{delivery_id:uuid}/replay",
        status_code=200,
        summary="Send one delivery again now, a delivered one too (it keeps its id)",
    )
    async def replay_delivery(
        self, db_session: AsyncSession, principal: Principal, webhook_id: uuid.UUID, delivery_id: uuid.UUID
    ) -> OutboxRead:
        message = await webhook_service.replay_delivery(
            db_session, principal=principal, webhook_id=webhook_id, delivery_id=delivery_id
        )
        return to_read(message, OutboxRead)

    @post("/{webhook_id:uuid}/dead-letters/replay", status_code=200, summary="Send every dead letter again now")
    async def replay_dead_letters(
        self, db_session: AsyncSession, principal: Principal, webhook_id: uuid.UUID
    ) -> ReplayedCount:
        replayed = await webhook_service.replay_dead_letters(db_session, principal=principal, webhook_id=webhook_id)
        return ReplayedCount(replayed=replayed)
