"""Records and their external sharing: find an account, opportunity or lead, see per
connection its sharing status, partner record id, start and end dates, last sync and last
error ("External sharing"), and share it with one or more connections.

Sharing an opportunity can take its account and the account's contacts along (parents first,
as the connect service requires); whatever the service refuses is shown next to the control
that put that record in the request.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.params import Parameter
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from prm.connect.models import ConnectionStatus
from prm.connect.objects import get_visible
from prm.connect.repository import ConnectRepository
from prm.connect.schemas import ShareRequest
from prm.connect.service import sharing
from prm.core.auth import Principal, Role
from prm.core.pagination import PageRequest
from prm.crm.services import accounts, contacts, leads, opportunities
from prm.portal.connect.pages import ADMIN_PAGES, NOTICES
from prm.portal.connect.views import CONNECTION_LABELS, RECORD_KINDS, ShareRow, record_href, share_rows
from prm.portal.shell.attempts import GENERAL, Refusal, attempt, checked, field_messages, text_of
from prm.portal.shell.templating import page

LISTED = 25
CONTACTS_TAKEN = 50
RECORD_NOTICES = {**NOTICES, "shared": "Shared. The record shows as pending until the peer accepts it."}
Query = Annotated[str | None, Parameter(max_length=200)]
Done = Annotated[str | None, Parameter(max_length=40)]


def _object_of(kind: str) -> str:
    object_name = RECORD_KINDS.get(kind)
    if object_name is None:
        raise NotFoundException()
    return object_name


async def _listed(session: AsyncSession, principal: Principal, object_name: str, q: str | None) -> list[Any]:
    page_request = PageRequest(limit=LISTED)
    if object_name == "account":
        return (await accounts.list_accounts(session, principal=principal, page=page_request, q=q or None))[0]
    if object_name == "opportunity":
        return (await opportunities.list_opportunities(session, principal=principal, page=page_request))[0]
    return (await leads.list_leads(session, principal=principal, page=page_request))[0]


@get("/connect/records", name="connect_records", guards=ADMIN_PAGES)
async def record_list(
    db_session: AsyncSession,
    principal: Principal,
    kind: Annotated[str, Parameter(max_length=20)] = "accounts",
    q: Query = None,
) -> Response[Any]:
    object_name = _object_of(kind)
    return page(
        "connect/records.html",
        principal,
        kind=kind,
        kinds=list(RECORD_KINDS),
        q=q or "",
        records=await _listed(db_session, principal, object_name, q if object_name == "account" else None),
        object_name=object_name,
    )


def title_of(object_name: str, record: Any) -> str:
    if object_name == "lead":
        return f"{record.company} ({record.first_name} {record.last_name})"
    return str(record.name)


async def record_page(
    session: AsyncSession,
    principal: Principal,
    kind: str,
    record_id: uuid.UUID,
    *,
    done: str | None = None,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response[Any]:
    object_name = _object_of(kind)
    record = await get_visible(session, principal, object_name, record_id)
    shares = await sharing.sharing_of(session, principal=principal, object_name=object_name, record_id=record_id)
    repo = ConnectRepository(session)
    every, _ = await repo.connection_page(PageRequest(limit=100))
    names = {c.id: c.peer_url for c in every}
    errors = errors or {}
    return page(
        "connect/record.html",
        principal,
        status_code=status_code,
        kind=kind,
        object_name=object_name,
        record=record,
        title=title_of(object_name, record),
        account=await _account_of(session, principal, object_name, record),
        shares=share_rows(shares),
        connection_names=names,
        targets=[(str(c.id), c.peer_url) for c in every if c.status is ConnectionStatus.ACCEPTED],
        labels=CONNECTION_LABELS,
        values=values or {"connection_ids": [], "include_account": True, "include_contacts": True},
        errors=errors,
        first_error=next((k for k in errors if k != GENERAL), None),
        notice=RECORD_NOTICES.get(done or ""),
        back=f"/connect/records/{kind}/{record_id}",
    )


async def _account_of(session: AsyncSession, principal: Principal, object_name: str, record: Any) -> Any:
    if object_name != "opportunity":
        return None
    return await accounts.get_account(session, principal=principal, account_id=record.account_id)


@dataclass(frozen=True)
class ExternalSharing:
    """The "External sharing" panel another page (a lead's, a registration's) embeds."""

    rows: list[ShareRow]
    names: dict[uuid.UUID, str]
    href: str  # the record's Connect page, where it is shared
    back: str


async def external_sharing(
    session: AsyncSession, principal: Principal, object_name: str, record_id: uuid.UUID | None, *, back: str
) -> ExternalSharing | None:
    """The panel for vendor admins (who run connections); nothing for other roles."""
    if principal.role is not Role.VENDOR_ADMIN or record_id is None:
        return None
    shares = await sharing.sharing_of(session, principal=principal, object_name=object_name, record_id=record_id)
    every, _ = await ConnectRepository(session).connection_page(PageRequest(limit=100))
    href = record_href(object_name, record_id) or "/connect"
    return ExternalSharing(share_rows(shares), {c.id: c.peer_url for c in every}, href, back)


@get("/connect/records/{kind:str}/{record_id:uuid}", name="connect_record", guards=ADMIN_PAGES)
async def record_detail(
    db_session: AsyncSession, principal: Principal, kind: str, record_id: uuid.UUID, done: Done = None
) -> Response[Any]:
    return await record_page(db_session, principal, kind, record_id, done=done)


async def _records_to_share(
    session: AsyncSession, principal: Principal, object_name: str, record: Any, values: dict[str, Any]
) -> tuple[list[dict[str, str]], list[str]]:
    """The records of the request, parents first, and for each the form control that added it."""
    records: list[dict[str, str]] = []
    controls: list[str] = []
    if object_name == "opportunity" and values["include_account"]:
        records.append({"object": "account", "id": str(record.account_id)})
        controls.append("include_account")
    if object_name != "lead" and values["include_contacts"]:
        account_id = record.id if object_name == "account" else record.account_id
        if object_name == "account":
            records.append({"object": "account", "id": str(record.id)})
            controls.append(GENERAL)
        people, _ = await contacts.list_contacts(
            session, principal=principal, page=PageRequest(limit=CONTACTS_TAKEN), account_id=account_id
        )
        for person in people:
            records.append({"object": "contact", "id": str(person.id)})
            controls.append("include_contacts")
    if not (object_name == "account" and values["include_contacts"]):
        records.append({"object": object_name, "id": str(record.id)})
        controls.append(GENERAL)
    return records, controls


def _placed(errors: dict[str, str], controls: list[str]) -> dict[str, str]:
    """A service message about `records[i]...` goes next to the control that added record i."""
    placed: dict[str, str] = {}
    for key, message in errors.items():
        if key.startswith("connection_ids"):
            placed["connection_ids"] = message
        elif key.startswith("records["):
            index = int(key[len("records[") :].split("]", 1)[0])
            placed[controls[index] if index < len(controls) else GENERAL] = message
        else:
            placed[GENERAL] = message
    return placed


@post("/connect/records/{kind:str}/{record_id:uuid}/share", guards=ADMIN_PAGES)
async def share_record(
    request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, kind: str, record_id: uuid.UUID
) -> Response[Any]:
    raw = await request.form()
    object_name = _object_of(kind)
    values: dict[str, Any] = {
        "connection_ids": [v for v in raw.getall("connection_ids", []) if isinstance(v, str)],
        "include_account": text_of(raw, "include_account") == "on",
        "include_contacts": text_of(raw, "include_contacts") == "on",
    }

    async def refuse(status: int, errors: dict[str, str]) -> Response[Any]:
        return await record_page(
            db_session, principal, kind, record_id, errors=errors, values=values, status_code=status
        )

    if not values["connection_ids"]:
        return await refuse(400, {"connection_ids": "Choose at least one connection."})
    record = await get_visible(db_session, principal, object_name, record_id)
    records, controls = await _records_to_share(db_session, principal, object_name, record, values)
    body = {"connection_ids": values["connection_ids"], "records": records}
    data, errors = checked(ShareRequest, body, {"connection_ids": "Choose connections from the list."})
    if data is None:
        return await refuse(400, errors)
    outcome = await attempt(db_session, lambda: sharing.share_records(db_session, principal=principal, data=data))
    if isinstance(outcome, Refusal):
        return await refuse(outcome.status, _placed(field_messages(outcome), controls))
    return Redirect(f"/connect/records/{kind}/{record_id}?done=shared", status_code=303)


CONNECT_RECORD_HANDLERS: list[Any] = [record_list, record_detail, share_record]
