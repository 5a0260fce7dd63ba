"""Receiving many shared records at once: consecutive `records` messages of a peer's batch are
applied together with a number of queries that does not grow with the number of records
(the shares by key in one query, the local records locked in one per object, new records
created and changed ones updated per object in one statement each).

The rules are those of `sharing.received_records`, item by item in message order: a record
the peer first shares arrives pending (or is accepted at once when its object is auto-accepted
and its parent is there); an update merges field by field by the stamps (`sharing.newer`),
the losing value of a newer local edit kept in history; a share that ended takes nothing more;
changes applied here are not sent back to this connection. Several items for one record in the
batch end where applying them one by one would. Anything the rules refuse raises, and the
caller applies the messages one at a time instead, so it can say which one was refused and why.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import flag_modified

from prm.connect.client import send
from prm.connect.models import ACTIVE_SHARES, Connection, Publication, Share, ShareStatus, Subscription
from prm.connect.objects import OBJECTS, create_struct, spec_for, update_struct
from prm.connect.repository import ConnectRepository
from prm.connect.service.health import NOT_APPLIED
from prm.connect.service.sharing import APPLYING, acting_for, newer, tell_owner_of_pending
from prm.core.activity import plain, record_activity
from prm.core.errors import Conflict
from prm.crm.models import Account
from prm.crm.normalize import normalize_company
from prm.crm.services.batch import create_many, update_many

Key = tuple[str, uuid.UUID]  # (object, origin id)
# What a received share may change: written for every share the batch touched, so their UPDATE
# is one executemany whatever each one changed.
SHARE_COLUMNS = (
    "stamps",
    "pending_values",
    "received_count",
    "received_seq",
    "last_sync_at",
    "status",
    "local_id",
    "last_error",
)


@dataclass
class _Batch:
    connection: Connection
    shares: dict[Key, Share]
    subscriptions: dict[str, Subscription]
    publications: dict[str, Publication]
    our_instance: str
    new: list[tuple[int, Share]] = field(default_factory=list)  # (message index, share)
    touched: dict[uuid.UUID, Share] = field(default_factory=dict)
    winners: dict[uuid.UUID, dict[str, Any]] = field(default_factory=lambda: defaultdict(dict))
    losers: list[tuple[Share, dict[str, Any]]] = field(default_factory=list)
    records: dict[uuid.UUID, Any] = field(default_factory=dict)  # local id -> locked record


async def receive_records(session: AsyncSession, connection: Connection, bodies: list[dict[str, Any]]) -> None:
    """Apply these `records` message bodies, in order, as one."""
    items = [(index, item) for index, body in enumerate(bodies) for item in body["items"]]
    batch = await _load(session, connection, [item for _, item in items])
    try:
        await _lock(session, batch, [item for _, item in items])
        for index, item in items:
            _receive_item(session, batch, index, item)
        await _activate_new(session, batch)
        await _apply_updates(session, batch)
        for share in [*batch.touched.values(), *(s for _, s in batch.new)]:
            for column in SHARE_COLUMNS:
                flag_modified(share, column)
        await session.flush()
    except BaseException:
        for _, share in batch.new:
            if share in session.new:
                session.expunge(share)
        for obj in [*batch.touched.values(), *batch.records.values()]:
            session.expire(obj)
        raise
    pending: dict[int, int] = defaultdict(int)
    for index, share in batch.new:
        pending[index] += share.status is ShareStatus.PENDING_RECEIVED
    for count in pending.values():
        if count:
            await tell_owner_of_pending(session, connection, count)


async def _load(session: AsyncSession, connection: Connection, items: list[dict[str, Any]]) -> _Batch:
    repo = ConnectRepository(session)
    origins = {uuid.UUID(str(i["origin_id"])) for i in items}
    origins |= {uuid.UUID(str(i["parent_origin_id"])) for i in items if i.get("parent_origin_id")}
    shares = {(s.object, s.origin_id): s for s in await repo.shares_by_origin(connection.id, origins)}
    return _Batch(
        connection=connection,
        shares=shares,
        subscriptions={s.object: s for s in await repo.subscriptions(connection.id)},
        publications={p.object: p for p in await repo.publications(connection.id)},
        our_instance=str(await repo.instance_id()),
    )


def _receive_item(session: AsyncSession, batch: _Batch, index: int, item: dict[str, Any]) -> None:
    object_name = spec_for(str(item["object"])).name
    origin_id = uuid.UUID(str(item["origin_id"]))
    from_origin = item["origin"] == "sender"
    share = batch.shares.get((object_name, origin_id))
    if share is None:
        if not from_origin:
            raise Conflict(f"No {object_name} {origin_id} is shared on this connection.")
        share = _new_received(session, batch, object_name, item)
        batch.shares[(object_name, origin_id)] = share
        batch.new.append((index, share))
        return
    if share.ours == from_origin:
        raise Conflict(f"{object_name} {origin_id} is shared the other way on this connection.")
    if share.status not in (*ACTIVE_SHARES, ShareStatus.PENDING_RECEIVED):
        return  # sharing stopped: no further updates
    share.received_count += 1
    share.received_seq = max(share.received_seq, int(item["seq"]))
    share.last_sync_at = session.info["clock"].now()
    if (share.last_error or "").startswith(NOT_APPLIED):
        share.last_error = None  # what failed here before applies now
    if share.id is not None:
        batch.touched[share.id] = share
    _merge(batch, share, item)


def _new_received(session: AsyncSession, batch: _Batch, object_name: str, item: dict[str, Any]) -> Share:
    subscription = batch.subscriptions.get(object_name)
    if subscription is None or not subscription.subscribed:
        raise Conflict(f"{object_name} is not subscribed on this connection.", field="object")
    parent_object, parent_origin = OBJECTS[object_name].parent, item.get("parent_origin_id")
    parent = None
    if parent_object is not None and parent_origin is not None:
        parent = batch.shares.get((parent_object, uuid.UUID(str(parent_origin))))
        if parent is None:
            raise Conflict(f"The {object_name}'s {parent_object} has not arrived yet.")
    now = session.info["clock"].now()
    share = Share(
        connection_id=batch.connection.id,
        object=object_name,
        origin_id=uuid.UUID(str(item["origin_id"])),
        ours=False,
        local_id=None,
        partner_record_id=uuid.UUID(str(item["origin_id"])),
        parent_origin_id=parent.origin_id if parent else None,
        status=ShareStatus.PENDING_RECEIVED,
        started_at=now,
        last_sync_at=now,
        stamps=dict(item["stamps"]),
        pending_values=dict(item["values"]),
        sent_seq=0,
        received_seq=int(item["seq"]),
        received_count=1,
        last_error=None,
    )
    session.add(share)
    return share


def _merge(batch: _Batch, share: Share, item: dict[str, Any]) -> None:
    winners: dict[str, Any] = {}
    losers: dict[str, Any] = {}
    stamps = dict(share.stamps)
    for wire, value in dict(item["values"]).items():
        theirs = list(item["stamps"][wire])
        mine = list(stamps.get(wire) or [0, ""])
        if newer(theirs, mine):
            winners[wire], stamps[wire] = value, theirs
        elif mine[1] == batch.our_instance:
            losers[wire] = value
    share.stamps = stamps
    if share.status is ShareStatus.PENDING_RECEIVED:
        share.pending_values = {**(share.pending_values or {}), **winners}
        return
    batch.winners[share.id].update(winners)
    if losers:
        batch.losers.append((share, losers))


def _wire_fields(batch: _Batch, share: Share) -> dict[str, str]:
    """{wire field: local field} for the fields that flow on this share."""
    if share.ours:
        publication = batch.publications.get(share.object)
        if publication is None or not publication.peer_subscribed:
            return {}
        return {f: f for f in publication.fields}
    subscription = batch.subscriptions.get(share.object)
    if subscription is None or not subscription.subscribed:
        return {}
    return {str(theirs): str(ours) for theirs, ours in subscription.field_map.items()}


async def _lock(session: AsyncSession, batch: _Batch, items: list[dict[str, Any]]) -> None:
    """The local records of the shares the items change, then those shares: the order a local
    edit takes them (its UPDATE, then the change hook's share update), so an incoming batch and a
    local edit queue instead of deadlocking, and two batches touching one record apply one after
    the other, each on the other's committed rows (PostgreSQL; SQLite has one writer anyway).
    One query per object, one for the shares."""
    keys = {(spec_for(str(i["object"])).name, uuid.UUID(str(i["origin_id"]))) for i in items}
    existing = [batch.shares[k] for k in keys if k in batch.shares]
    by_object: dict[str, set[uuid.UUID]] = defaultdict(set)
    for share in existing:
        if share.local_id is not None:
            by_object[share.object].add(share.local_id)
    for object_name in sorted(by_object):  # one order for every batch: no deadlock between two
        model = OBJECTS[object_name].model
        stmt = select(model).where(model.id.in_(by_object[object_name])).order_by(model.id).with_for_update()
        stmt = stmt.execution_options(populate_existing=True)
        batch.records.update({r.id: r for r in await session.scalars(stmt)})
    if existing:
        await ConnectRepository(session).lock_shares([s.id for s in existing])


async def _apply_updates(session: AsyncSession, batch: _Batch) -> None:
    records = batch.records
    by_object: dict[str, list[tuple[Any, Any]]] = defaultdict(list)
    wires: dict[uuid.UUID, dict[str, str]] = {}
    for share_id, winners in batch.winners.items():
        share = batch.touched[share_id]
        record = records.get(share.local_id) if share.local_id else None
        if record is None:
            continue
        wires[share_id] = wire = _wire_fields(batch, share)
        values = {wire[w]: v for w, v in winners.items() if w in wire}
        if values:
            body = update_struct(share.object, {"expected_version": record.version, **values})
            by_object[share.object].append((record, body))
    session.info[APPLYING] = batch.connection.id
    try:
        for object_name, updates in by_object.items():
            await update_many(session, principal=acting_for(batch.connection), entity=object_name, items=updates)
    finally:
        session.info.pop(APPLYING, None)
    for share, losers in batch.losers:
        record, wire = records.get(share.local_id) if share.local_id else None, wires.get(share.id, {})
        if record is None:
            continue
        kept = {w: plain(getattr(record, wire[w])) for w in losers if w in wire}
        record_activity(
            session,
            entity_type=share.object,
            entity_id=record.id,
            action="connect_conflict",
            actor=None,
            changes={w: [losers[w], kept[w]] for w in kept},
            note=f"A concurrent change from {batch.connection.peer_url} lost to a later local change; "
            "its value is kept.",
        )


def _ready(batch: _Batch, share: Share) -> bool:
    if share.parent_origin_id is None:
        return True
    parent = batch.shares.get((OBJECTS[share.object].parent or "", share.parent_origin_id))
    return parent is None or parent.status in (ShareStatus.ACTIVE_RECEIVED, ShareStatus.ACTIVE_SENT)


async def _activate_new(session: AsyncSession, batch: _Batch) -> None:
    """New shares of auto-accepted objects become local records, parents first; then the
    children that waited for a parent accepted now (one query per level)."""
    auto = {name for name, s in batch.subscriptions.items() if s.subscribed and s.auto_accept}
    new = [share for _, share in batch.new]
    parents = [s for s in new if s.object in auto and s.parent_origin_id is None]
    await activate(session, batch, parents)
    children = [s for s in new if s.object in auto and s.parent_origin_id is not None and _ready(batch, s)]
    arrived = set(new)  # a child that came with this batch waits only if its own rules say so
    waiting = [
        child
        for child in await ConnectRepository(session).pending_children(
            batch.connection.id, [s.origin_id for s in parents if s.status is ShareStatus.ACTIVE_RECEIVED]
        )
        if child not in arrived
    ]
    for child in waiting:
        batch.shares.setdefault((child.object, child.origin_id), child)
        batch.touched[child.id] = child
    await activate(session, batch, children + [c for c in waiting if c not in children])


async def activate(session: AsyncSession, batch: _Batch, shares: list[Share]) -> None:
    """Pending received shares of one level become local records (or link to a matching account)."""
    if not shares:
        return
    values = {id(s): _local_values(batch, s) for s in shares}
    linked = await _matching_accounts(session, [values[id(s)] for s in shares if s.object == "account"])
    to_create: dict[str, list[Share]] = defaultdict(list)
    same_name: dict[str, Share] = {}  # a second new account of one name links to the first's record
    followers: list[tuple[Share, Share]] = []
    for share in shares:
        name = _account_key(values[id(share)]) if share.object == "account" else None
        if name is not None and name in linked:
            _accepted(session, batch, share, linked[name].id)
        elif name is not None and name in same_name:
            followers.append((share, same_name[name]))
        else:
            if name is not None:
                same_name[name] = share
            to_create[share.object].append(share)
    session.info[APPLYING] = batch.connection.id
    try:
        for object_name, group in to_create.items():
            bodies = [create_struct(object_name, values[id(s)], _parent_local(batch, s)) for s in group]
            made = await create_many(session, principal=acting_for(batch.connection), entity=object_name, bodies=bodies)
            for share, record in zip(group, made, strict=True):
                _accepted(session, batch, share, record.id)
    finally:
        session.info.pop(APPLYING, None)
    for share, first in followers:
        assert first.local_id is not None
        _accepted(session, batch, share, first.local_id)


def _local_values(batch: _Batch, share: Share) -> dict[str, Any]:
    subscription = batch.subscriptions.get(share.object)
    field_map = dict(subscription.field_map) if subscription else {}
    return {str(field_map[w]): v for w, v in (share.pending_values or {}).items() if w in field_map}


def _account_key(values: dict[str, Any]) -> str | None:
    name = values.get("name")
    return normalize_company(name) if isinstance(name, str) else None


async def _matching_accounts(session: AsyncSession, values: list[dict[str, Any]]) -> dict[str, Account]:
    """The vendor's oldest account per normalised name, for names among these (one query)."""
    names = {key for v in values if (key := _account_key(v)) is not None}
    if not names:
        return {}
    stmt = select(Account).where(Account.normalized_name.in_(names), Account.partner_id.is_(None))
    found: dict[str, Account] = {}
    for account in await session.scalars(stmt.order_by(Account.created_at, Account.id)):
        found.setdefault(account.normalized_name, account)
    return found


def _parent_local(batch: _Batch, share: Share) -> uuid.UUID | None:
    if share.parent_origin_id is None:
        return None
    parent = batch.shares.get((OBJECTS[share.object].parent or "", share.parent_origin_id))
    return parent.local_id if parent else None


def _accepted(session: AsyncSession, batch: _Batch, share: Share, local_id: uuid.UUID) -> None:
    share.local_id, share.status, share.pending_values = local_id, ShareStatus.ACTIVE_RECEIVED, None
    share.last_sync_at = session.info["clock"].now()
    send(
        session,
        batch.connection,
        "accepted",
        {"object": share.object, "origin_id": str(share.origin_id), "partner_record_id": str(local_id)},
    )
