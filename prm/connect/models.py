"""Connect tables: this instance's identity, connections, publications, shares and the
inbound ledgers (token ids and message ids) that make peer requests single-use."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from prm.core.db import Base, IdMixin, TimestampMixin, VersionMixin, enum_column


class ConnectionStatus(StrEnum):
    SENT = "sent"
    RECEIVED = "received"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    INACTIVE = "inactive"
    SUSPENDED = "suspended"


LIVE_STATUSES = (
    ConnectionStatus.SENT,
    ConnectionStatus.RECEIVED,
    ConnectionStatus.ACCEPTED,
    ConnectionStatus.SUSPENDED,
)


class ShareStatus(StrEnum):
    PENDING_SENT = "pending_sent"
    PENDING_RECEIVED = "pending_received"
    ACTIVE_SENT = "active_sent"
    ACTIVE_RECEIVED = "active_received"
    INACTIVE = "inactive"
    INACTIVE_DELETED = "inactive_deleted"
    INACTIVE_CONVERTED = "inactive_converted"


# A shared opportunity sent as a deal registration to the vendor's instance.
REGISTRATION = "deal_registration"
ACTIVE_SHARES = (ShareStatus.PENDING_SENT, ShareStatus.ACTIVE_SENT, ShareStatus.ACTIVE_RECEIVED)
# A connection whose changes still flow: a suspended one queues them until the peer answers again.
SYNCING = (ConnectionStatus.ACCEPTED, ConnectionStatus.SUSPENDED)


class InstanceIdentity(Base):
    """One row: this instance's id, sent as the `iss` of every peer token."""

    __tablename__ = "connect_instance"

    singleton: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[uuid.UUID]


class Connection(IdMixin, TimestampMixin, VersionMixin, Base):
    __tablename__ = "connect_connections"
    __table_args__ = (Index("ix_connect_connections_peer_url", "peer_url"),)

    peer_url: Mapped[str] = mapped_column(String(500))
    peer_instance_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    peer_connection_id: Mapped[uuid.UUID | None]
    status: Mapped[ConnectionStatus] = enum_column(ConnectionStatus)
    invited_by_us: Mapped[bool]
    owner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    contact_email: Mapped[str] = mapped_column(String(320))
    # The local partner organisation this peer is (received records belong to it), if any.
    partner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("partners.id"))
    # This side's key pair for this connection (it signs our requests) and the peer's public key.
    private_key_pem: Mapped[str] = mapped_column(Text)
    peer_public_key_pem: Mapped[str | None] = mapped_column(Text)
    # The inviter proves an acceptance answers its invitation with this one-time secret.
    invite_secret: Mapped[str] = mapped_column(String(100))
    delete_on_tombstone: Mapped[bool] = mapped_column(default=False)
    accepted_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    # Since when deliveries to the peer fail for want of reaching it (None: it answers); past
    # the threshold the connection is suspended until a delivery succeeds again.
    unreachable_since: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)


class Publication(IdMixin, Base):
    """What this side publishes on a connection (and whether the peer subscribed)."""

    __tablename__ = "connect_publications"
    __table_args__ = (UniqueConstraint("connection_id", "object"),)

    connection_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("connect_connections.id"))
    object: Mapped[str] = mapped_column(String(40))
    fields: Mapped[list[str]]
    peer_subscribed: Mapped[bool] = mapped_column(default=False)


class Subscription(IdMixin, Base):
    """What the peer publishes to this side, and this side's subscription and field map."""

    __tablename__ = "connect_subscriptions"
    __table_args__ = (UniqueConstraint("connection_id", "object"),)

    connection_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("connect_connections.id"))
    object: Mapped[str] = mapped_column(String(40))
    published_fields: Mapped[dict[str, Any]]  # {their field: type}
    subscribed: Mapped[bool] = mapped_column(default=False)
    field_map: Mapped[dict[str, Any]]  # {their field: our field}
    auto_accept: Mapped[bool] = mapped_column(default=False)


class Share(IdMixin, Base):
    """One record shared on one connection, seen from this side."""

    __tablename__ = "connect_shares"
    __table_args__ = (
        UniqueConstraint("connection_id", "object", "origin_id"),
        Index("ix_connect_shares_local", "local_id"),
        Index("ix_connect_shares_connection_started", "connection_id", "started_at", "id"),
    )

    connection_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("connect_connections.id"))
    object: Mapped[str] = mapped_column(String(40))
    # The record's id on the side that first shared it: the key both sides know it by.
    origin_id: Mapped[uuid.UUID]
    ours: Mapped[bool]  # True when this side first shared it
    local_id: Mapped[uuid.UUID | None]
    partner_record_id: Mapped[uuid.UUID | None]
    parent_origin_id: Mapped[uuid.UUID | None]
    status: Mapped[ShareStatus] = enum_column(ShareStatus)
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    last_sync_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    # Per-field last-writer stamps ({wire field: [iso time, instance id]}) for conflict resolution.
    stamps: Mapped[dict[str, Any]]
    pending_values: Mapped[dict[str, Any] | None]
    sent_seq: Mapped[int] = mapped_column(default=0)
    received_seq: Mapped[int] = mapped_column(default=0)
    received_count: Mapped[int] = mapped_column(default=0)
    # A deal registered from this (partner's) instance: the vendor's registration as last told
    # (number, state, protection dates, decision), kept on the partner's side of the share.
    registration: Mapped[dict[str, Any] | None]


class SeenToken(Base):
    """Peer token ids already used, kept until the token would have expired anyway."""

    __tablename__ = "connect_seen_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class InboundMessage(Base):
    """Peer message ids already applied: a redelivered message is acknowledged, not re-applied."""

    __tablename__ = "connect_inbound_messages"

    message_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    connection_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("connect_connections.id"), index=True)
    received_at: Mapped[datetime]
