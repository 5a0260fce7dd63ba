"""The tenant filter: which rows a principal may see, as a SQL condition.

Repositories add this to every query, so a route can never forget it and a guessed id of
another partner's record simply finds nothing (404).
"""

from __future__ import annotations

import uuid
from typing import Any

from advanced_alchemy.types import GUID
from sqlalchemy import Column, ColumnElement, ForeignKey, Table, false, or_, select, true
from sqlalchemy.orm import InstrumentedAttribute

from prm.core.auth import Principal, Role
from prm.core.db import Base

channel_manager_partners: Table = Table(
    "channel_manager_partners",
    Base.metadata,
    Column("user_id", GUID, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("partner_id", GUID, ForeignKey("partners.id", ondelete="CASCADE"), primary_key=True, index=True),
)


def managed_partner_ids(principal: Principal) -> Any:
    """A sub-select of the partners a channel manager is assigned to."""
    return select(channel_manager_partners.c.partner_id).where(channel_manager_partners.c.user_id == principal.user_id)


def partner_scope(
    principal: Principal,
    partner_column: InstrumentedAttribute[uuid.UUID | None] | InstrumentedAttribute[uuid.UUID],
    *,
    vendor_rows_visible_to_managers: bool = True,
) -> ColumnElement[bool]:
    """Rows owned by a partner (partner_column) or by the vendor (NULL).

    - vendor admin and leadership: everything;
    - channel manager: vendor-owned rows and rows of the partners assigned to them;
    - partner admin and user: their own organisation's rows only.
    """
    if principal.role in (Role.VENDOR_ADMIN, Role.LEADERSHIP):
        return true()
    if principal.role is Role.CHANNEL_MANAGER:
        managed = partner_column.in_(managed_partner_ids(principal))
        if vendor_rows_visible_to_managers:
            return or_(partner_column.is_(None), managed)
        return managed
    if principal.partner_id is None:
        return false()
    return partner_column == principal.partner_id
