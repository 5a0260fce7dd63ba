"""The distribution timers: unanswered offers expire and the lead is re-routed; unclaimed
shark-tank offers lapse and the lead goes back to the channel manager.

Each acts on offers whose `respond_by` has passed through a conditional UPDATE that re-checks
the status and the deadline (SKIP LOCKED on PostgreSQL), so a run that repeats, comes late, or
races another instance changes each offer once; the re-routing goes with that same update.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from prm.crm.services import lead_pipeline
from prm.lead_distribution.models import OfferKind, OfferStatus
from prm.lead_distribution.repository import OfferStore
from prm.lead_distribution.service.routing import reroute_many, return_to_queue


async def expire_offers(session: AsyncSession, now: datetime) -> int:
    """Direct offers past their response time: expired, and the lead re-routed elsewhere."""
    store, total = OfferStore(session), 0
    while rows := await store.close_due(OfferKind.DIRECT, OfferStatus.EXPIRED, now):
        total += len(rows)
        leads = await lead_pipeline.leads_by_id(session, [r.lead_id for r in rows])
        recalls = [
            (leads[row.lead_id], f"partner {row.partner_id} did not answer within the response time") for row in rows
        ]
        await reroute_many(session, recalls, now=now)
    return total


async def lapse_claim_windows(session: AsyncSession, now: datetime) -> int:
    """Shark-tank offers nobody claimed in the window: lapsed, and the lead back with the channel manager."""
    store, total = OfferStore(session), 0
    while rows := await store.close_due(OfferKind.SHARK_TANK, OfferStatus.LAPSED, now):
        total += len(rows)
        leads = await lead_pipeline.leads_by_id(session, [r.lead_id for r in rows])
        why = "nobody in the shark-tank group claimed it within the claim window"
        await return_to_queue(session, [(leads[row.lead_id], why) for row in rows], now=now)
    return total
