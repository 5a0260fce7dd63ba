"""Reading an uploaded CSV file as a stream: the header, then records in batches, each record with
the physical line it starts on (a quoted field's embedded newlines counted), in bounded memory.

A file the csv module cannot read safely (not UTF-8, NUL bytes, an unclosed quote, a record longer
than MAX_RECORD_CHARS, too many rows) is refused as a whole with a 422 naming the line; anything
less (a long field, a bad value) is a problem of its row only.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from itertools import islice
from typing import IO, TypeVar

from prm.core.errors import RuleViolation

MAX_ROWS = 200_000
# A record this long is an unclosed quote swallowing the file, not a lead: refused with its line.
MAX_RECORD_CHARS = 1024 * 1024
BATCH_ROWS = 500

T = TypeVar("T")
Record = tuple[int, list[str]]  # (the physical line the record starts on, its cells)


class FileRefused(RuleViolation):
    def __init__(self, detail: str, *, line: int | None = None) -> None:
        errors = [{"line": line, "field": "file", "message": detail}] if line else None
        super().__init__(detail, field="file", **({"errors": errors} if errors else {}))


class CsvFile:
    """The header, then `next_batch()` until it returns []; reads BATCH_ROWS records at a time."""

    def __init__(self, binary: IO[bytes]) -> None:
        csv.field_size_limit(MAX_RECORD_CHARS)
        self._line = 0
        self._record_chars = 0
        self._text = io.TextIOWrapper(binary, encoding="utf-8-sig", errors="strict", newline="")
        self._reader = csv.reader(self._lines(), strict=True)
        self._records = self._read_records()
        self.rows = 0
        header = self._guarded(lambda: next(self._reader, None))
        if header is None:
            raise FileRefused("The file is empty.")
        self.header: list[str] = header

    def next_batch(self) -> list[Record]:
        return self._guarded(lambda: list(islice(self._records, BATCH_ROWS)))

    def _lines(self) -> Iterator[str]:
        for line in self._text:
            self._line += 1
            self._record_chars += len(line)
            if self._record_chars > MAX_RECORD_CHARS:
                raise FileRefused(
                    f"The record at line {self._line} is longer than {MAX_RECORD_CHARS:,} characters "
                    "(an unclosed quote?).",
                    line=self._line,
                )
            if "\x00" in line:
                raise FileRefused("The file contains NUL bytes; it is not a CSV text file.", line=self._line)
            yield line

    def _read_records(self) -> Iterator[Record]:
        start = self._line + 1
        self._record_chars = 0
        for cells in self._reader:
            self._record_chars = 0
            if any(c.strip() for c in cells):
                self.rows += 1
                if self.rows > MAX_ROWS:
                    raise FileRefused(f"The file has more than {MAX_ROWS:,} rows; split it.")
                yield start, cells
            start = self._line + 1

    def _guarded(self, read: Callable[[], T]) -> T:
        try:
            return read()
        except UnicodeDecodeError as exc:
            raise FileRefused(
                f"The file is not UTF-8 text (line {self._line + 1} cannot be read); save it as CSV UTF-8.",
                line=self._line + 1,
            ) from exc
        except csv.Error as exc:
            raise FileRefused(
                f"The file is not valid CSV near line {self._line}: {exc}.", line=max(self._line, 1)
            ) from exc


def fold(header: str) -> str:
    """A header as compared with the known spellings: lower case, letters and digits only."""
    return re.sub(r"[\W_]+", "", header.strip().lower())


__all__ = ["BATCH_ROWS", "MAX_RECORD_CHARS", "MAX_ROWS", "CsvFile", "FileRefused", "Record", "fold"]
