"""Keyset (cursor) paging: stable, index-friendly pages that never need OFFSET.

A cursor is opaque to callers: base64url of [sort key, last sort value, last id]. The sort
columns offered are non-nullable so row-value comparison is exact.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

import msgspec
from litestar.params import Parameter
from sqlalchemy import Select, tuple_
from sqlalchemy.orm import InstrumentedAttribute

from prm.core.errors import DomainError

T = TypeVar("T")
MAX_LIMIT = 200
DEFAULT_LIMIT = 50


class Page(msgspec.Struct, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class BadPageRequest(DomainError):
    status_code = 400
    title = "Bad request"
    type_slug = "bad-page-request"


@dataclass(frozen=True)
class PageRequest:
    limit: int = DEFAULT_LIMIT
    cursor: str | None = None
    sort: str = "-created_at"

    @property
    def sort_key(self) -> str:
        return self.sort.lstrip("-")

    @property
    def descending(self) -> bool:
        return self.sort.startswith("-")


def provide_page_request(
    limit: Annotated[int, Parameter(ge=1, le=MAX_LIMIT, description="Page size")] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Parameter(description="next_cursor of the previous page")] = None,
    sort: Annotated[
        str, Parameter(description="Sort field; prefix with - for descending", max_length=40)
    ] = "-created_at",
) -> PageRequest:
    return PageRequest(limit=limit, cursor=cursor, sort=sort)


def page_request_sorted_by(default_sort: str) -> Callable[..., PageRequest]:
    """The `page` dependency for a list whose natural order is not newest first (rules by position)."""

    def provide(
        limit: Annotated[int, Parameter(ge=1, le=MAX_LIMIT, description="Page size")] = DEFAULT_LIMIT,
        cursor: Annotated[str | None, Parameter(description="next_cursor of the previous page")] = None,
        sort: Annotated[
            str, Parameter(description="Sort field; prefix with - for descending", max_length=40)
        ] = default_sort,
    ) -> PageRequest:
        return PageRequest(limit=limit, cursor=cursor, sort=sort)

    return provide


def _encode_cursor(sort: str, value: Any, row_id: uuid.UUID) -> str:
    raw = msgspec.json.encode([sort, value, str(row_id)])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, sort: str, value_type: type[Any]) -> tuple[Any, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        cursor_sort, value, row_id = msgspec.json.decode(raw, type=tuple[str, Any, str])
        if cursor_sort != sort:
            raise ValueError("cursor was made for another sort order")
        return msgspec.convert(value, value_type, strict=False), uuid.UUID(row_id)
    except (ValueError, binascii.Error, msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise BadPageRequest("The cursor is not valid for this list.", field="cursor") from exc


def paginate_statement(
    stmt: Select[Any],
    page: PageRequest,
    sortable: Mapping[str, InstrumentedAttribute[Any]],
    id_column: InstrumentedAttribute[uuid.UUID],
) -> Select[Any]:
    """Order by the chosen column then id, start after the cursor, fetch one extra row."""
    column = sortable.get(page.sort_key)
    if column is None:
        allowed = ", ".join(sorted(sortable))
        raise BadPageRequest(f"Cannot sort by {page.sort_key!r}; choose one of: {allowed}.", field="sort")
    if page.cursor:
        value, last_id = _decode_cursor(page.cursor, page.sort, column.type.python_type)
        key = tuple_(column, id_column)
        stmt = stmt.where(key < (value, last_id) if page.descending else key > (value, last_id))
    if page.descending:
        stmt = stmt.order_by(column.desc(), id_column.desc())
    else:
        stmt = stmt.order_by(column.asc(), id_column.asc())
    return stmt.limit(page.limit + 1)


def page_of(
    rows: Sequence[Any], page: PageRequest, sort_attr: str | None = None, id_attr: str = "id"
) -> tuple[list[Any], str | None]:
    """Cut the extra row off and make the cursor for the next page, if there is one (`id_attr`:
    the tie-breaking unique column, for a row whose key is not `id`)."""
    items = list(rows[: page.limit])
    if len(rows) <= page.limit or not items:
        return items, None
    last = items[-1]
    value = getattr(last, sort_attr or page.sort_key)
    return items, _encode_cursor(page.sort, msgspec.to_builtins(value), getattr(last, id_attr))
