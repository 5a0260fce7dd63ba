"""Errors on pages are pages: a friendly HTML answer, or a redirect to sign in.

The API keeps its RFC 9457 problem details; only the portal's routes (and unknown paths
outside /api/) answer in HTML.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, NotFoundException
from litestar.response import Redirect

from prm.core.errors import DomainError
from prm.core.problems import http_exception_handler
from prm.core.request_id import request_id
from prm.portal.shell.session import SignInRequired, layout_viewer, login_url
from prm.portal.shell.templating import SECURITY_HEADERS, page

log = logging.getLogger("prm.portal")

API_PREFIXES = ("/api/", "/schema")

_TITLES = {
    400: "That did not work",
    403: "Not for your role",
    404: "Page not found",
    405: "Not possible here",
    409: "Changed meanwhile",
    413: "Too large",
    422: "That did not work",
    500: "Something went wrong",
}
_DETAILS = {
    403: "You are signed in, but this page is not available to your role.",
    404: "There is no page at this address, or it is not yours to see.",
    500: "Something went wrong on our side; it has been logged.",
}


def error_page(request: Request[Any, Any, Any], status: int, detail: str | None = None) -> Response[Any]:
    csrf = request.app.csrf_config
    return page(
        "error.html",
        layout_viewer(request),
        status_code=status,
        title=_TITLES.get(status, "That did not work"),
        detail=detail or _DETAILS.get(status, "The request could not be completed."),
        status=status,
        csrf_fallback=request.cookies.get(csrf.cookie_name) if csrf else None,
    )


def sign_in_redirect(_: Request[Any, Any, Any], exc: SignInRequired) -> Response[Any]:
    return Redirect(login_url(exc.next_path), status_code=303)


def http_error_page(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    # Litestar's own messages (e.g. "CSRF token verification failed") are fine to show;
    # 403 and 404 get the friendly wording so they never hint at what exists.
    if exc.status_code >= 500:  # Litestar's own server errors: their text is for the log only
        return internal_error_page(request, exc)
    detail = None if exc.status_code in _DETAILS else exc.detail
    if "CSRF" in (exc.detail or ""):
        detail = (
            "The form could not be verified (its CSRF token is missing or stale). Reload the page and send it again."
        )
    response = error_page(request, exc.status_code, detail)
    response.headers.update(exc.headers or {})
    return response


def domain_error_page(request: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    detail = None if exc.status_code == 404 else exc.detail
    return error_page(request, exc.status_code, detail)


def internal_error_page(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    rid = request_id(request.scope)
    log.error("unhandled error on page %s %s (request %s)", request.method, request.url.path, rid, exc_info=exc)
    return error_page(request, 500, f"Something went wrong on our side; it has been logged as request {rid}.")


def not_found_handler(request: Request[Any, Any, Any], exc: NotFoundException) -> Response[Any]:
    """App-level: an unknown address is a 404 page, except under the API, which stays JSON."""
    if request.url.path.startswith(API_PREFIXES):
        return http_exception_handler(request, exc)
    response = error_page(request, 404)
    response.headers.update(SECURITY_HEADERS)  # no route matched, so the portal router added none
    return response


PAGE_EXCEPTION_HANDLERS: dict[Any, Any] = {
    SignInRequired: sign_in_redirect,
    HTTPException: http_error_page,
    DomainError: domain_error_page,
    Exception: internal_error_page,
}
