"""One settings object, read from PRM_* environment variables.

A missing or invalid setting stops start-up with one line naming it (`SettingsError`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec


class SettingsError(Exception):
    """Raised with a one-line message naming the bad PRM_* variable."""


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    database_url: str = "sqlite+aiosqlite:///./var/prm.db"
    jwt_private_key_file: str = ""
    jwt_previous_public_key_file: str = ""
    jwt_issuer: str = "prm"
    jwt_audience: str = "prm-api"
    jwt_ttl_seconds: int = 1800
    secret_key: str = ""
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_sender: str = "prm@localhost"
    smtp_use_tls: bool = False
    base_url: str = "http://127.0.0.1:8000"
    max_request_body_bytes: int = 10 * 1024 * 1024
    max_import_bytes: int = 64 * 1024 * 1024
    run_scheduler: bool = True
    outbox_poll_seconds: float = 2.0
    outbox_max_attempts: int = 8
    connect_suspend_after_seconds: int = 3600
    job_interval_seconds: float = 0.0  # 0: each timer at its own interval
    peer_retry_max_seconds: float = 30.0
    peer_max_attempts: int = 120
    db_pool_size: int = 10
    cookie_secure: bool = False
    redis_url: str = ""
    redis_prefix: str = "prm:"
    signin_account_failures: int = 5
    signin_client_failures: int = 20
    signin_base_delay_seconds: int = 5
    signin_max_delay_seconds: int = 900
    signin_window_seconds: int = 3600
    cors_origins: str = ""  # comma-separated origins allowed to call the API from a browser
    bench_endpoints: bool = False
    metrics_token: str = ""  # bearer token Prometheus sends to /metrics; none: /metrics is off (404)
    log_format: str = "json"  # json: one JSON event a line; text: for a person at a terminal
    shutdown_drain_seconds: float = 5.0  # after SIGTERM: /ready says 503 this long while still serving
    shutdown_timeout_seconds: float = 20.0  # then in-flight requests and running jobs get this long
    debug: bool = False

    @property
    def mail_to_mailbox(self) -> bool:
        """Without an SMTP host, mail is kept in the database and shown on the mailbox page."""
        return not self.smtp_host

    @property
    def secure_cookies(self) -> bool:
        """Cookies are Secure behind HTTPS: whenever the public URL is https, or when forced."""
        return self.cookie_secure or self.base_url.lower().startswith("https://")

    @property
    def cors_origin_list(self) -> list[str]:
        return [origin.strip().rstrip("/") for origin in self.cors_origins.split(",") if origin.strip()]

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def jwt_private_key_pem(self) -> str:
        return _read_file("PRM_JWT_PRIVATE_KEY_FILE", self.jwt_private_key_file)

    def jwt_previous_public_key_pem(self) -> str | None:
        if not self.jwt_previous_public_key_file:
            return None
        return _read_file("PRM_JWT_PREVIOUS_PUBLIC_KEY_FILE", self.jwt_previous_public_key_file)


def _read_file(variable: str, path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise SettingsError(f"{variable}: cannot read {path!r} ({exc.strerror})") from exc


_ORIGIN = re.compile(r"https?://[^/\s,]+")  # scheme and host (and port): no path

_FIELD_TYPES: dict[str, Any] = {f.name: f.type for f in msgspec.structs.fields(Settings)}


def _convert(name: str, raw: str) -> Any:
    kind = _FIELD_TYPES[name]
    variable = f"PRM_{name.upper()}"
    if kind in ("bool", bool):
        lowered = raw.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off", ""}:
            return False
        raise SettingsError(f"{variable}: expected true or false, got {raw!r}")
    if kind in ("int", int):
        try:
            return int(raw)
        except ValueError:
            raise SettingsError(f"{variable}: expected a whole number, got {raw!r}") from None
    if kind in ("float", float):
        try:
            return float(raw)
        except ValueError:
            raise SettingsError(f"{variable}: expected a number, got {raw!r}") from None
    return raw


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Read PRM_* variables, apply overrides, and check that what is required is there."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for name in _FIELD_TYPES:
        variable = f"PRM_{name.upper()}"
        if variable in env:
            values[name] = _convert(name, env[variable])
    values.update(overrides)
    settings = Settings(**values)
    _validate(settings)
    return settings


def _validate(settings: Settings) -> None:
    if not settings.database_url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
        raise SettingsError("PRM_DATABASE_URL: must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
    if not settings.jwt_private_key_file:
        raise SettingsError("PRM_JWT_PRIVATE_KEY_FILE: missing (run `prm init` to create one)")
    if len(settings.secret_key) < 32:
        raise SettingsError("PRM_SECRET_KEY: missing or shorter than 32 characters")
    for name in ("jwt_ttl_seconds", "max_request_body_bytes", "max_import_bytes"):
        if getattr(settings, name) <= 0:
            raise SettingsError(f"PRM_{name.upper()}: must be positive")
    if settings.job_interval_seconds < 0:
        raise SettingsError("PRM_JOB_INTERVAL_SECONDS: must be 0 (each timer's own interval) or positive")
    for name in ("account_failures", "client_failures", "base_delay_seconds", "max_delay_seconds", "window_seconds"):
        if getattr(settings, f"signin_{name}") <= 0:
            raise SettingsError(f"PRM_SIGNIN_{name.upper()}: must be positive")
    if settings.redis_url and not settings.redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise SettingsError("PRM_REDIS_URL: must start with redis://, rediss:// or unix://")
    if not 0 < settings.smtp_port < 65536:
        raise SettingsError("PRM_SMTP_PORT: must be a TCP port number")
    _validate_operations(settings)
    for origin in settings.cors_origin_list:
        if origin != "*" and not _ORIGIN.fullmatch(origin):
            raise SettingsError(f"PRM_CORS_ORIGINS: {origin!r} is not an origin like https://app.example.com or *")


def _validate_operations(settings: Settings) -> None:
    if settings.metrics_token and len(settings.metrics_token) < 16:
        raise SettingsError("PRM_METRICS_TOKEN: shorter than 16 characters")
    if settings.log_format not in ("json", "text"):
        raise SettingsError("PRM_LOG_FORMAT: must be json or text")
    if settings.shutdown_drain_seconds < 0:
        raise SettingsError("PRM_SHUTDOWN_DRAIN_SECONDS: must not be negative")
    if settings.shutdown_timeout_seconds <= 0:
        raise SettingsError("PRM_SHUTDOWN_TIMEOUT_SECONDS: must be positive")
