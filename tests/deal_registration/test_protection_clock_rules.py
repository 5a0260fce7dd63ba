"""The protection clocks, rule by rule, through HTTP with the injected clock and the real timers.

A program of 30 days' protection, a reminder 5 days before the end, extensions of 10 days (at
most 2) unless a test says otherwise. Time only moves when a test moves the clock; the timers
run as the scheduler would run them (`JobRunner.run_all`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from prm.core.clock import ManualClock
from tests.factories.deals import API, Deals, Json, at, expect

SECOND = timedelta(seconds=1)
REMIND = "deal_registration.send_expiry_reminders"
EXPIRE = "deal_registration.expire_registrations"


@pytest.fixture
async def terms(deals: Deals) -> Deals:
    return await deals.with_program(protection_days=30, reminder_days=5, extension_days=10, max_extensions=2)


def move_to(clock: ManualClock, moment: datetime) -> None:
    clock.advance(moment - clock.now())


async def emails(deals: Deals, topic: str) -> list[Json]:
    """The emails of `topic` in the outbox (as the vendor admin's outbox list shows them)."""
    reply = await deals.client.get(f"{API}/outbox?kind=email&limit=200", headers=deals.world.admin.headers)
    return [m for m in expect(reply, 200)["items"] if m["topic"] == topic]


async def opportunity(deals: Deals, registration: Json) -> Json:
    url = f"{API}/opportunities/{registration['opportunity_id']}"
    return expect(await deals.client.get(url, headers=deals.world.pa_user.headers), 200)


async def actions(deals: Deals, registration: Json) -> list[str]:
    found: list[str] = (await deals.read(registration))["allowed_actions"]
    return found


async def test_approval_starts_the_program_days_of_protection_with_the_reminder_its_lead_before(
    terms: Deals, clock: ManualClock
) -> None:
    submitted = await terms.submitted()
    clock.advance(timedelta(hours=5, seconds=7))
    registration = await terms.decided(submitted, "approve")
    assert at(registration["approved_at"]) == clock.now()
    assert at(registration["expires_at"]) == clock.now() + timedelta(days=30)
    assert at(registration["remind_at"]) == clock.now() + timedelta(days=25)
    assert registration["terms"] == {
        "protection_days": 30,
        "reminder_days": 5,
        "extension_days": 10,
        "max_extensions": 2,
        "margin_bps": 500,
    }
    assert at((await opportunity(terms, registration))["protected_until"]) == at(registration["expires_at"])


async def test_protection_holds_one_second_before_its_end_and_ends_exactly_at_it(
    terms: Deals, clock: ManualClock
) -> None:
    registration = await terms.approved()
    end = at(registration["expires_at"])

    move_to(clock, end - SECOND)
    assert (await terms.run_timers())[EXPIRE] == 0
    still = await terms.read(registration)
    assert still["state"] == "approved"
    assert "close_won" in still["allowed_actions"]
    assert (await opportunity(terms, registration))["protection_lapsed_at"] is None

    move_to(clock, end)
    assert (await terms.run_timers())[EXPIRE] == 1
    assert (await terms.run_timers())[EXPIRE] == 0  # once
    expired = await terms.read(registration)
    assert (expired["state"], expired["allowed_actions"]) == ("expired", ["resubmit"])
    lapsed = await opportunity(terms, registration)
    assert (lapsed["protected_until"], at(lapsed["protection_lapsed_at"])) == (None, end)
    [mail] = await emails(terms, "deal_registration.expired")
    assert (mail["destination"], registration["number"] in mail["payload"]["subject"]) == (
        terms.world.pa_user.email,
        True,
    )


async def test_a_timer_that_was_down_expires_what_fell_due_and_sends_no_late_reminder(
    terms: Deals, clock: ManualClock
) -> None:
    registration = await terms.approved()
    clock.advance(timedelta(days=200))
    ran = await terms.run_timers()
    assert (ran[REMIND], ran[EXPIRE]) == (0, 1)
    assert (await terms.read(registration))["state"] == "expired"
    assert await emails(terms, "deal_registration.expiry_reminder") == []


async def test_the_reminder_goes_once_at_its_lead_time(terms: Deals, clock: ManualClock) -> None:
    registration = await terms.approved()
    remind_at = at(registration["remind_at"])

    move_to(clock, remind_at - SECOND)
    assert (await terms.run_timers())[REMIND] == 0
    move_to(clock, remind_at)
    assert (await terms.run_timers())[REMIND] == 1
    clock.advance(timedelta(days=1))
    assert (await terms.run_timers())[REMIND] == 0

    [mail] = await emails(terms, "deal_registration.expiry_reminder")
    assert mail["destination"] == terms.world.pa_user.email
    assert mail["payload"]["subject"] == f"Deal registration {registration['number']} expires 2026-04-01"
    history = expect(
        await terms.client.get(
            f"{API}/deal-registrations/{registration['id']}/history", headers=terms.world.pa_user.headers
        ),
        200,
    )["items"]
    assert [h["action"] for h in history].count("expiry_reminder_sent") == 1


async def test_no_reminder_when_the_lead_time_is_zero(deals: Deals, clock: ManualClock) -> None:
    plain = await deals.with_program(protection_days=10, reminder_days=0)
    registration = await plain.approved()
    for moment in (at(registration["expires_at"]) - SECOND, at(registration["expires_at"])):
        move_to(clock, moment)
        assert (await plain.run_timers())[REMIND] == 0
    assert (await plain.read(registration))["state"] == "expired"
    assert await emails(plain, "deal_registration.expiry_reminder") == []


async def test_an_extension_moves_the_end_by_its_days_and_arms_the_reminder_again(
    terms: Deals, clock: ManualClock
) -> None:
    registration = await terms.approved()
    end = at(registration["expires_at"])
    move_to(clock, at(registration["remind_at"]))
    assert (await terms.run_timers())[REMIND] == 1

    extended = await terms.extended(await terms.read(registration))
    new_end = end + timedelta(days=10)
    assert (at(extended["expires_at"]), at(extended["remind_at"])) == (new_end, new_end - timedelta(days=5))
    assert extended["extensions_used"] == 1
    assert at((await opportunity(terms, registration))["protected_until"]) == new_end

    move_to(clock, end)  # the old end passes: still protected
    assert (await terms.run_timers())[EXPIRE] == 0
    move_to(clock, new_end - timedelta(days=5))  # a reminder for the new end
    assert (await terms.run_timers())[REMIND] == 1
    move_to(clock, new_end - SECOND)
    assert (await terms.run_timers())[EXPIRE] == 0
    move_to(clock, new_end)
    assert (await terms.run_timers())[EXPIRE] == 1
    assert len(await emails(terms, "deal_registration.expiry_reminder")) == 2


async def test_extensions_are_bounded_by_the_programs_maximum(terms: Deals) -> None:
    registration = await terms.approved()
    first = await terms.extended(registration)
    second = await terms.extended(first)
    assert second["extensions_used"] == 2
    assert at(second["expires_at"]) == at(registration["expires_at"]) + timedelta(days=20)
    assert "request_extension" not in second["allowed_actions"]

    third = await terms.act(second, "extensions", reason="Once more, please")
    assert third.status_code == 422, third.text
    assert third.headers["content-type"].startswith("application/problem+json")
    assert "2 extensions" in third.json()["detail"]
    assert (await terms.read(registration))["expires_at"] == second["expires_at"]


async def test_a_refused_extension_moves_nothing_and_uses_none(terms: Deals) -> None:
    registration = await terms.approved()
    extension = await terms.request_extension(registration)
    refused = expect(await terms.decide_extension(registration, extension, approve=False), 200)
    assert (refused["status"], refused["new_expires_at"]) == ("rejected", None)
    after = await terms.read(registration)
    assert (after["expires_at"], after["remind_at"], after["extensions_used"]) == (
        registration["expires_at"],
        registration["remind_at"],
        0,
    )
    assert "request_extension" in after["allowed_actions"]
    again = expect(await terms.decide_extension(registration, extension), 409)  # decided once
    assert again["current_state"] == "rejected"


async def test_an_extension_still_waiting_when_protection_ends_cannot_revive_it(
    terms: Deals, clock: ManualClock
) -> None:
    registration = await terms.approved()
    extension = await terms.request_extension(registration)
    move_to(clock, at(registration["expires_at"]))
    assert (await terms.run_timers())[EXPIRE] == 1

    late = await terms.decide_extension(registration, extension)
    assert late.status_code == 409, late.text
    assert late.json()["current_state"] == "expired"
    after = await terms.read(registration)
    assert (after["state"], after["expires_at"], after["extensions_used"]) == (
        "expired",
        registration["expires_at"],
        0,
    )
    pending = await terms.client.get(
        f"{API}/deal-registrations/{registration['id']}/extensions", headers=terms.world.cm_a.headers
    )
    assert [e["status"] for e in expect(pending, 200)["items"]] == ["pending"]  # the refused decision left no trace


async def test_a_registration_keeps_its_approved_terms_when_the_program_changes(
    terms: Deals, clock: ManualClock
) -> None:
    before = await terms.approved()
    waiting = await terms.submitted(customer_name="Initech", customer_website=None)
    changes: dict[str, Any] = {"protection_days": 5, "reminder_days": 1, "extension_days": 2, "max_extensions": 0}
    await terms.change_program(**changes)

    # Approved before the change: its clocks and limits as they were.
    assert (await terms.read(before))["terms"]["protection_days"] == 30
    move_to(clock, at(before["approved_at"]) + timedelta(days=5))
    ran = await terms.run_timers()
    assert (ran[REMIND], ran[EXPIRE]) == (0, 0)
    extended = await terms.extended(await terms.read(before))
    assert at(extended["expires_at"]) == at(before["expires_at"]) + timedelta(days=10)

    # Submitted before the change, approved after it: the terms of the day it was approved.
    after = await terms.decided(await terms.read(waiting), "approve")
    assert after["terms"] == {**changes, "margin_bps": 500}
    assert at(after["expires_at"]) == clock.now() + timedelta(days=5)
    assert "request_extension" not in after["allowed_actions"]


async def test_once_protection_ends_nothing_of_the_holder_moves_before_the_timer_runs(
    terms: Deals, clock: ManualClock
) -> None:
    """At its end the protection stops holding the customer (another partner may be approved),
    so the holder can no longer extend it, nor close under it, even while the expiry timer is late."""
    holder = await terms.approved()
    move_to(clock, at(holder["expires_at"]) - SECOND)
    waiting = await terms.request_extension(holder)
    move_to(clock, at(holder["expires_at"]))

    rival = await terms.submitted(seller=terms.world.pb_user, customer_name="Umbrella Corp")
    assert (await terms.decided(rival, "approve", reviewer=terms.world.cm_b))["state"] == "approved"

    holder = await terms.read(holder)
    assert (holder["state"], holder["allowed_actions"]) == ("approved", [])
    refused = [
        await terms.decide_extension(holder, waiting),
        await terms.act(holder, "extensions", reason="The board meets next quarter"),
        await terms.close_won(holder),
        await terms.act(holder, "close-lost", reason="Budget cut"),
    ]
    assert [(r.status_code, r.json().get("current_state")) for r in refused] == [(409, "expired")] * 4
    assert (await terms.read(holder))["version"] == holder["version"]

    assert (await terms.run_timers())[EXPIRE] == 1
    assert (await terms.read(holder))["allowed_actions"] == ["resubmit"]
