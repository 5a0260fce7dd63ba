"""The vendor's distribution setup: lead programs and their members, product certifications,
shark-tank groups, routing rules and their order, web-to-lead forms."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence

import msgspec
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.activity import record_activity
from prm.core.auth import Principal
from prm.core.errors import Conflict, NotFound, RuleViolation
from prm.core.pagination import PageRequest
from prm.core.records import record_created, record_updated
from prm.crm.services.campaigns import get_campaign
from prm.crm.services.partners import get_partner
from prm.crm.services.products import get_product
from prm.lead_distribution.models import (
    LeadProgram,
    PartnerGroup,
    ProgramMember,
    WebForm,
)
from prm.lead_distribution.repository import (
    CertificationStore,
    ConfigStore,
    GroupRepository,
    ProgramRepository,
    WebFormRepository,
)
from prm.lead_distribution.schemas import (
    GroupCreate,
    GroupUpdate,
    MemberPut,
    ProgramCreate,
    ProgramUpdate,
    WebFormCreate,
    WebFormUpdate,
)

PROGRAM_FIELDS = (
    "name",
    "eligible_tiers",
    "response_hours",
    "hot_response_hours",
    "claim_window_hours",
    "max_open_leads",
    "min_acceptance_pct",
    "auto_qualify_bands",
)


async def partners_exist(
    session: AsyncSession, principal: Principal, partner_ids: Sequence[uuid.UUID], *, field: str = "partner_ids"
) -> None:
    """Each partner is listed once and visible; an error names the item (`partner_ids[2]`)."""
    if len(set(partner_ids)) != len(partner_ids):
        raise RuleViolation("Each partner may be listed once.", field=field)
    for index, partner_id in enumerate(partner_ids):
        try:
            await get_partner(session, principal=principal, partner_id=partner_id)
        except NotFound as exc:
            raise RuleViolation(exc.detail, field=f"{field}[{index}]") from exc


async def partner_exists(session: AsyncSession, principal: Principal, partner_id: uuid.UUID, *, field: str) -> None:
    try:
        await get_partner(session, principal=principal, partner_id=partner_id)
    except NotFound as exc:
        raise RuleViolation(exc.detail, field=field) from exc


async def products_exist(
    session: AsyncSession, principal: Principal, product_ids: Sequence[uuid.UUID], *, field: str = "product_ids"
) -> None:
    """Each product is listed once and visible; an error names the item (`product_ids[0]`)."""
    if len(set(product_ids)) != len(product_ids):
        raise RuleViolation("Each product may be listed once.", field=field)
    for index, product_id in enumerate(product_ids):
        try:
            await get_product(session, principal=principal, product_id=product_id)
        except NotFound as exc:
            raise RuleViolation(exc.detail, field=f"{field}[{index}]") from exc


# Programs ------------------------------------------------------------------------------------


async def create_program(session: AsyncSession, *, principal: Principal, data: ProgramCreate) -> LeadProgram:
    if await ProgramRepository(session, principal).name_taken(data.name):
        raise Conflict(f"A lead program named {data.name!r} already exists.", field="name")
    program = LeadProgram(
        name=data.name,
        description=data.description,
        active=True,
        eligible_tiers=list(data.eligible_tiers),
        response_hours=data.response_hours,
        hot_response_hours=data.hot_response_hours,
        claim_window_hours=data.claim_window_hours,
        max_open_leads=data.max_open_leads,
        min_acceptance_pct=data.min_acceptance_pct,
        auto_qualify_bands=[b.value for b in data.auto_qualify_bands],
    )
    session.add(program)
    await record_created(session, program, entity="lead_program", principal=principal, fields=PROGRAM_FIELDS)
    return program


async def update_program(
    session: AsyncSession, *, principal: Principal, program_id: uuid.UUID, data: ProgramUpdate
) -> LeadProgram:
    repo = ProgramRepository(session, principal)
    program = await repo.get(program_id)
    if isinstance(data.name, str) and await repo.name_taken(data.name, program_id):
        raise Conflict(f"A lead program named {data.name!r} already exists.", field="name")
    if isinstance(data.auto_qualify_bands, list):  # stored as plain strings, like a rule's bands
        data = msgspec.structs.replace(data, auto_qualify_bands=[str(b.value) for b in data.auto_qualify_bands])
    await record_updated(session, program, data, entity="lead_program", principal=principal)
    return program


async def list_programs(
    session: AsyncSession, *, principal: Principal, page: PageRequest
) -> tuple[list[LeadProgram], str | None]:
    return await ProgramRepository(session, principal).page(page)


async def programs_joined(session: AsyncSession, *, principal: Principal) -> list[LeadProgram]:
    """The lead programs the viewer's organisation is a member of (none for vendor staff)."""
    if principal.partner_id is None:
        return []
    return await ProgramRepository(session, principal).joined_by(principal.partner_id)


async def put_member(
    session: AsyncSession, *, principal: Principal, program_id: uuid.UUID, partner_id: uuid.UUID, data: MemberPut
) -> ProgramMember:
    repo = ProgramRepository(session, principal)
    await repo.get(program_id)
    await get_partner(session, principal=principal, partner_id=partner_id)
    member = await repo.member(program_id, partner_id)
    if member is None:
        member = ProgramMember(program_id=program_id, partner_id=partner_id, joined_at=session.info["clock"].now())
        session.add(member)
    member.weight, member.max_open_leads, member.territories = data.weight, data.max_open_leads, list(data.territories)
    await session.flush()
    record_activity(
        session,
        entity_type="lead_program",
        entity_id=program_id,
        action="member_set",
        actor=principal,
        changes={"partner_id": [None, str(partner_id)], "weight": [None, data.weight]},
    )
    return member


async def members(session: AsyncSession, *, principal: Principal, program_id: uuid.UUID) -> list[ProgramMember]:
    await ProgramRepository(session, principal).get(program_id)
    return await ConfigStore(session).program_members(program_id)


async def member_page(
    session: AsyncSession, *, principal: Principal, program_id: uuid.UUID, page: PageRequest
) -> tuple[list[ProgramMember], str | None]:
    await ProgramRepository(session, principal).get(program_id)
    return await ConfigStore(session).program_member_page(program_id, page)


async def remove_member(
    session: AsyncSession, *, principal: Principal, program_id: uuid.UUID, partner_id: uuid.UUID
) -> None:
    repo = ProgramRepository(session, principal)
    await repo.get(program_id)
    if not await repo.remove_member(program_id, partner_id):
        raise NotFound(f"Partner {partner_id} is not a member of this program.")
    record_activity(
        session,
        entity_type="lead_program",
        entity_id=program_id,
        action="member_removed",
        actor=principal,
        changes={"partner_id": [str(partner_id), None]},
    )


# Certifications ------------------------------------------------------------------------------


async def set_certifications(
    session: AsyncSession, *, principal: Principal, partner_id: uuid.UUID, product_ids: Sequence[uuid.UUID]
) -> list[uuid.UUID]:
    await get_partner(session, principal=principal, partner_id=partner_id)
    await products_exist(session, principal, product_ids)
    store = CertificationStore(session)
    await store.replace(partner_id, product_ids, session.info["clock"].now())
    record_activity(
        session,
        entity_type="partner",
        entity_id=partner_id,
        action="certifications_set",
        actor=principal,
        changes={"product_ids": [None, [str(p) for p in product_ids]]},
    )
    return await store.of(partner_id)


async def certifications(session: AsyncSession, *, principal: Principal, partner_id: uuid.UUID) -> list[uuid.UUID]:
    await get_partner(session, principal=principal, partner_id=partner_id)
    return await CertificationStore(session).of(partner_id)


# Groups --------------------------------------------------------------------------------------


async def check_program(session: AsyncSession, principal: Principal, program_id: uuid.UUID | None) -> None:
    if program_id is not None and not await ProgramRepository(session, principal).exists(program_id):
        raise RuleViolation(f"Lead program {program_id} not found.", field="program_id")


async def create_group(session: AsyncSession, *, principal: Principal, data: GroupCreate) -> PartnerGroup:
    await check_program(session, principal, data.program_id)
    await partners_exist(session, principal, data.partner_ids)
    group = PartnerGroup(
        name=data.name,
        program_id=data.program_id,
        claim_window_hours=data.claim_window_hours,
        max_open_claims_per_partner=data.max_open_claims_per_partner,
        active=True,
    )
    session.add(group)
    try:
        await record_created(
            session,
            group,
            entity="partner_group",
            principal=principal,
            fields=("name", "program_id", "claim_window_hours", "max_open_claims_per_partner"),
        )
    except IntegrityError as exc:
        raise Conflict(f"A group named {data.name!r} already exists.", field="name") from exc
    await GroupRepository(session, principal).set_members(group.id, data.partner_ids, session.info["clock"].now())
    return group


async def update_group(
    session: AsyncSession, *, principal: Principal, group_id: uuid.UUID, data: GroupUpdate
) -> PartnerGroup:
    group = await GroupRepository(session, principal).get(group_id)
    if isinstance(data.program_id, uuid.UUID):
        await check_program(session, principal, data.program_id)
    await record_updated(session, group, data, entity="partner_group", principal=principal)
    return group


async def set_group_members(
    session: AsyncSession, *, principal: Principal, group_id: uuid.UUID, partner_ids: Sequence[uuid.UUID]
) -> PartnerGroup:
    repo = GroupRepository(session, principal)
    group = await repo.get(group_id)
    await partners_exist(session, principal, partner_ids)
    await repo.set_members(group_id, partner_ids, session.info["clock"].now())
    record_activity(
        session,
        entity_type="partner_group",
        entity_id=group_id,
        action="members_set",
        actor=principal,
        changes={"partner_ids": [None, [str(p) for p in partner_ids]]},
    )
    return group


async def group_members(session: AsyncSession, group_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
    return await ConfigStore(session).group_member_ids(group_ids)


async def list_groups(
    session: AsyncSession, *, principal: Principal, page: PageRequest
) -> tuple[list[PartnerGroup], str | None]:
    return await GroupRepository(session, principal).page(page)


# Web forms -----------------------------------------------------------------------------------


async def create_form(session: AsyncSession, *, principal: Principal, data: WebFormCreate) -> WebForm:
    try:
        await get_campaign(session, principal=principal, campaign_id=data.campaign_id)
    except NotFound as exc:
        raise RuleViolation(exc.detail, field="campaign_id") from exc
    await check_program(session, principal, data.program_id)
    form = WebForm(
        key=secrets.token_urlsafe(24),
        name=data.name,
        campaign_id=data.campaign_id,
        active=True,
        auto_response_subject=data.auto_response_subject,
        auto_response_text=data.auto_response_text,
        program_id=data.program_id,
        thank_you_url=data.thank_you_url,
    )
    session.add(form)
    fields = ("name", "campaign_id", "program_id", "thank_you_url")
    await record_created(session, form, entity="web_form", principal=principal, fields=fields)
    return form


async def update_form(
    session: AsyncSession, *, principal: Principal, form_id: uuid.UUID, data: WebFormUpdate
) -> WebForm:
    form = await WebFormRepository(session, principal).get(form_id)
    if isinstance(data.program_id, uuid.UUID):
        await check_program(session, principal, data.program_id)
    await record_updated(session, form, data, entity="web_form", principal=principal)
    return form


async def list_forms(
    session: AsyncSession, *, principal: Principal, page: PageRequest
) -> tuple[list[WebForm], str | None]:
    return await WebFormRepository(session, principal).page(page)
