"""What every create and update of a record does besides the row itself: history and events."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import msgspec
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.activity import record_activity, snapshot
from prm.core.auth import Principal
from prm.core.changes import apply_changes, expect_version
from prm.core.db import save_modified
from prm.core.errors import Conflict
from prm.core.webhooks import publish_event, publish_events

# Domains that follow changes of other domains' records (connect sends them to peer instances)
# register here; each runs inside the change's transaction, so what it queues commits with it.
UpdateListener = Callable[[AsyncSession, str, Any, dict[str, list[Any]]], Awaitable[None]]
UPDATE_LISTENERS: list[UpdateListener] = []


def listen_to_updates(listener: UpdateListener) -> None:
    if listener not in UPDATE_LISTENERS:
        UPDATE_LISTENERS.append(listener)


# The same for changes made many at once (a peer's batch): one call per entity and batch, so a
# listener can look up what it needs for all of them with one query.
BulkUpdateListener = Callable[[AsyncSession, str, list[tuple[Any, dict[str, list[Any]]]]], Awaitable[None]]
BULK_UPDATE_LISTENERS: list[BulkUpdateListener] = []


def listen_to_bulk_updates(listener: BulkUpdateListener) -> None:
    if listener not in BULK_UPDATE_LISTENERS:
        BULK_UPDATE_LISTENERS.append(listener)


# Domains that follow the end of other domains' records: `how` is "deleted" or "converted" (a
# lead). Connect sends a tombstone, or tells the origin its copy ended.
EndListener = Callable[[AsyncSession, str, Any, str], Awaitable[None]]
END_LISTENERS: list[EndListener] = []


def listen_to_ends(listener: EndListener) -> None:
    if listener not in END_LISTENERS:
        END_LISTENERS.append(listener)


# Domains that follow another domain's state machine (connect tells the partner instance that
# registered a deal each decision on it). Called after each recorded step, in its transaction.
StateListener = Callable[[AsyncSession, str, Any], Awaitable[None]]
STATE_LISTENERS: list[StateListener] = []


def listen_to_states(listener: StateListener) -> None:
    if listener not in STATE_LISTENERS:
        STATE_LISTENERS.append(listener)


# The same for many records a timer moved at once with one UPDATE (by id: the timer holds rows,
# not loaded records); one call per timer batch, so a listener looks up what it needs at once.
BulkStateListener = Callable[[AsyncSession, str, list[Any]], Awaitable[None]]
BULK_STATE_LISTENERS: list[BulkStateListener] = []


def listen_to_bulk_states(listener: BulkStateListener) -> None:
    if listener not in BULK_STATE_LISTENERS:
        BULK_STATE_LISTENERS.append(listener)


async def states_changed(session: AsyncSession, record_ids: list[Any], *, entity: str) -> None:
    if record_ids:
        for listener in BULK_STATE_LISTENERS:
            await listener(session, entity, record_ids)


async def state_changed(session: AsyncSession, record: Any, *, entity: str) -> None:
    for listener in STATE_LISTENERS:
        await listener(session, entity, record)


async def record_ended(session: AsyncSession, record: Any, *, entity: str, how: str) -> None:
    for listener in END_LISTENERS:
        await listener(session, entity, record, how)


async def record_deleted(session: AsyncSession, record: Any, *, entity: str, principal: Principal | None) -> None:
    """Delete the row (a 409 naming why when other records still point at it), then write its
    'deleted' history entry, queue the webhook event and tell the listeners."""
    try:
        async with session.begin_nested():
            await session.delete(record)
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(f"The {entity} cannot be deleted: other records still refer to it.", field="id") from exc
    record_activity(session, entity_type=entity, entity_id=record.id, action="deleted", actor=principal)
    await publish_event(session, f"{entity}.deleted", {"id": str(record.id)})
    await record_ended(session, record, entity=entity, how="deleted")


async def record_created(
    session: AsyncSession, record: Any, *, entity: str, principal: Principal | None, fields: Iterable[str]
) -> None:
    """Flush the new row, write its 'created' history entry and queue the webhook event."""
    await session.flush()
    values = snapshot(record, fields)
    record_activity(
        session,
        entity_type=entity,
        entity_id=record.id,
        action="created",
        actor=principal,
        changes={k: [None, v] for k, v in values.items()},
    )
    await publish_event(session, f"{entity}.created", {"id": str(record.id), **values})


async def record_updated(
    session: AsyncSession, record: Any, data: msgspec.Struct, *, entity: str, principal: Principal
) -> dict[str, list[Any]]:
    """Check the expected version, apply the sent fields, record what changed (if anything)."""
    expect_version(record, data.expected_version)  # type: ignore[attr-defined]
    changes = apply_changes(record, data)
    if changes:
        await session.flush()
        record_activity(
            session, entity_type=entity, entity_id=record.id, action="updated", actor=principal, changes=changes
        )
        await publish_event(session, f"{entity}.updated", {"id": str(record.id), "changes": changes})
        for listener in UPDATE_LISTENERS:
            await listener(session, entity, record, changes)
    return changes


async def records_created(
    session: AsyncSession, records: list[Any], *, entity: str, principal: Principal | None, fields: Iterable[str]
) -> None:
    """`record_created` for many new rows of one entity: one flush (a multi-row INSERT), their
    history rows with the unit of work's others, and their webhook events with one INSERT."""
    if not records:
        return
    session.add_all(records)
    await session.flush()
    events = []
    for record in records:
        values = snapshot(record, fields)
        record_activity(
            session,
            entity_type=entity,
            entity_id=record.id,
            action="created",
            actor=principal,
            changes={k: [None, v] for k, v in values.items()},
        )
        events.append({"id": str(record.id), **values})
    await publish_events(session, f"{entity}.created", events)


async def records_updated(
    session: AsyncSession, changed: list[tuple[Any, dict[str, list[Any]]]], *, entity: str, principal: Principal
) -> None:
    """`record_updated`'s writes for many records whose new values are set (and checked) already:
    one executemany UPDATE per set of changed columns, history, events, then the listeners."""
    changed = [(record, changes) for record, changes in changed if changes]
    if not changed:
        return
    await save_modified(session, [record for record, _ in changed])
    for record, changes in changed:
        record_activity(
            session, entity_type=entity, entity_id=record.id, action="updated", actor=principal, changes=changes
        )
    events = [{"id": str(record.id), "changes": changes} for record, changes in changed]
    await publish_events(session, f"{entity}.updated", events)
    for listener in BULK_UPDATE_LISTENERS:
        await listener(session, entity, changed)
