"""connect: connections between prm instances, publications, subscriptions, shared records,
and the ledgers of peer token ids and message ids; this instance's id is created here.

Revision ID: afa30e74705a
Revises: 3c1d9e0b7a42
Create Date: 2026-12-02 17:35:02.588654+00:00
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

revision: str = "afa30e74705a"
down_revision: str | None = "3c1d9e0b7a42"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    instance = op.create_table(
        "connect_instance",
        sa.Column("singleton", sa.Integer(), nullable=False),
        sa.Column("instance_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.PrimaryKeyConstraint("singleton", name=op.f("pk_connect_instance")),
    )
    op.bulk_insert(instance, [{"singleton": 1, "instance_id": uuid.uuid4()}])
    op.create_table(
        "connect_seen_tokens",
        sa.Column("jti", sa.String(length=64), nullable=False),
        sa.Column("expires_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("jti", name=op.f("pk_connect_seen_tokens")),
    )
    with op.batch_alter_table("connect_seen_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_connect_seen_tokens_expires_at"), ["expires_at"], unique=False)

    op.create_table(
        "connect_connections",
        sa.Column("peer_url", sa.String(length=500), nullable=False),
        sa.Column("peer_instance_id", advanced_alchemy.types.guid.GUID(length=16), nullable=True),
        sa.Column("peer_connection_id", advanced_alchemy.types.guid.GUID(length=16), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "sent",
                "received",
                "accepted",
                "declined",
                "inactive",
                "suspended",
                name="connectionstatus",
                native_enum=False,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("invited_by_us", sa.Boolean(), nullable=False),
        sa.Column("owner_id", advanced_alchemy.types.guid.GUID(length=16), nullable=True),
        sa.Column("contact_email", sa.String(length=320), nullable=False),
        sa.Column("partner_id", advanced_alchemy.types.guid.GUID(length=16), nullable=True),
        sa.Column("private_key_pem", sa.Text(), nullable=False),
        sa.Column("peer_public_key_pem", sa.Text(), nullable=True),
        sa.Column("invite_secret", sa.String(length=100), nullable=False),
        sa.Column("delete_on_tombstone", sa.Boolean(), nullable=False),
        sa.Column("accepted_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("ended_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name=op.f("fk_connect_connections_owner_id_users")),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_connect_connections_partner_id_partners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connect_connections")),
    )
    with op.batch_alter_table("connect_connections", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_connect_connections_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_connect_connections_peer_instance_id"), ["peer_instance_id"], unique=False)
        batch_op.create_index("ix_connect_connections_peer_url", ["peer_url"], unique=False)

    op.create_table(
        "connect_inbound_messages",
        sa.Column("message_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("connection_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("received_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connect_connections.id"],
            name=op.f("fk_connect_inbound_messages_connection_id_connect_connections"),
        ),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_connect_inbound_messages")),
    )
    with op.batch_alter_table("connect_inbound_messages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_connect_inbound_messages_connection_id"), ["connection_id"], unique=False)

    op.create_table(
        "connect_publications",
        sa.Column("connection_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("object", sa.String(length=40), nullable=False),
        sa.Column("fields", sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"), nullable=False),
        sa.Column("peer_subscribed", sa.Boolean(), nullable=False),
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connect_connections.id"],
            name=op.f("fk_connect_publications_connection_id_connect_connections"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connect_publications")),
        sa.UniqueConstraint("connection_id", "object", name=op.f("uq_connect_publications_connection_id_object")),
    )
    op.create_table(
        "connect_shares",
        sa.Column("connection_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("object", sa.String(length=40), nullable=False),
        sa.Column("origin_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("ours", sa.Boolean(), nullable=False),
        sa.Column("local_id", advanced_alchemy.types.guid.GUID(length=16), nullable=True),
        sa.Column("partner_record_id", advanced_alchemy.types.guid.GUID(length=16), nullable=True),
        sa.Column("parent_origin_id", advanced_alchemy.types.guid.GUID(length=16), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "pending_sent",
                "pending_received",
                "active_sent",
                "active_received",
                "inactive",
                "inactive_deleted",
                "inactive_converted",
                name="sharestatus",
                native_enum=False,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("started_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.Column("ended_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("last_sync_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("stamps", sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"), nullable=False),
        sa.Column(
            "pending_values", sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"), nullable=True
        ),
        sa.Column("sent_seq", sa.Integer(), nullable=False),
        sa.Column("received_seq", sa.Integer(), nullable=False),
        sa.Column("received_count", sa.Integer(), nullable=False),
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connect_connections.id"],
            name=op.f("fk_connect_shares_connection_id_connect_connections"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connect_shares")),
        sa.UniqueConstraint(
            "connection_id", "object", "origin_id", name=op.f("uq_connect_shares_connection_id_object_origin_id")
        ),
    )
    with op.batch_alter_table("connect_shares", schema=None) as batch_op:
        batch_op.create_index("ix_connect_shares_local", ["local_id"], unique=False)

    op.create_table(
        "connect_subscriptions",
        sa.Column("connection_id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.Column("object", sa.String(length=40), nullable=False),
        sa.Column(
            "published_fields",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("subscribed", sa.Boolean(), nullable=False),
        sa.Column(
            "field_map", sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"), nullable=False
        ),
        sa.Column("auto_accept", sa.Boolean(), nullable=False),
        sa.Column("id", advanced_alchemy.types.guid.GUID(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connect_connections.id"],
            name=op.f("fk_connect_subscriptions_connection_id_connect_connections"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connect_subscriptions")),
        sa.UniqueConstraint("connection_id", "object", name=op.f("uq_connect_subscriptions_connection_id_object")),
    )


def downgrade() -> None:
    op.drop_table("connect_subscriptions")
    with op.batch_alter_table("connect_shares", schema=None) as batch_op:
        batch_op.drop_index("ix_connect_shares_local")

    op.drop_table("connect_shares")
    op.drop_table("connect_publications")
    with op.batch_alter_table("connect_inbound_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_connect_inbound_messages_connection_id"))

    op.drop_table("connect_inbound_messages")
    with op.batch_alter_table("connect_connections", schema=None) as batch_op:
        batch_op.drop_index("ix_connect_connections_peer_url")
        batch_op.drop_index(batch_op.f("ix_connect_connections_peer_instance_id"))
        batch_op.drop_index(batch_op.f("ix_connect_connections_created_at"))

    op.drop_table("connect_connections")
    with op.batch_alter_table("connect_seen_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_connect_seen_tokens_expires_at"))

    op.drop_table("connect_seen_tokens")
    op.drop_table("connect_instance")
