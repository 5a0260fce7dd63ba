"""POST /api/v1/auth/token: the OAuth2 password grant (so the API docs' Authorize works)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotAuthorizedException
from litestar.params import Body
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.tokens import TokenService
from prm.crm.schemas import TokenResponse
from prm.crm.services.users import authenticate, principal_of


class PasswordGrant(msgspec.Struct):
    username: Annotated[str, msgspec.Meta(min_length=1, max_length=320)]
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    grant_type: str = "password"
    scope: str = ""


class AuthController(Controller):
    path = "/api/v1/auth"
    tags = ["auth"]

    @post("/token", status_code=200, security=[], summary="Sign in (OAuth2 password grant)")
    async def token(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        data: Annotated[PasswordGrant, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> TokenResponse:
        if data.grant_type != "password":
            raise NotAuthorizedException("Only the password grant is supported.")
        user = await authenticate(db_session, email=data.username, password=data.password)
        if user is None:
            raise NotAuthorizedException("Wrong email or password, or the user is inactive.")
        tokens: TokenService = request.app.state.tokens
        principal = principal_of(user)
        token = tokens.issue(str(user.id), principal.claims())
        return TokenResponse(access_token=token, token_type="bearer", expires_in=tokens.ttl_seconds)  # noqa: S106
