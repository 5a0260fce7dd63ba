"""What the deal pages show about a registration: both clocks, products, history, extensions, credit.

Partners and reviewers see the same registration view; `views.read_one` decides how much of
the conflicts each may see (kinds only for partners, everything for staff).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.auth import Principal
from prm.core.history import history_of
from prm.core.pagination import PageRequest
from prm.credits.models import Credit
from prm.credits.service import CreditRepository
from prm.crm.services.directory import emails_of
from prm.deal_registration import views
from prm.deal_registration.models import (
    DealProgram,
    DealRegistration,
    ExtensionRequest,
    ExtensionStatus,
    ProofStatus,
    RegistrationState,
)
from prm.deal_registration.repository import RegistrationRepository
from prm.deal_registration.schemas import ConflictHint, ProtectionTerms, RegistrationRead
from prm.deal_registration.service.state import ENTITY
from prm.portal.deals.queries import product_labels

S = RegistrationState
HISTORY_SHOWN = 200
ACTIONS = {
    "created": "Created",
    "updated": "Draft edited",
    "submit": "Submitted for review",
    "resubmitted": "Resubmitted",
    "approve": "Approved",
    "first_approval": "First of two approvals",
    "protection_override": "Protection overridden",
    "reject": "Not approved",
    "cancel": "Cancelled",
    "review_overdue": "Review overdue, escalated",
    "expiry_reminder_sent": "Expiry reminder sent",
    "expire": "Protection expired",
    "extension_requested": "Extension requested",
    "extension_approved": "Extension approved",
    "extension_rejected": "Extension declined",
    "close_won": "Closed won",
    "close_lost": "Closed lost",
    "proof_resubmitted": "Proof sent again",
    "proof_verified": "Proof verified",
    "proof_rejected": "Proof refused",
}
HINT_KINDS = {
    "registration": "another live deal registration",
    "opportunity": "an open partner opportunity",
    "direct_opportunity": "an open direct opportunity of the vendor",
}
MATCHED_ON = {"name": "company name", "domain": "web domain"}
OVERRIDE_REASONS = {
    "co_sell": "Co-sell: both partners work the deal together",
    "different_scope": "Different scope: another part of the customer",
    "customer_request": "The customer asked for this partner",
    "holder_inactive": "The protected partner is not working the deal",
}
REJECTION_REASONS = {
    "duplicate": "Duplicate",
    "incomplete": "Incomplete",
    "not_eligible": "Not eligible",
    "existing_direct_opportunity": "Existing direct opportunity",
    "customer_not_qualified": "Customer not qualified",
    "other": "Other",
}


def span(delta: timedelta) -> str:
    """A duration as a person says it: "12 days", "47 h", "25 min" (hours up to three days)."""
    seconds = max(0, int(delta.total_seconds()))
    if seconds >= 3 * 86_400:
        return f"{seconds // 86_400} days"
    if seconds >= 3_600:
        return f"{seconds // 3_600} h"
    return f"{max(1, seconds // 60)} min"


@dataclass(frozen=True)
class ReviewClock:
    due_at: datetime
    status: str  # running | overdue | decided | stopped
    text: str
    decided_at: datetime | None = None


def review_clock(read: RegistrationRead, now: datetime) -> ReviewClock | None:
    due = read.review_due_at
    if due is None:
        return None
    if read.state is S.SUBMITTED:
        if now >= due or read.overdue_at is not None:
            return ReviewClock(due, "overdue", f"overdue by {span(now - due)}")
        return ReviewClock(due, "running", f"{span(due - now)} left")
    if read.decided_at is not None:
        return ReviewClock(due, "decided", "decided", read.decided_at)
    return ReviewClock(due, "stopped", read.state.value)


@dataclass(frozen=True)
class ProtectionClock:
    expires_at: datetime
    status: str  # running | ending (inside the reminder window) | expired | closed
    text: str
    left: str = ""  # "80 days", "5 h" while it runs


def protection_clock(read: RegistrationRead, now: datetime) -> ProtectionClock | None:
    expires = read.expires_at
    if expires is None:
        return None
    if read.state is S.APPROVED and now < expires:
        left = expires - now
        ending = read.remind_at is not None and now >= read.remind_at
        status = "ending" if ending else "running"
        return ProtectionClock(expires, status, f"{span(left)} left", span(left))
    if read.state in (S.APPROVED, S.EXPIRED):
        return ProtectionClock(expires, "expired", "expired")
    return ProtectionClock(expires, "closed", f"closed {read.state.value}")


def hint_text(hint: ConflictHint) -> str:
    matched = " and ".join(MATCHED_ON.get(m, m) for m in hint.matched_on) or "customer"
    return f"{HINT_KINDS.get(hint.kind.value, hint.kind.value)} (matched on {matched})"


@dataclass(frozen=True)
class HistoryRow:
    at: datetime
    action: str
    actor: str
    change: str | None
    note: str | None


async def history(session: AsyncSession, principal: Principal, registration_id: uuid.UUID) -> list[HistoryRow]:
    repo = RegistrationRepository(session, principal)
    oldest_first = PageRequest(limit=HISTORY_SHOWN, sort="at")
    entries = await history_of(session, repo, registration_id, oldest_first, entity=ENTITY)
    emails = await emails_of(session, [e.actor_id for e in entries.items if e.actor_id])
    rows = []
    for entry in entries.items:
        state = entry.changes.get("state")
        change = f"{state[0] or '—'} → {state[1]}" if isinstance(state, list) and len(state) == 2 else None
        actor = emails.get(entry.actor_id, "a user") if entry.actor_id else "automatic"
        rows.append(HistoryRow(entry.at, ACTIONS.get(entry.action, entry.action), actor, change, entry.note))
    return rows


@dataclass
class RegistrationView:
    read: RegistrationRead
    program: DealProgram
    products: list[tuple[str, int]]
    review: ReviewClock | None
    protection: ProtectionClock | None
    extensions: list[ExtensionRequest]
    credits: list[Credit]
    history: list[HistoryRow]
    resubmissions_left: int
    previous: DealRegistration | None
    replaced_by: DealRegistration | None

    @property
    def pending_extension(self) -> ExtensionRequest | None:
        return next((e for e in self.extensions if e.status is ExtensionStatus.PENDING), None)

    @property
    def terms(self) -> ProtectionTerms:
        """The terms the registration was approved under; the program's own until it is approved."""
        if self.read.terms is not None:
            return self.read.terms
        program = self.program
        return ProtectionTerms(
            protection_days=program.protection_days,
            reminder_days=program.reminder_days,
            extension_days=program.extension_days,
            max_extensions=program.max_extensions,
            margin_bps=program.margin_bps,
        )

    @property
    def extensions_left(self) -> int:
        return max(0, self.terms.max_extensions - self.read.extensions_used)

    @property
    def proof_waiting(self) -> bool:
        return self.read.proof_status is ProofStatus.SUBMITTED


async def registration_view(
    session: AsyncSession, principal: Principal, registration_id: uuid.UUID
) -> RegistrationView:
    """Everything a registration page shows; 404 when the viewer may not see the registration."""
    now = now_of(session)
    repo = RegistrationRepository(session, principal)
    registration = await repo.get(registration_id)
    read = await views.read_one(session, principal, registration)
    program = await session.get(DealProgram, read.program_id)
    assert program is not None  # a foreign key
    names = await product_labels(session, principal, [line.product_id for line in read.products])
    used = await repo.chain_length(read.original_id or read.id) - 1
    previous, replaced_by = await RegistrationRepository(session, principal).chain_links(registration)
    return RegistrationView(
        read=read,
        program=program,
        products=[(names.get(str(line.product_id), str(line.product_id)), line.quantity) for line in read.products],
        review=review_clock(read, now),
        protection=protection_clock(read, now),
        extensions=await repo.extensions(read.id),
        credits=await CreditRepository(session, principal).of_source(ENTITY, read.id),
        history=await history(session, principal, read.id),
        resubmissions_left=max(0, program.max_resubmissions - used),
        previous=previous,
        replaced_by=replaced_by,
    )


def now_of(session: AsyncSession) -> datetime:
    """The injected clock's now (the same clock the services stamp their changes with)."""
    now: datetime = session.info["clock"].now()
    return now
