"""Forged, stale and misdirected bearer tokens are refused with 401 problem details; good ones work.

Every attack runs through HTTP against a read (`/users/me`, `/accounts`) and a write
(`POST /accounts`), so a weakness in the middleware, the token service or the claim parsing
would show up as a 2xx here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from jose import jwt

from prm.core.clock import ManualClock
from prm.core.tokens import ALGORITHM, LEEWAY_SECONDS, generate_private_key_pem, key_id, public_key_pem
from prm.settings import Settings
from tests.conftest import World

Client = httpx.AsyncClient
ACCOUNT = {"name": "Forged Industries"}
PROBE = (("GET", "/api/v1/users/me"), ("GET", "/api/v1/accounts"), ("POST", "/api/v1/accounts"))


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def segments(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header, payload, _ = token.split(".")
    return json.loads(unb64url(header)), json.loads(unb64url(payload))


def compact(header: dict[str, Any], payload: dict[str, Any], sign: Callable[[bytes], bytes] | None = None) -> str:
    """Assemble a JWS by hand, so tokens no library would produce can be sent."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}"
    signature = sign(signing_input.encode()) if sign else b""
    return f"{signing_input}.{b64url(signature)}"


def es256(private_pem: str, payload: dict[str, Any], **header: Any) -> str:
    return jwt.encode(payload, private_pem, algorithm=ALGORITHM, headers=header)


@pytest.fixture(scope="module")
def old_private_key() -> str:
    return generate_private_key_pem()


@pytest.fixture
def previous_key_file(tmp_path: Path, old_private_key: str) -> Path:
    path = tmp_path / "previous.pub.pem"
    path.write_text(public_key_pem(old_private_key))
    return path


@pytest.fixture
def settings_overrides(request: pytest.FixtureRequest, previous_key_file: Path) -> dict[str, Any]:
    """The previous public key is configured unless a test asks for `rotated=False` (the key retired)."""
    rotated = getattr(request, "param", True)
    return {"jwt_previous_public_key_file": str(previous_key_file)} if rotated else {}


@pytest.fixture
def server_key(settings: Settings) -> str:
    return settings.jwt_private_key_pem()


@pytest.fixture
def server_kid(server_key: str) -> str:
    return key_id(public_key_pem(server_key))


@pytest.fixture
def valid(world: World) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims of a genuine partner-user token, to derive forgeries from."""
    return segments(world.pa_user.token)


async def assert_refused(client: Client, authorization: str | None) -> None:
    # Raw bytes, so non-ASCII garbage reaches the server as sent.
    headers = {"Authorization": authorization.encode()} if authorization is not None else {}
    for method, path in PROBE:
        body = ACCOUNT if method == "POST" else None
        reply = await client.request(method, path, json=body, headers=headers)
        assert reply.status_code == 401, (method, path, reply.status_code, reply.text)
        assert reply.headers["content-type"].startswith("application/problem+json")
        assert reply.headers["www-authenticate"].lower().startswith("bearer")
        problem = reply.json()
        assert problem["status"] == 401
        assert {"type", "title", "detail"} <= problem.keys()


async def assert_accepted(client: Client, token: str, email: str) -> None:
    reply = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    assert reply.status_code == 200, reply.text
    assert reply.json()["email"] == email
    listed = await client.get("/api/v1/accounts", headers={"Authorization": f"Bearer {token}"})
    assert listed.status_code == 200, listed.text


async def test_a_genuine_token_is_accepted(client: Client, world: World) -> None:
    await assert_accepted(client, world.pa_user.token, world.pa_user.email)
    created = await client.post("/api/v1/accounts", json=ACCOUNT, headers=world.pa_user.headers)
    assert created.status_code == 201, created.text


async def test_a_signed_in_token_from_the_password_grant_is_accepted(client: Client, world: World) -> None:
    reply = await client.post(
        "/api/v1/auth/token", data={"username": world.pa_admin.email, "password": "correct horse battery"}
    )
    assert reply.status_code == 200, reply.text
    await assert_accepted(client, reply.json()["access_token"], world.pa_admin.email)


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
async def test_alg_none_is_refused(client: Client, world: World, valid: Any, alg: str) -> None:
    header, claims = valid
    unsigned = compact({**header, "alg": alg}, claims | {"role": "vendor_admin", "pid": None})
    await assert_refused(client, f"Bearer {unsigned}")
    # The same with the genuine signature left in place.
    await assert_refused(client, f"Bearer {unsigned}{world.pa_user.token.rsplit('.', 1)[1]}")


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
async def test_hmac_signed_with_the_public_key_is_refused(
    client: Client, valid: Any, server_key: str, alg: str
) -> None:
    """Algorithm confusion: the verification key (public) used as an HMAC secret."""
    header, claims = valid
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    public = public_key_pem(server_key).encode()
    for secret in (public, public.strip()):
        forged = compact(
            {**header, "alg": alg},
            claims | {"role": "vendor_admin", "pid": None},
            lambda data, key=secret: hmac.new(key, data, digest).digest(),
        )
        await assert_refused(client, f"Bearer {forged}")


async def test_expired_token_is_refused_once_the_clock_passes_exp(
    client: Client, world: World, clock: ManualClock, settings: Settings
) -> None:
    # Just inside the grace period the token still works (so the refusal below is about time).
    clock.advance(timedelta(seconds=settings.jwt_ttl_seconds + LEEWAY_SECONDS - 1))
    await assert_accepted(client, world.pa_user.token, world.pa_user.email)
    clock.advance(timedelta(seconds=2))
    await assert_refused(client, f"Bearer {world.pa_user.token}")


async def test_not_yet_valid_token_is_refused(client: Client, valid: Any, server_key: str, server_kid: str) -> None:
    _, claims = valid
    future = claims | {"nbf": claims["iat"] + 3600, "iat": claims["iat"] + 3600, "exp": claims["exp"] + 3600}
    await assert_refused(client, f"Bearer {es256(server_key, future, kid=server_kid)}")


async def test_wrong_audience_is_refused(client: Client, world: World, app: Any, valid: Any) -> None:
    _, claims = valid
    # Signed by the server itself, for another audience (e.g. a peer CRM connection).
    peer = app.state.tokens.issue(str(world.pa_user.user_id), claims, audience="prm-connect")
    await assert_refused(client, f"Bearer {peer}")


@pytest.mark.parametrize(
    "change",
    [
        {"aud": "another-api"},
        {"aud": ["another-api"]},
        {"aud": None},
        {"iss": "someone-else"},
        {"iss": None},
        {"typ": "refresh"},
        {"typ": "peer"},
        {"typ": None},
        {"exp": None},
        {"exp": "later"},
        {"iat": None},
        {"sub": None},
        {"sub": "not-a-uuid"},
        {"role": "superuser"},
        {"role": None},
        {"pid": "not-a-uuid"},
    ],
    ids=lambda change: "-".join(f"{k}={v}" for k, v in change.items()),
)
async def test_validly_signed_but_wrong_claims_are_refused(
    client: Client, valid: Any, server_key: str, server_kid: str, change: dict[str, Any]
) -> None:
    """Claims the server would never issue, signed with its own key: each one must still be refused."""
    _, claims = valid
    changed = {k: v for k, v in (claims | change).items() if v is not None}
    await assert_refused(client, f"Bearer {es256(server_key, changed, kid=server_kid)}")


async def test_the_same_claims_signed_the_same_way_are_accepted(
    client: Client, world: World, valid: Any, server_key: str, server_kid: str
) -> None:
    """The control for the test above: re-signing unchanged claims by hand works."""
    _, claims = valid
    await assert_accepted(client, es256(server_key, claims, kid=server_kid), world.pa_user.email)


async def test_tampered_payload_with_the_original_signature_is_refused(
    client: Client, world: World, valid: Any
) -> None:
    header, claims = valid
    signature = world.pa_user.token.rsplit(".", 1)[1]
    for change in ({"role": "vendor_admin", "pid": None}, {"pid": str(world.partner_b)}, {"exp": claims["exp"] + 9e6}):
        forged = compact(header, claims | change).rstrip(".") + signature
        await assert_refused(client, f"Bearer {forged}")


async def test_token_signed_by_another_ec_key_with_our_kid_is_refused(
    client: Client, valid: Any, server_kid: str
) -> None:
    _, claims = valid
    attacker = generate_private_key_pem()
    forged = es256(attacker, claims | {"role": "vendor_admin", "pid": None}, kid=server_kid)
    await assert_refused(client, f"Bearer {forged}")
    # Nor does shipping the attacker's own key in the header (jwk / jku) help.
    jwk_header = {"kid": server_kid, "jwk": {"kty": "EC", "crv": "P-256"}, "jku": "https://attacker.test/jwks"}
    await assert_refused(client, f"Bearer {es256(attacker, claims, **jwk_header)}")


@pytest.mark.parametrize("kid", ["unknown-key", "", "../../etc/passwd", None])
async def test_unknown_or_missing_kid_is_refused(client: Client, valid: Any, server_key: str, kid: str | None) -> None:
    _, claims = valid
    header = {} if kid is None else {"kid": kid}
    # Signed with the genuine key: only the key id is wrong.
    await assert_refused(client, f"Bearer {es256(server_key, claims, **header)}")


@pytest.mark.parametrize(
    "garbage",
    [
        "garbage",
        "a.b.c",
        "...",
        "e30.e30.",
        "e30.e30.e30",
        b64url(b"[]") + "." + b64url(b"{}") + ".",
        b64url(b'{"alg":"ES256","kid":["x"]}') + "." + b64url(b"[]") + ".AAAA",
        b64url(b'{"alg":["ES256"]}') + "." + b64url(b"{}") + ".AAAA",
        "\u00e9\u00e9.\u00e9\u00e9.\u00e9\u00e9",
        "x" * 5000,
    ],
    ids=lambda g: g[:20],
)
async def test_garbage_is_refused(client: Client, garbage: str) -> None:
    await assert_refused(client, f"Bearer {garbage}")


async def test_garbage_with_a_known_kid_is_refused(client: Client, server_kid: str) -> None:
    header = b64url(json.dumps({"alg": ALGORITHM, "kid": server_kid}).encode())
    for payload in (b"[]", b'"text"', b"null", b"not json"):
        await assert_refused(client, f"Bearer {header}.{b64url(payload)}.{b64url(b'x' * 64)}")


async def test_missing_or_wrong_scheme_is_refused(client: Client, world: World) -> None:
    token = world.pa_user.token
    for authorization in (None, "", "Bearer", "Bearer ", "Bearer    ", token, f"Basic {token}", f"Token {token}"):
        await assert_refused(client, authorization)
    # Nor does the token count when sent anywhere but the Authorization header.
    for method, path in PROBE:
        reply = await client.request(
            method,
            f"{path}?access_token={token}",
            json=ACCOUNT if method == "POST" else None,
            headers={"Cookie": f"access_token={token}; prm_session={token}"},
        )
        assert reply.status_code == 401, (method, path)


async def test_refused_writes_left_nothing_behind(client: Client, world: World, valid: Any) -> None:
    header, claims = valid
    await assert_refused(client, f"Bearer {compact({**header, 'alg': 'none'}, claims)}")
    await assert_refused(client, "Bearer garbage")
    listed = await client.get("/api/v1/accounts", headers=world.admin.headers)
    assert listed.status_code == 200
    assert listed.json()["items"] == []


async def test_token_signed_by_the_previous_key_still_verifies(
    client: Client, world: World, valid: Any, old_private_key: str
) -> None:
    _, claims = valid
    old_kid = key_id(public_key_pem(old_private_key))
    await assert_accepted(client, es256(old_private_key, claims, kid=old_kid), world.pa_user.email)
    # ...but only under the old key's own id, and the old key still cannot sign for the new id.
    await assert_refused(client, f"Bearer {es256(old_private_key, claims, kid='other')}")


async def test_new_tokens_are_signed_by_the_current_key_not_the_previous(
    world: World, server_kid: str, old_private_key: str
) -> None:
    header, _ = segments(world.pa_user.token)
    assert header["alg"] == ALGORITHM
    assert header["kid"] == server_kid != key_id(public_key_pem(old_private_key))


async def test_previous_key_token_still_expires(
    client: Client, world: World, valid: Any, old_private_key: str, clock: ManualClock, settings: Settings
) -> None:
    _, claims = valid
    token = es256(old_private_key, claims, kid=key_id(public_key_pem(old_private_key)))
    clock.advance(timedelta(seconds=settings.jwt_ttl_seconds + LEEWAY_SECONDS + 1))
    await assert_refused(client, f"Bearer {token}")


@pytest.mark.parametrize("settings_overrides", [False], indirect=True)
async def test_once_the_previous_key_is_retired_its_tokens_are_refused(
    client: Client, world: World, valid: Any, old_private_key: str
) -> None:
    _, claims = valid
    token = es256(old_private_key, claims, kid=key_id(public_key_pem(old_private_key)))
    await assert_refused(client, f"Bearer {token}")
    await assert_accepted(client, world.pa_user.token, world.pa_user.email)
