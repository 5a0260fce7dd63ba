"""Imports every table so the metadata is complete (alembic, tests)."""

from __future__ import annotations

from prm.core.activity import ActivityEntry
from prm.core.db import Base
from prm.core.idempotency import IdempotencyRecord
from prm.core.outbox import OutboxMessage
from prm.core.webhooks import WebhookEndpoint
from prm.crm import models as crm

__all__ = ["ActivityEntry", "Base", "IdempotencyRecord", "OutboxMessage", "WebhookEndpoint", "crm"]

metadata = Base.metadata
