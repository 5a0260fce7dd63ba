"""What the Connect pages show: labels for the statuses, the people and partners a connection
can name, and each object's publish and subscribe forms, built from the connect services'
own rules (ACTIONS, the object specs) so pages and API never disagree."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from prm.connect.models import Connection, ConnectionStatus, Publication, Share, ShareStatus, Subscription
from prm.connect.objects import OBJECTS
from prm.connect.service.connections import ACTIONS
from prm.core.auth import Principal
from prm.core.pagination import PageRequest
from prm.crm.services import partners, users

CONNECTION_LABELS = {
    ConnectionStatus.SENT: "Invitation sent",
    ConnectionStatus.RECEIVED: "Invitation received",
    ConnectionStatus.ACCEPTED: "Accepted",
    ConnectionStatus.DECLINED: "Declined",
    ConnectionStatus.INACTIVE: "Inactive",
    ConnectionStatus.SUSPENDED: "Suspended (peer unreachable)",
}
SHARE_LABELS = {
    ShareStatus.PENDING_SENT: "Pending (sent)",
    ShareStatus.PENDING_RECEIVED: "Pending (received)",
    ShareStatus.ACTIVE_SENT: "Active (sent)",
    ShareStatus.ACTIVE_RECEIVED: "Active (received)",
    ShareStatus.INACTIVE: "Inactive",
    ShareStatus.INACTIVE_DELETED: "Inactive (deleted)",
    ShareStatus.INACTIVE_CONVERTED: "Inactive (converted)",
}
# URL segment of each record page -> the connect object it shows.
RECORD_KINDS = {"accounts": "account", "opportunities": "opportunity", "leads": "lead"}
KIND_OF = {object_name: kind for kind, object_name in RECORD_KINDS.items()}
OBJECT_LABELS = {"account": "Accounts", "contact": "Contacts", "opportunity": "Opportunities", "lead": "Leads"}
CHOICE_LIMIT = 200


def actions_of(connection: Connection) -> tuple[str, ...]:
    return ACTIONS[connection.status]


def record_href(object_name: str, record_id: uuid.UUID | None) -> str | None:
    kind = KIND_OF.get(object_name)
    return f"/connect/records/{kind}/{record_id}" if kind and record_id else None


async def owner_choices(session: AsyncSession, principal: Principal) -> list[tuple[str, str]]:
    """Active vendor users (a connection owner acts as the vendor for received changes)."""
    rows, _ = await users.list_users(session, principal=principal, page=PageRequest(limit=CHOICE_LIMIT))
    return [(str(u.id), f"{u.name} <{u.email}>") for u in rows if u.active and u.partner_id is None]


async def partner_choices(session: AsyncSession, principal: Principal) -> list[tuple[str, str]]:
    rows, _ = await partners.list_partners(
        session, principal=principal, page=PageRequest(limit=CHOICE_LIMIT), active=True
    )
    return [(str(p.id), p.name) for p in rows]


@dataclass(frozen=True)
class PublishForm:
    object: str
    fields: list[tuple[str, str]]  # (field, type), every shareable one
    checked: set[str]
    published: bool
    peer_subscribed: bool


def publish_forms(publications: list[Publication]) -> list[PublishForm]:
    """One form per shareable object: its published fields ticked, else the S2S defaults."""
    by_object = {p.object: p for p in publications}
    forms = []
    for spec in OBJECTS.values():
        publication = by_object.get(spec.name)
        forms.append(
            PublishForm(
                object=spec.name,
                fields=list(spec.fields.items()),
                checked=set(publication.fields if publication else spec.defaults),
                published=publication is not None,
                peer_subscribed=bool(publication and publication.peer_subscribed),
            )
        )
    return forms


@dataclass(frozen=True)
class MapRow:
    published: str
    type: str
    chosen: str  # the local field it maps to, "" for none
    auto: bool  # chosen by name, not saved yet
    options: list[tuple[str, str]]  # (local field, "field (type)")


@dataclass(frozen=True)
class SubscribeForm:
    object: str
    subscribed: bool
    auto_accept: bool
    rows: list[MapRow]


def subscribe_forms(subscriptions: list[Subscription], submitted: dict[str, Any] | None = None) -> list[SubscribeForm]:
    """The peer's published objects with a field map each: the saved map, else auto-mapped by
    name (marked so), or what the admin just sent when the form was refused."""
    forms = []
    for subscription in subscriptions:
        spec = OBJECTS.get(subscription.object)
        if spec is None or not subscription.published_fields:
            continue
        sent = (submitted or {}).get(subscription.object)
        saved = dict(subscription.field_map) if subscription.subscribed else {}
        options = [(name, f"{name} ({kind})") for name, kind in spec.fields.items()]
        rows = []
        for published, kind in sorted(subscription.published_fields.items()):
            if sent is not None:
                chosen, auto = str(sent["map"].get(published, "")), False
            elif saved:
                chosen, auto = str(saved.get(published, "")), False
            else:
                chosen = published if published in spec.fields else ""
                auto = bool(chosen)
            rows.append(MapRow(published, str(kind), chosen, auto, options))
        auto_accept = bool(sent["auto_accept"]) if sent is not None else subscription.auto_accept
        forms.append(SubscribeForm(subscription.object, subscription.subscribed, auto_accept, rows))
    return forms


@dataclass(frozen=True)
class ShareRow:
    share: Share
    label: str
    href: str | None
    can_accept: bool
    can_stop: bool


def share_rows(shares: list[Share]) -> list[ShareRow]:
    live = (ShareStatus.PENDING_SENT, ShareStatus.ACTIVE_SENT, ShareStatus.ACTIVE_RECEIVED)
    return [
        ShareRow(
            share=s,
            label=SHARE_LABELS[s.status],
            href=record_href(s.object, s.local_id),
            can_accept=s.status is ShareStatus.PENDING_RECEIVED,
            can_stop=s.status in (*live, ShareStatus.PENDING_RECEIVED),
        )
        for s in shares
    ]


def pending_name(share: Share) -> str:
    """What a pending received record is called before it has a local copy."""
    values = share.pending_values or {}
    for key in ("name", "company", "last_name"):
        if values.get(key):
            return str(values[key])
    return str(share.origin_id)
