"""From ORM rows to response Structs."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

import msgspec

from prm.core.pagination import Page

T = TypeVar("T")


def to_read(record: Any, read_type: type[T]) -> T:
    return msgspec.convert(record, read_type, from_attributes=True)


def to_page(rows: Iterable[Any], cursor: str | None, read_type: type[T]) -> Page[T]:
    return Page(items=[to_read(r, read_type) for r in rows], next_cursor=cursor)
