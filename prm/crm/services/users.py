"""Users, their roles, and signing in."""

from __future__ import annotations

import uuid

import msgspec
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.activity import record_activity
from prm.core.auth import PARTNER_ROLES, Principal, Role
from prm.core.changes import expect_version
from prm.core.errors import Conflict, Forbidden, RuleViolation
from prm.core.outbox import enqueue_email
from prm.core.pagination import PageRequest
from prm.core.passwords import hash_password, verify_password
from prm.core.records import record_created, record_updated
from prm.crm.models import User
from prm.crm.repository import PartnerRepository, UserRepository
from prm.crm.schemas import UserCreate, UserUpdate

FIELDS = ("email", "name", "role", "partner_id", "active")


def principal_of(user: User) -> Principal:
    return Principal(
        user_id=user.id, role=user.role, partner_id=user.partner_id, email=user.email, epoch=user.session_epoch
    )


async def _check_partner_for_role(
    session: AsyncSession, principal: Principal, role: Role, partner_id: uuid.UUID | None
) -> uuid.UUID | None:
    if principal.role is Role.PARTNER_ADMIN:
        if role not in PARTNER_ROLES:
            raise Forbidden("A partner admin can only create partner users and partner admins.", field="role")
        return principal.partner_id
    if role in PARTNER_ROLES:
        if partner_id is None:
            raise RuleViolation("Partner users need a partner_id.", field="partner_id")
        if not await PartnerRepository(session, principal).exists(partner_id):
            raise RuleViolation("No such partner.", field="partner_id")
        return partner_id
    if partner_id is not None:
        raise RuleViolation("Vendor roles do not belong to a partner.", field="partner_id")
    return None


async def create_user(session: AsyncSession, *, principal: Principal | None, data: UserCreate) -> User:
    """`principal` None is the operator's CLI (`prm user create`)."""
    partner_id = data.partner_id
    if principal is not None:
        partner_id = await _check_partner_for_role(session, principal, data.role, data.partner_id)
    email = data.email.strip().lower()
    if await UserRepository.by_email(session, email) is not None:
        raise Conflict("A user with this email already exists.", field="email")
    user = User(
        email=email,
        name=data.name,
        role=data.role,
        partner_id=partner_id,
        password_hash=hash_password(data.password),
        active=True,
    )
    session.add(user)
    try:
        await record_created(session, user, entity="user", principal=principal, fields=FIELDS)
    except IntegrityError as exc:
        raise Conflict("A user with this email already exists.", field="email") from exc
    if principal is not None:
        _send_welcome(session, user, invited_by=principal)
    return user


def _send_welcome(session: AsyncSession, user: User, *, invited_by: Principal) -> None:
    enqueue_email(
        session,
        to=user.email,
        topic="user.welcome",
        subject="Your prm account is ready",
        text=(
            f"Hello {user.name},\n\n{invited_by.email or 'An administrator'} created a prm account for you "
            f"({user.role.value.replace('_', ' ')}).\nSign in with this email address and the password "
            "you were given; change it on first sign-in.\n"
        ),
    )


# Fields only a user's managers may change; changing any of them (or the password) ends every
# session the user has, since its tokens carry the old rights.
MANAGED_FIELDS = ("active", "role", "partner_id")


async def update_user(session: AsyncSession, *, principal: Principal, user_id: uuid.UUID, data: UserUpdate) -> User:
    user = await UserRepository(session, principal).get(user_id)
    is_self = user.id == principal.user_id
    if is_self:
        _refuse_own_managed_fields(data)
    else:
        _check_may_manage(principal, user)
        data = await _checked_role_and_partner(session, principal, user, data)
    expect_version(user, data.expected_version)
    if _ends_sessions(user, data):
        user.session_epoch += 1
    if isinstance(data.password, str):
        if is_self:
            _check_current_password(user, data.current_password)
        user.password_hash = hash_password(data.password)
        record_activity(session, entity_type="user", entity_id=user.id, action="password_changed", actor=principal)
    sent = msgspec.structs.replace(data, password=msgspec.UNSET, current_password=msgspec.UNSET)
    await record_updated(session, user, sent, entity="user", principal=principal)
    await session.flush()
    return user


async def sign_out_everywhere(session: AsyncSession, *, principal: Principal, user_id: uuid.UUID) -> User:
    """End every session (API tokens and portal cookies) of the user: a user for itself, or a
    vendor admin / partner admin for a user it manages."""
    user = await UserRepository(session, principal).get(user_id)
    if user.id != principal.user_id:
        _check_may_manage(principal, user)
    user.session_epoch += 1
    record_activity(session, entity_type="user", entity_id=user.id, action="signed_out_everywhere", actor=principal)
    await session.flush()
    return user


def _check_may_manage(principal: Principal, user: User) -> None:
    if principal.role is Role.VENDOR_ADMIN:
        return
    if principal.role is Role.PARTNER_ADMIN and user.partner_id == principal.partner_id and user.role in PARTNER_ROLES:
        return
    raise Forbidden("You may only change your own profile.")


def _refuse_own_managed_fields(data: UserUpdate) -> None:
    for field in MANAGED_FIELDS:
        if getattr(data, field) is not msgspec.UNSET:
            raise Forbidden(f"You cannot change your own {field}; an administrator can.", field=field)


async def _checked_role_and_partner(
    session: AsyncSession, principal: Principal, user: User, data: UserUpdate
) -> UserUpdate:
    """The role and partner a manager sets, checked like on create (a partner admin keeps its
    users in its own organisation and in partner roles)."""
    if data.role is msgspec.UNSET and data.partner_id is msgspec.UNSET:
        return data
    if principal.role is Role.PARTNER_ADMIN and data.partner_id not in (msgspec.UNSET, principal.partner_id):
        raise Forbidden("A partner admin cannot move users to another partner.", field="partner_id")
    role = user.role if data.role is msgspec.UNSET else data.role
    partner_id = user.partner_id if data.partner_id is msgspec.UNSET else data.partner_id
    checked = await _check_partner_for_role(session, principal, role, partner_id)
    return msgspec.structs.replace(data, partner_id=checked)


def _ends_sessions(user: User, data: UserUpdate) -> bool:
    if isinstance(data.password, str):
        return True
    return any(
        getattr(data, field) is not msgspec.UNSET and getattr(data, field) != getattr(user, field)
        for field in MANAGED_FIELDS
    )


def _check_current_password(user: User, current: str | msgspec.UnsetType) -> None:
    if not isinstance(current, str) or not current:
        raise RuleViolation("Give your current password to set a new one.", field="current_password")
    if not verify_password(user.password_hash, current):
        raise RuleViolation("The current password is not right.", field="current_password")


async def get_user(session: AsyncSession, *, principal: Principal, user_id: uuid.UUID) -> User:
    return await UserRepository(session, principal).get(user_id)


async def list_users(
    session: AsyncSession,
    *,
    principal: Principal,
    page: PageRequest,
    role: Role | None = None,
    partner_id: uuid.UUID | None = None,
) -> tuple[list[User], str | None]:
    filters = []
    if role is not None:
        filters.append(User.role == role)
    if partner_id is not None:
        filters.append(User.partner_id == partner_id)
    return await UserRepository(session, principal).page(page, *filters)
