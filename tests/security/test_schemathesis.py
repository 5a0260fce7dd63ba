"""Schemathesis against the served OpenAPI: no 5xx, and every reply is the one the document promises.

The app runs under uvicorn on a free port, on this test's event loop (so it shares the test's
database and clock); Schemathesis loads `/schema/openapi.json` and, in a worker thread, sends
generated requests to every operation, checking each reply: not a server error; status code,
content type, headers and body as documented; invalid input refused with a 4xx; authentication
enforced where the document requires it.

Each role runs passes: ids generated at random (so mostly 404s), and ids of real records (so the
success replies and their schemas are exercised too). Bounded: a few requests per operation and
pass (`Pass.examples`), derandomized so a failure reproduces.
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase, given
from litestar import Litestar
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import World
from tests.security.factories import (
    Client,
    make_assigned_lead,
    make_campaign_with_member,
    make_contact,
    make_opportunity,
    make_outbox_message,
    make_product,
)

CONFORMANCE = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    ignored_auth,
]
PATH_PARAMETER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Pass:
    mode: GenerationMode
    real_ids: bool  # path parameters set to ids of existing records, else generated
    examples: int  # requests per operation: what bounds the run's time
    # Schemathesis' coverage cases (boundary values: longest strings, extreme numbers) on real
    # records, longest strings first; they find what a column too short for its field does.
    boundaries: bool = False

    @property
    def settings(self) -> hypothesis.settings:
        return hypothesis.settings(
            max_examples=self.examples,
            deadline=None,
            database=None,
            derandomize=True,  # the same requests every run: a failure here reproduces
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )

    @property
    def checks(self) -> list[Any]:
        negative = self.mode is GenerationMode.NEGATIVE
        return [*CONFORMANCE, negative_data_rejection] if negative else CONFORMANCE

    def __str__(self) -> str:
        kind = "boundaries" if self.boundaries else self.mode.value
        return f"{kind}{' with real ids' if self.real_ids else ''}"


POSITIVE = Pass(GenerationMode.POSITIVE, real_ids=False, examples=8)
NEGATIVE = Pass(GenerationMode.NEGATIVE, real_ids=False, examples=5)
ON_REAL_RECORDS = Pass(GenerationMode.POSITIVE, real_ids=True, examples=6)
BOUNDARIES = Pass(GenerationMode.POSITIVE, real_ids=True, examples=5, boundaries=True)


async def real_ids(client: Client, world: World) -> dict[str, str]:
    """One record of each kind, keyed by the name of the path parameter that takes its id."""
    contact = await make_contact(client, world)
    campaign = await make_campaign_with_member(client, world)
    message = await make_outbox_message(client, world)
    return {
        "partner_id": str(world.partner_a),
        "user_id": str(world.pa_user.user_id),
        "account_id": contact.ids["account"],
        "contact_id": contact.ids["id"],
        "opportunity_id": (await make_opportunity(client, world)).ids["id"],
        "lead_id": (await make_assigned_lead(client, world)).ids["id"],
        "campaign_id": campaign.ids["id"],
        "member_id": campaign.ids["member"],
        "product_id": (await make_product(client, world)).ids["id"],
        "message_id": message.ids["id"],
        "webhook_id": message.ids["webhook"],
    }


def free_socket() -> socket.socket:
    # proto=IPPROTO_TCP so asyncio sets TCP_NODELAY on accepted connections; without it Nagle's
    # algorithm holds each reply's body back ~40 ms behind its headers.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


async def run_beside_server(app: Litestar, work: Callable[[str], list[str]]) -> list[str]:
    """Serve `app` over real HTTP on this loop while `work(base_url)` runs in a thread."""
    sock = free_socket()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if serving.done():
            serving.result()
        await asyncio.sleep(0.01)
    try:
        host, port = sock.getsockname()
        return await asyncio.to_thread(work, f"http://{host}:{port}")
    finally:
        server.should_exit = True
        await serving
        sock.close()


def examine(run: Pass, strategy: Any, call: Callable[[schemathesis.Case], None]) -> str | None:
    """Up to `run.examples` generated requests to one operation; the failures found, as text."""

    @run.settings
    @given(case=strategy)
    def property_holds(case: schemathesis.Case) -> None:
        call(case)

    try:
        property_holds()
    except hypothesis.errors.Unsatisfiable:
        return None  # nothing to make invalid (no parameters, no body): no negative case exists
    # Schemathesis raises its findings as an exception group; collected, so one run reports them all.
    except (Exception, BaseExceptionGroup) as exc:
        return described(exc)
    return None


def described(exc: BaseException) -> str:
    notes = "\n".join(getattr(exc, "__notes__", []))
    return f"{exc}\n{notes}"


def longest_text(case: schemathesis.Case) -> int:
    values = [*(case.body.values() if isinstance(case.body, dict) else []), *(case.query or {}).values()]
    return max((len(v) for v in values if isinstance(v, str)), default=0)


def anchor(case: schemathesis.Case, ids: dict[str, str]) -> None:
    """Point a generated case at real records, so its values reach the database.

    Known ids go into the path and body; other ids in the body are left out (a random one would
    only be refused as not found, before anything is stored).
    """
    for name in case.path_parameters or {}:
        case.path_parameters[name] = ids.get(name, case.path_parameters[name])
    if isinstance(case.body, dict):
        for key in [k for k, v in case.body.items() if k.endswith("_id") and isinstance(v, str)]:
            if key in ids:
                case.body[key] = ids[key]
            else:
                del case.body[key]


def examine_boundaries(
    schema: Any, operation: Any, run: Pass, ids: dict[str, str], call: Callable[[schemathesis.Case], None]
) -> str | None:
    """The coverage phase's boundary cases with the longest strings, on real records."""
    config = schema.config.generation_for(operation=operation)
    cases = schema.iter_coverage_cases(operation, generation_modes=[run.mode], generation_config=config)
    for case in sorted(cases, key=longest_text, reverse=True)[: run.examples]:
        anchor(case, ids)
        try:
            call(case)
        except (Exception, BaseExceptionGroup) as exc:
            return described(exc)
    return None


def fuzz(base_url: str, headers: dict[str, str], passes: list[Pass], ids: dict[str, str]) -> list[str]:
    """Every operation of the served schema in each pass; one entry per failing operation and pass."""
    schema = schemathesis.openapi.from_url(f"{base_url}/schema/openapi.json")
    session = requests.Session()
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        names = PATH_PARAMETER.findall(operation.path)
        for run in passes:

            def call(case: schemathesis.Case, checks: list[Any] = run.checks) -> None:
                case.call_and_validate(base_url=base_url, session=session, headers=headers, checks=checks)

            if run.boundaries:
                failure = examine_boundaries(schema, operation, run, ids, call)
            elif not run.real_ids:
                failure = examine(run, operation.as_strategy(generation_mode=run.mode), call)
            elif names and set(names) <= ids.keys():
                fixed = {name: ids[name] for name in names}
                failure = examine(run, operation.as_strategy(generation_mode=run.mode, path_parameters=fixed), call)
            else:
                continue  # no real record known for this operation's ids
            if failure:
                failures.append(f"{run} {operation.label}: {failure}")
    return failures


@pytest.mark.parametrize(
    ("role", "passes"),
    [("admin", [POSITIVE, NEGATIVE, ON_REAL_RECORDS, BOUNDARIES]), ("pa_user", [POSITIVE, ON_REAL_RECORDS])],
)
async def test_the_api_keeps_to_its_openapi_document(
    app: Litestar, client: Client, world: World, role: str, passes: list[Pass]
) -> None:
    ids = await real_ids(client, world)
    headers = getattr(world, role).headers
    failures = await run_beside_server(app, lambda base_url: fuzz(base_url, headers, passes, ids))
    assert not failures, "\n\n".join(failures)
