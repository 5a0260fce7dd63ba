"""Lead programs: the paged list, create and edit (eligible tiers, response and claim clocks,
the cap on open leads, and the score bands whose web leads qualify by themselves), deactivate;
on a program's page its members with their territories: enrol, change, remove.

Vendor admins only, as in the API; the distribution setup service holds the rules.
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import FormMultiDict
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.auth import Principal
from prm.crm.models import PartnerTier
from prm.lead_distribution.models import LeadProgram
from prm.lead_distribution.repository import ProgramRepository
from prm.lead_distribution.rules import Band
from prm.lead_distribution.schemas import MemberPut, ProgramCreate, ProgramUpdate
from prm.lead_distribution.service import setup
from prm.portal.admin import members
from prm.portal.admin.common import VENDOR_ADMIN_PAGES, Cursor, Done, back, first_error, listed, listing, number
from prm.portal.shell.attempts import run_form, text_of, version_of
from prm.portal.shell.templating import page

NOTICES = {
    "created": "Lead program created.",
    "saved": "Lead program saved.",
    "deactivated": "Lead program deactivated.",
    "activated": "Lead program active again.",
} | members.NOTICES
NUMBERS = {
    "response_hours": ("Partner responds within (hours)", "1 to 1440"),
    "hot_response_hours": ("Hot leads: responds within (hours)", "1 to 1440"),
    "claim_window_hours": ("Shark-tank claim window (hours)", "1 to 1440"),
    "max_open_leads": ("Open leads per partner at most", "1 to 100000"),
    "min_acceptance_pct": ("Least acceptance rate (%)", "0 to 100; empty: none"),
}
MESSAGES = {
    "name": "Enter a name of at most 200 characters.",
    "description": "A description has at most 4,000 characters.",
    "eligible_tiers": "Choose among the listed tiers.",
    "auto_qualify_bands": "Choose among the listed bands.",
} | {name: f"Enter a whole number: {hint}." for name, (_, hint) in NUMBERS.items()}
TIERS = [(t.value, t.value.capitalize()) for t in PartnerTier]
BANDS = [(b.value, b.value.capitalize()) for b in Band]
NEW = {"response_hours": "48", "hot_response_hours": "4", "claim_window_hours": "24", "max_open_leads": "25"}


def _values(raw: FormMultiDict) -> dict[str, Any]:
    values: dict[str, Any] = {name: text_of(raw, name) for name in ("name", "description", *NUMBERS)}
    return values | {name: listed(raw, name) for name in ("eligible_tiers", "auto_qualify_bands")}


def _body(values: dict[str, Any]) -> dict[str, Any]:
    body = {name: values[name] for name in ("name", "description", "eligible_tiers", "auto_qualify_bands")}
    body |= {name: number(values[name]) for name in NUMBERS if name != "min_acceptance_pct"}
    pct = values["min_acceptance_pct"]
    return body | {"min_acceptance_pct": number(pct) if pct else None}


def _form_values(program: LeadProgram) -> dict[str, Any]:
    values: dict[str, Any] = {n: "" if getattr(program, n) is None else str(getattr(program, n)) for n in NUMBERS}
    values |= {"name": program.name, "description": program.description}
    return values | {"eligible_tiers": program.eligible_tiers, "auto_qualify_bands": program.auto_qualify_bands}


def _context(values: dict[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    return {
        "values": values,
        "errors": errors,
        "first_error": first_error(errors),
        "tiers": TIERS,
        "bands": BANDS,
        "numbers": list(NUMBERS.items()),
    }


async def lead_programs_page(
    session: AsyncSession,
    principal: Principal,
    *,
    cursor: str | None = None,
    done: str | None = None,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response[Any]:
    rows, next_cursor = await setup.list_programs(session, principal=principal, page=listing(cursor))
    return page(
        "admin/lead_programs.html",
        principal,
        status_code=status_code,
        programs=rows,
        next_cursor=next_cursor,
        first_page=not cursor,
        notice=NOTICES.get(done or ""),
        **_context(values or dict(NEW), errors or {}),
    )


@get("/lead-programs", name="admin_lead_programs", guards=VENDOR_ADMIN_PAGES)
async def lead_program_list(
    db_session: AsyncSession, principal: Principal, cursor: Cursor = None, done: Done = None
) -> Response[Any]:
    return await lead_programs_page(db_session, principal, cursor=cursor, done=done)


@post("/lead-programs", guards=VENDOR_ADMIN_PAGES)
async def create_lead_program(
    request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal
) -> Response[Any]:
    values = _values(await request.form())

    async def refuse(status: int, errors: dict[str, str]) -> Response[Any]:
        return await lead_programs_page(db_session, principal, errors=errors, values=values, status_code=status)

    async def call(data: ProgramCreate) -> LeadProgram:
        return await setup.create_program(db_session, principal=principal, data=data)

    return await run_form(
        db_session,
        ProgramCreate,
        _body(values),
        messages=MESSAGES,
        call=call,
        refuse=refuse,
        worked=lambda program: back(f"/lead-programs/{program.id}", "created"),
    )


async def lead_program_page(
    session: AsyncSession,
    principal: Principal,
    program_id: uuid.UUID,
    *,
    done: str | None = None,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    cursor: str | None = None,
    member: uuid.UUID | None = None,
    member_errors: dict[str, str] | None = None,
    member_values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response[Any]:
    program = await ProgramRepository(session, principal).get(program_id)
    return page(
        "admin/lead_program.html",
        principal,
        status_code=status_code,
        program=program,
        notice=NOTICES.get(done or ""),
        **_context(values or _form_values(program), errors or {}),
        **await members.members_context(
            session, principal, program, cursor=cursor, editing=member, errors=member_errors, values=member_values
        ),
    )


@get("/lead-programs/{program_id:uuid}", name="admin_lead_program", guards=VENDOR_ADMIN_PAGES)
async def lead_program_detail(
    db_session: AsyncSession,
    principal: Principal,
    program_id: uuid.UUID,
    done: Done = None,
    cursor: Cursor = None,
    member: uuid.UUID | None = None,
) -> Response[Any]:
    """The program, its members (a page of them), and the member form (`member`: change that one)."""
    return await lead_program_page(db_session, principal, program_id, done=done, cursor=cursor, member=member)


async def _update(
    session: AsyncSession,
    principal: Principal,
    program_id: uuid.UUID,
    body: dict[str, Any],
    *,
    values: dict[str, Any] | None,
    done: str,
) -> Response[Any]:
    async def refuse(status: int, errors: dict[str, str]) -> Response[Any]:
        return await lead_program_page(session, principal, program_id, errors=errors, values=values, status_code=status)

    async def call(data: ProgramUpdate) -> LeadProgram:
        return await setup.update_program(session, principal=principal, program_id=program_id, data=data)

    return await run_form(
        session,
        ProgramUpdate,
        body,
        messages=MESSAGES,
        call=call,
        refuse=refuse,
        worked=lambda _: back(f"/lead-programs/{program_id}", done),
    )


@post("/lead-programs/{program_id:uuid}", guards=VENDOR_ADMIN_PAGES)
async def edit_lead_program(
    request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, program_id: uuid.UUID
) -> Response[Any]:
    raw = await request.form()
    values = _values(raw)
    body = _body(values) | {"expected_version": version_of(raw)}
    return await _update(db_session, principal, program_id, body, values=values, done="saved")


@post("/lead-programs/{program_id:uuid}/active", guards=VENDOR_ADMIN_PAGES)
async def set_lead_program_active(
    request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, program_id: uuid.UUID
) -> Response[Any]:
    raw = await request.form()
    active = text_of(raw, "active") == "true"
    body = {"expected_version": version_of(raw), "active": active}
    done = "activated" if active else "deactivated"
    return await _update(db_session, principal, program_id, body, values=None, done=done)


@post("/lead-programs/{program_id:uuid}/members", guards=VENDOR_ADMIN_PAGES)
async def put_lead_program_member(
    request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, program_id: uuid.UUID
) -> Response[Any]:
    """Enrol the chosen partner, or change its terms if it is a member already (the API's PUT)."""
    raw = await request.form()
    values = members.form_values(raw)
    partner_id = members.partner_id_of(values)
    editing = partner_id if text_of(raw, "editing") else None

    async def refuse(status: int, errors: dict[str, str]) -> Response[Any]:
        return await lead_program_page(
            db_session,
            principal,
            program_id,
            member=editing,
            member_errors=errors,
            member_values=values,
            status_code=status,
        )

    if partner_id is None:
        return await refuse(400, {"partner_id": members.MESSAGES["partner_id"]})

    async def call(data: MemberPut) -> bool:
        await setup.partner_exists(db_session, principal, partner_id, field="partner_id")
        known = await ProgramRepository(db_session, principal).member(program_id, partner_id) is not None
        await setup.put_member(db_session, principal=principal, program_id=program_id, partner_id=partner_id, data=data)
        return known

    return await run_form(
        db_session,
        MemberPut,
        members.body(values),
        messages=members.messages_for(values),
        call=call,
        refuse=refuse,
        worked=lambda known: back(f"/lead-programs/{program_id}", "member_saved" if known else "enrolled"),
    )


@post("/lead-programs/{program_id:uuid}/members/{partner_id:uuid}/remove", guards=VENDOR_ADMIN_PAGES)
async def remove_lead_program_member(
    db_session: AsyncSession, principal: Principal, program_id: uuid.UUID, partner_id: uuid.UUID
) -> Response[Any]:
    """Not a member (removed meanwhile, in another tab): the 404 page, as the API answers."""
    await setup.remove_member(db_session, principal=principal, program_id=program_id, partner_id=partner_id)
    return back(f"/lead-programs/{program_id}", "removed")


LEAD_PROGRAM_PAGE_HANDLERS: list[Any] = [
    lead_program_list,
    create_lead_program,
    lead_program_detail,
    edit_lead_program,
    set_lead_program_active,
    put_lead_program_member,
    remove_lead_program_member,
]
