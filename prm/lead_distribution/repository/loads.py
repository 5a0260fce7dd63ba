"""How many leads each partner holds (`lead_partner_loads`), kept as a number instead of counted.

Every offer the offer store makes or moves notes what it does to its partner's load in the
session (`note_load`); just before the unit of work commits, the noted changes are written in one
upsert in partner-id order. Taking those row locks last, and always in the same order, means two
transactions that move several partners' loads never wait on each other in a circle. Until
then, `pending_loads` gives what the session itself has changed.
"""

from __future__ import annotations

import uuid
from collections import Counter
from functools import cache
from typing import Any

from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from prm.lead_distribution.models import HOLDING, OfferStatus, PartnerLoad

LEDGER = "lead_distribution.partner_loads"


def _ledger(session: Session) -> Counter[uuid.UUID]:
    ledger: Counter[uuid.UUID] = session.info.setdefault(LEDGER, Counter())
    return ledger


def note_load(session: AsyncSession, partner_id: uuid.UUID | None, delta: int) -> None:
    if partner_id is not None and delta:
        _ledger(session.sync_session)[partner_id] += delta


def note_move(
    session: AsyncSession,
    *,
    before: tuple[uuid.UUID | None, OfferStatus] | None,
    after: tuple[uuid.UUID | None, OfferStatus] | None,
) -> None:
    """An offer went from (partner, status) `before` to `after` (None: it did not exist)."""
    if before is not None and before[1] in HOLDING:
        note_load(session, before[0], -1)
    if after is not None and after[1] in HOLDING:
        note_load(session, after[0], +1)


def pending_loads(session: AsyncSession) -> dict[uuid.UUID, int]:
    """What this unit of work changed so far, per partner (not yet stored)."""
    ledger: Counter[uuid.UUID] | None = session.sync_session.info.get(LEDGER)
    return dict(ledger) if ledger else {}


@cache
def _upsert(dialect: str) -> Any:
    """Add a change to a partner's load (a row made on its first), built once per dialect."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(PartnerLoad)
    return stmt.on_conflict_do_update(
        index_elements=[PartnerLoad.partner_id], set_={"holding": PartnerLoad.holding + stmt.excluded.holding}
    )


@event.listens_for(Session, "before_commit")
def _settle(session: Session) -> None:
    if session.in_nested_transaction() or not session.info.get(LEDGER):
        return
    session.flush()  # every other row this transaction writes is locked before the loads are
    changes = session.info.pop(LEDGER)
    rows = [{"partner_id": p, "holding": d} for p, d in sorted(changes.items(), key=lambda item: str(item[0])) if d]
    if rows:  # one statement per row, run in this order (executemany): the same order in every transaction
        session.execute(_upsert(session.get_bind().dialect.name), rows)


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(LEDGER, None)
