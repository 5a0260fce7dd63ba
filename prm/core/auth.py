"""Who is calling: roles, the principal, the bearer-token middleware and role guards.

The tenant filter itself lives in `prm.core.tenancy` and is applied by repositories.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.enums import HttpMethod
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware.authentication import AbstractAuthenticationMiddleware, AuthenticationResult

from prm.core.tokens import InvalidToken, TokenService


class Role(StrEnum):
    VENDOR_ADMIN = "vendor_admin"
    CHANNEL_MANAGER = "channel_manager"
    PARTNER_ADMIN = "partner_admin"
    PARTNER_USER = "partner_user"
    LEADERSHIP = "leadership"


PARTNER_ROLES = frozenset({Role.PARTNER_ADMIN, Role.PARTNER_USER})
VENDOR_ROLES = frozenset({Role.VENDOR_ADMIN, Role.CHANNEL_MANAGER, Role.LEADERSHIP})
ACCESS_TOKEN = "access"  # noqa: S105 - a token type, not a secret


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: uuid.UUID
    role: Role
    partner_id: uuid.UUID | None
    email: str = ""
    # The user's session epoch when the token was issued (see `LiveSessions`).
    epoch: int = 0

    @property
    def is_partner(self) -> bool:
        return self.role in PARTNER_ROLES

    @property
    def is_vendor_admin(self) -> bool:
        return self.role is Role.VENDOR_ADMIN

    def claims(self) -> dict[str, Any]:
        return {
            "typ": ACCESS_TOKEN,
            "role": self.role.value,
            "pid": str(self.partner_id) if self.partner_id else None,
            "email": self.email,
            "sep": self.epoch,
        }

    @classmethod
    def from_claims(cls, claims: dict[str, Any]) -> Principal:
        if claims.get("typ") != ACCESS_TOKEN:
            raise InvalidToken("not an access token")
        try:
            partner = claims.get("pid")
            epoch = claims["sep"]
            if not isinstance(epoch, int) or isinstance(epoch, bool):
                raise InvalidToken("the session epoch is not a whole number")
            return cls(
                user_id=uuid.UUID(str(claims["sub"])),
                role=Role(claims["role"]),
                partner_id=uuid.UUID(partner) if partner else None,
                email=str(claims.get("email", "")),
                epoch=epoch,
            )
        except (KeyError, ValueError) as exc:
            raise InvalidToken("claims are malformed") from exc


def principal_from_token(tokens: TokenService, token: str) -> Principal:
    return Principal.from_claims(tokens.verify(token))


class SessionCheck(Protocol):
    """Whether a principal's user still exists, is active and has not been signed out since
    its token was issued (implemented over the users table in `prm.crm.sessions`)."""

    async def is_live(self, principal: Principal) -> bool: ...


# Benchmarks only (PRM_BENCH_ENDPOINTS=true, never in production): a request carrying this header
# skips the live-user check, so bench.opportunities --live-check measures what the check costs on
# one service, in turns with requests that make it.
BENCH_SKIP_LIVE_CHECK = "x-prm-bench-skip-live-check"


async def live_principal(connection: ASGIConnection[Any, Any, Any, Any], token: str) -> Principal:
    """The token's principal if its signature, times and user are all good right now."""
    tokens: TokenService = connection.app.state.tokens
    principal = principal_from_token(tokens, token)
    if connection.app.state.settings.bench_endpoints and connection.headers.get(BENCH_SKIP_LIVE_CHECK) == "1":
        return principal
    sessions: SessionCheck = connection.app.state.sessions
    if not await sessions.is_live(principal):
        raise InvalidToken("the user is unknown, inactive or signed out since the token was issued")
    return principal


class BearerTokenMiddleware(AbstractAuthenticationMiddleware):
    """Reads `Authorization: Bearer <jwt>`; the API never accepts the portal's cookie.

    A token is only as good as its user right now: each request also checks the session epoch.
    """

    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        header = connection.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise NotAuthorizedException("A bearer token is required.")
        try:
            principal = await live_principal(connection, token.strip())
        except InvalidToken as exc:
            raise NotAuthorizedException("The bearer token is invalid or expired.") from exc
        return AuthenticationResult(user=principal, auth=token)


Guard = Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], Awaitable[None]]


def allow(*roles: Role) -> Guard:
    """A guard letting only the given roles through (403 otherwise: no record id is involved)."""
    allowed = frozenset(roles)

    # Async although it never awaits: Litestar runs a sync guard in a worker thread, a thread
    # hop on every request for a set lookup.
    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        if connection.scope.get("method") == HttpMethod.OPTIONS:
            # Litestar's own OPTIONS handler (and CORS preflight): it tells only which methods a
            # path has, as the OpenAPI document does, and the bearer middleware skips it.
            return
        principal = connection.user
        if not isinstance(principal, Principal) or principal.role not in allowed:
            raise PermissionDeniedException("Your role may not do this.")

    guard.__name__ = f"allow_{'_'.join(sorted(r.value for r in allowed))}"
    return guard


def provide_principal(request: Request[Any, Any, Any]) -> Principal:
    principal = request.user
    if not isinstance(principal, Principal):
        raise NotAuthorizedException("A bearer token is required.")
    return principal


STAFF = (Role.VENDOR_ADMIN, Role.CHANNEL_MANAGER)
EVERYONE = tuple(Role)
WRITERS = (Role.VENDOR_ADMIN, Role.CHANNEL_MANAGER, Role.PARTNER_ADMIN, Role.PARTNER_USER)
PARTNERS = (Role.PARTNER_ADMIN, Role.PARTNER_USER)
VENDOR_READERS = (Role.VENDOR_ADMIN, Role.CHANNEL_MANAGER, Role.LEADERSHIP)
