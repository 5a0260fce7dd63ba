"""Partner portal: one registration (clocks, conflict hint, history, credit) and what the partner does with it.

Each action is a small form on the registration's page. It is checked against the API's own
Struct, handed to the service, and answered with a redirect back to the page (which says
what happened) or with the page again, the message next to the field of the form that was sent.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.datastructures import FormMultiDict, UploadFile
from litestar.params import Parameter
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.auth import Principal
from prm.core.http import attachment_disposition
from prm.deal_registration.models import DealRegistration
from prm.deal_registration.schemas import Cancel, CloseLost, ExtensionCreate, Transition
from prm.deal_registration.service import closing, protection, registrations
from prm.portal.deals.forms import friendly_errors
from prm.portal.deals.pages import PARTNER_PAGES
from prm.portal.deals.views import OVERRIDE_REASONS, REJECTION_REASONS, hint_text, registration_view
from prm.portal.shell.attempts import GENERAL, Refusal, Refuse, attempt, field_messages, run_form, text_of, version_of
from prm.portal.shell.money import AmountError, parse_amount
from prm.portal.shell.templating import page

NOTICES = {
    "submitted": "Submitted for review. The review clock below shows when your channel manager decides.",
    "draft": "Draft saved. Submit it when it is complete.",
    "cancelled": "The registration is cancelled.",
    "extension": "Extension requested. Your channel manager decides; until then the protection clock is unchanged.",
    "won": "Closed won. Your proof of performance now waits for verification.",
    "lost": "Closed lost.",
}
REASON_MESSAGE = "Give a reason of at least 3 characters (at most 2,000)."
PROOF_FIELDS = ("invoice_number", "purchase_order_number", "amount", "proof_date")
Done = Annotated[str | None, Parameter(max_length=20)]


async def detail_page(
    session: AsyncSession,
    principal: Principal,
    registration_id: uuid.UUID,
    *,
    done: str | None = None,
    action: str | None = None,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response[Any]:
    """The registration's page; after a refused action, with that form's messages and what was typed."""
    view = await registration_view(session, principal, registration_id)
    errors = errors or {}
    if action == "submit":  # the program's requirements, in the words the registration form uses
        errors = friendly_errors(errors, view.program)
    return page(
        "deals_detail.html",
        principal,
        status_code=status_code,
        view=view,
        read=view.read,
        hints=[hint_text(h) for h in view.read.conflict_hints],
        actions=view.read.allowed_actions,
        notice=NOTICES.get(done or ""),
        action=action,
        errors=errors,
        first_error=next((k for k in errors if k != GENERAL), None),
        values=values or {},
        reasons=REJECTION_REASONS,
        override_reasons=OVERRIDE_REASONS,
    )


@get("/deals/{registration_id:uuid}", name="deal", guards=PARTNER_PAGES)
async def deal_detail(
    db_session: AsyncSession, principal: Principal, registration_id: uuid.UUID, done: Done = None
) -> Response[Any]:
    return await detail_page(db_session, principal, registration_id, done=done)


def _answers(
    session: AsyncSession, principal: Principal, registration_id: uuid.UUID, action: str, values: dict[str, str]
) -> tuple[Refuse, Callable[[Any], Response[Any]]]:
    """How an action form is answered: the page again with its messages, or back to the page."""

    async def refuse(status: int, errors: dict[str, str]) -> Response[Any]:
        return await detail_page(
            session, principal, registration_id, action=action, errors=errors, values=values, status_code=status
        )

    def worked(_: Any) -> Response[Any]:
        return Redirect(f"/deals/{registration_id}?done={NOTICE_OF[action]}", status_code=303)

    return refuse, worked


NOTICE_OF = {
    "submit": "submitted",
    "cancel": "cancelled",
    "extend": "extension",
    "close_lost": "lost",
    "close_won": "won",
}


async def _reason_action(
    request: Request[Any, Any, Any],
    session: AsyncSession,
    principal: Principal,
    registration_id: uuid.UUID,
    *,
    action: str,
    struct_type: type[Any],
    call: Callable[[Any], Awaitable[DealRegistration | Any]],
    optional: bool = False,
) -> Response[Any]:
    """An action whose form is a reason (and the version the page showed)."""
    raw = await request.form()
    values = {"reason": text_of(raw, "reason")}
    refuse, worked = _answers(session, principal, registration_id, action, values)
    message = "A reason has at most 2,000 characters." if optional else REASON_MESSAGE
    return await run_form(
        session,
        struct_type,
        {"expected_version": version_of(raw), "reason": values["reason"] or (None if optional else "")},
        messages={"reason": message},
        call=call,
        refuse=refuse,
        worked=worked,
    )


@post("/deals/{registration_id:uuid}/submit", guards=PARTNER_PAGES)
async def submit_draft(
    request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, registration_id: uuid.UUID
) -> Response[Any]:
    raw = await request.form()
    refuse, worked = _answers(db_session, principal, registration_id, "submit", {})

    async def call(data: Transition) -> DealRegistration:
        return await registrations.submit_registration(
            db_session, principal=principal, registration_id=registration_id, expected_version=data.expected_version
        )

    values = {"expected_version": version_of(raw)}
    return await run_form(db_session, Transition, values, messages={}, call=call, refuse=refuse, worked=worked)


@post("/deals/{registration_id:uuid}/cancel", guards=PARTNER_PAGES)
async def cancel(
    request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, registration_id: uuid.UUID
) -> Response[Any]:
    async def call(data: Cancel) -> DealRegistration:
        return await registrations.cancel_registration(
            db_session,
            principal=principal,
            registration_id=registration_id,
            expected_version=data.expected_version,
            reason=data.reason,
        )

    return await _reason_action(
        request, db_session, principal, registration_id, action="cancel", struct_type=Cancel, call=call, optional=True
    )


@post("/deals/{registration_id:uuid}/extension", guards=PARTNER_PAGES)
async def request_extension(
    request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, registration_id: uuid.UUID
) -> Response[Any]:
    async def call(data: ExtensionCreate) -> Any:
        return await protection.request_extension(
            db_session, principal=principal, registration_id=registration_id, data=data
        )

    return await _reason_action(
        request, db_session, principal, registration_id, action="extend", struct_type=ExtensionCreate, call=call
    )


@post("/deals/{registration_id:uuid}/close-lost", guards=PARTNER_PAGES)
async def close_lost(
    request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, registration_id: uuid.UUID
) -> Response[Any]:
    async def call(data: CloseLost) -> DealRegistration:
        return await closing.close_lost(db_session, principal=principal, registration_id=registration_id, data=data)

    return await _reason_action(
        request, db_session, principal, registration_id, action="close_lost", struct_type=CloseLost, call=call
    )


# Close won with proof of performance -----------------------------------------------------------------


def _won_amount(text: str, currency: str, errors: dict[str, str]) -> int:
    if not text:
        errors["amount"] = "Enter the won amount, as on the invoice."
        return 0
    try:
        return parse_amount(text, currency)
    except AmountError as exc:
        errors["amount"] = str(exc)
        return 0


def _proof_date(text: str, errors: dict[str, str]) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        errors["proof_date"] = "Enter the invoice or order date, like 2026-05-01."
        return None


async def _proof_from(
    raw: FormMultiDict, currency: str, values: dict[str, str]
) -> tuple[closing.Proof | None, dict[str, str]]:
    """The proof as the service takes it; the service itself checks the number, amount and file type."""
    errors: dict[str, str] = {}
    amount = _won_amount(values["amount"], currency, errors)
    proof_date = _proof_date(values["proof_date"], errors)
    upload = raw.get("document")
    content = await upload.read(closing.MAX_DOCUMENT_BYTES + 1) if isinstance(upload, UploadFile) else b""
    if not content:
        errors["document"] = "Attach the invoice or purchase order as a PDF, PNG or JPEG file."
    if errors or proof_date is None or not isinstance(upload, UploadFile):
        return None, errors
    proof = closing.Proof(
        invoice_number=values["invoice_number"][:100] or None,
        purchase_order_number=values["purchase_order_number"][:100] or None,
        amount_minor=amount,
        proof_date=proof_date,
        filename=upload.filename or "document",
        content=content,
    )
    return proof, errors


@post("/deals/{registration_id:uuid}/close-won", guards=PARTNER_PAGES)
async def close_won(
    request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, registration_id: uuid.UUID
) -> Response[Any]:
    raw = await request.form()
    values = {name: text_of(raw, name) for name in PROOF_FIELDS}
    refuse, worked = _answers(db_session, principal, registration_id, "close_won", values)
    view = await registration_view(db_session, principal, registration_id)
    proof, errors = await _proof_from(raw, view.read.currency, values)
    if proof is None:
        return await refuse(400, errors)
    outcome = await attempt(
        db_session,
        lambda: closing.close_won(
            db_session,
            principal=principal,
            registration_id=registration_id,
            expected_version=version_of(raw),
            proof=proof,
        ),
    )
    if isinstance(outcome, Refusal):
        messages = field_messages(outcome)
        return await refuse(outcome.status, {"amount" if k == "amount_minor" else k: v for k, v in messages.items()})
    return worked(outcome)


@get("/deals/{registration_id:uuid}/proof", guards=PARTNER_PAGES, media_type="application/octet-stream")
async def proof_document(db_session: AsyncSession, principal: Principal, registration_id: uuid.UUID) -> Response[bytes]:
    return await document_response(db_session, principal, registration_id)


async def document_response(session: AsyncSession, principal: Principal, registration_id: uuid.UUID) -> Response[bytes]:
    """The proof document as a download (never shown inline: its bytes came from outside)."""
    document = await closing.proof_document(session, principal=principal, registration_id=registration_id)
    return Response(
        document.content,
        media_type=document.content_type,
        headers={
            "Content-Disposition": attachment_disposition(document.filename),
            "Cache-Control": "private, no-store",
        },
    )


DEAL_ACTION_HANDLERS: list[Any] = [
    deal_detail,
    submit_draft,
    cancel,
    request_extension,
    close_lost,
    close_won,
    proof_document,
]
