"""The portal's sign-in session: a cookie holding the same JWT the API issues.

Only the portal reads this cookie; the API authenticates with the Authorization header alone
(`prm.core.auth.BearerTokenMiddleware`), so a cross-site request can never ride on it there.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode, urlsplit

from litestar import Request
from litestar.config.csrf import CSRFConfig
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie
from litestar.exceptions import PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware.csrf import CSRF_SECRET_LENGTH, generate_csrf_hash
from litestar.utils.scope.state import ScopeState

from prm.core.auth import Principal, Role, live_principal, principal_from_token
from prm.core.nul import STREAMED_BODY
from prm.core.tokens import InvalidToken
from prm.settings import Settings

SESSION_COOKIE = "prm_session"
LOGIN_PATH = "/login"
_CACHE_KEY = "portal_viewer"


class SignInRequired(Exception):
    """Raised by pages for a signed-out visitor; the portal turns it into a redirect to /login."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def session_cookie(token: str, settings: Settings, ttl_seconds: int) -> Cookie:
    return Cookie(
        key=SESSION_COOKIE,
        value=token,
        path="/",
        max_age=ttl_seconds,
        httponly=True,
        secure=settings.secure_cookies,
        samesite="lax",
    )


def cleared_session_cookie(settings: Settings) -> Cookie:
    return Cookie(
        key=SESSION_COOKIE,
        value="",
        path="/",
        max_age=0,
        httponly=True,
        secure=settings.secure_cookies,
        samesite="lax",
    )


# --- CSRF bound to the session ------------------------------------------------------------------
# Litestar's CSRF middleware checks the double submit (form field == cookie, both signed with the
# secret), which a cookie planted from a sibling domain, or a token lifted from another session,
# passes. A signed-in session's token is therefore derived from the session itself: sign-in sets
# it as the CSRF cookie (so pages render it), and `csrf_bound_to_session` refuses any other.


def session_csrf_token(secret: str, session_token: str) -> str:
    """The CSRF token of one session, in Litestar's format (secret part, then its HMAC)."""
    digest = hmac.new(secret.encode(), b"csrf:" + session_token.encode(), hashlib.sha256).hexdigest()
    bound = digest[:CSRF_SECRET_LENGTH]  # SHA-256 in hex is exactly as long as Litestar's secret part
    return bound + generate_csrf_hash(token=bound, secret=secret)


def session_csrf_cookie(session_token: str, csrf: CSRFConfig) -> Cookie:
    return Cookie(
        key=csrf.cookie_name,
        value=session_csrf_token(csrf.secret, session_token),
        path=csrf.cookie_path,
        secure=csrf.cookie_secure,
        httponly=csrf.cookie_httponly,
        samesite=csrf.cookie_samesite,
        domain=csrf.cookie_domain,
    )


async def csrf_bound_to_session(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """A guard for every page: a signed-in visitor's unsafe request carries its session's token."""
    csrf = connection.app.csrf_config
    if csrf is None or connection.scope.get("method") in csrf.safe_methods:
        return
    if handler.opt.get(STREAMED_BODY):
        return  # a streamed upload's handler checks its form's token itself: check_streamed_csrf
    session_token = connection.cookies.get(SESSION_COOKIE)
    if not session_token or await viewer_of(connection) is None:
        return  # signed out (the login form): Litestar's double submit is the check
    sent = connection.headers.get(csrf.header_name)
    if not sent and isinstance(connection, Request):
        sent = (await connection.form()).get("_csrf_token")
    if not isinstance(sent, str) or not hmac.compare_digest(sent, session_csrf_token(csrf.secret, session_token)):
        raise PermissionDeniedException("CSRF token verification failed")


def check_streamed_csrf(request: Request[Any, Any, Any], form_token: str | None) -> None:
    """The CSRF check of a page whose body the handler streams itself (marked STREAMED_BODY and
    `exclude_from_csrf`, so neither Litestar's middleware nor `csrf_bound_to_session` reads the
    whole body first): the form's token, or the header, must be the signed-in session's own.
    Such pages are for signed-in users only, so the session-bound token is the only one taken."""
    csrf = request.app.csrf_config
    if csrf is None:
        return
    session_token = request.cookies.get(SESSION_COOKIE, "")
    sent = request.headers.get(csrf.header_name) or form_token
    expected = session_csrf_token(csrf.secret, session_token)
    if not session_token or not sent or not hmac.compare_digest(sent, expected):
        raise PermissionDeniedException("CSRF token verification failed")
    # What Litestar's middleware does after a good check: the page this request renders carries
    # the token in its forms (without it, the next submit from that page is refused).
    ScopeState.from_scope(request.scope).csrf_token = sent


async def viewer_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal | None:
    """The signed-in principal from the session cookie, or None (checked once per request:
    signature, times, and that the user is still live, as the API checks its bearer tokens)."""
    state = connection.scope.setdefault("state", {})
    if _CACHE_KEY not in state:
        state[_CACHE_KEY] = await _verify(connection, connection.cookies.get(SESSION_COOKIE))
    viewer: Principal | None = state[_CACHE_KEY]
    return viewer


def layout_viewer(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal | None:
    """Who the layout of an error page greets (its handlers cannot await): the viewer checked
    earlier in this request, else the cookie's signed claims alone. Error pages show no data,
    and every page that does checks the user is live."""
    state = connection.scope.get("state", {})
    if _CACHE_KEY in state:
        checked: Principal | None = state[_CACHE_KEY]
        return checked
    token = connection.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        return principal_from_token(connection.app.state.tokens, token)
    except InvalidToken:
        return None


async def _verify(connection: ASGIConnection[Any, Any, Any, Any], token: str | None) -> Principal | None:
    if not token:
        return None
    try:
        return await live_principal(connection, token)
    except InvalidToken:
        return None


async def provide_viewer(request: Request[Any, Any, Any]) -> Principal | None:
    """Dependency `viewer`: who is signed in, if anyone."""
    return await viewer_of(request)


async def provide_page_principal(request: Request[Any, Any, Any]) -> Principal:
    """Dependency `principal` for pages: the signed-in principal, or a redirect to sign in."""
    viewer = await viewer_of(request)
    if viewer is None:
        raise SignInRequired(_path_with_query(request))
    return viewer


def page_allow(*roles: Role) -> Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], Awaitable[None]]:
    """A guard for pages: signed-out visitors go to sign in, other roles get the 403 page."""
    allowed = frozenset(roles)

    # Async although it never awaits: Litestar would run a sync guard in a worker thread.
    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        viewer = await viewer_of(connection)
        if viewer is None:
            raise SignInRequired(_path_with_query(connection))
        if viewer.role not in allowed:
            raise PermissionDeniedException("This page is not available to your role.")

    guard.__name__ = f"page_allow_{'_'.join(sorted(r.value for r in allowed))}"
    return guard


def _path_with_query(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    query = connection.scope.get("query_string", b"").decode("latin-1")
    return f"{connection.url.path}?{query}" if query else connection.url.path


def safe_next(value: str | None) -> str:
    """Only a same-site relative path may be a post-login target (no open redirects)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or any(ord(c) < 32 for c in value):
        return "/"
    return value


def login_url(next_path: str) -> str:
    target = safe_next(next_path)
    return LOGIN_PATH if target == "/" else f"{LOGIN_PATH}?{urlencode({'next': target})}"
