from __future__ import annotations

import uuid

from litestar import Controller, get, post
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.activity import ActivityRead
from prm.core.auth import EVERYONE, Principal, Role, allow
from prm.core.convert import to_page, to_read
from prm.core.history import history_of
from prm.core.pagination import Page, PageRequest
from prm.credits import service
from prm.credits.models import CreditStatus
from prm.credits.schemas import CreditRead, CreditTransition


class CreditController(Controller):
    path = "/credits"
    tags = ["credits"]
    guards = [allow(*EVERYONE)]

    @get("/", summary="The credit ledger (partners see their own)")
    async def list_credits(
        self,
        db_session: AsyncSession,
        principal: Principal,
        page: PageRequest,
        status: CreditStatus | None = None,
        partner_id: uuid.UUID | None = None,
    ) -> Page[CreditRead]:
        rows, cursor = await service.list_credits(
            db_session, principal=principal, page=page, status=status, partner_id=partner_id
        )
        return to_page(rows, cursor, CreditRead)

    @get("/{credit_id:uuid}")
    async def get_credit(self, db_session: AsyncSession, principal: Principal, credit_id: uuid.UUID) -> CreditRead:
        return to_read(await service.CreditRepository(db_session, principal).get(credit_id), CreditRead)

    @get("/{credit_id:uuid}/history", summary="Every change: who, when (UTC), what")
    async def credit_history(
        self, db_session: AsyncSession, principal: Principal, credit_id: uuid.UUID, page: PageRequest
    ) -> Page[ActivityRead]:
        return await history_of(
            db_session, service.CreditRepository(db_session, principal), credit_id, page, entity="credit"
        )

    @post("/{credit_id:uuid}/approve", status_code=200, guards=[allow(Role.VENDOR_ADMIN)])
    async def approve_credit(
        self, db_session: AsyncSession, principal: Principal, credit_id: uuid.UUID, data: CreditTransition
    ) -> CreditRead:
        credit = await service.advance_credit(
            db_session,
            principal=principal,
            credit_id=credit_id,
            expected_version=data.expected_version,
            target=CreditStatus.APPROVED,
        )
        return to_read(credit, CreditRead)

    @post("/{credit_id:uuid}/pay", status_code=200, guards=[allow(Role.VENDOR_ADMIN)])
    async def pay_credit(
        self, db_session: AsyncSession, principal: Principal, credit_id: uuid.UUID, data: CreditTransition
    ) -> CreditRead:
        credit = await service.advance_credit(
            db_session,
            principal=principal,
            credit_id=credit_id,
            expected_version=data.expected_version,
            target=CreditStatus.PAID,
        )
        return to_read(credit, CreditRead)
