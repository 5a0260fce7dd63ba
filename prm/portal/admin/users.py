"""Users: the paged list, create (an account with a first password, welcomed by email), role
and deactivation. A vendor admin manages every user; a partner admin manages the partner roles
of its own organisation only, exactly as the user service allows in the API (its list is that
organisation's users, and the service refuses anything else)."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, Response, get, post
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.auth import PARTNER_ROLES, Principal, Role
from prm.core.pagination import PageRequest
from prm.crm.models import User
from prm.crm.schemas import UserCreate, UserUpdate
from prm.crm.services import users as service
from prm.crm.services.directory import partner_names
from prm.crm.services.partners import list_partners
from prm.portal.admin.common import CHOICES_SHOWN, Cursor, Done, back, first_error, listing, or_none
from prm.portal.shell.attempts import GENERAL, run_form, text_of, version_of
from prm.portal.shell.session import page_allow
from prm.portal.shell.templating import page

USER_PAGES = [page_allow(Role.VENDOR_ADMIN, Role.PARTNER_ADMIN)]
NOTICES = {
    "created": "User created; a welcome email is on its way.",
    "saved": "Role saved; the user signs in again.",
    "deactivated": "User deactivated: every session ended.",
    "activated": "User active again.",
}
ROLE_LABELS = {
    Role.PARTNER_ADMIN.value: "Partner admin",
    Role.PARTNER_USER.value: "Partner user",
    Role.CHANNEL_MANAGER.value: "Channel manager",
    Role.VENDOR_ADMIN.value: "Vendor admin",
    Role.LEADERSHIP.value: "Leadership",
}
MESSAGES = {
    "email": "Enter a valid email address, like name@example.com.",
    "name": "Enter a name of at most 200 characters.",
    "role": "Choose a role.",
    "password": "A first password has 10 to 200 characters.",
    "partner_id": "Choose the partner organisation.",
}


def _roles(principal: Principal) -> list[tuple[str, str]]:
    """The roles the viewer may give: a partner admin only the partner roles."""
    allowed = [r for r in ROLE_LABELS if principal.role is Role.VENDOR_ADMIN or Role(r) in PARTNER_ROLES]
    return [(r, ROLE_LABELS[r]) for r in allowed]


async def _partner_choices(session: AsyncSession, principal: Principal) -> list[tuple[str, str]]:
    if principal.role is not Role.VENDOR_ADMIN:
        return []
    rows, _ = await list_partners(session, principal=principal, page=PageRequest(limit=CHOICES_SHOWN, sort="name"))
    return [(str(p.id), p.name) for p in rows if p.active]


async def users_page(
    session: AsyncSession,
    principal: Principal,
    *,
    cursor: str | None = None,
    partner_id: uuid.UUID | None = None,
    done: str | None = None,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response[Any]:
    rows, next_cursor = await service.list_users(
        session, principal=principal, page=listing(cursor, "email"), partner_id=partner_id
    )
    errors = errors or {}
    default_role = Role.PARTNER_USER.value
    return page(
        "admin/users.html",
        principal,
        status_code=status_code,
        users=rows,
        partner_names=await partner_names(session, [u.partner_id for u in rows if u.partner_id]),
        next_cursor=next_cursor,
        first_page=not cursor,
        query=f"partner_id={partner_id}" if partner_id else "",
        roles=_roles(principal),
        role_labels=ROLE_LABELS,
        partners=await _partner_choices(session, principal),
        notice=NOTICES.get(done or ""),
        errors=errors,
        first_error=first_error(errors),
        values=values or {"role": default_role, "partner_id": str(partner_id or "")},
    )


@get("/users", name="admin_users", guards=USER_PAGES)
async def user_list(
    db_session: AsyncSession,
    principal: Principal,
    cursor: Cursor = None,
    partner_id: uuid.UUID | None = None,
    done: Done = None,
) -> Response[Any]:
    return await users_page(db_session, principal, cursor=cursor, partner_id=partner_id, done=done)


@post("/users", guards=USER_PAGES)
async def create_user(request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal) -> Response[Any]:
    raw = await request.form()
    values = {name: text_of(raw, name) for name in ("email", "name", "role", "partner_id")}
    body: dict[str, Any] = {k: values[k] for k in ("email", "name", "role")}
    body |= {"password": raw.get("password") or "", "partner_id": or_none(values["partner_id"])}

    async def refuse(status: int, errors: dict[str, str]) -> Response[Any]:
        return await users_page(db_session, principal, errors=errors, values=values, status_code=status)

    async def call(data: UserCreate) -> User:
        return await service.create_user(db_session, principal=principal, data=data)

    return await run_form(
        db_session,
        UserCreate,
        body,
        messages=MESSAGES,
        call=call,
        refuse=refuse,
        worked=lambda _: back("/users", "created"),
    )


async def _update(
    request: Request[Any, Any, Any],
    session: AsyncSession,
    principal: Principal,
    user_id: uuid.UUID,
    change: dict[str, Any],
    done: str,
) -> Response[Any]:
    raw = await request.form()

    async def refuse(status: int, errors: dict[str, str]) -> Response[Any]:
        # A row's button has no field of its own: the message goes above the list.
        return await users_page(session, principal, errors={GENERAL: " ".join(errors.values())}, status_code=status)

    async def call(data: UserUpdate) -> User:
        return await service.update_user(session, principal=principal, user_id=user_id, data=data)

    return await run_form(
        session,
        UserUpdate,
        {"expected_version": version_of(raw), **change},
        messages=MESSAGES,
        call=call,
        refuse=refuse,
        worked=lambda _: back("/users", done),
    )


@post("/users/{user_id:uuid}/role", guards=USER_PAGES)
async def set_role(
    request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, user_id: uuid.UUID
) -> Response[Any]:
    role = text_of(await request.form(), "role")
    return await _update(request, db_session, principal, user_id, {"role": role}, "saved")


@post("/users/{user_id:uuid}/active", guards=USER_PAGES)
async def set_active(
    request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, user_id: uuid.UUID
) -> Response[Any]:
    active = text_of(await request.form(), "active") == "true"
    done = "activated" if active else "deactivated"
    return await _update(request, db_session, principal, user_id, {"active": active}, done)


USER_PAGE_HANDLERS: list[Any] = [user_list, create_user, set_role, set_active]
