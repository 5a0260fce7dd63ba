"""Server-rendered pages for partners, channel managers and leadership."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import Router
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.di import Provide
from litestar.exceptions import NotFoundException
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from prm.portal.shell.errors import PAGE_EXCEPTION_HANDLERS, not_found_handler
from prm.portal.shell.session import csrf_bound_to_session, provide_page_principal, provide_viewer
from prm.portal.shell.templating import SECURITY_HEADERS, register_filters

HERE = Path(__file__).parent

# App-level: an address no route matches is a friendly 404 page (the API's stay JSON).
UNKNOWN_PAGE_HANDLERS: dict[Any, Any] = {NotFoundException: not_found_handler}


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    return TemplateConfig(directory=HERE / "templates", engine=JinjaTemplateEngine, engine_callback=register_filters)


def portal_router() -> Router:
    from prm.portal.routes import PAGE_HANDLERS

    static = create_static_files_router(path="/static", directories=[HERE / "static"], include_in_schema=False)
    return Router(
        path="/",
        route_handlers=[*PAGE_HANDLERS, static],
        include_in_schema=False,
        # Pages authenticate with the session cookie; `principal` here replaces the API's
        # bearer-token provider, so page handlers take `principal: Principal` like API handlers.
        dependencies={
            "principal": Provide(provide_page_principal),
            "viewer": Provide(provide_viewer),
        },
        guards=[csrf_bound_to_session],
        exception_handlers=PAGE_EXCEPTION_HANDLERS,
        response_headers=SECURITY_HEADERS,
    )
