"""Webhook endpoints: the paged list, register (the signing secret is shown once, on the page
that answers the form), delete; an endpoint's deliveries by status, with its dead letters, and
replay (one delivery, or every dead letter). Vendor admins only; the webhook service is the API's."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, Response, get, post
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.auth import Principal
from prm.core.outbox import OutboxStatus
from prm.core.webhooks import WebhookEndpoint, dead_letter_counts
from prm.portal.admin.common import VENDOR_ADMIN_PAGES, Cursor, Done, back, first_error, listing
from prm.portal.shell.attempts import GENERAL, Refusal, attempt, checked, field_messages, text_of
from prm.portal.shell.templating import page
from prm.system import webhook_service as service
from prm.system.schemas import WebhookCreate

NOTICES = {"deleted": "Webhook deleted: it gets no more events."}
DELIVERY_NOTICES = {
    "replayed": "The delivery is back in line: it is sent again within seconds.",
    "replayed-dead": "Every dead letter is back in line: they are sent again within seconds.",
    "no-dead": "There were no dead letters to send again.",
}
STATUS_TABS = [("", "All"), ("pending", "Pending"), ("delivered", "Delivered"), ("dead", "Dead letters")]
MESSAGES = {
    "url": "Enter the endpoint's address, starting with http:// or https://.",
    "event_types": "List event types separated by commas (each at most 100 characters, at most 50), or * for all.",
    "description": "A description has at most 500 characters.",
}


async def webhooks_page(
    session: AsyncSession,
    principal: Principal,
    *,
    cursor: str | None = None,
    done: str | None = None,
    created: WebhookEndpoint | None = None,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response[Any]:
    rows, next_cursor = await service.list_webhooks(session, page=listing(cursor, "-created_at"))
    errors = errors or {}
    return page(
        "admin/webhooks.html",
        principal,
        status_code=status_code,
        webhooks=rows,
        dead=await dead_letter_counts(session, [w.id for w in rows]),
        next_cursor=next_cursor,
        first_page=not cursor,
        created=created,
        notice=NOTICES.get(done or ""),
        errors=errors,
        first_error=first_error(errors),
        values=values or {"event_types": "*"},
    )


@get("/webhooks", name="admin_webhooks", guards=VENDOR_ADMIN_PAGES)
async def webhook_list(
    db_session: AsyncSession, principal: Principal, cursor: Cursor = None, done: Done = None
) -> Response[Any]:
    return await webhooks_page(db_session, principal, cursor=cursor, done=done)


@post("/webhooks", guards=VENDOR_ADMIN_PAGES)
async def create_webhook(
    request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal
) -> Response[Any]:
    raw = await request.form()
    values = {name: text_of(raw, name) for name in ("url", "event_types", "description")}
    kinds = [kind.strip() for kind in values["event_types"].split(",") if kind.strip()]
    body = {"url": values["url"], "event_types": kinds, "description": values["description"]}
    data, errors = checked(WebhookCreate, body, MESSAGES)
    if data is None:
        return await webhooks_page(db_session, principal, errors=errors, values=values, status_code=400)
    outcome = await attempt(db_session, lambda: service.create_webhook(db_session, principal=principal, data=data))
    if isinstance(outcome, Refusal):
        errors = field_messages(outcome)
        return await webhooks_page(db_session, principal, errors=errors, values=values, status_code=outcome.status)
    # The secret is shown this once, so this answer is the page itself, not a redirect.
    return await webhooks_page(db_session, principal, created=outcome, status_code=201)


@post("/webhooks/{webhook_id:uuid}/delete", guards=VENDOR_ADMIN_PAGES)
async def delete_webhook(db_session: AsyncSession, principal: Principal, webhook_id: uuid.UUID) -> Response[Any]:
    outcome = await attempt(
        db_session, lambda: service.delete_webhook(db_session, principal=principal, webhook_id=webhook_id)
    )
    if isinstance(outcome, Refusal):
        return await webhooks_page(db_session, principal, errors={GENERAL: outcome.detail}, status_code=outcome.status)
    return back("/webhooks", "deleted")


@get("/webhooks/{webhook_id:uuid}", name="admin_webhook", guards=VENDOR_ADMIN_PAGES)
async def webhook_deliveries(
    db_session: AsyncSession,
    principal: Principal,
    webhook_id: uuid.UUID,
    status: OutboxStatus | None = None,
    cursor: Cursor = None,
    done: Done = None,
) -> Response[Any]:
    endpoint, rows, next_cursor = await service.deliveries(
        db_session, principal=principal, webhook_id=webhook_id, page=listing(cursor, "-created_at"), status=status
    )
    dead = (await dead_letter_counts(db_session, [endpoint.id])).get(endpoint.id, 0)
    return page(
        "admin/webhook.html",
        principal,
        endpoint=endpoint,
        deliveries=rows,
        dead=dead,
        status=status.value if status else "",
        tabs=STATUS_TABS,
        next_cursor=next_cursor,
        first_page=not cursor,
        notice=DELIVERY_NOTICES.get(done or ""),
        errors={},
    )


@post("/webhooks/{webhook_id:uuid}/deliveries/{delivery_id:uuid}/replay", guards=VENDOR_ADMIN_PAGES)
async def replay_delivery(
    db_session: AsyncSession, principal: Principal, webhook_id: uuid.UUID, delivery_id: uuid.UUID
) -> Response[Any]:
    await service.replay_delivery(db_session, principal=principal, webhook_id=webhook_id, delivery_id=delivery_id)
    return back(f"/webhooks/{webhook_id}", "replayed")


@post("/webhooks/{webhook_id:uuid}/dead-letters/replay", guards=VENDOR_ADMIN_PAGES)
async def replay_dead_letters(db_session: AsyncSession, principal: Principal, webhook_id: uuid.UUID) -> Response[Any]:
    replayed = await service.replay_dead_letters(db_session, principal=principal, webhook_id=webhook_id)
    return back(f"/webhooks/{webhook_id}", "replayed-dead" if replayed else "no-dead")


WEBHOOK_PAGE_HANDLERS: list[Any] = [
    webhook_list,
    create_webhook,
    delete_webhook,
    webhook_deliveries,
    replay_delivery,
    replay_dead_letters,
]
