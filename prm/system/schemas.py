from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import msgspec
from msgspec import UNSET, Meta, UnsetType

from prm.core.outbox import OutboxKind, OutboxStatus

EventTypes = Annotated[list[Annotated[str, Meta(min_length=1, max_length=100)]], Meta(min_length=1, max_length=50)]
WebhookUrl = Annotated[str, Meta(max_length=2000, pattern=r"^https?://\S+$")]


class OutboxRead(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    kind: OutboxKind
    topic: str
    destination: str
    payload: dict[str, Any]
    status: OutboxStatus
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


class ReplayedCount(msgspec.Struct, kw_only=True):
    replayed: int  # how many dead letters went back in line


class WebhookCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    url: WebhookUrl
    event_types: EventTypes = msgspec.field(default_factory=lambda: ["*"])
    description: Annotated[str, Meta(max_length=500)] = ""


class WebhookUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    expected_version: Annotated[int, Meta(ge=1)]
    url: WebhookUrl | UnsetType = UNSET
    event_types: EventTypes | UnsetType = UNSET
    description: Annotated[str, Meta(max_length=500)] | UnsetType = UNSET
    active: bool | UnsetType = UNSET


class WebhookRead(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    url: str
    event_types: list[str]
    description: str
    active: bool
    version: int
    created_at: datetime


class WebhookCreated(WebhookRead, kw_only=True):
    """Only the create reply carries the signing secret."""

    secret: str


class Health(msgspec.Struct):
    status: str
