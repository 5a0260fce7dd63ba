"""The vendor's distribution setup: scoring criteria, lead programs and members, product
certifications, shark-tank groups, routing rules (and their order), web-to-lead forms."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.di import Provide
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.activity import ActivityRead
from prm.core.auth import STAFF, VENDOR_READERS, Principal, Role, allow
from prm.core.convert import to_page, to_read
from prm.core.history import history_of
from prm.core.idempotency import idempotent_create
from prm.core.pagination import Page, PageRequest, page_request_sorted_by
from prm.lead_distribution.models import PartnerGroup
from prm.lead_distribution.repository import GroupRepository, ProgramRepository, RuleRepository, WebFormRepository
from prm.lead_distribution.schemas import (
    CertificationsPut,
    CertificationsRead,
    CriterionCreate,
    CriterionRead,
    CriterionUpdate,
    GroupCreate,
    GroupMembersPut,
    GroupRead,
    GroupUpdate,
    MemberPut,
    MemberRead,
    ProgramCreate,
    ProgramRead,
    ProgramUpdate,
    RuleCreate,
    RuleOrder,
    RuleRead,
    RuleUpdate,
    WebFormCreate,
    WebFormRead,
    WebFormUpdate,
)
from prm.lead_distribution.service import routing_rules, scoring, setup

ADMIN = allow(Role.VENDOR_ADMIN)


class ScoringController(Controller):
    path = "/distribution/scoring-criteria"
    tags = ["lead distribution setup"]
    guards = [allow(*VENDOR_READERS)]

    @post("/", guards=[ADMIN], summary="Add a scoring criterion (the defaults apply until the first is added)")
    async def create_criterion(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, data: CriterionCreate
    ) -> Response[CriterionRead]:
        async def create() -> CriterionRead:
            return to_read(await scoring.create_criterion(db_session, principal=principal, data=data), CriterionRead)

        return await idempotent_create(request, db_session, principal, create, CriterionRead)

    @get("/")
    async def list_criteria(
        self, db_session: AsyncSession, principal: Principal, page: PageRequest
    ) -> Page[CriterionRead]:
        rows, cursor = await scoring.list_criteria(db_session, principal=principal, page=page)
        return to_page(rows, cursor, CriterionRead)

    @patch("/{criterion_id:uuid}", guards=[ADMIN])
    async def update_criterion(
        self, db_session: AsyncSession, principal: Principal, criterion_id: uuid.UUID, data: CriterionUpdate
    ) -> CriterionRead:
        criterion = await scoring.update_criterion(
            db_session, principal=principal, criterion_id=criterion_id, data=data
        )
        return to_read(criterion, CriterionRead)


class LeadProgramController(Controller):
    path = "/distribution/programs"
    tags = ["lead distribution setup"]
    guards = [allow(*VENDOR_READERS)]

    @post("/", guards=[ADMIN], summary="Create a lead program: tiers, response times, capacity, acceptance floor")
    async def create_program(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, data: ProgramCreate
    ) -> Response[ProgramRead]:
        async def create() -> ProgramRead:
            return to_read(await setup.create_program(db_session, principal=principal, data=data), ProgramRead)

        return await idempotent_create(request, db_session, principal, create, ProgramRead)

    @get("/")
    async def list_programs(
        self, db_session: AsyncSession, principal: Principal, page: PageRequest
    ) -> Page[ProgramRead]:
        rows, cursor = await setup.list_programs(db_session, principal=principal, page=page)
        return to_page(rows, cursor, ProgramRead)

    @get("/{program_id:uuid}")
    async def get_program(self, db_session: AsyncSession, principal: Principal, program_id: uuid.UUID) -> ProgramRead:
        return to_read(await ProgramRepository(db_session, principal).get(program_id), ProgramRead)

    @patch("/{program_id:uuid}", guards=[ADMIN])
    async def update_program(
        self, db_session: AsyncSession, principal: Principal, program_id: uuid.UUID, data: ProgramUpdate
    ) -> ProgramRead:
        program = await setup.update_program(db_session, principal=principal, program_id=program_id, data=data)
        return to_read(program, ProgramRead)

    @get("/{program_id:uuid}/history", summary="Every change: who, when (UTC), what")
    async def program_history(
        self, db_session: AsyncSession, principal: Principal, program_id: uuid.UUID, page: PageRequest
    ) -> Page[ActivityRead]:
        return await history_of(
            db_session, ProgramRepository(db_session, principal), program_id, page, entity="lead_program"
        )

    @get(
        "/{program_id:uuid}/members",
        summary="The program's members, by partner id (sort=partner_id, or joined_at)",
        dependencies={"page": Provide(page_request_sorted_by("partner_id"), sync_to_thread=False)},
    )
    async def list_members(
        self, db_session: AsyncSession, principal: Principal, program_id: uuid.UUID, page: PageRequest
    ) -> Page[MemberRead]:
        rows, cursor = await setup.member_page(db_session, principal=principal, program_id=program_id, page=page)
        return to_page(rows, cursor, MemberRead)

    @put(
        "/{program_id:uuid}/members/{partner_id:uuid}",
        guards=[ADMIN],
        summary="Enrol a partner (or change its weight, capacity, territories)",
    )
    async def put_member(
        self,
        db_session: AsyncSession,
        principal: Principal,
        program_id: uuid.UUID,
        partner_id: uuid.UUID,
        data: MemberPut,
    ) -> MemberRead:
        member = await setup.put_member(
            db_session, principal=principal, program_id=program_id, partner_id=partner_id, data=data
        )
        return to_read(member, MemberRead)

    @delete("/{program_id:uuid}/members/{partner_id:uuid}", guards=[ADMIN])
    async def remove_member(
        self, db_session: AsyncSession, principal: Principal, program_id: uuid.UUID, partner_id: uuid.UUID
    ) -> None:
        await setup.remove_member(db_session, principal=principal, program_id=program_id, partner_id=partner_id)


class CertificationController(Controller):
    path = "/distribution/partners/{partner_id:uuid}/certified-products"
    tags = ["lead distribution setup"]
    guards = [allow(*VENDOR_READERS)]

    @get("/")
    async def get_certifications(
        self, db_session: AsyncSession, principal: Principal, partner_id: uuid.UUID
    ) -> CertificationsRead:
        ids = await setup.certifications(db_session, principal=principal, partner_id=partner_id)
        return CertificationsRead(partner_id=partner_id, product_ids=ids)

    @put("/", guards=[ADMIN], summary="The products this partner is certified for (replaces the list)")
    async def put_certifications(
        self, db_session: AsyncSession, principal: Principal, partner_id: uuid.UUID, data: CertificationsPut
    ) -> CertificationsRead:
        ids = await setup.set_certifications(
            db_session, principal=principal, partner_id=partner_id, product_ids=data.product_ids
        )
        return CertificationsRead(partner_id=partner_id, product_ids=ids)


async def _group_reads(db_session: AsyncSession, groups: list[PartnerGroup]) -> list[GroupRead]:
    members = await setup.group_members(db_session, [g.id for g in groups])
    return [
        GroupRead(
            **{f: getattr(g, f) for f in GroupRead.__struct_fields__ if f != "partner_ids"},
            partner_ids=members.get(g.id, []),
        )
        for g in groups
    ]


class GroupController(Controller):
    path = "/distribution/groups"
    tags = ["lead distribution setup"]
    guards = [allow(*VENDOR_READERS)]

    @post("/", guards=[ADMIN], summary="Create a shark-tank group of partners")
    async def create_group(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, data: GroupCreate
    ) -> Response[GroupRead]:
        async def create() -> GroupRead:
            group = await setup.create_group(db_session, principal=principal, data=data)
            return (await _group_reads(db_session, [group]))[0]

        return await idempotent_create(request, db_session, principal, create, GroupRead)

    @get("/")
    async def list_groups(self, db_session: AsyncSession, principal: Principal, page: PageRequest) -> Page[GroupRead]:
        rows, cursor = await setup.list_groups(db_session, principal=principal, page=page)
        return Page(items=await _group_reads(db_session, rows), next_cursor=cursor)

    @get("/{group_id:uuid}")
    async def get_group(self, db_session: AsyncSession, principal: Principal, group_id: uuid.UUID) -> GroupRead:
        group = await GroupRepository(db_session, principal).get(group_id)
        return (await _group_reads(db_session, [group]))[0]

    @patch("/{group_id:uuid}", guards=[ADMIN])
    async def update_group(
        self, db_session: AsyncSession, principal: Principal, group_id: uuid.UUID, data: GroupUpdate
    ) -> GroupRead:
        group = await setup.update_group(db_session, principal=principal, group_id=group_id, data=data)
        return (await _group_reads(db_session, [group]))[0]

    @get("/{group_id:uuid}/history", summary="Every change: who, when (UTC), what")
    async def group_history(
        self, db_session: AsyncSession, principal: Principal, group_id: uuid.UUID, page: PageRequest
    ) -> Page[ActivityRead]:
        return await history_of(
            db_session, GroupRepository(db_session, principal), group_id, page, entity="partner_group"
        )

    @put("/{group_id:uuid}/members", guards=[ADMIN], summary="The group's partners (replaces the list)")
    async def put_members(
        self, db_session: AsyncSession, principal: Principal, group_id: uuid.UUID, data: GroupMembersPut
    ) -> GroupRead:
        group = await setup.set_group_members(
            db_session, principal=principal, group_id=group_id, partner_ids=data.partner_ids
        )
        return (await _group_reads(db_session, [group]))[0]


class RuleController(Controller):
    path = "/distribution/routing-rules"
    tags = ["lead distribution setup"]
    guards = [allow(*VENDOR_READERS)]

    @post("/", guards=[ADMIN], summary="Add a routing rule (conditions -> target), last unless a position is given")
    async def create_rule(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, data: RuleCreate
    ) -> Response[RuleRead]:
        async def create() -> RuleRead:
            return to_read(await routing_rules.create_rule(db_session, principal=principal, data=data), RuleRead)

        return await idempotent_create(request, db_session, principal, create, RuleRead)

    @get(
        "/",
        summary="The rules, by default in the order they are tried (sort=position)",
        dependencies={"page": Provide(page_request_sorted_by("position"), sync_to_thread=False)},
    )
    async def list_rules(self, db_session: AsyncSession, principal: Principal, page: PageRequest) -> Page[RuleRead]:
        rows, cursor = await routing_rules.page_rules(db_session, principal=principal, page=page)
        return to_page(rows, cursor, RuleRead)

    @put("/order", guards=[ADMIN], summary="Reorder: every rule's id, in the order to try them")
    async def reorder(self, db_session: AsyncSession, principal: Principal, data: RuleOrder) -> list[RuleRead]:
        return [
            to_read(r, RuleRead) for r in await routing_rules.reorder_rules(db_session, principal=principal, data=data)
        ]

    @get("/{rule_id:uuid}")
    async def get_rule(self, db_session: AsyncSession, principal: Principal, rule_id: uuid.UUID) -> RuleRead:
        return to_read(await RuleRepository(db_session, principal).get(rule_id), RuleRead)

    @patch("/{rule_id:uuid}", guards=[ADMIN])
    async def update_rule(
        self, db_session: AsyncSession, principal: Principal, rule_id: uuid.UUID, data: RuleUpdate
    ) -> RuleRead:
        return to_read(
            await routing_rules.update_rule(db_session, principal=principal, rule_id=rule_id, data=data), RuleRead
        )

    @get("/{rule_id:uuid}/history", summary="Every change: who, when (UTC), what")
    async def rule_history(
        self, db_session: AsyncSession, principal: Principal, rule_id: uuid.UUID, page: PageRequest
    ) -> Page[ActivityRead]:
        return await history_of(db_session, RuleRepository(db_session, principal), rule_id, page, entity="routing_rule")


class WebFormController(Controller):
    path = "/distribution/web-forms"
    tags = ["lead distribution setup"]
    guards = [allow(*STAFF)]

    @post("/", summary="A web-to-lead form for a campaign; its key goes into the public page's form action")
    async def create_form(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, data: WebFormCreate
    ) -> Response[WebFormRead]:
        async def create() -> WebFormRead:
            return to_read(await setup.create_form(db_session, principal=principal, data=data), WebFormRead)

        return await idempotent_create(request, db_session, principal, create, WebFormRead)

    @get("/")
    async def list_forms(self, db_session: AsyncSession, principal: Principal, page: PageRequest) -> Page[WebFormRead]:
        rows, cursor = await setup.list_forms(db_session, principal=principal, page=page)
        return to_page(rows, cursor, WebFormRead)

    @get("/{form_id:uuid}")
    async def get_form(self, db_session: AsyncSession, principal: Principal, form_id: uuid.UUID) -> WebFormRead:
        return to_read(await WebFormRepository(db_session, principal).get(form_id), WebFormRead)

    @patch("/{form_id:uuid}")
    async def update_form(
        self, db_session: AsyncSession, principal: Principal, form_id: uuid.UUID, data: WebFormUpdate
    ) -> WebFormRead:
        return to_read(
            await setup.update_form(db_session, principal=principal, form_id=form_id, data=data), WebFormRead
        )

    @get("/{form_id:uuid}/history", summary="Every change: who, when (UTC), what")
    async def form_history(
        self, db_session: AsyncSession, principal: Principal, form_id: uuid.UUID, page: PageRequest
    ) -> Page[ActivityRead]:
        return await history_of(db_session, WebFormRepository(db_session, principal), form_id, page, entity="web_form")
