from __future__ import annotations

import uuid
from datetime import datetime

from prm.credits.models import CreditStatus
from prm.crm.schemas import ReadStruct, Struct, Version


class CreditRead(ReadStruct):
    id: uuid.UUID
    partner_id: uuid.UUID
    source_type: str
    source_id: uuid.UUID
    description: str
    basis_minor: int
    rate_bps: int | None
    amount_minor: int
    currency: str
    status: CreditStatus
    approved_at: datetime | None
    paid_at: datetime | None
    version: int
    created_at: datetime


class CreditTransition(Struct):
    expected_version: Version
