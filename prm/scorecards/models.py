"""Maintained aggregates the reports read on PostgreSQL instead of scanning a million records.

A cell is how many records (and, for opportunities, how much money) share a key: the sum of the
rows with that key, never one row. PostgreSQL triggers on the records insert a delta row (+1, -1,
an amount) in the same transaction as every write (service, import, timer or bulk statement
alike): an insert takes no lock another writer waits on, so writers of one cell run side by side
and add up exactly. A timer folds each key's rows into one (`rollups.compact`); the key indexes
are plain, not unique. `prm scorecards rebuild` recomputes the cells from the records. On SQLite
(development and tests at small scale) the tables stay empty and the reports read the records.
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
    __table_args__ = (
        Index(
            "ix_scorecard_opportunity_cells_key",
            "stage",
            "partner_id",
            "currency",
            "month",
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
    __table_args__ = (Index("ix_scorecard_registration_cells_key", "state", "partner_id", "program_id", "currency"),)

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
            "ix_scorecard_lead_cells_key",
            "month",
            "source",
            "campaign_id",
            "partner_id",
            "band",
            "qualified",
            "converted",
            "touched",
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
            "ix_scorecard_program_opportunity_cells_key",
            "program_id",
            "stage",
            "partner_id",
            "currency",
            "month",
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
            "ix_scorecard_program_lead_cells_key",
            "program_id",
            "month",
            "source",
            "campaign_id",
            "partner_id",
            "band",
            "qualified",
            "converted",
            "touched",
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
