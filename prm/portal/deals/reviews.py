"""Channel manager console: the review queue, one registration beside its conflicts, the decisions.

Reviewers see each conflict in full (the other partner, its number, state, amount and why it
matched) next to the registration, so a decision never needs a second window. Decisions are
the review services' own; a stale or illegal one comes back as a message on the page.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.params import Parameter
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.auth import Principal, Role
from prm.core.pagination import PageRequest
from prm.crm.models import Opportunity
from prm.crm.services.directory import partner_names
from prm.deal_registration import views
from prm.deal_registration.models import ConflictKind, DealRegistration, ExtensionRequest, RegistrationState
from prm.deal_registration.repository import RegistrationRepository
from prm.deal_registration.schemas import (
    Approve,
    ConflictRead,
    ExtensionDecision,
    MarkDuplicate,
    ProofDecision,
    Reject,
)
from prm.deal_registration.service import closing, protection, review
from prm.deal_registration.service.rules import rules_of
from prm.portal.connect.records import external_sharing
from prm.portal.deals.actions import document_response
from prm.portal.deals.queries import WORK_SHOWN, product_labels, visible_account, visible_opportunity
from prm.portal.deals.views import (
    MATCHED_ON,
    OVERRIDE_REASONS,
    REJECTION_REASONS,
    RegistrationView,
    now_of,
    registration_view,
    review_clock,
)
from prm.portal.shell.attempts import GENERAL, Refuse, run_form, text_of, version_of
from prm.portal.shell.money import format_minor
from prm.portal.shell.session import page_allow
from prm.portal.shell.templating import page

REVIEWER_PAGES = [page_allow(Role.CHANNEL_MANAGER, Role.VENDOR_ADMIN)]
QUEUE_PAGE_SIZE = 25
Cursor = Annotated[str | None, Parameter(max_length=500)]
KIND_LABELS = {
    ConflictKind.REGISTRATION: "Deal registration",
    ConflictKind.OPPORTUNITY: "Partner opportunity",
    ConflictKind.DIRECT_OPPORTUNITY: "Direct opportunity",
}
# "duplicate" has its own form, which names the registration this one duplicates.
REJECT_REASONS = {k: v for k, v in REJECTION_REASONS.items() if k != "duplicate"}
NOTICES = {
    "approved": "Approved. The partner is told, and the protection clock has started.",
    "first_approved": "First approval recorded. A second, different approver completes it.",
    "rejected": "Not approved. The partner reads your reason and explanation.",
    "duplicate": "Marked as a duplicate. The partner is told which reason applies.",
    "extension_approved": "Extension approved: the protection now ends later.",
    "extension_rejected": "Extension declined. The partner is told.",
    "proof_verified": "Proof verified. The margin credit is in the partner's ledger.",
    "proof_rejected": "Proof refused. The partner may send it again.",
}
CHOOSE_REASON = "Choose the reason that applies."
CHOOSE_DUPLICATE = "Choose the registration this one duplicates."
EXPLANATION_MESSAGE = "Explain the decision to the partner in at least 3 characters (at most 2,000)."
NOTE_MESSAGE = "A note has at most 2,000 characters."


# The queue ---------------------------------------------------------------------------------------


@get("/reviews", name="reviews", guards=REVIEWER_PAGES)
async def review_queue(db_session: AsyncSession, principal: Principal, cursor: Cursor = None) -> Response[Any]:
    request = PageRequest(limit=QUEUE_PAGE_SIZE, cursor=cursor, sort="review_due_at")
    rows, next_cursor = await review.review_queue(db_session, principal=principal, page=request)
    reads = await views.read_many(db_session, principal, rows)
    registrations = RegistrationRepository(db_session, principal)
    proof = await registrations.proof_to_verify(WORK_SHOWN)
    extensions = await registrations.pending_extensions(WORK_SHOWN)
    partner_ids = [r.partner_id for r in reads] + [r.partner_id for r in proof] + [r.partner_id for r, _ in extensions]
    now = now_of(db_session)
    return page(
        "reviews_queue.html",
        principal,
        queue=[(read, review_clock(read, now)) for read in reads],
        next_cursor=next_cursor,
        first_page=cursor is None,
        proof=proof,
        extensions=extensions,
        partners=await partner_names(db_session, partner_ids),
    )


# One registration beside its conflicts -------------------------------------------------------------


@dataclass(frozen=True)
class ConflictColumn:
    """One conflict as a column of the side-by-side comparison."""

    conflict: ConflictRead
    kind: str
    partner: str
    customer: str | None
    domain: str | None
    amount: str
    matched_on: list[str]
    products: list[str]
    opportunity: Opportunity | None


async def conflict_columns(session: AsyncSession, principal: Principal, view: RegistrationView) -> list[ConflictColumn]:
    conflicts = view.read.conflicts
    others = await RegistrationRepository(session, principal).unscoped(
        [c.other_registration_id for c in conflicts if c.other_registration_id]
    )
    names = await product_labels(session, principal, [p for c in conflicts for p in c.overlapping_product_ids])
    columns = []
    for conflict in conflicts:
        other = others.get(conflict.other_registration_id) if conflict.other_registration_id else None
        opportunity, account = None, None
        if conflict.other_opportunity_id is not None:
            opportunity = await visible_opportunity(session, principal, conflict.other_opportunity_id)
        if opportunity is not None:
            account = await visible_account(session, principal, opportunity.account_id)
        columns.append(
            ConflictColumn(
                conflict=conflict,
                kind=KIND_LABELS.get(conflict.kind, conflict.kind.value),
                partner=await _owner(session, conflict, opportunity),
                customer=conflict.other_customer_name or (account.name if account else None),
                domain=other.customer_domain if other else (account.domain if account else None),
                amount=_amount_of(conflict, other.currency if other else None, opportunity),
                matched_on=[MATCHED_ON.get(m, m) for m in conflict.matched_on],
                products=[names.get(p, p) for p in conflict.overlapping_product_ids],
                opportunity=opportunity,
            )
        )
    return columns


async def _owner(session: AsyncSession, conflict: ConflictRead, opportunity: Opportunity | None) -> str:
    if conflict.other_partner_name:
        return conflict.other_partner_name
    if conflict.kind is ConflictKind.DIRECT_OPPORTUNITY:
        return "The vendor (direct sales)"
    if opportunity is not None and opportunity.partner_id is not None:
        return (await partner_names(session, [opportunity.partner_id])).get(opportunity.partner_id, "—")
    return "A partner you do not manage"  # the opportunity is outside the reviewer's scope


def _amount_of(conflict: ConflictRead, currency: str | None, opportunity: Opportunity | None) -> str:
    if conflict.other_amount_minor is not None and currency:
        return format_minor(conflict.other_amount_minor, currency)
    if opportunity is not None:
        return format_minor(opportunity.amount_minor, opportunity.currency)
    return "—"


async def _review_page(
    session: AsyncSession,
    principal: Principal,
    registration_id: uuid.UUID,
    *,
    done: str | None = None,
    action: str | None = None,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response[Any]:
    view = await registration_view(session, principal, registration_id)
    errors = errors or {}
    partner = (await partner_names(session, [view.read.partner_id])).get(view.read.partner_id, "—")
    return page(
        "reviews_detail.html",
        principal,
        status_code=status_code,
        view=view,
        read=view.read,
        partner=partner,
        columns=await conflict_columns(session, principal, view),
        actions=view.read.allowed_actions,
        second_approver=second.approver if (second := rules_of(view.program).second_approval) else None,
        reasons=REJECT_REASONS,
        reasons_text=REJECTION_REASONS,
        override_reasons=OVERRIDE_REASONS,
        notice=NOTICES.get(done or ""),
        action=action,
        errors=errors,
        first_error=next((k for k in errors if k != GENERAL), None),
        values=values or {},
        external=await external_sharing(
            session, principal, "opportunity", view.read.opportunity_id, back=f"/reviews/{registration_id}"
        ),
    )


@get("/reviews/{registration_id:uuid}", name="review", guards=REVIEWER_PAGES)
async def review_detail(
    db_session: AsyncSession,
    principal: Principal,
    registration_id: uuid.UUID,
    done: Annotated[str | None, Parameter(max_length=30)] = None,
) -> Response[Any]:
    return await _review_page(db_session, principal, registration_id, done=done)


@get("/reviews/{registration_id:uuid}/proof", guards=REVIEWER_PAGES, media_type="application/octet-stream")
async def review_proof_document(
    db_session: AsyncSession, principal: Principal, registration_id: uuid.UUID
) -> Response[bytes]:
    return await document_response(db_session, principal, registration_id)


# Decisions -------------------------------------------------------------------------------------------


def _answers(
    session: AsyncSession, principal: Principal, registration_id: uuid.UUID, action: str, values: dict[str, str]
) -> tuple[Refuse, Callable[[str], Response[Any]]]:
    """How a decision form is answered: the page again with its messages, or back to the page."""

    async def refuse(status: int, errors: dict[str, str]) -> Response[Any]:
        return await _review_page(
            session, principal, registration_id, action=action, errors=errors, values=values, status_code=status
        )

    def worked(done: str) -> Response[Any]:
        return Redirect(f"/reviews/{registration_id}?done={done}", status_code=303)

    return refuse, worked


@post("/reviews/{registration_id:uuid}/approve", guards=REVIEWER_PAGES)
async def approve(
    request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, registration_id: uuid.UUID
) -> Response[Any]:
    raw = await request.form()
    values = {"note": text_of(raw, "note"), "override_reason": text_of(raw, "override_reason")}
    refuse, worked = _answers(db_session, principal, registration_id, "approve", values)

    async def call(data: Approve) -> DealRegistration:
        return await review.approve(db_session, principal=principal, registration_id=registration_id, data=data)

    def done(registration: DealRegistration) -> Response[Any]:
        return worked("approved" if registration.state is RegistrationState.APPROVED else "first_approved")

    return await run_form(
        db_session,
        Approve,
        {
            "expected_version": version_of(raw),
            "note": values["note"] or None,
            "override_reason": values["override_reason"] or None,
        },
        messages={"note": NOTE_MESSAGE, "override_reason": "Choose a reason from the list."},
        call=call,
        refuse=refuse,
        worked=done,
    )


@post("/reviews/{registration_id:uuid}/reject", guards=REVIEWER_PAGES)
async def reject(
    request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, registration_id: uuid.UUID
) -> Response[Any]:
    raw = await request.form()
    values = {"reason": text_of(raw, "reason"), "explanation": text_of(raw, "explanation")}
    refuse, worked = _answers(db_session, principal, registration_id, "reject", values)
    if values["reason"] not in REJECT_REASONS:  # a duplicate is marked with its own form, naming the original
        return await refuse(400, {"reason": CHOOSE_REASON})

    async def call(data: Reject) -> DealRegistration:
        return await review.reject(db_session, principal=principal, registration_id=registration_id, data=data)

    return await run_form(
        db_session,
        Reject,
        {"expected_version": version_of(raw), **values},
        messages={"reason": CHOOSE_REASON, "explanation": EXPLANATION_MESSAGE},
        call=call,
        refuse=refuse,
        worked=lambda _: worked("rejected"),
    )


@post("/reviews/{registration_id:uuid}/duplicate", guards=REVIEWER_PAGES)
async def mark_duplicate(
    request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, registration_id: uuid.UUID
) -> Response[Any]:
    raw = await request.form()
    values = {"duplicate_of_id": text_of(raw, "duplicate_of_id"), "explanation": text_of(raw, "explanation")}
    refuse, worked = _answers(db_session, principal, registration_id, "duplicate", values)

    async def call(data: MarkDuplicate) -> DealRegistration:
        return await review.mark_duplicate(db_session, principal=principal, registration_id=registration_id, data=data)

    return await run_form(
        db_session,
        MarkDuplicate,
        {"expected_version": version_of(raw), **values},
        messages={
            "duplicate_of_id": "Choose the registration this one duplicates.",
            "explanation": EXPLANATION_MESSAGE,
        },
        call=call,
        refuse=refuse,
        worked=lambda _: worked("duplicate"),
    )


@post("/reviews/{registration_id:uuid}/extensions/{extension_id:uuid}", guards=REVIEWER_PAGES)
async def decide_extension(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    principal: Principal,
    registration_id: uuid.UUID,
    extension_id: uuid.UUID,
) -> Response[Any]:
    raw = await request.form()
    values = {"note": text_of(raw, "note")}
    approve_it = text_of(raw, "decision") == "approve"
    refuse, worked = _answers(db_session, principal, registration_id, "extension", values)

    async def call(data: ExtensionDecision) -> ExtensionRequest:
        return await protection.decide_extension(
            db_session, principal=principal, registration_id=registration_id, extension_id=extension_id, data=data
        )

    return await run_form(
        db_session,
        ExtensionDecision,
        {"approve": approve_it, "note": values["note"] or None},
        messages={"note": NOTE_MESSAGE},
        call=call,
        refuse=refuse,
        worked=lambda _: worked("extension_approved" if approve_it else "extension_rejected"),
    )


@post("/reviews/{registration_id:uuid}/proof", guards=REVIEWER_PAGES)
async def decide_proof(
    request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, registration_id: uuid.UUID
) -> Response[Any]:
    raw = await request.form()
    values = {"note": text_of(raw, "note")}
    verify = text_of(raw, "decision") == "verify"
    refuse, worked = _answers(db_session, principal, registration_id, "proof", values)
    if not verify and not values["note"]:
        # The API allows a bare refusal; the console asks for the reason the partner will read.
        return await refuse(400, {"note": "Say what is wrong with the proof, so the partner can fix it."})

    async def call(data: ProofDecision) -> DealRegistration:
        return await closing.decide_proof(db_session, principal=principal, registration_id=registration_id, data=data)

    return await run_form(
        db_session,
        ProofDecision,
        {"expected_version": version_of(raw), "approve": verify, "note": values["note"] or None},
        messages={"note": NOTE_MESSAGE},
        call=call,
        refuse=refuse,
        worked=lambda _: worked("proof_verified" if verify else "proof_rejected"),
    )


REVIEW_PAGE_HANDLERS: list[Any] = [
    review_queue,
    review_detail,
    review_proof_document,
    approve,
    reject,
    mark_duplicate,
    decide_extension,
    decide_proof,
]
