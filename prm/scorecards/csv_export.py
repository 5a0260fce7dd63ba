"""Reports as CSV: one line per row, money maps spread into one column per currency.

A text cell starting with = + - @ (or a tab or carriage return) is prefixed with an apostrophe,
so a spreadsheet opening the file never runs a partner-supplied name as a formula.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

import msgspec

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return msgspec.json.encode(value).decode().strip('"')  # as in the JSON reply
    return neutralise(str(value)) if not isinstance(value, (int, float)) else value


def rows_to_csv(rows: list[msgspec.Struct], fields: tuple[str, ...]) -> str:
    """`fields` in order; a field holding a {currency: amount} map becomes `field_<currency>` columns."""
    spread = {
        name: sorted({key for row in rows for key in getattr(row, name)})
        for name in fields
        if rows and isinstance(getattr(rows[0], name), dict)
    }
    columns = [f"{name}_{key}" if name in spread else name for name in fields for key in spread.get(name, [""])]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        cells: list[Any] = []
        for name in fields:
            value = getattr(row, name)
            if name in spread:
                cells += [value.get(key, 0) for key in spread[name]]
            else:
                cells.append(_cell(value))
        writer.writerow(cells)
    return out.getvalue()
