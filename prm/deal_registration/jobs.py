"""The deal registration timers, registered with the scheduler's JobRunner."""

from __future__ import annotations

from prm.core.scheduler import JobRunner
from prm.deal_registration.service.protection import (
    escalate_overdue_reviews,
    expire_registrations,
    send_expiry_reminders,
)


def register_jobs(runner: JobRunner) -> None:
    runner.register("deal_registration.escalate_overdue_reviews", escalate_overdue_reviews, every_seconds=60)
    runner.register("deal_registration.send_expiry_reminders", send_expiry_reminders, every_seconds=300)
    runner.register("deal_registration.expire_registrations", expire_registrations, every_seconds=60)
