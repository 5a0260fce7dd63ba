"""Signing in: the password checked behind the shared throttle, failures kept in the history.

Used by the API's password grant and the portal's login form alike. Each step is its own short
unit of work, so the throttle's count is committed before the password is checked (a refused
reply rolls nothing back) and no transaction is held while Argon2 works.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from prm.core.activity import record_activity
from prm.core.db import Database
from prm.core.errors import DomainError
from prm.core.passwords import hash_password, needs_rehash, verify_password
from prm.core.throttle import Throttle, retry_after
from prm.crm.models import User
from prm.crm.repository import UserRepository
from prm.settings import Settings

# Failed sign-ins for an email no user has are kept under an id derived from the email.
_UNKNOWN_ACCOUNTS = uuid.UUID("6f1d3c0e-8a4b-4f7e-9c2d-5b0a1e3f7d94")


class TooManyAttempts(DomainError):
    status_code = 429
    title = "Too many requests"
    type_slug = "too-many-attempts"

    def __init__(self, wait_seconds: float) -> None:
        self.retry_after = retry_after(wait_seconds)
        super().__init__(
            f"Too many failed sign-ins; try again in {self.retry_after} seconds.",
            headers={"Retry-After": self.retry_after},
        )


@dataclass(frozen=True)
class SignInLimits:
    """How many failures each key may have before every further one waits a growing delay."""

    account_failures: int
    client_failures: int

    @classmethod
    def from_settings(cls, settings: Settings) -> SignInLimits:
        return cls(account_failures=settings.signin_account_failures, client_failures=settings.signin_client_failures)


async def sign_in(
    db: Database, throttle: Throttle, limits: SignInLimits, *, email: str, password: str, client: str
) -> User | None:
    """The active user with these credentials, or None (the same for an unknown email, a wrong
    password and an inactive user, in answer and in time); TooManyAttempts while throttled."""
    email = email.strip().lower()
    account_key, client_key = f"account:{email}", f"client:{client}"
    # The address first: a blocked address's guesses never count against the account it aims at.
    for key, free in ((client_key, limits.client_failures), (account_key, limits.account_failures)):
        wait = await throttle.reserve(key, free=free)
        if wait is not None:
            raise TooManyAttempts(wait)
    async with db.unit_of_work() as session:
        user = await UserRepository.by_email(session, email)
    # An unknown email is checked against a dummy hash, so it takes as long as a wrong password.
    ok = verify_password(user.password_hash if user else None, password) and user is not None and user.active
    if user is None or not ok:
        await _record_failure(db, user, email=email, client=client)
        return None
    await _record_success(db, user, password)
    await throttle.reset(account_key)
    await throttle.refund(client_key)
    return user


async def _record_success(db: Database, user: User, password: str) -> None:
    async with db.unit_of_work() as session:
        row = await session.get_one(User, user.id)
        if row.password_hash and needs_rehash(row.password_hash):
            row.password_hash = hash_password(password)
        row.last_login_at = session.info["clock"].now()
        user.last_login_at = row.last_login_at


async def _record_failure(db: Database, user: User | None, *, email: str, client: str) -> None:
    async with db.unit_of_work() as session:
        record_activity(
            session,
            entity_type="user" if user else "unknown_account",
            entity_id=user.id if user else uuid.uuid5(_UNKNOWN_ACCOUNTS, email),
            action="signin_failed",
            actor=None,
            note=f"from {client}" if user else f"{email[:200]} from {client}",
        )
