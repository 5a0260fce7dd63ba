"""Channel managers decide: approve (protection starts), reject with a reason, mark duplicate."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.auth import Principal
from prm.core.errors import Forbidden, RuleViolation
from prm.core.pagination import PageRequest
from prm.crm.services.deal_protection import Customer, open_protected_opportunity
from prm.deal_registration.models import DealRegistration, RejectionReason
from prm.deal_registration.repository import RegistrationRepository, manager_may_review
from prm.deal_registration.schemas import Approve, MarkDuplicate, Reject
from prm.deal_registration.service import notify
from prm.deal_registration.service.programs import program_of
from prm.deal_registration.service.state import transition


def _reviewer(principal: Principal) -> None:
    if not manager_may_review(principal):
        raise Forbidden("Only channel managers and vendor admins review registrations.")


async def review_queue(
    session: AsyncSession, *, principal: Principal, page: PageRequest
) -> tuple[list[DealRegistration], str | None]:
    _reviewer(principal)
    if page.sort_key != "review_due_at":
        page = PageRequest(limit=page.limit, cursor=page.cursor, sort="review_due_at")
    return await RegistrationRepository(session, principal).review_queue(page)


def _decided(registration: DealRegistration, principal: Principal, now: datetime) -> None:
    registration.decided_at = now
    registration.decided_by_id = principal.user_id


async def approve(
    session: AsyncSession, *, principal: Principal, registration_id: uuid.UUID, data: Approve
) -> DealRegistration:
    _reviewer(principal)
    registration = await RegistrationRepository(session, principal).get(registration_id)
    program = await program_of(session, registration)
    now = session.info["clock"].now()
    # The dates first, so the approval's event (webhook, a connected partner instance) carries them.
    _decided(registration, principal, now)
    registration.decision_note = data.note
    registration.approved_at = now
    registration.expires_at = now + timedelta(days=program.protection_days)
    registration.remind_at = registration.expires_at - timedelta(days=program.reminder_days)
    await transition(
        session, registration, "approve", actor=principal, expected_version=data.expected_version, reason=data.note
    )
    registration.opportunity_id = await open_protected_opportunity(
        session,
        actor=principal,
        partner_id=registration.partner_id,
        customer=Customer(
            registration.customer_name,
            registration.customer_normalized,
            registration.customer_domain,
            registration.customer_website,
            registration.customer_country,
        ),
        name=f"{registration.customer_name} ({registration.number})",
        amount_minor=registration.estimated_amount_minor or 0,
        currency=registration.currency,
        close_date=registration.expected_close_date,
        protected_until=registration.expires_at,
    )
    await notify.decided(session, registration)
    return registration


async def reject(
    session: AsyncSession, *, principal: Principal, registration_id: uuid.UUID, data: Reject
) -> DealRegistration:
    _reviewer(principal)
    repo = RegistrationRepository(session, principal)
    registration = await repo.get(registration_id)
    duplicate_of = data.duplicate_of_id
    if data.reason is RejectionReason.DUPLICATE:
        if duplicate_of is None:
            raise RuleViolation("Name the registration this one duplicates.", field="duplicate_of_id")
        if duplicate_of == registration.id or not await repo.exists(duplicate_of):
            raise RuleViolation("No such registration to be a duplicate of.", field="duplicate_of_id")
    elif duplicate_of is not None:
        raise RuleViolation("duplicate_of_id goes with the reason 'duplicate'.", field="duplicate_of_id")
    await transition(
        session,
        registration,
        "reject",
        actor=principal,
        expected_version=data.expected_version,
        reason=f"{data.reason.value}: {data.explanation}",
    )
    _decided(registration, principal, session.info["clock"].now())
    registration.rejection_reason = data.reason
    registration.decision_note = data.explanation
    registration.duplicate_of_id = duplicate_of
    await notify.decided(session, registration)
    return registration


async def mark_duplicate(
    session: AsyncSession, *, principal: Principal, registration_id: uuid.UUID, data: MarkDuplicate
) -> DealRegistration:
    as_rejection = Reject(
        expected_version=data.expected_version,
        reason=RejectionReason.DUPLICATE,
        explanation=data.explanation,
        duplicate_of_id=data.duplicate_of_id,
    )
    return await reject(session, principal=principal, registration_id=registration_id, data=as_rejection)
