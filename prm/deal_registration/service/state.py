"""The registration state machine and what every transition leaves behind.

Each transition is checked against the state it may start from (409 with the current state
otherwise) and the version the caller read (409 if someone moved first), then recorded with
who, when (UTC), from/to and why in the history, and published as a webhook event.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.activity import record_activity
from prm.core.auth import Principal
from prm.core.changes import expect_version
from prm.core.errors import Conflict
from prm.core.records import state_changed
from prm.core.webhooks import publish_event
from prm.deal_registration.models import DealRegistration, RegistrationState, registration_snapshot

S = RegistrationState
ALLOWED: dict[str, tuple[frozenset[RegistrationState], RegistrationState]] = {
    "submit": (frozenset({S.DRAFT}), S.SUBMITTED),
    "cancel": (frozenset({S.DRAFT, S.SUBMITTED}), S.CANCELLED),
    "approve": (frozenset({S.SUBMITTED}), S.APPROVED),
    "reject": (frozenset({S.SUBMITTED}), S.REJECTED),
    "close_won": (frozenset({S.APPROVED}), S.WON),
    "close_lost": (frozenset({S.APPROVED}), S.LOST),
}
ENTITY = "deal_registration"


def ensure_state(registration: DealRegistration, action: str, allowed: frozenset[RegistrationState]) -> None:
    if registration.state not in allowed:
        raise Conflict(
            f"Cannot {action.replace('_', ' ')} registration {registration.number}: it is {registration.state.value}.",
            current_state=registration.state.value,
        )


def protection_ended(registration: DealRegistration, now: datetime) -> bool:
    """An approval's protection ends at expires_at, whether or not the expiry timer has run yet."""
    expires_at = registration.expires_at
    return registration.state is S.APPROVED and expires_at is not None and expires_at <= now


def ensure_protected(registration: DealRegistration, action: str, now: datetime) -> None:
    """What an approval allows (closing, extending) ends with its protection: 409, as expired."""
    if protection_ended(registration, now):
        raise Conflict(
            f"Cannot {action.replace('_', ' ')} registration {registration.number}: its protection ended at "
            f"{registration.expires_at:%Y-%m-%d %H:%M:%S} UTC.",
            current_state=S.EXPIRED.value,
        )


async def transition(
    session: AsyncSession,
    registration: DealRegistration,
    action: str,
    *,
    actor: Principal | None,
    expected_version: int | None,
    reason: str | None = None,
) -> None:
    allowed, target = ALLOWED[action]
    if expected_version is not None:
        expect_version(registration, expected_version)
    ensure_state(registration, action, allowed)
    ensure_protected(registration, action, session.info["clock"].now())
    before = registration.state
    registration.state = target
    await session.flush()  # the versioned UPDATE: a concurrent decision loses here with 409
    await record_event(session, registration, action, actor=actor, before=before, reason=reason)


async def record_event(
    session: AsyncSession,
    registration: DealRegistration,
    action: str,
    *,
    actor: Principal | None,
    before: RegistrationState | None = None,
    reason: str | None = None,
    shown_state: RegistrationState | None = None,
) -> None:
    """History and webhook event of one step; `shown_state` is the state the step left the
    registration in, when a later step of the same request has already moved it on."""
    changes = {"state": [before.value if before else None, registration.state.value]} if before else {}
    record_activity(
        session, entity_type=ENTITY, entity_id=registration.id, action=action, actor=actor, changes=changes, note=reason
    )
    snapshot = registration_snapshot(registration)
    if shown_state is not None:
        snapshot["state"] = shown_state.value
    await publish_event(session, f"deal_registration.{action}", snapshot | {"reason": reason})
    await state_changed(session, registration, entity=ENTITY)
