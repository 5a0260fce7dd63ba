"""Making the OpenAPI document say what the API does, for every route at once.

Litestar documents only the success reply and its own default 400 (as `application/json`, in
another shape), and leaves request bodies open to any extra member. Our error replies are RFC 9457
problem details and our request Structs refuse unknown fields, so clients generated from the
document, and the contract tests, would be misled. These plugins fix that in one place:

- `ProblemResponses` documents on each operation the problem replies it can give;
- `ClosedRequestBodies` marks Structs with `forbid_unknown_fields` as `additionalProperties: false`.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import msgspec
from litestar.handlers import HTTPRouteHandler
from litestar.middleware.rate_limit import RateLimitMiddleware
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Schema
from litestar.plugins import OpenAPISchemaPlugin, ReceiveRoutePlugin
from litestar.routes import BaseRoute, HTTPRoute
from litestar.typing import FieldDefinition

from prm.core.problems import PROBLEM_JSON

_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class ProblemField(msgspec.Struct):
    field: str
    message: str


class Problem(msgspec.Struct, kw_only=True):
    """RFC 9457 problem details. Some problems add members (e.g. `current_version` on a 409)."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[ProblemField] | None = None
    request_id: str | None = None  # on a 500: the id its log line is under (also `X-Request-ID`)


def problem_statuses(handler: HTTPRouteHandler, *, takes_path_parameters: bool) -> list[int]:
    """The problem statuses an operation can answer with, judged from how it is declared."""
    statuses = [400, 422, 500]
    if not handler.opt.get("exclude_from_auth"):
        statuses.append(401)
    if handler.resolve_guards():
        statuses.append(403)
    if takes_path_parameters:
        statuses.append(404)
    if handler.http_methods & _WRITES:
        statuses += [409, 413]
    rate_limited = any(
        getattr(layer, "middleware", layer) is RateLimitMiddleware for layer in handler.resolve_middleware()
    )
    if rate_limited or handler.opt.get("throttled"):  # `throttled=True`: a limit the handler applies itself
        statuses.append(429)
    return sorted(statuses)


def _problem_reply(status: int) -> ResponseSpec:
    return ResponseSpec(
        data_container=Problem,
        media_type=PROBLEM_JSON,
        description=HTTPStatus(status).phrase,
        generate_examples=False,
    )


class ProblemResponses(ReceiveRoutePlugin):
    """Documents the problem replies on every operation; what a handler declares itself wins."""

    def receive_route(self, route: BaseRoute) -> None:
        if not isinstance(route, HTTPRoute):
            return
        for handler in route.route_handlers:
            statuses = problem_statuses(handler, takes_path_parameters=bool(route.path_parameters))
            handler.responses = {**{s: _problem_reply(s) for s in statuses}, **(handler.responses or {})}


class ClosedRequestBodies(OpenAPISchemaPlugin):
    """A Struct that refuses unknown fields is documented as refusing them.

    Litestar's own Struct plugin builds the schema (it comes after this one in the plugin list);
    this one only closes it.
    """

    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        if field_definition.is_union or not field_definition.is_subclass_of(msgspec.Struct):
            return False
        info = msgspec.inspect.type_info(field_definition.type_)
        return isinstance(info, msgspec.inspect.StructType) and info.forbid_unknown_fields

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: Any) -> Schema:
        builder = next(
            plugin
            for plugin in schema_creator.plugins
            if plugin is not self and schema_creator.plugin_supports_field(plugin, field_definition)
        )
        schema: Schema = builder.to_openapi_schema(field_definition, schema_creator)
        schema.additional_properties = False
        return schema


def openapi_plugins() -> list[ReceiveRoutePlugin | OpenAPISchemaPlugin]:
    return [ProblemResponses(), ClosedRequestBodies()]
