"""Server-rendered pages for partners, channel managers and leadership."""

from __future__ import annotations

from pathlib import Path

from litestar import Router
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

HERE = Path(__file__).parent


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    return TemplateConfig(directory=HERE / "templates", engine=JinjaTemplateEngine)


def portal_router() -> Router:
    from prm.portal.routes import PAGE_HANDLERS

    static = create_static_files_router(path="/static", directories=[HERE / "static"], include_in_schema=False)
    return Router(path="/", route_handlers=[*PAGE_HANDLERS, static], include_in_schema=False)
