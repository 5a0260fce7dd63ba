"""Shark-tank groups: the paged list with their members, create, set the members, deactivate.

Vendor admins only, as in the API; the distribution setup service checks every partner and
program named."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, Response, get, post
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.auth import Principal
from prm.core.pagination import PageRequest
from prm.crm.services.partners import list_partners
from prm.lead_distribution.models import PartnerGroup
from prm.lead_distribution.repository import GroupRepository
from prm.lead_distribution.schemas import GroupCreate, GroupMembersPut, GroupUpdate
from prm.lead_distribution.service import setup
from prm.portal.admin.common import (
    CHOICES_SHOWN,
    VENDOR_ADMIN_PAGES,
    Cursor,
    Done,
    back,
    first_error,
    listed,
    listing,
    number,
    or_none,
)
from prm.portal.shell.attempts import run_form, text_of, version_of
from prm.portal.shell.templating import page

NOTICES = {
    "created": "Group created: its members can claim the leads routed to it.",
    "members": "Members saved.",
    "deactivated": "Group deactivated: rules no longer route to it.",
    "activated": "Group active again.",
}
MESSAGES = {
    "name": "Enter a name of at most 200 characters.",
    "partner_ids": "Choose partners from the list.",
    "program_id": "Choose a lead program, or none.",
    "claim_window_hours": "Enter whole hours from 1, or leave empty for the program's window.",
    "max_open_claims_per_partner": "Enter a whole number from 1 to 10000.",
}


async def _choices(session: AsyncSession, principal: Principal) -> dict[str, Any]:
    by_name = PageRequest(limit=CHOICES_SHOWN, sort="name")
    partners, _ = await list_partners(session, principal=principal, page=by_name)
    programs, _ = await setup.list_programs(session, principal=principal, page=by_name)
    return {
        "partners": [(str(p.id), p.name) for p in partners if p.active],
        "partner_names": {str(p.id): p.name for p in partners},
        "programs": [(str(p.id), p.name) for p in programs],
    }


async def groups_page(
    session: AsyncSession,
    principal: Principal,
    *,
    cursor: str | None = None,
    done: str | None = None,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response[Any]:
    rows, next_cursor = await setup.list_groups(session, principal=principal, page=listing(cursor))
    members = await setup.group_members(session, [g.id for g in rows])
    errors = errors or {}
    return page(
        "admin/groups.html",
        principal,
        status_code=status_code,
        groups=[(g, [str(m) for m in members.get(g.id, [])]) for g in rows],
        next_cursor=next_cursor,
        first_page=not cursor,
        notice=NOTICES.get(done or ""),
        errors=errors,
        first_error=first_error(errors),
        values=values or {"max_open_claims_per_partner": "3", "partner_ids": []},
        **await _choices(session, principal),
    )


@get("/shark-tank", name="admin_groups", guards=VENDOR_ADMIN_PAGES)
async def group_list(
    db_session: AsyncSession, principal: Principal, cursor: Cursor = None, done: Done = None
) -> Response[Any]:
    return await groups_page(db_session, principal, cursor=cursor, done=done)


@post("/shark-tank", guards=VENDOR_ADMIN_PAGES)
async def create_group(
    request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal
) -> Response[Any]:
    raw = await request.form()
    values: dict[str, Any] = {n: text_of(raw, n) for n in ("name", "program_id", "claim_window_hours")}
    values |= {"max_open_claims_per_partner": text_of(raw, "max_open_claims_per_partner")}
    values["partner_ids"] = listed(raw, "partner_ids")
    body = {"name": values["name"], "partner_ids": values["partner_ids"], "program_id": or_none(values["program_id"])}
    body["claim_window_hours"] = number(values["claim_window_hours"]) if values["claim_window_hours"] else None
    body["max_open_claims_per_partner"] = number(values["max_open_claims_per_partner"] or "3")

    async def refuse(status: int, errors: dict[str, str]) -> Response[Any]:
        shown = {("partner_ids" if k.startswith("partner_ids") else k): v for k, v in errors.items()}
        return await groups_page(db_session, principal, errors=shown, values=values, status_code=status)

    async def call(data: GroupCreate) -> PartnerGroup:
        return await setup.create_group(db_session, principal=principal, data=data)

    return await run_form(
        db_session,
        GroupCreate,
        body,
        messages=MESSAGES,
        call=call,
        refuse=refuse,
        worked=lambda group: back(f"/shark-tank/{group.id}", "created"),
    )


async def group_page(
    session: AsyncSession,
    principal: Principal,
    group_id: uuid.UUID,
    *,
    done: str | None = None,
    errors: dict[str, str] | None = None,
    checked: list[str] | None = None,
    status_code: int = 200,
) -> Response[Any]:
    group = await GroupRepository(session, principal).get(group_id)
    members = (await setup.group_members(session, [group.id])).get(group.id, [])
    errors = errors or {}
    return page(
        "admin/group.html",
        principal,
        status_code=status_code,
        group=group,
        checked=checked if checked is not None else [str(m) for m in members],
        notice=NOTICES.get(done or ""),
        errors=errors,
        **await _choices(session, principal),
    )


@get("/shark-tank/{group_id:uuid}", name="admin_group", guards=VENDOR_ADMIN_PAGES)
async def group_detail(
    db_session: AsyncSession, principal: Principal, group_id: uuid.UUID, done: Done = None
) -> Response[Any]:
    return await group_page(db_session, principal, group_id, done=done)


@post("/shark-tank/{group_id:uuid}/members", guards=VENDOR_ADMIN_PAGES)
async def set_members(
    request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, group_id: uuid.UUID
) -> Response[Any]:
    chosen = listed(await request.form(), "partner_ids")

    async def refuse(status: int, errors: dict[str, str]) -> Response[Any]:
        shown = {("partner_ids" if k.startswith("partner_ids") else k): v for k, v in errors.items()}
        return await group_page(db_session, principal, group_id, errors=shown, checked=chosen, status_code=status)

    async def call(data: GroupMembersPut) -> PartnerGroup:
        return await setup.set_group_members(
            db_session, principal=principal, group_id=group_id, partner_ids=data.partner_ids
        )

    return await run_form(
        db_session,
        GroupMembersPut,
        {"partner_ids": chosen},
        messages=MESSAGES,
        call=call,
        refuse=refuse,
        worked=lambda _: back(f"/shark-tank/{group_id}", "members"),
    )


@post("/shark-tank/{group_id:uuid}/active", guards=VENDOR_ADMIN_PAGES)
async def set_group_active(
    request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, group_id: uuid.UUID
) -> Response[Any]:
    raw = await request.form()
    active = text_of(raw, "active") == "true"

    async def refuse(status: int, errors: dict[str, str]) -> Response[Any]:
        return await group_page(db_session, principal, group_id, errors=errors, status_code=status)

    async def call(data: GroupUpdate) -> PartnerGroup:
        return await setup.update_group(db_session, principal=principal, group_id=group_id, data=data)

    return await run_form(
        db_session,
        GroupUpdate,
        {"expected_version": version_of(raw), "active": active},
        messages={},
        call=call,
        refuse=refuse,
        worked=lambda _: back(f"/shark-tank/{group_id}", "activated" if active else "deactivated"),
    )


GROUP_PAGE_HANDLERS: list[Any] = [group_list, create_group, group_detail, set_members, set_group_active]
