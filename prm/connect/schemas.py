"""Connect request and reply bodies, and the envelope of every instance-to-instance message."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from prm.connect.models import ConnectionStatus, ShareStatus
from prm.crm.schemas import Email, ReadStruct, Url

ObjectName = Literal["account", "contact", "opportunity", "lead"]
FieldName = Annotated[str, Meta(min_length=1, max_length=60)]


class ConnectionInvite(msgspec.Struct, forbid_unknown_fields=True):
    peer_url: Url
    contact_email: Email
    owner_id: uuid.UUID | None = None
    partner_id: uuid.UUID | None = None
    delete_on_tombstone: bool = False


class ConnectionAccept(msgspec.Struct, forbid_unknown_fields=True):
    owner_id: uuid.UUID | None = None
    partner_id: uuid.UUID | None = None
    # What a tombstone from the peer does here: True deletes our copy, False marks it deleted.
    delete_on_tombstone: bool = False


class ConnectionRead(ReadStruct):
    id: uuid.UUID
    peer_url: str
    peer_instance_id: uuid.UUID | None
    status: ConnectionStatus
    invited_by_us: bool
    owner_id: uuid.UUID | None
    contact_email: str
    partner_id: uuid.UUID | None
    delete_on_tombstone: bool
    created_at: datetime
    accepted_at: datetime | None
    ended_at: datetime | None
    unreachable_since: datetime | None
    last_error: str | None
    version: int


class PublicationSet(msgspec.Struct, forbid_unknown_fields=True):
    object: ObjectName
    # None publishes the S2S defaults for the object.
    fields: Annotated[list[FieldName], Meta(min_length=1, max_length=50)] | None = None


class PublicationRead(ReadStruct):
    object: str
    fields: list[str]
    peer_subscribed: bool


class SubscriptionSet(msgspec.Struct, forbid_unknown_fields=True):
    # {published field: local field}; None maps each published field to the local one of its name.
    field_map: dict[FieldName, FieldName] | None = None
    auto_accept: bool = False


class SubscriptionRead(ReadStruct):
    object: str
    published_fields: dict[str, Any]
    subscribed: bool
    field_map: dict[str, Any]
    auto_accept: bool


class RecordRef(msgspec.Struct, forbid_unknown_fields=True):
    object: ObjectName
    id: uuid.UUID


class ShareRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Records forwarded to connections, parents first (an opportunity after its account)."""

    connection_ids: Annotated[list[uuid.UUID], Meta(min_length=1, max_length=20)]
    records: Annotated[list[RecordRef], Meta(min_length=1, max_length=200)]


class ShareRead(ReadStruct):
    id: uuid.UUID
    connection_id: uuid.UUID
    object: str
    origin_id: uuid.UUID
    local_id: uuid.UUID | None
    partner_record_id: uuid.UUID | None
    status: ShareStatus
    started_at: datetime
    ended_at: datetime | None
    last_sync_at: datetime | None
    last_error: str | None
    pending_values: dict[str, Any] | None
    received_count: int
    registration: dict[str, Any] | None = None


class DealRegistrationShare(msgspec.Struct, forbid_unknown_fields=True):
    """Register one of this instance's opportunities as a deal with the vendor's instance."""

    connection_id: uuid.UUID
    opportunity_id: uuid.UUID
    program_id: uuid.UUID  # the vendor's deal program (its id on the vendor's instance)


class PeerEnvelope(msgspec.Struct, forbid_unknown_fields=True):
    message_id: uuid.UUID
    type: Annotated[str, Meta(min_length=1, max_length=40)]
    sender_connection_id: uuid.UUID
    receiver_connection_id: uuid.UUID | None
    body: dict[str, Any]


class PeerReply(msgspec.Struct):
    status: str


class PeerBatch(msgspec.Struct, forbid_unknown_fields=True):
    """Many messages of one connection in one signed request, applied in order."""

    sender_connection_id: uuid.UUID
    receiver_connection_id: uuid.UUID
    messages: Annotated[list[PeerEnvelope], Meta(min_length=1, max_length=1000)]


class PeerResult(msgspec.Struct):
    message_id: uuid.UUID
    status: Literal["applied", "duplicate", "refused"]
    detail: str | None = None  # why it was refused; the sender retries it and shows the reason


class PeerBatchReply(msgspec.Struct):
    results: list[PeerResult]
