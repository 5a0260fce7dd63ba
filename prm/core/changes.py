"""Applying a PATCH body to a record: only the fields sent, with the version expected."""

from __future__ import annotations

from typing import Any

import msgspec

from prm.core.activity import plain
from prm.core.errors import Conflict

NOT_FIELDS = frozenset({"expected_version"})


def expect_version(record: Any, expected: int) -> None:
    """The caller read version `expected`; if the row moved on since, they lose the race."""
    if record.version != expected:
        raise Conflict(
            f"The record is at version {record.version}, not {expected}; reload it and try again.",
            field="expected_version",
            current_version=record.version,
        )


def apply_changes(record: Any, data: msgspec.Struct) -> dict[str, list[Any]]:
    """Set every field of `data` that was sent (not UNSET); return {field: [old, new]}."""
    changes: dict[str, list[Any]] = {}
    for field in data.__struct_fields__:
        if field in NOT_FIELDS:
            continue
        value = getattr(data, field)
        if value is msgspec.UNSET:
            continue
        old = getattr(record, field)
        if old != value:
            setattr(record, field, value)
            changes[field] = [plain(old), plain(value)]
    return changes


def sent_fields(data: msgspec.Struct) -> dict[str, Any]:
    return {
        f: getattr(data, f)
        for f in data.__struct_fields__
        if f not in NOT_FIELDS and getattr(data, f) is not msgspec.UNSET
    }
