"""Partner organisations: the paged list, create, edit (tier, place, website), deactivate, and
the products each is certified for.

As in the API, vendor admins change them; channel managers (their own partners) and leadership
read the list and a partner's page without its forms. The partner service holds every rule
(unique name, the country check, coordinates given or geocoded); the distribution setup
service holds the certifications.
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import FormMultiDict
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.auth import Principal, Role
from prm.core.pagination import PageRequest
from prm.crm.models import Partner, PartnerTier
from prm.crm.repository import ProductRepository
from prm.crm.schemas import ChannelManagerAssignment, PartnerCreate, PartnerUpdate
from prm.crm.services import partners as service
from prm.crm.services.products import list_products
from prm.crm.services.users import list_users
from prm.lead_distribution.schemas import CertificationsPut
from prm.lead_distribution.service import setup
from prm.portal.admin.common import (
    CHOICES_SHOWN,
    VENDOR_ADMIN_PAGES,
    VENDOR_READER_PAGES,
    Cursor,
    Done,
    back,
    decimal_number,
    first_error,
    listed,
    listing,
    or_none,
)
from prm.portal.shell.attempts import run_form, text_of, version_of
from prm.portal.shell.templating import page

NOTICES = {
    "created": "Partner created.",
    "saved": "Partner saved.",
    "deactivated": "Partner deactivated: it gets no new leads and cannot register deals.",
    "activated": "Partner active again.",
    "managers": "Channel managers saved.",
    "certifications": "Certifications saved: leads for these products may now be routed to this partner.",
}
FIELDS = ("name", "tier", "country", "region", "city", "website", "latitude", "longitude")
MESSAGES = {
    "name": "Enter a name of at most 200 characters.",
    "tier": "Choose a tier.",
    "country": "Enter a country by name or ISO code, like DE or Germany.",
    "region": "A region has at most 100 characters.",
    "city": "A city has at most 100 characters.",
    "website": "Enter a web address starting with http:// or https://.",
    "latitude": "Enter a latitude between -90 and 90, like 48.14.",
    "longitude": "Enter a longitude between -180 and 180, like 11.58.",
}
TIERS = [(t.value, t.value.capitalize()) for t in PartnerTier]


def _values(raw: FormMultiDict) -> dict[str, str]:
    return {name: text_of(raw, name) for name in FIELDS}


def _body(values: dict[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = {"name": values["name"], "tier": values["tier"] or PartnerTier.REGISTERED.value}
    body |= {name: or_none(values[name]) for name in ("country", "region", "city", "website")}
    for name in ("latitude", "longitude"):
        if values[name]:
            body[name] = decimal_number(values[name])
    return body


def _form_values(partner: Partner) -> dict[str, str]:
    shown = {name: getattr(partner, name) for name in FIELDS}
    shown["tier"] = partner.tier.value
    return {k: "" if v is None else str(v) for k, v in shown.items()}


async def partners_page(
    session: AsyncSession,
    principal: Principal,
    *,
    cursor: str | None = None,
    done: str | None = None,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response[Any]:
    rows, next_cursor = await service.list_partners(session, principal=principal, page=listing(cursor))
    errors = errors or {}
    return page(
        "admin/partners.html",
        principal,
        status_code=status_code,
        partners=rows,
        next_cursor=next_cursor,
        first_page=not cursor,
        can_change=principal.role is Role.VENDOR_ADMIN,
        tiers=TIERS,
        notice=NOTICES.get(done or ""),
        errors=errors,
        first_error=first_error(errors),
        values=values or {"tier": PartnerTier.REGISTERED.value},
    )


@get("/partners", name="admin_partners", guards=VENDOR_READER_PAGES)
async def partner_list(
    db_session: AsyncSession, principal: Principal, cursor: Cursor = None, done: Done = None
) -> Response[Any]:
    return await partners_page(db_session, principal, cursor=cursor, done=done)


@post("/partners", guards=VENDOR_ADMIN_PAGES)
async def create_partner(
    request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal
) -> Response[Any]:
    values = _values(await request.form())

    async def refuse(status: int, errors: dict[str, str]) -> Response[Any]:
        return await partners_page(db_session, principal, errors=errors, values=values, status_code=status)

    async def call(data: PartnerCreate) -> Partner:
        return await service.create_partner(db_session, principal=principal, data=data)

    return await run_form(
        db_session,
        PartnerCreate,
        _body(values),
        messages=MESSAGES,
        call=call,
        refuse=refuse,
        worked=lambda partner: back(f"/partners/{partner.id}", "created"),
    )


async def partner_page(
    session: AsyncSession,
    principal: Principal,
    partner_id: uuid.UUID,
    *,
    done: str | None = None,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    certified: list[str] | None = None,
    status_code: int = 200,
) -> Response[Any]:
    """The partner's page: its forms for a vendor admin, the same facts read-only for the other
    vendor roles (`certified`: the boxes as sent, on a refused certifications form)."""
    partner = await service.get_partner(session, principal=principal, partner_id=partner_id)
    can_change = principal.role is Role.VENDOR_ADMIN
    errors = errors or {}
    return page(
        "admin/partner.html",
        principal,
        status_code=status_code,
        partner=partner,
        can_change=can_change,
        **(await _managers(session, principal, partner_id) if can_change else {}),
        **await _certifications(session, principal, partner_id, certified, with_choices=can_change),
        tiers=TIERS,
        notice=NOTICES.get(done or ""),
        errors=errors,
        first_error=first_error(errors),
        values=values or _form_values(partner),
    )


async def _managers(session: AsyncSession, principal: Principal, partner_id: uuid.UUID) -> dict[str, Any]:
    managers = await service.channel_managers_of(session, principal=principal, partner_id=partner_id)
    staff, _ = await list_users(
        session, principal=principal, page=PageRequest(limit=CHOICES_SHOWN, sort="name"), role=Role.CHANNEL_MANAGER
    )
    return {
        "channel_managers": [(str(u.id), f"{u.name} <{u.email}>") for u in staff if u.active],
        "assigned": [str(m) for m in managers],
    }


async def _certifications(
    session: AsyncSession,
    principal: Principal,
    partner_id: uuid.UUID,
    checked: list[str] | None,
    *,
    with_choices: bool,
) -> dict[str, Any]:
    """The products the partner is certified for, as "Name (SKU)"; for the form, the active
    products to choose from, and any certified product no longer active, so saving keeps it."""
    ids = await setup.certifications(session, principal=principal, partner_id=partner_id)
    labels = await ProductRepository(session, principal).labels(ids)
    found: dict[str, Any] = {"certified_products": sorted(labels.values(), key=str.casefold)}
    if with_choices:
        by_name = PageRequest(limit=CHOICES_SHOWN, sort="name")
        products, _ = await list_products(session, principal=principal, page=by_name, active=True)
        choices = [(str(p.id), f"{p.name} ({p.sku})") for p in products]
        listed_ids = {p.id for p in products}
        choices += [(str(i), f"{labels[i]}, no longer active") for i in ids if i not in listed_ids and i in labels]
        found |= {"product_choices": choices, "certified": checked if checked is not None else [str(i) for i in ids]}
    return found


@get("/partners/{partner_id:uuid}", name="admin_partner", guards=VENDOR_READER_PAGES)
async def partner_detail(
    db_session: AsyncSession, principal: Principal, partner_id: uuid.UUID, done: Done = None
) -> Response[Any]:
    return await partner_page(db_session, principal, partner_id, done=done)


@post("/partners/{partner_id:uuid}", guards=VENDOR_ADMIN_PAGES)
async def edit_partner(
    request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, partner_id: uuid.UUID
) -> Response[Any]:
    raw = await request.form()
    values = _values(raw)

    async def refuse(status: int, errors: dict[str, str]) -> Response[Any]:
        return await partner_page(db_session, principal, partner_id, errors=errors, values=values, status_code=status)

    async def call(data: PartnerUpdate) -> Partner:
        return await service.update_partner(db_session, principal=principal, partner_id=partner_id, data=data)

    return await run_form(
        db_session,
        PartnerUpdate,
        _body(values) | {"expected_version": version_of(raw)},
        messages=MESSAGES,
        call=call,
        refuse=refuse,
        worked=lambda _: back(f"/partners/{partner_id}", "saved"),
    )


@post("/partners/{partner_id:uuid}/active", guards=VENDOR_ADMIN_PAGES)
async def set_partner_active(
    request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, partner_id: uuid.UUID
) -> Response[Any]:
    raw = await request.form()
    active = text_of(raw, "active") == "true"

    async def refuse(status: int, errors: dict[str, str]) -> Response[Any]:
        return await partner_page(db_session, principal, partner_id, errors=errors, status_code=status)

    async def call(data: PartnerUpdate) -> Partner:
        return await service.update_partner(db_session, principal=principal, partner_id=partner_id, data=data)

    return await run_form(
        db_session,
        PartnerUpdate,
        {"expected_version": version_of(raw), "active": active},
        messages={},
        call=call,
        refuse=refuse,
        worked=lambda _: back(f"/partners/{partner_id}", "activated" if active else "deactivated"),
    )


@post("/partners/{partner_id:uuid}/channel-managers", guards=VENDOR_ADMIN_PAGES)
async def set_channel_managers(
    request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, partner_id: uuid.UUID
) -> Response[Any]:
    chosen = listed(await request.form(), "channel_manager_ids")

    async def refuse(status: int, errors: dict[str, str]) -> Response[Any]:
        shown = {("channel_manager_ids" if k.startswith("channel_manager_ids") else k): v for k, v in errors.items()}
        return await partner_page(db_session, principal, partner_id, errors=shown, status_code=status)

    async def call(data: ChannelManagerAssignment) -> list[uuid.UUID]:
        return await service.assign_channel_managers(
            db_session, principal=principal, partner_id=partner_id, manager_ids=data.channel_manager_ids
        )

    return await run_form(
        db_session,
        ChannelManagerAssignment,
        {"channel_manager_ids": chosen},
        messages={"channel_manager_ids": "Choose channel managers from the list."},
        call=call,
        refuse=refuse,
        worked=lambda _: back(f"/partners/{partner_id}", "managers"),
    )


@post("/partners/{partner_id:uuid}/certifications", guards=VENDOR_ADMIN_PAGES)
async def set_certifications(
    request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, partner_id: uuid.UUID
) -> Response[Any]:
    """The products checked replace the partner's certifications (none checked: none left)."""
    chosen = listed(await request.form(), "product_ids")

    async def refuse(status: int, errors: dict[str, str]) -> Response[Any]:
        shown = {("product_ids" if k.startswith("product_ids") else k): v for k, v in errors.items()}
        return await partner_page(db_session, principal, partner_id, errors=shown, certified=chosen, status_code=status)

    async def call(data: CertificationsPut) -> list[uuid.UUID]:
        return await setup.set_certifications(
            db_session, principal=principal, partner_id=partner_id, product_ids=data.product_ids
        )

    return await run_form(
        db_session,
        CertificationsPut,
        {"product_ids": chosen},
        messages={"product_ids": "Choose products from the list."},
        call=call,
        refuse=refuse,
        worked=lambda _: back(f"/partners/{partner_id}", "certifications"),
    )


PARTNER_PAGE_HANDLERS: list[Any] = [
    partner_list,
    create_partner,
    partner_detail,
    edit_partner,
    set_partner_active,
    set_channel_managers,
    set_certifications,
]
