"""Deal registration programs: the paged list, create, edit (terms, clocks, protection days,
eligible tiers, required fields), deactivate, and the program's approval rules.

Vendor admins only, as in the API. Amounts are typed in the program's currency and read back
exactly (`parse_amount`); every rule stays in the program and rules services.
"""

from __future__ import annotations

import re
import uuid
from typing import Any, get_args

import msgspec
from litestar import Request, Response, get, post
from litestar.datastructures import FormMultiDict
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.auth import Principal
from prm.crm.models import PartnerTier
from prm.deal_registration.models import DealProgram
from prm.deal_registration.schemas import ApprovalRulesUpdate, ProgramCreate, ProgramUpdate, RequirableField
from prm.deal_registration.service import programs as service
from prm.deal_registration.service import rules as rules_service
from prm.portal.admin.common import VENDOR_ADMIN_PAGES, Cursor, Done, back, first_error, listed, listing, number
from prm.portal.shell.attempts import (
    GENERAL,
    STALE_FORM,
    Refusal,
    attempt,
    field_messages,
    run_form,
    text_of,
    version_of,
)
from prm.portal.shell.money import AmountError, parse_amount, plain_amount
from prm.portal.shell.templating import page

NOTICES = {
    "created": "Program created. Set its approval rules below, or leave every decision to people.",
    "saved": "Program saved.",
    "deactivated": "Program deactivated: partners can no longer register deals in it.",
    "activated": "Program active again.",
    "rules_saved": "Approval rules saved.",
}
TEXT_FIELDS = ("name", "currency", "description", "benefits", "margin_bps", "min_deal")
CLOCKS = {
    "review_hours": ("Review within (hours)", "1 to 720"),
    "protection_days": ("Protection (days)", "1 to 730"),
    "reminder_days": ("Reminder before expiry (days)", "0 to 365"),
    "extension_days": ("Extension (days)", "1 to 365"),
    "max_extensions": ("Extensions at most", "0 to 10"),
    "max_resubmissions": ("Resubmissions at most", "0 to 10"),
}
MESSAGES = {
    "name": "Enter a name of at most 200 characters.",
    "currency": "Enter a three-letter ISO currency code, like USD.",
    "description": "A description has at most 5,000 characters.",
    "benefits": "Benefits have at most 5,000 characters.",
    "margin_bps": "Enter the extra margin in basis points, 0 to 10000 (250 is 2.50%).",
    "eligible_tiers": "Choose at least one tier.",
    "required_fields": "Choose among the listed fields.",
    "min_deal_minor": "Enter the smallest deal amount the program takes.",
} | {name: f"Enter a whole number from {hint}." for name, (_, hint) in CLOCKS.items()}
FORM_FIELD = {"min_deal_minor": "min_deal"}
TIERS = [(t.value, t.value.capitalize()) for t in PartnerTier]
REQUIRABLE = [(name, name.replace("_minor", "").replace("_", " ")) for name in get_args(RequirableField)]


def _values(raw: FormMultiDict) -> dict[str, Any]:
    values: dict[str, Any] = {name: text_of(raw, name) for name in (*TEXT_FIELDS, *CLOCKS)}
    values["currency"] = values["currency"].upper()
    return values | {"eligible_tiers": listed(raw, "eligible_tiers"), "required_fields": listed(raw, "required_fields")}


def _body(values: dict[str, Any], currency: str, errors: dict[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = {name: values[name] for name in ("name", "description", "benefits")}
    body |= {name: number(values[name]) for name in ("margin_bps", *CLOCKS)}
    body |= {"eligible_tiers": values["eligible_tiers"], "required_fields": values["required_fields"]}
    try:
        body["min_deal_minor"] = parse_amount(values["min_deal"] or "0", currency) if currency else 0
    except AmountError as exc:
        errors["min_deal"] = str(exc)
    return body


def _shown(errors: dict[str, str]) -> dict[str, str]:
    return {FORM_FIELD.get(k, k): v for k, v in errors.items()}


def _form_values(program: DealProgram) -> dict[str, Any]:
    values: dict[str, Any] = {name: str(getattr(program, name)) for name in ("margin_bps", *CLOCKS)}
    values |= {name: getattr(program, name) for name in ("name", "currency", "description", "benefits")}
    values["min_deal"] = plain_amount(program.min_deal_minor, program.currency)
    return values | {"eligible_tiers": program.eligible_tiers, "required_fields": program.required_fields}


NEW_PROGRAM = {
    "currency": "USD",
    "margin_bps": "0",
    "min_deal": "0",
    "eligible_tiers": [t.value for t in PartnerTier],
    "required_fields": ["products"],
}


def _new_values() -> dict[str, Any]:
    defaults = {"review_hours": 48, "protection_days": 90, "reminder_days": 14, "extension_days": 30}
    defaults |= {"max_extensions": 1, "max_resubmissions": 2}
    return NEW_PROGRAM | {k: str(v) for k, v in defaults.items()}


def _context(values: dict[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    return {
        "values": values,
        "errors": errors,
        "first_error": first_error(errors),
        "tiers": TIERS,
        "requirable": REQUIRABLE,
        "clocks": list(CLOCKS.items()),
    }


async def programs_page(
    session: AsyncSession,
    principal: Principal,
    *,
    cursor: str | None = None,
    done: str | None = None,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response[Any]:
    rows, next_cursor = await service.list_programs(session, principal=principal, page=listing(cursor))
    return page(
        "admin/programs.html",
        principal,
        status_code=status_code,
        programs=rows,
        next_cursor=next_cursor,
        first_page=not cursor,
        notice=NOTICES.get(done or ""),
        **_context(values or _new_values(), errors or {}),
    )


@get("/programs", name="admin_programs", guards=VENDOR_ADMIN_PAGES)
async def program_list(
    db_session: AsyncSession, principal: Principal, cursor: Cursor = None, done: Done = None
) -> Response[Any]:
    return await programs_page(db_session, principal, cursor=cursor, done=done)


@post("/programs", guards=VENDOR_ADMIN_PAGES)
async def create_program(
    request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal
) -> Response[Any]:
    values = _values(await request.form())

    async def refuse(status: int, errors: dict[str, str]) -> Response[Any]:
        shown = _shown(errors)
        return await programs_page(db_session, principal, errors=shown, values=values, status_code=status)

    amount_errors: dict[str, str] = {}
    currency = values["currency"] if re.fullmatch(r"[A-Z]{3}", values["currency"]) else ""
    body = _body(values, currency, amount_errors) | {"currency": values["currency"]}
    if amount_errors:
        return await refuse(400, amount_errors)

    async def call(data: ProgramCreate) -> DealProgram:
        return await service.create_program(db_session, principal=principal, data=data)

    return await run_form(
        db_session,
        ProgramCreate,
        body,
        messages=MESSAGES,
        call=call,
        refuse=refuse,
        worked=lambda program: back(f"/programs/{program.id}", "created"),
    )


async def program_page(
    session: AsyncSession,
    principal: Principal,
    program_id: uuid.UUID,
    *,
    done: str | None = None,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    rule_errors: dict[str, str] | None = None,
    rule_values: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response[Any]:
    program = await service.get_program(session, principal=principal, program_id=program_id)
    rule_errors = rule_errors or {}
    return page(
        "admin/program.html",
        principal,
        status_code=status_code,
        program=program,
        notice=NOTICES.get(done or ""),
        rules=rule_values or _rule_values(program),
        rule_errors=rule_errors,
        first_rule_error=first_error(rule_errors),
        **_context(values or _form_values(program), errors or {}),
    )


@get("/programs/{program_id:uuid}", name="admin_program", guards=VENDOR_ADMIN_PAGES)
async def program_detail(
    db_session: AsyncSession, principal: Principal, program_id: uuid.UUID, done: Done = None
) -> Response[Any]:
    return await program_page(db_session, principal, program_id, done=done)


@post("/programs/{program_id:uuid}", guards=VENDOR_ADMIN_PAGES)
async def edit_program(
    request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, program_id: uuid.UUID
) -> Response[Any]:
    raw = await request.form()
    program = await service.get_program(db_session, principal=principal, program_id=program_id)
    values = _values(raw) | {"currency": program.currency}

    async def refuse(status: int, errors: dict[str, str]) -> Response[Any]:
        shown = _shown(errors)
        return await program_page(db_session, principal, program_id, errors=shown, values=values, status_code=status)

    amount_errors: dict[str, str] = {}
    body = _body(values, program.currency, amount_errors) | {"expected_version": version_of(raw)}
    if amount_errors:
        return await refuse(400, amount_errors)

    async def call(data: ProgramUpdate) -> DealProgram:
        return await service.update_program(db_session, principal=principal, program_id=program_id, data=data)

    return await run_form(
        db_session,
        ProgramUpdate,
        body,
        messages=MESSAGES,
        call=call,
        refuse=refuse,
        worked=lambda _: back(f"/programs/{program_id}", "saved"),
    )


@post("/programs/{program_id:uuid}/active", guards=VENDOR_ADMIN_PAGES)
async def set_program_active(
    request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, program_id: uuid.UUID
) -> Response[Any]:
    raw = await request.form()
    active = text_of(raw, "active") == "true"

    async def refuse(status: int, errors: dict[str, str]) -> Response[Any]:
        return await program_page(db_session, principal, program_id, errors=errors, status_code=status)

    async def call(data: ProgramUpdate) -> DealProgram:
        return await service.update_program(db_session, principal=principal, program_id=program_id, data=data)

    return await run_form(
        db_session,
        ProgramUpdate,
        {"expected_version": version_of(raw), "active": active},
        messages={},
        call=call,
        refuse=refuse,
        worked=lambda _: back(f"/programs/{program_id}", "activated" if active else "deactivated"),
    )


# Approval rules ------------------------------------------------------------------------------

RULE_TEXT = ("aa_max_amount", "ar_countries", "sa_above", "sa_approver")
RULE_SWITCHES = ("aa_on", "ar_on", "ar_direct", "sa_on")
# Where a service or Struct message about the rules goes on the form (most specific first).
RULE_FIELD = (
    ("auto_approve.tiers", "aa_tiers"),
    ("auto_approve", "aa_max_amount"),
    ("countries", "ar_countries"),
    ("auto_reject", "ar_countries"),
    ("second_approval.approver", "sa_approver"),
    ("second_approval", "sa_above"),
)
RULE_MESSAGES = {
    "aa_tiers": "Choose the tiers whose clean deals are approved by themselves.",
    "aa_max_amount": "Enter the largest amount approved by itself.",
    "ar_countries": "Enter countries by name or ISO code, separated by commas, like US, Canada.",
    "sa_above": "Enter the amount above which a second person approves.",
    "sa_approver": "Choose who gives the second approval.",
}


def _rule_values(program: DealProgram) -> dict[str, Any]:
    rules = rules_service.rules_of(program)
    values: dict[str, Any] = {"aa_tiers": [], "sa_approver": "channel_manager"}
    if rules.auto_approve:
        values |= {"aa_on": True, "aa_tiers": [t.value for t in rules.auto_approve.tiers]}
        values["aa_max_amount"] = plain_amount(rules.auto_approve.max_amount_minor, program.currency)
    if rules.auto_reject:
        values |= {"ar_on": True, "ar_direct": rules.auto_reject.existing_direct_opportunity}
        values["ar_countries"] = ", ".join(rules.auto_reject.countries or [])
    if rules.second_approval:
        values |= {"sa_on": True, "sa_approver": rules.second_approval.approver}
        values["sa_above"] = plain_amount(rules.second_approval.above_minor, program.currency)
    return values


def _rule_field(path: str) -> str:
    return next((field for key, field in RULE_FIELD if key in path), GENERAL)


def _amount(values: dict[str, Any], name: str, currency: str, errors: dict[str, str]) -> int:
    try:
        return parse_amount(values[name], currency)
    except AmountError as exc:
        errors[name] = str(exc) if values[name] else RULE_MESSAGES[name]
        return 0


def _rules_body(values: dict[str, Any], currency: str, errors: dict[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if values["aa_on"]:
        amount = _amount(values, "aa_max_amount", currency, errors)
        body["auto_approve"] = {"tiers": values["aa_tiers"], "max_amount_minor": amount}
    if values["ar_on"]:
        codes = [c.strip() for c in values["ar_countries"].replace(";", ",").split(",") if c.strip()]
        body["auto_reject"] = {"countries": codes or None, "existing_direct_opportunity": values["ar_direct"]}
    if values["sa_on"]:
        amount = _amount(values, "sa_above", currency, errors)
        body["second_approval"] = {"above_minor": amount, "approver": values["sa_approver"]}
    return body


def _checked_rules(body: dict[str, Any]) -> tuple[ApprovalRulesUpdate | None, dict[str, str]]:
    try:
        return msgspec.convert(body, ApprovalRulesUpdate), {}
    except msgspec.ValidationError as exc:
        found = re.search(r"\$\.([\w.\[\]]+)", str(exc))
        if found and found.group(1) == "expected_version":
            return None, {GENERAL: STALE_FORM}
        field = _rule_field(found.group(1) if found else str(exc))
        return None, {field: RULE_MESSAGES.get(field, str(exc))}


@post("/programs/{program_id:uuid}/approval-rules", guards=VENDOR_ADMIN_PAGES)
async def set_approval_rules(
    request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, program_id: uuid.UUID
) -> Response[Any]:
    raw = await request.form()
    program = await service.get_program(db_session, principal=principal, program_id=program_id)
    values: dict[str, Any] = {name: text_of(raw, name) for name in RULE_TEXT}
    values |= {name: text_of(raw, name) == "on" for name in RULE_SWITCHES} | {"aa_tiers": listed(raw, "aa_tiers")}

    async def refuse(status: int, errors: dict[str, str]) -> Response[Any]:
        return await program_page(
            db_session, principal, program_id, rule_errors=errors, rule_values=values, status_code=status
        )

    errors: dict[str, str] = {}
    body = _rules_body(values, program.currency, errors) | {"expected_version": version_of(raw)}
    if errors:
        return await refuse(400, errors)
    data, errors = _checked_rules(body)
    if data is None:
        return await refuse(400, errors)
    outcome = await attempt(
        db_session, lambda: rules_service.set_rules(db_session, principal=principal, program_id=program_id, data=data)
    )
    if isinstance(outcome, Refusal):
        shown = {_rule_field(k) if k != GENERAL else k: v for k, v in field_messages(outcome).items()}
        return await refuse(outcome.status, shown)
    return back(f"/programs/{program_id}", "rules_saved")


PROGRAM_PAGE_HANDLERS: list[Any] = [
    program_list,
    create_program,
    program_detail,
    edit_program,
    set_program_active,
    set_approval_rules,
]
