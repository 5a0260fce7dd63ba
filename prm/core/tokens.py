"""The one module that signs and verifies JWTs (python-jose).

Algorithm pinned to ES256; `exp`, `iss` and `aud` are always checked, against the injected
clock; the key id (`kid`) picks the verification key so keys can rotate: the current key
signs, the previous public key still verifies until its tokens expire. Peer CRM instances
get tokens from the same class with their own key pair and audience.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jose import jwt
from jose.exceptions import JOSEError

from prm.core.clock import Clock

ALGORITHM = "ES256"
LEEWAY_SECONDS = 30
VERIFIED_CACHE_SIZE = 4096  # tokens whose signature was checked, remembered per process


class InvalidToken(Exception):
    """Any reason a token is refused; the message is for logs, never for the caller."""


def generate_private_key_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def public_key_pem(private_pem: str) -> str:
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def key_id(public_pem: str) -> str:
    """A stable id for a public key: the first 16 bytes of its DER's SHA-256, base64url."""
    public = serialization.load_pem_public_key(public_pem.encode())
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()[:16]).decode().rstrip("=")


@dataclass(frozen=True)
class TokenConfig:
    private_key_pem: str
    issuer: str
    audience: str
    ttl_seconds: int
    previous_public_key_pem: str | None = None


class TokenService:
    def __init__(self, config: TokenConfig, clock: Clock) -> None:
        self._config = config
        self._clock = clock
        current_public = public_key_pem(config.private_key_pem)
        self.current_kid = key_id(current_public)
        self._verification_keys = {self.current_kid: current_public}
        self._verified: dict[tuple[str, str], dict[str, Any]] = {}
        if config.previous_public_key_pem:
            previous = config.previous_public_key_pem
            self._verification_keys[key_id(previous)] = previous

    @property
    def ttl_seconds(self) -> int:
        return self._config.ttl_seconds

    @property
    def public_keys(self) -> dict[str, str]:
        return dict(self._verification_keys)

    def issue(self, subject: str, claims: dict[str, Any], *, audience: str | None = None) -> str:
        now = int(self._clock.now().timestamp())
        payload = {
            **claims,
            "sub": subject,
            "iss": self._config.issuer,
            "aud": audience or self._config.audience,
            "iat": now,
            "nbf": now,
            "exp": now + self._config.ttl_seconds,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(
            payload,
            self._config.private_key_pem,
            algorithm=ALGORITHM,
            headers={"kid": self.current_kid},
        )

    def verify(self, token: str, *, audience: str | None = None) -> dict[str, Any]:
        # The signature check is most of a request's authentication cost, and its answer for
        # a given token string never changes while this service's keys do not; the time
        # claims are still checked on every use.
        cache_key = (token, audience or self._config.audience)
        claims = self._verified.get(cache_key)
        if claims is None:
            claims = self._verify_signature(token, cache_key[1])
            if len(self._verified) >= VERIFIED_CACHE_SIZE:
                self._verified.pop(next(iter(self._verified)))
            self._verified[cache_key] = claims
        self._check_times(claims)
        return dict(claims)

    def _verify_signature(self, token: str, audience: str) -> dict[str, Any]:
        key = self._key_for(token)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=audience,
                issuer=self._config.issuer,
                # jose checks times against the wall clock (and its require_exp turns that
                # back on), so presence and values of exp/iat/nbf are checked below, on our clock.
                options={
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "require_sub": True,
                    "require_aud": True,
                    "require_iss": True,
                },
            )
        except JOSEError as exc:
            raise InvalidToken(str(exc)) from exc
        return claims

    def _key_for(self, token: str) -> str:
        try:
            header = jwt.get_unverified_header(token)
        except JOSEError as exc:
            raise InvalidToken("malformed token") from exc
        if header.get("alg") != ALGORITHM:
            raise InvalidToken(f"algorithm {header.get('alg')!r} is not accepted")
        key = self._verification_keys.get(str(header.get("kid")))
        if key is None:
            raise InvalidToken("unknown key id")
        return key

    def _check_times(self, claims: dict[str, Any]) -> None:
        now = self._clock.now().timestamp()
        try:
            expires, issued = float(claims["exp"]), float(claims["iat"])
            not_before = float(claims.get("nbf", issued))
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidToken("time claims are missing or not numbers") from exc
        if now >= expires + LEEWAY_SECONDS:
            raise InvalidToken("token expired")
        if now + LEEWAY_SECONDS < not_before:
            raise InvalidToken("token not yet valid")


# Peer CRM instances: one key pair per connection and side. The sender signs with its private
# key; the receiver verifies with the public key it was given in the handshake, for an audience
# that is its own base URL. Tokens are short-lived; the receiver remembers each `jti` until it
# expires, so a captured token cannot be replayed.
PEER_TOKEN_TTL_SECONDS = 60


def issue_peer_token(
    private_key_pem: str, *, issuer: str, subject: str, audience: str, now: float, claims: dict[str, Any]
) -> str:
    issued = int(now)
    payload = {
        **claims,
        "sub": subject,
        "iss": issuer,
        "aud": audience,
        "iat": issued,
        "nbf": issued,
        "exp": issued + PEER_TOKEN_TTL_SECONDS,
        "jti": uuid.uuid4().hex,
    }
    kid = key_id(public_key_pem(private_key_pem))
    return jwt.encode(payload, private_key_pem, algorithm=ALGORITHM, headers={"kid": kid})


def peer_token_header(token: str) -> dict[str, Any]:
    """The unverified header and claims, to find which connection's key verifies the token."""
    try:
        header = dict(jwt.get_unverified_header(token))
        claims = dict(jwt.get_unverified_claims(token))
    except JOSEError as exc:
        raise InvalidToken("malformed token") from exc
    return {"kid": header.get("kid"), "alg": header.get("alg"), "sub": claims.get("sub"), "iss": claims.get("iss")}


def verify_peer_token(token: str, public_key_pem_text: str, *, audience: str, now: float) -> dict[str, Any]:
    """Claims of a peer token signed by `public_key_pem_text`'s key; InvalidToken otherwise."""
    header = peer_token_header(token)
    if header["alg"] != ALGORITHM:
        raise InvalidToken(f"algorithm {header['alg']!r} is not accepted")
    if header["kid"] != key_id(public_key_pem_text):
        raise InvalidToken("unknown key id")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            public_key_pem_text,
            algorithms=[ALGORITHM],
            audience=audience,
            options={"verify_exp": False, "verify_nbf": False, "verify_iat": False, "require_jti": True},
        )
    except JOSEError as exc:
        raise InvalidToken(str(exc)) from exc
    try:
        expires, issued = float(claims["exp"]), float(claims["iat"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidToken("time claims are missing or not numbers") from exc
    if now >= expires + LEEWAY_SECONDS or now + LEEWAY_SECONDS < issued:
        raise InvalidToken("token expired or not yet valid")
    if expires - issued > PEER_TOKEN_TTL_SECONDS:
        raise InvalidToken("token lives too long")
    return claims
