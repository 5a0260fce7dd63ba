"""Running a form's service call: its result, or a refusal to show on the form, with nothing written.

A page that answers a refused form still returns normally (a 4xx page, not an exception), so
the request's unit of work would commit what the service wrote before it refused. `attempt`
rolls those writes back first: a refused form leaves nothing half-written, exactly like the API.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec
from litestar import Response
from litestar.datastructures import FormMultiDict
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from prm.core.errors import Conflict, DomainError, Forbidden, NotFound, Unauthenticated

T = TypeVar("T")
S = TypeVar("S", bound=msgspec.Struct)
GENERAL = "_form"  # the key of a message that belongs to no single field
CHANGED_MEANWHILE = "Someone changed this registration meanwhile. The page now shows its current state."
STALE_FORM = "This page was out of date. It now shows the registration as it is; please try again."
_FIELD_IN_ERROR = re.compile(r"at `\$\.(\w+)")

# Shows the page again with the messages: (status, {field: message}) -> the page.
Refuse = Callable[[int, dict[str, str]], Awaitable[Response[Any]]]


@dataclass(frozen=True)
class Refusal:
    status: int
    detail: str
    error: DomainError | None = None


async def attempt(session: AsyncSession, work: Callable[[], Awaitable[T]]) -> T | Refusal:
    """`await work()`; a rule or state refusal (400/409/422) becomes a Refusal after a rollback.

    404 and 403 are not the form's business: they propagate to the error pages unchanged.
    """
    try:
        return await work()
    except (NotFound, Forbidden, Unauthenticated):
        raise
    except DomainError as exc:
        await session.rollback()
        return Refusal(exc.status_code, exc.detail, exc)
    except StaleDataError:  # a concurrent decision won the versioned UPDATE
        await session.rollback()
        return Refusal(Conflict.status_code, CHANGED_MEANWHILE)


def field_messages(refusal: Refusal) -> dict[str, str]:
    """A service's refusal as messages by field (a 422 may name several), else one for the whole form."""
    exc = refusal.error
    if exc is None:
        return {GENERAL: refusal.detail}
    listed: list[dict[str, Any]] = exc.extra.get("errors") or []
    if not listed and exc.field:
        listed = [{"field": exc.field, "message": exc.detail}]
    found = {str(item["field"]): str(item["message"]) for item in listed}
    return found or {GENERAL: exc.detail}


def text_of(form: FormMultiDict, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def version_of(form: FormMultiDict) -> int:
    """The version the form was rendered with; a missing or mangled one is treated as stale (409)."""
    value = text_of(form, "expected_version")
    return int(value) if value.isascii() and value.isdigit() and len(value) < 10 else 0


def checked(struct_type: type[S], values: dict[str, Any], messages: dict[str, str]) -> tuple[S | None, dict[str, str]]:
    """`values` as `struct_type`, held to the API's own constraints; else the message for the field."""
    try:
        return msgspec.convert(values, struct_type), {}
    except msgspec.ValidationError as exc:
        name = _FIELD_IN_ERROR.search(str(exc))
        key = name.group(1) if name else GENERAL
        if key not in messages:
            return None, {GENERAL: STALE_FORM if key == "expected_version" else str(exc)}
        return None, {key: messages[key]}


async def run_form(
    session: AsyncSession,
    struct_type: type[S],
    values: dict[str, Any],
    *,
    messages: dict[str, str],
    call: Callable[[S], Awaitable[Any]],
    refuse: Refuse,
    worked: Callable[[Any], Response[Any]],
) -> Response[Any]:
    """Check the form against the API's Struct, call the service, and answer: redirect or refused page."""
    data, errors = checked(struct_type, values, messages)
    if data is None:
        return await refuse(400, errors)
    outcome = await attempt(session, lambda: call(data))
    if isinstance(outcome, Refusal):
        return await refuse(outcome.status, field_messages(outcome))
    return worked(outcome)
