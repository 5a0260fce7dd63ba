"""Deal registration from a partner's own instance.

Partner side: sharing an opportunity as a deal registration sends the deal (its account's name,
domain, website and country, amount, currency, close date) with the vendor's program id. The
share stays `pending_sent` until the vendor's instance answers with its registration.

Vendor side: the message becomes a registration of the connection's partner, created and
submitted through the deal registration service as the partner's admin would (so the usual
auto-response and conflict check run), and linked to the share. From then on each recorded
step of that registration (decision, protection dates, extension, close, expiry through the
service) goes back; the partner's side keeps the latest in the share's `registration` and
writes each state change into the opportunity's history.
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from prm.connect.client import send
from prm.connect.models import REGISTRATION, Connection, Share, ShareStatus
from prm.connect.objects import get_visible
from prm.connect.repository import ConnectRepository
from prm.connect.schemas import DealRegistrationShare
from prm.connect.service.publishing import accepted_connection
from prm.core.activity import plain, record_activity
from prm.core.auth import Principal, Role
from prm.core.errors import Conflict, NotFound, RuleViolation
from prm.crm.models import Account, User
from prm.deal_registration.models import DealRegistration
from prm.deal_registration.schemas import RegistrationCreate
from prm.deal_registration.service.registrations import create_registration

TOLD = ("number", "state", "submitted_at", "approved_at", "expires_at", "decided_at", "decision_note")


async def register_deal(session: AsyncSession, *, principal: Principal, data: DealRegistrationShare) -> Share:
    """Partner side: send one of our opportunities to the vendor as a deal registration."""
    try:
        connection = await accepted_connection(session, data.connection_id)
    except (NotFound, RuleViolation) as exc:
        raise RuleViolation(exc.detail, field="connection_id") from exc
    try:
        opportunity = await get_visible(session, principal, "opportunity", data.opportunity_id)
    except NotFound as exc:  # hidden and missing look the same
        raise RuleViolation(exc.detail, field="opportunity_id") from exc
    repo = ConnectRepository(session)
    if await repo.share(connection.id, REGISTRATION, opportunity.id) is not None:
        raise Conflict("This opportunity is already registered on this connection.", field="opportunity_id")
    now = session.info["clock"].now()
    share = Share(
        connection_id=connection.id, object=REGISTRATION, origin_id=opportunity.id, ours=True,
        local_id=opportunity.id, status=ShareStatus.PENDING_SENT, started_at=now, stamps={}, sent_seq=1,
    )  # fmt: skip
    session.add(share)
    await session.flush()
    account = await session.get(Account, opportunity.account_id)
    send(session, connection, REGISTRATION, _deal(opportunity, account, data.program_id))
    return share


def _deal(opportunity: Any, account: Account | None, program_id: uuid.UUID) -> dict[str, Any]:
    customer = {
        "customer_name": account.name if account else opportunity.name,
        "customer_domain": account.domain if account else None,
        "customer_website": account.website if account else None,
        "customer_country": account.country if account else None,
    }
    return {
        "object": REGISTRATION,
        "origin_id": str(opportunity.id),
        "program_id": str(program_id),
        **customer,
        "estimated_amount_minor": opportunity.amount_minor,
        "currency": opportunity.currency,
        "expected_close_date": plain(opportunity.close_date),
    }


async def received_deal(session: AsyncSession, connection: Connection, body: dict[str, Any]) -> None:
    """Vendor side: the partner's deal becomes a submitted registration of the connection's partner."""
    origin_id = uuid.UUID(str(body["origin_id"]))
    repo = ConnectRepository(session)
    if await repo.share(connection.id, REGISTRATION, origin_id) is not None:
        return  # registered already (a resent message)
    submitter = await _partner_submitter(session, connection)
    fields = {k: v for k, v in body.items() if k not in ("object", "origin_id") and v is not None}
    data = msgspec.convert({**fields, "submit": True}, RegistrationCreate)
    registered = await create_registration(session, principal=submitter, data=data)
    now = session.info["clock"].now()
    share = Share(
        connection_id=connection.id, object=REGISTRATION, origin_id=origin_id, ours=False,
        local_id=registered.registration.id, partner_record_id=origin_id, status=ShareStatus.ACTIVE_RECEIVED,
        started_at=now, last_sync_at=now, stamps={}, received_seq=1, received_count=1,
    )  # fmt: skip
    session.add(share)
    await session.flush()
    _tell(session, connection, share, registered.registration)


async def _partner_submitter(session: AsyncSession, connection: Connection) -> Principal:
    """Who submits a registration from a partner's instance: that partner's first admin."""
    if connection.partner_id is None:
        raise RuleViolation("This connection is not linked to a partner; deals cannot be registered on it.")
    stmt = (
        select(User)
        .where(User.partner_id == connection.partner_id, User.active.is_(True), User.role == Role.PARTNER_ADMIN)
        .order_by(User.created_at, User.id)
        .limit(1)
    )
    user = await session.scalar(stmt)
    if user is None:
        raise RuleViolation("The connected partner has no active admin to submit the registration as.")
    return Principal(user_id=user.id, role=user.role, partner_id=user.partner_id, email=user.email)


def _tell(session: AsyncSession, connection: Connection, share: Share, registration: DealRegistration) -> None:
    body: dict[str, Any] = {
        "object": REGISTRATION,
        "origin_id": str(share.origin_id),
        "registration_id": str(registration.id),
    }
    body["registration"] = {name: plain(getattr(registration, name)) for name in TOLD}
    send(session, connection, "registration", body)


async def on_state_changed(session: AsyncSession, entity: str, record: Any) -> None:
    """Vendor side: each recorded step of a registration that came from a partner's instance
    goes back to it, in the step's transaction."""
    if entity != REGISTRATION:
        return
    repo = ConnectRepository(session)
    for share in await repo.shares_of_record(REGISTRATION, record.id):
        connection = await repo.find_connection(share.connection_id)
        if not share.ours and share.ended_at is None and connection is not None:
            _tell(session, connection, share, record)


async def on_states_changed(session: AsyncSession, entity: str, record_ids: list[Any]) -> None:
    """`on_state_changed` for many registrations a timer moved at once (expiry): one query finds
    those that came from a partner's instance, one reads them as they stand now."""
    if entity != REGISTRATION:
        return
    repo = ConnectRepository(session)
    shares = [
        s
        for s in await repo.shares_of_records(set(record_ids))
        if s.object == REGISTRATION and not s.ours and s.ended_at is None
    ]
    if not shares:
        return
    stmt = select(DealRegistration).where(DealRegistration.id.in_({s.local_id for s in shares}))
    registrations = {r.id: r for r in await session.scalars(stmt.execution_options(populate_existing=True))}
    for share in shares:
        connection = await repo.find_connection(share.connection_id)
        registration = registrations.get(share.local_id) if share.local_id else None
        if connection is not None and registration is not None:
            _tell(session, connection, share, registration)


async def peer_registration(session: AsyncSession, connection: Connection, body: dict[str, Any]) -> None:
    """Partner side: the vendor's registration as it stands now."""
    share = await ConnectRepository(session).share(connection.id, REGISTRATION, uuid.UUID(str(body["origin_id"])))
    if share is None or not share.ours:
        return
    told = dict(body["registration"])
    before = (share.registration or {}).get("state")
    share.registration = told
    share.partner_record_id = uuid.UUID(str(body["registration_id"]))
    share.status = ShareStatus.ACTIVE_SENT if share.ended_at is None else share.status
    share.last_sync_at = session.info["clock"].now()
    if share.local_id is not None and before != told.get("state"):
        record_activity(
            session, entity_type="opportunity", entity_id=share.local_id, action="connect_registration",
            actor=None, changes={"registration_state": [before, told.get("state")]},
            note=f"Deal registration {told.get('number')} at {connection.peer_url}: {told.get('state')}.",
        )  # fmt: skip
