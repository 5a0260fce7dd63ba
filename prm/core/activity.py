"""The activity history: who changed what, when (UTC), on any record."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import msgspec
from sqlalchemy import Index, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from prm.core.auth import Principal
from prm.core.db import Base, IdMixin, defer_insert, insert_rows, new_id
from prm.core.pagination import PageRequest, page_of, paginate_statement


class ActivityEntry(IdMixin, Base):
    __tablename__ = "activity"
    __table_args__ = (Index("ix_activity_entity", "entity_type", "entity_id", "at"),)

    entity_type: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[uuid.UUID]
    action: Mapped[str] = mapped_column(String(40))
    actor_id: Mapped[uuid.UUID | None]
    at: Mapped[datetime]
    changes: Mapped[dict[str, Any]]
    note: Mapped[str | None] = mapped_column(String(2000))


class ActivityRead(msgspec.Struct):
    id: uuid.UUID
    entity_type: str
    entity_id: uuid.UUID
    action: str
    actor_id: uuid.UUID | None
    at: datetime
    changes: dict[str, Any]
    note: str | None = None


def plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (uuid.UUID, datetime, date, Decimal)):
        return str(value) if not isinstance(value, (datetime, date)) else value.isoformat()
    return value


def snapshot(obj: Any, fields: Iterable[str]) -> dict[str, Any]:
    return {name: plain(getattr(obj, name)) for name in fields}


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """{field: [old, new]} for the fields that changed."""
    return {k: [before.get(k), v] for k, v in after.items() if before.get(k) != v}


def _entry_row(
    entry_id: uuid.UUID,
    entity_type: str,
    entity_id: uuid.UUID,
    action: str,
    actor: Principal | None,
    changes: Mapping[str, Any] | None,
    note: str | None,
    at: datetime,
) -> dict[str, Any]:
    return {
        "id": entry_id,
        "entity_type": entity_type,
        "entity_id": entity_id,
        "action": action,
        "actor_id": actor.user_id if actor else None,
        "at": at,
        "changes": {k: _plain_pair(v) for k, v in (changes or {}).items()},
        "note": note,
    }


def record_activity(
    session: AsyncSession,
    *,
    entity_type: str,
    entity_id: uuid.UUID,
    action: str,
    actor: Principal | None,
    changes: Mapping[str, Any] | None = None,
    note: str | None = None,
) -> uuid.UUID:
    """Queue one history row (written with the unit of work's others at commit); its id."""
    entry_id = new_id()
    row = _entry_row(entry_id, entity_type, entity_id, action, actor, changes, note, session.info["clock"].now())
    defer_insert(session, ActivityEntry, row)
    return entry_id


async def record_activities(session: AsyncSession, entries: list[dict[str, Any]]) -> None:
    """Many history rows with one INSERT now; each dict has the record_activity keyword arguments."""
    now = session.info["clock"].now()
    rows = [
        _entry_row(
            new_id(),
            e["entity_type"],
            e["entity_id"],
            e["action"],
            e.get("actor"),
            e.get("changes"),
            e.get("note"),
            now,
        )
        for e in entries
    ]
    await insert_rows(session, ActivityEntry, rows)


def _plain_pair(value: Any) -> Any:
    if isinstance(value, list):
        return [plain(v) for v in value]
    return plain(value)


async def history_page(
    session: AsyncSession, *, entity_type: str, entity_id: uuid.UUID, page: PageRequest
) -> tuple[list[ActivityRead], str | None]:
    stmt = select(ActivityEntry).where(ActivityEntry.entity_type == entity_type, ActivityEntry.entity_id == entity_id)
    # "created_at" (the lists' default sort) is accepted as a name for "at".
    sortable = {"at": ActivityEntry.at, "created_at": ActivityEntry.at}
    stmt = paginate_statement(stmt, page, sortable, ActivityEntry.id)
    rows = (await session.scalars(stmt)).all()
    items, cursor = page_of(rows, page, sort_attr="at")
    return [msgspec.convert(r, ActivityRead, from_attributes=True) for r in items], cursor
