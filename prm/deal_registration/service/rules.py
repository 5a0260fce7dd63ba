"""Programs that decide by rules: auto-approve the clear cases, auto-reject what the program does
not take, and a second approver above an amount.

The rules live on the program (a JSON column, read through the `ApprovalRules` Struct); vendor
admins set them, staff read them. The verdicts here are pure: the review service carries them
out exactly as a person's decision (history, review clock, emails), naming the rule.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.activity import record_activity
from prm.core.auth import Principal, Role
from prm.core.changes import expect_version
from prm.core.errors import Forbidden, RuleViolation
from prm.deal_registration.conflicts import FoundConflict
from prm.deal_registration.models import ConflictKind, DealProgram, DealRegistration, RejectionReason
from prm.deal_registration.repository import ProgramRepository
from prm.deal_registration.schemas import ApprovalRules, ApprovalRulesRead, ApprovalRulesUpdate

# "Complete" for auto-approval: everything a reviewer would otherwise ask for (products too).
COMPLETE_FIELDS = (
    "customer_country",
    "contact_name",
    "contact_email",
    "estimated_amount_minor",
    "expected_close_date",
    "current_situation",
)


def rules_of(program: DealProgram) -> ApprovalRules:
    return msgspec.convert(program.approval_rules or {}, ApprovalRules)


def rules_read(program: DealProgram) -> ApprovalRulesRead:
    rules = rules_of(program)
    return ApprovalRulesRead(
        program_id=program.id,
        version=program.version,
        auto_approve=rules.auto_approve,
        auto_reject=rules.auto_reject,
        second_approval=rules.second_approval,
    )


async def get_rules(session: AsyncSession, *, principal: Principal, program_id: uuid.UUID) -> ApprovalRulesRead:
    if principal.is_partner:
        raise Forbidden("Approval rules are the vendor's.")
    return rules_read(await ProgramRepository(session, principal).get(program_id))


async def set_rules(
    session: AsyncSession, *, principal: Principal, program_id: uuid.UUID, data: ApprovalRulesUpdate
) -> ApprovalRulesRead:
    """Replace the program's rules as a whole (what is left out is off), recorded in its history."""
    program = await ProgramRepository(session, principal).get(program_id)
    expect_version(program, data.expected_version)
    rules = ApprovalRules(
        auto_approve=data.auto_approve, auto_reject=data.auto_reject, second_approval=data.second_approval
    )
    _check_consistent(rules)
    before, after = program.approval_rules, msgspec.to_builtins(rules, order="sorted")
    program.approval_rules = after
    program.updated_at = session.info["clock"].now()  # the versioned UPDATE, even if only JSON changed
    await session.flush()
    record_activity(
        session,
        entity_type="deal_program",
        entity_id=program.id,
        action="approval_rules_set",
        actor=principal,
        changes={"approval_rules": [before, after]},
    )
    return rules_read(program)


def _check_consistent(rules: ApprovalRules) -> None:
    approve, second = rules.auto_approve, rules.second_approval
    if approve and second and approve.max_amount_minor > second.above_minor:
        raise RuleViolation(
            "Auto-approval cannot reach above the second-approval amount: "
            f"max_amount_minor {approve.max_amount_minor} > above_minor {second.above_minor}.",
            field="auto_approve.max_amount_minor",
        )


@dataclass(frozen=True)
class Verdict:
    """What a rule decided, and why, in words for the history and the partner's email."""

    rule: str
    approve: bool
    why: str
    rejection: RejectionReason | None = None


def _money(amount: int, currency: str) -> str:
    return f"{amount / 100:,.2f} {currency}"


def auto_verdict(
    rules: ApprovalRules,
    registration: DealRegistration,
    *,
    tier: str | None,
    product_count: int,
    conflicts: Sequence[FoundConflict],
) -> Verdict | None:
    """The first rule that decides a just-submitted registration; None leaves it to a person."""
    return _reject_verdict(rules, registration, conflicts) or _approve_verdict(
        rules, registration, tier=tier, product_count=product_count, conflicts=conflicts
    )


def _reject_verdict(
    rules: ApprovalRules, registration: DealRegistration, conflicts: Sequence[FoundConflict]
) -> Verdict | None:
    reject = rules.auto_reject
    if reject is None:
        return None
    country = registration.customer_country
    if reject.countries and country and country not in reject.countries:
        allowed = ", ".join(sorted(reject.countries))
        why = f"the customer's country {country} is outside the program's countries ({allowed})"
        return Verdict("auto_reject.countries", False, why, RejectionReason.NOT_ELIGIBLE)
    if reject.existing_direct_opportunity and any(c.kind is ConflictKind.DIRECT_OPPORTUNITY for c in conflicts):
        why = "the vendor already has an open direct opportunity with this customer"
        return Verdict(
            "auto_reject.existing_direct_opportunity", False, why, RejectionReason.EXISTING_DIRECT_OPPORTUNITY
        )
    return None


def _approve_verdict(
    rules: ApprovalRules,
    registration: DealRegistration,
    *,
    tier: str | None,
    product_count: int,
    conflicts: Sequence[FoundConflict],
) -> Verdict | None:
    approve = rules.auto_approve
    amount = registration.estimated_amount_minor
    if approve is None or tier not in approve.tiers or amount is None or amount > approve.max_amount_minor:
        return None
    if needs_second_approval(rules, amount) or conflicts or product_count == 0:
        return None
    if any(getattr(registration, name) in (None, "") for name in COMPLETE_FIELDS):
        return None
    why = (
        f"tier {tier} is eligible, the amount {_money(amount, registration.currency)} is at most "
        f"{_money(approve.max_amount_minor, registration.currency)}, no conflict, every field filled"
    )
    return Verdict("auto_approve", True, why)


def needs_second_approval(rules: ApprovalRules, amount: int | None) -> bool:
    second = rules.second_approval
    return second is not None and amount is not None and amount > second.above_minor


def check_second_approver(rules: ApprovalRules, registration: DealRegistration, principal: Principal) -> None:
    """The second approval comes from another person, and a vendor admin when the program says so."""
    if registration.first_approved_by_id == principal.user_id:
        raise RuleViolation(f"{registration.number} needs a second approval from another person; you gave the first.")
    second = rules.second_approval
    if second is not None and second.approver == "vendor_admin" and principal.role is not Role.VENDOR_ADMIN:
        raise RuleViolation(f"The second approval of {registration.number} is a vendor admin's.")
