"""The lead distribution timers, registered with the scheduler's JobRunner.

Each backlog states again the condition its timer acts on (`OfferStore.close_due`), so
`/metrics` can count what is due and what is overdue."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import ColumnElement, and_

from prm.core.scheduler import Backlog, JobRunner
from prm.lead_distribution.models import LeadOffer, OfferKind, OfferStatus
from prm.lead_distribution.service.referrals import credit_won_referrals
from prm.lead_distribution.service.timers import expire_offers, lapse_claim_windows


def _open_offers(kind: OfferKind) -> Callable[[datetime], ColumnElement[bool]]:
    return lambda _: and_(LeadOffer.kind == kind, LeadOffer.status == OfferStatus.OPEN)


def register_jobs(runner: JobRunner) -> None:
    runner.register(
        "lead_distribution.expire_offers",
        expire_offers,
        every_seconds=60,
        backlog=Backlog(LeadOffer.respond_by, _open_offers(OfferKind.DIRECT)),
    )
    runner.register(
        "lead_distribution.lapse_claim_windows",
        lapse_claim_windows,
        every_seconds=60,
        backlog=Backlog(LeadOffer.respond_by, _open_offers(OfferKind.SHARK_TANK)),
    )
    # No deadline column: it acts when an opportunity is won, not when a time passes.
    runner.register("lead_distribution.credit_won_referrals", credit_won_referrals, every_seconds=300)
