"""Channel managers decide: approve (protection starts), reject with a reason, mark duplicate.

Protection is exclusive: while another partner's approved registration protects the same
customer and overlapping products, approving answers 409 naming that registration's number,
unless the reviewer overrides with a reason from a fixed list (recorded on both registrations).
Programs may decide by rules (service/rules.py); an automatic decision goes through the same
steps as a person's, with the rule named in the history.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.activity import record_activity
from prm.core.auth import Principal
from prm.core.changes import expect_version
from prm.core.errors import Conflict, Forbidden, RuleViolation
from prm.core.pagination import PageRequest
from prm.crm.services.deal_protection import Customer, open_protected_opportunity
from prm.crm.services.directory import partner_tier
from prm.deal_registration.conflicts import FoundConflict, current_conflicts
from prm.deal_registration.models import (
    DealProgram,
    DealRegistration,
    OverrideReason,
    ProtectionOverride,
    RegistrationState,
    RejectionReason,
)
from prm.deal_registration.repository import (
    RegistrationRepository,
    RegistrationSummary,
    lock_customer,
    manager_may_review,
    product_ids_of,
)
from prm.deal_registration.schemas import Approve, MarkDuplicate, Reject
from prm.deal_registration.service import notify, rules
from prm.deal_registration.service.programs import program_of, terms_snapshot
from prm.deal_registration.service.state import ENTITY, record_event, transition

OVERRIDE_REASONS = ", ".join(r.value for r in OverrideReason)


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


def _decided(registration: DealRegistration, principal: Principal | None, now: datetime, rule: str | None) -> None:
    registration.decided_at = now
    registration.decided_by_id = principal.user_id if principal else None
    registration.decided_by_rule = rule


async def conflicts_now(session: AsyncSession, registration: DealRegistration) -> list[FoundConflict]:
    """The registration's conflicts as they stand at this decision (other decisions about the
    same customer wait until this one commits)."""
    await lock_customer(session, normalized=registration.customer_normalized, domain=registration.customer_domain)
    product_ids = await product_ids_of(session, [registration.id])
    return (await current_conflicts(session, [registration], product_ids))[registration.id]


def protection_holders(registration: DealRegistration, conflicts: Sequence[FoundConflict]) -> list[RegistrationSummary]:
    """Other partners' approved registrations whose protection covers this customer and products."""
    return [c.other for c in conflicts if c.protects and c.other and c.other.partner_id != registration.partner_id]


def _check_exclusive(
    registration: DealRegistration, holders: list[RegistrationSummary], override: OverrideReason | None
) -> None:
    if holders and override is None:
        numbers = ", ".join(h.number for h in holders)
        raise Conflict(
            f"{numbers} already holds protection for this customer and these products; approving "
            f"{registration.number} needs an override reason ({OVERRIDE_REASONS}).",
            field="override_reason",
            holder_registration_numbers=[h.number for h in holders],
        )
    if override is not None and not holders:
        raise RuleViolation(
            "No other partner holds protection here: there is nothing to override.", field="override_reason"
        )


async def approve(
    session: AsyncSession, *, principal: Principal, registration_id: uuid.UUID, data: Approve
) -> DealRegistration:
    _reviewer(principal)
    registration = await RegistrationRepository(session, principal).get(registration_id)
    expect_version(registration, data.expected_version)
    program = await program_of(session, registration)
    holders = protection_holders(registration, await conflicts_now(session, registration))
    _check_exclusive(registration, holders, data.override_reason)
    program_rules = rules.rules_of(program)
    if rules.needs_second_approval(program_rules, registration.estimated_amount_minor):
        if registration.first_approved_at is None:
            return await _first_approval(session, registration, principal, data.note)
        rules.check_second_approver(program_rules, registration, principal)
    await grant(session, registration, program, actor=principal, note=data.note, expected_version=data.expected_version)
    if data.override_reason is not None:
        await _record_overrides(session, registration, holders, principal, data.override_reason, data.note)
    return registration


async def _first_approval(
    session: AsyncSession, registration: DealRegistration, principal: Principal, note: str | None
) -> DealRegistration:
    """Above the program's amount the first approval only records itself: the registration waits
    in the queue (its review clock running) for a second, different approver."""
    if registration.state is not RegistrationState.SUBMITTED:
        raise Conflict(
            f"Cannot approve registration {registration.number}: it is {registration.state.value}.",
            current_state=registration.state.value,
        )
    registration.first_approved_by_id = principal.user_id
    registration.first_approved_at = session.info["clock"].now()
    await session.flush()
    await record_event(session, registration, "first_approval", actor=principal, reason=note)
    return registration


async def grant(
    session: AsyncSession,
    registration: DealRegistration,
    program: DealProgram,
    *,
    actor: Principal | None,
    note: str | None,
    expected_version: int | None,
    rule: str | None = None,
) -> None:
    """Approve: protection starts under the program's terms as they stand now (kept with the
    registration), the partner's opportunity is protected and the partner told."""
    now = session.info["clock"].now()
    # The dates first, so the approval's event (webhook, a connected partner instance) carries them.
    reason = f"rule {rule}: {note}" if rule else note
    _decided(registration, actor, now, rule)
    terms = terms_snapshot(program)
    registration.decision_note = note
    registration.approved_at = now
    registration.approved_terms = terms
    registration.expires_at = now + timedelta(days=terms["protection_days"])
    registration.remind_at = registration.expires_at - timedelta(days=terms["reminder_days"])
    await transition(session, registration, "approve", actor=actor, expected_version=expected_version, reason=reason)
    registration.opportunity_id = await open_protected_opportunity(
        session,
        actor=actor,
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


async def _record_overrides(
    session: AsyncSession,
    registration: DealRegistration,
    holders: list[RegistrationSummary],
    principal: Principal,
    reason: OverrideReason,
    note: str | None,
) -> None:
    """One override row per holder; each side's history says it, naming only registration numbers."""
    now = session.info["clock"].now()
    for holder in holders:
        session.add(
            ProtectionOverride(
                registration_id=registration.id,
                holder_registration_id=holder.id,
                reason=reason,
                note=note,
                decided_by_id=principal.user_id,
                decided_at=now,
            )
        )
        said = f"override ({reason.value}): {registration.number} approved while {holder.number} holds protection"
        for entity_id in (registration.id, holder.id):
            record_activity(
                session,
                entity_type=ENTITY,
                entity_id=entity_id,
                action="protection_override",
                actor=principal,
                changes={"override_reason": [None, reason.value]},
                note=said,
            )
    await session.flush()


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
    await refuse(
        session,
        registration,
        actor=principal,
        reason=data.reason,
        explanation=data.explanation,
        expected_version=data.expected_version,
    )
    registration.duplicate_of_id = duplicate_of
    return registration


async def refuse(
    session: AsyncSession,
    registration: DealRegistration,
    *,
    actor: Principal | None,
    reason: RejectionReason,
    explanation: str,
    expected_version: int | None,
    rule: str | None = None,
) -> None:
    """Reject with the reason the partner reads, by a person or by the rule named."""
    said = f"{reason.value}: {explanation}"
    await transition(
        session,
        registration,
        "reject",
        actor=actor,
        expected_version=expected_version,
        reason=f"rule {rule}: {said}" if rule else said,
    )
    _decided(registration, actor, session.info["clock"].now(), rule)
    registration.rejection_reason = reason
    registration.decision_note = explanation
    await notify.decided(session, registration)


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


async def decide_by_rules(
    session: AsyncSession,
    registration: DealRegistration,
    program: DealProgram,
    *,
    product_count: int,
    conflicts: Sequence[FoundConflict],
) -> bool:
    """Right after submit: the program's rules approve or reject the clear cases (True if one did)."""
    program_rules = rules.rules_of(program)
    if program_rules.auto_approve is None and program_rules.auto_reject is None:
        return False
    tier = await partner_tier(session, registration.partner_id)
    verdict = rules.auto_verdict(
        program_rules, registration, tier=tier, product_count=product_count, conflicts=conflicts
    )
    if verdict is None:
        return False
    if verdict.approve:
        await grant(
            session, registration, program, actor=None, note=verdict.why, expected_version=None, rule=verdict.rule
        )
    else:
        assert verdict.rejection is not None  # a rejecting verdict always names its reason
        await refuse(
            session,
            registration,
            actor=None,
            reason=verdict.rejection,
            explanation=f"Decided by the program's rules: {verdict.why}.",
            expected_version=None,
            rule=verdict.rule,
        )
    return True
