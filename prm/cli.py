"""`prm serve | init | db upgrade | demo | user create` — what an operator runs."""

from __future__ import annotations

import argparse
import asyncio
import gc
import secrets
import sys
from pathlib import Path
from typing import Any

from prm.settings import Settings, SettingsError, load_settings

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        print(f"prm: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc


def app_factory() -> Any:
    """Uvicorn's factory: settings come from the environment of each worker.

    What start-up built (modules, routes, the app) lives as long as the worker. Frozen, it is
    left out of every later garbage collection: a full collection otherwise walks all of it
    and stalls whichever request is running by 100-200 ms, every few hundred requests.
    """
    from prm.app import create_app

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

    settings = _settings()
    if settings.is_sqlite and args.workers > 1:
        print("prm: --workers > 1 needs PostgreSQL (an embedded SQLite file has one writer)", file=sys.stderr)
        raise SystemExit(2)
    uvicorn.run(
        "prm.cli:app_factory",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        proxy_headers=True,
    )


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
    settings = _settings()
    upgrade_database(settings.database_url)
    print("prm: database is at the newest schema")


def cmd_demo(_: argparse.Namespace) -> None:
    from prm.demo import load_demo

    asyncio.run(load_demo(_settings()))


def cmd_user_create(args: argparse.Namespace) -> None:
    from prm.demo import create_operator_user

    asyncio.run(create_operator_user(_settings(), args.email, args.name, args.role, args.password, args.partner))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="prm", description=__doc__)
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
    args.fn(args)


if __name__ == "__main__":
    main()
