"""Every reply carries a request id (`X-Request-ID`), and a server error's log line names it.

A caller (or a proxy in front of us) may send its own id; it is kept when it is a short token,
so one id follows a request through every log. Otherwise a fresh one is made. A 500's body
gives only this id: what went wrong is in the log, under the same id, never in the reply.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import structlog
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "x-request-id"
_HEADER_BYTES = HEADER.encode()
_STATE_KEY = "prm_request_id"
_SANE = re.compile(r"[A-Za-z0-9._:-]{1,128}")  # no spaces or control characters: safe in logs and headers


def request_id(scope: Scope | Any) -> str:
    """This request's id: the caller's `X-Request-ID` when sane, else a new one; the same all along."""
    state: dict[str, Any] = scope.setdefault("state", {})
    known: str | None = state.get(_STATE_KEY)
    if known is None:
        known = _incoming(scope) or uuid.uuid4().hex
        state[_STATE_KEY] = known
    return known


def _incoming(scope: Scope | Any) -> str | None:
    for name, value in scope.get("headers", ()):
        if name.lower() == _HEADER_BYTES:
            text = value.decode("latin-1")
            return text if _SANE.fullmatch(text) else None
    return None


async def send_request_id(message: Message, scope: Scope) -> None:
    """A `before_send` hook: the id on every HTTP reply, errors included."""
    if message["type"] == "http.response.start":
        message["headers"] = [*message.get("headers", ()), (_HEADER_BYTES, request_id(scope).encode())]


def current_request_id() -> str | None:
    """The id of the work this task is doing (a request, a timer run, a delivery), if any."""
    value = structlog.contextvars.get_contextvars().get("request_id")
    return str(value) if value is not None else None


@contextmanager
def bind_request_id(value: str | None) -> Iterator[None]:
    """Log lines (and outbox rows) written inside carry `value` as their request id."""
    if value is None:
        yield
        return
    with structlog.contextvars.bound_contextvars(request_id=value):
        yield


class RequestContextMiddleware:
    """Binds the request id for everything the request does: its log lines, uvicorn's access
    line, and the outbox rows it writes."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        with bind_request_id(request_id(scope)):
            await self.app(scope, receive, send)
