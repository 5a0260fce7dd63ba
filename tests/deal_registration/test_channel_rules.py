"""Channel rules through HTTP: exclusive protection and its overrides, conflicts that are current
and symmetric, a program's approval rules, close dates and the terms a registration was approved under."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
from litestar import Litestar
from sqlalchemy import event

from prm.core.clock import ManualClock
from tests.conftest import Actor, World
from tests.deal_registration.conftest import Catalog, emails_to, registration_body
from tests.deal_registration.test_lifecycle import API, approve, at, submit

PROGRAMS = "/api/v1/deal-programs"


async def _read(client: httpx.AsyncClient, actor: Actor, registration: dict[str, Any]) -> dict[str, Any]:
    reply = await client.get(f"{API}/{registration['id']}", headers=actor.headers)
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


async def _approve(
    client: httpx.AsyncClient, actor: Actor, registration: dict[str, Any], **extra: Any
) -> httpx.Response:
    current = await _read(client, actor, registration)
    body = {"expected_version": current["version"], **extra}
    return await client.post(f"{API}/{registration['id']}/approve", json=body, headers=actor.headers)


async def _history(client: httpx.AsyncClient, actor: Actor, registration: dict[str, Any]) -> list[dict[str, Any]]:
    reply = await client.get(f"{API}/{registration['id']}/history?sort=at", headers=actor.headers)
    return list(reply.json()["items"])


# 1. Exclusive protection -----------------------------------------------------------------------


async def test_a_second_partner_is_not_approved_while_another_holds_protection_unless_overridden(
    client: httpx.AsyncClient, world: World, catalog: Catalog
) -> None:
    holder = await approve(client, world.cm_a, await submit(client, world.pa_user, catalog))
    rival = await submit(client, world.pb_user, catalog, customer_name="Umbrella Corp")

    refused = await _approve(client, world.cm_b, rival)
    assert refused.status_code == 409, refused.text
    problem = refused.json()
    assert holder["number"] in problem["detail"]
    assert problem["holder_registration_numbers"] == [holder["number"]]
    assert str(world.partner_a) not in refused.text
    assert "Acme" not in refused.text
    assert holder["id"] not in refused.text
    assert (await _read(client, world.cm_b, rival))["state"] == "submitted"  # nothing half-written

    not_on_the_list = await _approve(client, world.cm_b, rival, override_reason="friendship")
    assert not_on_the_list.status_code == 400
    assert not_on_the_list.json()["errors"][0]["field"] == "override_reason"

    overridden = await _approve(client, world.cm_b, rival, override_reason="co_sell", note="Joint bid agreed")
    assert overridden.status_code == 200, overridden.text
    assert overridden.json()["state"] == "approved"
    [mine] = overridden.json()["overrides"]
    assert (mine["role"], mine["reason"], mine["other_registration_number"]) == (
        "approved_despite",
        "co_sell",
        holder["number"],
    )
    assert mine["other_registration_id"] == holder["id"]
    assert mine["note"] == "Joint bid agreed"

    # The holder's partner sees it too: the reason, when, the other number; never whose, nor the note.
    seen_by_holder = await client.get(f"{API}/{holder['id']}", headers=world.pa_user.headers)
    [theirs] = seen_by_holder.json()["overrides"]
    assert (theirs["role"], theirs["reason"], theirs["other_registration_number"]) == (
        "overridden",
        "co_sell",
        rival["number"],
    )
    assert theirs["other_registration_id"] is None
    assert theirs["note"] is None
    for secret in (str(world.partner_b), "Globex", rival["id"], "Joint bid"):
        assert secret not in seen_by_holder.text
    for actor, registration in ((world.pa_user, holder), (world.cm_b, rival)):
        overrides = [h for h in await _history(client, actor, registration) if h["action"] == "protection_override"]
        assert [h["changes"] for h in overrides] == [{"override_reason": [None, "co_sell"]}]
        assert holder["number"] in overrides[0]["note"]
        assert "Globex" not in overrides[0]["note"]


async def test_two_approvals_for_one_customer_at_once_protect_one_partner(
    client: httpx.AsyncClient, world: World, catalog: Catalog
) -> None:
    acme = await submit(client, world.pa_user, catalog)
    globex = await submit(client, world.pb_user, catalog, customer_name="Umbrella Corp")
    replies = await asyncio.gather(
        client.post(
            f"{API}/{acme['id']}/approve", json={"expected_version": acme["version"]}, headers=world.cm_a.headers
        ),
        client.post(
            f"{API}/{globex['id']}/approve", json={"expected_version": globex["version"]}, headers=world.cm_b.headers
        ),
    )
    assert sorted(r.status_code for r in replies) == [200, 409], [r.text for r in replies]


async def test_no_override_without_a_holder_and_none_needed_for_other_products_or_an_ended_protection(
    client: httpx.AsyncClient, world: World, catalog: Catalog, clock: ManualClock
) -> None:
    await approve(client, world.cm_a, await submit(client, world.pa_user, catalog))
    other_products = await submit(
        client, world.pb_user, catalog, products=[{"product_id": catalog.product_ids[2], "quantity": 1}]
    )
    needless = await _approve(client, world.cm_b, other_products, override_reason="different_scope")
    assert needless.status_code == 422
    assert needless.json()["errors"][0]["field"] == "override_reason"
    assert (await _approve(client, world.cm_b, other_products)).status_code == 200

    # The holder's protection ended (the expiry timer has not even run yet): no longer exclusive.
    late = await submit(client, world.pb_user, catalog, expected_close_date="2026-12-30")
    assert (await _approve(client, world.cm_b, late)).status_code == 409
    clock.advance(timedelta(days=91))
    assert (await _approve(client, world.cm_b, late)).status_code == 200


# 2. Conflicts, current and symmetric -------------------------------------------------------------


async def test_the_earlier_registration_sees_a_later_conflict_and_opportunities_as_they_stand(
    client: httpx.AsyncClient, world: World, catalog: Catalog, clock: ManualClock
) -> None:
    earlier = await submit(client, world.pa_user, catalog)
    assert (await _read(client, world.cm_a, earlier))["conflicts"] == []
    clock.advance(timedelta(hours=1))
    later = await submit(client, world.pb_user, catalog)

    seen = await _read(client, world.cm_a, earlier)
    [conflict] = seen["conflicts"]
    assert conflict["other_registration_number"] == later["number"]
    assert conflict["other_partner_name"] == "Globex Integrators"
    assert at(conflict["detected_at"]) == at(later["submitted_at"])
    queue = (await client.get(f"{API}/review-queue", headers=world.admin.headers)).json()["items"]
    assert {r["number"]: len(r["conflicts"]) for r in queue} == {earlier["number"]: 1, later["number"]: 1}
    hints = (await _read(client, world.pa_user, earlier))["conflict_hints"]
    assert hints == [{"kind": "registration", "matched_on": ["name", "domain"]}]

    # The vendor opens its own deal with the customer after both were submitted, then loses it.
    account = await client.post(
        "/api/v1/accounts",
        json={"name": "Umbrella Corporation", "domain": "umbrella.example"},
        headers=world.admin.headers,
    )
    body = {"name": "Direct", "account_id": account.json()["id"], "amount_minor": 1_000, "currency": "USD"}
    direct = (await client.post("/api/v1/opportunities", json=body, headers=world.admin.headers)).json()
    kinds = [c["kind"] for c in (await _read(client, world.cm_a, earlier))["conflicts"]]
    assert kinds == ["registration", "direct_opportunity"]
    closed = await client.patch(
        f"/api/v1/opportunities/{direct['id']}",
        json={"expected_version": direct["version"], "stage": "Closed Lost"},
        headers=world.admin.headers,
    )
    assert closed.status_code == 200, closed.text
    assert [c["kind"] for c in (await _read(client, world.cm_a, earlier))["conflicts"]] == ["registration"]

    # Withdrawn: a cancelled registration conflicts with nothing any more.
    cancelled = await client.post(
        f"{API}/{later['id']}/cancel", json={"expected_version": later["version"]}, headers=world.pb_user.headers
    )
    assert cancelled.status_code == 200, cancelled.text
    assert (await _read(client, world.cm_a, earlier))["conflicts"] == []


async def test_the_review_queue_reads_a_page_in_the_same_few_queries_however_long(
    client: httpx.AsyncClient, world: World, catalog: Catalog, app: Litestar
) -> None:
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    engine = app.state.db.engine.sync_engine

    async def queue_queries() -> int:
        statements.clear()
        event.listen(engine, "before_cursor_execute", count)
        try:
            reply = await client.get(f"{API}/review-queue", headers=world.admin.headers)
        finally:
            event.remove(engine, "before_cursor_execute", count)
        assert reply.status_code == 200
        return len(statements)

    for seller in (world.pa_user, world.pb_user):
        await submit(client, seller, catalog)
    two = await queue_queries()
    for n in range(4):
        await submit(client, world.pa_user, catalog, customer_name=f"Customer {n}", customer_website=None)
    six = await queue_queries()
    assert six == two, (two, six)


# 3. Approval rules -------------------------------------------------------------------------------


async def _set_rules(client: httpx.AsyncClient, world: World, catalog: Catalog, **rules: Any) -> httpx.Response:
    program = (await client.get(f"{PROGRAMS}/{catalog.program['id']}", headers=world.admin.headers)).json()
    return await client.put(
        f"{PROGRAMS}/{program['id']}/approval-rules",
        json={"expected_version": program["version"], **rules},
        headers=world.admin.headers,
    )


async def test_approval_rules_are_set_by_vendor_admins_and_read_by_staff(
    client: httpx.AsyncClient, world: World, catalog: Catalog
) -> None:
    url = f"{PROGRAMS}/{catalog.program['id']}/approval-rules"
    assert (await client.get(url, headers=world.cm_a.headers)).json()["auto_approve"] is None
    rules = {
        "auto_approve": {"tiers": ["gold"], "max_amount_minor": 50_000_00},
        "auto_reject": {"countries": ["United States", "DE"], "existing_direct_opportunity": True},
        "second_approval": {"above_minor": 100_000_00, "approver": "vendor_admin"},
    }
    reply = await _set_rules(client, world, catalog, **rules)
    assert reply.status_code == 200, reply.text
    assert reply.json()["auto_reject"]["countries"] == ["US", "DE"]
    shown = (await client.get(url, headers=world.cm_a.headers)).json()
    assert shown["second_approval"] == {"above_minor": 100_000_00, "approver": "vendor_admin"}
    assert (await client.get(url, headers=world.pa_user.headers)).status_code in (403, 404)
    assert (await client.put(url, json={"expected_version": 1}, headers=world.cm_a.headers)).status_code == 403
    history = (await client.get(f"{PROGRAMS}/{catalog.program['id']}/history", headers=world.admin.headers)).json()
    assert "approval_rules_set" in [h["action"] for h in history["items"]]

    too_high = await _set_rules(
        client,
        world,
        catalog,
        auto_approve={"tiers": ["gold"], "max_amount_minor": 200_000_00},
        second_approval={"above_minor": 100_000_00},
    )
    assert too_high.status_code == 422
    assert too_high.json()["errors"][0]["field"] == "auto_approve.max_amount_minor"
    wrong_tier = await _set_rules(client, world, catalog, auto_approve={"tiers": ["bronze"], "max_amount_minor": 1})
    assert wrong_tier.status_code == 400
    stale = await client.put(url, json={"expected_version": 1}, headers=world.admin.headers)
    assert stale.status_code == 409


async def test_rules_approve_the_clear_case_and_reject_the_ineligible_as_a_person_would(
    client: httpx.AsyncClient, world: World, catalog: Catalog, app: Litestar, clock: ManualClock
) -> None:
    rules = {
        "auto_approve": {"tiers": ["gold"], "max_amount_minor": 50_000_00},
        "auto_reject": {"countries": ["US", "DE"]},
    }
    assert (await _set_rules(client, world, catalog, **rules)).status_code == 200

    clear = await submit(client, world.pa_user, catalog)
    assert clear["state"] == "approved", clear
    assert clear["decided_by_rule"] == "auto_approve"
    assert at(clear["decided_at"]) == clock.now()
    assert at(clear["expires_at"]) == clock.now() + timedelta(days=90)
    assert clear["terms"]["protection_days"] == 90
    assert clear["opportunity_id"] is not None
    steps = [(h["action"], h["actor_id"]) for h in await _history(client, world.pa_user, clear)]
    assert steps == [("created", str(world.pa_user.user_id)), ("submit", str(world.pa_user.user_id)), ("approve", None)]
    assert (await _history(client, world.pa_user, clear))[-1]["note"].startswith("rule auto_approve: tier gold")
    subjects = {m["subject"] for m in await emails_to(app, world.pa_user.email)}
    assert subjects == {
        f"Deal registration {clear['number']}: approved",
        f"Deal registration {clear['number']} received",
    }
    assert await emails_to(app, world.cm_a.email) == []  # nothing left for a person to review

    # Not a clear case: silver tier, or a conflict, or too large: a person decides.
    silver = await submit(client, world.pb_user, catalog, customer_name="Initrode", customer_website=None)
    assert (silver["state"], silver["decided_by_rule"]) == ("submitted", None)
    large = await submit(
        client, world.pa_user, catalog, customer_name="Hooli", customer_website=None, estimated_amount_minor=60_000_00
    )
    assert large["state"] == "submitted"
    assert len(await emails_to(app, world.cm_a.email)) == 1

    abroad = await submit(client, world.pa_user, catalog, customer_name="Vandelay", customer_country="FR")
    assert (abroad["state"], abroad["rejection_reason"], abroad["decided_by_rule"]) == (
        "rejected",
        "not_eligible",
        "auto_reject.countries",
    )
    assert "FR is outside the program's countries (DE, US)" in abroad["decision_note"]
    [rejected_mail] = [
        m
        for m in await emails_to(app, world.pa_user.email)
        if abroad["number"] in m["subject"] and "rejected" in m["subject"]
    ]
    assert "not approved" in rejected_mail["text"]
    assert "FR" in rejected_mail["text"]
    assert (await _history(client, world.pa_user, abroad))[-1]["note"].startswith("rule auto_reject.countries")


async def test_a_large_deal_needs_a_second_approver(
    client: httpx.AsyncClient, world: World, catalog: Catalog, app: Litestar
) -> None:
    assert (await _set_rules(client, world, catalog, second_approval={"above_minor": 40_000_00})).status_code == 200
    registration = await submit(client, world.pa_user, catalog)  # 48,000.00

    first = await _approve(client, world.cm_a, registration, note="Looks right")
    assert first.status_code == 200, first.text
    assert first.json()["state"] == "submitted"
    assert first.json()["awaiting_second_approval"] is True
    assert first.json()["first_approved_by_id"] == str(world.cm_a.user_id)
    queue = (await client.get(f"{API}/review-queue", headers=world.cm_a.headers)).json()["items"]
    assert [r["awaiting_second_approval"] for r in queue] == [True]
    assert [m for m in await emails_to(app, world.pa_user.email) if "approved" in m["subject"]] == []

    again = await _approve(client, world.cm_a, registration)
    assert again.status_code == 422, again.text
    second = await _approve(client, world.admin, registration)
    assert second.status_code == 200, second.text
    assert second.json()["state"] == "approved"
    actions = [(h["action"], h["actor_id"]) for h in await _history(client, world.admin, registration)]
    assert actions[-2:] == [("first_approval", str(world.cm_a.user_id)), ("approve", str(world.admin.user_id))]

    # A program that wants a vendor admin: another channel manager is not enough.
    assert (
        await _set_rules(client, world, catalog, second_approval={"above_minor": 40_000_00, "approver": "vendor_admin"})
    ).status_code == 200
    other = await submit(client, world.pa_user, catalog, customer_name="Hooli", customer_website=None)
    assert (await _approve(client, world.admin, other)).json()["awaiting_second_approval"] is True
    by_a_manager = await _approve(client, world.cm_a, other)
    assert by_a_manager.status_code == 422
    assert "vendor admin" in by_a_manager.json()["detail"]


# 4. Dates and terms ------------------------------------------------------------------------------


async def test_a_close_date_in_the_past_is_refused_on_submit(
    client: httpx.AsyncClient, world: World, catalog: Catalog
) -> None:
    past = registration_body(catalog, expected_close_date="2026-03-01")  # the clock reads 2026-03-02
    refused = await client.post(API, json=past, headers=world.pa_user.headers)
    assert refused.status_code == 422, refused.text
    assert [e["field"] for e in refused.json()["errors"]] == ["expected_close_date"]
    assert (await client.get(API, headers=world.pa_user.headers)).json()["items"] == []

    draft = await client.post(API, json={**past, "submit": False}, headers=world.pa_user.headers)
    assert draft.status_code == 201  # a draft may hold it; submitting it may not
    submitted = await client.post(
        f"{API}/{draft.json()['id']}/submit",
        json={"expected_version": draft.json()["version"]},
        headers=world.pa_user.headers,
    )
    assert submitted.status_code == 422
    assert [e["field"] for e in submitted.json()["errors"]] == ["expected_close_date"]
    today = await client.post(
        API, json=registration_body(catalog, expected_close_date="2026-03-02"), headers=world.pa_user.headers
    )
    assert today.status_code == 201, today.text


async def test_a_registration_keeps_the_terms_it_was_approved_under(
    client: httpx.AsyncClient, world: World, catalog: Catalog, clock: ManualClock
) -> None:
    registration = await approve(client, world.cm_a, await submit(client, world.pa_user, catalog))
    assert registration["terms"] == {
        "protection_days": 90,
        "reminder_days": 14,
        "extension_days": 30,
        "max_extensions": 1,
        "margin_bps": 500,
    }
    program = (await client.get(f"{PROGRAMS}/{catalog.program['id']}", headers=world.admin.headers)).json()
    changed = await client.patch(
        f"{PROGRAMS}/{program['id']}",
        json={"expected_version": program["version"], "protection_days": 10, "extension_days": 5, "max_extensions": 0},
        headers=world.admin.headers,
    )
    assert changed.status_code == 200, changed.text
    assert (await _read(client, world.pa_user, registration))["terms"]["protection_days"] == 90

    asked = await client.post(
        f"{API}/{registration['id']}/extensions",
        json={"expected_version": registration["version"], "reason": "Customer board meets next quarter"},
        headers=world.pa_user.headers,
    )
    assert asked.status_code == 201, asked.text  # one extension, as approved, though the program now allows none
    granted = await client.post(
        f"{API}/{registration['id']}/extensions/{asked.json()['id']}/decision",
        json={"approve": True},
        headers=world.cm_a.headers,
    )
    assert at(granted.json()["new_expires_at"]) == at(registration["expires_at"]) + timedelta(days=30)
