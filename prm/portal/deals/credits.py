"""The credit ledger page: margin credits earned by verified proof, pending -> approved -> paid."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Response, get
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.auth import Principal, Role
from prm.core.pagination import PageRequest
from prm.credits.service import list_credits
from prm.crm.services.directory import partner_names
from prm.portal.shell.session import page_allow
from prm.portal.shell.templating import page

CREDITS_PAGE_SIZE = 25


@get(
    "/credits",
    name="credits",
    guards=[page_allow(Role.PARTNER_ADMIN, Role.PARTNER_USER, Role.CHANNEL_MANAGER, Role.VENDOR_ADMIN)],
)
async def credit_ledger(
    db_session: AsyncSession,
    principal: Principal,
    cursor: Annotated[str | None, Parameter(max_length=500)] = None,
) -> Response[Any]:
    """Partners see their own organisation's credits; reviewers those of the partners they may see."""
    request = PageRequest(limit=CREDITS_PAGE_SIZE, cursor=cursor, sort="-created_at")
    credits, next_cursor = await list_credits(db_session, principal=principal, page=request)
    partners = {} if principal.is_partner else await partner_names(db_session, [c.partner_id for c in credits])
    return page(
        "credits.html",
        principal,
        credits=credits,
        partners=partners,
        next_cursor=next_cursor,
        first_page=cursor is None,
        link_base="/deals" if principal.is_partner else "/reviews",
    )


CREDIT_PAGE_HANDLERS: list[Any] = [credit_ledger]
