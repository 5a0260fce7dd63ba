"""Jinja helpers for the pages, and the one way a page handler answers with a template."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.response import Template

from prm.core.auth import Principal
from prm.core.dates import date_text
from prm.portal.shell.money import format_bps, format_minor

# Browsers get the pages and their own assets only: no inline script, no third-party origin.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def iso_utc(moment: datetime) -> str:
    """The machine-readable UTC value for <time datetime="...">."""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def register_filters(engine: JinjaTemplateEngine) -> None:
    engine.engine.filters["iso_utc"] = iso_utc
    engine.engine.filters["date_text"] = date_text
    engine.engine.filters["money"] = format_minor  # {{ amount_minor | money(currency) }}
    engine.engine.filters["bps"] = format_bps


def page(template: str, viewer: Principal | None, *, status_code: int = 200, **context: Any) -> Template:
    """A page: the base layout needs `viewer` to draw the navigation for the signed-in role."""
    return Template(template_name=template, context={"viewer": viewer, **context}, status_code=status_code)
