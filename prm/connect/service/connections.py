"""Connections and their state machine, stated once:

    sent (inviter) --accept--> accepted      received (invitee) --accept--> accepted
    sent --decline (by the peer)--> declined  received --decline--> declined
    sent --cancel--> inactive                 any live status --deactivate--> inactive

One live connection per pair of instances (by the peer's URL, and by its instance id once
known). Each side makes its own EC P-256 key pair for the connection and hands the peer the
public half: the invitation carries the inviter's, the acceptance the invitee's. The
acceptance also returns the invitation's one-time secret, so only the instance that received
the invitation can complete it.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from prm.connect.client import normalize_url, send
from prm.connect.models import Connection, ConnectionStatus, ShareStatus
from prm.connect.repository import ConnectRepository
from prm.connect.schemas import ConnectionAccept, ConnectionInvite
from prm.core.activity import record_activity
from prm.core.auth import Principal
from prm.core.errors import Conflict, RuleViolation
from prm.core.outbox import enqueue_email
from prm.core.tokens import generate_private_key_pem, public_key_pem
from prm.crm.models import Partner, User

ACTIONS: dict[ConnectionStatus, tuple[str, ...]] = {
    ConnectionStatus.SENT: ("cancel", "resend"),
    ConnectionStatus.RECEIVED: ("accept", "decline"),
    ConnectionStatus.ACCEPTED: ("deactivate",),
    ConnectionStatus.SUSPENDED: ("deactivate",),
    ConnectionStatus.DECLINED: (),
    ConnectionStatus.INACTIVE: (),
}


def _log(
    session: AsyncSession, connection: Connection, action: str, principal: Principal | None = None, note: str = ""
) -> None:
    """One line of the connection's history (`/connections/{id}/history`)."""
    record_activity(
        session,
        entity_type="connection",
        entity_id=connection.id,
        action=action,
        actor=principal,
        changes={"status": connection.status.value},
        note=note or None,
    )


def _require(connection: Connection, action: str) -> None:
    if action not in ACTIONS[connection.status]:
        raise Conflict(
            f"The connection is {connection.status.value}; it cannot be {action}ed now.",
            field="status",
            current_status=connection.status.value,
        )


async def _check_people(session: AsyncSession, owner_id: uuid.UUID, partner_id: uuid.UUID | None) -> None:
    owner = await session.get(User, owner_id)
    if owner is None or not owner.active or owner.partner_id is not None:
        raise RuleViolation("The connection owner must be an active vendor user.", field="owner_id")
    if partner_id is not None and await session.get(Partner, partner_id) is None:
        raise RuleViolation("No such partner.", field="partner_id")


async def invite(session: AsyncSession, *, principal: Principal, data: ConnectionInvite, base_url: str) -> Connection:
    peer_url = normalize_url(data.peer_url)
    if peer_url == normalize_url(base_url):
        raise RuleViolation("An instance cannot connect to itself.", field="peer_url")
    repo = ConnectRepository(session)
    if await repo.live_connection_to(peer_url=peer_url) is not None:
        raise Conflict("There already is a connection with this instance.", field="peer_url")
    owner_id = data.owner_id or principal.user_id
    await _check_people(session, owner_id, data.partner_id)
    connection = Connection(
        peer_url=peer_url,
        status=ConnectionStatus.SENT,
        invited_by_us=True,
        owner_id=owner_id,
        contact_email=data.contact_email,
        partner_id=data.partner_id,
        private_key_pem=generate_private_key_pem(),
        invite_secret=secrets.token_urlsafe(32),
        delete_on_tombstone=data.delete_on_tombstone,
    )
    session.add(connection)
    await session.flush()
    send(session, connection, "invite", await _invitation(session, connection, base_url))
    _log(session, connection, "invited", principal, f"Invited {peer_url}.")
    return connection


async def _invitation(session: AsyncSession, connection: Connection, base_url: str) -> dict[str, Any]:
    return {
        "instance_id": str(await ConnectRepository(session).instance_id()),
        "base_url": normalize_url(base_url),
        "public_key": public_key_pem(connection.private_key_pem),
        "invite_secret": connection.invite_secret,
        "contact_email": connection.contact_email,
    }


async def resend(
    session: AsyncSession, *, connection_id: uuid.UUID, principal: Principal | None = None, base_url: str
) -> Connection:
    connection = await ConnectRepository(session).connection(connection_id, for_update=True)
    _require(connection, "resend")
    send(session, connection, "invite", await _invitation(session, connection, base_url))
    _log(session, connection, "resent", principal)
    return connection


async def cancel(session: AsyncSession, *, connection_id: uuid.UUID, principal: Principal | None = None) -> Connection:
    connection = await ConnectRepository(session).connection(connection_id, for_update=True)
    _require(connection, "cancel")
    _end(session, connection, ConnectionStatus.INACTIVE)
    send(session, connection, "cancel", {})
    _log(session, connection, "cancelled", principal)
    return connection


async def accept(
    session: AsyncSession, *, principal: Principal, connection_id: uuid.UUID, data: ConnectionAccept
) -> Connection:
    repo = ConnectRepository(session)
    connection = await repo.connection(connection_id, for_update=True)
    _require(connection, "accept")
    owner_id = data.owner_id or principal.user_id
    await _check_people(session, owner_id, data.partner_id)
    connection.owner_id = owner_id
    connection.partner_id = data.partner_id or connection.partner_id
    connection.delete_on_tombstone = data.delete_on_tombstone
    connection.status = ConnectionStatus.ACCEPTED
    connection.accepted_at = session.info["clock"].now()
    body = {
        "instance_id": str(await repo.instance_id()),
        "public_key": public_key_pem(connection.private_key_pem),
        "invite_secret": connection.invite_secret,
    }
    send(session, connection, "accept", body)
    _log(session, connection, "accepted", principal)
    return connection


async def decline(session: AsyncSession, *, connection_id: uuid.UUID, principal: Principal | None = None) -> Connection:
    connection = await ConnectRepository(session).connection(connection_id, for_update=True)
    _require(connection, "decline")
    _end(session, connection, ConnectionStatus.DECLINED)
    send(session, connection, "decline", {"invite_secret": connection.invite_secret})
    _log(session, connection, "declined", principal)
    return connection


async def deactivate(
    session: AsyncSession, *, connection_id: uuid.UUID, principal: Principal | None = None
) -> Connection:
    connection = await ConnectRepository(session).connection(connection_id, for_update=True)
    _require(connection, "deactivate")
    await end_shares(session, connection)
    _end(session, connection, ConnectionStatus.INACTIVE)
    send(session, connection, "deactivate", {})
    _log(session, connection, "deactivated", principal)
    return connection


def _end(session: AsyncSession, connection: Connection, status: ConnectionStatus) -> None:
    if connection.ended_at is None:
        connection.status = status
        connection.ended_at = session.info["clock"].now()


async def end_shares(session: AsyncSession, connection: Connection) -> None:
    """Deactivation: records received but never accepted go; accepted copies stay, unlinked."""
    now = session.info["clock"].now()
    for share in await ConnectRepository(session).shares_on(connection.id):
        if share.status is ShareStatus.PENDING_RECEIVED:
            await session.delete(share)
        elif share.ended_at is None:
            share.status, share.ended_at = ShareStatus.INACTIVE, now


# Inbound handshake messages (already authenticated by prm.connect.service.inbound).


async def received_invitation(
    session: AsyncSession, *, sender_connection_id: uuid.UUID, body: dict[str, Any]
) -> Connection:
    repo = ConnectRepository(session)
    peer_instance = uuid.UUID(str(body["instance_id"]))
    existing = await repo.live_connection_to(peer_instance_id=peer_instance)
    if existing is not None:
        if existing.peer_connection_id == sender_connection_id:
            return existing  # a resent invitation
        raise Conflict("There already is a connection with this instance.", field="instance_id")
    connection = Connection(
        peer_url=normalize_url(str(body["base_url"])),
        peer_instance_id=peer_instance,
        peer_connection_id=sender_connection_id,
        status=ConnectionStatus.RECEIVED,
        invited_by_us=False,
        owner_id=None,
        contact_email=str(body["contact_email"]),
        private_key_pem=generate_private_key_pem(),
        peer_public_key_pem=str(body["public_key"]),
        invite_secret=str(body["invite_secret"]),
    )
    session.add(connection)
    await session.flush()
    _log(session, connection, "invitation_received", note=f"Invited by {connection.peer_url}.")
    return connection


async def peer_accepted(
    session: AsyncSession, connection: Connection, *, sender_connection_id: uuid.UUID, body: dict[str, Any]
) -> None:
    connection.peer_public_key_pem = str(body["public_key"])
    connection.peer_instance_id = uuid.UUID(str(body["instance_id"]))
    connection.peer_connection_id = sender_connection_id
    connection.status = ConnectionStatus.ACCEPTED
    connection.accepted_at = session.info["clock"].now()
    _log(session, connection, "peer_accepted", note=f"{connection.peer_url} accepted.")
    await _tell_owner(session, connection, "accepted")


async def peer_declined(session: AsyncSession, connection: Connection) -> None:
    _end(session, connection, ConnectionStatus.DECLINED)
    _log(session, connection, "peer_declined", note=f"{connection.peer_url} declined.")
    await _tell_owner(session, connection, "declined")


async def peer_ended(session: AsyncSession, connection: Connection) -> None:
    await end_shares(session, connection)
    _end(session, connection, ConnectionStatus.INACTIVE)
    _log(session, connection, "peer_ended", note=f"{connection.peer_url} ended the connection.")


async def _tell_owner(session: AsyncSession, connection: Connection, what: str) -> None:
    owner = await session.get(User, connection.owner_id) if connection.owner_id else None
    if owner is None:
        return
    enqueue_email(
        session,
        to=owner.email,
        subject=f"Connection {what}: {connection.peer_url}",
        text=f"{connection.peer_url} {what} your invitation to connect (contact: {connection.contact_email}).",
        topic=f"connect.connection_{what}",
    )
