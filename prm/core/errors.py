"""Domain errors. Services raise these; `prm.core.problems` renders them as RFC 9457."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status_code = 400
    title = "Bad request"
    type_slug = "bad-request"

    def __init__(self, detail: str, *, field: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.extra = extra


class NotFound(DomainError):
    """The record does not exist *or the caller may not see it*: both look the same."""

    status_code = 404
    title = "Not found"
    type_slug = "not-found"


class Conflict(DomainError):
    """A state conflict: wrong state for this transition, stale version, lost race."""

    status_code = 409
    title = "Conflict"
    type_slug = "conflict"


class RuleViolation(DomainError):
    """Well-formed input that breaks a business rule."""

    status_code = 422
    title = "Unprocessable content"
    type_slug = "rule-violation"


class Forbidden(DomainError):
    """Used only where the caller may already know the record exists (e.g. its own record)."""

    status_code = 403
    title = "Forbidden"
    type_slug = "forbidden"


class Unauthenticated(DomainError):
    status_code = 401
    title = "Unauthorized"
    type_slug = "unauthorized"
