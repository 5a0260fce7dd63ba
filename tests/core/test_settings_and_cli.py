"""Start-up refuses bad settings with one line naming the variable; the CLI works end to end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from prm.settings import SettingsError, load_settings

GOOD = {"PRM_JWT_PRIVATE_KEY_FILE": "/dev/null", "PRM_SECRET_KEY": "s" * 40}


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"PRM_SECRET_KEY": "short"}, "PRM_SECRET_KEY"),
        ({"PRM_JWT_PRIVATE_KEY_FILE": ""}, "PRM_JWT_PRIVATE_KEY_FILE"),
        ({"PRM_DATABASE_URL": "mysql://x"}, "PRM_DATABASE_URL"),
        ({"PRM_SMTP_PORT": "seventy"}, "PRM_SMTP_PORT"),
        ({"PRM_SMTP_PORT": "70000"}, "PRM_SMTP_PORT"),
        ({"PRM_RUN_SCHEDULER": "perhaps"}, "PRM_RUN_SCHEDULER"),
        ({"PRM_MAX_REQUEST_BODY_BYTES": "0"}, "PRM_MAX_REQUEST_BODY_BYTES"),
        ({"PRM_CORS_ORIGINS": "https://app.example.com/path"}, "PRM_CORS_ORIGINS"),
        ({"PRM_CORS_ORIGINS": "app.example.com"}, "PRM_CORS_ORIGINS"),
    ],
)
def test_a_bad_setting_is_named(change: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError) as error:
        load_settings(GOOD | change)
    assert str(error.value).startswith(named)
    assert "\n" not in str(error.value)


def test_good_settings_load() -> None:
    settings = load_settings(GOOD | {"PRM_SMTP_PORT": "2525", "PRM_RUN_SCHEDULER": "false"})
    assert settings.smtp_port == 2525
    assert settings.run_scheduler is False
    assert settings.mail_to_mailbox is True
    assert settings.cors_origin_list == []


def test_cors_origins_are_a_comma_separated_list() -> None:
    settings = load_settings(GOOD | {"PRM_CORS_ORIGINS": " https://a.example.com/, http://localhost:5173 "})
    assert settings.cors_origin_list == ["https://a.example.com", "http://localhost:5173"]


def _cli(args: list[str], env: dict[str, str], *, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The real `prm` in `cwd` (so a developer's own var/prm.env is not read)."""
    prm = Path(sys.executable).with_name("prm")
    base = {k: v for k, v in os.environ.items() if not k.startswith("PRM_")}
    return subprocess.run(  # noqa: S603 - our own console script
        [str(prm), *args], env=base | env, cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def test_serve_with_a_missing_key_stops_with_one_line(tmp_path: Path) -> None:
    result = _cli(["serve", "--port", "1"], {"PRM_SECRET_KEY": "s" * 40}, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "prm: configuration error: PRM_JWT_PRIVATE_KEY_FILE: missing (run `prm init` to create one)"
    ]


def test_init_upgrade_demo_are_idempotent(tmp_path: Path) -> None:
    assert _cli(["init", "--dir", str(tmp_path)], {}, cwd=tmp_path).returncode == 0
    env = dict(line.split("=", 1) for line in (tmp_path / "prm.env").read_text().splitlines())
    for _ in range(2):
        upgraded = _cli(["db", "upgrade"], env, cwd=tmp_path)
        assert upgraded.returncode == 0, upgraded.stderr
        demo = _cli(["demo"], env, cwd=tmp_path)
        assert demo.returncode == 0, demo.stderr
        assert "admin@northwind.example" in demo.stdout
    created = _cli(
        [
            "user",
            "create",
            "--email",
            "ops@northwind.example",
            "--name",
            "Ops",
            "--role",
            "vendor_admin",
            "--password",
            "a long password",
        ],
        env,
        cwd=tmp_path,
    )
    assert created.returncode == 0, created.stderr
    assert "vendor_admin ops@northwind.example" in created.stdout


async def test_health_and_ready(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health")).json() == {"status": "ok"}
    assert (await client.get("/ready")).json() == {"status": "ready"}
    schema = (await client.get("/schema/openapi.json")).json()
    assert "/api/v1/auth/token" in schema["paths"]
