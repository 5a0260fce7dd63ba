"""Portal pages (filled in by the portal work)."""

from __future__ import annotations

from typing import Any

PAGE_HANDLERS: list[Any] = []
