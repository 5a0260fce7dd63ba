"""Every error leaves as RFC 9457 problem details (`application/problem+json`).

Domain errors carry their own status; Litestar's validation errors are re-shaped so the
caller learns which field was wrong; anything unexpected is a 500 that leaks nothing but the
request id under which it is logged.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from prm.core.errors import DomainError
from prm.core.request_id import request_id

log = logging.getLogger("prm.errors")

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://prm.example/problems/"
_FIELD_IN_MESSAGE = re.compile(r"at `\$\.([^`]+)`")
_NAMED_FIELD = re.compile(r"(?:missing required|contains unknown) field `([^`]+)`")
_FOREIGN_KEY_COLUMN = re.compile(r"Key \((\w+)\)=")  # PostgreSQL's detail of a foreign key violation
_BODY_PARAMETER = "data"  # the name Litestar gives the request body when the body itself is at fault

_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    500: "Internal server error",
}


def problem(
    status: int,
    detail: str,
    *,
    type_slug: str | None = None,
    title: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {
        "type": TYPE_BASE + (type_slug or str(status)),
        "title": title or _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    body.update({k: v for k, v in extra.items() if v is not None})
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def domain_error_handler(_: Request[Any, Any, Any], exc: DomainError) -> Response[dict[str, Any]]:
    extra = dict(exc.extra)
    errors = extra.pop("errors", None) or ([{"field": exc.field, "message": exc.detail}] if exc.field else None)
    headers = extra.pop("headers", None)  # e.g. Retry-After on a 429
    return problem(
        exc.status_code, exc.detail, type_slug=exc.type_slug, title=exc.title, errors=errors, headers=headers, **extra
    )


def _validation_errors(extra: Any) -> list[dict[str, str]]:
    errors: list[dict[str, str]] = []
    for item in extra if isinstance(extra, list) else []:
        if not isinstance(item, dict):
            continue
        message = str(item.get("message", "invalid value"))
        source = item.get("source")
        errors.append({"field": _field_of(item.get("key"), message) or str(source or "body"), "message": message})
    return errors


def _field_of(key: Any, message: str) -> str | None:
    """The field a validation message is about, as a path into the request body.

    Litestar names the object that failed (`data` for the body itself, `products[0]` inside
    it); for a missing or unknown field the field itself is only in the message, so it is
    appended.
    """
    where = str(key) if key else None
    if where is None:
        match = _FIELD_IN_MESSAGE.search(message)
        where = match.group(1) if match else None
    named = _NAMED_FIELD.search(message)
    if named is None:
        return where
    return named.group(1) if where in (None, _BODY_PARAMETER) else f"{where}.{named.group(1)}"


def http_exception_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    status = exc.status_code
    if status >= 500:  # Litestar's own server errors (a misconfiguration) carry internal text too
        return internal_error_handler(request, exc)
    headers = dict(exc.headers or {})
    if status == 401:
        headers.setdefault("WWW-Authenticate", "Bearer")
    if isinstance(exc, ValidationException) or (status == 400 and exc.extra):
        errors = _validation_errors(exc.extra)
        fields = ", ".join(e["field"] for e in errors)
        detail = f"Invalid input: {fields}." if fields else (exc.detail or "Invalid input.")
        if errors:
            detail = f"{detail} {errors[0]['message']}"
        return problem(status, detail, type_slug="validation", headers=headers, errors=errors or None)
    return problem(status, exc.detail or _TITLES.get(status, "Error"), headers=headers or None)


def stale_data_handler(_: Request[Any, Any, Any], exc: StaleDataError) -> Response[dict[str, Any]]:
    return problem(409, "The record was changed by someone else; reload it and try again.", type_slug="conflict")


def integrity_error_handler(request: Request[Any, Any, Any], exc: IntegrityError) -> Response[dict[str, Any]]:
    """The database refused a write no service check caught: a foreign key naming no record is a
    422 naming its column (PostgreSQL says which; SQLite does not), anything else a 409. Logged,
    as it means a check is missing in a service."""
    rid = request_id(request.scope)
    log.warning("integrity error on %s %s (request %s): %s", request.method, request.url.path, rid, exc.orig)
    text = str(exc.orig)
    if "foreign key" in text.lower() and "still referenced" not in text:
        key = _FOREIGN_KEY_COLUMN.search(text)
        field = key.group(1) if key else "body"
        detail = f"Invalid input: {field} names no record you can see."
        return problem(422, detail, type_slug="rule-violation", errors=[{"field": field, "message": detail}])
    return problem(409, "The change conflicts with other records; reload them and try again.", type_slug="conflict")


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    """The exception and its traceback go to the log under the request id; the caller gets the id
    to quote, and nothing of what went wrong."""
    rid = request_id(request.scope)
    log.error("unhandled error on %s %s (request %s)", request.method, request.url.path, rid, exc_info=exc)
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    return problem(status, f"Something went wrong on our side; it has been logged as request {rid}.", request_id=rid)


EXCEPTION_HANDLERS: dict[Any, Any] = {
    DomainError: domain_error_handler,
    HTTPException: http_exception_handler,
    StaleDataError: stale_data_handler,
    IntegrityError: integrity_error_handler,
    Exception: internal_error_handler,
}

__all__ = ["EXCEPTION_HANDLERS", "PROBLEM_JSON", "MediaType", "problem"]
