"""The NUL character is refused at the edge, for every route.

PostgreSQL cannot store NUL in text or JSON columns: without this check a NUL in any field or
query parameter (which msgspec happily decodes from `\\u0000`) reaches the database and comes
back as a 500, after part of the work is done. SQLite would store it, so the two databases would
also disagree. No field of ours has a use for it; it is refused as a 400 naming the field.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request
from litestar.enums import RequestEncodingType

from prm.core.errors import DomainError
from prm.core.json_depth import refuse_deep_json

NUL = "\x00"
# Route option: the handler reads the body as a stream; this hook leaves it unread.
STREAMED_BODY = "streamed_body"
_ESCAPED_NUL = b"\\u0000"
_FORMS = frozenset({RequestEncodingType.URL_ENCODED, RequestEncodingType.MULTI_PART})


class NulCharacter(DomainError):
    status_code = 400
    title = "Bad request"
    type_slug = "validation"


def _where_nul(value: Any, path: str) -> str | None:
    """Where the first NUL sits in decoded JSON ("body" for the top level, a key's own object
    for a key), else None."""
    if isinstance(value, str):
        return (path or "body") if NUL in value else None
    children: list[tuple[str, Any]] = []
    if isinstance(value, dict):
        if any(NUL in key for key in value):
            return path or "body"
        children = [(f"{path}.{key}" if path else key, item) for key, item in value.items()]
    elif isinstance(value, list):
        children = [(f"{path}[{index}]", item) for index, item in enumerate(value)]
    for child_path, item in children:
        found = _where_nul(item, child_path)
        if found is not None:
            return found
    return None


def _refuse(field: str) -> NulCharacter:
    return NulCharacter(f"Invalid input: {field} contains the NUL character.", field=field)


async def _check_json(request: Request[Any, Any, Any]) -> None:
    body = await request.body()
    refuse_deep_json(body)  # first: every decoder, the one below included, recurses once per level
    if _ESCAPED_NUL not in body:  # the cheap test that nearly every request passes
        return
    try:
        decoded = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return  # malformed JSON: the handler's own parsing refuses it with a 400
    field = _where_nul(decoded, "")
    if field is not None:
        raise _refuse(field)


async def refuse_nul_characters(request: Request[Any, Any, Any]) -> None:
    """A `before_request` hook: query parameters, form fields and JSON bodies must be free of NUL,
    and JSON bodies no deeper than `MAX_JSON_DEPTH` (see `prm.core.json_depth`)."""
    for name, value in request.query_params.multi_items():
        if NUL in name or NUL in value:
            raise _refuse(name.replace(NUL, "") or "query")
    if request.method in ("GET", "HEAD", "OPTIONS", "DELETE") or request.route_handler.opt.get(STREAMED_BODY):
        return  # a streamed upload is checked by its reader (prm.core.uploads), part by part
    if request.content_type[0] in _FORMS:
        for name, value in (await request.form()).multi_items():
            if NUL in name or (isinstance(value, str) and NUL in value):
                raise _refuse(name.replace(NUL, "") or "form")
        return
    await _check_json(request)
