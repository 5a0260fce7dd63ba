"""Rows read by column name into typed structures.

Hot paths run Core statements built once with bound parameters (a module-level statement, or a
`functools.cache` function for one built per variant) and get plain rows back. Those rows are
never unpacked by position: `read_rows` / `read_row` put each column into the field of the same
name (a msgspec Struct, a dataclass or a NamedTuple), so a select whose columns are reordered or
relabelled fails at once, naming the missing column, instead of swapping two fields unseen.

Cheap enough for hundreds of rows per request: which column goes to which field is worked out
once per (structure, labels of the result) and kept; each row then costs one `itemgetter` call
and the structure's constructor.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from operator import itemgetter
from typing import Any, TypeVar

import msgspec
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")


class MissingColumns(LookupError):
    """A typed structure needs columns that the row does not have (by label)."""


Getter = Callable[[Row[Any]], tuple[Any, ...]]
# Worked out once and kept: a class's fields, and which columns of a result go to them.
_fields: dict[type[Any], tuple[str, ...]] = {}
_getters: dict[tuple[type[Any], tuple[str, ...], str, frozenset[str]], Getter] = {}


def fields_of(shape: type[Any]) -> tuple[str, ...]:
    """The fields a structure is built from, in its constructor's order (resolved once per class)."""
    found = _fields.get(shape)
    if found is None:
        found = _fields[shape] = _fields_of(shape)
    return found


def _fields_of(shape: type[Any]) -> tuple[str, ...]:
    if issubclass(shape, msgspec.Struct):
        return tuple(shape.__struct_fields__)
    if dataclasses.is_dataclass(shape):
        return tuple(f.name for f in dataclasses.fields(shape) if f.init)
    if issubclass(shape, tuple) and hasattr(shape, "_fields"):
        return tuple(shape._fields)
    raise TypeError(f"{shape.__name__} is not a msgspec Struct, a dataclass or a NamedTuple.")


def _getter(shape: type[Any], labels: tuple[str, ...], prefix: str, given: frozenset[str]) -> Getter:
    key = (shape, labels, prefix, given)
    found = _getters.get(key)
    if found is None:
        found = _getters[key] = _make_getter(shape, labels, prefix, given)
    return found


def _make_getter(shape: type[Any], labels: tuple[str, ...], prefix: str, given: frozenset[str]) -> Getter:
    """Picks the values of `shape`'s fields (but those `given`) out of a row labelled `labels`,
    field `f` from the column labelled `prefix + f`."""
    position = {label: i for i, label in enumerate(labels)}
    wanted = [prefix + name for name in fields_of(shape) if name not in given]
    missing = [label for label in wanted if label not in position]
    if missing:
        raise MissingColumns(
            f"{shape.__name__} needs the column(s) {', '.join(missing)}; the row has {', '.join(labels) or 'none'}."
        )
    if len(wanted) == 1:
        only = position[wanted[0]]
        return lambda row: (row[only],)
    return itemgetter(*(position[label] for label in wanted))


def read_rows(shape: type[T], rows: Iterable[Row[Any]], *, prefix: str = "") -> list[T]:
    """Each row as a `shape`, every field from the column of the same name (columns beyond the
    fields are left alone). Raises MissingColumns when a field has no column."""
    rows = rows if isinstance(rows, Sequence) else list(rows)
    return _read_all(shape, tuple(rows[0]._fields), rows, prefix) if rows else []


def _read_all(shape: type[T], labels: tuple[str, ...], rows: Sequence[Row[Any]], prefix: str) -> list[T]:
    pick = _getter(shape, labels, prefix, frozenset())
    make: Callable[..., T] = shape
    return [make(*pick(row)) for row in rows]


def read_row(shape: type[T], row: Row[Any], *, prefix: str = "", **given: Any) -> T:
    """One row as a `shape`; fields named in `given` take those values instead of a column
    (for what is not a column as such: a decoded text, a nested structure)."""
    pick = _getter(shape, tuple(row._fields), prefix, frozenset(given))
    make: Callable[..., T] = shape
    if not given:
        return make(*pick(row))
    names = [name for name in fields_of(shape) if name not in given]
    return make(**dict(zip(names, pick(row), strict=True)), **given)


async def fetch_rows(session: AsyncSession, shape: type[T], stmt: Any, values: dict[str, Any] | None = None) -> list[T]:
    """Run a statement built once, with its bound `values`, through the session's connection
    (plain rows: the ORM's row handling is not needed for rows that are only read), each row
    read into a `shape`."""
    connection = await session.connection()
    result = await connection.execute(stmt, values or {})
    return _read_all(shape, tuple(result.keys()), result.all(), "")  # checked even when no row comes back
