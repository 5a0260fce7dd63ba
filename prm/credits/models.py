"""The credit ledger: margin credits for won registrations, referral fees for referrals."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from prm.core.db import Base, IdMixin, TimestampMixin, VersionMixin, enum_column


class CreditStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    PAID = "paid"


class Credit(IdMixin, TimestampMixin, VersionMixin, Base):
    __tablename__ = "credits"
    # One credit per source: verifying the same proof twice can never pay twice.
    __table_args__ = (UniqueConstraint("source_type", "source_id"),)

    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partners.id"), index=True)
    source_type: Mapped[str] = mapped_column(String(40))
    source_id: Mapped[uuid.UUID]
    description: Mapped[str] = mapped_column(String(500))
    basis_minor: Mapped[int] = mapped_column(BigInteger)
    rate_bps: Mapped[int | None]
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[CreditStatus] = enum_column(CreditStatus, default=CreditStatus.PENDING)
    approved_at: Mapped[datetime | None]
    paid_at: Mapped[datetime | None]
