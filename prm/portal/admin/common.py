"""What the admin pages share: guards, the cursor and notice parameters, form reading helpers."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Response
from litestar.datastructures import FormMultiDict
from litestar.params import Parameter
from litestar.response import Redirect

from prm.core.auth import VENDOR_READERS, Role
from prm.core.pagination import PageRequest
from prm.portal.shell.attempts import GENERAL
from prm.portal.shell.session import page_allow

VENDOR_ADMIN_PAGES = [page_allow(Role.VENDOR_ADMIN)]
VENDOR_READER_PAGES = [page_allow(*VENDOR_READERS)]  # read-only for all but vendor admins
PAGE_SIZE = 50
CHOICES_SHOWN = 200  # a picker's list: the paging limit

Cursor = Annotated[str | None, Parameter(max_length=500)]
Done = Annotated[str | None, Parameter(max_length=40)]


def listing(cursor: str | None, sort: str = "name") -> PageRequest:
    """One page of an admin list, in the keyset paging the API uses."""
    return PageRequest(limit=PAGE_SIZE, cursor=cursor or None, sort=sort)


def first_error(errors: dict[str, str]) -> str | None:
    return next((k for k in errors if k != GENERAL), None)


def back(path: str, done: str) -> Response[Any]:
    return Redirect(f"{path}?done={done}", status_code=303)


def listed(raw: FormMultiDict, name: str) -> list[str]:
    """Every checked value of a checkbox group."""
    return [v.strip() for v in raw.getall(name, []) if isinstance(v, str) and v.strip()]


def number(text: str) -> Any:
    """A typed number as int, or the text itself so the Struct's check names the field."""
    stripped = text.strip()
    if stripped.lstrip("-").isdigit() and len(stripped) < 18:
        return int(stripped)
    return text


def decimal_number(text: str) -> Any:
    """A typed coordinate as float, or the text itself so the Struct's check names the field."""
    try:
        return float(text)
    except ValueError:
        return text


def or_none(text: str) -> str | None:
    return text or None
