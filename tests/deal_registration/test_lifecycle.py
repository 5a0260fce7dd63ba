"""Deal registration end to end through HTTP: submit, conflicts, review, protection, close, credit."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import httpx
from litestar import Litestar

from prm.core.clock import ManualClock
from tests.conftest import World
from tests.deal_registration.conftest import Catalog, emails_to, registration_body

API = "/api/v1/deal-registrations"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def submit(client: httpx.AsyncClient, actor: Any, catalog: Catalog, **overrides: Any) -> dict[str, Any]:
    reply = await client.post(API, json=registration_body(catalog, **overrides), headers=actor.headers)
    assert reply.status_code == 201, reply.text
    return dict(reply.json())


async def approve(client: httpx.AsyncClient, actor: Any, registration: dict[str, Any]) -> dict[str, Any]:
    reply = await client.post(
        f"{API}/{registration['id']}/approve", json={"expected_version": registration["version"]}, headers=actor.headers
    )
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


async def test_submit_sets_the_review_clock_and_sends_the_auto_response(
    client: httpx.AsyncClient, world: World, catalog: Catalog, app: Litestar, clock: ManualClock
) -> None:
    registration = await submit(client, world.pa_user, catalog)
    assert registration["state"] == "submitted"
    assert registration["number"].startswith("DR-")
    assert at(registration["review_due_at"]) == clock.now() + timedelta(hours=48)
    assert registration["customer_domain"] == "umbrella.example"

    auto = await emails_to(app, world.pa_user.email)
    assert len(auto) == 1
    assert registration["number"] in auto[0]["subject"]
    assert "within 48 hours" in auto[0]["text"]
    assert len(await emails_to(app, world.cm_a.email)) == 1
    assert await emails_to(app, world.cm_b.email) == []

    queue = (await client.get(f"{API}/review-queue", headers=world.cm_a.headers)).json()["items"]
    assert [r["id"] for r in queue] == [registration["id"]]
    assert (await client.get(f"{API}/review-queue", headers=world.cm_b.headers)).json()["items"] == []
    for outsider in (world.pb_user, world.pb_admin, world.cm_b):
        assert (await client.get(f"{API}/{registration['id']}", headers=outsider.headers)).status_code == 404


async def test_registered_and_submitted_at_once_reads_back_as_replied_with_each_step_published(
    client: httpx.AsyncClient, world: World, catalog: Catalog
) -> None:
    for url in ("http://hooks-one.test/in", "http://hooks-two.test/in"):
        hook = await client.post(
            "/api/v1/webhooks",
            json={"url": url, "event_types": ["deal_registration.*", "*"]},
            headers=world.admin.headers,
        )
        assert hook.status_code == 201, hook.text
    earlier = await submit(client, world.pb_user, catalog)
    registration = await submit(client, world.pa_user, catalog)

    # The reply is shaped from what the request wrote; reading it back gives the same.
    read_back = await client.get(f"{API}/{registration['id']}", headers=world.pa_user.headers)
    assert read_back.json() == registration
    assert registration["version"] == read_back.json()["version"]
    assert registration["conflict_hints"] == [{"kind": "registration", "matched_on": ["name", "domain"]}]
    assert earlier["id"] not in str(registration)
    assert registration["products"] == [{"product_id": catalog.product_ids[0], "quantity": 20}]

    history = (await client.get(f"{API}/{registration['id']}/history?sort=at", headers=world.pa_user.headers)).json()
    steps = [(h["action"], h["changes"], h["actor_id"]) for h in history["items"]]
    actor = str(world.pa_user.user_id)
    assert steps == [("created", {}, actor), ("submit", {"state": ["draft", "submitted"]}, actor)]

    outbox = (await client.get("/api/v1/outbox?kind=webhook&limit=200", headers=world.admin.headers)).json()["items"]
    mine = [m for m in outbox if m["payload"]["data"]["id"] == registration["id"]]
    published = sorted((m["topic"], m["payload"]["data"]["state"], m["destination"]) for m in mine)
    hooks = sorted({m["destination"] for m in mine})
    assert len(hooks) == 2  # each endpoint once per event, though the endpoints were read once
    assert published == sorted(
        [
            (topic, state, hook)
            for topic, state in [("deal_registration.created", "draft"), ("deal_registration.submit", "submitted")]
            for hook in hooks
        ]
    )


async def test_a_missing_or_unknown_field_is_named_by_its_path_in_the_body(
    client: httpx.AsyncClient, world: World, catalog: Catalog
) -> None:
    body = registration_body(catalog)
    del body["customer_name"]
    cases = [
        (body, "customer_name"),
        (registration_body(catalog, products=[{"quantity": 2}]), "products[0].product_id"),
        (registration_body(catalog, products=[{"product_id": "no-uuid"}]), "products[0].product_id"),
        (registration_body(catalog, colour="red"), "colour"),
        (
            registration_body(catalog, products=[{"product_id": catalog.product_ids[0], "colour": 1}]),
            "products[0].colour",
        ),
    ]
    for sent, field in cases:
        reply = await client.post(API, json=sent, headers=world.pa_user.headers)
        assert reply.status_code == 400, reply.text
        assert reply.headers["content-type"].startswith("application/problem+json")
        assert [e["field"] for e in reply.json()["errors"]] == [field], reply.json()
    mine = await client.get(API, headers=world.pa_user.headers)
    assert mine.json()["items"] == []


async def test_missing_program_requirements_are_each_named(
    client: httpx.AsyncClient, world: World, catalog: Catalog
) -> None:
    body = registration_body(
        catalog, products=[], contact_email=None, estimated_amount_minor=5_00, expected_close_date=None
    )
    reply = await client.post(API, json=body, headers=world.pa_user.headers)
    assert reply.status_code == 422, reply.text
    fields = sorted(e["field"] for e in reply.json()["errors"])
    assert fields == ["contact_email", "estimated_amount_minor", "expected_close_date", "products"]
    listed = (await client.get(API, headers=world.pa_user.headers)).json()["items"]
    assert listed == []  # nothing half-written


async def test_draft_then_submit_and_tier_eligibility(
    client: httpx.AsyncClient, world: World, catalog: Catalog
) -> None:
    draft = await submit(client, world.pa_user, catalog, submit=False, contact_email=None)
    assert draft["state"] == "draft"
    assert draft["review_due_at"] is None
    edited = await client.patch(
        f"{API}/{draft['id']}",
        json={"expected_version": draft["version"], "contact_email": "ada@umbrella.example"},
        headers=world.pa_user.headers,
    )
    assert edited.status_code == 200, edited.text
    submitted = await client.post(
        f"{API}/{draft['id']}/submit",
        json={"expected_version": edited.json()["version"]},
        headers=world.pa_user.headers,
    )
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["state"] == "submitted"
    again = await client.post(
        f"{API}/{draft['id']}/submit",
        json={"expected_version": submitted.json()["version"]},
        headers=world.pa_user.headers,
    )
    assert again.status_code == 409
    assert again.json()["current_state"] == "submitted"


async def test_conflicts_are_full_for_managers_and_anonymous_for_partners(
    client: httpx.AsyncClient, world: World, catalog: Catalog
) -> None:
    first = await submit(client, world.pa_user, catalog)
    check = await client.post(
        f"{API}/conflict-check",
        json={"customer_name": "UMBRELLA corp.", "products": [{"product_id": catalog.product_ids[0]}]},
        headers=world.pb_user.headers,
    )
    assert check.status_code == 200, check.text
    assert check.json()["possible_conflict"] is True
    assert str(world.partner_a) not in check.text
    assert first["id"] not in check.text

    second = await submit(
        client,
        world.pb_user,
        catalog,
        customer_name="Umbrella Corp.",
        customer_website="http://umbrella.example/contact",
    )
    assert second["conflict_hints"] == [{"kind": "registration", "matched_on": ["name", "domain"]}]
    assert second["conflicts"] == []
    assert str(world.partner_a) not in str(second)
    assert first["number"] not in str(second)

    seen_by_manager = (await client.get(f"{API}/{second['id']}", headers=world.cm_b.headers)).json()
    conflict = seen_by_manager["conflicts"][0]
    assert conflict["other_registration_id"] == first["id"]
    assert conflict["other_partner_name"] == "Acme Resellers"
    assert conflict["matched_on"] == ["name", "domain"]
    assert conflict["overlapping_product_ids"] == [catalog.product_ids[0]]

    other_products = await submit(
        client,
        world.pb_user,
        catalog,
        customer_name="Umbrella",
        products=[{"product_id": catalog.product_ids[2], "quantity": 1}],
    )
    assert other_products["conflict_hints"] == []  # same customer, no product overlap


async def test_approval_protects_an_indirect_opportunity_and_expiry_lapses_it(
    client: httpx.AsyncClient, world: World, catalog: Catalog, app: Litestar, clock: ManualClock
) -> None:
    registration = await approve(client, world.cm_a, await submit(client, world.pa_user, catalog))
    assert registration["state"] == "approved"
    assert at(registration["expires_at"]) == clock.now() + timedelta(days=90)
    opportunity = (
        await client.get(f"/api/v1/opportunities/{registration['opportunity_id']}", headers=world.pa_user.headers)
    ).json()
    assert opportunity["partner_id"] == str(world.partner_a)
    assert at(opportunity["protected_until"]) == at(registration["expires_at"])
    assert any("approved" in m["subject"] for m in await emails_to(app, world.pa_user.email))

    jobs = app.state.runtime.jobs
    clock.advance(timedelta(days=76))  # inside the 14-day reminder window
    assert (await jobs.run_all())["deal_registration.send_expiry_reminders"] == 1
    assert (await jobs.run_all())["deal_registration.send_expiry_reminders"] == 0
    assert any("expires" in m["subject"] for m in await emails_to(app, world.pa_user.email))

    clock.advance(timedelta(days=15))
    ran = await jobs.run_all()
    assert ran["deal_registration.expire_registrations"] == 1
    assert (await jobs.run_all())["deal_registration.expire_registrations"] == 0
    expired = (await client.get(f"{API}/{registration['id']}", headers=world.pa_user.headers)).json()
    assert expired["state"] == "expired"
    opportunity = (
        await client.get(f"/api/v1/opportunities/{registration['opportunity_id']}", headers=world.pa_user.headers)
    ).json()
    assert opportunity["protected_until"] is None
    assert opportunity["protection_lapsed_at"] is not None
    history = (await client.get(f"{API}/{registration['id']}/history?sort=at", headers=world.pa_user.headers)).json()[
        "items"
    ]
    assert [h["action"] for h in history] == ["created", "submit", "approve", "expiry_reminder_sent", "expire"]
    assert history[2]["actor_id"] == str(world.cm_a.user_id)
    assert history[-1]["changes"] == {"state": ["approved", "expired"]}


async def test_overdue_review_escalates_once(
    client: httpx.AsyncClient, world: World, catalog: Catalog, app: Litestar, clock: ManualClock
) -> None:
    registration = await submit(client, world.pa_user, catalog)
    jobs = app.state.runtime.jobs
    clock.advance(timedelta(hours=47))
    assert (await jobs.run_all())["deal_registration.escalate_overdue_reviews"] == 0
    clock.advance(timedelta(hours=2))
    assert (await jobs.run_all())["deal_registration.escalate_overdue_reviews"] == 1
    assert (await jobs.run_all())["deal_registration.escalate_overdue_reviews"] == 0
    escalations = await emails_to(app, world.admin.email)
    assert [registration["number"] in m["subject"] for m in escalations] == [True]
    seen = (await client.get(f"{API}/{registration['id']}", headers=world.pa_user.headers)).json()
    assert seen["overdue_at"] is not None


async def test_rejection_with_reason_then_resubmission_up_to_the_limit(
    client: httpx.AsyncClient, world: World, catalog: Catalog, app: Litestar
) -> None:
    current = await submit(client, world.pa_user, catalog)
    original_id = current["id"]
    for attempt in range(1, 3):
        rejected = await client.post(
            f"{API}/{current['id']}/reject",
            json={
                "expected_version": current["version"],
                "reason": "incomplete",
                "explanation": "Please add the customer's procurement contact.",
            },
            headers=world.cm_a.headers,
        )
        assert rejected.status_code == 200, rejected.text
        assert rejected.json()["rejection_reason"] == "incomplete"
        resubmitted = await client.post(
            f"{API}/{current['id']}/resubmit",
            json={k: v for k, v in registration_body(catalog).items() if k not in ("program_id", "submit")},
            headers=world.pa_user.headers,
        )
        assert resubmitted.status_code == 201, resubmitted.text
        current = resubmitted.json()
        assert current["original_id"] == original_id
        assert current["resubmission_number"] == attempt
        assert current["state"] == "submitted"
    mails = await emails_to(app, world.pa_user.email)
    assert any("procurement contact" in m["text"] for m in mails)

    await client.post(
        f"{API}/{current['id']}/reject",
        json={"expected_version": current["version"], "reason": "other", "explanation": "Still not enough."},
        headers=world.cm_a.headers,
    )
    third = await client.post(
        f"{API}/{current['id']}/resubmit",
        json={k: v for k, v in registration_body(catalog).items() if k not in ("program_id", "submit")},
        headers=world.pa_user.headers,
    )
    assert third.status_code == 422
    assert "resubmissions" in third.json()["detail"]


async def test_concurrent_decisions_one_wins(client: httpx.AsyncClient, world: World, catalog: Catalog) -> None:
    registration = await submit(client, world.pa_user, catalog)
    url = f"{API}/{registration['id']}"
    version = registration["version"]
    replies = await asyncio.gather(
        client.post(f"{url}/approve", json={"expected_version": version}, headers=world.cm_a.headers),
        client.post(
            f"{url}/reject",
            json={"expected_version": version, "reason": "other", "explanation": "not now"},
            headers=world.admin.headers,
        ),
        client.post(f"{url}/cancel", json={"expected_version": version}, headers=world.pa_user.headers),
    )
    assert sorted(r.status_code for r in replies) == [200, 409, 409], [r.text for r in replies]


async def test_extension_request_and_decision(
    client: httpx.AsyncClient, world: World, catalog: Catalog, clock: ManualClock
) -> None:
    registration = await approve(client, world.cm_a, await submit(client, world.pa_user, catalog))
    no_reason = await client.post(
        f"{API}/{registration['id']}/extensions",
        json={"expected_version": registration["version"]},
        headers=world.pa_user.headers,
    )
    assert no_reason.status_code == 400
    requested = await client.post(
        f"{API}/{registration['id']}/extensions",
        json={"expected_version": registration["version"], "reason": "Customer board meets next quarter"},
        headers=world.pa_user.headers,
    )
    assert requested.status_code == 201, requested.text
    listed = await client.get(f"{API}/{registration['id']}/extensions", headers=world.pa_user.headers)
    assert listed.status_code == 200, listed.text
    assert [e["id"] for e in listed.json()["items"]] == [requested.json()["id"]]
    assert listed.json()["next_cursor"] is None
    decided = await client.post(
        f"{API}/{registration['id']}/extensions/{requested.json()['id']}/decision",
        json={"approve": True, "note": "ok"},
        headers=world.cm_a.headers,
    )
    assert decided.status_code == 200, decided.text
    extended = (await client.get(f"{API}/{registration['id']}", headers=world.pa_user.headers)).json()
    assert at(extended["expires_at"]) == at(registration["expires_at"]) + timedelta(days=30)
    assert extended["extensions_used"] == 1
    over_limit = await client.post(
        f"{API}/{registration['id']}/extensions",
        json={"expected_version": extended["version"], "reason": "Once more please"},
        headers=world.pa_user.headers,
    )
    assert over_limit.status_code == 422


async def test_close_won_with_proof_earns_the_margin_credit(
    client: httpx.AsyncClient, world: World, catalog: Catalog, app: Litestar
) -> None:
    registration = await approve(client, world.cm_a, await submit(client, world.pa_user, catalog))
    url = f"{API}/{registration['id']}"
    fields = {
        "expected_version": str(registration["version"]),
        "amount_minor": "4999999",
        "proof_date": "2026-05-01",
        "invoice_number": "INV-2291",
    }
    not_a_pdf = await client.post(
        f"{url}/close-won",
        data=fields,
        files={"document": ("invoice.pdf", b"MZ\x90\x00 not a pdf", "application/pdf")},
        headers=world.pa_user.headers,
    )
    assert not_a_pdf.status_code == 422
    assert not_a_pdf.json()["errors"][0]["field"] == "document"

    won = await client.post(
        f"{url}/close-won",
        data=fields,
        files={"document": ("../../etc/invoice.pdf", PDF, "text/plain")},
        headers=world.pa_user.headers,
    )
    assert won.status_code == 200, won.text
    assert won.json()["state"] == "won"
    assert won.json()["proof_status"] == "submitted"
    document = await client.get(f"{url}/proof/document", headers=world.cm_a.headers)
    assert document.content == PDF
    assert document.headers["content-type"] == "application/pdf"
    assert 'filename="invoice.pdf"' in document.headers["content-disposition"]
    assert (await client.get(f"{url}/proof/document", headers=world.pb_user.headers)).status_code == 404

    verified = await client.post(
        f"{url}/proof/decision",
        json={"expected_version": won.json()["version"], "approve": True},
        headers=world.cm_a.headers,
    )
    assert verified.status_code == 200, verified.text
    credits = (await client.get("/api/v1/credits", headers=world.pa_admin.headers)).json()["items"]
    assert len(credits) == 1
    assert credits[0]["amount_minor"] == 2_500_00  # 5 % of 49 999.99, half-even to the cent
    assert credits[0]["status"] == "pending"
    assert (await client.get("/api/v1/credits", headers=world.pb_admin.headers)).json()["items"] == []
    again = await client.post(
        f"{url}/proof/decision",
        json={"expected_version": verified.json()["version"], "approve": True},
        headers=world.cm_a.headers,
    )
    assert again.status_code == 409

    credit = credits[0]
    approved = await client.post(
        f"/api/v1/credits/{credit['id']}/approve",
        json={"expected_version": credit["version"]},
        headers=world.admin.headers,
    )
    assert approved.status_code == 200, approved.text
    paid = await client.post(
        f"/api/v1/credits/{credit['id']}/pay",
        json={"expected_version": approved.json()["version"]},
        headers=world.admin.headers,
    )
    assert paid.json()["status"] == "paid"
    opportunity = (
        await client.get(f"/api/v1/opportunities/{registration['opportunity_id']}", headers=world.pa_user.headers)
    ).json()
    assert opportunity["stage"] == "Closed Won"
    assert opportunity["amount_minor"] == 4_999_999


async def test_illegal_transitions_name_the_current_state(
    client: httpx.AsyncClient, world: World, catalog: Catalog
) -> None:
    registration = await submit(client, world.pa_user, catalog)
    lost = await client.post(
        f"{API}/{registration['id']}/close-lost",
        json={"expected_version": registration["version"], "reason": "Budget cut"},
        headers=world.pa_user.headers,
    )
    assert lost.status_code == 409
    assert lost.json()["current_state"] == "submitted"
    partner_approves = await client.post(
        f"{API}/{registration['id']}/approve",
        json={"expected_version": registration["version"]},
        headers=world.pa_admin.headers,
    )
    assert partner_approves.status_code == 403


async def test_two_job_runners_at_once_have_one_effect(
    client: httpx.AsyncClient, world: World, catalog: Catalog, app: Litestar, clock: ManualClock
) -> None:
    from prm.core.db import Database
    from prm.core.scheduler import JobRunner
    from prm.deal_registration.jobs import register_jobs

    for index in range(6):
        await approve(
            client, world.cm_a, await submit(client, world.pa_user, catalog, customer_name=f"Customer {index}")
        )
    clock.advance(timedelta(days=91))
    other_db = Database(app.state.settings.database_url, clock=clock)
    try:
        runners = [app.state.runtime.jobs, JobRunner(other_db)]
        register_jobs(runners[1])
        name = "deal_registration.expire_registrations"
        results = await asyncio.gather(runners[0].run(name), runners[1].run(name), runners[0].run(name))
        assert sum(r or 0 for r in results) == 6
    finally:
        await other_db.dispose()
    listed = (await client.get(f"{API}?state=expired&limit=50", headers=world.pa_user.headers)).json()["items"]
    assert len(listed) == 6
    expiry_mails = [m for m in await emails_to(app, world.pa_user.email) if "expired" in m["subject"]]
    assert len(expiry_mails) == 6
    for registration in listed:
        history = (await client.get(f"{API}/{registration['id']}/history", headers=world.pa_user.headers)).json()
        assert [h["action"] for h in history["items"]].count("expire") == 1
