"""Sharing records with connections and keeping the copies in sync both ways.

Wire names: a shared record's fields travel under the names its origin publishes; the
receiving side maps them to its own fields with its subscription's field map.

Conflict rule (per field, deterministic, the same on both sides): each side keeps, per shared
record and field, the stamp of the last write it knows of, `(microseconds since the epoch at
the writing instance, writing instance id, the writer's per-record sequence number)`. An
incoming value is applied only when its stamp is greater (later time wins; equal times are
broken by the larger instance id), so both sides end on the same value whatever order the
messages arrive in. Two writes by the same instance are ordered by its sequence number alone,
so an out-of-order update never overwrites a newer one even if that instance's clock stepped
back. A local write's time is also never below the field's current stamp (a hybrid logical
clock): an edit made after seeing the peer's value always beats it, whatever the two clocks say.
A newer local edit that beats an incoming value keeps its value, and the losing value is
written to the record's history (action `connect_conflict`), never silently dropped. A late,
older update from the same origin as the current value is simply superseded. Changes applied
from a connection are never sent back to it (no echo).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from prm.connect.client import send
from prm.connect.models import ACTIVE_SHARES, REGISTRATION, SYNCING, Connection, Publication, Share, ShareStatus
from prm.connect.objects import OBJECTS, create_local, get_visible, spec_for, values_of, visible_many
from prm.connect.repository import ConnectRepository
from prm.connect.schemas import RecordRef, ShareRequest
from prm.connect.service.publishing import accepted_connection
from prm.core.activity import plain
from prm.core.auth import Principal, Role
from prm.core.errors import Conflict, NotFound, RuleViolation
from prm.core.outbox import enqueue_email
from prm.crm.models import Account, User
from prm.crm.normalize import normalize_company

APPLYING = "connect_applying_connection"  # session.info: the connection whose change is being applied


def _stamp(session: AsyncSession, instance_id: uuid.UUID, seq: int, after: list[Any] | None = None) -> list[Any]:
    """A local write's stamp: now, but never at or before the field's current stamp `after`."""
    micros = int(session.info["clock"].now().timestamp() * 1_000_000)
    if after:
        micros = max(micros, int(after[0]) + 1)
    return [micros, str(instance_id), seq]


def newer(theirs: list[Any], mine: list[Any]) -> bool:
    """Whether an incoming field stamp beats the one this side holds (see the module's rule)."""
    same_writer = len(theirs) > 2 and len(mine) > 2 and str(theirs[1]) == str(mine[1])
    if same_writer:
        return int(theirs[2]) > int(mine[2])
    return (int(theirs[0]), str(theirs[1])) > (int(mine[0]), str(mine[1]))


def acting_for(connection: Connection) -> Principal:
    """Who writes a received change: the connection's owner, acting as the vendor."""
    if connection.owner_id is None:
        raise Conflict("The connection has no owner yet.", field="owner_id")
    return Principal(user_id=connection.owner_id, role=Role.VENDOR_ADMIN, partner_id=None)


async def share_records(session: AsyncSession, *, principal: Principal, data: ShareRequest) -> list[Share]:
    """Forward records to connections: a query per connection and per object, not per record."""
    connections = [await _named_connection(session, cid, i) for i, cid in enumerate(dict.fromkeys(data.connection_ids))]
    records = await _named_records(session, principal, data.records)
    repo = ConnectRepository(session)
    instance_id = await repo.instance_id()
    known = await _known_shares(repo, data.records, records)
    started: list[Share] = []
    for connection in connections:
        publications = {p.object: p for p in await repo.publications(connection.id)}
        items: list[dict[str, Any]] = []
        shared_now: dict[uuid.UUID, uuid.UUID] = {}  # local id -> origin id, for parents in this request
        for index, (ref, record) in enumerate(zip(data.records, records, strict=True)):
            share = _share_one(session, connection, publications, known, ref, record, index, shared_now)
            if share is None:
                continue
            shared_now[record.id] = share.origin_id
            started.append(share)
            items.append(_item(share, values_of(record, list(share.stamps)), origin="sender"))
            share.stamps = {f: _stamp(session, instance_id, share.sent_seq) for f in share.stamps}
            items[-1]["stamps"] = share.stamps
        if items:
            send(session, connection, "records", {"items": items})
    await session.flush()
    return started


async def _named_connection(session: AsyncSession, connection_id: uuid.UUID, index: int) -> Connection:
    """A connection named in the body: missing or not accepted is a 422 naming it."""
    try:
        return await accepted_connection(session, connection_id)
    except (NotFound, RuleViolation) as exc:
        raise RuleViolation(exc.detail, field=f"connection_ids[{index}]") from exc


async def _named_records(session: AsyncSession, principal: Principal, refs: list[RecordRef]) -> list[Any]:
    """The records named in the body, one query per object: hidden and missing look the same
    (422 naming the first such)."""
    found: dict[tuple[str, uuid.UUID], Any] = {}
    labels: dict[str, str] = {}
    for object_name in dict.fromkeys(ref.object for ref in refs):
        spec = spec_for(object_name)
        ids = {ref.id for ref in refs if ref.object == object_name}
        visible, labels[spec.name] = await visible_many(session, principal, spec.name, ids)
        found.update({(spec.name, record_id): record for record_id, record in visible.items()})
    for index, ref in enumerate(refs):
        if (ref.object, ref.id) not in found:
            raise RuleViolation(f"{labels[ref.object]} {ref.id} not found.", field=f"records[{index}].id")
    return [found[(ref.object, ref.id)] for ref in refs]


async def _known_shares(
    repo: ConnectRepository, refs: list[RecordRef], records: list[Any]
) -> dict[tuple[str, uuid.UUID], list[Share]]:
    """Every share of the records and of their parents, by (object, local id), in one query."""
    ids = {record.id for record in records}
    ids |= {record.account_id for ref, record in zip(refs, records, strict=True) if OBJECTS[ref.object].parent}
    known: dict[tuple[str, uuid.UUID], list[Share]] = defaultdict(list)
    for share in await repo.shares_of_records(ids):
        if share.local_id is not None:
            known[(share.object, share.local_id)].append(share)
    return known


def _share_one(
    session: AsyncSession,
    connection: Connection,
    publications: dict[str, Publication],
    known: dict[tuple[str, uuid.UUID], list[Share]],
    ref: RecordRef,
    record: Any,
    index: int,
    shared_now: dict[uuid.UUID, uuid.UUID],
) -> Share | None:
    where = f"records[{index}]"
    publication = publications.get(ref.object)
    if publication is None or not publication.peer_subscribed:
        raise RuleViolation(
            f"The peer has not subscribed to {ref.object} on this connection; publish it and have them subscribe.",
            field=f"{where}.object",
        )
    if ref.object == "lead" and not (record.company or "").strip():
        raise RuleViolation("A lead without a company cannot be shared.", field=where)
    existing = [s for s in known[(ref.object, record.id)] if s.connection_id == connection.id]
    if any(not s.ours for s in existing):
        raise RuleViolation("This record came from this connection; it is never sent back to its origin.", field=where)
    if any(s.status in ACTIVE_SHARES for s in existing):
        return None  # already shared: only new recipients are sent anything
    parent_origin = _parent_origin(known, connection, ref.object, record, shared_now, where)
    now = session.info["clock"].now()
    share = (
        existing[0]
        if existing
        else Share(connection_id=connection.id, object=ref.object, origin_id=record.id, ours=True)
    )
    share.local_id, share.parent_origin_id, share.status = record.id, parent_origin, ShareStatus.PENDING_SENT
    share.started_at, share.ended_at, share.last_error = now, None, None
    share.stamps = {f: [0, ""] for f in publication.fields}
    share.sent_seq, share.received_seq, share.received_count = 1, 0, 0
    if not existing:
        session.add(share)
        known[(ref.object, record.id)].append(share)
    return share


def _parent_origin(
    known: dict[tuple[str, uuid.UUID], list[Share]],
    connection: Connection,
    object_name: str,
    record: Any,
    shared_now: dict[uuid.UUID, uuid.UUID],
    where: str,
) -> uuid.UUID | None:
    parent_object = OBJECTS[object_name].parent
    if parent_object is None:
        return None
    parent_id: uuid.UUID = record.account_id
    if parent_id in shared_now:
        return shared_now[parent_id]
    for share in known[(parent_object, parent_id)]:
        if share.connection_id == connection.id and share.status in (*ACTIVE_SHARES, ShareStatus.PENDING_RECEIVED):
            return share.origin_id
    raise RuleViolation(
        f"Share the {object_name}'s {parent_object} ({parent_id}) first: a child is never shared before its parent.",
        field=where,
    )


def _item(share: Share, values: dict[str, Any], *, origin: str) -> dict[str, Any]:
    return {
        "object": share.object,
        "origin_id": str(share.origin_id),
        "origin": origin,
        "parent_origin_id": str(share.parent_origin_id) if share.parent_origin_id else None,
        "values": values,
        "stamps": dict(share.stamps),
        "seq": share.sent_seq,
    }


async def _wire_fields(repo: ConnectRepository, share: Share) -> dict[str, str]:
    """{local field: wire field} for the fields that flow on this share."""
    if share.ours:
        publication = await repo.publication(share.connection_id, share.object)
        if publication is None or not publication.peer_subscribed:
            return {}
        return {f: f for f in publication.fields}
    subscription = await repo.subscription(share.connection_id, share.object)
    if subscription is None or not subscription.subscribed:
        return {}
    return {str(ours): str(theirs) for theirs, ours in subscription.field_map.items()}


async def on_record_updated(session: AsyncSession, entity: str, record: Any, changes: dict[str, list[Any]]) -> None:
    """The CRM services' change point: queue the change to every connection sharing the record,
    in the same transaction, except the one the change came from."""
    if entity not in OBJECTS:
        return
    repo = ConnectRepository(session)
    shares = [s for s in await repo.shares_of_record(entity, record.id) if s.status in ACTIVE_SHARES]
    for share in shares:
        if share.connection_id == session.info.get(APPLYING):
            continue
        connection = await repo.find_connection(share.connection_id)
        if connection is None or connection.status not in SYNCING:
            continue
        wire = await _wire_fields(repo, share)
        changed = {wire[f]: plain(getattr(record, f)) for f in changes if f in wire}
        if not changed:
            continue
        share.sent_seq += 1
        instance_id = await repo.instance_id()
        stamps = {f: _stamp(session, instance_id, share.sent_seq, share.stamps.get(f)) for f in changed}
        share.stamps = {**share.stamps, **stamps}
        item = _item(share, changed, origin="sender" if share.ours else "receiver")
        send(session, connection, "records", {"items": [item]})


async def on_records_updated(
    session: AsyncSession, entity: str, changed: list[tuple[Any, dict[str, list[Any]]]]
) -> None:
    """`on_record_updated` for many records changed at once (a peer's batch): one query finds
    the few shared on another connection than the one the change came from."""
    if entity not in OBJECTS:
        return
    shares = await ConnectRepository(session).shares_of_records({record.id for record, _ in changed})
    applying = session.info.get(APPLYING)
    elsewhere = {
        s.local_id for s in shares if s.object == entity and s.status in ACTIVE_SHARES and s.connection_id != applying
    }
    for record, changes in changed:
        if record.id in elsewhere:
            await on_record_updated(session, entity, record, changes)


# Inbound (many records at once: receiving.py)


async def _activate(session: AsyncSession, connection: Connection, share: Share) -> None:
    """A pending received record becomes a local one (or is linked to a matching account)."""
    repo = ConnectRepository(session)
    subscription = await repo.subscription(connection.id, share.object)
    field_map = dict(subscription.field_map) if subscription else {}
    values = {str(field_map[w]): v for w, v in (share.pending_values or {}).items() if w in field_map}
    parent_local = None
    if share.parent_origin_id is not None:
        parent = await repo.share(connection.id, OBJECTS[share.object].parent or "", share.parent_origin_id)
        parent_local = parent.local_id if parent else None
    record = await _matching_account(session, values) if share.object == "account" else None
    if record is None:
        session.info[APPLYING] = connection.id
        try:
            record = await create_local(session, acting_for(connection), share.object, values, parent_local)
        finally:
            session.info.pop(APPLYING, None)
    share.local_id, share.status, share.pending_values = record.id, ShareStatus.ACTIVE_RECEIVED, None
    share.last_sync_at = session.info["clock"].now()
    send(
        session,
        connection,
        "accepted",
        {"object": share.object, "origin_id": str(share.origin_id), "partner_record_id": str(record.id)},
    )
    for child in await repo.children_of(connection.id, share.origin_id):
        if child.status is ShareStatus.PENDING_RECEIVED:
            await _activate(session, connection, child)


async def _matching_account(session: AsyncSession, values: dict[str, Any]) -> Account | None:
    name = values.get("name")
    if not isinstance(name, str):
        return None
    stmt = select(Account).where(Account.normalized_name == normalize_company(name), Account.partner_id.is_(None))
    found: Account | None = await session.scalar(stmt.order_by(Account.created_at).limit(1))
    return found


async def accept_share(session: AsyncSession, *, share_id: uuid.UUID) -> Share:
    repo = ConnectRepository(session)
    share = await repo.share_by_id(share_id)
    if share.status is not ShareStatus.PENDING_RECEIVED:
        raise Conflict(f"The record is {share.status.value}; only a pending one can be accepted.", field="status")
    connection = await accepted_connection(session, share.connection_id)
    if share.parent_origin_id is not None:
        parent = await repo.share(connection.id, OBJECTS[share.object].parent or "", share.parent_origin_id)
        if parent is not None and parent.status is ShareStatus.PENDING_RECEIVED:
            await _activate(session, connection, parent)  # the parent first; this child follows it
            return share
    await _activate(session, connection, share)
    return share


async def stop_share(session: AsyncSession, *, share_id: uuid.UUID) -> Share:
    share = await ConnectRepository(session).share_by_id(share_id)
    if share.status not in (*ACTIVE_SHARES, ShareStatus.PENDING_RECEIVED):
        raise Conflict(f"Sharing already ended ({share.status.value}).", field="status")
    connection = await ConnectRepository(session).connection(share.connection_id)
    share.status, share.ended_at = ShareStatus.INACTIVE, session.info["clock"].now()
    send(session, connection, "stop", {"object": share.object, "origin_id": str(share.origin_id)})
    return share


async def peer_accepted_records(session: AsyncSession, connection: Connection, bodies: list[dict[str, Any]]) -> None:
    """The peer accepted records we sent (one query for all): active, with its record's id."""
    origins = {uuid.UUID(str(body["origin_id"])) for body in bodies}
    shares = {
        (s.object, s.origin_id): s for s in await ConnectRepository(session).shares_by_origin(connection.id, origins)
    }
    now = session.info["clock"].now()
    for body in bodies:
        share = shares.get((str(body["object"]), uuid.UUID(str(body["origin_id"]))))
        if share is None or not share.ours or share.status is not ShareStatus.PENDING_SENT:
            continue
        share.status, share.partner_record_id = ShareStatus.ACTIVE_SENT, uuid.UUID(str(body["partner_record_id"]))
        share.last_sync_at = now
    await session.flush()


async def peer_stopped(session: AsyncSession, connection: Connection, body: dict[str, Any]) -> None:
    share = await ConnectRepository(session).share(
        connection.id, str(body["object"]), uuid.UUID(str(body["origin_id"]))
    )
    if share is not None and share.ended_at is None:
        share.status, share.ended_at = ShareStatus.INACTIVE, session.info["clock"].now()


async def tell_owner_of_pending(session: AsyncSession, connection: Connection, count: int) -> None:
    owner = await session.get(User, connection.owner_id) if connection.owner_id else None
    if owner is not None:
        enqueue_email(
            session,
            to=owner.email,
            subject=f"{count} shared record(s) from {connection.peer_url} await you",
            text=f"{connection.peer_url} shared {count} record(s) with you; accept them under Connect.",
            topic="connect.records_pending",
        )


async def sharing_of(
    session: AsyncSession, *, principal: Principal, object_name: str, record_id: uuid.UUID
) -> list[Share]:
    """The record's external sharing, for whoever may see the record."""
    spec = spec_for(object_name)
    await get_visible(session, principal, spec.name, record_id)
    repo = ConnectRepository(session)
    shares = await repo.shares_of_record(spec.name, record_id)
    if spec.name == "opportunity":  # registered as a deal from this instance, too
        shares += await repo.shares_of_record(REGISTRATION, record_id)
    return shares
