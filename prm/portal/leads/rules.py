"""Console: the routing rules editor (rules in the order they are tried; a vendor admin adds a
rule with conditions and a target, moves rules up or down, deactivates or reactivates them),
and the CSV lead import with its per-row error report.

Channel managers read the rules; changing them is the vendor admin's, as in the API.
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from litestar import Request, Response, get, post
from litestar.datastructures import FormMultiDict
from litestar.exceptions import PermissionDeniedException
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.auth import Principal, Role
from prm.core.nul import STREAMED_BODY
from prm.core.uploads import BadUpload, TooLarge, Upload, read_multipart
from prm.crm.models import LeadSource
from prm.lead_distribution.models import RoutingRule
from prm.lead_distribution.rules import Band
from prm.lead_distribution.schemas import ImportMode, ImportReport, RowError, RuleCreate, RuleOrder, RuleUpdate
from prm.lead_distribution.service import imports, routing_rules
from prm.portal.leads.views import SIZE_BANDS, SOURCES, parse_target, product_choices, routing_targets, target_names
from prm.portal.shell.attempts import GENERAL, Refusal, attempt, checked, field_messages, text_of, version_of
from prm.portal.shell.session import check_streamed_csrf, page_allow
from prm.portal.shell.templating import page

CONSOLE_PAGES = [page_allow(Role.CHANNEL_MANAGER, Role.VENDOR_ADMIN)]
RULE_NOTICES = {
    "added": "Rule added.",
    "saved": "Rule saved.",
    "moved": "Order saved.",
    "deactivated": "Rule deactivated.",
    "activated": "Rule active again.",
}
TARGET_FIELD = {
    "partner": "target_partner_id",
    "shark_tank": "target_group_id",
    "program_pool": "program_id",
    "nearest_partners": "program_id",
}
RULE_MESSAGE_FIELDS = {
    "target_kind": "target",
    "target_user_id": "target",
    "target_partner_id": "target",
    "target_group_id": "target",
    "program_id": "target",
}


def _require_admin(principal: Principal) -> None:
    if principal.role is not Role.VENDOR_ADMIN:
        raise PermissionDeniedException("Only vendor admins change the routing rules.")


async def rules_page(
    session: AsyncSession,
    principal: Principal,
    *,
    done: str | None = None,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response[Any]:
    targets = await routing_targets(session, principal)
    products = await product_choices(session, principal)
    errors = errors or {}
    return page(
        "leads_rules.html",
        principal,
        status_code=status_code,
        rules=await routing_rules.list_rules(session),
        names=target_names(targets) | dict(products),
        targets=targets,
        products=products,
        size_bands=list(SIZE_BANDS.items()),
        score_bands=[(b.value, b.value) for b in Band],
        sources=list(SOURCES.items()),
        can_edit=principal.role is Role.VENDOR_ADMIN,
        notice=RULE_NOTICES.get(done or ""),
        errors=errors,
        first_error=next((k for k in errors if k != GENERAL), None),
        values=values or {},
    )


@get("/lead-rules", name="lead_rules", guards=CONSOLE_PAGES)
async def rules_list(db_session: AsyncSession, principal: Principal, done: str | None = None) -> Response[Any]:
    return await rules_page(db_session, principal, done=done if done in RULE_NOTICES else None)


def _listed(raw: FormMultiDict, name: str) -> list[str]:
    return [v.strip() for v in raw.getall(name, []) if isinstance(v, str) and v.strip()]


def _codes(text: str) -> list[str]:
    return [part.strip().upper() for part in text.replace(";", ",").split(",") if part.strip()]


TARGET_FIELDS = ("target_user_id", "target_partner_id", "target_group_id", "program_id")
FIELD_MESSAGES = {
    "countries": "Enter countries by name or ISO code, separated by commas, like US, Canada.",
    "regions": "Regions are separated by commas, each at most 100 characters.",
    "name": "A name has at most 200 characters.",
}


def _rule_fields(values: dict[str, Any], *, every_target_field: bool) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """The API body of the form's rule; with `every_target_field` the targets not chosen are sent
    as null (a change of target kind clears the old one)."""
    target = parse_target(values["target"])
    if not values["name"]:
        return None, {"name": "Name the rule."}
    if target is None:
        return None, {"target": "Choose where matching leads go."}
    kind, target_id = target
    chosen = TARGET_FIELD.get(kind.value, "target_user_id")
    targets = dict.fromkeys(TARGET_FIELDS) if every_target_field else {}
    return {
        "name": values["name"],
        "target_kind": kind.value,
        **targets,
        chosen: str(target_id),
        "countries": _codes(values["countries"]),
        "regions": [r.strip() for r in values["regions"].split(",") if r.strip()],
        "size_bands": values["size_bands"],
        "product_ids": values["product_ids"],
        "score_bands": values["score_bands"],
        "sources": values["sources"],
    }, {}


def _rule_body(values: dict[str, Any]) -> tuple[RuleCreate | None, dict[str, str]]:
    body, errors = _rule_fields(values, every_target_field=False)
    return (None, errors) if body is None else checked(RuleCreate, body, FIELD_MESSAGES)


def _form_values(raw: FormMultiDict) -> dict[str, Any]:
    values: dict[str, Any] = {n: text_of(raw, n) for n in ("name", "target", "countries", "regions")}
    return values | {n: _listed(raw, n) for n in ("size_bands", "product_ids", "score_bands", "sources")}


def _values_of(rule: RoutingRule) -> dict[str, Any]:
    """The edit form's fields, filled from the rule as it is."""
    target_id = rule.target_user_id or rule.target_partner_id or rule.target_group_id or rule.program_id
    return {
        "name": rule.name,
        "target": f"{rule.target_kind.value}:{target_id}" if target_id else "",
        "countries": ", ".join(rule.countries),
        "regions": ", ".join(rule.regions),
        "size_bands": list(rule.size_bands),
        "product_ids": list(rule.product_ids),
        "score_bands": list(rule.score_bands),
        "sources": list(rule.sources),
        "expected_version": rule.version,
    }


@post("/lead-rules", guards=CONSOLE_PAGES)
async def add_rule(request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal) -> Response[Any]:
    _require_admin(principal)
    values = _form_values(await request.form())
    data, errors = _rule_body(values)
    if data is None:
        return await rules_page(db_session, principal, errors=errors, values=values, status_code=400)
    outcome = await attempt(db_session, lambda: routing_rules.create_rule(db_session, principal=principal, data=data))
    if isinstance(outcome, Refusal):
        errors = {RULE_MESSAGE_FIELDS.get(k, k): v for k, v in field_messages(outcome).items()}
        return await rules_page(db_session, principal, errors=errors, values=values, status_code=outcome.status)
    return Redirect("/lead-rules?done=added", status_code=303)


async def _edit_page(
    session: AsyncSession,
    principal: Principal,
    rule: RoutingRule,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response[Any]:
    targets = await routing_targets(session, principal)
    errors = errors or {}
    return page(
        "leads_rule_edit.html",
        principal,
        status_code=status_code,
        rule=rule,
        targets=targets,
        products=await product_choices(session, principal),
        size_bands=list(SIZE_BANDS.items()),
        score_bands=[(b.value, b.value) for b in Band],
        sources=list(SOURCES.items()),
        errors=errors,
        first_error=next((k for k in errors if k != GENERAL), None),
        values=values or _values_of(rule),
    )


@get("/lead-rules/{rule_id:uuid}", name="lead_rule", guards=CONSOLE_PAGES)
async def rule_form(db_session: AsyncSession, principal: Principal, rule_id: uuid.UUID) -> Response[Any]:
    _require_admin(principal)
    return await _edit_page(
        db_session, principal, await routing_rules.get_rule(db_session, principal=principal, rule_id=rule_id)
    )


@post("/lead-rules/{rule_id:uuid}", guards=CONSOLE_PAGES)
async def edit_rule(
    request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, rule_id: uuid.UUID
) -> Response[Any]:
    """The rule's conditions, name and target, changed in one update (its place and state stay)."""
    _require_admin(principal)
    rule = await routing_rules.get_rule(db_session, principal=principal, rule_id=rule_id)
    raw = await request.form()
    values = _form_values(raw) | {"expected_version": text_of(raw, "expected_version")}
    body, errors = _rule_fields(values, every_target_field=True)
    data = None
    if body is not None:
        data, errors = checked(RuleUpdate, body | {"expected_version": version_of(raw)}, FIELD_MESSAGES)
    if data is None:
        return await _edit_page(db_session, principal, rule, values=values, errors=errors, status_code=400)
    change = data
    outcome = await attempt(
        db_session, lambda: routing_rules.update_rule(db_session, principal=principal, rule_id=rule_id, data=change)
    )
    if isinstance(outcome, Refusal):
        errors = {RULE_MESSAGE_FIELDS.get(k, k): v for k, v in field_messages(outcome).items()}
        rule = await routing_rules.get_rule(
            db_session, principal=principal, rule_id=rule_id
        )  # as it is after the rollback
        return await _edit_page(db_session, principal, rule, values=values, errors=errors, status_code=outcome.status)
    return Redirect(f"/lead-rules?done=saved#rule-{rule_id}", status_code=303)


def _moved(rules: list[RoutingRule], rule_id: uuid.UUID, direction: str) -> list[uuid.UUID]:
    order = [r.id for r in rules]
    index = order.index(rule_id)
    other = index - 1 if direction == "up" else index + 1
    if 0 <= other < len(order):
        order[index], order[other] = order[other], order[index]
    return order


@post("/lead-rules/{rule_id:uuid}/move", guards=CONSOLE_PAGES)
async def move_rule(
    request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, rule_id: uuid.UUID
) -> Response[Any]:
    _require_admin(principal)
    direction = text_of(await request.form(), "direction")
    rules = await routing_rules.list_rules(db_session)
    if rule_id not in {r.id for r in rules} or direction not in ("up", "down"):
        return await rules_page(
            db_session, principal, errors={GENERAL: "That rule cannot move that way."}, status_code=400
        )
    order = RuleOrder(rule_ids=_moved(rules, rule_id, direction))
    outcome = await attempt(
        db_session, lambda: routing_rules.reorder_rules(db_session, principal=principal, data=order)
    )
    if isinstance(outcome, Refusal):
        return await rules_page(db_session, principal, errors={GENERAL: outcome.detail}, status_code=outcome.status)
    return Redirect(f"/lead-rules?done=moved#rule-{rule_id}", status_code=303)


@post("/lead-rules/{rule_id:uuid}/active", guards=CONSOLE_PAGES)
async def set_rule_active(
    request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, rule_id: uuid.UUID
) -> Response[Any]:
    _require_admin(principal)
    raw = await request.form()
    active = text_of(raw, "active") == "true"
    try:
        data = RuleUpdate(expected_version=version_of(raw), active=active)
        data = msgspec.convert(msgspec.to_builtins(data), RuleUpdate)
    except msgspec.ValidationError:
        return await rules_page(
            db_session, principal, errors={GENERAL: "This page was out of date; try again."}, status_code=400
        )
    outcome = await attempt(
        db_session, lambda: routing_rules.update_rule(db_session, principal=principal, rule_id=rule_id, data=data)
    )
    if isinstance(outcome, Refusal):
        return await rules_page(db_session, principal, errors={GENERAL: outcome.detail}, status_code=outcome.status)
    return Redirect(f"/lead-rules?done={'activated' if active else 'deactivated'}#rule-{rule_id}", status_code=303)


# CSV import ----------------------------------------------------------------------------------


def _import_page(
    principal: Principal,
    *,
    report: ImportReport | None = None,
    refused: str | None = None,
    row_errors: list[RowError] | None = None,
    errors_total: int = 0,
    errors: dict[str, str] | None = None,
    mode: str = ImportMode.ALL_OR_NOTHING.value,
    status_code: int = 200,
) -> Response[Any]:
    return page(
        "leads_import.html",
        principal,
        status_code=status_code,
        report=report,
        refused=refused,
        row_errors=report.errors if report else (row_errors or []),
        errors_total=report.errors_total if report else errors_total,
        errors=errors or {},
        mode=mode,
    )


@get("/lead-import", name="lead_import", guards=CONSOLE_PAGES)
async def import_form(principal: Principal) -> Response[Any]:
    return _import_page(principal)


def _refusal_page(principal: Principal, refusal: Refusal, mode: str) -> Response[Any]:
    """All-or-nothing with bad rows, or a file refused as a whole: the rows' problems as a table."""
    exc = refusal.error
    listed = exc.extra.get("errors") if exc is not None else None
    if exc is not None and listed and any(e.get("field") != "file" for e in listed):
        rows = [msgspec.convert(e, RowError) for e in listed]
        total = int(exc.extra.get("errors_total", len(rows)))
        return _import_page(
            principal,
            refused=refusal.detail,
            row_errors=rows,
            errors_total=total,
            mode=mode,
            status_code=refusal.status,
        )
    field = exc.field if exc is not None and exc.field in ("file", "mapping") else "file"
    return _import_page(principal, errors={field: refusal.detail}, mode=mode, status_code=refusal.status)


@post(
    "/lead-import",
    guards=CONSOLE_PAGES,
    request_max_body_size=None,  # PRM_MAX_IMPORT_BYTES, counted by read_multipart as the body streams in
    # The body is read here as a stream (spooled to disk), never whole: no hook, and neither CSRF
    # check, reads the form first; the form's token is checked once the stream is read.
    opt={STREAMED_BODY: True, "exclude_from_csrf": True},
)
async def import_leads(
    request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal
) -> Response[Any]:
    try:
        upload = await read_multipart(request, max_bytes=request.app.state.settings.max_import_bytes)
    except (TooLarge, BadUpload) as exc:
        return _import_page(principal, errors={"file": exc.detail}, status_code=exc.status_code)
    try:
        check_streamed_csrf(request, upload.fields.get("_csrf_token"))
        return await _import_upload(db_session, principal, upload)
    finally:
        upload.close()


async def _import_upload(session: AsyncSession, principal: Principal, upload: Upload) -> Response[Any]:
    mode = upload.fields.get("mode", "")
    mode = mode if mode in {m.value for m in ImportMode} else ImportMode.ALL_OR_NOTHING.value
    filename, content = upload.files.get("file", ("", None))
    if content is None or not content.read(1):
        return _import_page(principal, errors={"file": "Choose a CSV file to import."}, mode=mode, status_code=400)
    content.seek(0)
    csv_upload = imports.CsvUpload(
        filename=filename or "leads.csv",
        file=content,  # spooled to disk as it streamed in; the import reads it as a stream
        mode=ImportMode(mode),
        mapping=None,
        source=LeadSource.IMPORT,
        campaign_id=None,
    )
    outcome = await attempt(session, lambda: imports.import_csv(session, principal=principal, upload=csv_upload))
    if isinstance(outcome, Refusal):
        return _refusal_page(principal, outcome, mode)
    return _import_page(principal, report=outcome, mode=mode)


LEAD_RULE_HANDLERS: list[Any] = [
    rules_list,
    add_rule,
    rule_form,
    edit_rule,
    move_rule,
    set_rule_active,
    import_form,
    import_leads,
]
