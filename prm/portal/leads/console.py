"""Channel manager console: the lead queue (filter by status), one lead with its qualification
(situation, product, time frame, budget -> score and band), manual routing to a partner, a
partner rep, a shark-tank group, a program pool or an internal rep, routing by the rules, and
every routing decision with its explanation.

Pages call the intake, qualification and routing services in the request's unit of work; a
refused form comes back with the message next to its field and nothing written.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from litestar.params import Parameter, QueryParameter
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.auth import Principal, Role
from prm.core.pagination import PageRequest
from prm.crm.models import LeadStatus
from prm.lead_distribution.schemas import AutoRoute, LeadDetails, Qualify, RouteRequest
from prm.lead_distribution.service import intake, qualification, routing
from prm.lead_distribution.service.state import QUALIFY_FROM, QUEUE, ROUTABLE
from prm.portal.connect.records import external_sharing
from prm.portal.leads.views import (
    SOURCES,
    STATUS_LABELS,
    TIME_FRAMES,
    clock_of,
    now_of,
    parse_target,
    product_choices,
    readable,
    routing_targets,
    target_names,
)
from prm.portal.shell.attempts import GENERAL, Refusal, attempt, checked, field_messages, text_of, version_of
from prm.portal.shell.money import AmountError, parse_amount, plain_amount
from prm.portal.shell.session import page_allow
from prm.portal.shell.templating import page

CONSOLE_PAGES = [page_allow(Role.CHANNEL_MANAGER, Role.VENDOR_ADMIN)]
QUEUE_SIZE = 25
TO_WORK = "to_work"  # the queue's default filter: new, marketing qualified, sales qualified
Cursor = Annotated[str | None, Parameter(max_length=500)]
Done = Annotated[str | None, Parameter(max_length=20)]
NOTICES = {
    "qualified": "Qualified. The score and band below come from the criteria in force.",
    "routed": "Routed. The decision and its explanation are listed below.",
}
QUALIFY_FIELDS = (
    "stage",
    "current_situation",
    "product_id",
    "time_frame",
    "budget",
    "currency",
    "employees",
    "country",
    "region",
    "note",
)
QUALIFY_MESSAGES = {
    "stage": "Choose marketing qualified or sales qualified.",
    "current_situation": "Describe the situation in at most 4,000 characters.",
    "product_id": "Choose a product from the list.",
    "time_frame": "Choose a time frame from the list.",
    "employees": "Enter the number of employees as a whole number.",
    "country": "Enter the country's name or ISO code, like Germany or DE.",
    "region": "A region has at most 100 characters.",
    "currency": "Enter a three-letter currency code, like USD.",
    "note": "A note has at most 2,000 characters.",
}
ROUTE_TARGET_FIELDS = ("target_kind", "partner_id", "user_id", "group_id", "program_id")


# The queue -----------------------------------------------------------------------------------


@get("/lead-queue", name="lead_queue", guards=CONSOLE_PAGES)
async def lead_queue(
    db_session: AsyncSession,
    principal: Principal,
    cursor: Cursor = None,
    status: Annotated[str | None, QueryParameter(max_length=30)] = None,
) -> Response[Any]:
    chosen = status if status in STATUS_LABELS else TO_WORK
    statuses = QUEUE if chosen == TO_WORK else (LeadStatus(chosen),)
    rows, next_cursor = await intake.queue(
        db_session,
        principal=principal,
        page=PageRequest(limit=QUEUE_SIZE, cursor=cursor, sort="-created_at"),
        statuses=statuses,
        band=None,
        source=None,
        country=None,
    )
    now = now_of(db_session)
    details = await intake.details_many(db_session, rows)
    return page(
        "leads_queue.html",
        principal,
        leads=[(d, clock_of(d.current_offer.respond_by, now) if d.current_offer else None) for d in details],
        status=chosen,
        statuses=[(TO_WORK, "To qualify and route"), *STATUS_LABELS.items()],
        next_cursor=next_cursor,
        first_page=cursor is None,
        sources=SOURCES,
    )


# One lead ------------------------------------------------------------------------------------


def _qualify_values(lead: LeadDetails) -> dict[str, str]:
    """The qualification form filled in with what the lead already says."""
    return {
        "stage": "sales_qualified",
        "current_situation": lead.current_situation or "",
        "product_id": str(lead.product_id) if lead.product_id else "",
        "time_frame": lead.time_frame.value if lead.time_frame else "",
        "budget": plain_amount(lead.budget_minor, lead.currency) if lead.currency else "",
        "currency": lead.currency or "",
        "employees": str(lead.employees) if lead.employees is not None else "",
        "country": lead.country or "",
        "region": lead.region or "",
        "note": "",
    }


async def lead_page(
    session: AsyncSession,
    principal: Principal,
    lead_id: uuid.UUID,
    *,
    done: str | None = None,
    action: str = "",
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response[Any]:
    lead = await intake.get(session, principal=principal, lead_id=lead_id)
    targets = await routing_targets(session, principal)
    names = target_names(targets)
    decisions = await routing.decisions_of(session, principal=principal, lead_id=lead_id)
    now = now_of(session)
    qualify_values = values if action == "qualify" and values else _qualify_values(lead)
    errors = errors or {}
    return page(
        "leads_detail.html",
        principal,
        status_code=status_code,
        lead=lead,
        offer_clock=clock_of(lead.current_offer.respond_by, now) if lead.current_offer else None,
        decisions=[(d, readable(d.explanation, names)) for d in reversed(decisions)],
        targets=targets,
        names=names,
        products=await product_choices(session, principal),
        time_frames=list(TIME_FRAMES.items()),
        can_qualify=lead.status in QUALIFY_FROM[LeadStatus.SALES_QUALIFIED],
        can_route=lead.status in ROUTABLE,
        notice=NOTICES.get(done or ""),
        action=action,
        errors=errors,
        first_error=next((k for k in errors if k != GENERAL), None),
        qualify=qualify_values,
        route=values if action == "route" and values else {"target": "", "note": "", "override": ""},
        status_labels=STATUS_LABELS,
        sources=SOURCES,
        external=await external_sharing(session, principal, "lead", lead.id, back=f"/lead-queue/{lead.id}"),
    )


@get("/lead-queue/{lead_id:uuid}", guards=CONSOLE_PAGES)
async def lead_detail(
    db_session: AsyncSession, principal: Principal, lead_id: uuid.UUID, done: Done = None
) -> Response[Any]:
    return await lead_page(db_session, principal, lead_id, done=done)


# Qualify -------------------------------------------------------------------------------------


def _qualify_body(values: dict[str, str], version: int) -> tuple[dict[str, Any], dict[str, str]]:
    """The form as the API's Qualify body: empty inputs clear a fact, the budget in minor units."""
    errors: dict[str, str] = {}
    body: dict[str, Any] = {"expected_version": version, "stage": values["stage"]}
    for name in ("current_situation", "product_id", "time_frame", "region", "note"):
        body[name] = values[name] or None
    body["country"] = values["country"].strip() or None  # a name or a code: Qualify normalises it
    body["currency"] = values["currency"].upper() or None
    body["employees"] = None
    if values["employees"]:
        if values["employees"].isdigit() and len(values["employees"]) < 10:
            body["employees"] = int(values["employees"])
        else:
            errors["employees"] = QUALIFY_MESSAGES["employees"]
    body["budget_minor"] = None
    if values["budget"]:
        if not body["currency"]:
            errors["currency"] = "Say which currency the budget is in."
        else:
            try:
                body["budget_minor"] = parse_amount(values["budget"], body["currency"])
            except AmountError as exc:
                errors["budget"] = str(exc)
    return body, errors


@post("/lead-queue/{lead_id:uuid}/qualify", guards=CONSOLE_PAGES)
async def qualify_lead(
    request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, lead_id: uuid.UUID
) -> Response[Any]:
    raw = await request.form()
    values = {name: text_of(raw, name) for name in QUALIFY_FIELDS}

    async def refuse(status: int, errors: dict[str, str]) -> Response[Any]:
        return await lead_page(
            db_session, principal, lead_id, action="qualify", errors=errors, values=values, status_code=status
        )

    body, errors = _qualify_body(values, version_of(raw))
    if errors:
        return await refuse(400, errors)
    data, errors = checked(Qualify, body, QUALIFY_MESSAGES)
    if data is None:
        return await refuse(400, errors)
    outcome = await attempt(
        db_session, lambda: qualification.qualify(db_session, principal=principal, lead_id=lead_id, data=data)
    )
    if isinstance(outcome, Refusal):
        messages = {"budget" if k == "budget_minor" else k: v for k, v in field_messages(outcome).items()}
        return await refuse(outcome.status, messages)
    return Redirect(f"/lead-queue/{lead_id}?done=qualified", status_code=303)


# Route ---------------------------------------------------------------------------------------


def _route_request(values: dict[str, str], version: int) -> tuple[RouteRequest | None, dict[str, str]]:
    target = parse_target(values["target"])
    if target is None:
        return None, {"target": "Choose where the lead goes."}
    if len(values["note"]) > 2000:
        return None, {"note": "A note has at most 2,000 characters."}
    kind, target_id = target
    field = {"partner": "partner_id", "shark_tank": "group_id", "program_pool": "program_id"}.get(kind.value, "user_id")
    body = {
        "expected_version": version,
        "target_kind": kind.value,
        field: str(target_id),
        "override_eligibility": values["override"] == "on",
        "note": values["note"] or None,
    }
    try:
        return msgspec.convert(body, RouteRequest), {}
    except msgspec.ValidationError:
        return None, {GENERAL: "This page was out of date. It now shows the lead as it is; please try again."}


def _route_messages(refusal: Refusal) -> dict[str, str]:
    """The service names target_kind, partner_id, ...: on the page they all belong to the one picker."""
    messages = field_messages(refusal)
    if refusal.error is not None and refusal.error.extra.get("excluded"):
        reasons = "; ".join("; ".join(x.get("reasons", [])) for x in refusal.error.extra["excluded"])
        messages = {"target": f"{refusal.detail} Tick 'route anyway' to override soft limits ({reasons})."}
    return {"target" if k in ROUTE_TARGET_FIELDS else k: v for k, v in messages.items()}


@post("/lead-queue/{lead_id:uuid}/route", guards=CONSOLE_PAGES)
async def route_lead(
    request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, lead_id: uuid.UUID
) -> Response[Any]:
    raw = await request.form()
    values = {"target": text_of(raw, "target"), "note": text_of(raw, "note"), "override": text_of(raw, "override")}
    data, errors = _route_request(values, version_of(raw))
    if data is None:
        return await lead_page(
            db_session, principal, lead_id, action="route", errors=errors, values=values, status_code=400
        )
    outcome = await attempt(
        db_session, lambda: routing.route_manually(db_session, principal=principal, lead_id=lead_id, data=data)
    )
    if isinstance(outcome, Refusal):
        errors = _route_messages(outcome)
        return await lead_page(
            db_session, principal, lead_id, action="route", errors=errors, values=values, status_code=outcome.status
        )
    return Redirect(f"/lead-queue/{lead_id}?done=routed", status_code=303)


@post("/lead-queue/{lead_id:uuid}/auto-route", guards=CONSOLE_PAGES)
async def auto_route_lead(
    request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, lead_id: uuid.UUID
) -> Response[Any]:
    raw = await request.form()
    data = AutoRoute(expected_version=max(1, version_of(raw)))
    outcome = await attempt(
        db_session,
        lambda: routing.route_by_rules(
            db_session, principal=principal, lead_id=lead_id, expected_version=data.expected_version
        ),
    )
    if isinstance(outcome, Refusal):
        return await lead_page(
            db_session, principal, lead_id, action="auto", errors={GENERAL: outcome.detail}, status_code=outcome.status
        )
    return Redirect(f"/lead-queue/{lead_id}?done=routed", status_code=303)


LEAD_CONSOLE_HANDLERS: list[Any] = [lead_queue, lead_detail, qualify_lead, route_lead, auto_route_lead]
