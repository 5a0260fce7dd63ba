"""Partner portal: register a deal (or edit a draft, or resubmit), and my registrations with both clocks.

Every page calls the deal registration services inside the request's unit of work. A refused
form is shown again with each message next to its field (and nothing written); a form that
worked redirects to the registration (post/redirect/get), which says what just happened.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.params import Parameter, QueryParameter
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.auth import Principal, Role
from prm.core.pagination import PageRequest
from prm.deal_registration import views
from prm.deal_registration.models import RegistrationState
from prm.deal_registration.service import registrations
from prm.portal.deals.forms import (
    DealForm,
    ProductChoice,
    ProgramChoice,
    error_summary,
    form_from,
    form_names,
    read_form,
    registration_create,
    registration_details,
    registration_update,
    service_errors,
)
from prm.portal.deals.queries import product_choices, program_choices
from prm.portal.deals.views import (
    RegistrationView,
    now_of,
    protection_clock,
    registration_view,
    review_clock,
)
from prm.portal.shell.attempts import Refusal, attempt, version_of
from prm.portal.shell.session import page_allow
from prm.portal.shell.templating import page

PARTNER_PAGES = [page_allow(Role.PARTNER_ADMIN, Role.PARTNER_USER)]
LIST_PAGE_SIZE = 20
Cursor = Annotated[str | None, Parameter(max_length=500)]


@dataclass(frozen=True)
class Choices:
    programs: dict[str, ProgramChoice]
    products: dict[str, ProductChoice]


async def _choices(session: AsyncSession, principal: Principal) -> Choices:
    return Choices(await program_choices(session, principal), await product_choices(session, principal))


def _form_page(
    principal: Principal,
    choices: Choices,
    form: DealForm,
    errors: dict[str, str],
    *,
    mode: str,
    view: RegistrationView | None = None,
    status_code: int = 200,
) -> Response[Any]:
    summary = error_summary(errors)
    program = choices.programs.get(form.program_id)
    required = view.program.required_fields if view else (program.required_fields if program else ())
    return page(
        "deals_form.html",
        principal,
        status_code=status_code,
        mode=mode,
        form=form.padded(),
        errors=errors,
        summary=summary,
        first_error=summary[0][0] if summary else None,
        programs=list(choices.programs.values()),
        program_options=[(p.id, f"{p.name} ({p.currency})") for p in choices.programs.values()],
        currency=view.read.currency if view else (program.currency if program else ""),
        required=set(form_names(required)),
        products=list(choices.products.values()),
        view=view,
    )


# Register ------------------------------------------------------------------------------------


@get("/deals/new", name="deal_new", guards=PARTNER_PAGES)
async def new_deal(db_session: AsyncSession, principal: Principal) -> Response[Any]:
    choices = await _choices(db_session, principal)
    only = next(iter(choices.programs)) if len(choices.programs) == 1 else ""
    return _form_page(principal, choices, DealForm(program_id=only), {}, mode="new")


@post("/deals/new", guards=PARTNER_PAGES)
async def register_deal(
    request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal
) -> Response[Any]:
    form = read_form(await request.form())
    choices = await _choices(db_session, principal)
    data, errors = registration_create(form, programs=choices.programs, products=choices.products)
    if data is None:
        return _form_page(principal, choices, form, errors, mode="new", status_code=400)
    outcome = await attempt(
        db_session, lambda: registrations.create_registration(db_session, principal=principal, data=data)
    )
    if isinstance(outcome, Refusal):
        errors = service_errors(outcome, choices.programs.get(form.program_id))
        return _form_page(principal, choices, form, errors, mode="new", status_code=outcome.status)
    return _to_registration(outcome.registration.id, "submitted" if data.submit else "draft")


def _to_registration(registration_id: uuid.UUID, done: str) -> Response[Any]:
    return Redirect(f"/deals/{registration_id}?done={done}", status_code=303)


# Edit a draft, resubmit ------------------------------------------------------------------------


@get("/deals/{registration_id:uuid}/edit", guards=PARTNER_PAGES)
async def edit_draft_form(db_session: AsyncSession, principal: Principal, registration_id: uuid.UUID) -> Response[Any]:
    view = await registration_view(db_session, principal, registration_id)
    if "edit" not in view.read.allowed_actions:
        return Redirect(f"/deals/{registration_id}", status_code=303)
    choices = await _choices(db_session, principal)
    return _form_page(principal, choices, form_from(view.read), {}, mode="edit", view=view)


@post("/deals/{registration_id:uuid}/edit", guards=PARTNER_PAGES)
async def edit_draft(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    principal: Principal,
    registration_id: uuid.UUID,
) -> Response[Any]:
    raw = await request.form()
    form = read_form(raw)
    view = await registration_view(db_session, principal, registration_id)
    choices = await _choices(db_session, principal)
    currency = view.read.currency
    data, errors = registration_update(
        form, currency=currency, products=choices.products, expected_version=version_of(raw)
    )
    if data is None:
        return _form_page(principal, choices, form, errors, mode="edit", view=view, status_code=400)

    async def save() -> Any:
        saved = await registrations.update_draft(
            db_session, principal=principal, registration_id=registration_id, data=data
        )
        if form.action != "submit":
            return saved
        return await registrations.submit_registration(
            db_session, principal=principal, registration_id=registration_id, expected_version=saved.version
        )

    outcome = await attempt(db_session, save)
    if isinstance(outcome, Refusal):
        view = await registration_view(db_session, principal, registration_id)
        errors = service_errors(outcome, view.program)
        return _form_page(principal, choices, form, errors, mode="edit", view=view, status_code=outcome.status)
    return _to_registration(registration_id, "submitted" if form.action == "submit" else "draft")


@get("/deals/{registration_id:uuid}/resubmit", guards=PARTNER_PAGES)
async def resubmit_form(db_session: AsyncSession, principal: Principal, registration_id: uuid.UUID) -> Response[Any]:
    view = await registration_view(db_session, principal, registration_id)
    if "resubmit" not in view.read.allowed_actions:  # already resubmitted, out of resubmissions, or not refused
        return Redirect(f"/deals/{registration_id}", status_code=303)
    choices = await _choices(db_session, principal)
    return _form_page(principal, choices, form_from(view.read), {}, mode="resubmit", view=view)


@post("/deals/{registration_id:uuid}/resubmit", guards=PARTNER_PAGES)
async def resubmit(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    principal: Principal,
    registration_id: uuid.UUID,
) -> Response[Any]:
    form = read_form(await request.form())
    view = await registration_view(db_session, principal, registration_id)
    choices = await _choices(db_session, principal)
    data, errors = registration_details(form, currency=view.read.currency, products=choices.products)
    if data is None:
        return _form_page(principal, choices, form, errors, mode="resubmit", view=view, status_code=400)
    outcome = await attempt(
        db_session,
        lambda: registrations.resubmit_registration(
            db_session, principal=principal, registration_id=registration_id, data=data
        ),
    )
    if isinstance(outcome, Refusal):
        view = await registration_view(db_session, principal, registration_id)
        errors = service_errors(outcome, view.program)
        return _form_page(principal, choices, form, errors, mode="resubmit", view=view, status_code=outcome.status)
    return _to_registration(outcome.registration.id, "submitted")


# My registrations --------------------------------------------------------------------------------


@get("/deals", name="deals", guards=PARTNER_PAGES)
async def my_registrations(
    db_session: AsyncSession,
    principal: Principal,
    cursor: Cursor = None,
    registration_state: Annotated[RegistrationState | None, QueryParameter(name="state")] = None,
) -> Response[Any]:
    request = PageRequest(limit=LIST_PAGE_SIZE, cursor=cursor, sort="-created_at")
    rows, next_cursor = await registrations.list_registrations(
        db_session, principal=principal, page=request, state=registration_state
    )
    now = now_of(db_session)
    items = [
        (read, review_clock(read, now), protection_clock(read, now))
        for read in await views.read_many(db_session, principal, rows)
    ]
    return page(
        "deals_list.html",
        principal,
        items=items,
        next_cursor=next_cursor,
        first_page=cursor is None,
        state=registration_state.value if registration_state else "",
        states=[s.value for s in RegistrationState],
    )


DEAL_FORM_HANDLERS: list[Any] = [
    new_deal,
    register_deal,
    edit_draft_form,
    edit_draft,
    resubmit_form,
    resubmit,
    my_registrations,
]
