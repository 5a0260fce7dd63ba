"""POST /api/v1/auth/token: the OAuth2 password grant (so the API docs' Authorize works)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotAuthorizedException
from litestar.params import Body

from prm.core.tokens import TokenService
from prm.crm.models import User
from prm.crm.schemas import TokenResponse
from prm.crm.services.signin import SignInLimits, sign_in
from prm.crm.services.users import principal_of


class PasswordGrant(msgspec.Struct):
    username: Annotated[str, msgspec.Meta(min_length=1, max_length=320)]
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    grant_type: str = "password"
    scope: str = ""


class AuthController(Controller):
    path = "/api/v1/auth"
    tags = ["auth"]

    @post("/token", status_code=200, security=[], summary="Sign in (OAuth2 password grant)", throttled=True)
    async def token(
        self,
        request: Request[Any, Any, Any],
        data: Annotated[PasswordGrant, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> TokenResponse:
        """Repeated failures per account and per client address are answered 429 with
        `Retry-After`, for a delay that grows with each further failure."""
        if data.grant_type != "password":
            raise NotAuthorizedException("Only the password grant is supported.")
        user = await sign_in_from(request, email=data.username, password=data.password)
        if user is None:
            raise NotAuthorizedException("Wrong email or password, or the user is inactive.")
        tokens: TokenService = request.app.state.tokens
        principal = principal_of(user)
        token = tokens.issue(str(user.id), principal.claims())
        return TokenResponse(access_token=token, token_type="bearer", expires_in=tokens.ttl_seconds)  # noqa: S106


async def sign_in_from(request: Request[Any, Any, Any], *, email: str, password: str) -> User | None:
    """Sign in through the service's shared throttle, counting failures per client address."""
    state = request.app.state
    return await sign_in(
        state.db,
        state.runtime.throttle,
        SignInLimits.from_settings(state.settings),
        email=email,
        password=password,
        client=request.client.host if request.client else "unknown",
    )
