"""create_app(settings) -> Litestar; nothing else."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from anyio import to_thread
from litestar import Litestar, Router
from litestar.config.cors import CORSConfig
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import State
from litestar.enums import HttpMethod
from litestar.middleware.base import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, OAuthFlow, OAuthFlows, SecurityScheme

from prm.connect.jobs import register_jobs as register_connect_jobs
from prm.connect.routes import ConnectionController, SharingController, peer_batch_inbox, peer_inbox
from prm.connect.service.registrations import on_state_changed as on_registration_step
from prm.connect.service.registrations import on_states_changed as on_registration_steps
from prm.connect.service.sharing import on_record_updated, on_records_updated
from prm.connect.service.tombstones import on_record_ended
from prm.core.auth import BearerTokenMiddleware
from prm.core.clock import Clock, SystemClock
from prm.core.dependencies import DEPENDENCIES
from prm.core.nul import refuse_nul_characters
from prm.core.openapi import openapi_plugins
from prm.core.problems import EXCEPTION_HANDLERS
from prm.core.records import (
    listen_to_bulk_states,
    listen_to_bulk_updates,
    listen_to_ends,
    listen_to_states,
    listen_to_updates,
)
from prm.core.request_id import RequestContextMiddleware, send_request_id
from prm.core.runtime import Runtime, build_runtime
from prm.core.seeds import SeedSource
from prm.credits.routes import CreditController
from prm.crm.normalize import warm_country_index
from prm.crm.routes.accounts import AccountController
from prm.crm.routes.auth import AuthController
from prm.crm.routes.campaigns import CampaignController
from prm.crm.routes.contacts import ContactController
from prm.crm.routes.leads import LeadController
from prm.crm.routes.opportunities import OpportunityController
from prm.crm.routes.partners import PartnerController
from prm.crm.routes.products import ProductController
from prm.crm.routes.users import UserController
from prm.crm.sessions import LiveSessions
from prm.deal_registration.jobs import register_jobs as register_deal_registration_jobs
from prm.deal_registration.routes import ProgramController, RegistrationController
from prm.lead_distribution.jobs import register_jobs as register_lead_distribution_jobs
from prm.lead_distribution.routes import CONTROLLERS as LEAD_DISTRIBUTION_CONTROLLERS
from prm.portal import UNKNOWN_PAGE_HANDLERS, portal_router, template_config
from prm.scorecards.jobs import register_jobs as register_scorecard_jobs
from prm.scorecards.routes import ScorecardController
from prm.settings import Settings
from prm.system.bench import register_bench_routes
from prm.system.metrics import HTTP_METRICS, metrics
from prm.system.routes import OutboxController, WebhookController, health, ready

API_CONTROLLERS: list[type] = [
    PartnerController,
    UserController,
    AccountController,
    OpportunityController,
    ProductController,
    ContactController,
    LeadController,
    CampaignController,
    OutboxController,
    WebhookController,
    ProgramController,
    RegistrationController,
    CreditController,
    *LEAD_DISTRIBUTION_CONTROLLERS,
    ScorecardController,
    ConnectionController,
    SharingController,
]


# Swagger UI's files are served by the app itself (prm/portal/static/swagger-ui, a copy of the
# swagger-ui-dist npm package), not from a CDN: the docs must work on a machine with no internet.
SWAGGER_UI_VERSION = "5.35.0"
SWAGGER_UI_ASSETS = "/static/swagger-ui"


def _swagger_ui() -> SwaggerRenderPlugin:
    return SwaggerRenderPlugin(
        version=SWAGGER_UI_VERSION,
        js_url=f"{SWAGGER_UI_ASSETS}/swagger-ui-bundle.js",
        css_url=f"{SWAGGER_UI_ASSETS}/swagger-ui.css",
        standalone_preset_js_url=f"{SWAGGER_UI_ASSETS}/swagger-ui-standalone-preset.js",
        favicon=f"<link rel='icon' type='image/png' href='{SWAGGER_UI_ASSETS}/favicon-32x32.png'>",
    )


def _openapi() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="prm",
        version="0.1.0",
        description="Partner relationship management: deal registration, lead distribution, connect, scorecards.",
        path="/schema",
        render_plugins=[_swagger_ui()],
        components=Components(
            security_schemes={
                "oauth2": SecurityScheme(
                    type="oauth2",
                    flows=OAuthFlows(password=OAuthFlow(token_url="/api/v1/auth/token", scopes={})),  # noqa: S106
                )
            }
        ),
        security=[{"oauth2": []}],
    )


def _cors(settings: Settings) -> CORSConfig | None:
    """Browsers on the listed origins may call the API; none listed (the default), no CORS headers.
    Bearer tokens, never cookies: credentials stay off."""
    if not settings.cors_origin_list:
        return None
    return CORSConfig(
        allow_origins=settings.cors_origin_list,
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "If-Match", "X-Request-ID"],
        expose_headers=["X-Request-ID", "Location", "Retry-After", "ETag"],
        allow_credentials=False,
        max_age=600,
    )


def app_shape(settings: Settings) -> tuple[object, ...]:
    """The settings that shape the Litestar app itself: its routes, middleware and limits.
    Everything else reaches handlers through `app.state`, read on each request."""
    return (
        settings.bench_endpoints,
        tuple(settings.cors_origin_list),
        settings.secret_key,
        settings.secure_cookies,
        settings.max_request_body_bytes,
        settings.debug,
    )


def _ready_runtime(
    settings: Settings, clock: Clock | None, seeds: SeedSource | None, runtime: Runtime | None
) -> Runtime:
    runtime = runtime or build_runtime(settings, clock or SystemClock(), seeds)
    register_deal_registration_jobs(runtime.jobs)
    register_lead_distribution_jobs(runtime.jobs)
    register_connect_jobs(runtime.jobs)
    register_scorecard_jobs(runtime.jobs, runtime.db)
    listen_to_updates(on_record_updated)
    listen_to_bulk_updates(on_records_updated)
    listen_to_ends(on_record_ended)
    listen_to_states(on_registration_step)
    listen_to_bulk_states(on_registration_steps)
    return runtime


def _state(settings: Settings, runtime: Runtime) -> State:
    return State(
        {
            "settings": settings,
            "clock": runtime.clock,
            "db": runtime.db,
            "tokens": runtime.tokens,
            "sessions": LiveSessions(runtime.db),
            "runtime": runtime,
        }
    )


@asynccontextmanager
async def _lifespan(app: Litestar) -> AsyncIterator[None]:
    runtime: Runtime = app.state.runtime
    await to_thread.run_sync(warm_country_index)
    runtime.lifecycle.install()  # SIGTERM: not ready first, then stop (prm/core/lifecycle.py)
    if app.state.settings.run_scheduler:
        await runtime.start_background()
    try:
        yield
    finally:
        await runtime.close()


def rebind_app(
    app: Litestar, settings: Settings, *, clock: Clock | None = None, seeds: SeedSource | None = None
) -> Litestar:
    """The same app serving a new runtime (database, clock, seeds) under settings of the same shape.
    Building Litestar's routes costs about half a second; the test suite builds one app per shape."""
    if app_shape(app.state.settings) != app_shape(settings):
        msg = "these settings need an app of another shape: call create_app"
        raise ValueError(msg)
    app.state = _state(settings, _ready_runtime(settings, clock, seeds, None))
    return app


def create_app(
    settings: Settings, *, clock: Clock | None = None, seeds: SeedSource | None = None, runtime: Runtime | None = None
) -> Litestar:
    runtime = _ready_runtime(settings, clock, seeds, runtime)
    api = Router(
        path="/api/v1",
        route_handlers=API_CONTROLLERS,
        # OPTIONS (and CORS preflight) carries no token: it learns only which methods a path has.
        middleware=[DefineMiddleware(BearerTokenMiddleware, exclude_http_methods=[HttpMethod.OPTIONS])],
    )
    register_bench_routes(api, settings)
    return Litestar(
        route_handlers=[api, AuthController, health, ready, metrics, peer_inbox, peer_batch_inbox, portal_router()],
        middleware=[RequestContextMiddleware, HTTP_METRICS.middleware],
        dependencies=DEPENDENCIES,
        exception_handlers={**EXCEPTION_HANDLERS, **UNKNOWN_PAGE_HANDLERS},
        openapi_config=_openapi(),
        plugins=openapi_plugins(),
        before_request=refuse_nul_characters,
        before_send=[send_request_id],
        cors_config=_cors(settings),
        template_config=template_config(),
        csrf_config=CSRFConfig(
            secret=settings.secret_key,
            cookie_name="prm_csrf",
            cookie_secure=settings.secure_cookies,
            cookie_httponly=False,
            header_name="x-csrf-token",
            # The API authenticates with bearer tokens, never cookies: CSRF cannot ride on it.
            # Peer instances sign each message with their connection's key instead.
            exclude=["/api/", "/peer/"],
        ),
        request_max_body_size=settings.max_request_body_bytes,
        # `prm serve` configures logging for the whole process (prm/core/logs.py: JSON lines
        # with the request id); Litestar's own config would put a queue in front of it.
        logging_config=None,
        lifespan=[_lifespan],
        state=_state(settings, runtime),
        debug=settings.debug,
    )
