"""Portal pages: sign in and out, the home page per role, the vendor admins' mailbox.

Each area's pages are gathered in `prm.portal.routes.PAGE_HANDLERS`. A page takes `principal: Principal` (the
portal's provider redirects signed-out visitors to /login) or guards with `page_allow(...)`,
and answers with `page(...)` so the layout knows who is viewing.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter, QueryParameter
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.auth import Principal, Role
from prm.core.outbox import OutboxKind
from prm.core.pagination import PageRequest
from prm.core.repository import OutboxRepository
from prm.core.tokens import TokenService
from prm.crm.routes.auth import sign_in_from
from prm.crm.services.signin import TooManyAttempts
from prm.crm.services.users import principal_of, sign_out_everywhere
from prm.portal.shell.home import home_for
from prm.portal.shell.session import (
    cleared_session_cookie,
    page_allow,
    safe_next,
    session_cookie,
    session_csrf_cookie,
)
from prm.portal.shell.templating import page
from prm.settings import Settings

MAX_EMAIL = 320
MAILBOX_PAGE_SIZE = 20
MAX_PASSWORD = 200


class LoginForm(msgspec.Struct):
    """The sign-in form; checked here so each problem is shown next to its field."""

    email: str = ""
    password: str = ""
    next: str = "/"

    def errors(self) -> dict[str, str]:
        found: dict[str, str] = {}
        email = self.email.strip()
        if not email:
            found["email"] = "Enter your email address."
        elif len(email) > MAX_EMAIL or "@" not in email:
            found["email"] = "Enter a valid email address, like name@example.com."
        if not self.password:
            found["password"] = "Enter your password."  # noqa: S105 - a message, not a secret
        elif len(self.password) > MAX_PASSWORD:
            found["password"] = f"A password has at most {MAX_PASSWORD} characters."
        return found


def _login_page(form: LoginForm, errors: dict[str, str], *, status_code: int = 200) -> Response[Any]:
    return page("login.html", None, status_code=status_code, form=form, errors=errors)


@get("/login", name="login")
async def login_form(
    viewer: Principal | None,
    next_path: Annotated[str | None, QueryParameter(name="next", max_length=2000)] = None,
) -> Response[Any]:
    if viewer is not None:
        return Redirect(safe_next(next_path), status_code=303)
    return _login_page(LoginForm(next=safe_next(next_path)), {})


@post("/login", status_code=303)
async def login(
    request: Request[Any, Any, Any],
    data: Annotated[LoginForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Response[Any]:
    form = msgspec.structs.replace(data, password="", next=safe_next(data.next))  # never echo the password
    errors = data.errors()
    if errors:
        return _login_page(form, errors, status_code=400)
    try:
        user = await sign_in_from(request, email=data.email, password=data.password)
    except TooManyAttempts as exc:
        throttled = _login_page(form, {"password": exc.detail}, status_code=429)
        throttled.headers["Retry-After"] = exc.retry_after
        return throttled
    if user is None:
        return _login_page(form, {"password": "Wrong email or password."}, status_code=400)
    tokens: TokenService = request.app.state.tokens
    token = tokens.issue(str(user.id), principal_of(user).claims())
    cookie = session_cookie(token, request.app.state.settings, tokens.ttl_seconds)
    cookies = [cookie]
    if request.app.csrf_config is not None:
        cookies.append(session_csrf_cookie(token, request.app.csrf_config))
    return Redirect(form.next, status_code=303, cookies=cookies)


@post("/logout", status_code=303)
async def logout(request: Request[Any, Any, Any], db_session: AsyncSession, viewer: Principal | None) -> Response[Any]:
    """Signing out ends the session for good (every session of the user: the epoch moves on),
    not only this browser's cookie, which a copy could outlive."""
    if viewer is not None:
        await sign_out_everywhere(db_session, principal=viewer, user_id=viewer.user_id)
    settings: Settings = request.app.state.settings
    return Redirect("/login", status_code=303, cookies=[cleared_session_cookie(settings)])


@get("/", name="home")
async def home(db_session: AsyncSession, principal: Principal) -> Response[Any]:
    return page("home.html", principal, home=await home_for(db_session, principal))


@get("/mailbox", name="mailbox", guards=[page_allow(Role.VENDOR_ADMIN)])
async def mailbox(
    db_session: AsyncSession,
    principal: Principal,
    cursor: Annotated[str | None, Parameter(max_length=500)] = None,
) -> Response[Any]:
    newest_first = PageRequest(limit=MAILBOX_PAGE_SIZE, cursor=cursor, sort="-created_at")
    emails, next_cursor = await OutboxRepository(db_session, principal).listed(newest_first, kind=OutboxKind.EMAIL)
    return page("mailbox.html", principal, emails=emails, next_cursor=next_cursor, first_page=cursor is None)


SHELL_PAGE_HANDLERS: list[Any] = [login_form, login, logout, home, mailbox]
