"""Publish, subscribe and map.

Each side publishes, per connection, objects and their fields; the other side subscribes to a
published object and maps each published field to one of its own (by name unless told
otherwise), and the types must agree when the map is saved. Unpublishing an object removes
the peer's subscription and tells it.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from prm.connect.client import send
from prm.connect.models import Connection, ConnectionStatus, Publication, Subscription
from prm.connect.objects import spec_for
from prm.connect.repository import ConnectRepository
from prm.connect.schemas import PublicationSet, SubscriptionSet
from prm.core.errors import NotFound, RuleViolation


async def accepted_connection(session: AsyncSession, connection_id: uuid.UUID) -> Connection:
    connection = await ConnectRepository(session).connection(connection_id)
    if connection.status is not ConnectionStatus.ACCEPTED:
        raise RuleViolation(
            f"The connection is {connection.status.value}; it must be accepted first.", field="connection_id"
        )
    return connection


async def publish(session: AsyncSession, *, connection_id: uuid.UUID, data: PublicationSet) -> Publication:
    connection = await accepted_connection(session, connection_id)
    spec = spec_for(data.object)
    fields = list(data.fields) if data.fields is not None else list(spec.defaults)
    unknown = [f for f in fields if f not in spec.fields]
    if unknown:
        raise RuleViolation(f"A {spec.name} has no shareable field {unknown[0]!r}.", field="fields")
    repo = ConnectRepository(session)
    publication = await repo.publication(connection.id, spec.name)
    if publication is None:
        publication = Publication(connection_id=connection.id, object=spec.name, fields=fields, peer_subscribed=False)
        session.add(publication)
    publication.fields = list(dict.fromkeys(fields))
    await session.flush()
    types = {f: spec.fields[f] for f in publication.fields}
    send(session, connection, "publish", {"object": spec.name, "fields": types})
    return publication


async def unpublish(session: AsyncSession, *, connection_id: uuid.UUID, object_name: str) -> None:
    connection = await accepted_connection(session, connection_id)
    publication = await ConnectRepository(session).publication(connection.id, object_name)
    if publication is None:
        raise NotFound(f"{object_name} is not published on this connection.")
    await session.delete(publication)
    send(session, connection, "unpublish", {"object": object_name})


def _auto_map(published: dict[str, Any], local_fields: dict[str, str]) -> dict[str, str]:
    return {name: name for name in published if name in local_fields}


def check_map(field_map: dict[str, str], published: dict[str, Any], local_fields: dict[str, str]) -> None:
    """Every mapped field is published, exists here, and has the same type on both sides."""
    for theirs, ours in field_map.items():
        if theirs not in published:
            raise RuleViolation(f"The peer does not publish {theirs!r}.", field=f"field_map.{theirs}")
        if ours not in local_fields:
            raise RuleViolation(f"There is no local field {ours!r} to map {theirs!r} to.", field=f"field_map.{theirs}")
        if published[theirs] != local_fields[ours]:
            raise RuleViolation(
                f"{theirs!r} is {published[theirs]} but {ours!r} is {local_fields[ours]}; the types must match.",
                field=f"field_map.{theirs}",
            )
    if len(set(field_map.values())) != len(field_map):
        raise RuleViolation("Two published fields are mapped to the same local field.", field="field_map")


async def subscribe(
    session: AsyncSession, *, connection_id: uuid.UUID, object_name: str, data: SubscriptionSet
) -> Subscription:
    connection = await accepted_connection(session, connection_id)
    spec = spec_for(object_name)
    subscription = await ConnectRepository(session).subscription(connection.id, spec.name)
    if subscription is None or not subscription.published_fields:
        raise RuleViolation(f"The peer does not publish {spec.name} on this connection.", field="object")
    published = dict(subscription.published_fields)
    field_map = dict(data.field_map) if data.field_map is not None else _auto_map(published, spec.fields)
    if not field_map:
        raise RuleViolation("No published field maps to a local field; give a field_map.", field="field_map")
    check_map(field_map, published, spec.fields)
    subscription.field_map, subscription.subscribed, subscription.auto_accept = field_map, True, data.auto_accept
    send(session, connection, "subscribe", {"object": spec.name, "fields": sorted(field_map)})
    return subscription


async def unsubscribe(session: AsyncSession, *, connection_id: uuid.UUID, object_name: str) -> Subscription:
    connection = await accepted_connection(session, connection_id)
    subscription = await ConnectRepository(session).subscription(connection.id, object_name)
    if subscription is None or not subscription.subscribed:
        raise NotFound(f"{object_name} is not subscribed on this connection.")
    subscription.subscribed, subscription.field_map = False, {}
    send(session, connection, "unsubscribe", {"object": object_name})
    return subscription


# Inbound


async def peer_published(session: AsyncSession, connection: Connection, body: dict[str, Any]) -> None:
    spec = spec_for(str(body["object"]))
    published = {str(k): str(v) for k, v in dict(body["fields"]).items()}
    repo = ConnectRepository(session)
    subscription = await repo.subscription(connection.id, spec.name)
    if subscription is None:
        session.add(
            Subscription(
                connection_id=connection.id,
                object=spec.name,
                published_fields=published,
                field_map={},
                subscribed=False,
            )
        )
        return
    subscription.published_fields = published
    # A field no longer published (or now of another type) leaves the map.
    subscription.field_map = {
        k: v for k, v in subscription.field_map.items() if k in published and published[k] == spec.fields.get(v)
    }


async def peer_unpublished(session: AsyncSession, connection: Connection, body: dict[str, Any]) -> None:
    subscription = await ConnectRepository(session).subscription(connection.id, str(body["object"]))
    if subscription is not None:
        await session.delete(subscription)


async def peer_subscribed(session: AsyncSession, connection: Connection, body: dict[str, Any], *, on: bool) -> None:
    publication = await ConnectRepository(session).publication(connection.id, str(body["object"]))
    if publication is not None:
        publication.peer_subscribed = on
