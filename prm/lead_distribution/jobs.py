"""The lead distribution timers, registered with the scheduler's JobRunner."""

from __future__ import annotations

from prm.core.scheduler import JobRunner
from prm.lead_distribution.service.referrals import credit_won_referrals
from prm.lead_distribution.service.timers import expire_offers, lapse_claim_windows


def register_jobs(runner: JobRunner) -> None:
    runner.register("lead_distribution.expire_offers", expire_offers, every_seconds=60)
    runner.register("lead_distribution.lapse_claim_windows", lapse_claim_windows, every_seconds=60)
    runner.register("lead_distribution.credit_won_referrals", credit_won_referrals, every_seconds=300)
