"""Protection: extension requests, and the timers (overdue reviews, reminders, expiry).

Timers act only on rows whose due-date column has passed, each through a conditional UPDATE
that re-checks the state and the deadline, so a run that repeats, comes late, or races another
instance changes each row once; all the history, emails and events go with that same update.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.activity import record_activities, record_activity
from prm.core.auth import Principal
from prm.core.changes import expect_version
from prm.core.dates import date_text
from prm.core.errors import Conflict, Forbidden, NotFound, RuleViolation
from prm.core.outbox import Email, enqueue_emails
from prm.core.records import states_changed
from prm.core.webhooks import publish_event, publish_events
from prm.crm.services.deal_protection import extend_protection, lapse_protection
from prm.crm.services.directory import emails_of, vendor_admin_emails
from prm.deal_registration.models import DealRegistration, ExtensionRequest, ExtensionStatus, RegistrationState
from prm.deal_registration.repository import (
    DueRegistration,
    RegistrationRepository,
    claim_due_reminders,
    claim_expired,
    claim_overdue_reviews,
    manager_may_review,
)
from prm.deal_registration.schemas import ExtensionCreate, ExtensionDecision
from prm.deal_registration.service import notify
from prm.deal_registration.service.programs import program_of, terms_of
from prm.deal_registration.service.state import ENTITY, ensure_protected, ensure_state


async def request_extension(
    session: AsyncSession, *, principal: Principal, registration_id: uuid.UUID, data: ExtensionCreate
) -> ExtensionRequest:
    registrations = RegistrationRepository(session, principal)
    registration = await registrations.get(registration_id)
    if not principal.is_partner:
        raise Forbidden("Extensions are requested by the partner.")
    expect_version(registration, data.expected_version)
    ensure_state(registration, "extend", frozenset({RegistrationState.APPROVED}))
    ensure_protected(registration, "extend", session.info["clock"].now())
    terms = terms_of(registration, await program_of(session, registration))
    if registration.extensions_used >= terms["max_extensions"]:
        raise RuleViolation(
            f"The registration's terms allow {terms['max_extensions']} extensions; all are used.",
            field="registration_id",
        )
    if any(e.status is ExtensionStatus.PENDING for e in await registrations.extensions(registration.id)):
        raise Conflict("An extension request is already waiting for a decision.")
    extension = ExtensionRequest(
        registration_id=registration.id,
        requested_by_id=principal.user_id,
        reason=data.reason,
        status=ExtensionStatus.PENDING,
    )
    session.add(extension)
    await session.flush()
    record_activity(
        session,
        entity_type=ENTITY,
        entity_id=registration.id,
        action="extension_requested",
        actor=principal,
        note=data.reason,
    )
    await publish_event(
        session,
        "deal_registration.extension_requested",
        {"id": str(registration.id), "extension_id": str(extension.id), "reason": data.reason},
    )
    return extension


async def decide_extension(
    session: AsyncSession,
    *,
    principal: Principal,
    registration_id: uuid.UUID,
    extension_id: uuid.UUID,
    data: ExtensionDecision,
) -> ExtensionRequest:
    if not manager_may_review(principal):
        raise Forbidden("Only channel managers and vendor admins decide extensions.")
    registrations = RegistrationRepository(session, principal)
    registration = await registrations.get(registration_id)
    extension = await registrations.extension(registration.id, extension_id)
    if extension is None:
        raise NotFound(f"Extension request {extension_id} not found.")
    if extension.status is not ExtensionStatus.PENDING:
        raise Conflict(
            f"The extension request is already {extension.status.value}.", current_state=extension.status.value
        )
    now = session.info["clock"].now()
    extension.status = ExtensionStatus.APPROVED if data.approve else ExtensionStatus.REJECTED
    extension.decided_by_id, extension.decided_at, extension.decision_note = principal.user_id, now, data.note
    if data.approve:
        await _extend(session, registration, extension)
    record_activity(
        session,
        entity_type=ENTITY,
        entity_id=registration.id,
        action=f"extension_{extension.status}",
        actor=principal,
        note=data.note,
        changes={"expires_at": [None, registration.expires_at]} if data.approve else None,
    )
    await notify.extension_decided(session, registration, data.approve)
    return extension


async def _extend(session: AsyncSession, registration: DealRegistration, extension: ExtensionRequest) -> None:
    ensure_state(registration, "extend", frozenset({RegistrationState.APPROVED}))
    ensure_protected(registration, "extend", session.info["clock"].now())
    terms = terms_of(registration, await program_of(session, registration))
    if registration.expires_at is None:
        raise Conflict("expires_at is not set.")
    registration.expires_at += timedelta(days=terms["extension_days"])
    registration.remind_at = registration.expires_at - timedelta(days=terms["reminder_days"])
    registration.reminder_sent_at = None
    registration.extensions_used += 1
    extension.new_expires_at = registration.expires_at
    await session.flush()
    if registration.opportunity_id:
        await extend_protection(session, registration.opportunity_id, registration.expires_at)


# Timers -------------------------------------------------------------------------------------


async def escalate_overdue_reviews(session: AsyncSession, now: datetime) -> int:
    """Submitted past review_due_at: flag overdue and tell the vendor admins, once."""
    total = 0
    while rows := await claim_overdue_reviews(session, now):
        total += len(rows)
        await record_activities(
            session,
            [
                {
                    "entity_type": ENTITY,
                    "entity_id": r.id,
                    "action": "review_overdue",
                    "note": "review time passed without a decision; escalated to vendor admins",
                }
                for r in rows
            ],
        )
        await publish_events(session, "deal_registration.review_overdue", [_event(r) for r in rows])
        admins = await vendor_admin_emails(session)
        await enqueue_emails(
            session,
            [
                Email(
                    to=admin,
                    topic="deal_registration.overdue",
                    subject=f"Overdue review: deal registration {r.number}",
                    text=f"{r.number} for {r.customer_name} was due for a decision by "
                    f"{date_text(r.review_due_at)} and is still waiting.\n",
                )
                for r in rows
                for admin in admins
            ],
        )
    return total


async def send_expiry_reminders(session: AsyncSession, now: datetime) -> int:
    """Approved, not reminded, inside the reminder window and not yet expired: one reminder each,
    the soonest-expiring first (through the unreminded-by-expiry index: the ones already past
    expiry, which the expiry timer takes, lie before its range instead of in the way)."""
    total = 0
    while rows := await claim_due_reminders(session, now):
        total += len(rows)
        await record_activities(
            session, [{"entity_type": ENTITY, "entity_id": r.id, "action": "expiry_reminder_sent"} for r in rows]
        )
        emails = await emails_of(session, [r.submitted_by_id for r in rows])
        await enqueue_emails(
            session,
            [
                Email(
                    to=emails[r.submitted_by_id],
                    topic="deal_registration.expiry_reminder",
                    subject=f"Deal registration {r.number} expires {r.expires_at:%Y-%m-%d}",
                    text=f"The protection of {r.number} for {r.customer_name} ends on "
                    f"{date_text(r.expires_at)}. Close the deal or request an extension.\n",
                )
                for r in rows
                if r.submitted_by_id in emails
            ],
        )
    return total


async def expire_registrations(session: AsyncSession, now: datetime) -> int:
    """Approved past expires_at: expired; the opportunity stays, unprotected."""
    total = 0
    while rows := await claim_expired(session, now):
        total += len(rows)
        await record_activities(
            session,
            [
                {
                    "entity_type": ENTITY,
                    "entity_id": r.id,
                    "action": "expire",
                    "changes": {"state": ["approved", "expired"]},
                    "note": "protection period ended",
                }
                for r in rows
            ],
        )
        await lapse_protection(session, [r.opportunity_id for r in rows if r.opportunity_id], now)
        await publish_events(session, "deal_registration.expire", [_event(r, state="expired") for r in rows])
        await states_changed(session, [r.id for r in rows], entity=ENTITY)
        emails = await emails_of(session, [r.submitted_by_id for r in rows])
        await enqueue_emails(
            session,
            [
                Email(
                    to=emails[r.submitted_by_id],
                    topic="deal_registration.expired",
                    subject=f"Deal registration {r.number} expired",
                    text=f"The protection of {r.number} for {r.customer_name} has ended. You may resubmit it.\n",
                )
                for r in rows
                if r.submitted_by_id in emails
            ],
        )
    return total


def _event(row: DueRegistration, state: str | None = None) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "number": row.number,
        "partner_id": str(row.partner_id),
        "customer_name": row.customer_name,
        "state": state,
        "expires_at": row.expires_at.isoformat() if row.expires_at else None,
    }
