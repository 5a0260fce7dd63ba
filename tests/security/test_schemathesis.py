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
from tests.security.connect import make_pending_share
from tests.security.distribution import (
    make_application,
    make_decision_for_a,
    make_group,
    make_import,
    make_lead_program,
    make_offer_to_a,
    make_referral,
    make_rule,
    make_scoring_criterion,
    make_web_form,
)
from tests.security.factories import (
    Client,
    credit_in,
    make_assigned_lead,
    make_campaign_with_member,
    make_contact,
    make_opportunity,
    make_outbox_message,
    make_product,
    make_program,
    make_registration_with_extension,
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
    """One record of each kind, keyed by the name of the path parameter that takes its id; the three
    kinds of program by `PROGRAMS` below. Every path parameter of the document has one: an
    operation without is a failure, never silently left out."""
    contact = await make_contact(client, world)
    campaign = await make_campaign_with_member(client, world)
    message = await make_outbox_message(client, world)
    registration = await make_registration_with_extension(client, world)
    form = await make_web_form(client, world)
    application = await make_application(client, world)
    share = await make_pending_share(client, world)
    lead_id = (await make_assigned_lead(client, world)).ids["id"]
    opportunity_id = (await make_opportunity(client, world)).ids["id"]
    return {
        "partner_id": str(world.partner_a),
        "user_id": str(world.pa_user.user_id),
        "account_id": contact.ids["account"],
        "contact_id": contact.ids["id"],
        "opportunity_id": opportunity_id,
        "lead_id": lead_id,
        "campaign_id": campaign.ids["id"],
        "member_id": campaign.ids["member"],
        "product_id": (await make_product(client, world)).ids["id"],
        "message_id": message.ids["id"],
        "webhook_id": message.ids["webhook"],
        "delivery_id": message.ids["id"],  # the webhook's own delivery
        "registration_id": registration.ids["id"],
        "extension_id": registration.ids["extension"],
        "credit_id": (await credit_in(client, world, "pending")).ids["id"],
        "criterion_id": (await make_scoring_criterion(client, world)).ids["id"],
        "decision_id": (await make_decision_for_a(client, world)).ids["id"],
        "offer_id": (await make_offer_to_a(client, world)).ids["id"],
        "form_id": form.ids["id"],
        "form_key": form.ids["key"],
        "group_id": (await make_group(client, world)).ids["id"],
        "import_id": (await make_import(client, world)).ids["id"],
        "membership_id": application.ids["id"],
        "referral_id": (await make_referral(client, world)).ids["id"],
        "rule_id": (await make_rule(client, world)).ids["id"],
        "/deal-programs/": (await make_program(client, world)).ids["id"],
        "/distribution/programs/": (await make_lead_program(client, world)).ids["id"],
        "/referral-programs/": application.ids["program"],
        "scorecard_partner_id": str(world.partner_a),
        "connection_id": share.ids["connection"],
        "object_name": "account",
        "share_id": share.ids["id"],
        "/connect/records/accounts/": contact.ids["account"],
        "/connect/records/contacts/": contact.ids["id"],
        "/connect/records/leads/": lead_id,
        "/connect/records/opportunities/": opportunity_id,
    }


PROGRAMS = ("/deal-programs/", "/distribution/programs/", "/referral-programs/")
SHARED_RECORDS = tuple(f"/connect/records/{kind}/" for kind in ("accounts", "contacts", "leads", "opportunities"))


def ids_for(path: str, ids: dict[str, str]) -> dict[str, str]:
    """The ids by path parameter name for one path: `program_id` is the program its path is about,
    `record_id` (a record's external sharing) the record of its kind."""
    program = next((ids[kind] for kind in PROGRAMS if kind in path), None)
    record = next((ids[kind] for kind in SHARED_RECORDS if kind in path), None)
    return ids | ({"program_id": program} if program else {}) | ({"record_id": record} if record else {})


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
    except hypothesis.errors.Unsatisfiable as exc:
        # Not a pass: no request was sent. Operations with nothing to make invalid are left out of
        # the negative pass beforehand (`negatable`), so this is a strategy that found no case.
        return f"no request could be generated (Unsatisfiable: {exc})"
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


# Operations whose every request is valid, so no negative case exists, each with why. Named here so
# that nothing else's Unsatisfiable passes unseen.
NOTHING_TO_NEGATE = {
    "POST /api/v1/distribution/web-to-lead/{form_key}": "any key (unknown ones get 404) and an open HTML form",
}


def negatable(operation: Any) -> bool:
    """Whether the operation takes anything a negative case could make invalid."""
    if operation.label in NOTHING_TO_NEGATE:
        return False
    parts = (operation.path_parameters, operation.query, operation.headers, operation.cookies, operation.body)
    return any(len(part) for part in parts)


def examine_operation(
    schema: Any, operation: Any, run: Pass, ids: dict[str, str], call: Callable[[schemathesis.Case], None]
) -> str | None:
    """One pass over one operation; the failures found, as text, or why it could not be run."""
    names = PATH_PARAMETER.findall(operation.path)
    known = ids_for(operation.path, ids)
    if run.boundaries:
        return examine_boundaries(schema, operation, run, known, call)
    if run.mode is GenerationMode.NEGATIVE and not negatable(operation):
        return None  # nothing to make invalid (no parameters, no body): no negative case exists
    if not run.real_ids:
        return examine(run, operation.as_strategy(generation_mode=run.mode), call)
    if missing := set(names) - known.keys():
        return f"no real record for {sorted(missing)}: add one to real_ids"
    fixed = {name: known[name] for name in names}
    return examine(run, operation.as_strategy(generation_mode=run.mode, path_parameters=fixed), call)


def options_everywhere(base_url: str, schema: Any, session: requests.Session) -> list[str]:
    """OPTIONS (not in the document) on every path, without a token: the methods, never a 5xx."""
    failures = []
    for path in {result.ok().path for result in schema.get_all_operations()}:
        url = base_url + PATH_PARAMETER.sub("0190e5a2-0000-7000-8000-000000000000", path)
        reply = session.options(url, timeout=30)
        if reply.status_code != 204 or "OPTIONS" not in reply.headers.get("allow", ""):
            failures.append(f"OPTIONS {path}: {reply.status_code} {reply.text[:200]}")
    return failures


def fuzz(base_url: str, headers: dict[str, str], passes: list[Pass], ids: dict[str, str]) -> list[str]:
    """Every operation of the served schema in each pass; one entry per failing operation and pass."""
    # The app builds its document on the first request: seconds of CPU, more than the loader's
    # default 10 s timeout on a loaded CI machine.
    schema = schemathesis.openapi.from_url(f"{base_url}/schema/openapi.json", timeout=120)
    session = requests.Session()
    failures = options_everywhere(base_url, schema, requests.Session())
    for result in schema.get_all_operations():
        operation = result.ok()
        for run in passes:

            def call(case: schemathesis.Case, checks: list[Any] = run.checks) -> None:
                case.call_and_validate(base_url=base_url, session=session, headers=headers, checks=checks)

            failure = examine_operation(schema, operation, run, ids, call)
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
