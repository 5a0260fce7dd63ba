"""The deal registration timers, registered with the scheduler's JobRunner.

Each backlog states again the condition its timer acts on (the claims in repository.py), so
`/metrics` can count what is due and what is overdue; tests/system/test_metrics.py holds the
count equal to what the timer then does."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, and_

from prm.core.scheduler import Backlog, JobRunner
from prm.deal_registration.models import DealRegistration as R
from prm.deal_registration.models import RegistrationState, in_state
from prm.deal_registration.service.protection import (
    escalate_overdue_reviews,
    expire_registrations,
    send_expiry_reminders,
)


def _unescalated(_: datetime) -> ColumnElement[bool]:
    return and_(in_state(RegistrationState.SUBMITTED), R.overdue_at.is_(None))


def _unreminded(now: datetime) -> ColumnElement[bool]:
    return and_(in_state(RegistrationState.APPROVED), R.reminder_sent_at.is_(None), R.expires_at > now)


def _protected(_: datetime) -> ColumnElement[bool]:
    return in_state(RegistrationState.APPROVED)


def register_jobs(runner: JobRunner) -> None:
    runner.register(
        "deal_registration.escalate_overdue_reviews",
        escalate_overdue_reviews,
        every_seconds=60,
        backlog=Backlog(R.review_due_at, _unescalated),
    )
    runner.register(
        "deal_registration.send_expiry_reminders",
        send_expiry_reminders,
        every_seconds=300,
        backlog=Backlog(R.remind_at, _unreminded),
    )
    runner.register(
        "deal_registration.expire_registrations",
        expire_registrations,
        every_seconds=60,
        backlog=Backlog(R.expires_at, _protected),
    )
