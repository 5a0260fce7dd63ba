"""Deal registration pages over HTTP: the partner's form, list and actions, the reviewer's console."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from typing import Any

import httpx
import pytest
from litestar import Litestar

from prm.core.clock import ManualClock
from prm.portal.shell.money import AmountError, format_minor, parse_amount
from tests.conftest import World
from tests.deal_registration.conftest import emails_to
from tests.portal.conftest import SignIn
from tests.portal.deal_data import (
    API,
    PDF,
    Catalog,
    form_fields,
    make_catalog,
    read_via_api,
    register_via_api,
)
from tests.portal.forms import Client, csrf_token

_LOCATION = re.compile(r"^/(deals|reviews)/([0-9a-f-]{36})\?done=(\w+)$")


@pytest.fixture
async def catalog(client: httpx.AsyncClient, world: World) -> Catalog:
    return await make_catalog(client, world.admin)


async def post_form(client: Client, path: str, fields: dict[str, Any], *, page: str, **files: Any) -> httpx.Response:
    """What a browser does: load the page holding the form, then send it with the page's CSRF token."""
    token = await csrf_token(client, page)
    return await client.post(path, data={"_csrf_token": token, **fields}, files=files or None)


def field_error(page: str, field_id: str) -> str:
    """The message shown next to a field, which the field points at with aria-describedby."""
    found = re.search(rf'<p class="field-error" id="{re.escape(field_id)}-error">([^<]*)</p>', page)
    assert found, f"no error next to {field_id}"
    assert re.search(rf'id="{re.escape(field_id)}"[^>]*aria-describedby="[^"]*{re.escape(field_id)}-error"', page), (
        f"{field_id} does not point at its error"
    )
    return html.unescape(found.group(1))


def done(reply: httpx.Response) -> tuple[str, str]:
    assert reply.status_code == 303, reply.text
    found = _LOCATION.match(reply.headers["location"])
    assert found, reply.headers["location"]
    return found.group(2), found.group(3)


# Money ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("48,000.00", "USD", 4_800_000),
        ("48000", "USD", 4_800_000),
        (" 0.10 ", "EUR", 10),
        ("1,234,567.89", "USD", 123_456_789),
        ("1,000", "JPY", 1_000),
        ("1.234", "BHD", 1_234),
        ("0.1", "USD", 10),
    ],
)
def test_amounts_are_read_exactly_in_minor_units(text: str, currency: str, minor: int) -> None:
    assert parse_amount(text, currency) == minor


@pytest.mark.parametrize(
    ("text", "currency", "message"),
    [
        ("48.000,00", "USD", "like 48,000.00"),
        ("1,00", "USD", "like 48,000.00"),
        ("12.345", "USD", "at most 2 decimals"),
        ("12.5", "JPY", "no decimals"),
        ("-5", "USD", "like 48,000.00"),
        ("1e5", "USD", "like 48,000.00"),
        ("10000000000000000", "USD", "too large"),
    ],
)
def test_malformed_amounts_say_what_is_wrong(text: str, currency: str, message: str) -> None:
    with pytest.raises(AmountError, match=message):
        parse_amount(text, currency)


def test_minor_units_are_shown_with_the_currency_exponent() -> None:
    assert format_minor(4_800_000, "USD") == "48,000.00 USD"
    assert format_minor(1_000, "JPY") == "1,000 JPY"
    assert format_minor(1_234, "BHD") == "1.234 BHD"
    assert format_minor(None, "USD") == "—"


# Register ----------------------------------------------------------------------------------------


async def test_partner_registers_and_submits_through_the_form(
    sign_in: SignIn, world: World, catalog: Catalog, client: Client, app: Litestar
) -> None:
    browser = await sign_in(world.pa_user)
    form = (await browser.get("/deals/new")).text
    assert 'name="_csrf_token"' in form
    assert "Northwind Deal Registration (USD)" in form
    assert "Firewall 200 (FW-200)" in form
    assert form.count('name="product_id"') == 3  # rows without JavaScript

    fields = form_fields(catalog, product_id=[catalog.products["FW-100"], "", catalog.products["FW-200"]])
    fields["quantity"] = ["20", "1", "2"]
    registration_id, notice = done(await post_form(browser, "/deals/new", fields, page="/deals/new"))
    assert notice == "submitted"

    stored = await read_via_api(client, world.pa_user, registration_id)
    assert stored["state"] == "submitted"
    assert stored["estimated_amount_minor"] == 4_800_000  # "48,000.00" exactly, no float in between
    assert stored["customer_country"] == "US"
    assert stored["customer_domain"] == "umbrella.example"
    assert sorted(p["quantity"] for p in stored["products"]) == [2, 20]
    assert len(await emails_to(app, world.pa_user.email)) == 1  # the auto-response went out

    page = (await browser.get(f"/deals/{registration_id}?done=submitted")).text
    assert stored["number"] in page
    assert "Submitted for review" in page
    assert "48,000.00 USD" in page
    assert '<time datetime="2026-03-04T09:00:00Z"' in page  # review due 48 h after 09:00 UTC
    assert "48 h left" in page
    assert "Possible conflict" not in page


async def test_the_programs_missing_fields_are_each_shown_next_to_their_field(
    sign_in: SignIn, world: World, catalog: Catalog, client: Client
) -> None:
    browser = await sign_in(world.pa_user)
    fields = form_fields(
        catalog, contact_email="", product_id=["", "", ""], estimated_amount="5.00", expected_close_date=""
    )
    reply = await post_form(browser, "/deals/new", fields, page="/deals/new")

    assert reply.status_code == 422
    page = reply.text
    assert field_error(page, "contact_email") == "Contact email is required by this program."
    assert field_error(page, "expected_close_date") == "Expected close date is required by this program."
    assert field_error(page, "estimated_amount") == "This program registers deals of at least 10,000.00 USD."
    assert "Add at least one product: this program requires it." in page
    assert "Please correct 4 fields" in page
    assert 'value="Umbrella Corporation"' in page  # what was typed comes back
    assert (await client.get(API, headers=world.pa_user.headers)).json()["items"] == []  # nothing half-written


async def test_malformed_input_is_refused_by_the_form_itself(sign_in: SignIn, world: World, catalog: Catalog) -> None:
    browser = await sign_in(world.pa_user)
    fields = form_fields(
        catalog,
        customer_name="  ",
        customer_country="Atlantis",
        contact_email="not an email",
        estimated_amount="48.000,00",
        quantity=["0", "1", "1"],
        program_id="not-a-program",
    )
    reply = await post_form(browser, "/deals/new", fields, page="/deals/new")

    assert reply.status_code == 400
    page = reply.text
    assert field_error(page, "program_id") == "Choose one of the programs open to your organisation."
    assert field_error(page, "customer_name") == "Enter the customer's company name."
    assert field_error(page, "customer_country") == "Enter the country's name or ISO code, like Germany or DE."
    assert field_error(page, "contact_email").startswith("Enter the contact's email address")
    assert field_error(page, "estimated_amount").startswith("Enter an amount like 48,000.00")
    assert "Quantity in row 1: Enter a whole number from 1 to 1,000,000." in page
    assert re.search(r'id="program_id" name="program_id"[^>]*autofocus', page)  # the first wrong field has focus


async def test_save_a_draft_edit_it_and_submit_it(
    sign_in: SignIn, world: World, catalog: Catalog, client: Client
) -> None:
    browser = await sign_in(world.pa_user)
    fields = form_fields(catalog, action="draft", contact_email="")
    registration_id, notice = done(await post_form(browser, "/deals/new", fields, page="/deals/new"))
    assert notice == "draft"
    page = (await browser.get(f"/deals/{registration_id}")).text
    assert "Draft saved" not in page  # the notice only follows the redirect
    assert "Edit draft" in page

    submit = await post_form(
        browser,
        f"/deals/{registration_id}/submit",
        {"expected_version": str((await read_via_api(client, world.pa_user, registration_id))["version"])},
        page=f"/deals/{registration_id}",
    )
    assert submit.status_code == 422
    assert "<li>Contact email is required by this program.</li>" in submit.text

    edit = (await browser.get(f"/deals/{registration_id}/edit")).text
    assert 'value="Umbrella Corporation"' in edit
    assert 'value="48000.00"' in edit
    version = (await read_via_api(client, world.pa_user, registration_id))["version"]
    still_missing = form_fields(
        catalog, customer_name="Umbrella Holdings", contact_email="", expected_version=str(version)
    )
    refused = await post_form(browser, f"/deals/{registration_id}/edit", still_missing, page="/deals/new")
    assert refused.status_code == 422
    assert field_error(refused.text, "contact_email") == "Contact email is required by this program."
    assert 'value="Umbrella Holdings"' in refused.text
    unchanged = await read_via_api(client, world.pa_user, registration_id)
    assert (unchanged["customer_name"], unchanged["version"]) == ("Umbrella Corporation", version)  # edit rolled back
    fields = form_fields(catalog, contact_email="ada@umbrella.example", expected_version=str(version))
    _, notice = done(await post_form(browser, f"/deals/{registration_id}/edit", fields, page="/deals/new"))
    assert notice == "submitted"
    stored = await read_via_api(client, world.pa_user, registration_id)
    assert (stored["state"], stored["contact_email"]) == ("submitted", "ada@umbrella.example")


async def test_the_customer_country_is_understood_by_name_never_cut_to_two_letters(
    sign_in: SignIn, world: World, catalog: Catalog, client: Client
) -> None:
    browser = await sign_in(world.pa_user)
    form = (await browser.get("/deals/new")).text
    country_input = re.search(r'<input[^>]*id="customer_country"[^>]*>', form)
    assert country_input, "no country input"
    assert 'maxlength="2"' not in country_input.group(0)  # the browser cut "Germany" to "GE" (Georgia)
    fields = form_fields(catalog, customer_country="Deutschland")
    registration_id, _ = done(await post_form(browser, "/deals/new", fields, page="/deals/new"))
    assert (await read_via_api(client, world.pa_user, registration_id))["customer_country"] == "DE"


# Tenancy and roles ------------------------------------------------------------------------------


async def test_other_organisations_and_roles_get_404_and_403_pages(
    sign_in: SignIn, world: World, catalog: Catalog, client: Client
) -> None:
    ours = await register_via_api(client, world.pa_user, catalog, customer_name="Initech")
    browser = await sign_in(world.pb_user)
    for path in (f"/deals/{ours['id']}", f"/deals/{ours['id']}/edit", f"/deals/{ours['id']}/resubmit"):
        reply = await browser.get(path)
        assert reply.status_code == 404, path
        assert "Initech" not in reply.text
    cancel = await post_form(browser, f"/deals/{ours['id']}/cancel", {"expected_version": "1"}, page="/deals")
    assert cancel.status_code == 404
    assert (await read_via_api(client, world.pa_user, ours["id"]))["state"] == "submitted"
    assert ours["number"] not in (await browser.get("/deals")).text
    assert (await browser.get("/reviews")).status_code == 403

    manager_b = await sign_in(world.cm_b)
    assert (await manager_b.get(f"/reviews/{ours['id']}")).status_code == 404
    assert ours["number"] not in (await manager_b.get("/reviews")).text
    assert (await manager_b.get("/deals/new")).status_code == 403


async def test_signed_out_visitors_are_sent_to_sign_in(client: Client, world: World) -> None:
    reply = await client.get("/deals?state=approved")
    assert reply.status_code == 303
    assert reply.headers["location"] == "/login?next=%2Fdeals%3Fstate%3Dapproved"


# My registrations ---------------------------------------------------------------------------------


async def test_my_registrations_page_with_a_cursor_and_a_state_filter(
    sign_in: SignIn, world: World, catalog: Catalog, client: Client, clock: ManualClock
) -> None:
    for n in range(22):
        await register_via_api(client, world.pa_user, catalog, customer_name=f"Customer {n:02d}", submit=n < 2)
        clock.advance(timedelta(minutes=1))
    await register_via_api(client, world.pb_user, catalog, customer_name="Hooli")
    browser = await sign_in(world.pa_user)

    first = (await browser.get("/deals")).text
    assert re.findall(r"Customer (\d\d)", first) == [f"{n:02d}" for n in range(21, 1, -1)]
    assert "Hooli" not in first
    older = re.search(r'href="(/deals\?cursor=[^"]+)" rel="next"', first)
    assert older
    second = (await browser.get(html.unescape(older.group(1)))).text
    assert re.findall(r"Customer (\d\d)", second) == ["01", "00"]
    assert "(47 h left)" in second  # 48 h from a submission 22 minutes ago, in whole hours
    assert "starts on approval" in second

    submitted = (await browser.get("/deals?state=submitted")).text
    assert re.findall(r"Customer (\d\d)", submitted) == ["01", "00"]
    assert (await browser.get("/deals?state=bogus")).status_code == 400


# Review ------------------------------------------------------------------------------------------


async def test_reviewer_sees_the_conflict_side_by_side_and_the_partner_only_its_kind(
    sign_in: SignIn, world: World, catalog: Catalog, client: Client
) -> None:
    first = await register_via_api(client, world.pa_user, catalog)
    second = await register_via_api(client, world.pb_user, catalog, customer_name="Umbrella Corp.")

    partner_page = (await (await sign_in(world.pb_user)).get(f"/deals/{second['id']}")).text
    assert "another live deal registration (matched on company name and web domain)" in partner_page
    assert "Acme" not in partner_page
    assert first["number"] not in partner_page

    manager = await sign_in(world.cm_b)
    queue = (await manager.get("/reviews")).text
    assert second["number"] in queue
    assert "1 possible conflict" in queue
    review = (await manager.get(f"/reviews/{second['id']}")).text
    assert "This registration and its 1 possible conflict" in review
    assert "Acme Resellers" in review
    assert first["number"] in review
    assert "same company" in review
    assert "same domain" in review
    assert "overlap: Firewall 100 (FW-100)" in review
    assert f'<option value="{first["id"]}">' in review  # it can be marked as a duplicate of the first


async def test_an_approved_deals_opportunity_is_a_conflict_column_too(
    sign_in: SignIn, world: World, catalog: Catalog, client: Client
) -> None:
    first = await register_via_api(client, world.pa_user, catalog)
    approved = await client.post(
        f"{API}/{first['id']}/approve", json={"expected_version": first["version"]}, headers=world.cm_a.headers
    )
    assert approved.status_code == 200, approved.text
    second = await register_via_api(client, world.pb_user, catalog)

    review = (await (await sign_in(world.cm_b)).get(f"/reviews/{second['id']}")).text
    assert "This registration and its 2 possible conflicts" in review
    assert '<span class="conflict-kind">Deal registration</span>' in review
    assert '<span class="conflict-kind">Partner opportunity</span>' in review
    assert "A partner you do not manage" in review  # partner A's opportunity is outside cm_b's scope
    assert "approved" in review

    hints = (await (await sign_in(world.pb_user)).get(f"/deals/{second['id']}")).text
    assert "an open partner opportunity" in hints
    assert "Acme" not in hints


async def test_approve_starts_the_protection_clock(
    sign_in: SignIn, world: World, catalog: Catalog, client: Client, clock: ManualClock
) -> None:
    registration = await register_via_api(client, world.pa_user, catalog)
    manager = await sign_in(world.cm_a)
    fields = {"expected_version": str(registration["version"]), "note": "Go ahead"}
    reply = await post_form(manager, f"/reviews/{registration['id']}/approve", fields, page="/reviews")
    assert done(reply) == (registration["id"], "approved")
    stored = await read_via_api(client, world.pa_user, registration["id"])
    assert stored["state"] == "approved"

    again = await post_form(manager, f"/reviews/{registration['id']}/approve", fields, page="/reviews")
    assert again.status_code == 409  # the second click of a stale page
    assert "Nothing waits for a decision" in again.text

    clock.advance(timedelta(days=80))
    partner = await sign_in(world.pa_user)
    page = (await partner.get(f"/deals/{registration['id']}")).text
    assert '<p class="days-left"><strong>10 days</strong> left</p>' in page
    assert "clock-card-ending" in page  # inside the 14-day reminder window
    assert "Approval note:</strong> Go ahead" in page


async def test_reject_needs_a_reason_and_an_explanation_then_the_partner_resubmits(
    sign_in: SignIn, world: World, catalog: Catalog, client: Client
) -> None:
    registration = await register_via_api(client, world.pa_user, catalog)
    manager = await sign_in(world.cm_a)
    url = f"/reviews/{registration['id']}/reject"
    missing = await post_form(
        manager, url, {"expected_version": str(registration["version"]), "reason": "incomplete"}, page="/reviews"
    )
    assert missing.status_code == 400
    assert field_error(missing.text, "reject-explanation").startswith("Explain the decision")
    assert 'value="incomplete" selected' in missing.text
    fields = {
        "expected_version": str(registration["version"]),
        "reason": "incomplete",
        "explanation": "Please add the procurement contact.",
    }
    assert done(await post_form(manager, url, fields, page="/reviews"))[1] == "rejected"

    partner = await sign_in(world.pa_user)
    page = (await partner.get(f"/deals/{registration['id']}")).text
    assert "Not approved: Incomplete" in page
    assert "Please add the procurement contact." in page
    form = (await partner.get(f"/deals/{registration['id']}/resubmit")).text
    assert "Resubmit for review" in form
    assert 'value="30000.00"' in form
    fields = form_fields(catalog, contact_name="Procurement Pat")
    new_id, notice = done(await post_form(partner, f"/deals/{registration['id']}/resubmit", fields, page="/deals/new"))
    assert notice == "submitted"
    fresh = await read_via_api(client, world.pa_user, new_id)
    assert (fresh["original_id"], fresh["resubmission_number"]) == (registration["id"], 1)
    old_page = (await partner.get(f"/deals/{registration['id']}")).text
    assert f'Resubmitted as <a href="/deals/{new_id}">{fresh["number"]}</a>' in old_page


async def test_extension_request_and_decision(sign_in: SignIn, world: World, catalog: Catalog, client: Client) -> None:
    registration = await register_via_api(client, world.pa_user, catalog)
    manager = await sign_in(world.cm_a)
    approve = {"expected_version": str(registration["version"])}
    assert done(await post_form(manager, f"/reviews/{registration['id']}/approve", approve, page="/reviews"))
    approved = await read_via_api(client, world.pa_user, registration["id"])

    partner = await sign_in(world.pa_user)
    url = f"/deals/{registration['id']}/extension"
    no_reason = await post_form(partner, url, {"expected_version": str(approved["version"])}, page="/deals")
    assert no_reason.status_code == 400
    assert field_error(no_reason.text, "extend-reason").startswith("Give a reason")
    fields = {"expected_version": str(approved["version"]), "reason": "Board meets next quarter"}
    assert done(await post_form(partner, url, fields, page="/deals"))[1] == "extension"
    assert "Request an extension" not in (await partner.get(f"/deals/{registration['id']}")).text

    manager = await sign_in(world.cm_a)
    queue = (await manager.get("/reviews")).text
    assert "Board meets next quarter" in queue
    review = (await manager.get(f"/reviews/{registration['id']}")).text
    extension_url = re.search(r'action="(/reviews/[0-9a-f-]+/extensions/[0-9a-f-]+)"', review)
    assert extension_url
    decided = await post_form(manager, extension_url.group(1), {"decision": "approve"}, page="/reviews")
    assert done(decided)[1] == "extension_approved"
    extended = await read_via_api(client, world.pa_user, registration["id"])
    assert extended["extensions_used"] == 1
    assert extended["expires_at"] > approved["expires_at"]


async def test_close_won_with_proof_then_verification_books_the_credit(
    sign_in: SignIn, world: World, catalog: Catalog, client: Client
) -> None:
    registration = await register_via_api(client, world.pa_user, catalog)
    manager = await sign_in(world.cm_a)
    approve = {"expected_version": str(registration["version"])}
    assert done(await post_form(manager, f"/reviews/{registration['id']}/approve", approve, page="/reviews"))
    version = str((await read_via_api(client, world.pa_user, registration["id"]))["version"])
    partner = await sign_in(world.pa_user)
    url = f"/deals/{registration['id']}/close-won"
    fields = {"expected_version": version, "invoice_number": "INV-7", "amount": "29,999.99", "proof_date": "2026-03-05"}

    not_a_pdf = await post_form(
        partner, url, fields, page="/deals", document=("invoice.pdf", b"MZ\x90 nope", "application/pdf")
    )
    assert not_a_pdf.status_code == 422
    assert field_error(not_a_pdf.text, "won-document") == "The document must be a PDF, PNG or JPEG file."
    assert 'value="29,999.99"' in not_a_pdf.text
    no_file = await post_form(partner, url, fields | {"amount": "abc"}, page="/deals")
    assert no_file.status_code == 400
    assert field_error(no_file.text, "won-document").startswith("Attach the invoice")
    assert field_error(no_file.text, "won-amount").startswith("Enter an amount like")

    won = await post_form(partner, url, fields, page="/deals", document=("Rechnung März.pdf", PDF, "text/plain"))
    assert done(won)[1] == "won"
    assert (await partner.get(f"/deals/{registration['id']}/proof")).content == PDF

    manager = await sign_in(world.cm_a)
    assert registration["number"] in (await manager.get("/reviews")).text  # under proof to verify
    document = await manager.get(f"/reviews/{registration['id']}/proof")
    assert document.content == PDF
    assert document.headers["content-type"] == "application/pdf"
    assert document.headers["content-type"] == "application/pdf"  # by content, not by what the browser said
    assert document.headers["content-disposition"] == (
        "attachment; filename=\"Rechnung Mrz.pdf\"; filename*=UTF-8''Rechnung%20M%C3%A4rz.pdf"
    )
    stored = await read_via_api(client, world.pa_user, registration["id"])
    refuse = {"expected_version": str(stored["version"]), "decision": "refuse"}
    bare_refusal = await post_form(manager, f"/reviews/{registration['id']}/proof", refuse, page="/reviews")
    assert field_error(bare_refusal.text, "proof-note").startswith("Say what is wrong")
    verify = {"expected_version": str(stored["version"]), "decision": "verify"}
    assert done(await post_form(manager, f"/reviews/{registration['id']}/proof", verify, page="/reviews"))[1] == (
        "proof_verified"
    )

    partner = await sign_in(world.pa_user)
    page = (await partner.get(f"/deals/{registration['id']}")).text
    assert "1,500.00 USD" in page  # 5% of 29,999.99 = 1,499.9995, half-even to the cent
    ledger = (await partner.get("/credits")).text
    assert "1,500.00 USD" in ledger
    assert "5.00% of 29,999.99 USD" in ledger
    assert "1,500.00 USD" not in (await (await sign_in(world.pb_user)).get("/credits")).text


async def test_close_lost_and_cancel(sign_in: SignIn, world: World, catalog: Catalog, client: Client) -> None:
    to_cancel = await register_via_api(client, world.pa_user, catalog, customer_name="Soylent")
    partner = await sign_in(world.pa_user)
    fields = {"expected_version": str(to_cancel["version"]), "reason": "Customer went direct"}
    assert done(await post_form(partner, f"/deals/{to_cancel['id']}/cancel", fields, page="/deals"))[1] == "cancelled"
    assert (await read_via_api(client, world.pa_user, to_cancel["id"]))["state"] == "cancelled"

    to_lose = await register_via_api(client, world.pa_user, catalog, customer_name="Cyberdyne")
    manager = await sign_in(world.cm_a)
    approve = {"expected_version": str(to_lose["version"])}
    assert done(await post_form(manager, f"/reviews/{to_lose['id']}/approve", approve, page="/reviews"))
    partner = await sign_in(world.pa_user)
    version = str((await read_via_api(client, world.pa_user, to_lose["id"]))["version"])
    short = await post_form(
        partner, f"/deals/{to_lose['id']}/close-lost", {"expected_version": version, "reason": "no"}, page="/deals"
    )
    assert short.status_code == 400
    assert field_error(short.text, "lost-reason").startswith("Give a reason")
    fields = {"expected_version": version, "reason": "Lost on price"}
    assert done(await post_form(partner, f"/deals/{to_lose['id']}/close-lost", fields, page="/deals"))[1] == "lost"
    page = (await partner.get(f"/deals/{to_lose['id']}")).text
    assert "Lost:</strong> Lost on price" in page
    assert "Closed lost" in page  # in the history


async def test_an_overdue_review_is_flagged_in_the_queue(
    sign_in: SignIn, world: World, catalog: Catalog, client: Client, clock: ManualClock
) -> None:
    registration = await register_via_api(client, world.pa_user, catalog)
    clock.advance(timedelta(hours=50))
    queue = (await (await sign_in(world.cm_a)).get("/reviews")).text
    assert registration["number"] in queue
    assert "row-overdue" in queue
    assert "overdue by 2 h" in queue
    assert "overdue by 2 h" in (await (await sign_in(world.pa_user)).get("/deals")).text
