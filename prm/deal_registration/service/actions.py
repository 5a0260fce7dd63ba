"""What a viewer may do with a registration now: the state machine's answer for one record and
one viewer, stated here once. The pages show the buttons it names; the API's replies carry it
(`allowed_actions`). The services refuse the rest: a state that does not allow an action with
409, a role that may not take it with 403.

Action names follow the API's paths: `edit` (PATCH), `submit`, `cancel`, `resubmit`,
`request_extension` (POST .../extensions), `close_won`, `close_lost` for the partner;
`approve`, `reject`, `mark_duplicate`, `decide_extension`, `decide_proof` for reviewers.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.auth import Principal, Role
from prm.deal_registration.models import DealProgram, DealRegistration, ProofStatus, RegistrationState
from prm.deal_registration.repository import RegistrationRepository, manager_may_review
from prm.deal_registration.service.programs import terms_of
from prm.deal_registration.service.rules import needs_second_approval, rules_of
from prm.deal_registration.service.state import protection_ended

S = RegistrationState
RESUBMITTABLE = frozenset({S.REJECTED, S.EXPIRED})


@dataclass(frozen=True)
class Facts:
    """What the answer needs beyond the registration's own columns."""

    program: DealProgram
    pending_extension: bool
    resubmissions_used: int  # submissions in its chain before this one's resubmission
    resubmitted: bool  # a resubmission has replaced it already
    protection_ended: bool  # approved, its end passed, the expiry timer not yet run


async def facts_of(
    session: AsyncSession, principal: Principal, registrations: Sequence[DealRegistration]
) -> dict[uuid.UUID, Facts]:
    """Facts for a page of registrations in four queries, however long the page."""
    repo = RegistrationRepository(session, principal)
    ids = [r.id for r in registrations]
    programs = await repo.programs({r.program_id for r in registrations})
    lengths = await repo.chain_lengths({r.original_id or r.id for r in registrations})
    resubmitted = await repo.resubmitted(ids)
    pending = await repo.with_pending_extension(ids)
    now = session.info["clock"].now()
    return {
        r.id: Facts(
            program=programs[r.program_id],
            pending_extension=r.id in pending,
            resubmissions_used=lengths.get(r.original_id or r.id, 1) - 1,
            resubmitted=r.id in resubmitted,
            protection_ended=protection_ended(r, now),
        )
        for r in registrations
    }


def allowed_actions(registration: DealRegistration, principal: Principal, facts: Facts) -> list[str]:
    """The actions `principal` may take on `registration` now, in the order a page shows them."""
    if principal.is_partner:
        if principal.partner_id != registration.partner_id:
            return []
        return _partner_actions(registration, facts)
    if manager_may_review(principal):
        return _reviewer_actions(registration, principal, facts)
    return []  # leadership reads


def _partner_actions(registration: DealRegistration, facts: Facts) -> list[str]:
    state = registration.state
    if state is S.DRAFT:
        return ["edit", "submit", "cancel"]
    if state is S.SUBMITTED:
        return ["cancel"]
    if state is S.APPROVED:
        if facts.protection_ended:
            return []  # nothing until the expiry timer marks it expired (then: resubmit)
        terms = terms_of(registration, facts.program)
        extend = registration.extensions_used < terms["max_extensions"] and not facts.pending_extension
        return ["close_won", "close_lost"] + (["request_extension"] if extend else [])
    if state is S.WON and registration.proof_status is ProofStatus.REJECTED:
        return ["close_won"]  # send the proof again
    left = facts.program.max_resubmissions - facts.resubmissions_used
    return ["resubmit"] if state in RESUBMITTABLE and not facts.resubmitted and left > 0 else []


def _reviewer_actions(registration: DealRegistration, principal: Principal, facts: Facts) -> list[str]:
    actions = []
    if registration.state is S.SUBMITTED:
        if may_approve(registration, principal, facts.program):
            actions.append("approve")
        actions += ["reject", "mark_duplicate"]
    if facts.pending_extension:
        actions.append("decide_extension")
    if registration.proof_status is ProofStatus.SUBMITTED:
        actions.append("decide_proof")
    return actions


def may_approve(registration: DealRegistration, principal: Principal, program: DealProgram) -> bool:
    """After a first approval, the second is another person's (a vendor admin's when the program
    says so)."""
    rules = rules_of(program)
    if registration.first_approved_at is None or not needs_second_approval(rules, registration.estimated_amount_minor):
        return True
    if registration.first_approved_by_id == principal.user_id:
        return False
    second = rules.second_approval
    return not (second is not None and second.approver == "vendor_admin" and principal.role is not Role.VENDOR_ADMIN)


async def actions_for(
    session: AsyncSession, principal: Principal, registrations: Sequence[DealRegistration]
) -> dict[uuid.UUID, list[str]]:
    facts = await facts_of(session, principal, registrations)
    return {r.id: allowed_actions(r, principal, facts[r.id]) for r in registrations}
