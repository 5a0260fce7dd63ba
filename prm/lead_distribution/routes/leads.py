"""Leads through distribution: intake with duplicate flags, the channel manager's queue,
qualification, routing (manual and by rules), merge, conversion; and CSV imports."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIFormat, OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from litestar.params import Parameter, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.activity import ActivityRead
from prm.core.auth import EVERYONE, STAFF, VENDOR_READERS, Principal, allow
from prm.core.convert import to_page, to_read
from prm.core.errors import RuleViolation
from prm.core.history import history_of
from prm.core.idempotency import idempotent_create
from prm.core.nul import STREAMED_BODY
from prm.core.openapi import Problem
from prm.core.pagination import Page, PageRequest, page_request_sorted_by
from prm.core.problems import PROBLEM_JSON
from prm.core.uploads import BadUpload, Upload, read_multipart
from prm.crm.models import Lead, LeadSource, LeadStatus
from prm.crm.repository import LeadRepository
from prm.crm.schemas import LeadCreate
from prm.lead_distribution.models import RoutingDecision
from prm.lead_distribution.repository import ImportRepository
from prm.lead_distribution.rules import Band
from prm.lead_distribution.schemas import (
    AutoRoute,
    AutoRouteMany,
    ConversionRead,
    ConvertRequest,
    DecisionRead,
    Disqualify,
    ImportMode,
    ImportReport,
    LeadDetails,
    MergeRequest,
    Qualify,
    RoutedLead,
    RoutedLeads,
    RouteRequest,
)
from prm.lead_distribution.service import conversion, imports, intake, qualification, routing
from prm.lead_distribution.service.state import QUEUE

# A listed lead the caller may not see (or that does not exist): the problem names it, leads[i].id.
UNSEEN_LEAD = ResponseSpec(
    data_container=Problem, media_type=PROBLEM_JSON, description="Not Found", generate_examples=False
)


def routed_lead(lead: Lead, decision: RoutingDecision) -> RoutedLead:
    return RoutedLead(
        lead_id=lead.id,
        lead_version=lead.version,
        decision_id=decision.id,
        outcome=decision.outcome,
        rule_id=decision.rule_id,
        partner_id=decision.partner_id,
        user_id=decision.user_id,
        group_id=decision.group_id,
        explanation=decision.explanation,
    )


class DistributionLeadController(Controller):
    path = "/distribution/leads"
    tags = ["lead distribution"]
    guards = [allow(*EVERYONE)]

    @post(
        "/", guards=[allow(*STAFF)], summary="Take in a vendor lead: scored, and flagged if it looks like a duplicate"
    )
    async def create_lead(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, data: LeadCreate
    ) -> Response[LeadDetails]:
        async def create() -> LeadDetails:
            lead = await intake.create(db_session, principal=principal, data=data)
            return await intake.details(db_session, lead)

        return await idempotent_create(request, db_session, principal, create, LeadDetails)

    @get("/", guards=[allow(*VENDOR_READERS)], summary="The lead queue (new, MQL, SQL by default), filterable by band")
    async def queue(
        self,
        db_session: AsyncSession,
        principal: Principal,
        page: PageRequest,
        lead_status: Annotated[list[LeadStatus] | None, QueryParameter(name="status")] = None,
        band: Band | None = None,
        source: LeadSource | None = None,
        country: Annotated[str | None, Parameter(max_length=2)] = None,
    ) -> Page[LeadDetails]:
        rows, cursor = await intake.queue(
            db_session,
            principal=principal,
            page=page,
            statuses=lead_status or QUEUE,
            band=band,
            source=source,
            country=country,
        )
        return Page(items=await intake.details_many(db_session, rows), next_cursor=cursor)

    @get("/{lead_id:uuid}", summary="A lead with its band, possible duplicates and current offer")
    async def get_lead(self, db_session: AsyncSession, principal: Principal, lead_id: uuid.UUID) -> LeadDetails:
        return await intake.get(db_session, principal=principal, lead_id=lead_id)

    @get("/{lead_id:uuid}/history", summary="Every change to the lead: who, when (UTC), what (as /leads/{id}/history)")
    async def lead_history(
        self, db_session: AsyncSession, principal: Principal, lead_id: uuid.UUID, page: PageRequest
    ) -> Page[ActivityRead]:
        return await history_of(db_session, LeadRepository(db_session, principal), lead_id, page, entity="lead")

    @post(
        "/{lead_id:uuid}/qualify",
        status_code=200,
        guards=[allow(*STAFF)],
        summary="Record situation, product, time frame, budget; re-score; mark MQL or SQL",
    )
    async def qualify(
        self, db_session: AsyncSession, principal: Principal, lead_id: uuid.UUID, data: Qualify
    ) -> LeadDetails:
        lead = await qualification.qualify(db_session, principal=principal, lead_id=lead_id, data=data)
        return await intake.details(db_session, lead)

    @post("/{lead_id:uuid}/disqualify", status_code=200, guards=[allow(*STAFF)])
    async def disqualify(
        self, db_session: AsyncSession, principal: Principal, lead_id: uuid.UUID, data: Disqualify
    ) -> LeadDetails:
        lead = await qualification.disqualify(db_session, principal=principal, lead_id=lead_id, data=data)
        return await intake.details(db_session, lead)

    @post(
        "/{lead_id:uuid}/merge",
        status_code=200,
        guards=[allow(*STAFF)],
        summary="Merge a duplicate into this lead; both keep their history",
    )
    async def merge(
        self, db_session: AsyncSession, principal: Principal, lead_id: uuid.UUID, data: MergeRequest
    ) -> LeadDetails:
        lead = await qualification.merge(db_session, principal=principal, lead_id=lead_id, data=data)
        return await intake.details(db_session, lead)

    @post(
        "/{lead_id:uuid}/route",
        status_code=200,
        guards=[allow(*STAFF)],
        summary="Route by hand to a partner rep, a partner, a program's pool, a shark-tank group or an internal rep",
    )
    async def route(
        self, db_session: AsyncSession, principal: Principal, lead_id: uuid.UUID, data: RouteRequest
    ) -> DecisionRead:
        decision = await routing.route_manually(db_session, principal=principal, lead_id=lead_id, data=data)
        return to_read(decision, DecisionRead)

    @post(
        "/{lead_id:uuid}/auto-route",
        status_code=200,
        guards=[allow(*STAFF)],
        summary="Route by the ordered routing rules (back to the queue when none routes it)",
    )
    async def auto_route(
        self, db_session: AsyncSession, principal: Principal, lead_id: uuid.UUID, data: AutoRoute
    ) -> DecisionRead:
        decision = await routing.route_by_rules(
            db_session, principal=principal, lead_id=lead_id, expected_version=data.expected_version
        )
        return to_read(decision, DecisionRead)

    @post(
        "/auto-route",
        status_code=200,
        guards=[allow(*STAFF)],
        summary="Route several leads by the rules, each with its own decision (all or none)",
        responses={404: UNSEEN_LEAD},
    )
    async def auto_route_many(self, db_session: AsyncSession, principal: Principal, data: AutoRouteMany) -> RoutedLeads:
        routed = await routing.route_many_by_rules(db_session, principal=principal, wanted=data.leads)
        return RoutedLeads(items=[routed_lead(lead, decision) for lead, decision in routed])

    @get(
        "/{lead_id:uuid}/decisions",
        guards=[allow(*VENDOR_READERS)],
        summary="The lead's routing decisions, oldest first (sort=decided_at)",
        dependencies={"page": Provide(page_request_sorted_by("decided_at"), sync_to_thread=False)},
    )
    async def decisions(
        self, db_session: AsyncSession, principal: Principal, lead_id: uuid.UUID, page: PageRequest
    ) -> Page[DecisionRead]:
        rows, cursor = await routing.decision_page(db_session, principal=principal, lead_id=lead_id, page=page)
        return to_page(rows, cursor, DecisionRead)

    @post(
        "/{lead_id:uuid}/convert",
        status_code=200,
        summary="Convert an accepted lead into account + contact + opportunity (indirect when a partner holds it)",
    )
    async def convert(
        self, db_session: AsyncSession, principal: Principal, lead_id: uuid.UUID, data: ConvertRequest
    ) -> ConversionRead:
        done = await conversion.convert(db_session, principal=principal, lead_id=lead_id, data=data)
        return ConversionRead(
            lead_id=lead_id,
            account_id=done.account_id,
            contact_id=done.contact_id,
            opportunity_id=done.opportunity_id,
            account_reused=done.account_reused,
            contact_reused=done.contact_reused,
        )


class ImportFields(msgspec.Struct, kw_only=True):
    """The upload's form fields besides `file` (others, like a page's CSRF token, are ignored)."""

    mode: ImportMode = ImportMode.ALL_OR_NOTHING
    mapping: str | None = None
    source: LeadSource = LeadSource.IMPORT
    campaign_id: uuid.UUID | None = None


def _mapping(raw: str | None) -> dict[str, str] | None:
    """`mapping` is a JSON object: CSV header -> lead field."""
    if not raw:
        return None
    try:
        return msgspec.json.decode(raw, type=dict[str, str])
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise RuleViolation('mapping must be a JSON object like {"Company Name": "company"}.', field="mapping") from exc


def _csv_upload(upload: Upload) -> imports.CsvUpload:
    try:
        fields = msgspec.convert(upload.fields, ImportFields, strict=False)
    except msgspec.ValidationError as exc:
        name = str(exc).rsplit("$.", 1)[-1].rstrip("`") if "$." in str(exc) else "body"
        raise BadUpload(f"Invalid input: {exc}.", field=name) from exc
    if "file" not in upload.files:
        raise BadUpload("Attach the CSV file as the form's `file` part.", field="file")
    filename, content = upload.files["file"]
    return imports.CsvUpload(
        filename=filename or "leads.csv",
        file=content,
        mode=fields.mode,
        mapping=_mapping(fields.mapping),
        source=fields.source,
        campaign_id=fields.campaign_id,
    )


@dataclass
class ImportOperation(Operation):
    """The import's OpenAPI operation: the handler reads its multipart body as a stream, so the
    body is described here rather than derived from a `data` parameter."""

    def __post_init__(self) -> None:
        fields = {
            "file": Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY, description="The CSV file (UTF-8)"),
            "mode": Schema(type=OpenAPIType.STRING, enum=[m.value for m in ImportMode]),
            "mapping": Schema(
                type=OpenAPIType.STRING, description='JSON: CSV header -> lead field, {"Firma": "company"}'
            ),
            "source": Schema(type=OpenAPIType.STRING, enum=[s.value for s in LeadSource]),
            "campaign_id": Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.UUID),
        }
        form = Schema(type=OpenAPIType.OBJECT, properties=fields, required=["file"])  # type: ignore[arg-type]
        self.request_body = RequestBody(content={"multipart/form-data": OpenAPIMediaType(schema=form)}, required=True)


class ImportController(Controller):
    path = "/distribution/imports"
    tags = ["lead distribution"]
    guards = [allow(*STAFF)]

    @post(
        "/",
        request_max_body_size=None,  # PRM_MAX_IMPORT_BYTES, counted by read_multipart as the body streams in
        opt={STREAMED_BODY: True},
        operation_class=ImportOperation,
        summary="Import leads from CSV (multipart: file, mode, mapping JSON, source, campaign_id)",
        description="The body is read as a stream; one larger than PRM_MAX_IMPORT_BYTES (64 MiB) gets 413.",
    )
    async def import_csv(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal
    ) -> Response[ImportReport]:
        upload = await read_multipart(request, max_bytes=request.app.state.settings.max_import_bytes)
        try:
            report = await imports.import_csv(db_session, principal=principal, upload=_csv_upload(upload))
        finally:
            upload.close()
        return Response(report, status_code=201)

    @get("/{import_id:uuid}", summary="An import's report (its first 1,000 row errors)")
    async def get_import(self, db_session: AsyncSession, principal: Principal, import_id: uuid.UUID) -> ImportReport:
        return imports.report_of(await ImportRepository(db_session, principal).get(import_id))


__all__ = ["DistributionLeadController", "ImportController"]
