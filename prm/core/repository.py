"""The base for repositories (every query starts from the caller's tenant scope), and the
repository of core's own table that callers page through: the outbox."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from typing import Any, ClassVar, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from prm.core.auth import Principal
from prm.core.errors import NotFound
from prm.core.outbox import OutboxKind, OutboxMessage, OutboxStatus
from prm.core.pagination import PageRequest, page_of, paginate_statement

M = TypeVar("M")


class ScopedRepository(Generic[M]):
    """Reads of one model, always filtered to what `principal` may see.

    Subclasses set `model`, `label` (for messages), `sortable` and override `scope()`.
    """

    model: ClassVar[type[Any]]
    label: ClassVar[str]
    sortable: ClassVar[Mapping[str, str]] = {"created_at": "created_at"}

    def __init__(self, session: AsyncSession, principal: Principal) -> None:
        self.session = session
        self.principal = principal

    def scope(self) -> ColumnElement[bool]:
        return true()

    def select(self) -> Select[Any]:
        return select(self.model).where(self.scope())

    async def get(self, record_id: uuid.UUID, *, for_update: bool = False) -> M:
        stmt = self.select().where(self.model.id == record_id)
        if for_update:
            stmt = stmt.with_for_update()
        found: M | None = await self.session.scalar(stmt)
        if found is None:
            raise NotFound(f"{self.label} {record_id} not found.")
        return found

    async def get_many(self, record_ids: Collection[uuid.UUID], *, for_update: bool = False) -> dict[uuid.UUID, M]:
        """Those of the records the caller may see, by id, in one query (the others are not there)."""
        if not record_ids:
            return {}
        stmt = self.select().where(self.model.id.in_(list(record_ids)))
        if for_update:
            stmt = stmt.with_for_update()
        return {record.id: record for record in await self.session.scalars(stmt)}

    async def exists(self, record_id: uuid.UUID) -> bool:
        stmt = select(self.model.id).where(self.scope(), self.model.id == record_id)
        return await self.session.scalar(stmt) is not None

    async def count(self) -> int:
        """How many rows of the model the principal may see."""
        visible = self.select().with_only_columns(self.model.id).subquery()
        return int(await self.session.scalar(select(func.count()).select_from(visible)) or 0)

    async def page(self, page: PageRequest, *filters: ColumnElement[bool]) -> tuple[list[M], str | None]:
        columns: dict[str, InstrumentedAttribute[Any]] = {
            name: getattr(self.model, attr) for name, attr in self.sortable.items()
        }
        stmt = paginate_statement(self.select().where(*filters), page, columns, self.model.id)
        rows = (await self.session.scalars(stmt)).all()
        return page_of(rows, page, self.sortable.get(page.sort_key))

    def add(self, record: M) -> M:
        self.session.add(record)
        return record


async def count_rows(session: AsyncSession, model: type[Any], *conditions: ColumnElement[bool]) -> int:
    """Rows of a table that is not tenant data (the outbox, webhook endpoints): for vendor admins only."""
    stmt = select(func.count()).select_from(model).where(*conditions)
    return int(await session.scalar(stmt) or 0)


class OutboxRepository(ScopedRepository[OutboxMessage]):
    """Outbox messages, dead letters among them: operations data of the vendor's own (the guards
    in the routes decide who may read it)."""

    model = OutboxMessage
    label = "Outbox message"

    async def listed(
        self,
        page: PageRequest,
        *,
        status: OutboxStatus | None = None,
        kind: OutboxKind | None = None,
        destination: str | None = None,
    ) -> tuple[list[OutboxMessage], str | None]:
        filters = [OutboxMessage.status == status] if status is not None else []
        if kind is not None:
            filters.append(OutboxMessage.kind == kind)
        if destination is not None:
            filters.append(OutboxMessage.destination == destination)
        return await self.page(page, *filters)
