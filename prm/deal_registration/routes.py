"""Deal registration API: programs, registrations, review, protection, close and proof."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, patch, post, put
from litestar.datastructures import UploadFile
from litestar.di import Provide
from litestar.enums import RequestEncodingType
from litestar.params import Body, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.activity import ActivityRead
from prm.core.auth import EVERYONE, PARTNERS, STAFF, Principal, Role, allow
from prm.core.convert import to_page, to_read
from prm.core.history import history_of
from prm.core.http import attachment_disposition
from prm.core.idempotency import idempotent_create
from prm.core.pagination import Page, PageRequest, page_request_sorted_by
from prm.deal_registration import views
from prm.deal_registration.models import RegistrationState
from prm.deal_registration.repository import RegistrationRepository
from prm.deal_registration.schemas import (
    ApprovalRulesRead,
    ApprovalRulesUpdate,
    Approve,
    Cancel,
    CloseLost,
    ConflictCheckRequest,
    ConflictCheckResult,
    ExtensionCreate,
    ExtensionDecision,
    ExtensionRead,
    MarkDuplicate,
    ProgramCreate,
    ProgramRead,
    ProgramUpdate,
    ProofDecision,
    RegistrationCreate,
    RegistrationDetails,
    RegistrationRead,
    RegistrationUpdate,
    Reject,
    Transition,
)
from prm.deal_registration.service import closing, programs, protection, registrations, review, rules

RegistrationId = uuid.UUID


class ProgramController(Controller):
    path = "/deal-programs"
    tags = ["deal registration"]
    guards = [allow(*EVERYONE)]

    @post("/", guards=[allow(Role.VENDOR_ADMIN)], summary="Create a deal registration program")
    async def create_program(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, data: ProgramCreate
    ) -> Response[ProgramRead]:
        async def create() -> ProgramRead:
            return to_read(await programs.create_program(db_session, principal=principal, data=data), ProgramRead)

        return await idempotent_create(request, db_session, principal, create, ProgramRead)

    @get("/", summary="Programs (partners see the ones they are eligible for)")
    async def list_programs(
        self, db_session: AsyncSession, principal: Principal, page: PageRequest, active: bool | None = None
    ) -> Page[ProgramRead]:
        rows, cursor = await programs.list_programs(db_session, principal=principal, page=page, active=active)
        return to_page(rows, cursor, ProgramRead)

    @get("/{program_id:uuid}")
    async def get_program(self, db_session: AsyncSession, principal: Principal, program_id: uuid.UUID) -> ProgramRead:
        return to_read(await programs.get_program(db_session, principal=principal, program_id=program_id), ProgramRead)

    @patch("/{program_id:uuid}", guards=[allow(Role.VENDOR_ADMIN)])
    async def update_program(
        self, db_session: AsyncSession, principal: Principal, program_id: uuid.UUID, data: ProgramUpdate
    ) -> ProgramRead:
        program = await programs.update_program(db_session, principal=principal, program_id=program_id, data=data)
        return to_read(program, ProgramRead)

    @get("/{program_id:uuid}/approval-rules", guards=[allow(*STAFF)], summary="How the program decides by itself")
    async def get_approval_rules(
        self, db_session: AsyncSession, principal: Principal, program_id: uuid.UUID
    ) -> ApprovalRulesRead:
        return await rules.get_rules(db_session, principal=principal, program_id=program_id)

    @put(
        "/{program_id:uuid}/approval-rules",
        guards=[allow(Role.VENDOR_ADMIN)],
        summary="Set the program's approval rules as a whole (left out: off)",
    )
    async def set_approval_rules(
        self, db_session: AsyncSession, principal: Principal, program_id: uuid.UUID, data: ApprovalRulesUpdate
    ) -> ApprovalRulesRead:
        return await rules.set_rules(db_session, principal=principal, program_id=program_id, data=data)

    @get("/{program_id:uuid}/history", summary="Every change: who, when (UTC), what")
    async def program_history(
        self, db_session: AsyncSession, principal: Principal, program_id: uuid.UUID, page: PageRequest
    ) -> Page[ActivityRead]:
        return await history_of(
            db_session, await programs.programs_for(db_session, principal), program_id, page, entity="deal_program"
        )


@dataclass
class CloseWonForm:
    expected_version: int
    amount_minor: int
    proof_date: date
    document: UploadFile
    invoice_number: str | None = None
    purchase_order_number: str | None = None


class RegistrationController(Controller):
    path = "/deal-registrations"
    tags = ["deal registration"]
    guards = [allow(*EVERYONE)]

    @post("/", guards=[allow(*PARTNERS)], summary="Register a deal (draft, or submit at once)")
    async def create_registration(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        principal: Principal,
        data: RegistrationCreate,
    ) -> Response[RegistrationRead]:
        async def create() -> RegistrationRead:
            registered = await registrations.create_registration(db_session, principal=principal, data=data)
            return await views.read_registered(db_session, principal, registered)

        return await idempotent_create(request, db_session, principal, create, RegistrationRead)

    @get("/", summary="Registrations you may see")
    async def list_registrations(
        self,
        db_session: AsyncSession,
        principal: Principal,
        page: PageRequest,
        registration_state: Annotated[RegistrationState | None, QueryParameter(name="state")] = None,
        partner_id: uuid.UUID | None = None,
        program_id: uuid.UUID | None = None,
    ) -> Page[RegistrationRead]:
        rows, cursor = await registrations.list_registrations(
            db_session,
            principal=principal,
            page=page,
            state=registration_state,
            partner_id=partner_id,
            program_id=program_id,
        )
        return Page(items=await views.read_many(db_session, principal, rows), next_cursor=cursor)

    @get("/review-queue", guards=[allow(*STAFF)], summary="Submitted registrations, oldest deadline first")
    async def review_queue(
        self, db_session: AsyncSession, principal: Principal, page: PageRequest
    ) -> Page[RegistrationRead]:
        rows, cursor = await review.review_queue(db_session, principal=principal, page=page)
        return Page(items=await views.read_many(db_session, principal, rows), next_cursor=cursor)

    @post(
        "/conflict-check",
        status_code=200,
        guards=[allow(*PARTNERS)],
        summary="Would this customer and these products conflict? (kinds only)",
    )
    async def conflict_check(
        self, db_session: AsyncSession, principal: Principal, data: ConflictCheckRequest
    ) -> ConflictCheckResult:
        found = await registrations.check_conflicts(db_session, principal=principal, data=data)
        return ConflictCheckResult(possible_conflict=bool(found), conflicts=views.hints(found))

    @get("/{registration_id:uuid}")
    async def get_registration(
        self, db_session: AsyncSession, principal: Principal, registration_id: uuid.UUID
    ) -> RegistrationRead:
        registration = await RegistrationRepository(db_session, principal).get(registration_id)
        return await views.read_one(db_session, principal, registration)

    @patch("/{registration_id:uuid}", guards=[allow(*PARTNERS)], summary="Edit a draft")
    async def update_registration(
        self, db_session: AsyncSession, principal: Principal, registration_id: uuid.UUID, data: RegistrationUpdate
    ) -> RegistrationRead:
        registration = await registrations.update_draft(
            db_session, principal=principal, registration_id=registration_id, data=data
        )
        return await views.read_one(db_session, principal, registration)

    @post("/{registration_id:uuid}/submit", status_code=200, guards=[allow(*PARTNERS)])
    async def submit(
        self, db_session: AsyncSession, principal: Principal, registration_id: uuid.UUID, data: Transition
    ) -> RegistrationRead:
        registration = await registrations.submit_registration(
            db_session, principal=principal, registration_id=registration_id, expected_version=data.expected_version
        )
        return await views.read_one(db_session, principal, registration)

    @post("/{registration_id:uuid}/cancel", status_code=200, guards=[allow(*PARTNERS)])
    async def cancel(
        self, db_session: AsyncSession, principal: Principal, registration_id: uuid.UUID, data: Cancel
    ) -> RegistrationRead:
        registration = await registrations.cancel_registration(
            db_session,
            principal=principal,
            registration_id=registration_id,
            expected_version=data.expected_version,
            reason=data.reason,
        )
        return await views.read_one(db_session, principal, registration)

    @post(
        "/{registration_id:uuid}/resubmit",
        guards=[allow(*PARTNERS)],
        summary="Resubmit a rejected or expired registration as a new, linked submission",
    )
    async def resubmit(
        self, db_session: AsyncSession, principal: Principal, registration_id: uuid.UUID, data: RegistrationDetails
    ) -> RegistrationRead:
        registered = await registrations.resubmit_registration(
            db_session, principal=principal, registration_id=registration_id, data=data
        )
        return await views.read_registered(db_session, principal, registered)

    @post("/{registration_id:uuid}/approve", status_code=200, guards=[allow(*STAFF)])
    async def approve(
        self, db_session: AsyncSession, principal: Principal, registration_id: uuid.UUID, data: Approve
    ) -> RegistrationRead:
        registration = await review.approve(db_session, principal=principal, registration_id=registration_id, data=data)
        return await views.read_one(db_session, principal, registration)

    @post("/{registration_id:uuid}/reject", status_code=200, guards=[allow(*STAFF)])
    async def reject(
        self, db_session: AsyncSession, principal: Principal, registration_id: uuid.UUID, data: Reject
    ) -> RegistrationRead:
        registration = await review.reject(db_session, principal=principal, registration_id=registration_id, data=data)
        return await views.read_one(db_session, principal, registration)

    @post("/{registration_id:uuid}/mark-duplicate", status_code=200, guards=[allow(*STAFF)])
    async def mark_duplicate(
        self, db_session: AsyncSession, principal: Principal, registration_id: uuid.UUID, data: MarkDuplicate
    ) -> RegistrationRead:
        registration = await review.mark_duplicate(
            db_session, principal=principal, registration_id=registration_id, data=data
        )
        return await views.read_one(db_session, principal, registration)

    @get(
        "/{registration_id:uuid}/extensions",
        summary="The registration's extension requests, oldest first (sort=created_at)",
        dependencies={"page": Provide(page_request_sorted_by("created_at"), sync_to_thread=False)},
    )
    async def list_extensions(
        self, db_session: AsyncSession, principal: Principal, registration_id: uuid.UUID, page: PageRequest
    ) -> Page[ExtensionRead]:
        repo = RegistrationRepository(db_session, principal)
        await repo.get(registration_id)
        rows, cursor = await repo.extension_page(registration_id, page)
        return to_page(rows, cursor, ExtensionRead)

    @post("/{registration_id:uuid}/extensions", guards=[allow(*PARTNERS)], summary="Request an extension")
    async def request_extension(
        self, db_session: AsyncSession, principal: Principal, registration_id: uuid.UUID, data: ExtensionCreate
    ) -> ExtensionRead:
        extension = await protection.request_extension(
            db_session, principal=principal, registration_id=registration_id, data=data
        )
        return to_read(extension, ExtensionRead)

    @post("/{registration_id:uuid}/extensions/{extension_id:uuid}/decision", status_code=200, guards=[allow(*STAFF)])
    async def decide_extension(
        self,
        db_session: AsyncSession,
        principal: Principal,
        registration_id: uuid.UUID,
        extension_id: uuid.UUID,
        data: ExtensionDecision,
    ) -> ExtensionRead:
        extension = await protection.decide_extension(
            db_session, principal=principal, registration_id=registration_id, extension_id=extension_id, data=data
        )
        return to_read(extension, ExtensionRead)

    @post(
        "/{registration_id:uuid}/close-won",
        status_code=200,
        guards=[allow(*PARTNERS)],
        summary="Close won with proof of performance (multipart upload: PDF, PNG or JPEG)",
    )
    async def close_won(
        self,
        db_session: AsyncSession,
        principal: Principal,
        registration_id: uuid.UUID,
        data: Annotated[CloseWonForm, Body(media_type=RequestEncodingType.MULTI_PART)],
    ) -> RegistrationRead:
        content = await data.document.read(closing.MAX_DOCUMENT_BYTES + 1)
        proof = closing.Proof(
            invoice_number=(data.invoice_number or "").strip()[:100] or None,
            purchase_order_number=(data.purchase_order_number or "").strip()[:100] or None,
            amount_minor=data.amount_minor,
            proof_date=data.proof_date,
            filename=data.document.filename or "document",
            content=content,
        )
        registration = await closing.close_won(
            db_session,
            principal=principal,
            registration_id=registration_id,
            expected_version=data.expected_version,
            proof=proof,
        )
        return await views.read_one(db_session, principal, registration)

    @post("/{registration_id:uuid}/close-lost", status_code=200, guards=[allow(*PARTNERS)])
    async def close_lost(
        self, db_session: AsyncSession, principal: Principal, registration_id: uuid.UUID, data: CloseLost
    ) -> RegistrationRead:
        registration = await closing.close_lost(
            db_session, principal=principal, registration_id=registration_id, data=data
        )
        return await views.read_one(db_session, principal, registration)

    @post(
        "/{registration_id:uuid}/proof/decision",
        status_code=200,
        guards=[allow(*STAFF)],
        summary="Verify (or refuse) the proof of performance; verification books the margin credit",
    )
    async def decide_proof(
        self, db_session: AsyncSession, principal: Principal, registration_id: uuid.UUID, data: ProofDecision
    ) -> RegistrationRead:
        registration = await closing.decide_proof(
            db_session, principal=principal, registration_id=registration_id, data=data
        )
        return await views.read_one(db_session, principal, registration)

    @get("/{registration_id:uuid}/proof/document", media_type="application/octet-stream")
    async def proof_document(
        self, db_session: AsyncSession, principal: Principal, registration_id: uuid.UUID
    ) -> Response[bytes]:
        document = await closing.proof_document(db_session, principal=principal, registration_id=registration_id)
        return Response(
            document.content,
            media_type=document.content_type,
            headers={
                "Content-Disposition": attachment_disposition(document.filename),
                "X-Content-Type-Options": "nosniff",
                "Cache-Control": "private, no-store",
            },
        )

    @get("/{registration_id:uuid}/history", summary="Every transition: who, when (UTC), from/to, why")
    async def registration_history(
        self, db_session: AsyncSession, principal: Principal, registration_id: uuid.UUID, page: PageRequest
    ) -> Page[ActivityRead]:
        repo = RegistrationRepository(db_session, principal)
        return await history_of(db_session, repo, registration_id, page, entity="deal_registration")
