"""The alembic migrations are the schema: they must build exactly what the models describe."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from prm.cli import PROJECT_ROOT, upgrade_database


def _config(url: str) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.attributes["url"] = url
    return config


def test_migrated_schema_matches_the_models(database_url: str) -> None:
    """`alembic check` fails when a model changed without a migration (or the other way round)."""
    command.check(_config(database_url))


def test_downgrade_to_base_and_back_up(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'roundtrip.db'}"
    upgrade_database(url)
    command.downgrade(_config(url), "base")
    command.upgrade(_config(url), "head")
    command.check(_config(url))
