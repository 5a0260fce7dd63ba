"""Imports every table so the metadata is complete (alembic, tests)."""

from __future__ import annotations

from prm.connect import models as connect
from prm.core.activity import ActivityEntry
from prm.core.db import Base
from prm.core.idempotency import IdempotencyRecord
from prm.core.outbox import OutboxMessage
from prm.core.throttle import RateWindow, ThrottleCounter
from prm.core.webhooks import WebhookEndpoint
from prm.credits import models as credits
from prm.crm import models as crm
from prm.deal_registration import models as deal_registration
from prm.lead_distribution import models as lead_distribution
from prm.scorecards import models as scorecards

__all__ = [
    "ActivityEntry",
    "Base",
    "IdempotencyRecord",
    "OutboxMessage",
    "RateWindow",
    "ThrottleCounter",
    "WebhookEndpoint",
    "connect",
    "credits",
    "crm",
    "deal_registration",
    "lead_distribution",
    "scorecards",
]

metadata = Base.metadata
