"""Maintained aggregates the reports read on PostgreSQL instead of scanning a million records.

Each row is one cell: how many records (and, for opportunities, how much money) share a key.
PostgreSQL triggers on the records keep the cells in the same transaction as every write
(service, import, timer or bulk statement alike) with `INSERT ... ON CONFLICT DO UPDATE SET
n = n + delta`, so concurrent writers add up exactly and nobody reads-modifies-writes.
`prm scorecards rebuild` recomputes them from the records. On SQLite (development and tests at
small scale) the tables stay empty and the reports read the records.
"""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from prm.core.db import Base

ID = Integer().with_variant(BigInteger, "postgresql")


class OpportunityCell(Base):
    """Opportunities per stage, partner (NULL: direct), currency and month: the UTC month of
    closed_at for closed stages, the month of close_date for open ones."""

    __tablename__ = "scorecard_opportunity_cells"
    # Cells with a NULL in their key (direct business, an open deal without a close date) are
    # still one cell each: the unique index treats NULLs as equal (PostgreSQL 15).
    __table_args__ = (
        Index(
            "uq_scorecard_opportunity_cells_key",
            "stage",
            "partner_id",
            "currency",
            "month",
            unique=True,
            postgresql_nulls_not_distinct=True,
        ),
    )

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    stage: Mapped[str] = mapped_column(String(40))
    partner_id: Mapped[uuid.UUID | None]
    currency: Mapped[str] = mapped_column(String(3))
    month: Mapped[date | None]
    opportunities: Mapped[int] = mapped_column(BigInteger)
    amount_minor: Mapped[int] = mapped_column(BigInteger)


class RegistrationCell(Base):
    """Deal registrations per state, partner, program and currency (deal status)."""

    __tablename__ = "scorecard_registration_cells"
    __table_args__ = (
        Index("uq_scorecard_registration_cells_key", "state", "partner_id", "program_id", "currency", unique=True),
    )

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    state: Mapped[str] = mapped_column(String(40))
    partner_id: Mapped[uuid.UUID]
    program_id: Mapped[uuid.UUID]
    currency: Mapped[str] = mapped_column(String(3))
    registrations: Mapped[int] = mapped_column(BigInteger)


class LeadCell(Base):
    """Leads (merged duplicates left out) per UTC month of creation, source, campaign, holding
    partner, score band (0: 0-30, 1: 31-75, 2: 76-100), qualified, converted, and touched (a
    partner accepted an offer of it within an hour): lead quality by source and by campaign."""

    __tablename__ = "scorecard_lead_cells"
    __table_args__ = (
        Index(
            "uq_scorecard_lead_cells_key",
            "month",
            "source",
            "campaign_id",
            "partner_id",
            "band",
            "qualified",
            "converted",
            "touched",
            unique=True,
            postgresql_nulls_not_distinct=True,
        ),
    )

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    month: Mapped[date]
    source: Mapped[str] = mapped_column(String(40))
    campaign_id: Mapped[uuid.UUID | None]
    partner_id: Mapped[uuid.UUID | None]
    band: Mapped[int]
    qualified: Mapped[bool]
    converted: Mapped[bool]
    touched: Mapped[bool]
    leads: Mapped[int] = mapped_column(BigInteger)


class ProgramOpportunityCell(Base):
    """Opportunities per deal program (a registration of the program is linked to them, counted
    once however many are), stage, partner, currency and month, as in `OpportunityCell`: the
    opportunity reports filtered by program."""

    __tablename__ = "scorecard_program_opportunity_cells"
    __table_args__ = (
        Index(
            "uq_scorecard_program_opportunity_cells_key",
            "program_id",
            "stage",
            "partner_id",
            "currency",
            "month",
            unique=True,
            postgresql_nulls_not_distinct=True,
        ),
    )

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    program_id: Mapped[uuid.UUID]
    stage: Mapped[str] = mapped_column(String(40))
    partner_id: Mapped[uuid.UUID | None]
    currency: Mapped[str] = mapped_column(String(3))
    month: Mapped[date | None]
    opportunities: Mapped[int] = mapped_column(BigInteger)
    amount_minor: Mapped[int] = mapped_column(BigInteger)


class ProgramLeadCell(Base):
    """Leads per lead program (an offer of the lead was of the program, counted once however many
    were) and the keys of `LeadCell`: lead quality filtered by program."""

    __tablename__ = "scorecard_program_lead_cells"
    __table_args__ = (
        Index(
            "uq_scorecard_program_lead_cells_key",
            "program_id",
            "month",
            "source",
            "campaign_id",
            "partner_id",
            "band",
            "qualified",
            "converted",
            "touched",
            unique=True,
            postgresql_nulls_not_distinct=True,
        ),
    )

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    program_id: Mapped[uuid.UUID]
    month: Mapped[date]
    source: Mapped[str] = mapped_column(String(40))
    campaign_id: Mapped[uuid.UUID | None]
    partner_id: Mapped[uuid.UUID | None]
    band: Mapped[int]
    qualified: Mapped[bool]
    converted: Mapped[bool]
    touched: Mapped[bool]
    leads: Mapped[int] = mapped_column(BigInteger)
