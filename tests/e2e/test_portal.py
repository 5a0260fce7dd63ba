"""The portal skeleton in a real Chromium: sign in and out, home per role, mailbox, refusals."""

from __future__ import annotations

import re
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.async_api import Page, expect
from sqlalchemy.ext.asyncio import AsyncSession

from prm.core.clock import ManualClock
from prm.core.outbox import enqueue_email
from prm.crm.models import Account
from tests.conftest import World
from tests.e2e.harness import LiveServer, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

SCREENSHOT = Path(tempfile.gettempdir()) / "prm-portal-home.png"  # looked at by people, kept after the run


async def test_partner_user_signs_in_and_sees_its_organisation(
    page: Page, live_server: LiveServer, world: World
) -> None:
    async def add_accounts(session: AsyncSession) -> None:
        session.add_all(
            [
                Account(name="Initrode", normalized_name="initrode", partner_id=world.partner_a),
                Account(name="Hooli", normalized_name="hooli", partner_id=world.partner_b),
            ]
        )

    await live_server.write(add_accounts)
    await sign_in(page, world.pa_user)

    await expect(page).to_have_url(f"{live_server.url}/")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Acme Resellers")
    await expect(page.get_by_role("link", name="Register a deal").first).to_be_visible()
    await expect(page.get_by_role("link", name="My registrations").first).to_be_visible()
    await expect(page.get_by_role("link", name="Leads inbox").first).to_be_visible()
    facts = page.get_by_role("list", name="At a glance")
    await expect(facts.get_by_role("listitem").filter(has_text="Accounts")).to_contain_text("1")
    await expect(page.locator("body")).not_to_contain_text("Globex")
    await expect(page.locator("header")).to_contain_text("seller@acme.test")
    await page.screenshot(path=SCREENSHOT, full_page=True)


async def test_wrong_password_shows_the_error_next_to_the_field(page: Page, world: World) -> None:
    await sign_in(page, world.pa_user, password="not the password")

    await expect(page).to_have_url(re.compile(r"/login$"))
    password = page.get_by_label("Password")
    await expect(password).to_have_attribute("aria-invalid", "true")
    error = page.locator(f"#{await password.get_attribute('aria-describedby')}")
    await expect(error).to_have_text("Wrong email or password.")
    await expect(password).to_be_focused()  # the keyboard user can type the password again at once
    await expect(page.get_by_label("Email")).to_have_value(world.pa_user.email)
    await expect(password).to_have_value("")

    await password.fill("correct horse battery")
    await password.press("Enter")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Acme Resellers")


async def test_signed_out_visitor_is_sent_to_login_and_back(page: Page, live_server: LiveServer, world: World) -> None:
    await page.goto("/")
    await expect(page).to_have_url(f"{live_server.url}/login")

    await page.goto("/mailbox?cursor=")
    await expect(page).to_have_url(re.compile(r"/login\?next=%2Fmailbox%3Fcursor%3D$"))
    await page.get_by_label("Email").fill(world.admin.email)
    await page.get_by_label("Password").fill("correct horse battery")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(re.compile(r"/mailbox\?cursor=$"))
    await expect(page.get_by_role("heading", level=1)).to_have_text("Mailbox")


async def test_partner_cannot_open_the_mailbox(page: Page, live_server: LiveServer, world: World) -> None:
    await live_server.write(lambda s: enqueue_email(s, to="cm.a@vendor.test", subject="Secret", text="x"))
    await sign_in(page, world.pa_admin)

    response = await page.goto("/mailbox")
    assert response is not None
    assert response.status == 403
    await expect(page.get_by_role("heading", level=1)).to_have_text("Not for your role")
    await expect(page.locator("main")).not_to_contain_text("Secret")


async def test_form_post_without_csrf_token_is_refused(page: Page, world: World) -> None:
    await page.goto("/login")  # the browser now holds the CSRF cookie, but the form below omits the token
    refused = await page.request.post(
        "/login", form={"email": world.pa_user.email, "password": "correct horse battery"}
    )
    assert refused.status == 403
    assert "CSRF" in await refused.text()

    await page.goto("/")
    await expect(page).to_have_url(re.compile(r"/login$"))  # and nobody got signed in


async def test_vendor_admin_reads_the_mailbox_in_local_time(
    page: Page, live_server: LiveServer, world: World, clock: ManualClock
) -> None:
    await live_server.write(
        lambda s: enqueue_email(s, to="seller@acme.test", subject="Deal received", text="We got it.\nThanks")
    )
    clock.advance(timedelta(hours=2))
    await live_server.write(
        lambda s: enqueue_email(s, to="cm.a@vendor.test", subject="Please review", text="A new deal.")
    )
    await sign_in(page, world.admin, next_path="/mailbox")

    mails = page.locator("li.mail")
    await expect(mails).to_have_count(2)
    newest, oldest = mails.nth(0), mails.nth(1)
    await expect(newest.get_by_role("heading")).to_have_text("Please review")
    await expect(newest.locator(".mail-to")).to_have_text("cm.a@vendor.test")
    await expect(oldest.locator(".mail-body")).to_have_text("We got it.\nThanks")
    sent = oldest.locator("time")
    await expect(sent).to_have_attribute("datetime", "2026-03-02T09:00:00Z")
    await expect(sent).to_have_attribute("title", "2 Mar 2026, 09:00 UTC")
    await expect(sent).to_contain_text("10:00")  # 09:00 UTC is 10:00 in Berlin in March


async def test_session_ends_when_the_token_expires_and_on_sign_out(
    page: Page, live_server: LiveServer, world: World, clock: ManualClock
) -> None:
    await sign_in(page, world.cm_a)
    await expect(page.get_by_role("heading", level=1)).to_have_text("Channel manager")
    await expect(page.get_by_role("table")).to_contain_text("Acme Resellers")
    await expect(page.get_by_role("table")).not_to_contain_text("Globex")

    clock.advance(timedelta(seconds=live_server.app.state.tokens.ttl_seconds + 60))
    await page.reload()
    await expect(page).to_have_url(re.compile(r"/login$"))

    await sign_in(page, world.cm_a)
    await page.get_by_role("button", name="Sign out").click()
    await expect(page).to_have_url(re.compile(r"/login$"))
    await page.goto("/")
    await expect(page).to_have_url(re.compile(r"/login$"))


async def test_unknown_page_is_a_friendly_html_404(page: Page) -> None:
    response = await page.goto("/no/such/page")
    assert response is not None
    assert response.status == 404
    assert response.headers["content-type"].startswith("text/html")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
    await expect(page.get_by_role("link", name="Go to the home page")).to_be_visible()
