"""`prm serve | init | db upgrade | demo | user create` — what an operator runs.

Settings come from PRM_* environment variables and from an env file: `--env-file FILE`, or
`var/prm.env` when it exists (what `prm init` writes). A variable set in the environment wins
over the file.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import secrets
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from prm.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from prm.core.dbcheck import SchemaNeeded

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ENV_FILE = Path("var/prm.env")


def _fail(message: str) -> NoReturn:
    print(f"prm: {message}", file=sys.stderr)
    raise SystemExit(2)


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        print(f"prm: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc


def read_env_file(path: Path | None) -> None:
    """Put the file's PRM_* variables into this process's environment (and so its workers'),
    except the ones the environment already sets."""
    from dotenv import dotenv_values

    if path is None:
        if not DEFAULT_ENV_FILE.is_file():
            return
        path = DEFAULT_ENV_FILE
    if not path.is_file():
        _fail(f"configuration error: --env-file: there is no file {str(path)!r}")
    for name, value in dotenv_values(path).items():
        if name.startswith("PRM_") and value is not None:
            os.environ.setdefault(name, value)


def _usable_database(settings: Settings, *, migrated: bool) -> Settings:
    """Stop with one line naming PRM_DATABASE_URL if the database cannot be used (yet)."""
    from prm.core.dbcheck import DatabaseUnavailable, check_database

    try:
        asyncio.run(check_database(settings.database_url, schema=_schema_needed() if migrated else None))
    except DatabaseUnavailable as exc:
        _fail(f"database error: {exc}")
    return settings


def _schema_needed() -> SchemaNeeded:
    from prm.core.dbcheck import schema_needed

    return schema_needed()


def app_factory() -> Any:
    """Uvicorn's factory: settings come from the environment of each worker.

    What start-up built (modules, routes, the app) lives as long as the worker. Frozen, it is
    left out of every later garbage collection: a full collection otherwise walks all of it
    and stalls whichever request is running by 100-200 ms, every few hundred requests.
    """
    from prm.app import create_app
    from prm.core.logs import configure_structlog

    configure_structlog()
    app = create_app(_settings())
    gc.collect()
    gc.freeze()
    return app


def cmd_init(args: argparse.Namespace) -> None:
    """Create a local signing key, secret and env file for development (kept if present)."""
    from prm.core.tokens import generate_private_key_pem

    folder = Path(args.dir).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    key_file = folder / "jwt-es256.pem"
    if not key_file.exists():
        key_file.write_text(generate_private_key_pem())
        key_file.chmod(0o600)
    env_file = folder / "prm.env"
    if not env_file.exists():
        env_file.write_text(
            f"PRM_DATABASE_URL=sqlite+aiosqlite:///{folder / 'prm.db'}\n"
            f"PRM_JWT_PRIVATE_KEY_FILE={key_file}\n"
            f"PRM_SECRET_KEY={secrets.token_urlsafe(48)}\n"
        )
        env_file.chmod(0o600)
    print(f"prm: settings in {env_file}")


def cmd_serve(args: argparse.Namespace) -> None:
    import uvicorn

    settings = _usable_database(_settings(), migrated=True)
    if settings.is_sqlite and args.workers > 1:
        print("prm: --workers > 1 needs PostgreSQL (an embedded SQLite file has one writer)", file=sys.stderr)
        raise SystemExit(2)
    from prm.core.logs import logging_config

    options: dict[str, Any] = {
        "factory": True,
        "host": args.host,
        "port": args.port,
        "workers": args.workers,
        "log_level": args.log_level,
        "log_config": logging_config(settings.log_format, args.log_level),
        "proxy_headers": True,
        # After the drain (prm/core/lifecycle.py), in-flight requests get this long to finish.
        "timeout_graceful_shutdown": max(int(settings.shutdown_timeout_seconds), 1),
    }
    if args.workers > 1:
        from prm.core.workers import Supervisor

        config = uvicorn.Config("prm.cli:app_factory", **options)
        Supervisor(config, sockets=[config.bind_socket()]).run()
    else:
        uvicorn.run("prm.cli:app_factory", **options)


def upgrade_database(url: str) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.attributes["url"] = url
    if url.startswith("sqlite"):
        Path(url.split("///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(config, "head")


def cmd_db_upgrade(_: argparse.Namespace) -> None:
    settings = _usable_database(_settings(), migrated=False)
    upgrade_database(settings.database_url)
    print("prm: database is at the newest schema")


def cmd_demo(_: argparse.Namespace) -> None:
    from prm.demo import load_demo

    asyncio.run(load_demo(_usable_database(_settings(), migrated=True)))


def cmd_scorecards_rebuild(_: argparse.Namespace) -> None:
    from prm.scorecards.rollups import rebuild_database

    counts = asyncio.run(rebuild_database(_usable_database(_settings(), migrated=True)))
    if not counts:
        print("prm: nothing to rebuild (on SQLite the scorecards read the records)")
    for table, cells in counts.items():
        print(f"prm: {table}: {cells} cells rebuilt from the records")


def cmd_user_create(args: argparse.Namespace) -> None:
    from prm.demo import create_operator_user

    settings = _usable_database(_settings(), migrated=True)
    asyncio.run(create_operator_user(settings, args.email, args.name, args.role, args.password, args.partner))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="prm", description=__doc__)
    parser.add_argument(
        "--env-file",
        type=Path,
        help=f"read PRM_* settings from this file (default: {DEFAULT_ENV_FILE} when it exists); "
        "the environment's own PRM_* variables win",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    init = sub.add_parser("init", help="create a local key, secret and env file")
    init.add_argument("--dir", default="var")
    init.set_defaults(fn=cmd_init)
    serve = sub.add_parser("serve", help="serve the API and portal")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--log-level", default="info")
    serve.set_defaults(fn=cmd_serve)
    db = sub.add_parser("db", help="database commands").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="apply migrations").set_defaults(fn=cmd_db_upgrade)
    sub.add_parser("demo", help="load demo data (idempotent) and print logins").set_defaults(fn=cmd_demo)
    scorecards = sub.add_parser("scorecards", help="scorecard commands").add_subparsers(
        dest="scorecards_command", required=True
    )
    scorecards.add_parser(
        "rebuild", help="recompute the scorecards' maintained aggregates from the records (PostgreSQL)"
    ).set_defaults(fn=cmd_scorecards_rebuild)
    user = sub.add_parser("user", help="user commands").add_subparsers(dest="user_command", required=True)
    create = user.add_parser("create", help="create a user")
    create.add_argument("--email", required=True)
    create.add_argument("--name", required=True)
    create.add_argument(
        "--role",
        required=True,
        choices=["vendor_admin", "channel_manager", "partner_admin", "partner_user", "leadership"],
    )
    create.add_argument("--password", required=True)
    create.add_argument("--partner", help="partner name, for partner roles")
    create.set_defaults(fn=cmd_user_create)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    if args.fn is not cmd_init:
        read_env_file(args.env_file)
    args.fn(args)


if __name__ == "__main__":
    main()
