"""Small HTTP helpers shared by API routes and pages."""

from __future__ import annotations

from urllib.parse import quote


def attachment_disposition(filename: str) -> str:
    """Content-Disposition for a download: an ASCII name for every client, the exact one per RFC 6266."""
    plain = "".join(c for c in filename if c.isascii() and c.isprintable() and c not in '"\\').strip() or "document"
    if plain == filename:
        return f'attachment; filename="{plain}"'
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(filename, safe='')}"
