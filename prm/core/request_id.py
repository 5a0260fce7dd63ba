"""Every reply carries a request id (`X-Request-ID`), and a server error's log line names it.

A caller (or a proxy in front of us) may send its own id; it is kept when it is a short token,
so one id follows a request through every log. Otherwise a fresh one is made. A 500's body
gives only this id: what went wrong is in the log, under the same id, never in the reply.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from litestar.types import Message, Scope

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
