"""Connect admin pages: connections (invite, accept, decline or decide later, cancel, resend,
deactivate), what each side publishes, the subscriptions with their field maps, the records
shared on a connection, and the dead letters with replay.

Vendor admins only, on either instance (the partner's own prm is a vendor instance too). Every
form calls the connect services in the request's unit of work; a refused form is shown again
with the message next to its field and nothing written (`attempt` rolls back), a form that
worked redirects back with what just happened (post/redirect/get).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.datastructures import FormMultiDict
from litestar.params import Parameter
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from prm.connect import dead_letters
from prm.connect.objects import OBJECTS
from prm.connect.repository import ConnectRepository
from prm.connect.schemas import ConnectionAccept, ConnectionInvite, PublicationSet, SubscriptionSet
from prm.connect.service import connections, publishing, sharing
from prm.core.auth import Principal, Role
from prm.core.pagination import PageRequest
from prm.portal.connect.views import (
    CONNECTION_LABELS,
    OBJECT_LABELS,
    actions_of,
    owner_choices,
    partner_choices,
    pending_name,
    publish_forms,
    share_rows,
    subscribe_forms,
)
from prm.portal.shell.attempts import GENERAL, Refusal, attempt, checked, field_messages, text_of
from prm.portal.shell.session import page_allow, safe_next
from prm.portal.shell.templating import page
from prm.settings import Settings

ADMIN_PAGES = [page_allow(Role.VENDOR_ADMIN)]
NOTICES = {
    "invited": "Invitation sent. The peer's admins see it under Connect on their instance.",
    "accepted": "Connection accepted. The inviter is told by email.",
    "declined": "Invitation declined. The inviter is told by email.",
    "cancelled": "Invitation withdrawn.",
    "resent": "Invitation sent again.",
    "deactivated": "Connection deactivated: nothing more is sent either way; accepted copies stay.",
    "published": "Publication saved; the peer can subscribe to it.",
    "unpublished": "Unpublished; the peer's subscription ends.",
    "subscribed": "Subscription and field map saved.",
    "unsubscribed": "Unsubscribed.",
    "share_accepted": "Record accepted: a local copy now follows the peer's changes.",
    "share_stopped": "Sharing stopped: no more updates, both copies kept.",
    "replayed": "Message put back in line; it is sent again now.",
}
INVITE_MESSAGES = {
    "peer_url": "Enter the peer instance's base URL, like https://crm.partner.example.",
    "contact_email": "Enter a valid email address, like name@partner.example.",
    "owner_id": "Choose the connection owner.",
    "partner_id": "Choose a partner, or none.",
}
STATE_ACTIONS = {
    "decline": (connections.decline, "declined"),
    "cancel": (connections.cancel, "cancelled"),
    "deactivate": (connections.deactivate, "deactivated"),
}
SHARES_SHOWN = 200
Done = Annotated[str | None, Parameter(max_length=40)]


def _notice(done: str | None) -> str | None:
    return NOTICES.get(done or "")


def _first_error(errors: dict[str, str]) -> str | None:
    return next((k for k in errors if k != GENERAL), None)


# Connections ---------------------------------------------------------------------------------


async def connections_page(
    session: AsyncSession,
    principal: Principal,
    *,
    done: str | None = None,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response[Any]:
    rows, _ = await ConnectRepository(session).connection_page(PageRequest(limit=100))
    errors = errors or {}
    return page(
        "connect/connections.html",
        principal,
        status_code=status_code,
        connections=[(c, CONNECTION_LABELS[c.status]) for c in rows],
        owners=await owner_choices(session, principal),
        partners=await partner_choices(session, principal),
        values=values or {"owner_id": str(principal.user_id)},
        errors=errors,
        first_error=_first_error(errors),
        notice=_notice(done),
        dead_count=len(await dead_letters.dead_letters(session)),
    )


@get("/connect", name="connect", guards=ADMIN_PAGES)
async def connection_list(db_session: AsyncSession, principal: Principal, done: Done = None) -> Response[Any]:
    return await connections_page(db_session, principal, done=done)


@post("/connect/invite", guards=ADMIN_PAGES)
async def invite(request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal) -> Response[Any]:
    raw = await request.form()
    values = {name: text_of(raw, name) for name in ("peer_url", "contact_email", "owner_id", "partner_id")}
    body: dict[str, Any] = {k: v or None for k, v in values.items()} | {
        "peer_url": values["peer_url"],
        "contact_email": values["contact_email"],
        "delete_on_tombstone": text_of(raw, "delete_on_tombstone") == "on",
    }

    async def refuse(status: int, errors: dict[str, str]) -> Response[Any]:
        return await connections_page(db_session, principal, errors=errors, values=values, status_code=status)

    data, errors = checked(ConnectionInvite, body, INVITE_MESSAGES)
    if data is None:
        return await refuse(400, errors)
    settings: Settings = request.app.state.settings
    outcome = await attempt(
        db_session,
        lambda: connections.invite(db_session, principal=principal, data=data, base_url=settings.base_url),
    )
    if isinstance(outcome, Refusal):
        return await refuse(outcome.status, field_messages(outcome))
    return Redirect(f"/connect/{outcome.id}?done=invited", status_code=303)


async def connection_page(
    session: AsyncSession,
    principal: Principal,
    connection_id: uuid.UUID,
    *,
    done: str | None = None,
    form: str = "",
    errors: dict[str, str] | None = None,
    submitted: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response[Any]:
    repo = ConnectRepository(session)
    connection = await repo.connection(connection_id)
    errors = errors or {}
    shares = (await repo.shares_on(connection.id))[-SHARES_SHOWN:]
    return page(
        "connect/connection.html",
        principal,
        status_code=status_code,
        connection=connection,
        label=CONNECTION_LABELS[connection.status],
        actions=actions_of(connection),
        owners=await owner_choices(session, principal),
        partners=await partner_choices(session, principal),
        publish=publish_forms(await repo.publications(connection.id)),
        subscribe=subscribe_forms(await repo.subscriptions(connection.id), submitted),
        object_labels=OBJECT_LABELS,
        shares=share_rows(shares),
        pending_names={s.id: pending_name(s) for s in shares},
        dead=await dead_letters.dead_letters(session, connection_id=connection.id, limit=20),
        form=form,
        errors=errors,
        first_error=_first_error(errors),
        notice=_notice(done),
    )


@get("/connect/{connection_id:uuid}", name="connect_connection", guards=ADMIN_PAGES)
async def connection_detail(
    db_session: AsyncSession, principal: Principal, connection_id: uuid.UUID, done: Done = None
) -> Response[Any]:
    return await connection_page(db_session, principal, connection_id, done=done)


def _back(connection_id: uuid.UUID, done: str) -> Response[Any]:
    return Redirect(f"/connect/{connection_id}?done={done}", status_code=303)


@post("/connect/{connection_id:uuid}/accept", guards=ADMIN_PAGES)
async def accept(
    request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, connection_id: uuid.UUID
) -> Response[Any]:
    raw = await request.form()
    body = {name: text_of(raw, name) or None for name in ("owner_id", "partner_id")}

    async def refuse(status: int, errors: dict[str, str]) -> Response[Any]:
        return await connection_page(
            db_session, principal, connection_id, form="accept", errors=errors, status_code=status
        )

    data, errors = checked(ConnectionAccept, body, INVITE_MESSAGES)
    if data is None:
        return await refuse(400, errors)
    outcome = await attempt(
        db_session,
        lambda: connections.accept(db_session, principal=principal, connection_id=connection_id, data=data),
    )
    if isinstance(outcome, Refusal):
        return await refuse(outcome.status, field_messages(outcome))
    return _back(connection_id, "accepted")


@post("/connect/{connection_id:uuid}/state", guards=ADMIN_PAGES)
async def change_state(
    request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, connection_id: uuid.UUID
) -> Response[Any]:
    """Decline, cancel, resend or deactivate: the buttons the connection's status offers."""
    action = text_of(await request.form(), "action")
    settings: Settings = request.app.state.settings
    if action == "resend":
        outcome = await attempt(
            db_session,
            lambda: connections.resend(db_session, connection_id=connection_id, base_url=settings.base_url),
        )
        done = "resent"
    elif action in STATE_ACTIONS:
        call, done = STATE_ACTIONS[action]
        outcome = await attempt(db_session, lambda: call(db_session, connection_id=connection_id))
    else:
        outcome = Refusal(400, "Choose one of the buttons on this page.")
    if isinstance(outcome, Refusal):
        return await connection_page(
            db_session,
            principal,
            connection_id,
            form="state",
            errors={GENERAL: outcome.detail},
            status_code=outcome.status,
        )
    return _back(connection_id, done)


# Publish and subscribe -----------------------------------------------------------------------


def _object_of(raw: FormMultiDict) -> str:
    name = text_of(raw, "object")
    return name if name in OBJECTS else ""


@post("/connect/{connection_id:uuid}/publish", guards=ADMIN_PAGES)
async def publish(
    request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, connection_id: uuid.UUID
) -> Response[Any]:
    raw = await request.form()
    object_name = _object_of(raw)
    fields = [f for f in raw.getall("fields", []) if isinstance(f, str)]

    async def refuse(status: int, errors: dict[str, str]) -> Response[Any]:
        return await connection_page(
            db_session, principal, connection_id, form=f"publish-{object_name}", errors=errors, status_code=status
        )

    if not fields:
        return await refuse(400, {"fields": "Tick at least one field to publish."})
    body = {"object": object_name, "fields": fields}
    data, errors = checked(PublicationSet, body, {"fields": "Choose fewer fields."})
    if data is None:
        return await refuse(400, errors)
    outcome = await attempt(db_session, lambda: publishing.publish(db_session, connection_id=connection_id, data=data))
    if isinstance(outcome, Refusal):
        return await refuse(outcome.status, field_messages(outcome))
    return _back(connection_id, "published")


@post("/connect/{connection_id:uuid}/unpublish", guards=ADMIN_PAGES)
async def unpublish(
    request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, connection_id: uuid.UUID
) -> Response[Any]:
    object_name = _object_of(await request.form())
    outcome = await attempt(
        db_session,
        lambda: publishing.unpublish(db_session, connection_id=connection_id, object_name=object_name),
    )
    if isinstance(outcome, Refusal):
        return await connection_page(
            db_session,
            principal,
            connection_id,
            form=f"publish-{object_name}",
            errors={GENERAL: outcome.detail},
            status_code=outcome.status,
        )
    return _back(connection_id, "unpublished")


def _submitted_map(raw: FormMultiDict, object_name: str) -> dict[str, Any]:
    """The field map as sent: `map.<published field>` -> local field ("" leaves it unmapped)."""
    field_map = {
        str(key)[4:]: str(value).strip()
        for key, value in raw.items()
        if str(key).startswith("map.") and isinstance(value, str)
    }
    return {object_name: {"map": field_map, "auto_accept": text_of(raw, "auto_accept") == "on"}}


@post("/connect/{connection_id:uuid}/subscribe", guards=ADMIN_PAGES)
async def subscribe(
    request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, connection_id: uuid.UUID
) -> Response[Any]:
    raw = await request.form()
    object_name = _object_of(raw)
    submitted = _submitted_map(raw, object_name)
    sent = submitted[object_name]
    body = {"field_map": {k: v for k, v in sent["map"].items() if v}, "auto_accept": sent["auto_accept"]}

    async def refuse(status: int, errors: dict[str, str]) -> Response[Any]:
        return await connection_page(
            db_session,
            principal,
            connection_id,
            form=f"subscribe-{object_name}",
            errors=errors,
            submitted=submitted,
            status_code=status,
        )

    data, errors = checked(SubscriptionSet, body, {"field_map": "Choose local fields from the list."})
    if data is None:
        return await refuse(400, errors)
    outcome = await attempt(
        db_session,
        lambda: publishing.subscribe(db_session, connection_id=connection_id, object_name=object_name, data=data),
    )
    if isinstance(outcome, Refusal):
        return await refuse(outcome.status, field_messages(outcome))
    return _back(connection_id, "subscribed")


@post("/connect/{connection_id:uuid}/unsubscribe", guards=ADMIN_PAGES)
async def unsubscribe(
    request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, connection_id: uuid.UUID
) -> Response[Any]:
    object_name = _object_of(await request.form())
    outcome = await attempt(
        db_session,
        lambda: publishing.unsubscribe(db_session, connection_id=connection_id, object_name=object_name),
    )
    if isinstance(outcome, Refusal):
        return await connection_page(
            db_session,
            principal,
            connection_id,
            form=f"subscribe-{object_name}",
            errors={GENERAL: outcome.detail},
            status_code=outcome.status,
        )
    return _back(connection_id, "unsubscribed")


# Shared records: accept a pending one, stop one -------------------------------------------------


def _return_to(raw: FormMultiDict, connection_id: uuid.UUID, done: str) -> Response[Any]:
    """Back to the page the button was on (a record's page or its connection's), saying what happened."""
    back = safe_next(text_of(raw, "back") or f"/connect/{connection_id}").split("?", 1)[0]
    return Redirect(f"{back}?done={done}", status_code=303)


async def _share_action(
    request: Request[Any, Any, Any], session: AsyncSession, principal: Principal, share_id: uuid.UUID, action: str
) -> Response[Any]:
    raw = await request.form()
    share = await ConnectRepository(session).share_by_id(share_id)
    connection_id = share.connection_id
    if action == "accept":
        outcome: Any = await attempt(session, lambda: sharing.accept_share(session, share_id=share_id))
    else:
        outcome = await attempt(session, lambda: sharing.stop_share(session, share_id=share_id))
    if isinstance(outcome, Refusal):
        return await connection_page(
            session,
            principal,
            connection_id,
            form="shares",
            errors={GENERAL: outcome.detail},
            status_code=outcome.status,
        )
    return _return_to(raw, connection_id, f"share_{'accepted' if action == 'accept' else 'stopped'}")


@post("/connect/shares/{share_id:uuid}/accept", guards=ADMIN_PAGES)
async def accept_share(
    request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, share_id: uuid.UUID
) -> Response[Any]:
    return await _share_action(request, db_session, principal, share_id, "accept")


@post("/connect/shares/{share_id:uuid}/stop", guards=ADMIN_PAGES)
async def stop_share(
    request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, share_id: uuid.UUID
) -> Response[Any]:
    return await _share_action(request, db_session, principal, share_id, "stop")


# Dead letters --------------------------------------------------------------------------------


@get("/connect/dead-letters", name="connect_dead_letters", guards=ADMIN_PAGES)
async def dead_letter_list(db_session: AsyncSession, principal: Principal, done: Done = None) -> Response[Any]:
    letters = await dead_letters.dead_letters(db_session)
    return page("connect/dead_letters.html", principal, letters=letters, notice=_notice(done))


@post("/connect/dead-letters/{message_id:uuid}/replay", guards=ADMIN_PAGES)
async def replay(db_session: AsyncSession, message_id: uuid.UUID) -> Response[Any]:
    await dead_letters.replay(db_session, message_id=message_id)
    return Redirect("/connect/dead-letters?done=replayed", status_code=303)


CONNECT_PAGE_HANDLERS: list[Any] = [
    connection_list,
    invite,
    dead_letter_list,
    replay,
    connection_detail,
    accept,
    change_state,
    publish,
    unpublish,
    subscribe,
    unsubscribe,
    accept_share,
    stop_share,
]
