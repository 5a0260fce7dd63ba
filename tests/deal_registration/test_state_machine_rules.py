"""The registration state machine, rule by rule, through HTTP.

For every state a registration can be in and every action the API has, on a fresh registration
in that state: the API accepts the action exactly when the reply's `allowed_actions` (for the
partner's seller or the reviewing channel manager, whoever takes that action) names it, and
otherwise answers with a problem document: 409 naming the current state, or 422 where a
program's limit (not the state) forbids it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest

from prm.core.clock import ManualClock
from tests.factories.deals import DEALS, Deals, Json, at, expect

PARTNER, REVIEWER = "partner", "reviewer"
ENDED = "approved, protection ended"


@dataclass(frozen=True)
class Action:
    name: str  # as `allowed_actions` names it
    taker: str  # PARTNER or REVIEWER
    ok: int  # the status of an accepted action


ACTIONS = [
    Action("edit", PARTNER, 200),
    Action("submit", PARTNER, 200),
    Action("cancel", PARTNER, 200),
    Action("resubmit", PARTNER, 201),
    Action("request_extension", PARTNER, 201),
    Action("close_won", PARTNER, 200),
    Action("close_lost", PARTNER, 200),
    Action("approve", REVIEWER, 200),
    Action("reject", REVIEWER, 200),
    Action("mark_duplicate", REVIEWER, 200),
    Action("decide_extension", REVIEWER, 200),
    Action("decide_proof", REVIEWER, 200),
]


@dataclass
class Case:
    registration: Json
    extension: Json | None = None  # the latest extension request, when there is one


async def _with_pending_extension(deals: Deals) -> Case:
    registration = await deals.approved()
    extension = await deals.request_extension(registration)
    return Case(await deals.read(registration), extension)


async def _extensions_used(deals: Deals) -> Case:
    registration = await deals.approved()
    extension = await deals.request_extension(registration)
    expect(await deals.decide_extension(registration, extension), 200)
    return Case(await deals.read(registration), extension)


async def _resubmitted(deals: Deals) -> Case:
    rejected = await deals.rejected()
    expect(await deals.resubmit(rejected), 201)
    return Case(await deals.read(rejected))


async def _out_of_resubmissions(deals: Deals) -> Case:
    strict = await deals.with_program(max_resubmissions=0)
    return Case(await strict.rejected())


async def _protection_ended(deals: Deals) -> Case:
    """Approved, its end reached, the expiry timer not run yet."""
    registration = await deals.approved()
    deals.clock.advance(at(registration["expires_at"]) - deals.clock.now())
    return Case(registration)


async def _simple(deals: Deals, state: str) -> Case:
    make: Callable[[], Awaitable[Json]] = getattr(deals, state)
    return Case(await make())


STATES: dict[str, Callable[[Deals], Awaitable[Case]]] = {
    "draft": lambda d: _simple(d, "draft"),
    "submitted": lambda d: _simple(d, "submitted"),
    "approved": lambda d: _simple(d, "approved"),
    "approved, extension pending": _with_pending_extension,
    "approved, extensions used": _extensions_used,
    ENDED: _protection_ended,
    "rejected": lambda d: _simple(d, "rejected"),
    "rejected, resubmitted": _resubmitted,
    "rejected, resubmissions used": _out_of_resubmissions,
    "expired": lambda d: _simple(d, "expired"),
    "won, proof waiting": lambda d: _simple(d, "won"),
    "won, proof refused": lambda d: _simple(d, "proof_refused"),
    "won, proof verified": lambda d: _simple(d, "verified"),
    "lost": lambda d: _simple(d, "lost"),
    "cancelled": lambda d: _simple(d, "cancelled"),
}

# Refused by a program's limit rather than by the state: a broken rule, 422.
LIMITS = {("approved, extensions used", "request_extension"), ("rejected, resubmissions used", "resubmit")}


async def _edit(deals: Deals, case: Case) -> httpx.Response:
    registration = case.registration
    body = {"expected_version": registration["version"], "customer_name": "Umbrella Corp"}
    return await deals.client.patch(f"{DEALS}/{registration['id']}", json=body, headers=deals.world.pa_user.headers)


async def _mark_duplicate(deals: Deals, case: Case) -> httpx.Response:
    other = await deals.submitted(customer_name="Initech", customer_website=None)
    body = {"duplicate_of_id": other["id"], "explanation": "Registered twice."}
    return await deals.act(case.registration, "mark-duplicate", actor=deals.world.cm_a, **body)


async def _decide_extension(deals: Deals, case: Case) -> httpx.Response | None:
    """None when there is no extension request to decide."""
    if case.extension is None:
        return None
    return await deals.decide_extension(case.registration, case.extension)


def _post(path: str, reviewer: bool = False, **body: Any) -> Take:
    async def take(deals: Deals, case: Case) -> httpx.Response:
        actor = deals.world.cm_a if reviewer else deals.world.pa_user
        return await deals.act(case.registration, path, actor=actor, **body)

    return take


Take = Callable[[Deals, Case], Awaitable[httpx.Response | None]]
TAKE: dict[str, Take] = {
    "edit": _edit,
    "submit": _post("submit"),
    "cancel": _post("cancel"),
    "resubmit": lambda deals, case: deals.resubmit(case.registration),
    "request_extension": _post("extensions", reason="The board meets next quarter"),
    "close_won": lambda deals, case: deals.close_won(case.registration),
    "close_lost": _post("close-lost", reason="Budget cut"),
    "approve": _post("approve", reviewer=True),
    "reject": _post("reject", reviewer=True, reason="other", explanation="Not now."),
    "mark_duplicate": _mark_duplicate,
    "decide_extension": _decide_extension,
    "decide_proof": _post("proof/decision", reviewer=True, approve=True),
}


def _assert_problem(reply: httpx.Response, status: int, state: str | None) -> None:
    """An RFC 9457 problem document; a refusal by the registration's state names that state."""
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"].startswith("application/problem+json")
    problem = reply.json()
    assert problem["status"] == status
    assert problem["title"]
    assert problem["detail"]
    assert problem["type"]
    if state is not None:
        assert problem["current_state"] == state, problem


async def _check(deals: Deals, state: str, action: Action) -> None:
    """On a fresh registration in `state`, `action` is accepted exactly when it is offered."""
    case = await STATES[state](deals)
    taker = deals.world.pa_user if action.taker == PARTNER else deals.world.cm_a
    allowed = action.name in (await deals.read(case.registration, taker))["allowed_actions"]

    reply = await TAKE[action.name](deals, case)

    if reply is None:
        assert not allowed, "offered with nothing to take it on"
        return
    if allowed:
        assert reply.status_code == action.ok, reply.text
        return
    before = case.registration["state"]
    if (state, action.name) in LIMITS:
        _assert_problem(reply, 422, None)
    else:
        # Refused by something other than the registration's state: a waiting or decided extension request.
        by_state = action.name != "decide_extension" and state != "approved, extension pending"
        # An approval's own actions end with its protection: refused as expired before the timer says so.
        ended = state == ENDED and action.name in {"close_won", "close_lost", "request_extension"}
        _assert_problem(reply, 409, ("expired" if ended else before) if by_state else None)
    after = await deals.read(case.registration)
    assert (after["state"], after["version"]) == (before, case.registration["version"])  # nothing half-written


@pytest.mark.parametrize("state", STATES)
async def test_an_action_is_accepted_exactly_when_allowed_actions_names_it(deals: Deals, state: str) -> None:
    """Every action, each on its own fresh registration in `state`; all the mismatches reported at once."""
    wrong = []
    for action in ACTIONS:
        try:
            await _check(deals, state, action)
        except AssertionError as exc:
            wrong.append(f"{action.name}: {exc}")
    assert wrong == []


EXPECTED_ALLOWED = {
    # state: (the seller's actions, the channel manager's)
    "draft": (["edit", "submit", "cancel"], []),
    "submitted": (["cancel"], ["approve", "reject", "mark_duplicate"]),
    "approved": (["close_won", "close_lost", "request_extension"], []),
    "approved, extension pending": (["close_won", "close_lost"], ["decide_extension"]),
    "approved, extensions used": (["close_won", "close_lost"], []),
    ENDED: ([], []),
    "rejected": (["resubmit"], []),
    "rejected, resubmitted": ([], []),
    "rejected, resubmissions used": ([], []),
    "expired": (["resubmit"], []),
    "won, proof waiting": ([], ["decide_proof"]),
    "won, proof refused": (["close_won"], []),
    "won, proof verified": ([], []),
    "lost": ([], []),
    "cancelled": ([], []),
}


@pytest.mark.parametrize("state", STATES)
async def test_each_state_offers_what_the_product_says(deals: Deals, state: str) -> None:
    """The table above is the product's state machine as the pages and the API state it."""
    case = await STATES[state](deals)
    world = deals.world
    seen = [(await deals.read(case.registration, who))["allowed_actions"] for who in (world.pa_user, world.cm_a)]
    assert tuple(seen) == EXPECTED_ALLOWED[state]
    # Leadership reads, other partners do not see it at all.
    assert (await deals.read(case.registration, world.leader))["allowed_actions"] == []
    reply = await deals.client.get(f"{DEALS}/{case.registration['id']}", headers=world.pb_user.headers)
    assert reply.status_code == 404


async def test_the_walk_through_the_machine_is_told_in_the_history(deals: Deals, clock: ManualClock) -> None:
    """draft -> submitted -> rejected -> (resubmitted) submitted -> approved -> won, each step with its from/to."""
    draft = await deals.draft()
    submitted = expect(await deals.act(draft, "submit"), 200)
    rejected = await deals.decided(submitted, "reject", reason="incomplete", explanation="Name the buyer.")
    again = expect(await deals.resubmit(rejected), 201)
    clock.advance(timedelta(hours=1))
    approved = await deals.decided(again, "approve")
    won = expect(await deals.close_won(approved), 200)
    assert (rejected["state"], again["state"], approved["state"], won["state"]) == (
        "rejected",
        "submitted",
        "approved",
        "won",
    )
    assert again["original_id"] == draft["id"]

    async def steps(registration: Json) -> list[tuple[str, dict[str, list[str]]]]:
        url = f"{DEALS}/{registration['id']}/history?sort=at"
        items = expect(await deals.client.get(url, headers=deals.world.pa_user.headers), 200)["items"]
        return [(h["action"], h["changes"]) for h in items]

    assert await steps(draft) == [
        ("created", {}),
        ("submit", {"state": ["draft", "submitted"]}),
        ("reject", {"state": ["submitted", "rejected"]}),
    ]
    assert await steps(again) == [
        ("resubmitted", {}),
        ("submit", {"state": ["draft", "submitted"]}),
        ("approve", {"state": ["submitted", "approved"]}),
        ("close_won", {"state": ["approved", "won"]}),
    ]


async def test_a_stale_version_loses_with_409_whatever_the_action(deals: Deals) -> None:
    registration = await deals.submitted()
    edited = expect(await deals.act(registration, "approve", actor=deals.world.cm_a), 200)
    stale = await deals.act(registration, "close-lost", reason="Budget cut")  # read before the approval
    _assert_problem(stale, 409, None)
    assert stale.json()["current_version"] == edited["version"]
    assert (await deals.read(registration))["version"] == edited["version"]


async def test_a_registration_is_refused_for_its_state_before_its_dates_are_checked(
    deals: Deals, clock: ManualClock
) -> None:
    """Submitting what is no longer a draft is a state conflict, even once its close date has passed."""
    registration = await deals.approved(expected_close_date=(clock.now().date() + timedelta(days=10)).isoformat())
    clock.advance(timedelta(days=20))
    _assert_problem(await deals.act(registration, "submit"), 409, "approved")
