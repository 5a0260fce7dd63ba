"""The credit ledger: pending -> approved -> paid, one credit per source."""

from __future__ import annotations

import uuid
from typing import ClassVar

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.activity import record_activity
from prm.core.auth import Principal
from prm.core.changes import expect_version
from prm.core.errors import Conflict
from prm.core.pagination import PageRequest
from prm.core.records import record_created
from prm.core.repository import ScopedRepository
from prm.core.tenancy import partner_scope
from prm.core.webhooks import publish_event
from prm.credits.models import Credit, CreditStatus

NEXT = {CreditStatus.PENDING: CreditStatus.APPROVED, CreditStatus.APPROVED: CreditStatus.PAID}


class CreditRepository(ScopedRepository[Credit]):
    model = Credit
    label = "Credit"
    sortable: ClassVar[dict[str, str]] = {"created_at": "created_at", "amount_minor": "amount_minor"}

    def scope(self) -> ColumnElement[bool]:
        return partner_scope(self.principal, Credit.partner_id, vendor_rows_visible_to_managers=False)

    async def of_source(self, source_type: str, source_id: uuid.UUID) -> list[Credit]:
        """The credit a source (a won registration) earned, if the viewer may see it."""
        stmt = self.select().where(Credit.source_type == source_type, Credit.source_id == source_id)
        return list((await self.session.scalars(stmt)).all())


async def record_credit(
    session: AsyncSession,
    *,
    partner_id: uuid.UUID,
    source_type: str,
    source_id: uuid.UUID,
    description: str,
    basis_minor: int,
    rate_bps: int | None,
    amount_minor: int,
    currency: str,
    actor: Principal | None = None,
) -> Credit:
    existing = await session.scalar(
        select(Credit).where(Credit.source_type == source_type, Credit.source_id == source_id)
    )
    if existing is not None:
        return existing  # one credit per source, however often it is asked for
    credit = Credit(
        partner_id=partner_id,
        source_type=source_type,
        source_id=source_id,
        description=description,
        basis_minor=basis_minor,
        rate_bps=rate_bps,
        amount_minor=amount_minor,
        currency=currency,
        status=CreditStatus.PENDING,
    )
    session.add(credit)
    await record_created(
        session,
        credit,
        entity="credit",
        principal=actor,
        fields=("partner_id", "source_type", "amount_minor", "currency", "status"),
    )
    return credit


async def advance_credit(
    session: AsyncSession,
    *,
    principal: Principal,
    credit_id: uuid.UUID,
    expected_version: int,
    target: CreditStatus,
) -> Credit:
    credit = await CreditRepository(session, principal).get(credit_id)
    expect_version(credit, expected_version)
    if NEXT.get(credit.status) is not target:
        raise Conflict(
            f"A {credit.status.value} credit cannot become {target.value}.", current_state=credit.status.value
        )
    before = credit.status
    now = session.info["clock"].now()
    credit.status = target
    if target is CreditStatus.APPROVED:
        credit.approved_at = now
    else:
        credit.paid_at = now
    await session.flush()
    record_activity(
        session,
        entity_type="credit",
        entity_id=credit.id,
        action=target.value,
        actor=principal,
        changes={"status": [before.value, target.value]},
    )
    await publish_event(
        session,
        f"credit.{target.value}",
        {"id": str(credit.id), "amount_minor": credit.amount_minor, "partner_id": str(credit.partner_id)},
    )
    return credit


async def list_credits(
    session: AsyncSession,
    *,
    principal: Principal,
    page: PageRequest,
    status: CreditStatus | None = None,
    partner_id: uuid.UUID | None = None,
) -> tuple[list[Credit], str | None]:
    filters: list[ColumnElement[bool]] = []
    if status is not None:
        filters.append(Credit.status == status)
    if partner_id is not None:
        filters.append(Credit.partner_id == partner_id)
    return await CreditRepository(session, principal).page(page, *filters)
