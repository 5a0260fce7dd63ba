"""A lead program's members, shown and edited on the program's page: each partner's weight,
cap on open leads and territories, enrol, change and remove.

What the member form sends is read here and checked against the API's own `MemberPut`; the
handlers live with the program's page in lead_programs.py.
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar.datastructures import FormMultiDict
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.auth import Principal
from prm.core.pagination import PageRequest
from prm.crm.services.directory import partner_names
from prm.crm.services.partners import list_partners
from prm.lead_distribution.models import LeadProgram, ProgramMember
from prm.lead_distribution.repository import ProgramRepository
from prm.lead_distribution.service import setup
from prm.portal.admin.common import CHOICES_SHOWN, PAGE_SIZE, first_error, number
from prm.portal.shell.attempts import text_of

NOTICES = {
    "enrolled": "Partner enrolled: routing now offers it this program's leads.",
    "member_saved": "Member's terms saved.",
    "removed": "Member removed: it gets no new leads from this program.",
}
FIELDS = ("partner_id", "weight", "max_open_leads", "territories")
# The limits of MemberPut's territories, for messages only: the Struct itself decides.
MAX_TERRITORIES = 300
MAX_TERRITORY_LENGTH = 100
MESSAGES = {
    "partner_id": "Choose a partner from the list.",
    "weight": "Enter a whole number from 1 to 10000.",
    "max_open_leads": "Enter a whole number from 0 to 100000, or leave empty for the program's cap.",
}


def form_values(raw: FormMultiDict) -> dict[str, str]:
    return {name: text_of(raw, name) for name in FIELDS}


def territories_of(text: str) -> list[str]:
    """A comma-separated list as typed, each item trimmed; an empty item stays, to be refused."""
    return [item.strip() for item in text.split(",")] if text.strip() else []


def territory_message(items: list[str]) -> str:
    """Why MemberPut refused this list, in words that point at the item to fix."""
    if len(items) > MAX_TERRITORIES:
        return f"Enter at most {MAX_TERRITORIES} territories; this list has {len(items)}."
    for position, item in enumerate(items, start=1):
        if not item:
            return f"Territory {position} is empty: remove the extra comma."
        if len(item) > MAX_TERRITORY_LENGTH:
            return f"Territory {position} is longer than {MAX_TERRITORY_LENGTH} characters."
    return "Enter country codes or region names, separated by commas."


def messages_for(values: dict[str, str]) -> dict[str, str]:
    return MESSAGES | {"territories": territory_message(territories_of(values["territories"]))}


def body(values: dict[str, str]) -> dict[str, Any]:
    cap = values["max_open_leads"]
    return {
        "weight": number(values["weight"] or "100"),
        "max_open_leads": number(cap) if cap else None,
        "territories": territories_of(values["territories"]),
    }


def partner_id_of(values: dict[str, str]) -> uuid.UUID | None:
    try:
        return uuid.UUID(values["partner_id"])
    except ValueError:
        return None


def _shown(member: ProgramMember) -> dict[str, str]:
    return {
        "partner_id": str(member.partner_id),
        "weight": str(member.weight),
        "max_open_leads": "" if member.max_open_leads is None else str(member.max_open_leads),
        "territories": ", ".join(member.territories),
    }


async def _partner_choices(session: AsyncSession, principal: Principal) -> list[tuple[str, str]]:
    partners, _ = await list_partners(
        session, principal=principal, page=PageRequest(limit=CHOICES_SHOWN, sort="name"), active=True
    )
    return [(str(p.id), p.name) for p in partners]


async def members_context(
    session: AsyncSession,
    principal: Principal,
    program: LeadProgram,
    *,
    cursor: str | None,
    editing: uuid.UUID | None,
    errors: dict[str, str] | None,
    values: dict[str, str] | None,
) -> dict[str, Any]:
    """The member table (a page of it, in the order partners joined) and the member form: blank
    to enrol, or holding the terms of the member being changed (`editing`)."""
    listing = PageRequest(limit=PAGE_SIZE, cursor=cursor or None, sort="joined_at")
    rows, next_cursor = await setup.member_page(session, principal=principal, program_id=program.id, page=listing)
    changed = await ProgramRepository(session, principal).member(program.id, editing) if editing else None
    names = await partner_names(session, [m.partner_id for m in rows] + ([editing] if editing else []))
    errors = errors or {}
    return {
        "members": [(m, names.get(m.partner_id, "A partner no longer listed")) for m in rows],
        "members_next_cursor": next_cursor,
        "members_first_page": not cursor,
        "member_partners": await _partner_choices(session, principal),
        "editing": (str(editing), names.get(editing, "")) if changed is not None and editing else None,
        "member_errors": errors,
        "member_first_error": first_error(errors),
        "member_values": values or (_shown(changed) if changed else {"weight": "100"}),
    }
