"""Connect API: connections (vendor admins), sharing records, and the peer inbox."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from litestar import Controller, Request, delete, get, post, put
from sqlalchemy.ext.asyncio import AsyncSession

from prm.connect.models import ShareStatus
from prm.connect.repository import ConnectRepository
from prm.connect.schemas import (
    ConnectionAccept,
    ConnectionInvite,
    ConnectionRead,
    DealRegistrationShare,
    ObjectName,
    PeerBatchReply,
    PeerReply,
    PublicationRead,
    PublicationSet,
    ShareRead,
    ShareRequest,
    SubscriptionRead,
    SubscriptionSet,
)
from prm.connect.service import connections, inbound, publishing, registrations, sharing
from prm.core.activity import ActivityRead, history_page
from prm.core.auth import EVERYONE, WRITERS, Principal, Role, allow
from prm.core.convert import to_page, to_read
from prm.core.errors import RuleViolation
from prm.core.pagination import Page, PageRequest
from prm.settings import Settings

ADMIN = allow(Role.VENDOR_ADMIN)


def _base_url(request: Request[Any, Any, Any]) -> str:
    settings: Settings = request.app.state.settings
    return settings.base_url


class ConnectionController(Controller):
    path = "/connect/connections"
    tags = ["connect"]
    guards = [ADMIN]

    @post("/", summary="Invite a peer instance to connect")
    async def invite(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, data: ConnectionInvite
    ) -> ConnectionRead:
        connection = await connections.invite(db_session, principal=principal, data=data, base_url=_base_url(request))
        return to_read(connection, ConnectionRead)

    @get("/", summary="Connections with peer instances")
    async def list_connections(self, db_session: AsyncSession, page: PageRequest) -> Page[ConnectionRead]:
        rows, cursor = await ConnectRepository(db_session).connection_page(page)
        return to_page(rows, cursor, ConnectionRead)

    @get("/{connection_id:uuid}")
    async def get_connection(self, db_session: AsyncSession, connection_id: uuid.UUID) -> ConnectionRead:
        return to_read(await ConnectRepository(db_session).connection(connection_id), ConnectionRead)

    @post("/{connection_id:uuid}/accept", status_code=200)
    async def accept(
        self, db_session: AsyncSession, principal: Principal, connection_id: uuid.UUID, data: ConnectionAccept
    ) -> ConnectionRead:
        connection = await connections.accept(db_session, principal=principal, connection_id=connection_id, data=data)
        return to_read(connection, ConnectionRead)

    @post("/{connection_id:uuid}/decline", status_code=200)
    async def decline(self, db_session: AsyncSession, principal: Principal, connection_id: uuid.UUID) -> ConnectionRead:
        connection = await connections.decline(db_session, connection_id=connection_id, principal=principal)
        return to_read(connection, ConnectionRead)

    @post("/{connection_id:uuid}/cancel", status_code=200, summary="Withdraw an invitation not yet accepted")
    async def cancel(self, db_session: AsyncSession, principal: Principal, connection_id: uuid.UUID) -> ConnectionRead:
        connection = await connections.cancel(db_session, connection_id=connection_id, principal=principal)
        return to_read(connection, ConnectionRead)

    @post("/{connection_id:uuid}/resend", status_code=200, summary="Send the invitation again")
    async def resend(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, connection_id: uuid.UUID
    ) -> ConnectionRead:
        connection = await connections.resend(
            db_session, connection_id=connection_id, principal=principal, base_url=_base_url(request)
        )
        return to_read(connection, ConnectionRead)

    @post("/{connection_id:uuid}/deactivate", status_code=200, summary="End the connection (either side)")
    async def deactivate(
        self, db_session: AsyncSession, principal: Principal, connection_id: uuid.UUID
    ) -> ConnectionRead:
        connection = await connections.deactivate(db_session, connection_id=connection_id, principal=principal)
        return to_read(connection, ConnectionRead)

    @get("/{connection_id:uuid}/publications", summary="What this side publishes on the connection")
    async def publications(self, db_session: AsyncSession, connection_id: uuid.UUID) -> list[PublicationRead]:
        repo = ConnectRepository(db_session)
        await repo.connection(connection_id)
        return [to_read(p, PublicationRead) for p in await repo.publications(connection_id)]

    @put("/{connection_id:uuid}/publications", summary="Publish an object (default fields as S2S)")
    async def publish(
        self, db_session: AsyncSession, connection_id: uuid.UUID, data: PublicationSet
    ) -> PublicationRead:
        publication = await publishing.publish(db_session, connection_id=connection_id, data=data)
        return to_read(publication, PublicationRead)

    @delete("/{connection_id:uuid}/publications/{object_name:str}", summary="Unpublish (unsubscribes the peer)")
    async def unpublish(self, db_session: AsyncSession, connection_id: uuid.UUID, object_name: str) -> None:
        await publishing.unpublish(db_session, connection_id=connection_id, object_name=object_name)

    @get("/{connection_id:uuid}/subscriptions", summary="What the peer publishes, and what this side subscribes")
    async def subscriptions(self, db_session: AsyncSession, connection_id: uuid.UUID) -> list[SubscriptionRead]:
        repo = ConnectRepository(db_session)
        await repo.connection(connection_id)
        return [to_read(s, SubscriptionRead) for s in await repo.subscriptions(connection_id)]

    @put("/{connection_id:uuid}/subscriptions/{object_name:str}", summary="Subscribe and map the fields")
    async def subscribe(
        self, db_session: AsyncSession, connection_id: uuid.UUID, object_name: ObjectName, data: SubscriptionSet
    ) -> SubscriptionRead:
        subscription = await publishing.subscribe(
            db_session, connection_id=connection_id, object_name=object_name, data=data
        )
        return to_read(subscription, SubscriptionRead)

    @delete("/{connection_id:uuid}/subscriptions/{object_name:str}", status_code=200)
    async def unsubscribe(
        self, db_session: AsyncSession, connection_id: uuid.UUID, object_name: str
    ) -> SubscriptionRead:
        subscription = await publishing.unsubscribe(db_session, connection_id=connection_id, object_name=object_name)
        return to_read(subscription, SubscriptionRead)

    @get(
        "/{connection_id:uuid}/shares", summary="Records shared on the connection (status=pending_received: the inbox)"
    )
    async def shares(
        self, db_session: AsyncSession, connection_id: uuid.UUID, page: PageRequest, status: ShareStatus | None = None
    ) -> Page[ShareRead]:
        repo = ConnectRepository(db_session)
        await repo.connection(connection_id)
        rows, cursor = await repo.share_page(connection_id, page, status)
        return to_page(rows, cursor, ShareRead)

    @get("/{connection_id:uuid}/history", summary="The connection's history: each status change and who made it")
    async def history(
        self, db_session: AsyncSession, connection_id: uuid.UUID, page: PageRequest
    ) -> Page[ActivityRead]:
        await ConnectRepository(db_session).connection(connection_id)
        items, cursor = await history_page(db_session, entity_type="connection", entity_id=connection_id, page=page)
        return Page(items=items, next_cursor=cursor)


class SharingController(Controller):
    path = "/connect"
    tags = ["connect"]

    @post("/shares", guards=[allow(*WRITERS)], summary="Forward records (parents first) to connections")
    async def share(self, db_session: AsyncSession, principal: Principal, data: ShareRequest) -> list[ShareRead]:
        shares = await sharing.share_records(db_session, principal=principal, data=data)
        return [to_read(s, ShareRead) for s in shares]

    @post(
        "/deal-registrations",
        guards=[allow(*WRITERS)],
        summary="Register an opportunity as a deal with the vendor's instance (a submitted registration there)",
    )
    async def register_deal(
        self, db_session: AsyncSession, principal: Principal, data: DealRegistrationShare
    ) -> ShareRead:
        return to_read(await registrations.register_deal(db_session, principal=principal, data=data), ShareRead)

    @post("/shares/{share_id:uuid}/accept", status_code=200, guards=[ADMIN], summary="Accept a received record")
    async def accept(self, db_session: AsyncSession, share_id: uuid.UUID) -> ShareRead:
        return to_read(await sharing.accept_share(db_session, share_id=share_id), ShareRead)

    @post("/shares/{share_id:uuid}/stop", status_code=200, guards=[ADMIN], summary="Stop sharing; both copies stay")
    async def stop(self, db_session: AsyncSession, share_id: uuid.UUID) -> ShareRead:
        return to_read(await sharing.stop_share(db_session, share_id=share_id), ShareRead)

    # One route per object (not /records/{object}/...): an unknown object and a hidden record
    # must give the same 404.
    @get("/records/accounts/{record_id:uuid}/sharing", guards=[allow(*EVERYONE)], summary="An account's sharing")
    async def account_sharing(
        self, db_session: AsyncSession, principal: Principal, record_id: uuid.UUID
    ) -> list[ShareRead]:
        return await _sharing(db_session, principal, "account", record_id)

    @get("/records/contacts/{record_id:uuid}/sharing", guards=[allow(*EVERYONE)], summary="A contact's sharing")
    async def contact_sharing(
        self, db_session: AsyncSession, principal: Principal, record_id: uuid.UUID
    ) -> list[ShareRead]:
        return await _sharing(db_session, principal, "contact", record_id)

    @get(
        "/records/opportunities/{record_id:uuid}/sharing", guards=[allow(*EVERYONE)], summary="An opportunity's sharing"
    )
    async def opportunity_sharing(
        self, db_session: AsyncSession, principal: Principal, record_id: uuid.UUID
    ) -> list[ShareRead]:
        return await _sharing(db_session, principal, "opportunity", record_id)

    @get("/records/leads/{record_id:uuid}/sharing", guards=[allow(*EVERYONE)], summary="A lead's sharing")
    async def lead_sharing(
        self, db_session: AsyncSession, principal: Principal, record_id: uuid.UUID
    ) -> list[ShareRead]:
        return await _sharing(db_session, principal, "lead", record_id)


async def _sharing(
    session: AsyncSession, principal: Principal, object_name: str, record_id: uuid.UUID
) -> list[ShareRead]:
    """External sharing of one record: per connection, status, partner record id and dates."""
    shares = await sharing.sharing_of(session, principal=principal, object_name=object_name, record_id=record_id)
    return [to_read(s, ShareRead) for s in shares]


@post("/peer/v1/messages", tags=["connect"], status_code=200, summary="A peer instance's message (signed JWT)")
async def peer_inbox(request: Request[Any, Any, Any], db_session: AsyncSession) -> PeerReply:
    raw = await request.body()
    try:
        status = await inbound.receive(
            db_session,
            authorization=request.headers.get("authorization", ""),
            raw=raw,
            base_url=_base_url(request),
        )
    except msgspec.ValidationError as exc:
        raise RuleViolation(f"The shared values are not valid here: {exc}") from exc
    return PeerReply(status=status)


@post(
    "/peer/v1/batches",
    tags=["connect"],
    status_code=200,
    summary="A peer instance's messages, many under one signed JWT, applied in order",
)
async def peer_batch_inbox(request: Request[Any, Any, Any], db_session: AsyncSession) -> PeerBatchReply:
    results = await inbound.receive_batch(
        db_session,
        authorization=request.headers.get("authorization", ""),
        raw=await request.body(),
        base_url=_base_url(request),
    )
    return PeerBatchReply(results=results)
