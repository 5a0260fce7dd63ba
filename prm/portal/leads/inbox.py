"""Partner portal: the leads inbox, a paged table of the offers to my organisation or me (and
the shark-tank leads I may claim), filtered by status, lead program and the days they came in;
limited details until accepted, the response clock, accept, decline with a reason (its form
opened in one row at a time), claim (a lost race says so), and converting an accepted lead.

Pages call the offer and conversion services in the request's unit of work. A refused action
shows the inbox again with the message next to that lead's form, nothing written (`attempt`
rolls back); one that worked redirects back (post/redirect/get) with a notice.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

import msgspec
from litestar import Request, Response, get, post
from litestar.params import Parameter
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.auth import Principal, Role
from prm.core.errors import Conflict, Forbidden
from prm.core.pagination import PageRequest
from prm.crm.models import Lead, LeadStatus
from prm.crm.services import leads as crm_leads
from prm.lead_distribution.models import OfferStatus
from prm.lead_distribution.repository import ConfigStore
from prm.lead_distribution.schemas import ConvertRequest, Decline, OfferRead
from prm.lead_distribution.service import conversion, offers, setup
from prm.lead_distribution.service.offers import OfferFilter
from prm.portal.leads.views import DECLINE_REASONS, SIZE_BANDS, TIME_FRAMES, Clock, clock_of, now_of, product_choices
from prm.portal.shell.attempts import GENERAL, Refusal, attempt, field_messages, text_of, version_of
from prm.portal.shell.money import AmountError, parse_amount, plain_amount
from prm.portal.shell.session import page_allow
from prm.portal.shell.templating import page

PARTNER_PAGES = [page_allow(Role.PARTNER_ADMIN, Role.PARTNER_USER)]
INBOX_PAGE_SIZE = 10
Done = Annotated[str | None, Parameter(max_length=20)]
Query = Annotated[str | None, Parameter(max_length=500)]
NOTICES = {
    "accepted": "Accepted. The lead is yours: its contact details are shown below.",
    "declined": "Declined. The lead goes to another partner; it will not come back to you.",
    "claimed": "Claimed. The lead is yours: its contact details are shown below.",
    "converted": "Converted into an account, a contact and an indirect opportunity carrying your organisation.",
}
LOST_RACE = "Another partner claimed this lead first, or its claim window closed. It is no longer on the board."
CHOOSE_REASON = "Choose why you decline."
DONE_OF = {"accept": "accepted", "decline": "declined", "claim": "claimed"}
# Where an action that worked lands: the accepted lead among the accepted ones, with its contact.
STATUS_AFTER = {"accept": "accepted", "decline": "open", "claim": "accepted"}
STATUS_CHOICES = {
    OfferStatus.OPEN.value: "Waiting for your answer",
    OfferStatus.ACCEPTED.value: "Accepted, to convert",
    OfferStatus.CONVERTED.value: "Converted",
    OfferStatus.DECLINED.value: "Declined",
    OfferStatus.EXPIRED.value: "Expired (no answer in time)",
    OfferStatus.LAPSED.value: "Lapsed (nobody claimed it)",
    OfferStatus.WITHDRAWN.value: "Withdrawn by the vendor",
    "all": "All",
}
BAD_DATE = "Enter a date like 2026-03-01."


@dataclass(frozen=True)
class OfferRow:
    read: OfferRead
    clock: Clock
    mine: bool  # offered to me, or to my organisation without a named rep
    product: str | None
    group: str | None
    program: str | None


@dataclass
class Problem:
    """A refused action on one lead: which offer, which form, the messages, what was typed."""

    offer_id: uuid.UUID | None = None
    action: str = ""
    errors: dict[str, str] | None = None
    values: dict[str, str] | None = None


@dataclass(frozen=True)
class InboxQuery:
    """The inbox's filters as the page's query string has them, checked; `errors` names the bad ones."""

    status: str = OfferStatus.OPEN.value
    program: str = ""
    received_from: str = ""
    received_to: str = ""
    cursor: str | None = None
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, status: str | None, program: str | None, received_from: str | None, received_to: str | None,
              cursor: str | None, programs: dict[str, str]) -> InboxQuery:  # fmt: skip
        errors: dict[str, str] = {}
        chosen = status if status in STATUS_CHOICES else OfferStatus.OPEN.value
        if program and program not in programs:
            errors["program"] = "Choose one of your lead programs."
        for name, value in (("received_from", received_from), ("received_to", received_to)):
            if value and _day(value) is None:
                errors[name] = BAD_DATE
        return cls(chosen, program or "", received_from or "", received_to or "", cursor, errors)

    def filter(self) -> OfferFilter:
        return OfferFilter(
            status=None if self.status == "all" else OfferStatus(self.status),
            program_id=_uuid(self.program) if "program" not in self.errors else None,
            offered_from=_day(self.received_from),
            offered_to=_day(self.received_to),
        )

    @property
    def sort(self) -> str:
        """Open offers by their deadline, the most pressing first; the rest newest first."""
        return "respond_by" if self.status == OfferStatus.OPEN.value else "-created_at"

    def link(self, **changes: str | None) -> str:
        """This inbox's address with some parameters changed (None drops one)."""
        params: dict[str, str | None] = {
            "status": self.status,
            "program": self.program,
            "received_from": self.received_from,
            "received_to": self.received_to,
            "cursor": self.cursor,
        } | changes
        return "/leads?" + urlencode({k: v for k, v in params.items() if v})


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if len(value) == 10 else None
    except ValueError:
        return None


async def _rows(
    session: AsyncSession, principal: Principal, reads: list[OfferRead], programs: dict[str, str]
) -> list[OfferRow]:
    now = now_of(session)
    products = dict(await product_choices(session, principal))
    store, groups = ConfigStore(session), {}
    for group_id in {r.group_id for r in reads if r.group_id}:
        group = await store.group(group_id)
        groups[group_id] = group.name if group else None
    admin = principal.role is Role.PARTNER_ADMIN
    return [
        OfferRow(
            read=r,
            clock=clock_of(r.respond_by, now),
            mine=admin or r.user_id in (None, principal.user_id),
            product=products.get(str(r.lead.product_id)) if r.lead.product_id else None,
            group=groups.get(r.group_id) if r.group_id else None,
            program=programs.get(str(r.program_id)) if r.program_id else None,
        )
        for r in reads
    ]


async def inbox_page(
    session: AsyncSession,
    principal: Principal,
    *,
    query: InboxQuery | None = None,
    opened: uuid.UUID | None = None,
    done: str | None = None,
    problem: Problem | None = None,
    status_code: int = 200,
) -> Response[Any]:
    """One page of the offers the filters pick, as a table; the decline form only in the row
    opened (`opened`, or the row whose decline was refused)."""
    programs = {str(p.id): p.name for p in await setup.programs_joined(session, principal=principal)}
    query = query or InboxQuery()
    problem = problem or Problem()
    reads, next_cursor = await offers.list_offers(
        session,
        principal=principal,
        page=PageRequest(limit=INBOX_PAGE_SIZE, cursor=query.cursor, sort=query.sort),
        where=query.filter(),
    )
    return page(
        "leads_inbox.html",
        principal,
        status_code=400 if query.errors and status_code == 200 else status_code,
        rows=await _rows(session, principal, reads, programs),
        query=query,
        next_link=query.link(cursor=next_cursor) if next_cursor else None,
        first_link=query.link(cursor=None) if query.cursor else None,
        opened=problem.offer_id if problem.action == "decline" else opened,
        statuses=list(STATUS_CHOICES.items()),
        status_label=STATUS_CHOICES[query.status],
        programs=list(programs.items()),
        notice=NOTICES.get(done or ""),
        problem=problem,
        errors=problem.errors or {},
        values=problem.values or {},
        reasons=list(DECLINE_REASONS.items()),
        time_frames=TIME_FRAMES,
        size_bands=SIZE_BANDS,
    )


@get("/leads", name="leads", guards=PARTNER_PAGES)
async def leads_inbox(
    db_session: AsyncSession,
    principal: Principal,
    done: Done = None,
    status: Query = None,
    program: Query = None,
    received_from: Query = None,
    received_to: Query = None,
    cursor: Query = None,
    decline: uuid.UUID | None = None,
) -> Response[Any]:
    programs = {str(p.id): p.name for p in await setup.programs_joined(db_session, principal=principal)}
    query = InboxQuery.parse(status, program, received_from, received_to, cursor, programs)
    return await inbox_page(db_session, principal, query=query, opened=decline, done=done)


def _back_to(form: Any, status: str) -> InboxQuery:
    """The inbox the action was sent from (its filters ride along as hidden fields), on `status`."""
    return InboxQuery(
        status=status,
        program=text_of(form, "program"),
        received_from=text_of(form, "received_from"),
        received_to=text_of(form, "received_to"),
    )


async def _answer(
    session: AsyncSession,
    principal: Principal,
    offer_id: uuid.UUID,
    action: str,
    work: Any,
    values: dict[str, str],
    back: InboxQuery,
) -> Response[Any]:
    """Run an offer action; worked -> back to the inbox at that lead, refused -> the message beside it."""
    outcome = await attempt(session, work)
    if isinstance(outcome, Refusal):
        messages = field_messages(outcome)
        if action == "claim" and isinstance(outcome.error, Conflict):
            messages = {GENERAL: LOST_RACE}
        problem = Problem(offer_id, action, messages, values)
        return await inbox_page(session, principal, query=back, problem=problem, status_code=outcome.status)
    read: OfferRead = outcome
    landing = replace(back, status=STATUS_AFTER[action], cursor=None)
    return Redirect(f"{landing.link(done=DONE_OF[action])}#lead-{read.lead_id}", status_code=303)


def _forbidden_as_refusal(work: Any) -> Any:
    """Another rep's offer is the partner's own record: say so on the page instead of a 403 page."""

    async def run() -> Any:
        try:
            return await work()
        except Forbidden as exc:
            raise Conflict(exc.detail) from exc

    return run


@post("/leads/offers/{offer_id:uuid}/accept", guards=PARTNER_PAGES)
async def accept_offer(
    request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, offer_id: uuid.UUID
) -> Response[Any]:
    back = _back_to(await request.form(), OfferStatus.OPEN.value)
    work = _forbidden_as_refusal(lambda: offers.accept(db_session, principal=principal, offer_id=offer_id))
    return await _answer(db_session, principal, offer_id, "accept", work, {}, back)


@post("/leads/offers/{offer_id:uuid}/decline", guards=PARTNER_PAGES)
async def decline_offer(
    request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, offer_id: uuid.UUID
) -> Response[Any]:
    raw = await request.form()
    back = _back_to(raw, OfferStatus.OPEN.value)
    values = {"reason": text_of(raw, "reason"), "note": text_of(raw, "note")}
    if values["reason"] not in DECLINE_REASONS:
        problem = Problem(offer_id, "decline", {"reason": CHOOSE_REASON}, values)
        return await inbox_page(db_session, principal, query=back, problem=problem, status_code=400)
    if len(values["note"]) > 2000:
        problem = Problem(offer_id, "decline", {"note": "A note has at most 2,000 characters."}, values)
        return await inbox_page(db_session, principal, query=back, problem=problem, status_code=400)
    data = msgspec.convert({"reason": values["reason"], "note": values["note"] or None}, Decline)
    work = _forbidden_as_refusal(lambda: offers.decline(db_session, principal=principal, offer_id=offer_id, data=data))
    return await _answer(db_session, principal, offer_id, "decline", work, values, back)


@post("/leads/offers/{offer_id:uuid}/claim", guards=PARTNER_PAGES)
async def claim_offer(
    request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, offer_id: uuid.UUID
) -> Response[Any]:
    back = _back_to(await request.form(), OfferStatus.OPEN.value)
    work = lambda: offers.claim(db_session, principal=principal, offer_id=offer_id)  # noqa: E731
    return await _answer(db_session, principal, offer_id, "claim", work, {}, back)


# Convert -------------------------------------------------------------------------------------

CONVERT_FIELDS = ("opportunity_name", "amount", "currency", "close_date")


async def _convertible(session: AsyncSession, principal: Principal, lead_id: uuid.UUID) -> Lead:
    return await crm_leads.get_lead(session, principal=principal, lead_id=lead_id)


def _convert_page(
    principal: Principal, lead: Lead, values: dict[str, str], errors: dict[str, str], status_code: int = 200
) -> Response[Any]:
    return page(
        "leads_convert.html",
        principal,
        status_code=status_code,
        lead=lead,
        values=values,
        errors=errors,
        first_error=next((k for k in errors if k != GENERAL), None),
    )


@get("/leads/{lead_id:uuid}/convert", guards=PARTNER_PAGES)
async def convert_form(db_session: AsyncSession, principal: Principal, lead_id: uuid.UUID) -> Response[Any]:
    lead = await _convertible(db_session, principal, lead_id)
    if lead.status is not LeadStatus.ACCEPTED:
        return Redirect("/leads", status_code=303)
    values = {
        "opportunity_name": f"{lead.company} (from lead)",
        "amount": plain_amount(lead.budget_minor, lead.currency) if lead.currency else "",
        "currency": lead.currency or "",
        "close_date": "",
    }
    return _convert_page(principal, lead, values, {})


def _convert_request(values: dict[str, str], version: int) -> tuple[ConvertRequest | None, dict[str, str]]:
    errors: dict[str, str] = {}
    currency = values["currency"].upper()
    if len(currency) != 3 or not currency.isalpha():
        errors["currency"] = "Enter a three-letter currency code, like USD."
    amount = None
    if values["amount"] and not errors:
        try:
            amount = parse_amount(values["amount"], currency)
        except AmountError as exc:
            errors["amount"] = str(exc)
    close = None
    if values["close_date"]:
        try:
            close = date.fromisoformat(values["close_date"])
        except ValueError:
            errors["close_date"] = "Enter the expected close date, like 2026-06-30."
    name = values["opportunity_name"]
    if not name or len(name) > 200:
        errors["opportunity_name"] = "Name the opportunity (at most 200 characters)."
    if errors:
        return None, errors
    body = {"expected_version": version, "opportunity_name": name, "amount_minor": amount, "currency": currency}
    return msgspec.convert(body | {"close_date": close}, ConvertRequest, strict=False), {}


@post("/leads/{lead_id:uuid}/convert", guards=PARTNER_PAGES)
async def convert_lead(
    request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, lead_id: uuid.UUID
) -> Response[Any]:
    raw = await request.form()
    values = {name: text_of(raw, name) for name in CONVERT_FIELDS}
    lead = await _convertible(db_session, principal, lead_id)
    data, errors = _convert_request(values, version_of(raw))
    if data is None:
        return _convert_page(principal, lead, values, errors, 400)
    outcome = await attempt(
        db_session, lambda: conversion.convert(db_session, principal=principal, lead_id=lead_id, data=data)
    )
    if isinstance(outcome, Refusal):
        messages = field_messages(outcome)
        messages = {"amount" if k == "amount_minor" else k: v for k, v in messages.items()}
        if set(messages) - set(CONVERT_FIELDS):  # a message for no field on the form: show it on top
            messages = {GENERAL: outcome.detail}
        lead = await _convertible(db_session, principal, lead_id)
        return _convert_page(principal, lead, values, messages, outcome.status)
    return Redirect("/leads?done=converted", status_code=303)


LEAD_INBOX_HANDLERS: list[Any] = [
    leads_inbox,
    accept_offer,
    decline_offer,
    claim_offer,
    convert_form,
    convert_lead,
]
