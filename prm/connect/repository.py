"""Every connect query. Connections and shares are vendor-admin data: no tenant filter here;
the routes let only vendor admins (and, for one record's sharing, its readers) in."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from prm.connect.models import (
    LIVE_STATUSES,
    Connection,
    ConnectionStatus,
    InboundMessage,
    InstanceIdentity,
    Publication,
    SeenToken,
    Share,
    ShareStatus,
    Subscription,
)
from prm.core.db import defer_insert, new_id
from prm.core.errors import NotFound
from prm.core.outbox import OutboxKind, OutboxMessage, OutboxStatus
from prm.core.pagination import PageRequest, page_of, paginate_statement

_INSTANCE_ID = "connect_instance_id"  # session.info


@dataclass(frozen=True)
class ConnectionLag:
    """Messages to one connection's peer not yet delivered, and since when the oldest waits."""

    connection_id: uuid.UUID
    waiting: int
    oldest_at: datetime | None


class ConnectRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def instance_id(self) -> uuid.UUID:
        """This instance's id; asked per record sent or received, so read once per unit of work
        (it never changes once written)."""
        cached: uuid.UUID | None = self.session.info.get(_INSTANCE_ID)
        if cached is not None:
            return cached
        found = await self.session.scalar(select(InstanceIdentity.instance_id))
        if found is None:  # the first ever: not cached, as a savepoint around it may yet roll back
            identity = InstanceIdentity(singleton=1, instance_id=new_id())
            self.session.add(identity)
            await self.session.flush()
            return identity.instance_id
        self.session.info[_INSTANCE_ID] = found
        return found

    async def connection(self, connection_id: uuid.UUID, *, for_update: bool = False) -> Connection:
        stmt = select(Connection).where(Connection.id == connection_id)
        if for_update:
            stmt = stmt.with_for_update()
        found = await self.session.scalar(stmt)
        if found is None:
            raise NotFound(f"Connection {connection_id} not found.")
        return found

    async def find_connection(self, connection_id: uuid.UUID | None) -> Connection | None:
        if connection_id is None:
            return None
        return await self.session.get(Connection, connection_id)

    async def live_connection_to(
        self, *, peer_url: str | None = None, peer_instance_id: uuid.UUID | None = None
    ) -> Connection | None:
        stmt = select(Connection).where(Connection.status.in_(LIVE_STATUSES))
        if peer_url is not None:
            stmt = stmt.where(Connection.peer_url == peer_url)
        if peer_instance_id is not None:
            stmt = stmt.where(Connection.peer_instance_id == peer_instance_id)
        found: Connection | None = await self.session.scalar(stmt.limit(1))
        return found

    async def connection_page(self, page: PageRequest) -> tuple[list[Connection], str | None]:
        stmt = paginate_statement(select(Connection), page, {"created_at": Connection.created_at}, Connection.id)
        rows = (await self.session.scalars(stmt)).all()
        return page_of(rows, page)

    async def publications(self, connection_id: uuid.UUID) -> list[Publication]:
        stmt = select(Publication).where(Publication.connection_id == connection_id).order_by(Publication.object)
        return list((await self.session.scalars(stmt)).all())

    async def publication(self, connection_id: uuid.UUID, object_name: str) -> Publication | None:
        stmt = select(Publication).where(Publication.connection_id == connection_id, Publication.object == object_name)
        found: Publication | None = await self.session.scalar(stmt)
        return found

    async def subscriptions(self, connection_id: uuid.UUID) -> list[Subscription]:
        stmt = select(Subscription).where(Subscription.connection_id == connection_id).order_by(Subscription.object)
        return list((await self.session.scalars(stmt)).all())

    async def subscription(self, connection_id: uuid.UUID, object_name: str) -> Subscription | None:
        stmt = select(Subscription).where(
            Subscription.connection_id == connection_id, Subscription.object == object_name
        )
        found: Subscription | None = await self.session.scalar(stmt)
        return found

    async def share(self, connection_id: uuid.UUID, object_name: str, origin_id: uuid.UUID) -> Share | None:
        stmt = select(Share).where(
            Share.connection_id == connection_id, Share.object == object_name, Share.origin_id == origin_id
        )
        found: Share | None = await self.session.scalar(stmt)
        return found

    async def shares_by_origin(self, connection_id: uuid.UUID, origin_ids: set[uuid.UUID]) -> list[Share]:
        """The connection's shares of any of these origin ids (a batch's records and parents)."""
        if not origin_ids:
            return []
        stmt = select(Share).where(Share.connection_id == connection_id, Share.origin_id.in_(origin_ids))
        return list((await self.session.scalars(stmt)).all())

    async def lock_shares(self, share_ids: list[uuid.UUID]) -> None:
        """Lock these shares and read them afresh (PostgreSQL; SQLite has one writer anyway)."""
        stmt = select(Share).where(Share.id.in_(share_ids)).order_by(Share.id).with_for_update()
        await self.session.scalars(stmt.execution_options(populate_existing=True))

    async def pending_children(self, connection_id: uuid.UUID, parent_origin_ids: list[uuid.UUID]) -> list[Share]:
        """Pending received records that waited for one of these parents (one query)."""
        if not parent_origin_ids:
            return []
        stmt = select(Share).where(
            Share.connection_id == connection_id,
            Share.parent_origin_id.in_(parent_origin_ids),
            Share.status == ShareStatus.PENDING_RECEIVED,
        )
        return list((await self.session.scalars(stmt.order_by(Share.started_at, Share.id))).all())

    async def shares_of_records(self, local_ids: set[uuid.UUID]) -> list[Share]:
        """Every share of any of these local records (one query; callers filter by object)."""
        if not local_ids:
            return []
        stmt = select(Share).where(Share.local_id.in_(local_ids)).order_by(Share.started_at, Share.id)
        return list((await self.session.scalars(stmt)).all())

    async def share_by_id(self, share_id: uuid.UUID) -> Share:
        found = await self.session.get(Share, share_id)
        if found is None:
            raise NotFound(f"Share {share_id} not found.")
        return found

    async def shares_of_record(self, object_name: str, local_id: uuid.UUID) -> list[Share]:
        stmt = select(Share).where(Share.local_id == local_id, Share.object == object_name).order_by(Share.started_at)
        return list((await self.session.scalars(stmt)).all())

    async def shares_on(self, connection_id: uuid.UUID, *statuses: ShareStatus) -> list[Share]:
        stmt = select(Share).where(Share.connection_id == connection_id)
        if statuses:
            stmt = stmt.where(Share.status.in_(statuses))
        return list((await self.session.scalars(stmt.order_by(Share.started_at, Share.id))).all())

    async def share_page(
        self, connection_id: uuid.UUID, page: PageRequest, status: ShareStatus | None = None
    ) -> tuple[list[Share], str | None]:
        """One connection's shares, keyset-paged by start time (`created_at` names it too)."""
        stmt = select(Share).where(Share.connection_id == connection_id)
        if status is not None:
            stmt = stmt.where(Share.status == status)
        sortable = {"started_at": Share.started_at, "created_at": Share.started_at}
        rows = (await self.session.scalars(paginate_statement(stmt, page, sortable, Share.id))).all()
        return page_of(rows, page, "started_at")

    async def children_of(self, connection_id: uuid.UUID, parent_origin_id: uuid.UUID) -> list[Share]:
        stmt = select(Share).where(Share.connection_id == connection_id, Share.parent_origin_id == parent_origin_id)
        return list((await self.session.scalars(stmt)).all())

    async def remember_token(self, jti: str, expires_at: datetime) -> bool:
        """False when the token id was already used (a replay)."""
        return await self._insert_once(SeenToken(jti=jti, expires_at=expires_at))

    async def remember_message(self, message_id: uuid.UUID, connection_id: uuid.UUID, now: datetime) -> bool:
        """False when the message was already applied (a redelivery)."""
        if await self.session.get(InboundMessage, message_id) is not None:
            return False
        return await self._insert_once(
            InboundMessage(message_id=message_id, connection_id=connection_id, received_at=now)
        )

    async def live_connections(self) -> list[Connection]:
        stmt = select(Connection).where(Connection.status == ConnectionStatus.ACCEPTED).order_by(Connection.id)
        return list((await self.session.scalars(stmt)).all())

    async def seen_message_ids(self, message_ids: list[uuid.UUID]) -> set[uuid.UUID]:
        """Which of these message ids were applied before (a batch's redeliveries)."""
        stmt = select(InboundMessage.message_id).where(InboundMessage.message_id.in_(message_ids))
        return set(await self.session.scalars(stmt))

    def remember_message_at_commit(self, message_id: uuid.UUID, connection_id: uuid.UUID, now: datetime) -> None:
        """Record an applied message id with the unit of work's other rows: a batch checks its
        ids in one query first, and a concurrent redelivery fails the commit, so it applies once."""
        row = {"message_id": message_id, "connection_id": connection_id, "received_at": now}
        defer_insert(self.session, InboundMessage, row)

    async def _insert_once(self, row: Any) -> bool:
        try:
            async with self.session.begin_nested():
                self.session.add(row)
                await self.session.flush()
        except IntegrityError:
            return False
        return True

    async def purge_tokens(self, now: datetime) -> int:
        result = await self.session.execute(delete(SeenToken).where(SeenToken.expires_at < now))
        return int(getattr(result, "rowcount", 0) or 0)

    async def lag(self) -> list[ConnectionLag]:
        """Per live connection, its undelivered peer messages (matched on the peer's URL, which
        is where the outbox row is addressed)."""
        waiting = and_(
            OutboxMessage.kind == OutboxKind.PEER,
            OutboxMessage.status == OutboxStatus.PENDING,
            OutboxMessage.destination == Connection.peer_url,
        )
        stmt = (
            select(Connection.id, func.count(OutboxMessage.id), func.min(OutboxMessage.created_at))
            .outerjoin(OutboxMessage, waiting)
            .where(Connection.status.in_(LIVE_STATUSES))
            .group_by(Connection.id)
        )
        return [ConnectionLag(cid, int(count), oldest) for cid, count, oldest in await self.session.execute(stmt)]
